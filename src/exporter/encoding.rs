//! What a scrape asked for: content negotiation (`Accept`, `Accept-Encoding`) and gzip.
//!
//! Shared by the HTTP server and the embedding call (a host's own HTTP server passes its
//! request's headers), so both answer the same request the same way.
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::core::Format;

/// The answer to one request's headers: which format, and whether to gzip it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub format: Format,
    pub gzip: bool,
}

/// Picks the format and encoding for a request with these `Accept` and `Accept-Encoding`
/// header values (None: header absent). OpenMetrics only when `openmetrics` is enabled.
///
/// `Accept-Encoding` (RFC 9110 12.5.3): gzip when `gzip` (or `x-gzip`) has a q-value above 0,
/// or, when gzip is not listed, `*` has; `identity` otherwise. `Accept` (RFC 9110 12.5.1):
/// OpenMetrics when it is enabled, `application/openmetrics-text` (version 1.0.0, or no
/// version; another version is not a match) has a q-value above 0 and at least that of the
/// best match for 0.0.4 (`text/plain` without a version or with version 0.0.4, `text/*`,
/// `*/*`): a client that names OpenMetrics as high as the plain text asks for it by name, and
/// the server's operator opted in. Names and parameters are case-insensitive; malformed
/// entries are skipped (a q-value that does not parse counts as 0), never an error.
pub fn negotiate(
    accept: Option<&str>,
    accept_encoding: Option<&str>,
    openmetrics: bool,
) -> Negotiated {
    let format = match accept {
        Some(a) if openmetrics && prefers_openmetrics(a) => Format::OpenMetrics,
        _ => Format::Prometheus,
    };
    Negotiated {
        format,
        gzip: accept_encoding.is_some_and(accepts_gzip),
    }
}

/// One element of a comma-separated header list: its lowercased value (`gzip`,
/// `text/plain`), its parameters other than q (lowercased names), and its q-value in
/// thousandths (RFC 9110 12.4.2: at most three decimals; malformed: 0).
struct Element<'a> {
    value: String,
    params: Vec<(String, &'a str)>,
    q: u16,
}

fn elements(header: &str) -> impl Iterator<Item = Element<'_>> {
    header.split(',').filter_map(|item| {
        let mut parts = item.split(';');
        let value = parts.next()?.trim().to_ascii_lowercase();
        if value.is_empty() {
            return None;
        }
        let mut q = 1000;
        let mut params = Vec::new();
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().trim_matches('"');
            if k == "q" {
                q = parse_q(v);
            } else {
                params.push((k, v));
            }
        }
        Some(Element { value, params, q })
    })
}

/// A q-value in thousandths: `0`, `0.5`, `1`, `1.000`; anything else is 0.
fn parse_q(v: &str) -> u16 {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let digits = |s: &str| s.bytes().fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    let thousandths = digits(frac) * 10u16.pow(3 - frac.len() as u32);
    match int {
        "0" => thousandths,
        "1" if thousandths == 0 => 1000,
        _ => 0,
    }
}

fn accepts_gzip(header: &str) -> bool {
    let mut gzip = None;
    let mut star = None;
    for e in elements(header) {
        match e.value.as_str() {
            // a repeated coding: the highest q wins
            "gzip" | "x-gzip" => gzip = Some(gzip.unwrap_or(0).max(e.q)),
            "*" => star = Some(star.unwrap_or(0).max(e.q)),
            _ => {}
        }
    }
    gzip.or(star).is_some_and(|q| q > 0)
}

fn version<'a>(e: &Element<'a>) -> Option<&'a str> {
    e.params
        .iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| *v)
}

fn prefers_openmetrics(header: &str) -> bool {
    let mut om = 0u16;
    let mut text = 0u16;
    for e in elements(header) {
        match e.value.as_str() {
            "application/openmetrics-text" => {
                if matches!(version(&e), None | Some("1.0.0")) {
                    om = om.max(e.q);
                }
            }
            "text/plain" => {
                if matches!(version(&e), None | Some("0.0.4")) {
                    text = text.max(e.q);
                }
            }
            "text/*" | "*/*" => text = text.max(e.q),
            _ => {}
        }
    }
    om > 0 && om >= text
}

/// `body` gzipped (flate2's pure-Rust miniz_oxide backend).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::with_capacity(body.len() / 8 + 64), Compression::fast());
    // writing into a Vec cannot fail
    let _ = e.write_all(body);
    e.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// What Prometheus 2.42 sends: captured from a real scrape by tests/server/webconfig.sh
    /// (which checks that this constant is still what `prometheus` sends).
    pub const PROMETHEUS_2_42_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    fn gz(ae: &str) -> bool {
        negotiate(None, Some(ae), false).gzip
    }

    fn om(accept: &str) -> bool {
        negotiate(Some(accept), None, true).format == Format::OpenMetrics
    }

    #[test]
    fn accept_encoding() {
        assert!(gz("gzip"));
        assert!(gz("GZip"));
        assert!(gz("x-gzip"));
        assert!(gz("deflate, gzip;q=0.5"));
        assert!(gz("gzip, deflate, br"));
        assert!(!gz("gzip;q=0"));
        assert!(!gz("gzip;q=0.000"));
        assert!(!gz("gzip ; Q=0"));
        assert!(gz("*"));
        assert!(!gz("*;q=0"));
        assert!(!gz("*, gzip;q=0"), "gzip listed with q=0 wins over *");
        assert!(gz("gzip;q=0.001, *;q=0"));
        assert!(!gz("identity"));
        assert!(!gz("identity, deflate"));
        assert!(!gz(""));
        assert!(!negotiate(None, None, false).gzip);
        // junk: skipped, never a panic
        assert!(!gz("gzip;q=2"));
        assert!(!gz("gzip;q=abc"));
        assert!(!gz("gzip;q=0.5555"));
        assert!(gz(",, gzip;;q=1;x,;=;"));
        assert!(!gz(";;gzip"));
        for junk in [
            "\u{0}",
            ";",
            "=",
            ";q=",
            "q=0.5",
            "\u{ff}gzip",
            "gzip;q=1.",
            "gzip;q=.5",
        ] {
            let _ = negotiate(Some(junk), Some(junk), true);
        }
    }

    #[test]
    fn accept() {
        assert!(om("application/openmetrics-text"));
        assert!(om("application/openmetrics-text; version=1.0.0"));
        assert!(om("Application/OpenMetrics-Text;Version=\"1.0.0\""));
        assert!(!om("application/openmetrics-text;version=0.0.1"));
        assert!(!om("application/openmetrics-text;version=2.0.0"));
        assert!(!om("text/plain"));
        assert!(!om("text/plain;version=0.0.4"));
        assert!(!om("*/*"));
        assert!(!om(""));
        assert!(!negotiate(None, None, true).format.eq(&Format::OpenMetrics));
        // both offered: the higher q wins, a tie goes to OpenMetrics (named, opted in)
        assert!(om("application/openmetrics-text;q=0.9,text/plain;q=0.5"));
        assert!(!om("application/openmetrics-text;q=0.4,text/plain;q=0.5"));
        assert!(!om(
            "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.2"
        ));
        assert!(om("text/plain,application/openmetrics-text"));
        assert!(!om("application/openmetrics-text;q=0.5,*/*"));
        assert!(!om("application/openmetrics-text;q=0"));
        // a text/plain version we do not know does not count for 0.0.4
        assert!(om(
            "application/openmetrics-text;q=0.5,text/plain;version=9"
        ));
        assert!(om(PROMETHEUS_2_42_ACCEPT));
        // never OpenMetrics when the server does not offer it
        assert_eq!(
            negotiate(Some(PROMETHEUS_2_42_ACCEPT), Some("gzip"), false),
            Negotiated {
                format: Format::Prometheus,
                gzip: true
            }
        );
    }

    #[test]
    fn gzip_round_trips() {
        let body = "x_total 1\n".repeat(1000);
        let z = gzip(body.as_bytes());
        assert!(z.len() < body.len() / 10);
        let mut back = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, body);
    }
}

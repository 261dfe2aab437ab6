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
pub fn negotiate(
    accept: Option<&str>,
    accept_encoding: Option<&str>,
    openmetrics: bool,
) -> Negotiated {
    // TODO(http): q-values, `*`, OpenMetrics versions
    let _ = (accept, accept_encoding, openmetrics);
    Negotiated {
        format: Format::Prometheus,
        gzip: false,
    }
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

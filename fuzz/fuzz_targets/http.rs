//! `http`: raw bytes from a client through the server's real HTTP connection and service
//! (`infermetrics::exporter::fuzz_http_exchange`: hyper over an in-memory duplex), end to end.
//!
//! Whatever the client sends, the server must not panic or hang, and what it writes back must
//! be zero or more complete HTTP/1.1 (or, to an HTTP/1.0 request, HTTP/1.0) responses: valid
//! status lines, well-formed headers, and bodies framed by Content-Length or chunked encoding
//! (or, for the last one, by the end of the connection); at most one response per request
//! line the client could have sent, each of bounded size. A response to HEAD carries a
//! Content-Length but no body, so both readings are tried. Every body is checked as its
//! headers describe it: a `Content-Encoding: gzip` body gunzips (flate2), and a 200 body of
//! type `application/openmetrics-text` is strict OpenMetrics ending in exactly one `# EOF`
//! (`imfuzz::om`), of type `text/plain; version=0.0.4` strict 0.0.4 (`imfuzz::prom`). The
//! hook's server has OpenMetrics enabled, so `Accept` negotiation reaches both formats.
//!
//! Built only with `--features http` (the function is part of the hyper server).
#![no_main]

use std::ffi::CString;
use std::ptr::null_mut;

use libfuzzer_sys::fuzz_target;

use imfuzz::api::ok;
use infermetrics::ffi::family::*;
use infermetrics::ffi::metric::*;
use infermetrics::ffi::parameter::*;

/// Upper bound on one response (the registry this target fills renders to well under this).
const MAX_RESPONSE: usize = 1 << 20;

static KEEP: std::sync::OnceLock<[usize; 2]> = std::sync::OnceLock::new();

/// One family with a series, so /metrics has a body to send.
fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        imfuzz::silence_log();
        let mut f = null_mut();
        ok(
            "MetricFamilyNew",
            INFERMETRICS_MetricFamilyNew(&mut f, RawMetricKind(0), c"fuzz_http_requests".as_ptr(), c"Requests\nseen".as_ptr()),
        );
        let v = CString::new("a\"b\\c\nd").unwrap();
        let p = INFERMETRICS_ParameterNew(c"path".as_ptr(), RawParameterType(0), v.as_ptr() as _);
        let mut labels = [p as *const INFERMETRICS_Parameter];
        let mut m = null_mut();
        ok("MetricNew", INFERMETRICS_MetricNew(&mut m, f, labels.as_mut_ptr(), 1));
        ok("MetricIncrement", INFERMETRICS_MetricIncrement(m, 42.0));
        // an exemplar, so OpenMetrics bodies carry one
        let t = INFERMETRICS_ParameterNew(c"trace_id".as_ptr(), RawParameterType(0), c"4bf92f35\"77b3".as_ptr() as _);
        let mut ex = [t as *const INFERMETRICS_Parameter];
        ok(
            "MetricIncrementWithExemplar",
            INFERMETRICS_MetricIncrementWithExemplar(m, 1.5, ex.as_mut_ptr(), 1),
        );
        INFERMETRICS_ParameterDelete(t);
        INFERMETRICS_ParameterDelete(p);
        // the metric and family handles stay alive for the whole process (kept here, so
        // LeakSanitizer sees them reachable)
        KEEP.set([f as usize, m as usize]).unwrap();
    });
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn find_crlf(b: &[u8], from: usize) -> Option<usize> {
    b[from..].windows(2).position(|w| w == b"\r\n").map(|p| from + p)
}

/// The head of one response.
struct Head {
    status: u16,
    length: Option<usize>,
    chunked: bool,
    /// `Content-Encoding: gzip`
    gzip: bool,
    /// the Content-Type, lowercased
    content_type: String,
    /// offset of the body
    at: usize,
}

/// The head of one response at `pos`.
fn parse_head(b: &[u8], pos: usize) -> Result<Head, String> {
    let line_end = find_crlf(b, pos).ok_or("status line without CRLF")?;
    let line = &b[pos..line_end];
    // hyper answers an HTTP/1.0 request in HTTP/1.0 (RFC 9110 6.2 allows either)
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or_else(|| format!("bad status line {:?}", String::from_utf8_lossy(line)))?;
    if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
        return Err(format!("bad status code in {:?}", String::from_utf8_lossy(line)));
    }
    let status: u16 = std::str::from_utf8(&rest[..3]).unwrap().parse().unwrap();
    if !(100..=599).contains(&status) {
        return Err(format!("status {status} out of range"));
    }
    let reason = &rest[3..];
    if !(reason.is_empty() || reason[0] == b' ') || reason.iter().any(|&c| c < 0x20 && c != b'\t' || c == 0x7f) {
        return Err(format!("bad reason phrase in {:?}", String::from_utf8_lossy(line)));
    }
    let mut at = line_end + 2;
    let mut length = None;
    let mut chunked = false;
    let mut encoding = None;
    let mut content_type = String::new();
    loop {
        let end = find_crlf(b, at).ok_or("header block without its empty line")?;
        if end == at {
            at += 2;
            break;
        }
        let h = &b[at..end];
        let colon = h.iter().position(|&c| c == b':').ok_or("header without ':'")?;
        let (name, value) = (&h[..colon], &h[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&c| is_token(c)) {
            return Err(format!("bad header name {:?}", String::from_utf8_lossy(name)));
        }
        if value.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0) {
            return Err("control byte in a header value".into());
        }
        let value = String::from_utf8_lossy(value).trim().to_ascii_lowercase();
        match name.to_ascii_lowercase().as_slice() {
            b"content-length" => {
                let n: usize = value.parse().map_err(|_| format!("bad Content-Length {value:?}"))?;
                if length.replace(n).is_some_and(|old| old != n) {
                    return Err("two different Content-Length headers".into());
                }
            }
            b"transfer-encoding" => chunked = value.ends_with("chunked"),
            b"content-encoding" => {
                if encoding.replace(value.clone()).is_some() {
                    return Err("two Content-Encoding headers".into());
                }
                if value != "gzip" {
                    return Err(format!("Content-Encoding {value:?}: only gzip is offered"));
                }
            }
            b"content-type" => content_type = value,
            _ => {}
        }
        at = end + 2;
    }
    if chunked && length.is_some() {
        return Err("both Content-Length and chunked".into());
    }
    Ok(Head {
        status,
        length,
        chunked,
        gzip: encoding.is_some(),
        content_type,
        at,
    })
}

/// Where the body that starts at `at` ends, when chunked, and its data.
fn chunked_end(b: &[u8], mut at: usize) -> Result<(usize, Vec<u8>), String> {
    let mut data = Vec::new();
    loop {
        let end = find_crlf(b, at).ok_or("chunk size without CRLF")?;
        let size = std::str::from_utf8(&b[at..end]).ok().and_then(|s| usize::from_str_radix(s.split(';').next().unwrap(), 16).ok()).ok_or("bad chunk size")?;
        at = end + 2;
        if size == 0 {
            // trailers, then the empty line
            loop {
                let e = find_crlf(b, at).ok_or("chunked body without its end")?;
                let empty = e == at;
                at = e + 2;
                if empty {
                    return Ok((at, data));
                }
            }
        }
        if b.len() < at + size + 2 || &b[at + size..at + size + 2] != b"\r\n" {
            return Err("chunk shorter than its size".into());
        }
        data.extend_from_slice(&b[at..at + size]);
        at += size + 2;
    }
}

/// Reads `b[pos..]` as whole responses, trying every framing a response allows; Err says
/// why the last reading failed.
fn parses(b: &[u8], pos: usize, budget: &mut usize, count: usize, max_count: usize) -> Result<(), String> {
    if pos == b.len() {
        return Ok(());
    }
    if count >= max_count {
        return Err(format!("more than {max_count} responses"));
    }
    if *budget == 0 {
        return Err("too many ways to read the output".into());
    }
    *budget -= 1;
    let h = parse_head(b, pos)?;
    let at = h.at;
    let no_body = (100..200).contains(&h.status) || h.status == 204 || h.status == 304;
    // (end of the response, its body if this reading gives it one)
    let mut ends: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    if no_body {
        ends.push((at, None));
    } else if h.chunked {
        let (end, data) = chunked_end(b, at)?;
        ends.push((end, Some(data)));
    } else {
        let Some(n) = h.length else {
            // no framing: the body runs until the server closes (it must be the last response)
            if b.len() - at > MAX_RESPONSE {
                return Err(format!("unframed body of {} bytes", b.len() - at));
            }
            return check_body(&h, &b[at..]);
        };
        if n > MAX_RESPONSE {
            return Err(format!("response of {n} bytes"));
        }
        if at + n <= b.len() {
            ends.push((at + n, Some(b[at..at + n].to_vec())));
        }
        // the answer to HEAD: the length of the body GET would get, no body
        ends.push((at, None));
    }
    let mut last = Ok(());
    for (e, body) in ends {
        if let Some(body) = body {
            last = check_body(&h, &body);
            if last.is_err() {
                continue;
            }
        }
        last = parses(b, e, budget, count + 1, max_count);
        if last.is_ok() {
            return last;
        }
    }
    last
}

/// A body as its head describes it: gzip that gunzips; a 200 exposition that parses strictly
/// in its format (OpenMetrics ending in one `# EOF`).
fn check_body(h: &Head, body: &[u8]) -> Result<(), String> {
    let mut plain = Vec::new();
    let body = if h.gzip {
        use std::io::Read;
        flate2::read::GzDecoder::new(body)
            .take(4 * MAX_RESPONSE as u64)
            .read_to_end(&mut plain)
            .map_err(|e| format!("a Content-Encoding: gzip body does not gunzip: {e}"))?;
        &plain[..]
    } else {
        body
    };
    if h.status != 200 {
        return Ok(());
    }
    if h.content_type.starts_with("application/openmetrics-text") {
        imfuzz::om::parse(body).map_err(|e| format!("OpenMetrics body: {e}"))?;
    } else if h.content_type.starts_with("text/plain") && h.content_type.contains("version=0.0.4") {
        imfuzz::prom::parse(body).map_err(|e| format!("0.0.4 body: {e}"))?;
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    setup();
    let out = infermetrics::exporter::fuzz_http_exchange(data);
    // at most one response per line the client sent, plus one (an error for a partial one)
    let max_count = data.iter().filter(|&&c| c == b'\n').count() + 1;
    assert!(out.len() <= max_count * MAX_RESPONSE, "{} bytes of output", out.len());
    let mut budget = 10_000;
    if let Err(e) = parses(&out, 0, &mut budget, 0, max_count) {
        panic!("output is not whole HTTP/1.1 responses: {e}\n{:?}", String::from_utf8_lossy(&out));
    }
});

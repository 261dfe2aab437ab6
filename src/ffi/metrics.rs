//! `INFERMETRICS_Metrics`: a text snapshot of the registry (and of a server's collectors).
use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use super::boundary::{castable, guard, to_raw, try_mut, try_out, try_ref, try_take};
use super::error::INFERMETRICS_Error;
use super::server::{CBool, INFERMETRICS_Server};
use crate::core::{Error, Format};
use crate::exporter::{encoding, Exposition};

/// Output formats (Triton's `TRITONSERVER_MetricFormat`).
#[repr(C)]
#[allow(non_camel_case_types, dead_code)]
pub enum INFERMETRICS_MetricFormat {
    /// Prometheus text exposition format 0.0.4.
    INFERMETRICS_METRIC_PROMETHEUS = 0,
    /// OpenMetrics 1.0.0 text (our extension): counters as `name_total`, exemplars, `# EOF`.
    INFERMETRICS_METRIC_OPENMETRICS = 1,
}

#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct RawMetricFormat(pub u32);

impl RawMetricFormat {
    pub(crate) fn from_format(f: Format) -> RawMetricFormat {
        match f {
            Format::Prometheus => RawMetricFormat(0),
            Format::OpenMetrics => RawMetricFormat(1),
        }
    }

    /// The format a C caller named; INVALID_ARG for a value outside the enum.
    pub(crate) fn to_format(self) -> Result<Format, Error> {
        match self.0 {
            0 => Ok(Format::Prometheus),
            1 => Ok(Format::OpenMetrics),
            v => Err(Error::invalid_arg(format!(
                "unknown metrics format {}: expected INFERMETRICS_METRIC_PROMETHEUS (0) or INFERMETRICS_METRIC_OPENMETRICS (1)",
                v
            ))),
        }
    }
}

/// A snapshot holder. Each INFERMETRICS_MetricsFormatted or INFERMETRICS_MetricsRender call
/// renders the registry (and the server's collector series, if made from a server) at that
/// moment. Owned by the caller; free with INFERMETRICS_MetricsDelete. Not to be rendered from
/// two threads at once (one holder per thread, or a lock around it).
pub struct INFERMETRICS_Metrics {
    _private: [u8; 0],
}

pub(crate) struct MetricsObject {
    source: Option<Arc<Exposition>>,
    /// The last rendered body, plus a NUL byte not counted in its size.
    text: Vec<u8>,
}

impl MetricsObject {
    /// Renders the source now in `format` into a fresh string (sized like the last one).
    fn render(&self, format: Format) -> String {
        let mut text = String::with_capacity(self.text.capacity().max(4096));
        match &self.source {
            Some(e) => e.render_as(&mut text, format),
            // the registry alone is an exposition without collectors: one place finishes both
            None => Exposition::default().render_as(&mut text, format),
        }
        text
    }

    /// Keeps `body` (plus a NUL) as the holder's current body; returns its address and size.
    fn keep(&mut self, mut body: Vec<u8>) -> (*const u8, usize) {
        let size = body.len();
        body.push(0);
        self.text = body;
        (self.text.as_ptr(), size)
    }
}

/// `s` as a NUL-terminated byte array, at compile time (the content types below are built
/// from `core::Format`'s constants, the one place they are spelled).
const fn nul_terminated<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    assert!(b.len() + 1 == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < b.len() {
        assert!(b[i] != 0);
        out[i] = b[i];
        i += 1;
    }
    out
}

static PROMETHEUS_CONTENT_TYPE: [u8; Format::PROMETHEUS_CONTENT_TYPE.len() + 1] =
    nul_terminated(Format::PROMETHEUS_CONTENT_TYPE);
static OPENMETRICS_CONTENT_TYPE: [u8; Format::OPENMETRICS_CONTENT_TYPE.len() + 1] =
    nul_terminated(Format::OPENMETRICS_CONTENT_TYPE);

/// The static C string of `format`'s content type.
fn content_type_c(format: Format) -> *const c_char {
    match format {
        Format::Prometheus => PROMETHEUS_CONTENT_TYPE.as_ptr() as *const c_char,
        Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE.as_ptr() as *const c_char,
    }
}

castable!(INFERMETRICS_Metrics => MetricsObject, 6);

/// Creates a snapshot holder for the process-wide registry; with a server, its GPU, CPU
/// and pinned-memory series are included too. Nothing is rendered until
/// INFERMETRICS_MetricsFormatted.
///
/// @param server a live server, or NULL for the registry alone.
/// @param metrics out: the new holder, owned by the caller (free with INFERMETRICS_MetricsDelete).
/// @return NULL on success; INVALID_ARG if `metrics` is NULL or `server` is not a live server.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerMetrics(
    server: *mut INFERMETRICS_Server,
    metrics: *mut *mut INFERMETRICS_Metrics,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerMetrics", || {
        let out = try_out(metrics, "metrics")?;
        let source = if server.is_null() {
            None
        } else {
            Some(try_ref(server, "server")?.exposition())
        };
        *out = to_raw(MetricsObject {
            source,
            text: Vec::new(),
        })?;
        Ok(())
    })
}

/// Renders the snapshot now and returns it.
///
/// @param metrics a live holder.
/// @param format INFERMETRICS_METRIC_PROMETHEUS, or INFERMETRICS_METRIC_OPENMETRICS (ends with `# EOF`).
/// @param base out: the text (UTF-8, NUL-terminated), owned by `metrics`, valid until it is
///        deleted or formatted again.
/// @param byte_size out: its length in bytes, without the NUL.
/// @return NULL on success; INVALID_ARG for NULL arguments or an unknown format.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricsFormatted(
    metrics: *mut INFERMETRICS_Metrics,
    format: RawMetricFormat,
    base: *mut *const c_char,
    byte_size: *mut usize,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricsFormatted", || {
        let m = try_mut(metrics, "metrics")?;
        let base = try_out(base, "base")?;
        let byte_size = try_out(byte_size, "byte_size")?;
        let format = format.to_format()?;
        let text = m.render(format);
        let (p, size) = m.keep(text.into_bytes());
        *base = p as *const c_char;
        *byte_size = size;
        Ok(())
    })
}

/// Renders everything the holder covers now (the registry, plus the server's collector series
/// if it was made from a server, e.g. one started without a listener) as an HTTP response
/// body, for a host that serves /metrics from its own HTTP server. Send the body with
/// `Content-Type: <content_type>` and, when `gzip` is true, `Content-Encoding: gzip` (and
/// `Vary: Accept-Encoding` if the choice came from the request). INFERMETRICS_MetricsNegotiate
/// makes the same choice of format and gzip the library's own server makes for a request.
/// Our extension of the Triton API.
///
/// @param metrics a live holder (INFERMETRICS_ServerMetrics).
/// @param format INFERMETRICS_METRIC_PROMETHEUS (text 0.0.4), or
///        INFERMETRICS_METRIC_OPENMETRICS (OpenMetrics 1.0.0 text, ends with `# EOF`).
/// @param gzip true: the body is gzip-compressed (binary; a gzip member, RFC 1952).
/// @param body out: the body, owned by `metrics`, valid until it is deleted or rendered or
///        formatted again. An uncompressed body is followed by a NUL byte (not counted).
/// @param byte_size out: the body's length in bytes (the Content-Length).
/// @param content_type out: the body's content type, a static NUL-terminated string
///        (INFERMETRICS_CONTENT_TYPE_PROMETHEUS or INFERMETRICS_CONTENT_TYPE_OPENMETRICS);
///        never freed.
/// @return NULL on success (the out-parameters are written only then); INVALID_ARG naming
///         the argument for a NULL `metrics`, `body`, `byte_size` or `content_type`, a
///         `metrics` that is not a live holder, or an unknown format.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricsRender(
    metrics: *mut INFERMETRICS_Metrics,
    format: RawMetricFormat,
    gzip: CBool,
    body: *mut *const c_void,
    byte_size: *mut usize,
    content_type: *mut *const c_char,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricsRender", || {
        let m = try_mut(metrics, "metrics")?;
        let body = try_out(body, "body")?;
        let byte_size = try_out(byte_size, "byte_size")?;
        let content_type = try_out(content_type, "content_type")?;
        let format = format.to_format()?;
        let text = m.render(format);
        let bytes = if gzip.0 != 0 {
            encoding::gzip(text.as_bytes())
        } else {
            text.into_bytes()
        };
        let (p, size) = m.keep(bytes);
        *body = p as *const c_void;
        *byte_size = size;
        *content_type = content_type_c(format);
        Ok(())
    })
}

/// Picks the format and encoding for one HTTP request from its headers, exactly as the
/// library's own server does (RFC 9110 content negotiation): gzip when `Accept-Encoding`
/// accepts it with a q-value above 0 (by name or through `*`), else identity; OpenMetrics
/// 1.0.0 only when `openmetrics` is true and `Accept` asks for `application/openmetrics-text`
/// (version 1.0.0 or none) ahead of text/plain, else Prometheus text 0.0.4. Pass the results to
/// INFERMETRICS_MetricsRender. Our extension of the Triton API.
///
/// @param accept the request's `Accept` header value, or NULL if it had none. Bytes that are
///        not UTF-8 match no media type.
/// @param accept_encoding the request's `Accept-Encoding` header value, or NULL if it had none.
/// @param openmetrics whether OpenMetrics may be served (the host's opt-in; see the README for
///        why it is off by default).
/// @param format out: INFERMETRICS_METRIC_PROMETHEUS or INFERMETRICS_METRIC_OPENMETRICS.
/// @param gzip out: whether to gzip the body.
/// @return NULL on success; INVALID_ARG naming the argument for a NULL `format` or `gzip`.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricsNegotiate(
    accept: *const c_char,
    accept_encoding: *const c_char,
    openmetrics: CBool,
    format: *mut RawMetricFormat,
    gzip: *mut CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricsNegotiate", || {
        let format = try_out(format, "format")?;
        let gzip = try_out(gzip, "gzip")?;
        // a header is text the host received: read it leniently, never fail a scrape over it
        let header = |p: *const c_char| {
            (!p.is_null()).then(|| String::from_utf8_lossy(CStr::from_ptr(p).to_bytes()))
        };
        let (accept, accept_encoding) = (header(accept), header(accept_encoding));
        let n = encoding::negotiate(
            accept.as_deref(),
            accept_encoding.as_deref(),
            openmetrics.0 != 0,
        );
        *format = RawMetricFormat::from_format(n.format);
        *gzip = CBool(n.gzip as u8);
        Ok(())
    })
}

/// Frees a snapshot holder and its text.
///
/// @param metrics the holder; dangling after success.
/// @return NULL on success; INVALID_ARG if NULL or not a live holder.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricsDelete(
    metrics: *mut INFERMETRICS_Metrics,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricsDelete", || {
        drop(try_take(metrics, "metrics")?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::super::error::{INFERMETRICS_ErrorDelete, INFERMETRICS_ErrorMessage};
    use super::*;
    use std::io::Read;

    /// The message of `e` (which must be an error), freeing it.
    unsafe fn message(e: *mut INFERMETRICS_Error) -> String {
        assert!(!e.is_null(), "expected an error");
        let m = CStr::from_ptr(INFERMETRICS_ErrorMessage(e))
            .to_string_lossy()
            .into_owned();
        INFERMETRICS_ErrorDelete(e);
        m
    }

    #[test]
    fn header_content_types_are_formats_constants() {
        let header = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/include/infermetrics.h"
        ));
        for (c, value) in [
            (
                "INFERMETRICS_CONTENT_TYPE_PROMETHEUS",
                Format::PROMETHEUS_CONTENT_TYPE,
            ),
            (
                "INFERMETRICS_CONTENT_TYPE_OPENMETRICS",
                Format::OPENMETRICS_CONTENT_TYPE,
            ),
        ] {
            let line = format!("#define {} \"{}\"\n", c, value);
            assert!(header.contains(&line), "the header lacks {:?}", line);
        }
        for f in [Format::Prometheus, Format::OpenMetrics] {
            let c = unsafe { CStr::from_ptr(content_type_c(f)) };
            assert_eq!(c.to_str().unwrap(), f.content_type());
        }
    }

    #[test]
    fn render_gzips_and_names_its_content_type() {
        unsafe {
            let mut m = std::ptr::null_mut();
            assert!(INFERMETRICS_ServerMetrics(std::ptr::null_mut(), &mut m).is_null());
            let (mut body, mut size, mut ct) = (std::ptr::null(), 0usize, std::ptr::null());
            let e = INFERMETRICS_MetricsRender(
                m,
                RawMetricFormat(0),
                CBool(0),
                &mut body,
                &mut size,
                &mut ct,
            );
            assert!(e.is_null());
            let plain = std::slice::from_raw_parts(body as *const u8, size).to_vec();
            assert_eq!(
                *(body as *const u8).add(size),
                0,
                "a plain body is NUL-terminated"
            );
            assert_eq!(
                CStr::from_ptr(ct).to_str().unwrap(),
                Format::PROMETHEUS_CONTENT_TYPE
            );
            for format in [0u32, 1] {
                let e = INFERMETRICS_MetricsRender(
                    m,
                    RawMetricFormat(format),
                    CBool(1),
                    &mut body,
                    &mut size,
                    &mut ct,
                );
                assert!(e.is_null());
                let z = std::slice::from_raw_parts(body as *const u8, size);
                assert_eq!(&z[..2], &[0x1f, 0x8b], "gzip magic");
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(z)
                    .read_to_end(&mut back)
                    .unwrap();
                if format == 0 {
                    // the global registry may change between two renders in a test process:
                    // compare the shape, not the bytes
                    assert_eq!(back.is_empty(), plain.is_empty());
                }
                assert_eq!(
                    CStr::from_ptr(ct).to_str().unwrap(),
                    RawMetricFormat(format).to_format().unwrap().content_type()
                );
            }
            assert!(INFERMETRICS_MetricsDelete(m).is_null());
        }
    }

    #[test]
    fn render_and_negotiate_name_their_null_arguments() {
        unsafe {
            let mut m = std::ptr::null_mut();
            assert!(INFERMETRICS_ServerMetrics(std::ptr::null_mut(), &mut m).is_null());
            let (mut body, mut size, mut ct) = (std::ptr::null(), 0usize, std::ptr::null());
            let f = RawMetricFormat(0);
            let m0 = std::ptr::null_mut();
            let cases = [
                (
                    INFERMETRICS_MetricsRender(m0, f, CBool(0), &mut body, &mut size, &mut ct),
                    "'metrics'",
                ),
                (
                    INFERMETRICS_MetricsRender(
                        m,
                        f,
                        CBool(0),
                        std::ptr::null_mut(),
                        &mut size,
                        &mut ct,
                    ),
                    "'body'",
                ),
                (
                    INFERMETRICS_MetricsRender(
                        m,
                        f,
                        CBool(0),
                        &mut body,
                        std::ptr::null_mut(),
                        &mut ct,
                    ),
                    "'byte_size'",
                ),
                (
                    INFERMETRICS_MetricsRender(
                        m,
                        f,
                        CBool(0),
                        &mut body,
                        &mut size,
                        std::ptr::null_mut(),
                    ),
                    "'content_type'",
                ),
                (
                    INFERMETRICS_MetricsRender(
                        m,
                        RawMetricFormat(7),
                        CBool(0),
                        &mut body,
                        &mut size,
                        &mut ct,
                    ),
                    "unknown metrics format 7",
                ),
            ];
            for (e, want) in cases {
                let msg = message(e);
                assert!(msg.contains(want), "{:?} does not name {}", msg, want);
            }
            assert!(
                body.is_null() && size == 0 && ct.is_null(),
                "out-parameters written on error"
            );
            let (mut fmt, mut gz) = (RawMetricFormat(9), CBool(9));
            let n = std::ptr::null();
            let msg = message(INFERMETRICS_MetricsNegotiate(
                n,
                n,
                CBool(0),
                std::ptr::null_mut(),
                &mut gz,
            ));
            assert!(msg.contains("'format'"), "{}", msg);
            let msg = message(INFERMETRICS_MetricsNegotiate(
                n,
                n,
                CBool(0),
                &mut fmt,
                std::ptr::null_mut(),
            ));
            assert!(msg.contains("'gzip'"), "{}", msg);
            // no headers at all: 0.0.4, identity
            assert!(INFERMETRICS_MetricsNegotiate(n, n, CBool(1), &mut fmt, &mut gz).is_null());
            assert_eq!((fmt.0, gz.0), (0, 0));
            // a header that is not UTF-8 is read leniently, never refused
            let junk = b"gz\xffip\0";
            assert!(INFERMETRICS_MetricsNegotiate(
                junk.as_ptr() as _,
                junk.as_ptr() as _,
                CBool(1),
                &mut fmt,
                &mut gz
            )
            .is_null());
            assert_eq!(fmt.0, 0);
            assert!(INFERMETRICS_MetricsDelete(m).is_null());
        }
    }
}

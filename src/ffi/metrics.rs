//! `INFERMETRICS_Metrics`: a text snapshot of the registry (and of a server's collectors).
use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::{castable, guard, to_raw, try_mut, try_out, try_ref, try_take};
use super::error::INFERMETRICS_Error;
use super::server::INFERMETRICS_Server;
use crate::core::{Error, Format};
use crate::exporter::Exposition;

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

/// A snapshot holder. Each INFERMETRICS_MetricsFormatted call renders the registry (and the
/// server's collector series, if made from a server) at that moment. Owned by the caller;
/// free with INFERMETRICS_MetricsDelete. Not to be formatted from two threads at once.
pub struct INFERMETRICS_Metrics {
    _private: [u8; 0],
}

pub(crate) struct MetricsObject {
    source: Option<Arc<Exposition>>,
    text: Vec<u8>,
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
        let mut text = String::with_capacity(m.text.capacity().max(4096));
        // the registry alone is an exposition without collectors: one place finishes both
        match &m.source {
            Some(e) => e.render_as(&mut text, format),
            None => Exposition::default().render_as(&mut text, format),
        }
        let mut bytes = text.into_bytes();
        bytes.push(0);
        m.text = bytes;
        *base = m.text.as_ptr() as *const c_char;
        *byte_size = m.text.len() - 1;
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

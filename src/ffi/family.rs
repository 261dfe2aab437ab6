//! `INFERMETRICS_MetricFamily`: a handle on a process-wide family of metrics.
use std::ffi::c_char;

use super::boundary::{castable, guard, to_raw, try_out, try_ref, try_str, try_take};
use super::error::INFERMETRICS_Error;
use crate::core::{Error, FamilyHandle, Kind, Registry};

/// Metric kinds (Triton's `TRITONSERVER_MetricKind`).
#[repr(C)]
#[allow(non_camel_case_types, dead_code)]
pub enum INFERMETRICS_MetricKind {
    /// Monotonic counter: MetricIncrement by values >= 0.
    INFERMETRICS_METRIC_KIND_COUNTER = 0,
    /// Gauge: MetricIncrement by any value, MetricSet.
    INFERMETRICS_METRIC_KIND_GAUGE = 1,
    /// Histogram with fixed buckets: MetricObserve; needs INFERMETRICS_MetricArgs.
    INFERMETRICS_METRIC_KIND_HISTOGRAM = 2,
    /// Summary (our extension; Triton's C API has no summary kind): MetricObserve; quantiles
    /// over a sliding time window plus `_sum` and `_count`; needs INFERMETRICS_MetricArgs set
    /// with INFERMETRICS_MetricArgsSetSummary. Printed as `name{...,quantile="0.5"}` lines,
    /// then `name_sum` and `name_count`.
    INFERMETRICS_METRIC_KIND_SUMMARY = 3,
}

#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct RawMetricKind(pub u32);

impl From<Kind> for RawMetricKind {
    fn from(k: Kind) -> Self {
        RawMetricKind(k as u32)
    }
}

/// A handle on a metric family (a name, a description and a kind) in the process-wide
/// registry. Several handles may refer to the same family. Owned by the caller; free with
/// INFERMETRICS_MetricFamilyDelete after every metric created through it is deleted.
pub struct INFERMETRICS_MetricFamily {
    _private: [u8; 0],
}

castable!(INFERMETRICS_MetricFamily => FamilyHandle, 3);

/// Opens the metric family `name`, creating it on first use.
///
/// The same name and kind again succeeds and refers to the same family (the first
/// description is kept); families live for the whole process.
///
/// @param family out: the new handle, owned by the caller (free with
///        INFERMETRICS_MetricFamilyDelete); left untouched on error.
/// @param kind the kind of the family's metrics.
/// @param name metric name matching `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with `__`.
/// @param description the HELP text (escaped on output); may be empty, not NULL.
/// @return NULL on success; INVALID_ARG for a NULL argument, an unknown kind, an invalid
///         name, bad UTF-8, or a name already registered with another kind.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricFamilyNew(
    family: *mut *mut INFERMETRICS_MetricFamily,
    kind: RawMetricKind,
    name: *const c_char,
    description: *const c_char,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricFamilyNew", || {
        let out = try_out(family, "family")?;
        let kind = Kind::from_u32(kind.0).ok_or_else(|| {
            Error::invalid_arg(format!(
                "Unsupported kind passed to MetricFamily constructor: {}",
                kind.0
            ))
        })?;
        let name = try_str(name, "name")?;
        let description = try_str(description, "description")?;
        let handle = Registry::global().family(kind, name, description)?;
        *out = to_raw(handle)?;
        Ok(())
    })
}

/// Deletes a family handle. The family itself stays registered (its name keeps its kind).
///
/// @param family the handle; dangling after success.
/// @return NULL on success; INVALID_ARG if NULL or not a live handle; INTERNAL "Must call
///         MetricDelete on all dependent metrics before calling MetricFamilyDelete." if
///         metrics created through this handle are still alive (then nothing is deleted).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricFamilyDelete(
    family: *mut INFERMETRICS_MetricFamily,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricFamilyDelete", || {
        try_ref(family, "family")?.check_can_delete()?;
        drop(try_take(family, "family")?);
        Ok(())
    })
}

/// The kind of a family.
///
/// @param family a live family handle.
/// @param kind out: its kind.
/// @return NULL on success; INVALID_ARG for a NULL or dead argument.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_GetMetricFamilyKind(
    family: *mut INFERMETRICS_MetricFamily,
    kind: *mut RawMetricKind,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_GetMetricFamilyKind", || {
        let f = try_ref(family, "family")?;
        *try_out(kind, "kind")? = f.kind().into();
        Ok(())
    })
}

/// Sets the most series one metric family may hold (our extension; Triton has no limit).
/// Beyond it, INFERMETRICS_MetricNew for a new label set fails with UNAVAILABLE naming the
/// family and the limit (re-using an existing series still succeeds); the first refusal per
/// family is logged, and refusals are served as `nv_metric_series_rejected_total{family}`.
/// Guards a host against unbounded label values (request ids, user names) filling memory.
/// The environment variable INFERMETRICS_MAX_SERIES_PER_FAMILY, when set, wins over this call
/// (which then logs that it was ignored). Process-wide; applies to every family at once.
///
/// @param limit the most series per family; 0 means no limit (the default).
/// @return NULL (always succeeds).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_SetMaxSeriesPerFamily(limit: u64) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_SetMaxSeriesPerFamily", || {
        crate::core::registry::set_max_series_per_family(limit);
        Ok(())
    })
}

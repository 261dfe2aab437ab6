//! `INFERMETRICS_Metric`: one labelled series of a family, and the recording calls.
//!
//! The recording calls go from the handle to the series' atomics: no lock, no allocation,
//! no lookup by name or label.
use super::args::INFERMETRICS_MetricArgs;
use super::boundary::{castable, guard, to_raw, try_out, try_ref, try_take};
use super::error::INFERMETRICS_Error;
use super::family::{INFERMETRICS_MetricFamily, RawMetricKind};
use super::parameter::{with_labels, with_params, INFERMETRICS_Parameter};
use crate::core::{Exemplar, MetricHandle};

/// A handle on one series (a family plus a set of label values). Handles made with equal
/// labels in one family share the series; the series leaves the output when its last handle
/// is deleted. Owned by the caller; free with INFERMETRICS_MetricDelete.
pub struct INFERMETRICS_Metric {
    _private: [u8; 0],
}

castable!(INFERMETRICS_Metric => MetricHandle, 5);

/// Creates (or shares) the series of `family` with these labels. Same as
/// INFERMETRICS_MetricNewWithArgs with NULL args: right for counters and gauges (histograms
/// and summaries need args).
///
/// @param metric out: the new handle, owned by the caller (free with INFERMETRICS_MetricDelete).
/// @param family a live family handle; it counts this metric as its child.
/// @param labels `label_count` parameters of type STRING (copied; label order does not
///        matter); may be NULL when `label_count` is 0.
/// @param label_count number of labels (at most 4096).
/// @return NULL on success; INVALID_ARG for a NULL argument or label entry, a non-STRING
///         label, an invalid or repeated label name, `le` on a histogram, bad UTF-8, or a
///         histogram family (it needs args).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricNew(
    metric: *mut *mut INFERMETRICS_Metric,
    family: *mut INFERMETRICS_MetricFamily,
    labels: *mut *const INFERMETRICS_Parameter,
    label_count: u64,
) -> *mut INFERMETRICS_Error {
    INFERMETRICS_MetricNewWithArgs(metric, family, labels, label_count, std::ptr::null())
}

/// Creates (or shares) the series of `family` with these labels and args.
///
/// Checks, in Triton's order: label types; counter or gauge with args ("Unexpected args
/// found in ... Metric constructor."); histogram without args ("Bucket boundaries not found
/// in Metric args.") or with args not set to histogram ("Metric args not set to histogram
/// kind."); buckets finite and strictly increasing ("Bucket Boundaries must be strictly
/// sorted"); label names. Re-creating an existing histogram series keeps its first buckets.
/// A summary (our extension) needs args set with INFERMETRICS_MetricArgsSetSummary ("Quantiles
/// not found in Metric args." without args, "Metric args not set to summary kind." with other
/// args); the label `quantile` is reserved on it; re-creating an existing summary series keeps
/// its first quantiles and window.
///
/// @param metric out: the new handle, owned by the caller (free with INFERMETRICS_MetricDelete).
/// @param family a live family handle.
/// @param labels as for INFERMETRICS_MetricNew.
/// @param label_count as for INFERMETRICS_MetricNew.
/// @param args NULL (counters, gauges), args set with INFERMETRICS_MetricArgsSetHistogram
///        (histograms) or INFERMETRICS_MetricArgsSetSummary (summaries); not retained.
/// @return NULL on success; INVALID_ARG as listed above.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricNewWithArgs(
    metric: *mut *mut INFERMETRICS_Metric,
    family: *mut INFERMETRICS_MetricFamily,
    labels: *mut *const INFERMETRICS_Parameter,
    label_count: u64,
    args: *const INFERMETRICS_MetricArgs,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricNewWithArgs", || {
        let out = try_out(metric, "metric")?;
        let fam = try_ref(family, "family")?;
        let args = if args.is_null() {
            None
        } else {
            Some(try_ref(args, "args")?)
        };
        let m = with_labels(labels, label_count, |labels| {
            fam.new_metric_in_place(labels, args)
        })?;
        *out = to_raw(m)?;
        Ok(())
    })
}

/// Deletes a metric handle; its series leaves the output when no other handle shares it.
///
/// @param metric the handle; dangling after success.
/// @return NULL on success; INVALID_ARG if NULL or not a live metric.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricDelete(
    metric: *mut INFERMETRICS_Metric,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricDelete", || {
        drop(try_take(metric, "metric")?);
        Ok(())
    })
}

/// Reads the current value of a counter or gauge.
///
/// @param metric a live metric.
/// @param value out: the value.
/// @return NULL on success; UNSUPPORTED for a histogram or summary; INVALID_ARG for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricValue(
    metric: *mut INFERMETRICS_Metric,
    value: *mut f64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricValue", || {
        let m = try_ref(metric, "metric")?;
        let out = try_out(value, "value")?;
        *out = m.series().value()?;
        Ok(())
    })
}

/// Adds `value` to a counter (>= 0, not NaN) or a gauge (any value; negative decrements).
/// Lock-free; a few atomic operations.
///
/// @param metric a live counter or gauge.
/// @param value the increment.
/// @return NULL on success; INVALID_ARG for a negative or NaN counter increment or NULL
///         metric; UNSUPPORTED for a histogram or summary.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricIncrement(
    metric: *mut INFERMETRICS_Metric,
    value: f64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricIncrement", move || {
        try_ref(metric, "metric")?.series().increment(value)
    })
}

/// Sets a gauge to `value` (any double, NaN and infinities included). Lock-free.
///
/// @param metric a live gauge.
/// @param value the new value.
/// @return NULL on success; UNSUPPORTED for a counter, histogram or summary; INVALID_ARG for NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricSet(
    metric: *mut INFERMETRICS_Metric,
    value: f64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricSet", move || {
        try_ref(metric, "metric")?.series().set(value)
    })
}

/// Records one observation in a histogram: the first bucket with `value <= bound` (or +Inf)
/// gains one, `_sum` gains `value`. Or in a summary: the value joins the quantiles' window
/// and `_sum`/`_count` (the window is updated off this thread, see
/// INFERMETRICS_MetricArgsSetSummary). Lock-free.
///
/// @param metric a live histogram or summary.
/// @param value the observation; NaN is refused.
/// @return NULL on success; UNSUPPORTED for a counter or gauge; INVALID_ARG for NaN or NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricObserve(
    metric: *mut INFERMETRICS_Metric,
    value: f64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricObserve", move || {
        try_ref(metric, "metric")?.series().observe(value)
    })
}

/// Adds `value` to a counter, exactly as INFERMETRICS_MetricIncrement does, and keeps an
/// exemplar of this increment (e.g. the trace id of the request it counts) as the series'
/// latest. Our extension: neither Triton's C API nor prometheus-cpp has exemplars.
///
/// The latest exemplar, its value and the wall-clock time of this call are written after
/// the counter's sample in OpenMetrics output only (`foo_total{..} 17 # {trace_id="abc"} 1
/// 1700000000.123`); the Prometheus 0.0.4 text never shows exemplars. Slower than
/// INFERMETRICS_MetricIncrement (it copies the labels; still lock-free), which stays as fast
/// as without exemplars: use this call only where an exemplar is wanted.
///
/// @param metric a live counter.
/// @param value the increment (>= 0, not NaN), also the exemplar's value.
/// @param exemplar_labels `exemplar_label_count` parameters of type STRING (copied); may be
///        NULL when `exemplar_label_count` is 0 (an exemplar with no labels).
/// @param exemplar_label_count number of exemplar labels.
/// @return NULL on success; INVALID_ARG for a NULL metric or label entry, a NULL array with a
///         non-zero count, a non-STRING label, an invalid or repeated label name, bad UTF-8,
///         label names and values together over 128 UTF-8 characters (the OpenMetrics limit),
///         or a negative or NaN value; UNSUPPORTED for a gauge, histogram or summary. On any
///         error nothing is recorded.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricIncrementWithExemplar(
    metric: *mut INFERMETRICS_Metric,
    value: f64,
    exemplar_labels: *mut *const INFERMETRICS_Parameter,
    exemplar_label_count: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricIncrementWithExemplar", move || {
        let m = try_ref(metric, "metric")?;
        let e = exemplar(exemplar_labels, exemplar_label_count, value)?;
        m.series().increment_with_exemplar(value, e)
    })
}

/// Records one observation in a histogram, exactly as INFERMETRICS_MetricObserve does, and
/// keeps an exemplar of it (e.g. the trace id of the request it measures) as the latest of
/// the bucket the value falls in. Our extension: neither Triton's C API nor prometheus-cpp
/// has exemplars.
///
/// The latest exemplar of each bucket, its value and the wall-clock time of this call are
/// written after that bucket's `_bucket` sample in OpenMetrics output only; the Prometheus
/// 0.0.4 text never shows exemplars. Slower than INFERMETRICS_MetricObserve (it copies the
/// labels; still lock-free), which stays as fast as without exemplars.
///
/// @param metric a live histogram. Summaries are refused: OpenMetrics has no exemplars on
///        summaries.
/// @param value the observation (not NaN), also the exemplar's value.
/// @param exemplar_labels as for INFERMETRICS_MetricIncrementWithExemplar.
/// @param exemplar_label_count number of exemplar labels.
/// @return NULL on success; INVALID_ARG as for INFERMETRICS_MetricIncrementWithExemplar (a
///         NaN value included); UNSUPPORTED for a counter, gauge or summary. On any error
///         nothing is recorded.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricObserveWithExemplar(
    metric: *mut INFERMETRICS_Metric,
    value: f64,
    exemplar_labels: *mut *const INFERMETRICS_Parameter,
    exemplar_label_count: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricObserveWithExemplar", move || {
        let m = try_ref(metric, "metric")?;
        let e = exemplar(exemplar_labels, exemplar_label_count, value)?;
        m.series().observe_with_exemplar(value, e)
    })
}

/// Reads and checks exemplar labels with the parameter parsing MetricNew uses.
unsafe fn exemplar(
    labels: *const *const INFERMETRICS_Parameter,
    count: u64,
    value: f64,
) -> crate::core::Result<Exemplar> {
    with_params(labels, count, "exemplar_labels", |l| {
        Exemplar::new(l, value)
    })
}

/// The kind of a metric (that of its family).
///
/// @param metric a live metric.
/// @param kind out: its kind.
/// @return NULL on success; INVALID_ARG for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_GetMetricKind(
    metric: *mut INFERMETRICS_Metric,
    kind: *mut RawMetricKind,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_GetMetricKind", || {
        let m = try_ref(metric, "metric")?;
        *try_out(kind, "kind")? = m.kind().into();
        Ok(())
    })
}

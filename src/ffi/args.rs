//! `INFERMETRICS_MetricArgs`: extra arguments for creating a metric (histogram buckets,
//! summary quantiles).
use super::boundary::{castable, guard, to_raw, try_mut, try_out, try_slice, try_take};
use super::error::INFERMETRICS_Error;
use crate::core::{MetricArgs, SummaryArgs};

/// Arguments for INFERMETRICS_MetricNewWithArgs: histogram bucket boundaries, or summary
/// quantiles and window.
/// Owned by the caller; free with INFERMETRICS_MetricArgsDelete (may be deleted right after
/// the metric is created).
pub struct INFERMETRICS_MetricArgs {
    _private: [u8; 0],
}

castable!(INFERMETRICS_MetricArgs => MetricArgs, 4);

/// Creates empty metric args (set to no kind).
///
/// @param args out: the new args, owned by the caller (free with INFERMETRICS_MetricArgsDelete).
/// @return NULL on success; INVALID_ARG if `args` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricArgsNew(
    args: *mut *mut INFERMETRICS_MetricArgs,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricArgsNew", || {
        // check the out-pointer before allocating: `*place? = value` evaluates value first
        let out = try_out(args, "args")?;
        *out = to_raw(MetricArgs::default())?;
        Ok(())
    })
}

/// Sets the args to histogram kind with these bucket upper bounds (copied). The bounds are
/// checked when a metric is created: finite, strictly increasing; a trailing +Inf is the
/// implicit bucket; an empty list (only +Inf) is allowed. A later call replaces the bounds
/// (and a summary setting).
///
/// @param args live metric args.
/// @param buckets `buckets_count` doubles; may be NULL when `buckets_count` is 0.
/// @param buckets_count number of bounds (at most 65536).
/// @return NULL on success; INVALID_ARG for NULL `args`, or NULL `buckets` with a non-zero count.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricArgsSetHistogram(
    args: *mut INFERMETRICS_MetricArgs,
    buckets: *const f64,
    buckets_count: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricArgsSetHistogram", || {
        let a = try_mut(args, "args")?;
        let b = try_slice(buckets, buckets_count, "buckets", 65536)?;
        *a = MetricArgs::histogram(b);
        Ok(())
    })
}

/// Sets the args to summary kind (our extension): the quantiles to report, each with its
/// allowed rank error (`0.99` with `0.001`: the value printed for 0.99 has a rank between
/// 0.989 and 0.991 of the observations in the window), over a sliding window of `max_age_ms`
/// split into `age_buckets` (prometheus-cpp's and Triton's summary: 60000 ms and 5 by
/// default). The quantiles printed cover between `max_age_ms × (age_buckets−1)/age_buckets`
/// and `max_age_ms` of history (NaN when that holds no observation); `_sum` and `_count`
/// cover the whole life of the series. Recording (INFERMETRICS_MetricObserve) takes no lock:
/// values go to a per-series buffer that the library's summary thread (or a scrape) merges
/// into the window. Checked here; a later call replaces the setting (and histogram buckets).
///
/// @param args live metric args.
/// @param quantiles `count` quantiles, each within [0, 1], none twice (copied; printed in
///        increasing order); may be NULL when `count` is 0 (then only `_sum` and `_count`).
/// @param errors `count` allowed rank errors, each within [0, 1], one per quantile; may be
///        NULL when `count` is 0.
/// @param count number of quantiles (at most 64).
/// @param max_age_ms the window in milliseconds; 0 takes the default, 60000.
/// @param age_buckets sketches the window rotates through (at most 1000); 0 takes the
///        default, 5.
/// @return NULL on success; INVALID_ARG for NULL `args`, NULL arrays with a non-zero count,
///         a quantile or error that is NaN or outside [0, 1], a quantile given twice, or too
///         many quantiles or age buckets (nothing is changed then).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricArgsSetSummary(
    args: *mut INFERMETRICS_MetricArgs,
    quantiles: *const f64,
    errors: *const f64,
    count: u64,
    max_age_ms: u64,
    age_buckets: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricArgsSetSummary", || {
        let a = try_mut(args, "args")?;
        let q = try_slice(quantiles, count, "quantiles", 64)?;
        let e = try_slice(errors, count, "errors", 64)?;
        *a = MetricArgs::summary(SummaryArgs::new(q, e, max_age_ms, age_buckets)?);
        Ok(())
    })
}

/// Frees metric args. NULL is a no-op success (Triton's tests rely on it).
///
/// @param args args from INFERMETRICS_MetricArgsNew, or NULL; dangling afterwards.
/// @return NULL on success; INVALID_ARG if `args` is not live metric args.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_MetricArgsDelete(
    args: *mut INFERMETRICS_MetricArgs,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_MetricArgsDelete", || {
        if !args.is_null() {
            drop(try_take(args, "args")?);
        }
        Ok(())
    })
}

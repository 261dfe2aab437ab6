//! `INFERMETRICS_MetricArgs`: extra arguments for creating a metric (histogram buckets).
use super::boundary::{castable, guard, to_raw, try_mut, try_out, try_slice, try_take};
use super::error::INFERMETRICS_Error;
use crate::core::MetricArgs;

/// Arguments for INFERMETRICS_MetricNewWithArgs: today, histogram bucket boundaries.
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
/// implicit bucket; an empty list (only +Inf) is allowed. A later call replaces the bounds.
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
        a.histogram_buckets = Some(b.to_vec());
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

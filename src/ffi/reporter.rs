//! `INFERMETRICS_ModelReporter`: Triton's per-model inference statistics (`nv_inference_*`)
//! for any server, and `INFERMETRICS_SetMetricsConfig` (Triton's `--metrics-config`). Our
//! extension of the C API: Triton keeps its reporter inside the server.
use std::ffi::c_char;

use super::boundary::{castable, guard, to_raw, try_out, try_ref, try_slice, try_str, try_take};
use super::error::INFERMETRICS_Error;
use super::parameter::{with_params, INFERMETRICS_Parameter};
use super::server::CBool;
use crate::core::triton::{self, ModelReporter, RequestTimes};
use crate::core::Error;

/// A model's inference statistics (our extension of the C API): Triton's per-model series
/// `nv_inference_request_success`, `nv_inference_request_failure{reason}`,
/// `nv_inference_count`, `nv_inference_exec_count`, `nv_inference_*_duration_us`,
/// `nv_inference_pending_request_count`, and, as the metrics configuration asks
/// (INFERMETRICS_SetMetricsConfig), the `nv_inference_*_summary_us` summaries, the
/// `nv_inference_*_duration_histogram_us` histograms and
/// `nv_inference_first_response_histogram_ms`, plus the `nv_cache_*_per_model` series once a
/// cache hit is reported; with labels `model`, `version` and one `_<key>` per tag. The
/// server reports each request's timestamps; the library does Triton's arithmetic. Reporters
/// with equal labels share their series, which leave the output when the last of them is
/// deleted. Thread-safe; the report calls take no lock and allocate nothing (but the first
/// report that creates a histogram or cache series). Owned by the caller; free with
/// INFERMETRICS_ModelReporterDelete.
pub struct INFERMETRICS_ModelReporter {
    _private: [u8; 0],
}

castable!(INFERMETRICS_ModelReporter => ModelReporter, 9);

/// Sets the process-wide metrics configuration, Triton's `--metrics-config` settings, as
/// `key=value` pairs separated by `;` (the quantile list separates its pairs with commas),
/// e.g. `counter_latencies=false;histogram_latencies=true;summary_latencies=true;summary_quantiles=0.5:0.05,0.99:0.001`.
/// Keys and defaults are Triton's: `counter_latencies` (true; only the word `false` turns the
/// five `*_duration_us` counters and the cache counters off; unlike Triton, success,
/// failure, count and exec count keep counting), `histogram_latencies` (false; only `true`
/// turns the histograms on), `summary_latencies` (false; only `true` turns the summaries
/// on), `summary_quantiles` (`0.5:0.05,0.9:0.01,0.95:0.001,0.99:0.001,0.999:0.001`;
/// `<quantile>:<error>` pairs read as C's strtod reads numbers, a bad pair is logged and
/// skipped, and when none is valid the defaults stay). A repeated key never moves a switch
/// back to its default; unknown keys are logged and ignored. Applies to reporters created
/// afterwards, and replaces any earlier call's setting. The environment variable
/// INFERMETRICS_METRICS_CONFIG, when set, wins (this call then logs that its text is not
/// in force).
///
/// @param config the settings (copied); "" restores the defaults.
/// @return NULL on success; INVALID_ARG for NULL, bad UTF-8, or a setting that is not
///         `<setting>=<value>` ("--metrics-config option format is <setting>=<value>. Got
///         ..."; nothing is changed then).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_SetMetricsConfig(
    config: *const c_char,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_SetMetricsConfig", || {
        triton::set_metrics_config(try_str(config, "config")?)
    })
}

/// Creates a reporter for one model version, under the metrics configuration in force now.
/// Its always-present series appear at once, at 0: success, the four failure reasons
/// (REJECTED, CANCELED, BACKEND, OTHER), count, exec count, pending count, and the latency
/// counters and summaries the configuration turns on.
///
/// @param reporter out: the new reporter, owned by the caller (free with
///        INFERMETRICS_ModelReporterDelete).
/// @param model the model name (label `model`), not empty.
/// @param version the model version (label `version`, e.g. "1").
/// @param tags `tag_count` STRING parameters, extra labels named `_<name>` (Triton's
///        `metric_tags` of the model configuration); copied; may be NULL when `tag_count` is 0.
/// @param tag_count number of tags (at most 4096).
/// @return NULL on success; INVALID_ARG for NULL arguments, an empty model name, a
///         non-STRING or repeated tag, a tag name that makes no label name, bad UTF-8, or
///         a malformed INFERMETRICS_METRICS_CONFIG.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterNew(
    reporter: *mut *mut INFERMETRICS_ModelReporter,
    model: *const c_char,
    version: *const c_char,
    tags: *mut *const INFERMETRICS_Parameter,
    tag_count: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterNew", || {
        let out = try_out(reporter, "reporter")?;
        let model = try_str(model, "model")?;
        let version = try_str(version, "version")?;
        let r = with_params(tags, tag_count, "tags", |tags| {
            ModelReporter::new(model, version, tags)
        })?;
        *out = to_raw(r)?;
        Ok(())
    })
}

/// Deletes a reporter; its series leave the output unless another reporter with the same
/// labels still exists.
///
/// @param reporter the reporter; dangling after success.
/// @return NULL on success; INVALID_ARG if NULL or not a live reporter.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterDelete(
    reporter: *mut INFERMETRICS_ModelReporter,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterDelete", || {
        drop(try_take(reporter, "reporter")?);
        Ok(())
    })
}

/// Reports one request, with Triton's arithmetic (every duration is a difference of the
/// nanosecond timestamps divided by 1000, integer division):
/// success: `nv_inference_request_success` + 1, `nv_inference_count` + max(1, batch_size),
/// request duration = request_end − request_start, queue = exec_start − queue_start, compute
/// input = compute_start − exec_start, compute infer = compute_end − compute_start, compute
/// output = exec_end − compute_end (µs), added to the `*_duration_us` counters, observed in
/// the summaries and histograms when on. Failure: `nv_inference_request_failure{reason}` + 1;
/// only request_start_ns and request_end_ns are used (and checked).
/// Timestamps come from one monotonic clock (e.g. CLOCK_MONOTONIC); those used must be
/// non-zero and in order: request_start <= queue_start <= exec_start <= compute_start <=
/// compute_end <= exec_end <= request_end. `nv_inference_exec_count` is counted by
/// INFERMETRICS_ModelReporterReportBatch, once per model execution, as in Triton.
///
/// @param reporter a live reporter.
/// @param success whether the request succeeded.
/// @param failure_reason NULL for a success; for a failure "REJECTED", "CANCELED",
///        "BACKEND", "OTHER", or NULL meaning "BACKEND" (what Triton records for a
///        failure a backend reports).
/// @param batch_size the request's batch size (0 counts as 1).
/// @param request_start_ns when the request arrived.
/// @param queue_start_ns when it was enqueued.
/// @param exec_start_ns when its execution started (Triton's backend API's exec start).
/// @param compute_start_ns when the model's compute started (inputs ready).
/// @param compute_end_ns when the compute ended.
/// @param exec_end_ns when its execution ended (outputs ready).
/// @param request_end_ns when the response was complete.
/// @return NULL on success; INVALID_ARG (nothing recorded) for a NULL or dead reporter, a
///         used timestamp that is 0 or out of order (the message names both), an unknown
///         failure reason, or a failure reason given for a success.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterReportRequest(
    reporter: *mut INFERMETRICS_ModelReporter,
    success: CBool,
    failure_reason: *const c_char,
    batch_size: u64,
    request_start_ns: u64,
    queue_start_ns: u64,
    exec_start_ns: u64,
    compute_start_ns: u64,
    compute_end_ns: u64,
    exec_end_ns: u64,
    request_end_ns: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterReportRequest", move || {
        let r = try_ref(reporter, "reporter")?;
        if success.0 != 0 {
            if !failure_reason.is_null() {
                return Err(Error::invalid_arg(format!(
                    "failure_reason \"{}\" given for a successful request: pass NULL",
                    try_str(failure_reason, "failure_reason")?.escape_debug()
                )));
            }
            r.report_success(
                batch_size,
                &RequestTimes {
                    request_start: request_start_ns,
                    queue_start: queue_start_ns,
                    exec_start: exec_start_ns,
                    compute_start: compute_start_ns,
                    compute_end: compute_end_ns,
                    exec_end: exec_end_ns,
                    request_end: request_end_ns,
                },
            )
        } else {
            let reason = if failure_reason.is_null() {
                "BACKEND"
            } else {
                try_str(failure_reason, "failure_reason")?
            };
            r.report_failure(reason, request_start_ns, request_end_ns)
        }
    })
}

/// Reports one model execution (Triton's TRITONBACKEND_ModelInstanceReportBatchStatistics):
/// `nv_inference_exec_count` + 1. The batch size and timestamps feed Triton's statistics
/// API, not its metrics; the timestamps are checked (non-zero, exec_start <= compute_start
/// <= compute_end <= exec_end).
///
/// @param reporter a live reporter.
/// @param batch_size the number of inferences executed together (not counted here:
///        `nv_inference_count` counts each request's batch size).
/// @param exec_start_ns when the execution started.
/// @param compute_start_ns when the compute started.
/// @param compute_end_ns when the compute ended.
/// @param exec_end_ns when the execution ended.
/// @return NULL on success; INVALID_ARG (nothing recorded) for a NULL or dead reporter or a
///         timestamp that is 0 or out of order.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterReportBatch(
    reporter: *mut INFERMETRICS_ModelReporter,
    batch_size: u64,
    exec_start_ns: u64,
    compute_start_ns: u64,
    compute_end_ns: u64,
    exec_end_ns: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterReportBatch", move || {
        let _ = batch_size;
        try_ref(reporter, "reporter")?.report_batch(
            exec_start_ns,
            compute_start_ns,
            compute_end_ns,
            exec_end_ns,
        )
    })
}

/// Reports a request answered from a response cache, counted as Triton counts it:
/// `nv_inference_request_success` + 1 (but not `nv_inference_count`), request duration =
/// request_end − request_start, queue duration = lookup start − queue_start where the lookup
/// started at request_end − lookup_ns (the lookup ends the request), `nv_cache_num_hits_per_model`
/// + 1, `nv_cache_hit_duration_per_model` + lookup_ns / 1000 (µs); the queue and cache-hit
/// summaries observe, as in Triton (the request summary does not); the request and queue
/// histograms observe. The cache series appear with the first hit.
///
/// @param reporter a live reporter.
/// @param request_start_ns when the request arrived.
/// @param queue_start_ns when it was enqueued.
/// @param request_end_ns when the cached response was complete.
/// @param lookup_ns how long the cache lookup took, in ns (a duration, may be 0).
/// @return NULL on success; INVALID_ARG (nothing recorded) for a NULL or dead reporter, a
///         timestamp that is 0 or out of order (request_start <= queue_start <= request_end),
///         or a lookup longer than request_end − queue_start.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterReportCacheHit(
    reporter: *mut INFERMETRICS_ModelReporter,
    request_start_ns: u64,
    queue_start_ns: u64,
    request_end_ns: u64,
    lookup_ns: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterReportCacheHit", move || {
        try_ref(reporter, "reporter")?.report_cache_hit(
            request_start_ns,
            queue_start_ns,
            request_end_ns,
            lookup_ns,
        )
    })
}

/// Reports the first response of a request (decoupled or streaming models report it once
/// per request): with `histogram_latencies=true`, `nv_inference_first_response_histogram_ms`
/// observes (first_response − request_start) / 1000000 ms (integer division; Triton's
/// default buckets 100, 500, 2000, 5000); otherwise only the timestamps are checked.
///
/// @param reporter a live reporter.
/// @param request_start_ns when the request arrived.
/// @param first_response_ns when its first response was sent.
/// @return NULL on success; INVALID_ARG (nothing recorded) for a NULL or dead reporter or a
///         timestamp that is 0 or out of order.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterFirstResponse(
    reporter: *mut INFERMETRICS_ModelReporter,
    request_start_ns: u64,
    first_response_ns: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterFirstResponse", move || {
        try_ref(reporter, "reporter")?.report_first_response(request_start_ns, first_response_ns)
    })
}

/// Adds `delta` to `nv_inference_pending_request_count` (+1 when a request is enqueued, −1
/// when an instance takes it, as Triton does).
///
/// @param reporter a live reporter.
/// @param delta the change.
/// @return NULL on success; INVALID_ARG for a NULL or dead reporter.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterPendingAdd(
    reporter: *mut INFERMETRICS_ModelReporter,
    delta: i64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterPendingAdd", move || {
        try_ref(reporter, "reporter")?.pending_add(delta);
        Ok(())
    })
}

/// Sets the buckets of one of this reporter's histograms (Triton's `model_metrics
/// metric_control histogram_options` of a model configuration), so percentiles can be
/// aggregated across instances with `histogram_quantile`. `family` is one of
/// `nv_inference_request_duration_histogram_us`, `nv_inference_queue_duration_histogram_us`,
/// `nv_inference_compute_input_duration_histogram_us`,
/// `nv_inference_compute_infer_duration_histogram_us`,
/// `nv_inference_compute_output_duration_histogram_us` (µs; default 100, 250, 500, 1000,
/// 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
/// 10000000) or `nv_inference_first_response_histogram_ms` (ms; default 100, 500, 2000,
/// 5000). A reporter's histograms are created by its first report that observes in them
/// (only with `histogram_latencies=true`), so call this before reporting; a series shared
/// with an earlier reporter of the same labels keeps that reporter's buckets.
///
/// @param reporter a live reporter.
/// @param family the histogram family's name.
/// @param buckets `count` upper bounds, finite and strictly increasing (copied); a trailing
///        +Inf is the implicit bucket.
/// @param count number of bounds, at least 1 (at most 65536).
/// @return NULL on success; INVALID_ARG for NULL arguments, an unknown family, no buckets,
///         or buckets not finite and strictly increasing; ALREADY_EXISTS when this
///         reporter's histogram already exists.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ModelReporterSetHistogramBuckets(
    reporter: *mut INFERMETRICS_ModelReporter,
    family: *const c_char,
    buckets: *const f64,
    count: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ModelReporterSetHistogramBuckets", || {
        let r = try_ref(reporter, "reporter")?;
        let family = try_str(family, "family")?;
        let b = try_slice(buckets, count, "buckets", 65536)?;
        r.set_histogram_buckets(family, b)
    })
}

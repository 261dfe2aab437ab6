/*
 * tritonserver_compat.h: compile code written against Triton's metrics C API unchanged.
 *
 * infermetrics exposes NVIDIA Triton Inference Server's metrics API (tritonserver.h, API
 * 1.34) renamed one-to-one from TRITONSERVER_ to INFERMETRICS_. This header maps the
 * TRITONSERVER_ names of that API onto infermetrics with macros only (no typedefs, no
 * functions), so a backend's metrics code such as
 *
 *     #include "tritonserver_compat.h"   // instead of "triton/core/tritonserver.h"
 *
 *     TRITONSERVER_MetricFamily* family = NULL;
 *     TRITONSERVER_Error* err = TRITONSERVER_MetricFamilyNew(
 *         &family, TRITONSERVER_METRIC_KIND_COUNTER, "input_bytes", "Bytes received");
 *     if (err != NULL) {
 *       fprintf(stderr, "%s: %s\n", TRITONSERVER_ErrorCodeString(err), TRITONSERVER_ErrorMessage(err));
 *       TRITONSERVER_ErrorDelete(err);
 *     }
 *
 * compiles and links against libinfermetrics (C or C++; link with -linfermetrics or the
 * CMake target infermetrics::infermetrics). Type names are mapped with #define, so both
 * `TRITONSERVER_Error*` and `struct TRITONSERVER_Error*` work.
 *
 * Provided (the TRITONSERVER_ spelling of each):
 *  - Errors: TRITONSERVER_Error, TRITONSERVER_Error_Code, TRITONSERVER_ERROR_UNKNOWN ..
 *    TRITONSERVER_ERROR_CANCELLED, TRITONSERVER_ErrorNew/Delete/Code/CodeString/Message.
 *  - Labels: TRITONSERVER_Parameter, TRITONSERVER_ParameterType, TRITONSERVER_PARAMETER_STRING,
 *    _INT, _BOOL, _DOUBLE, _BYTES, TRITONSERVER_ParameterNew/Delete.
 *  - Families, args, metrics: TRITONSERVER_MetricFamily, TRITONSERVER_MetricArgs,
 *    TRITONSERVER_Metric, TRITONSERVER_MetricKind, TRITONSERVER_METRIC_KIND_COUNTER/GAUGE/
 *    HISTOGRAM, TRITONSERVER_MetricFamilyNew/Delete, TRITONSERVER_GetMetricFamilyKind,
 *    TRITONSERVER_MetricArgsNew/SetHistogram/Delete, TRITONSERVER_MetricNew,
 *    TRITONSERVER_MetricNewWithArgs, TRITONSERVER_MetricDelete, TRITONSERVER_MetricValue,
 *    TRITONSERVER_MetricIncrement, TRITONSERVER_MetricSet, TRITONSERVER_MetricObserve,
 *    TRITONSERVER_GetMetricKind.
 *  - Text snapshot: TRITONSERVER_Metrics, TRITONSERVER_MetricFormat,
 *    TRITONSERVER_METRIC_PROMETHEUS, TRITONSERVER_ServerMetrics (the server may be NULL),
 *    TRITONSERVER_MetricsFormatted, TRITONSERVER_MetricsDelete.
 *  - Metrics server: TRITONSERVER_Server, TRITONSERVER_ServerOptions,
 *    TRITONSERVER_ServerOptionsNew/Delete, TRITONSERVER_ServerOptionsSetMetricsInterval,
 *    TRITONSERVER_ServerOptionsSetGpuMetrics, TRITONSERVER_ServerOptionsSetCpuMetrics,
 *    TRITONSERVER_ServerNew, TRITONSERVER_ServerDelete. Here a "server" is only the metrics
 *    endpoint (GET /metrics plus GPU/CPU/pinned-memory collectors), not an inference server.
 *  - Version: TRITONSERVER_ApiVersion, TRITONSERVER_API_VERSION_MAJOR/MINOR (1.34).
 *
 * NOT provided (the rest of tritonserver.h): inference requests and responses, models and
 * the model repository, memory allocators, tracing, message/logging calls
 * (TRITONSERVER_LogMessage...), TRITONSERVER_ParameterBytesNew, server options other than
 * the metrics ones above (TRITONSERVER_ServerOptionsSetModelRepositoryPath,
 * TRITONSERVER_ServerOptionsSetMetrics, TRITONSERVER_ServerOptionsSetMetricsConfig, ...),
 * and the enum tags (enum TRITONSERVER_errorcode_enum etc.): use the typedef names. Calls to
 * anything not listed fail to compile, which is the point: nothing silently does nothing.
 * Options specific to infermetrics (address, port, pinned-memory metrics, the bound port,
 * the pinned pool report, the log callback) have only their INFERMETRICS_ names; see
 * infermetrics.h. So have our extensions: the summary kind (INFERMETRICS_METRIC_KIND_SUMMARY,
 * INFERMETRICS_MetricArgsSetSummary; Triton's C API has no summary kind, so no
 * TRITONSERVER_METRIC_KIND_SUMMARY is defined) and Triton's inference statistics for servers
 * that are not Triton (INFERMETRICS_ModelReporter*, INFERMETRICS_SetMetricsConfig: Triton
 * does this inside its server; TRITONSERVER_ServerOptionsSetMetricsConfig stays unmapped).
 *
 * Behaviour follows Triton's, with these differences: NULL arguments give INVALID_ARG
 * instead of crashing; counter increments by NaN and histogram observations of NaN are
 * refused; NaN or -Inf histogram bounds are refused and a trailing +Inf bound is the
 * implicit one; series shared by several family handles are counted per series (Triton
 * could free a series still in use); ErrorCodeString gives "Cancelled" for
 * TRITONSERVER_ERROR_CANCELLED; the text is canonical Prometheus 0.0.4 (NaN, escaped HELP,
 * histogram buckets before _sum and _count).
 *
 * Do not include Triton's tritonserver.h in the same translation unit: the names would
 * clash (this header stops with #error if it sees it was included first).
 */
#ifndef INFERMETRICS_TRITONSERVER_COMPAT_H
#define INFERMETRICS_TRITONSERVER_COMPAT_H

#if defined(TRITONSERVER_API_VERSION_MAJOR) || defined(TRITONSERVER_DECLSPEC)
#error "tritonserver_compat.h replaces Triton's tritonserver.h: include one of them, not both"
#endif

#include "infermetrics.h"

/* ---- version ---------------------------------------------------------------------- */
#define TRITONSERVER_API_VERSION_MAJOR INFERMETRICS_API_VERSION_MAJOR
#define TRITONSERVER_API_VERSION_MINOR INFERMETRICS_API_VERSION_MINOR
#define TRITONSERVER_ApiVersion INFERMETRICS_ApiVersion

/* ---- errors ----------------------------------------------------------------------- */
#define TRITONSERVER_Error INFERMETRICS_Error
#define TRITONSERVER_Error_Code INFERMETRICS_Error_Code
#define TRITONSERVER_ERROR_UNKNOWN INFERMETRICS_ERROR_UNKNOWN
#define TRITONSERVER_ERROR_INTERNAL INFERMETRICS_ERROR_INTERNAL
#define TRITONSERVER_ERROR_NOT_FOUND INFERMETRICS_ERROR_NOT_FOUND
#define TRITONSERVER_ERROR_INVALID_ARG INFERMETRICS_ERROR_INVALID_ARG
#define TRITONSERVER_ERROR_UNAVAILABLE INFERMETRICS_ERROR_UNAVAILABLE
#define TRITONSERVER_ERROR_UNSUPPORTED INFERMETRICS_ERROR_UNSUPPORTED
#define TRITONSERVER_ERROR_ALREADY_EXISTS INFERMETRICS_ERROR_ALREADY_EXISTS
#define TRITONSERVER_ERROR_CANCELLED INFERMETRICS_ERROR_CANCELLED
#define TRITONSERVER_ErrorNew INFERMETRICS_ErrorNew
#define TRITONSERVER_ErrorDelete INFERMETRICS_ErrorDelete
#define TRITONSERVER_ErrorCode INFERMETRICS_ErrorCode
#define TRITONSERVER_ErrorCodeString INFERMETRICS_ErrorCodeString
#define TRITONSERVER_ErrorMessage INFERMETRICS_ErrorMessage

/* ---- parameters (labels) ---------------------------------------------------------- */
#define TRITONSERVER_Parameter INFERMETRICS_Parameter
#define TRITONSERVER_ParameterType INFERMETRICS_ParameterType
#define TRITONSERVER_PARAMETER_STRING INFERMETRICS_PARAMETER_STRING
#define TRITONSERVER_PARAMETER_INT INFERMETRICS_PARAMETER_INT
#define TRITONSERVER_PARAMETER_BOOL INFERMETRICS_PARAMETER_BOOL
#define TRITONSERVER_PARAMETER_DOUBLE INFERMETRICS_PARAMETER_DOUBLE
#define TRITONSERVER_PARAMETER_BYTES INFERMETRICS_PARAMETER_BYTES
#define TRITONSERVER_ParameterNew INFERMETRICS_ParameterNew
#define TRITONSERVER_ParameterDelete INFERMETRICS_ParameterDelete

/* ---- families, args, metrics ------------------------------------------------------ */
#define TRITONSERVER_MetricFamily INFERMETRICS_MetricFamily
#define TRITONSERVER_MetricArgs INFERMETRICS_MetricArgs
#define TRITONSERVER_Metric INFERMETRICS_Metric
#define TRITONSERVER_MetricKind INFERMETRICS_MetricKind
#define TRITONSERVER_METRIC_KIND_COUNTER INFERMETRICS_METRIC_KIND_COUNTER
#define TRITONSERVER_METRIC_KIND_GAUGE INFERMETRICS_METRIC_KIND_GAUGE
#define TRITONSERVER_METRIC_KIND_HISTOGRAM INFERMETRICS_METRIC_KIND_HISTOGRAM
#define TRITONSERVER_MetricFamilyNew INFERMETRICS_MetricFamilyNew
#define TRITONSERVER_MetricFamilyDelete INFERMETRICS_MetricFamilyDelete
#define TRITONSERVER_GetMetricFamilyKind INFERMETRICS_GetMetricFamilyKind
#define TRITONSERVER_MetricArgsNew INFERMETRICS_MetricArgsNew
#define TRITONSERVER_MetricArgsSetHistogram INFERMETRICS_MetricArgsSetHistogram
#define TRITONSERVER_MetricArgsDelete INFERMETRICS_MetricArgsDelete
#define TRITONSERVER_MetricNew INFERMETRICS_MetricNew
#define TRITONSERVER_MetricNewWithArgs INFERMETRICS_MetricNewWithArgs
#define TRITONSERVER_MetricDelete INFERMETRICS_MetricDelete
#define TRITONSERVER_MetricValue INFERMETRICS_MetricValue
#define TRITONSERVER_MetricIncrement INFERMETRICS_MetricIncrement
#define TRITONSERVER_MetricSet INFERMETRICS_MetricSet
#define TRITONSERVER_MetricObserve INFERMETRICS_MetricObserve
#define TRITONSERVER_GetMetricKind INFERMETRICS_GetMetricKind

/* ---- text snapshot ---------------------------------------------------------------- */
#define TRITONSERVER_Metrics INFERMETRICS_Metrics
#define TRITONSERVER_MetricFormat INFERMETRICS_MetricFormat
#define TRITONSERVER_METRIC_PROMETHEUS INFERMETRICS_METRIC_PROMETHEUS
#define TRITONSERVER_ServerMetrics INFERMETRICS_ServerMetrics
#define TRITONSERVER_MetricsFormatted INFERMETRICS_MetricsFormatted
#define TRITONSERVER_MetricsDelete INFERMETRICS_MetricsDelete

/* ---- metrics server (the calls Triton has; see above for what a server is here) ---- */
#define TRITONSERVER_Server INFERMETRICS_Server
#define TRITONSERVER_ServerOptions INFERMETRICS_ServerOptions
#define TRITONSERVER_ServerOptionsNew INFERMETRICS_ServerOptionsNew
#define TRITONSERVER_ServerOptionsDelete INFERMETRICS_ServerOptionsDelete
#define TRITONSERVER_ServerOptionsSetMetricsInterval INFERMETRICS_ServerOptionsSetMetricsInterval
#define TRITONSERVER_ServerOptionsSetGpuMetrics INFERMETRICS_ServerOptionsSetGpuMetrics
#define TRITONSERVER_ServerOptionsSetCpuMetrics INFERMETRICS_ServerOptionsSetCpuMetrics
#define TRITONSERVER_ServerNew INFERMETRICS_ServerNew
#define TRITONSERVER_ServerDelete INFERMETRICS_ServerDelete

#endif /* INFERMETRICS_TRITONSERVER_COMPAT_H */

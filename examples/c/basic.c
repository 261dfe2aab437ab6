/*
 * basic.c: the infermetrics C API in one page, as a backend author would use it.
 *
 * It creates a counter, a gauge and a histogram (the calls are Triton's TRITONSERVER_Metric*
 * calls with the prefix INFERMETRICS_), records a few values, prints the Prometheus text
 * that a scrape of /metrics would return, and cleans up in the right order.
 *
 * Build and run (from the repository root, after `cargo build --release`):
 *   cc -std=c11 -Iinclude examples/c/basic.c -Ltarget/release -linfermetrics \
 *      -Wl,-rpath,$PWD/target/release -o basic && ./basic
 * or with CMake: target_link_libraries(your_backend PRIVATE infermetrics::infermetrics).
 */
#include <stdio.h>
#include <stdlib.h>

#include "infermetrics.h"

/*
 * Every call returns NULL on success or an error object that the caller owns. CHECK prints
 * the error's code name and message, frees it and leaves through `cleanup` (a real backend
 * would log the error and carry on without metrics; metrics must never take it down).
 */
#define CHECK(call)                                                                            \
  do {                                                                                         \
    INFERMETRICS_Error* err_ = (call);                                                         \
    if (err_ != NULL) {                                                                        \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,                 \
              INFERMETRICS_ErrorCodeString(err_), INFERMETRICS_ErrorMessage(err_));            \
      INFERMETRICS_ErrorDelete(err_);                                                          \
      status = EXIT_FAILURE;                                                                   \
      goto cleanup;                                                                            \
    }                                                                                          \
  } while (0)

int main(void)
{
  int status = EXIT_SUCCESS;

  /* Everything starts NULL so that cleanup can tell what was created. */
  INFERMETRICS_MetricFamily* requests_family = NULL;
  INFERMETRICS_MetricFamily* queue_family = NULL;
  INFERMETRICS_MetricFamily* latency_family = NULL;
  INFERMETRICS_Metric* requests = NULL;
  INFERMETRICS_Metric* queue = NULL;
  INFERMETRICS_Metric* latency = NULL;
  INFERMETRICS_MetricArgs* latency_args = NULL;
  INFERMETRICS_Parameter* model_label = NULL;
  INFERMETRICS_Parameter* version_label = NULL;
  INFERMETRICS_Metrics* snapshot = NULL;

  /*
   * 1. Families: a name, a kind and a HELP text. Families are process-wide: opening the same
   *    name and kind again (say, from a second model instance) gives a new handle on the
   *    same family. Names match [a-zA-Z_:][a-zA-Z0-9_:]*.
   */
  CHECK(INFERMETRICS_MetricFamilyNew(&requests_family, INFERMETRICS_METRIC_KIND_COUNTER,
                                     "backend_requests_total", "Number of inference requests handled"));
  CHECK(INFERMETRICS_MetricFamilyNew(&queue_family, INFERMETRICS_METRIC_KIND_GAUGE, "backend_queue_size",
                                     "Requests waiting for an instance"));
  CHECK(INFERMETRICS_MetricFamilyNew(&latency_family, INFERMETRICS_METRIC_KIND_HISTOGRAM,
                                     "backend_request_duration_seconds", "Request duration in seconds"));

  /*
   * 2. Labels are STRING parameters. MetricNew copies them, so they can be deleted right
   *    after (we keep them until cleanup to reuse them for the three metrics).
   */
  model_label = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "resnet50");
  version_label = INFERMETRICS_ParameterNew("version", INFERMETRICS_PARAMETER_STRING, "1");
  if (model_label == NULL || version_label == NULL) { /* only on bad arguments */
    fprintf(stderr, "INFERMETRICS_ParameterNew failed\n");
    status = EXIT_FAILURE;
    goto cleanup;
  }
  {
    const INFERMETRICS_Parameter* labels[2];
    labels[0] = model_label;
    labels[1] = version_label;

    /* 3. One metric (series) per label set. Counters and gauges need no args. */
    CHECK(INFERMETRICS_MetricNew(&requests, requests_family, labels, 2));
    CHECK(INFERMETRICS_MetricNew(&queue, queue_family, labels, 2));

    /*
     * Histograms need args with their bucket upper bounds, strictly increasing (a +Inf
     * bucket is always added). The args may be deleted once the metric exists.
     */
    {
      static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
      CHECK(INFERMETRICS_MetricArgsNew(&latency_args));
      CHECK(INFERMETRICS_MetricArgsSetHistogram(latency_args, buckets, sizeof buckets / sizeof buckets[0]));
      CHECK(INFERMETRICS_MetricNewWithArgs(&latency, latency_family, labels, 2, latency_args));
    }
  }

  /*
   * 4. Recording: this is the hot path (lock-free, no allocation). A backend would do this
   *    once per request.
   */
  {
    static const double durations[] = {0.004, 0.012, 0.03, 0.2, 2.0};
    size_t i;
    for (i = 0; i < sizeof durations / sizeof durations[0]; ++i) {
      CHECK(INFERMETRICS_MetricIncrement(requests, 1)); /* counters only go up (by >= 0) */
      CHECK(INFERMETRICS_MetricObserve(latency, durations[i]));
    }
    CHECK(INFERMETRICS_MetricSet(queue, 3));        /* gauges can be set ... */
    CHECK(INFERMETRICS_MetricIncrement(queue, -1)); /* ... or moved either way */
  }

  /* Reading a value back (counters and gauges) */
  {
    double handled = 0;
    CHECK(INFERMETRICS_MetricValue(requests, &handled));
    fprintf(stderr, "requests handled so far: %g\n", handled);
  }

  /*
   * 5. The Prometheus text of everything registered in this process, as a scrape of
   *    /metrics would return it (INFERMETRICS_ServerNew serves it over HTTP). The text
   *    belongs to `snapshot` and lives until INFERMETRICS_MetricsDelete.
   */
  {
    const char* text = NULL;
    size_t size = 0;
    CHECK(INFERMETRICS_ServerMetrics(NULL, &snapshot));
    CHECK(INFERMETRICS_MetricsFormatted(snapshot, INFERMETRICS_METRIC_PROMETHEUS, &text, &size));
    fwrite(text, 1, size, stdout);
  }

cleanup:
  /*
   * 6. Cleanup order matters: metrics first, then their families (a family with live
   *    metrics refuses to go: INTERNAL "Must call MetricDelete ..."). Args, labels and the
   *    snapshot are independent. Every delete reports errors too, so keep the first failure.
   */
  {
    INFERMETRICS_Error* errs[8];
    size_t i;
    errs[0] = snapshot ? INFERMETRICS_MetricsDelete(snapshot) : NULL;
    errs[1] = latency ? INFERMETRICS_MetricDelete(latency) : NULL;
    errs[2] = queue ? INFERMETRICS_MetricDelete(queue) : NULL;
    errs[3] = requests ? INFERMETRICS_MetricDelete(requests) : NULL;
    errs[4] = INFERMETRICS_MetricArgsDelete(latency_args); /* NULL is fine here */
    errs[5] = latency_family ? INFERMETRICS_MetricFamilyDelete(latency_family) : NULL;
    errs[6] = queue_family ? INFERMETRICS_MetricFamilyDelete(queue_family) : NULL;
    errs[7] = requests_family ? INFERMETRICS_MetricFamilyDelete(requests_family) : NULL;
    for (i = 0; i < sizeof errs / sizeof errs[0]; ++i) {
      if (errs[i] != NULL) {
        fprintf(stderr, "cleanup step %zu failed: %s: %s\n", i, INFERMETRICS_ErrorCodeString(errs[i]),
                INFERMETRICS_ErrorMessage(errs[i]));
        INFERMETRICS_ErrorDelete(errs[i]);
        status = EXIT_FAILURE;
      }
    }
    INFERMETRICS_ParameterDelete(model_label); /* NULL-safe */
    INFERMETRICS_ParameterDelete(version_label);
  }
  return status;
}

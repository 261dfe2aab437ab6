/*
 * Proves include/tritonserver_compat.h: Triton's own counter, gauge and histogram
 * end-to-end tests (core/src/test/metrics_api_test.cc, items 1-3 of the reference), written
 * only with TRITONSERVER_ names as a Triton backend would write them. Uses both
 * `TRITONSERVER_Error*` and `struct TRITONSERVER_Error*` spellings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tritonserver_compat.h"

static int failures = 0;

#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) {                                                            \
      ++failures;                                                             \
      fprintf(stderr, "%s:%d: FAIL: expected %s\n", __FILE__, __LINE__, #cond); \
    }                                                                         \
  } while (0)

/* Triton's FAIL_TEST_IF_ERR: the call must succeed. */
#define FAIL_TEST_IF_ERR(X, MSG)                                                             \
  do {                                                                                       \
    struct TRITONSERVER_Error* err__ = (X);                                                  \
    if (err__ != NULL) {                                                                     \
      ++failures;                                                                            \
      fprintf(stderr, "%s:%d: FAIL: %s: %s - %s\n", __FILE__, __LINE__, (MSG),               \
              TRITONSERVER_ErrorCodeString(err__), TRITONSERVER_ErrorMessage(err__));        \
      TRITONSERVER_ErrorDelete(err__);                                                       \
    }                                                                                        \
  } while (0)

/* Triton's FAIL_TEST_IF_SUCCESS plus a code check. */
#define FAIL_TEST_IF_SUCCESS(X, CODE, MSG)                                                            \
  do {                                                                                                \
    TRITONSERVER_Error* err__ = (X);                                                                  \
    if (err__ == NULL) {                                                                              \
      ++failures;                                                                                     \
      fprintf(stderr, "%s:%d: FAIL: expected an error: %s\n", __FILE__, __LINE__, (MSG));             \
    } else {                                                                                          \
      if (TRITONSERVER_ErrorCode(err__) != (CODE)) {                                                  \
        ++failures;                                                                                   \
        fprintf(stderr, "%s:%d: FAIL: %s: expected code %d, got %d (%s)\n", __FILE__, __LINE__, (MSG), \
                (int)(CODE), (int)TRITONSERVER_ErrorCode(err__), TRITONSERVER_ErrorMessage(err__));   \
      }                                                                                               \
      TRITONSERVER_ErrorDelete(err__);                                                                \
    }                                                                                                 \
  } while (0)

/* The whole registry as text (malloc'd copy). */
static char* metrics_text(void)
{
  TRITONSERVER_Metrics* metrics = NULL;
  const char* base = NULL;
  size_t byte_size = 0;
  char* copy;
  FAIL_TEST_IF_ERR(TRITONSERVER_ServerMetrics(NULL /* server not required */, &metrics), "ServerMetrics");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricsFormatted(metrics, TRITONSERVER_METRIC_PROMETHEUS, &base, &byte_size),
                   "MetricsFormatted");
  copy = (char*)malloc(byte_size + 1);
  if (base != NULL) memcpy(copy, base, byte_size);
  copy[base != NULL ? byte_size : 0] = '\0';
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricsDelete(metrics), "MetricsDelete");
  return copy;
}

static size_t num_occurrences(const char* text, const char* needle)
{
  size_t n = 0;
  const char* p = text;
  while ((p = strstr(p, needle)) != NULL) {
    ++n;
    p += strlen(needle);
  }
  return n;
}

static double metric_value(TRITONSERVER_Metric* metric)
{
  double value = -1;
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricValue(metric, &value), "MetricValue");
  return value;
}

static void counter_e2e(void)
{
  TRITONSERVER_MetricFamily* family = NULL;
  TRITONSERVER_MetricKind kind = TRITONSERVER_METRIC_KIND_COUNTER;
  const char* name = "custom_counter_example";
  const char* description = "this is an example counter metric added via API.";
  TRITONSERVER_Metric* metric = NULL;
  TRITONSERVER_MetricKind got = TRITONSERVER_METRIC_KIND_HISTOGRAM;
  const TRITONSERVER_Parameter* labels[2];
  char* text;

  FAIL_TEST_IF_ERR(TRITONSERVER_MetricFamilyNew(&family, kind, name, description), "Creating new metric family");
  labels[0] = TRITONSERVER_ParameterNew("example1", TRITONSERVER_PARAMETER_STRING, "counter_label1");
  labels[1] = TRITONSERVER_ParameterNew("example2", TRITONSERVER_PARAMETER_STRING, "counter_label2");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricNew(&metric, family, labels, 2), "Creating new metric");
  TRITONSERVER_ParameterDelete((TRITONSERVER_Parameter*)labels[0]);
  TRITONSERVER_ParameterDelete((TRITONSERVER_Parameter*)labels[1]);

  EXPECT(metric_value(metric) == 0.0);
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricIncrement(metric, 1729), "increment");
  EXPECT(metric_value(metric) == 1729.0);
  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricIncrement(metric, -3.14), TRITONSERVER_ERROR_INVALID_ARG,
                       "negative counter increment");
  EXPECT(metric_value(metric) == 1729.0);
  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricSet(metric, 42), TRITONSERVER_ERROR_UNSUPPORTED, "counter set");
  EXPECT(metric_value(metric) == 1729.0);
  FAIL_TEST_IF_ERR(TRITONSERVER_GetMetricKind(metric, &got), "query metric kind");
  EXPECT(got == TRITONSERVER_METRIC_KIND_COUNTER);
  FAIL_TEST_IF_ERR(TRITONSERVER_GetMetricFamilyKind(family, &got), "query family kind");
  EXPECT(got == TRITONSERVER_METRIC_KIND_COUNTER);

  text = metrics_text();
  EXPECT(num_occurrences(text, description) == 1);
  EXPECT(strstr(text, "custom_counter_example{example1=\"counter_label1\",example2=\"counter_label2\"} 1729\n") != NULL);
  free(text);

  FAIL_TEST_IF_ERR(TRITONSERVER_MetricDelete(metric), "delete metric");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricFamilyDelete(family), "delete metric family");
  text = metrics_text();
  EXPECT(num_occurrences(text, description) == 0);
  free(text);
}

static void gauge_e2e(void)
{
  TRITONSERVER_MetricFamily* family = NULL;
  const char* description = "this is an example gauge metric added via API.";
  TRITONSERVER_Metric* metric = NULL;
  TRITONSERVER_MetricKind got = TRITONSERVER_METRIC_KIND_COUNTER;
  const TRITONSERVER_Parameter* labels[2];
  char* text;

  FAIL_TEST_IF_ERR(
      TRITONSERVER_MetricFamilyNew(&family, TRITONSERVER_METRIC_KIND_GAUGE, "custom_gauge_example", description),
      "Creating new metric family");
  labels[0] = TRITONSERVER_ParameterNew("example1", TRITONSERVER_PARAMETER_STRING, "gauge_label1");
  labels[1] = TRITONSERVER_ParameterNew("example2", TRITONSERVER_PARAMETER_STRING, "gauge_label2");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricNew(&metric, family, labels, 2), "Creating new metric");
  TRITONSERVER_ParameterDelete((TRITONSERVER_Parameter*)labels[0]);
  TRITONSERVER_ParameterDelete((TRITONSERVER_Parameter*)labels[1]);

  EXPECT(metric_value(metric) == 0.0);
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricIncrement(metric, 1729), "increment");
  EXPECT(metric_value(metric) == 1729.0);
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricIncrement(metric, -3.14), "decrement");
  EXPECT(metric_value(metric) == 1729.0 - 3.14);
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricSet(metric, 42), "set");
  EXPECT(metric_value(metric) == 42.0);
  FAIL_TEST_IF_ERR(TRITONSERVER_GetMetricKind(metric, &got), "query metric kind");
  EXPECT(got == TRITONSERVER_METRIC_KIND_GAUGE);

  text = metrics_text();
  EXPECT(num_occurrences(text, description) == 1);
  EXPECT(strstr(text, "custom_gauge_example{example1=\"gauge_label1\",example2=\"gauge_label2\"} 42\n") != NULL);
  free(text);

  FAIL_TEST_IF_ERR(TRITONSERVER_MetricDelete(metric), "delete metric");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricFamilyDelete(family), "delete metric family");
  text = metrics_text();
  EXPECT(num_occurrences(text, description) == 0);
  free(text);
}

static void histogram_e2e(void)
{
  static const double buckets[] = {0.1, 1.0, 2.5, 5.0, 10.0};
  static const double data[] = {0.05, 1.5, 6.0};
  static const char* const want[] = {
      "histogram_example_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"0.1\"} 1\n",
      "histogram_example_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"1\"} 1\n",
      "histogram_example_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"2.5\"} 2\n",
      "histogram_example_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"5\"} 2\n",
      "histogram_example_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"10\"} 3\n",
      "histogram_example_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"+Inf\"} 3\n",
      "histogram_example_sum{example1=\"histogram_label1\",example2=\"histogram_label2\"} 7.55\n",
      "histogram_example_count{example1=\"histogram_label1\",example2=\"histogram_label2\"} 3\n"};
  const char* description = "this is an example histogram metric added via API.";
  TRITONSERVER_MetricFamily* family = NULL;
  TRITONSERVER_MetricArgs* args = NULL;
  TRITONSERVER_MetricArgs* unset_args = NULL;
  TRITONSERVER_Metric* metric = NULL;
  TRITONSERVER_Metric* bad = NULL;
  TRITONSERVER_MetricKind got = TRITONSERVER_METRIC_KIND_COUNTER;
  const TRITONSERVER_Parameter* labels[2];
  double value = 0;
  size_t i;
  char* text;

  FAIL_TEST_IF_ERR(
      TRITONSERVER_MetricFamilyNew(&family, TRITONSERVER_METRIC_KIND_HISTOGRAM, "histogram_example", description),
      "Creating new metric family");
  labels[0] = TRITONSERVER_ParameterNew("example1", TRITONSERVER_PARAMETER_STRING, "histogram_label1");
  labels[1] = TRITONSERVER_ParameterNew("example2", TRITONSERVER_PARAMETER_STRING, "histogram_label2");

  /* items 4 and 5: no args, args not set to histogram */
  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricNew(&bad, family, labels, 2), TRITONSERVER_ERROR_INVALID_ARG,
                       "histogram without args");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricArgsNew(&unset_args), "args new");
  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricNewWithArgs(&bad, family, labels, 2, unset_args),
                       TRITONSERVER_ERROR_INVALID_ARG, "histogram with unset args");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricArgsDelete(unset_args), "args delete");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricArgsDelete(NULL), "args delete NULL");
  EXPECT(bad == NULL);

  FAIL_TEST_IF_ERR(TRITONSERVER_MetricArgsNew(&args), "args new");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricArgsSetHistogram(args, buckets, 5), "set histogram");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricNewWithArgs(&metric, family, labels, 2, args), "Creating new metric");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricArgsDelete(args), "args delete");
  TRITONSERVER_ParameterDelete((TRITONSERVER_Parameter*)labels[0]);
  TRITONSERVER_ParameterDelete((TRITONSERVER_Parameter*)labels[1]);

  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricValue(metric, &value), TRITONSERVER_ERROR_UNSUPPORTED, "histogram value");
  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricIncrement(metric, 1), TRITONSERVER_ERROR_UNSUPPORTED, "histogram inc");
  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricSet(metric, 1), TRITONSERVER_ERROR_UNSUPPORTED, "histogram set");
  FAIL_TEST_IF_ERR(TRITONSERVER_GetMetricKind(metric, &got), "query metric kind");
  EXPECT(got == TRITONSERVER_METRIC_KIND_HISTOGRAM);
  for (i = 0; i < 3; ++i) FAIL_TEST_IF_ERR(TRITONSERVER_MetricObserve(metric, data[i]), "observe");

  text = metrics_text();
  EXPECT(num_occurrences(text, description) == 1);
  for (i = 0; i < sizeof want / sizeof want[0]; ++i) {
    if (num_occurrences(text, want[i]) != 1) {
      ++failures;
      fprintf(stderr, "%s:%d: FAIL: expected once: %s", __FILE__, __LINE__, want[i]);
    }
  }
  EXPECT(num_occurrences(text, "histogram_example_bucket{example1=") == 6);
  free(text);

  FAIL_TEST_IF_ERR(TRITONSERVER_MetricDelete(metric), "delete metric");
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricFamilyDelete(family), "delete metric family");
  text = metrics_text();
  EXPECT(num_occurrences(text, description) == 0);
  free(text);
}

static void misc(void)
{
  uint32_t major = 0, minor = 0;
  TRITONSERVER_MetricFamily* f = NULL;
  TRITONSERVER_MetricFamily* g = NULL;
  struct TRITONSERVER_Error* e = TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_CANCELLED, "stop");
  EXPECT(e != NULL && strcmp(TRITONSERVER_ErrorCodeString(e), "Cancelled") == 0);
  EXPECT(e != NULL && strcmp(TRITONSERVER_ErrorMessage(e), "stop") == 0);
  TRITONSERVER_ErrorDelete(e);
  FAIL_TEST_IF_ERR(TRITONSERVER_ApiVersion(&major, &minor), "api version");
  EXPECT(major == TRITONSERVER_API_VERSION_MAJOR && minor == TRITONSERVER_API_VERSION_MINOR);
  EXPECT(TRITONSERVER_API_VERSION_MAJOR == 1 && TRITONSERVER_API_VERSION_MINOR >= 34);
  /* item 6: kind mismatch leaves the output NULL */
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricFamilyNew(&f, TRITONSERVER_METRIC_KIND_COUNTER, "compat_dup", "d"), "fam");
  FAIL_TEST_IF_SUCCESS(TRITONSERVER_MetricFamilyNew(&g, TRITONSERVER_METRIC_KIND_GAUGE, "compat_dup", "d"),
                       TRITONSERVER_ERROR_INVALID_ARG, "kind mismatch");
  EXPECT(g == NULL);
  FAIL_TEST_IF_ERR(TRITONSERVER_MetricFamilyDelete(f), "fam delete");
  EXPECT(TRITONSERVER_ParameterNew("b", TRITONSERVER_PARAMETER_BYTES, "x") == NULL);
  {
    TRITONSERVER_ParameterType t = TRITONSERVER_PARAMETER_INT;
    TRITONSERVER_Error_Code c = TRITONSERVER_ERROR_ALREADY_EXISTS;
    TRITONSERVER_MetricFormat fmt = TRITONSERVER_METRIC_PROMETHEUS;
    EXPECT(t == 1 && c == 6 && fmt == 0);
    EXPECT(TRITONSERVER_ERROR_UNKNOWN == 0 && TRITONSERVER_ERROR_INTERNAL == 1 && TRITONSERVER_ERROR_NOT_FOUND == 2 &&
           TRITONSERVER_ERROR_INVALID_ARG == 3 && TRITONSERVER_ERROR_UNAVAILABLE == 4 &&
           TRITONSERVER_ERROR_UNSUPPORTED == 5 && TRITONSERVER_ERROR_CANCELLED == 7);
    EXPECT(TRITONSERVER_PARAMETER_STRING == 0 && TRITONSERVER_PARAMETER_BOOL == 2 &&
           TRITONSERVER_PARAMETER_DOUBLE == 3 && TRITONSERVER_PARAMETER_BYTES == 4);
  }
  /* the server calls Triton has exist under their Triton names (compile-and-link check) */
  {
    TRITONSERVER_Error* (*server_new)(TRITONSERVER_Server**, const TRITONSERVER_ServerOptions*) = TRITONSERVER_ServerNew;
    TRITONSERVER_Error* (*server_delete)(TRITONSERVER_Server*) = TRITONSERVER_ServerDelete;
    TRITONSERVER_Error* (*opt_new)(TRITONSERVER_ServerOptions**) = TRITONSERVER_ServerOptionsNew;
    TRITONSERVER_Error* (*opt_delete)(TRITONSERVER_ServerOptions*) = TRITONSERVER_ServerOptionsDelete;
    TRITONSERVER_Error* (*interval)(TRITONSERVER_ServerOptions*, uint64_t) = TRITONSERVER_ServerOptionsSetMetricsInterval;
    TRITONSERVER_Error* (*gpu)(TRITONSERVER_ServerOptions*, bool) = TRITONSERVER_ServerOptionsSetGpuMetrics;
    TRITONSERVER_Error* (*cpu)(TRITONSERVER_ServerOptions*, bool) = TRITONSERVER_ServerOptionsSetCpuMetrics;
    TRITONSERVER_ServerOptions* options = NULL;
    EXPECT(server_new && server_delete && opt_new && opt_delete && interval && gpu && cpu);
    /* options objects need no running server: create, set, delete */
    FAIL_TEST_IF_ERR(TRITONSERVER_ServerOptionsNew(&options), "options new");
    FAIL_TEST_IF_ERR(TRITONSERVER_ServerOptionsSetMetricsInterval(options, 500), "interval");
    FAIL_TEST_IF_ERR(TRITONSERVER_ServerOptionsSetGpuMetrics(options, false), "gpu");
    FAIL_TEST_IF_ERR(TRITONSERVER_ServerOptionsSetCpuMetrics(options, false), "cpu");
    FAIL_TEST_IF_ERR(TRITONSERVER_ServerOptionsDelete(options), "options delete");
  }
}

int main(void)
{
  counter_e2e();
  gauge_e2e();
  histogram_e2e();
  misc();
  if (failures) {
    fprintf(stderr, "test_compat: %d failures\n", failures);
    return 1;
  }
  printf("test_compat: all passed\n");
  return 0;
}

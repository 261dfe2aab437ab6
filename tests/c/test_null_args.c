/*
 * Every pointer argument of every core function, NULL, one at a time: INVALID_ARG with a
 * message naming the argument, outputs untouched, nothing created. Also the documented
 * exceptions where NULL is allowed (labels/buckets with count 0, args in MetricNewWithArgs,
 * server in ServerMetrics, MetricArgsDelete/ErrorDelete/ParameterDelete of NULL, a NULL log
 * callback). Triton crashes on all of these.
 */
#include "test_util.h"

static void test_error_functions_with_null(void)
{
  INFERMETRICS_Error* e = INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_INTERNAL, NULL);
  CHECKF(e != NULL, "ErrorNew(code, NULL msg) must still return an error");
  if (e != NULL) {
    CHECK(INFERMETRICS_ErrorCode(e) == INFERMETRICS_ERROR_INTERNAL);
    CHECKF(INFERMETRICS_ErrorMessage(e) != NULL && INFERMETRICS_ErrorMessage(e)[0] == '\0',
           "ErrorNew(code, NULL): message should be empty");
  }
  INFERMETRICS_ErrorDelete(e);
  /* a NULL error (success) is answered, not crashed on */
  CHECK(INFERMETRICS_ErrorCode(NULL) == INFERMETRICS_ERROR_UNKNOWN);
  CHECK(INFERMETRICS_ErrorCodeString(NULL) != NULL);
  CHECK(INFERMETRICS_ErrorMessage(NULL) != NULL);
  INFERMETRICS_ErrorDelete(NULL);
  INFERMETRICS_ParameterDelete(NULL);
  CHECK(INFERMETRICS_ParameterNew(NULL, INFERMETRICS_PARAMETER_STRING, "v") == NULL);
  CHECK(INFERMETRICS_ParameterNew("name", INFERMETRICS_PARAMETER_STRING, NULL) == NULL);
  CHECK(INFERMETRICS_ParameterNew("name", INFERMETRICS_PARAMETER_DOUBLE, NULL) == NULL);
}

static void test_family_functions(void)
{
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_HISTOGRAM;
  char* text;

  ERR_NULL(INFERMETRICS_MetricFamilyNew(NULL, INFERMETRICS_METRIC_KIND_COUNTER, "null_fam", "d"), "family");
  ERR_NULL(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_COUNTER, NULL, "d"), "name");
  CHECK(f == NULL);
  ERR_NULL(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_COUNTER, "null_fam_desc", NULL), "description");
  CHECK(f == NULL);
  /* the failed calls registered nothing: the name is still free for any kind */
  f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "null_fam", "d");
  OK(INFERMETRICS_MetricFamilyDelete(f));
  f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "null_fam_desc", "d");
  OK(INFERMETRICS_MetricFamilyDelete(f));
  text = SNAPSHOT();
  CHECK_COUNT(text, "null_fam", 0);
  free(text);

  ERR_NULL(INFERMETRICS_MetricFamilyDelete(NULL), "family");

  f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "null_fam_kind", "d");
  ERR_NULL(INFERMETRICS_GetMetricFamilyKind(NULL, &kind), "family");
  CHECK(kind == INFERMETRICS_METRIC_KIND_HISTOGRAM);
  ERR_NULL(INFERMETRICS_GetMetricFamilyKind(f, NULL), "kind");
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_args_functions(void)
{
  static const double b[] = {1, 2, 3};
  INFERMETRICS_MetricArgs* a = NULL;

  ERR_NULL(INFERMETRICS_MetricArgsNew(NULL), "args");
  ERR_NULL(INFERMETRICS_MetricArgsSetHistogram(NULL, b, 3), "args");
  OK(INFERMETRICS_MetricArgsNew(&a));
  ERR_NULL(INFERMETRICS_MetricArgsSetHistogram(a, NULL, 3), "buckets");
  ERR_NULL(INFERMETRICS_MetricArgsSetHistogram(a, NULL, 1), "buckets");
  OK(INFERMETRICS_MetricArgsSetHistogram(a, NULL, 0)); /* allowed: an empty std::vector's data() */
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricArgsDelete(NULL)); /* documented no-op success */
}

static void test_metric_new_functions(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "null_metric_new", "d");
  INFERMETRICS_MetricFamily* fh = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "null_metric_new_h", "d");
  INFERMETRICS_Metric* m = NULL;
  const INFERMETRICS_Parameter* labels[2];
  const INFERMETRICS_Parameter* null_labels[1];
  INFERMETRICS_MetricArgs* ha;
  static const double b[] = {1};
  char* text;

  labels[0] = tu_label("a", "1");
  labels[1] = tu_label("b", "2");
  null_labels[0] = NULL;
  ha = HIST_ARGS(b, 1);

  /* MetricNew */
  ERR_NULL(INFERMETRICS_MetricNew(NULL, f, labels, 2), "metric");
  ERR_NULL(INFERMETRICS_MetricNew(&m, NULL, labels, 2), "family");
  CHECK(m == NULL);
  ERR_NULL(INFERMETRICS_MetricNew(&m, f, NULL, 2), "labels");
  CHECK(m == NULL);
  ERR_NULL(INFERMETRICS_MetricNew(&m, f, NULL, 1), "labels");
  CHECK(m == NULL);
  ERR_MSG(INFERMETRICS_MetricNew(&m, f, null_labels, 1), INFERMETRICS_ERROR_INVALID_ARG, "labels");
  CHECK(m == NULL);
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[1]);
  labels[1] = NULL; /* a NULL entry after a good one */
  ERR_MSG(INFERMETRICS_MetricNew(&m, f, labels, 2), INFERMETRICS_ERROR_INVALID_ARG, "labels");
  CHECK(m == NULL);

  /* MetricNewWithArgs */
  ERR_NULL(INFERMETRICS_MetricNewWithArgs(NULL, fh, NULL, 0, ha), "metric");
  ERR_NULL(INFERMETRICS_MetricNewWithArgs(&m, NULL, NULL, 0, ha), "family");
  CHECK(m == NULL);
  ERR_NULL(INFERMETRICS_MetricNewWithArgs(&m, fh, NULL, 3, ha), "labels");
  CHECK(m == NULL);
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, fh, null_labels, 1, ha), INFERMETRICS_ERROR_INVALID_ARG, "labels");
  CHECK(m == NULL);

  /* none of the failed calls created a series or a child: both families delete fine */
  text = SNAPSHOT();
  CHECK_COUNT(text, "null_metric_new", 0);
  free(text);
  OK(INFERMETRICS_MetricFamilyDelete(f));
  OK(INFERMETRICS_MetricFamilyDelete(fh));
  OK(INFERMETRICS_MetricArgsDelete(ha));
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[0]);
}

static void test_metric_functions(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "null_metric_ops", "d");
  INFERMETRICS_Metric* m = METRIC(f, 0);
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_HISTOGRAM;
  double v = 77;

  ERR_NULL(INFERMETRICS_MetricDelete(NULL), "metric");
  ERR_NULL(INFERMETRICS_MetricValue(NULL, &v), "metric");
  CHECK_DBL(v, 77.0);
  ERR_NULL(INFERMETRICS_MetricValue(m, NULL), "value");
  ERR_NULL(INFERMETRICS_MetricIncrement(NULL, 1), "metric");
  ERR_NULL(INFERMETRICS_MetricSet(NULL, 1), "metric");
  ERR_NULL(INFERMETRICS_MetricObserve(NULL, 1), "metric");
  ERR_NULL(INFERMETRICS_GetMetricKind(NULL, &kind), "metric");
  CHECK(kind == INFERMETRICS_METRIC_KIND_HISTOGRAM);
  ERR_NULL(INFERMETRICS_GetMetricKind(m, NULL), "kind");
  CHECK_VALUE(m, 0.0); /* nothing was recorded anywhere */
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_snapshot_functions(void)
{
  INFERMETRICS_Metrics* ms = NULL;
  const char* base = NULL;
  size_t size = 12345;

  ERR_NULL(INFERMETRICS_ServerMetrics(NULL, NULL), "metrics");
  OK(INFERMETRICS_ServerMetrics(NULL, &ms)); /* a NULL server is allowed */
  CHECK(ms != NULL);
  ERR_NULL(INFERMETRICS_MetricsFormatted(NULL, INFERMETRICS_METRIC_PROMETHEUS, &base, &size), "metrics");
  CHECK(base == NULL && size == 12345);
  ERR_NULL(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, NULL, &size), "base");
  CHECK(size == 12345);
  ERR_NULL(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, NULL), "byte_size");
  CHECK(base == NULL);
  OK(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size));
  CHECK(base != NULL && strlen(base) == size);
  ERR_NULL(INFERMETRICS_MetricsDelete(NULL), "metrics");
  OK(INFERMETRICS_MetricsDelete(ms));
}

static void test_version_and_log(void)
{
  uint32_t major = 0, minor = 0;
  ERR_NULL(INFERMETRICS_ApiVersion(NULL, &minor), "major");
  ERR_NULL(INFERMETRICS_ApiVersion(&major, NULL), "minor");
  CHECK(major == 0 && minor == 0);
  OK(INFERMETRICS_SetLogCallback(NULL, NULL)); /* NULL fn: back to stderr */
}

int main(void)
{
  test_error_functions_with_null();
  test_family_functions();
  test_args_functions();
  test_metric_new_functions();
  test_metric_functions();
  test_snapshot_functions();
  test_version_and_log();
  return TEST_SUMMARY();
}

/*
 * Bad input gets a clear error, never a crash (issue 2): invalid names, reserved `le`,
 * non-STRING labels, bad UTF-8, wrong-kind operations, args on counters and gauges,
 * deleting a family with live metrics, a label given twice, unknown enum values, and a
 * metric handle deleted twice. Each case checks the code and that the message names the
 * culprit.
 */
#include <stdbool.h>

#include "test_util.h"

/* Creates a metric in `f` with one label (name, value); expects failure with `code`. */
static void expect_label_error(const char* file, int line, INFERMETRICS_MetricFamily* f,
                               const INFERMETRICS_MetricArgs* args, const char* lname, const char* lvalue,
                               int code, const char* needle, const char* named)
{
  const INFERMETRICS_Parameter* labels[1];
  INFERMETRICS_Metric* m = NULL;
  labels[0] = tu_label(lname, lvalue);
  tu_err(file, line, "MetricNewWithArgs with one bad label", INFERMETRICS_MetricNewWithArgs(&m, f, labels, 1, args),
         code, needle, named);
  ++tu_checks;
  if (m != NULL) {
    tu_fail(file, line, "*metric must stay NULL on error");
    INFERMETRICS_MetricDelete(m);
  }
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[0]);
}
#define LABEL_ERR(f, args, n, v, code, needle, named) \
  expect_label_error(__FILE__, __LINE__, (f), (args), (n), (v), (int)(code), (needle), (named))

static void test_metric_names(void)
{
  static const char* const bad[] = {"1starts_with_digit", "has-dash", "has space", "__reserved", "dot.name",
                                    "caf\xc3\xa9", "tab\tname", "new\nline"};
  static const char* const good[] = {"a", "_under", ":colon:name", "A9_:z", "bad_input_ok_name"};
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    INFERMETRICS_MetricFamily* f = NULL;
    INFERMETRICS_Error* e = INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_COUNTER, bad[i], "d");
    /* names with control characters may be shown escaped: only require the printable ones verbatim */
    int printable = strchr(bad[i], '\t') == NULL && strchr(bad[i], '\n') == NULL;
    tu_err(__FILE__, __LINE__, bad[i], e, INFERMETRICS_ERROR_INVALID_ARG, NULL, printable ? bad[i] : NULL);
    CHECKF(f == NULL, "*family must stay NULL for bad name \"%s\"", bad[i]);
  }
  {
    INFERMETRICS_MetricFamily* f = NULL;
    ERR_MSG(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "", "d"), INFERMETRICS_ERROR_INVALID_ARG,
            "metric name");
    CHECK(f == NULL);
  }
  for (i = 0; i < sizeof good / sizeof good[0]; ++i) {
    INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, good[i], "valid name");
    if (f) OK(INFERMETRICS_MetricFamilyDelete(f));
  }
}

static void test_label_names(void)
{
  static const char* const bad[] = {"1a", "a-b", "a:b", "__x", "a.b", "sp ace", "\xc3\xa9t\xc3\xa9"};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "bad_label_names", "d");
  INFERMETRICS_Metric* ok;
  size_t i;
  char* text;
  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    LABEL_ERR(f, NULL, bad[i], "v", INFERMETRICS_ERROR_INVALID_ARG, NULL, bad[i]);
  LABEL_ERR(f, NULL, "", "v", INFERMETRICS_ERROR_INVALID_ARG, "label name", NULL);
  /* `le` is fine outside histograms; valid odd names work */
  ok = METRIC(f, 3, "le", "x", "_u", "y", "A1", "z");
  text = SNAPSHOT();
  CHECK_LINE(text, "bad_label_names{A1=\"z\",_u=\"y\",le=\"x\"} 0");
  CHECK_COUNT(text, "bad_label_names{", 1);
  free(text);
  OK(INFERMETRICS_MetricDelete(ok));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_le_on_histogram(void)
{
  static const double b[] = {1, 2};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "bad_le_histogram", "d");
  INFERMETRICS_MetricArgs* a = HIST_ARGS(b, 2);
  char* text;
  LABEL_ERR(f, a, "le", "0.5", INFERMETRICS_ERROR_INVALID_ARG, NULL, "le");
  text = SNAPSHOT();
  CHECK_COUNT(text, "bad_le_histogram", 0);
  free(text);
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_non_string_labels(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "bad_non_string", "d");
  int64_t i64 = 5;
  bool b = true;
  double d = 1.5;
  const INFERMETRICS_Parameter* labels[2];
  INFERMETRICS_Metric* m = NULL;
  const void* values[3];
  INFERMETRICS_ParameterType types[3];
  static const char* const names[3] = {"int_label", "bool_label", "double_label"};
  int i;
  values[0] = &i64, values[1] = &b, values[2] = &d;
  types[0] = INFERMETRICS_PARAMETER_INT, types[1] = INFERMETRICS_PARAMETER_BOOL,
  types[2] = INFERMETRICS_PARAMETER_DOUBLE;
  for (i = 0; i < 3; ++i) {
    char want[256];
    labels[0] = tu_label("fine", "x");
    labels[1] = INFERMETRICS_ParameterNew(names[i], types[i], values[i]);
    CHECK(labels[1] != NULL);
    snprintf(want, sizeof want,
             "Parameter [%s] must have a type of INFERMETRICS_PARAMETER_STRING to be added as a label.", names[i]);
    ERR_MSG(INFERMETRICS_MetricNew(&m, f, labels, 2), INFERMETRICS_ERROR_INVALID_ARG, want);
    CHECK(m == NULL);
    INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[0]);
    INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[1]);
  }
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_bad_utf8(void)
{
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_MetricFamily* good;
  char* text;
  ERR(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "bad_utf8_\xff", "d"),
      INFERMETRICS_ERROR_INVALID_ARG);
  CHECK(f == NULL);
  ERR_MSG(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "bad_utf8_desc", "trunc\xc3"),
          INFERMETRICS_ERROR_INVALID_ARG, "UTF-8");
  CHECK(f == NULL);
  ERR_MSG(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "bad_utf8_desc", "\xed\xa0\x80 surrogate"),
          INFERMETRICS_ERROR_INVALID_ARG, "UTF-8");
  CHECK(f == NULL);
  good = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "bad_utf8_labels", "d");
  LABEL_ERR(good, NULL, "name\xfe", "v", INFERMETRICS_ERROR_INVALID_ARG, NULL, NULL);
  LABEL_ERR(good, NULL, "model", "value\x80", INFERMETRICS_ERROR_INVALID_ARG, "model", NULL);
  LABEL_ERR(good, NULL, "model", "over\xc0\xaflong", INFERMETRICS_ERROR_INVALID_ARG, "UTF-8", NULL);
  text = SNAPSHOT();
  CHECK_COUNT(text, "bad_utf8", 0);
  free(text);
  OK(INFERMETRICS_MetricFamilyDelete(good));
}

static void test_wrong_kind_operations(void)
{
  static const double b[] = {1};
  INFERMETRICS_MetricFamily* fc = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "bad_kind_c", "d");
  INFERMETRICS_MetricFamily* fg = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "bad_kind_g", "d");
  INFERMETRICS_MetricFamily* fh = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "bad_kind_h", "d");
  INFERMETRICS_MetricArgs* a = HIST_ARGS(b, 1);
  INFERMETRICS_Metric* c = METRIC(fc, 0);
  INFERMETRICS_Metric* g = METRIC(fg, 0);
  INFERMETRICS_Metric* h = METRIC_ARGS(fh, a, 0);
  double v = -1;

  ERR_MSG(INFERMETRICS_MetricSet(c, 1), INFERMETRICS_ERROR_UNSUPPORTED, "COUNTER does not support Set");
  ERR_MSG(INFERMETRICS_MetricObserve(c, 1), INFERMETRICS_ERROR_UNSUPPORTED, "COUNTER does not support Observe");
  ERR_MSG(INFERMETRICS_MetricIncrement(c, -1), INFERMETRICS_ERROR_INVALID_ARG,
          "COUNTER can only be incremented monotonically by non-negative values");
  ERR_MSG(INFERMETRICS_MetricIncrement(c, NAN), INFERMETRICS_ERROR_INVALID_ARG, "COUNTER");
  ERR_MSG(INFERMETRICS_MetricObserve(g, 1), INFERMETRICS_ERROR_UNSUPPORTED, "GAUGE does not support Observe");
  ERR_MSG(INFERMETRICS_MetricValue(h, &v), INFERMETRICS_ERROR_UNSUPPORTED, "HISTOGRAM does not support Value");
  ERR_MSG(INFERMETRICS_MetricIncrement(h, 1), INFERMETRICS_ERROR_UNSUPPORTED, "HISTOGRAM does not support Increment");
  ERR_MSG(INFERMETRICS_MetricSet(h, 1), INFERMETRICS_ERROR_UNSUPPORTED, "HISTOGRAM does not support Set");
  ERR(INFERMETRICS_MetricObserve(h, NAN), INFERMETRICS_ERROR_INVALID_ARG);
  CHECK_DBL(v, -1.0);
  CHECK_VALUE(c, 0.0);
  CHECK_VALUE(g, 0.0);

  OK(INFERMETRICS_MetricDelete(c));
  OK(INFERMETRICS_MetricDelete(g));
  OK(INFERMETRICS_MetricDelete(h));
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(fc));
  OK(INFERMETRICS_MetricFamilyDelete(fg));
  OK(INFERMETRICS_MetricFamilyDelete(fh));
}

static void test_args_on_counter_and_gauge(void)
{
  static const double b[] = {1, 2};
  INFERMETRICS_MetricFamily* fc = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "bad_args_c", "d");
  INFERMETRICS_MetricFamily* fg = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "bad_args_g", "d");
  INFERMETRICS_MetricArgs* hist = HIST_ARGS(b, 2);
  INFERMETRICS_MetricArgs* unset = NULL;
  INFERMETRICS_Metric* m = NULL;
  const INFERMETRICS_Parameter* labels[1];
  int64_t i64 = 1;
  char* text;

  OK(INFERMETRICS_MetricArgsNew(&unset));
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, fc, NULL, 0, hist), INFERMETRICS_ERROR_INVALID_ARG,
          "Unexpected args found in counter Metric constructor.");
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, fg, NULL, 0, hist), INFERMETRICS_ERROR_INVALID_ARG,
          "Unexpected args found in gauge Metric constructor.");
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, fc, NULL, 0, unset), INFERMETRICS_ERROR_INVALID_ARG,
          "Unexpected args found in counter Metric constructor.");
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, fg, NULL, 0, unset), INFERMETRICS_ERROR_INVALID_ARG,
          "Unexpected args found in gauge Metric constructor.");
  CHECK(m == NULL);

  /* Triton's check order: a non-STRING label is reported before the args problem */
  labels[0] = INFERMETRICS_ParameterNew("n", INFERMETRICS_PARAMETER_INT, &i64);
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, fc, labels, 1, hist), INFERMETRICS_ERROR_INVALID_ARG,
          "Parameter [n] must have a type of INFERMETRICS_PARAMETER_STRING");
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[0]);
  CHECK(m == NULL);

  text = SNAPSHOT();
  CHECK_COUNT(text, "bad_args_", 0);
  free(text);
  OK(INFERMETRICS_MetricArgsDelete(hist));
  OK(INFERMETRICS_MetricArgsDelete(unset));
  OK(INFERMETRICS_MetricFamilyDelete(fc)); /* no children were counted */
  OK(INFERMETRICS_MetricFamilyDelete(fg));
}

/* Triton's check order: bucket errors come before label-name errors. */
static void test_histogram_check_order(void)
{
  static const double unsorted[] = {2, 1};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "bad_hist_order", "d");
  INFERMETRICS_MetricArgs* a = HIST_ARGS(unsorted, 2);
  LABEL_ERR(f, a, "1bad", "v", INFERMETRICS_ERROR_INVALID_ARG, "strictly sorted", NULL);
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_delete_family_with_metrics(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "bad_delete_order", "d");
  INFERMETRICS_Metric* m = METRIC(f, 1, "k", "v");
  ERR_MSG(INFERMETRICS_MetricFamilyDelete(f), INFERMETRICS_ERROR_INTERNAL, "Must call MetricDelete");
  OK(INFERMETRICS_MetricSet(m, 1)); /* still usable */
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_label_given_twice(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "bad_dup_label", "d");
  const INFERMETRICS_Parameter* labels[3];
  INFERMETRICS_Metric* m = NULL;
  char* text;
  labels[0] = tu_label("model", "a");
  labels[1] = tu_label("version", "1");
  labels[2] = tu_label("model", "b");
  ERR_NAMED(INFERMETRICS_MetricNew(&m, f, labels, 3), INFERMETRICS_ERROR_INVALID_ARG, "model");
  CHECK(m == NULL);
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[2]);
  labels[2] = tu_label("model", "a"); /* same value twice is still a repeated label */
  ERR_NAMED(INFERMETRICS_MetricNew(&m, f, labels, 3), INFERMETRICS_ERROR_INVALID_ARG, "model");
  CHECK(m == NULL);
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[2]);
  labels[2] = labels[0]; /* the very same parameter object twice */
  ERR_NAMED(INFERMETRICS_MetricNew(&m, f, labels, 3), INFERMETRICS_ERROR_INVALID_ARG, "model");
  CHECK(m == NULL);
  text = SNAPSHOT();
  CHECK_COUNT(text, "bad_dup_label", 0);
  free(text);
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[0]);
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[1]);
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_unknown_enum_values(void)
{
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_Metrics* ms = NULL;
  const char* base = NULL;
  size_t size = 4321;
  ERR(INFERMETRICS_MetricFamilyNew(&f, (INFERMETRICS_MetricKind)7, "bad_kind_value", "d"),
      INFERMETRICS_ERROR_INVALID_ARG);
  CHECK(f == NULL);
  ERR(INFERMETRICS_MetricFamilyNew(&f, (INFERMETRICS_MetricKind)4, "bad_kind_value", "d"),
      INFERMETRICS_ERROR_INVALID_ARG);
  CHECK(f == NULL);
  ERR(INFERMETRICS_MetricFamilyNew(&f, (INFERMETRICS_MetricKind)-1, "bad_kind_value", "d"),
      INFERMETRICS_ERROR_INVALID_ARG);
  CHECK(f == NULL);
  /* the refused calls registered nothing: the name is free */
  f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "bad_kind_value", "d");
  OK(INFERMETRICS_MetricFamilyDelete(f));

  OK(INFERMETRICS_ServerMetrics(NULL, &ms));
  ERR_MSG(INFERMETRICS_MetricsFormatted(ms, (INFERMETRICS_MetricFormat)2, &base, &size),
          INFERMETRICS_ERROR_INVALID_ARG, "format");
  ERR_MSG(INFERMETRICS_MetricsFormatted(ms, (INFERMETRICS_MetricFormat)7, &base, &size),
          INFERMETRICS_ERROR_INVALID_ARG, "7");
  CHECK(base == NULL && size == 4321);
  OK(INFERMETRICS_MetricsDelete(ms));
}

/* Use after delete is UB in general; the library detects the common case of a double delete. */
static void test_double_metric_delete(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "bad_double_delete", "d");
  INFERMETRICS_Metric* m = METRIC(f, 0);
  OK(INFERMETRICS_MetricDelete(m));
  ERR_MSG(INFERMETRICS_MetricDelete(m), INFERMETRICS_ERROR_INVALID_ARG, "not a live");
  OK(INFERMETRICS_MetricFamilyDelete(f)); /* the child count was not decremented twice into trouble */
}

int main(void)
{
  test_metric_names();
  test_label_names();
  test_le_on_histogram();
  test_non_string_labels();
  test_bad_utf8();
  test_wrong_kind_operations();
  test_args_on_counter_and_gauge();
  test_histogram_check_order();
  test_delete_family_with_metrics();
  test_label_given_twice();
  test_unknown_enum_values();
  test_double_metric_delete();
  return TEST_SUMMARY();
}

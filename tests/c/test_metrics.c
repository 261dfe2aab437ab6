/*
 * Metrics: counter and gauge end to end, per-kind operations with their error codes, dedup
 * of equal label sets, series shared across family handles (Triton metrics_api_test items
 * 1, 2, 9; python backend item 14; Triton's per-handle refcount bug fixed).
 */
#include "test_util.h"

/* Items 1 and 14: counter end to end. */
static void test_counter_e2e(void)
{
  INFERMETRICS_MetricFamily* f =
      FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_counter_e2e", "this is a test counter");
  INFERMETRICS_Metric* m = METRIC(f, 2, "example1", "counter_label1", "example2", "counter_label2");
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_HISTOGRAM;
  char* text;

  CHECK_VALUE(m, 0.0);
  OK(INFERMETRICS_MetricIncrement(m, 1729));
  CHECK_VALUE(m, 1729.0);
  ERR_MSG(INFERMETRICS_MetricIncrement(m, -3.14), INFERMETRICS_ERROR_INVALID_ARG, "non-negative");
  CHECK_VALUE(m, 1729.0);
  ERR(INFERMETRICS_MetricIncrement(m, NAN), INFERMETRICS_ERROR_INVALID_ARG);
  CHECK_VALUE(m, 1729.0);
  ERR_MSG(INFERMETRICS_MetricSet(m, 42), INFERMETRICS_ERROR_UNSUPPORTED, "does not support Set");
  CHECK_VALUE(m, 1729.0);
  ERR_MSG(INFERMETRICS_MetricObserve(m, 1), INFERMETRICS_ERROR_UNSUPPORTED, "does not support Observe");
  CHECK_VALUE(m, 1729.0);
  OK(INFERMETRICS_MetricIncrement(m, 0)); /* zero is a valid increment */
  CHECK_VALUE(m, 1729.0);
  if (OK(INFERMETRICS_GetMetricKind(m, &kind)))
    CHECKF(kind == INFERMETRICS_METRIC_KIND_COUNTER, "GetMetricKind: expected COUNTER, got %d", (int)kind);

  text = SNAPSHOT();
  CHECK_COUNT(text, "this is a test counter", 1);
  CHECK_LINE(text, "# HELP test_counter_e2e this is a test counter");
  CHECK_LINE(text, "# TYPE test_counter_e2e counter");
  CHECK_LINE(text, "test_counter_e2e{example1=\"counter_label1\",example2=\"counter_label2\"} 1729");
  free(text);

  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  text = SNAPSHOT();
  CHECK_COUNT(text, "this is a test counter", 0);
  CHECK_NO_LINE_PREFIX(text, "test_counter_e2e");
  free(text);
}

/* A counter accepts +Inf (only negatives and NaN are refused). */
static void test_counter_inf(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_counter_inf", "inf");
  INFERMETRICS_Metric* m = METRIC(f, 0);
  OK(INFERMETRICS_MetricIncrement(m, 0.5));
  ERR(INFERMETRICS_MetricIncrement(m, -INFINITY), INFERMETRICS_ERROR_INVALID_ARG);
  ERR(INFERMETRICS_MetricIncrement(m, -0.000001), INFERMETRICS_ERROR_INVALID_ARG);
  CHECK_VALUE(m, 0.5);
  OK(INFERMETRICS_MetricIncrement(m, INFINITY));
  CHECK_VALUE(m, INFINITY);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* Items 2 and 14: gauge end to end. */
static void test_gauge_e2e(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "test_gauge_e2e", "this is a test gauge");
  INFERMETRICS_Metric* m = METRIC(f, 2, "example1", "gauge_label1", "example2", "gauge_label2");
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_COUNTER;
  char* text;

  CHECK_VALUE(m, 0.0);
  OK(INFERMETRICS_MetricIncrement(m, 1729));
  CHECK_VALUE(m, 1729.0);
  OK(INFERMETRICS_MetricIncrement(m, -3.14));
  CHECK_VALUE(m, 1729.0 - 3.14);
  OK(INFERMETRICS_MetricSet(m, 42));
  CHECK_VALUE(m, 42.0);
  OK(INFERMETRICS_MetricIncrement(m, -23.5));
  CHECK_VALUE(m, 18.5);
  OK(INFERMETRICS_MetricSet(m, 999.9));
  CHECK_VALUE(m, 999.9);
  ERR_MSG(INFERMETRICS_MetricObserve(m, 1), INFERMETRICS_ERROR_UNSUPPORTED, "does not support Observe");
  CHECK_VALUE(m, 999.9);
  if (OK(INFERMETRICS_GetMetricKind(m, &kind)))
    CHECKF(kind == INFERMETRICS_METRIC_KIND_GAUGE, "GetMetricKind: expected GAUGE, got %d", (int)kind);

  /* a gauge takes any double */
  OK(INFERMETRICS_MetricSet(m, -7));
  CHECK_VALUE(m, -7.0);
  OK(INFERMETRICS_MetricSet(m, NAN));
  CHECK_VALUE(m, NAN);
  OK(INFERMETRICS_MetricSet(m, -INFINITY));
  CHECK_VALUE(m, -INFINITY);
  OK(INFERMETRICS_MetricSet(m, 42));

  text = SNAPSHOT();
  CHECK_COUNT(text, "this is a test gauge", 1);
  CHECK_LINE(text, "# TYPE test_gauge_e2e gauge");
  CHECK_LINE(text, "test_gauge_e2e{example1=\"gauge_label1\",example2=\"gauge_label2\"} 42");
  free(text);

  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  text = SNAPSHOT();
  CHECK_COUNT(text, "this is a test gauge", 0);
  free(text);
}

/* Item 9: equal label sets share one series (label order irrelevant), with and without labels. */
static void test_dedup_same_family_handle(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "test_dedup", "dedup");
  INFERMETRICS_Metric* a = METRIC(f, 2, "x", "1", "y", "2");
  INFERMETRICS_Metric* b = METRIC(f, 2, "y", "2", "x", "1"); /* same set, other order */
  INFERMETRICS_Metric* z1 = METRIC(f, 0);
  INFERMETRICS_Metric* z2 = METRIC(f, 0);
  INFERMETRICS_Metric* other = METRIC(f, 2, "x", "1", "y", "3");
  char* text;

  CHECK(a != b);
  OK(INFERMETRICS_MetricSet(a, 7.5));
  CHECK_VALUE(b, 7.5);
  CHECK_VALUE(other, 0.0);
  OK(INFERMETRICS_MetricIncrement(z1, 2));
  OK(INFERMETRICS_MetricIncrement(z2, 3));
  CHECK_VALUE(z1, 5.0);
  CHECK_VALUE(z2, 5.0);

  text = SNAPSHOT();
  CHECK_LINE(text, "test_dedup{x=\"1\",y=\"2\"} 7.5");
  CHECK_LINE(text, "test_dedup{x=\"1\",y=\"3\"} 0");
  CHECK_LINE(text, "test_dedup 5");
  CHECK_COUNT(text, "# TYPE test_dedup gauge", 1);
  free(text);

  /* deleting one handle keeps the shared series */
  OK(INFERMETRICS_MetricDelete(a));
  OK(INFERMETRICS_MetricDelete(z1));
  CHECK_VALUE(b, 7.5);
  CHECK_VALUE(z2, 5.0);
  text = SNAPSHOT();
  CHECK_LINE(text, "test_dedup{x=\"1\",y=\"2\"} 7.5");
  CHECK_LINE(text, "test_dedup 5");
  free(text);

  /* deleting the last handle of a series removes it; the family stays while a series lives */
  OK(INFERMETRICS_MetricDelete(b));
  OK(INFERMETRICS_MetricDelete(z2));
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "test_dedup{x=\"1\",y=\"2\"}");
  CHECK_NO_LINE_PREFIX(text, "test_dedup ");
  CHECK_LINE(text, "test_dedup{x=\"1\",y=\"3\"} 0");
  free(text);

  OK(INFERMETRICS_MetricDelete(other));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "test_dedup");
  CHECK_COUNT(text, "# TYPE test_dedup", 0);
  free(text);
}

/*
 * Shared series across two family handles: counted per series, not per handle. Triton
 * frees the series when the first handle's metric goes; we must keep it for the other.
 */
static void test_shared_series_two_family_handles(void)
{
  INFERMETRICS_MetricFamily* f1 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_shared_series", "shared");
  INFERMETRICS_MetricFamily* f2 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_shared_series", "shared");
  INFERMETRICS_Metric* m1 = METRIC(f1, 1, "model", "m");
  INFERMETRICS_Metric* m2 = METRIC(f2, 1, "model", "m");
  char* text;

  OK(INFERMETRICS_MetricIncrement(m1, 10));
  OK(INFERMETRICS_MetricIncrement(m2, 5));
  CHECK_VALUE(m1, 15.0);
  CHECK_VALUE(m2, 15.0);

  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricFamilyDelete(f1));
  /* the series is still alive for m2, with its value */
  CHECK_VALUE(m2, 15.0);
  OK(INFERMETRICS_MetricIncrement(m2, 1));
  CHECK_VALUE(m2, 16.0);
  text = SNAPSHOT();
  CHECK_LINE(text, "test_shared_series{model=\"m\"} 16");
  free(text);

  /* a new handle with the same labels joins the live series */
  f1 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_shared_series", "shared");
  m1 = METRIC(f1, 1, "model", "m");
  CHECK_VALUE(m1, 16.0);
  OK(INFERMETRICS_MetricDelete(m2));
  OK(INFERMETRICS_MetricFamilyDelete(f2));
  CHECK_VALUE(m1, 16.0);
  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricFamilyDelete(f1));
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "test_shared_series");
  free(text);

  /* a series re-created after it vanished starts again at 0 */
  f1 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_shared_series", "shared");
  m1 = METRIC(f1, 1, "model", "m");
  CHECK_VALUE(m1, 0.0);
  text = SNAPSHOT();
  CHECK_LINE(text, "test_shared_series{model=\"m\"} 0");
  free(text);
  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricFamilyDelete(f1));
}

/* Series identity is exact: values that would collide when concatenated stay apart. */
static void test_series_identity_exact(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "test_identity", "identity");
  INFERMETRICS_Metric* a = METRIC(f, 2, "p", "ab", "q", "c");
  INFERMETRICS_Metric* b = METRIC(f, 2, "p", "a", "q", "bc");
  INFERMETRICS_Metric* c = METRIC(f, 1, "p", "abc");
  INFERMETRICS_Metric* d = METRIC(f, 1, "q", "abc");
  char* text;
  OK(INFERMETRICS_MetricSet(a, 1));
  OK(INFERMETRICS_MetricSet(b, 2));
  OK(INFERMETRICS_MetricSet(c, 3));
  OK(INFERMETRICS_MetricSet(d, 4));
  CHECK_VALUE(a, 1.0);
  CHECK_VALUE(b, 2.0);
  CHECK_VALUE(c, 3.0);
  CHECK_VALUE(d, 4.0);
  text = SNAPSHOT();
  CHECK_LINE(text, "test_identity{p=\"ab\",q=\"c\"} 1");
  CHECK_LINE(text, "test_identity{p=\"a\",q=\"bc\"} 2");
  CHECK_LINE(text, "test_identity{p=\"abc\"} 3");
  CHECK_LINE(text, "test_identity{q=\"abc\"} 4");
  free(text);
  OK(INFERMETRICS_MetricDelete(a));
  OK(INFERMETRICS_MetricDelete(b));
  OK(INFERMETRICS_MetricDelete(c));
  OK(INFERMETRICS_MetricDelete(d));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* The same label set in two different families is two series. */
static void test_same_labels_other_family(void)
{
  INFERMETRICS_MetricFamily* f1 = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "test_other_fam_a", "a");
  INFERMETRICS_MetricFamily* f2 = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "test_other_fam_b", "b");
  INFERMETRICS_Metric* m1 = METRIC(f1, 1, "k", "v");
  INFERMETRICS_Metric* m2 = METRIC(f2, 1, "k", "v");
  OK(INFERMETRICS_MetricSet(m1, 1));
  OK(INFERMETRICS_MetricSet(m2, 2));
  CHECK_VALUE(m1, 1.0);
  CHECK_VALUE(m2, 2.0);
  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricDelete(m2));
  OK(INFERMETRICS_MetricFamilyDelete(f1));
  OK(INFERMETRICS_MetricFamilyDelete(f2));
}

/* Args may be deleted right after metric creation; MetricNewWithArgs(args NULL) == MetricNew. */
static void test_new_with_null_args(void)
{
  INFERMETRICS_MetricFamily* fc = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_null_args_c", "c");
  INFERMETRICS_MetricFamily* fg = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "test_null_args_g", "g");
  INFERMETRICS_MetricFamily* fh = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_null_args_h", "h");
  INFERMETRICS_Metric* mc = NULL;
  INFERMETRICS_Metric* mg = NULL;
  INFERMETRICS_Metric* mh = NULL;
  OK(INFERMETRICS_MetricNewWithArgs(&mc, fc, NULL, 0, NULL));
  OK(INFERMETRICS_MetricNewWithArgs(&mg, fg, NULL, 0, NULL));
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&mh, fh, NULL, 0, NULL), INFERMETRICS_ERROR_INVALID_ARG,
          "Bucket boundaries not found in Metric args.");
  CHECK(mh == NULL);
  ERR_MSG(INFERMETRICS_MetricNew(&mh, fh, NULL, 0), INFERMETRICS_ERROR_INVALID_ARG,
          "Bucket boundaries not found in Metric args.");
  CHECK(mh == NULL);
  CHECK(mc != NULL && mg != NULL);
  OK(INFERMETRICS_MetricDelete(mc));
  OK(INFERMETRICS_MetricDelete(mg));
  OK(INFERMETRICS_MetricFamilyDelete(fc));
  OK(INFERMETRICS_MetricFamilyDelete(fg));
  OK(INFERMETRICS_MetricFamilyDelete(fh));
}

int main(void)
{
  test_counter_e2e();
  test_counter_inf();
  test_gauge_e2e();
  test_dedup_same_family_handle();
  test_shared_series_two_family_handles();
  test_series_identity_exact();
  test_same_labels_other_family();
  test_new_with_null_args();
  return TEST_SUMMARY();
}

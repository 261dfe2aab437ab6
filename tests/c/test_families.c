/*
 * Families: re-registration, kind mismatch, description rules, delete order and child
 * tracking (Triton metrics_api_test items 6, 7, 8, 10, 12, 13; python backend items 17, 18).
 */
#include "test_util.h"

/* Item 6: same name, different kind: INVALID_ARG and *family untouched (stays NULL). */
static void test_kind_mismatch(void)
{
  INFERMETRICS_MetricFamily* f1 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "fam_kind_mismatch", "first");
  INFERMETRICS_MetricFamily* f2 = NULL;
  INFERMETRICS_MetricFamily* sentinel = (INFERMETRICS_MetricFamily*)&f2; /* any non-NULL marker */
  INFERMETRICS_MetricFamily* f3 = sentinel;
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_HISTOGRAM;

  ERR_MSG(INFERMETRICS_MetricFamilyNew(&f2, INFERMETRICS_METRIC_KIND_GAUGE, "fam_kind_mismatch", "second"),
          INFERMETRICS_ERROR_INVALID_ARG, "fam_kind_mismatch");
  CHECKF(f2 == NULL, "*family must stay NULL after a kind mismatch, got %p", (void*)f2);
  ERR(INFERMETRICS_MetricFamilyNew(&f3, INFERMETRICS_METRIC_KIND_HISTOGRAM, "fam_kind_mismatch", "third"),
      INFERMETRICS_ERROR_INVALID_ARG);
  CHECKF(f3 == sentinel, "*family must be left untouched after a kind mismatch");

  if (OK(INFERMETRICS_GetMetricFamilyKind(f1, &kind)))
    CHECKF(kind == INFERMETRICS_METRIC_KIND_COUNTER, "GetMetricFamilyKind: expected COUNTER, got %d", (int)kind);
  OK(INFERMETRICS_MetricFamilyDelete(f1));

  /* the name keeps its kind even after every handle is gone */
  f2 = NULL;
  ERR(INFERMETRICS_MetricFamilyNew(&f2, INFERMETRICS_METRIC_KIND_GAUGE, "fam_kind_mismatch", "again"),
      INFERMETRICS_ERROR_INVALID_ARG);
  CHECK(f2 == NULL);
}

/* GetMetricFamilyKind for each kind. */
static void test_family_kinds(void)
{
  static const char* const names[3] = {"fam_kind_c", "fam_kind_g", "fam_kind_h"};
  int k;
  for (k = 0; k < 3; ++k) {
    INFERMETRICS_MetricFamily* f = FAMILY((INFERMETRICS_MetricKind)k, names[k], "kinds");
    INFERMETRICS_MetricKind got = (INFERMETRICS_MetricKind)9;
    if (f && OK(INFERMETRICS_GetMetricFamilyKind(f, &got)))
      CHECKF((int)got == k, "GetMetricFamilyKind(%s): expected %d, got %d", names[k], k, (int)got);
    OK(INFERMETRICS_MetricFamilyDelete(f));
  }
}

/* Items 7 and 17: same name and kind, other description: success; first description wins. */
static void test_first_description_wins(void)
{
  INFERMETRICS_MetricFamily* f1 = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "fam_desc", "first description");
  INFERMETRICS_MetricFamily* f2 = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "fam_desc", "second description");
  INFERMETRICS_Metric* m;
  char* text;

  CHECKF(f1 != f2, "two MetricFamilyNew calls must give two handles");
  text = SNAPSHOT();
  CHECK_COUNT(text, "first description", 0); /* empty family: not printed */
  CHECK_COUNT(text, "second description", 0);
  free(text);

  m = METRIC(f2, 0);
  text = SNAPSHOT();
  CHECK_LINE(text, "# HELP fam_desc first description");
  CHECK_COUNT(text, "first description", 1);
  CHECK_COUNT(text, "second description", 0);
  CHECK_LINE(text, "# TYPE fam_desc gauge");
  CHECK_LINE(text, "fam_desc 0");
  free(text);

  /* deleting the first (metric-less) handle keeps the family and its output */
  OK(INFERMETRICS_MetricFamilyDelete(f1));
  text = SNAPSHOT();
  CHECK_COUNT(text, "first description", 1);
  CHECK_LINE(text, "fam_desc 0");
  free(text);

  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f2));
  text = SNAPSHOT();
  CHECK_COUNT(text, "first description", 0);
  CHECK_NO_LINE_PREFIX(text, "fam_desc");
  free(text);
}

/* Items 8 and 18: the same family through two handles, one metric each with other labels. */
static void test_duplicate_family_two_series(void)
{
  INFERMETRICS_MetricFamily* f1 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_dup_metric_family", "dup description");
  INFERMETRICS_MetricFamily* f2 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "test_dup_metric_family", "dup description");
  INFERMETRICS_Metric* m1 = METRIC(f1, 1, "custom_metric_key", "label1");
  INFERMETRICS_Metric* m2 = METRIC(f2, 1, "custom_metric_key", "label2");
  char* text = SNAPSHOT();

  CHECK_LINE(text, "# HELP test_dup_metric_family dup description");
  CHECK_LINE(text, "# TYPE test_dup_metric_family counter");
  CHECK_LINE(text, "test_dup_metric_family{custom_metric_key=\"label1\"} 0");
  CHECK_LINE(text, "test_dup_metric_family{custom_metric_key=\"label2\"} 0");
  CHECK_COUNT(text, "dup description", 1);
  CHECK_COUNT(text, "custom_metric_key", 2);
  free(text);

  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricFamilyDelete(f1));
  text = SNAPSHOT();
  CHECK_COUNT(text, "dup description", 1);
  CHECK_COUNT(text, "custom_metric_key", 1);
  CHECK_LINE(text, "test_dup_metric_family{custom_metric_key=\"label2\"} 0");
  free(text);

  OK(INFERMETRICS_MetricDelete(m2));
  OK(INFERMETRICS_MetricFamilyDelete(f2));
  text = SNAPSHOT();
  CHECK_COUNT(text, "dup description", 0);
  CHECK_COUNT(text, "custom_metric_key", 0);
  free(text);
}

/* Items 10 and 13: a family handle with live metrics cannot be deleted; children counted. */
static void test_delete_order(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "fam_delete_order", "delete order");
  INFERMETRICS_Metric* m1 = METRIC(f, 1, "a", "x");
  INFERMETRICS_Metric* m2 = METRIC(f, 1, "a", "x"); /* same series, second child of f */
  char* text;

  ERR_MSG(INFERMETRICS_MetricFamilyDelete(f), INFERMETRICS_ERROR_INTERNAL,
          "Must call MetricDelete on all dependent metrics before calling MetricFamilyDelete.");
  /* nothing was deleted: the handle and its metrics still work */
  OK(INFERMETRICS_MetricSet(m1, 3.0));
  CHECK_VALUE(m2, 3.0);
  {
    INFERMETRICS_MetricKind k = INFERMETRICS_METRIC_KIND_COUNTER;
    OK(INFERMETRICS_GetMetricFamilyKind(f, &k));
    CHECK(k == INFERMETRICS_METRIC_KIND_GAUGE);
  }

  OK(INFERMETRICS_MetricDelete(m1)); /* one child left */
  ERR_MSG(INFERMETRICS_MetricFamilyDelete(f), INFERMETRICS_ERROR_INTERNAL, "Must call MetricDelete");
  text = SNAPSHOT();
  CHECK_LINE(text, "fam_delete_order{a=\"x\"} 3");
  free(text);

  OK(INFERMETRICS_MetricDelete(m2)); /* none left */
  OK(INFERMETRICS_MetricFamilyDelete(f));
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "fam_delete_order");
  CHECK_NO_LINE_PREFIX(text, "# TYPE fam_delete_order");
  free(text);
}

/* Children are counted per family handle: a second handle that made no metric deletes fine. */
static void test_children_per_handle(void)
{
  INFERMETRICS_MetricFamily* f1 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "fam_children", "children");
  INFERMETRICS_MetricFamily* f2 = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "fam_children", "children");
  INFERMETRICS_Metric* m = METRIC(f1, 0);
  char* text;

  OK(INFERMETRICS_MetricFamilyDelete(f2));
  OK(INFERMETRICS_MetricIncrement(m, 5));
  CHECK_VALUE(m, 5.0);
  text = SNAPSHOT();
  CHECK_LINE(text, "fam_children 5");
  free(text);
  ERR(INFERMETRICS_MetricFamilyDelete(f1), INFERMETRICS_ERROR_INTERNAL);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f1));
}

/* Item 12: a family named like one of Triton's built-ins, with an empty description. */
static void test_builtin_name_empty_description(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "nv_gpu_power_limit", "");
  INFERMETRICS_Metric* m;
  char* text;
  if (f == NULL) return;
  m = METRIC(f, 1, "gpu_uuid", "GPU-test");
  OK(INFERMETRICS_MetricSet(m, 250));
  text = SNAPSHOT();
  CHECK_LINE(text, "# TYPE nv_gpu_power_limit gauge");
  CHECK_LINE(text, "nv_gpu_power_limit{gpu_uuid=\"GPU-test\"} 250");
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* Re-opening a family after all its handles were deleted gives the same family (name burned). */
static void test_reopen_after_delete(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "fam_reopen", "original help");
  INFERMETRICS_Metric* m;
  char* text;
  OK(INFERMETRICS_MetricFamilyDelete(f));
  f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "fam_reopen", "new help");
  m = METRIC(f, 0);
  text = SNAPSHOT();
  CHECK_LINE(text, "# HELP fam_reopen original help");
  CHECK_COUNT(text, "new help", 0);
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

int main(void)
{
  test_kind_mismatch();
  test_family_kinds();
  test_first_description_wins();
  test_duplicate_family_two_series();
  test_delete_order();
  test_children_per_handle();
  test_builtin_name_empty_description();
  test_reopen_after_delete();
  return TEST_SUMMARY();
}

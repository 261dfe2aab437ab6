/*
 * Histograms: args checks, bucket validation, exact text output, per-kind operations
 * (Triton metrics_api_test items 3, 4, 5; python backend items 15, 16; QA item 32).
 */
#include "test_util.h"

/* The lines must appear in the snapshot as one contiguous block, in this order. */
static void check_block(const char* file, int line, const char* text, const char* block)
{
  const char* p = strstr(text, block);
  ++tu_checks;
  while (p != NULL && p != text && p[-1] != '\n') p = strstr(p + 1, block);
  if (p == NULL) tu_fail(file, line, "expected this block of lines:\n%s\nin the snapshot:\n%s", block, text);
}
#define CHECK_BLOCK(text, block) check_block(__FILE__, __LINE__, (text), (block))

/* Items 3 and 15: histogram end to end with labels. */
static void test_histogram_e2e(void)
{
  static const double buckets[] = {0.1, 1, 2.5, 5, 10};
  INFERMETRICS_MetricFamily* f =
      FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_histogram_e2e", "this is a test histogram");
  INFERMETRICS_MetricArgs* args = HIST_ARGS(buckets, 5);
  INFERMETRICS_Metric* m = METRIC_ARGS(f, args, 2, "example1", "histogram_label1", "example2", "histogram_label2");
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_COUNTER;
  double v = 99;
  char* text;

  OK(INFERMETRICS_MetricArgsDelete(args)); /* args are not retained by the metric */
  if (OK(INFERMETRICS_GetMetricKind(m, &kind)))
    CHECKF(kind == INFERMETRICS_METRIC_KIND_HISTOGRAM, "GetMetricKind: expected HISTOGRAM, got %d", (int)kind);

  /* visible at once, all zero */
  text = SNAPSHOT();
  CHECK_LINE(text, "# HELP test_histogram_e2e this is a test histogram");
  CHECK_LINE(text, "# TYPE test_histogram_e2e histogram");
  CHECK_BLOCK(text,
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"0.1\"} 0\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"1\"} 0\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"2.5\"} 0\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"5\"} 0\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"10\"} 0\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"+Inf\"} 0\n"
              "test_histogram_e2e_sum{example1=\"histogram_label1\",example2=\"histogram_label2\"} 0\n"
              "test_histogram_e2e_count{example1=\"histogram_label1\",example2=\"histogram_label2\"} 0\n");
  free(text);

  /* Value / Increment / Set are unsupported; NaN observations are refused */
  ERR_MSG(INFERMETRICS_MetricValue(m, &v), INFERMETRICS_ERROR_UNSUPPORTED, "does not support Value");
  CHECK_DBL(v, 99.0);
  ERR_MSG(INFERMETRICS_MetricIncrement(m, 1), INFERMETRICS_ERROR_UNSUPPORTED, "does not support Increment");
  ERR_MSG(INFERMETRICS_MetricSet(m, 1), INFERMETRICS_ERROR_UNSUPPORTED, "does not support Set");
  ERR(INFERMETRICS_MetricObserve(m, NAN), INFERMETRICS_ERROR_INVALID_ARG);

  OK(INFERMETRICS_MetricObserve(m, 0.05));
  OK(INFERMETRICS_MetricObserve(m, 1.5));
  OK(INFERMETRICS_MetricObserve(m, 6.0));
  text = SNAPSHOT();
  CHECK_BLOCK(text,
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"0.1\"} 1\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"1\"} 1\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"2.5\"} 2\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"5\"} 2\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"10\"} 3\n"
              "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"+Inf\"} 3\n"
              "test_histogram_e2e_sum{example1=\"histogram_label1\",example2=\"histogram_label2\"} 7.55\n"
              "test_histogram_e2e_count{example1=\"histogram_label1\",example2=\"histogram_label2\"} 3\n");
  CHECK_COUNT(text, "this is a test histogram", 1);
  {
    size_t n = count_lines_prefix(text, "test_histogram_e2e_bucket{example1=");
    CHECKF(n == 6, "expected 6 _bucket lines, got %zu", n);
    n = count_lines_prefix(text, "test_histogram_e2e_count{");
    CHECKF(n == 1, "expected 1 _count line, got %zu", n);
    n = count_lines_prefix(text, "test_histogram_e2e_sum{");
    CHECKF(n == 1, "expected 1 _sum line, got %zu", n);
  }
  free(text);

  /* boundary values land in their own bucket (v <= le), values above the last in +Inf */
  OK(INFERMETRICS_MetricObserve(m, 1.0));
  OK(INFERMETRICS_MetricObserve(m, 1000));
  OK(INFERMETRICS_MetricObserve(m, -5));
  text = SNAPSHOT();
  CHECK_LINE(text, "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"0.1\"} 2");
  CHECK_LINE(text, "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"1\"} 3");
  CHECK_LINE(text, "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"10\"} 5");
  CHECK_LINE(text, "test_histogram_e2e_bucket{example1=\"histogram_label1\",example2=\"histogram_label2\",le=\"+Inf\"} 6");
  CHECK_LINE(text, "test_histogram_e2e_count{example1=\"histogram_label1\",example2=\"histogram_label2\"} 6");
  CHECK_LINE(text, "test_histogram_e2e_sum{example1=\"histogram_label1\",example2=\"histogram_label2\"} 1003.55");
  free(text);

  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  text = SNAPSHOT();
  CHECK_COUNT(text, "this is a test histogram", 0);
  CHECK_NO_LINE_PREFIX(text, "test_histogram_e2e");
  free(text);
}

/* Items 4 and 5: missing args, args not set to histogram. */
static void test_histogram_args_required(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_hist_args", "args");
  INFERMETRICS_MetricArgs* unset = NULL;
  INFERMETRICS_Metric* m = NULL;
  char* text;

  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, f, NULL, 0, NULL), INFERMETRICS_ERROR_INVALID_ARG,
          "Bucket boundaries not found in Metric args");
  CHECK(m == NULL);
  OK(INFERMETRICS_MetricArgsNew(&unset));
  CHECK(unset != NULL);
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m, f, NULL, 0, unset), INFERMETRICS_ERROR_INVALID_ARG,
          "Metric args not set to histogram kind");
  CHECK(m == NULL);
  OK(INFERMETRICS_MetricArgsDelete(unset));
  OK(INFERMETRICS_MetricArgsDelete(NULL));
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "test_hist_args");
  CHECK_COUNT(text, "# TYPE test_hist_args", 0);
  free(text);
  OK(INFERMETRICS_MetricFamilyDelete(f)); /* no metric was created: deletes fine */
}

/* Item 16 and the contract: invalid bucket lists are refused at MetricNewWithArgs. */
static void test_bucket_validation(void)
{
  static const double unsorted[] = {2.5, 0.1, 1, 10, 5};
  static const double dups[] = {1, 1, 2, 5, 5};
  static const double decreasing[] = {3, 2};
  double with_nan[3];
  double nan_only[1];
  double neg_inf[3];
  double inf_middle[3];
  double two_inf[3];
  struct {
    const char* what;
    const double* b;
    uint64_t n;
    const char* needle;
  } bad[8];
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_hist_buckets", "buckets");
  size_t i;
  char* text;

  with_nan[0] = 0.5;
  with_nan[1] = NAN;
  with_nan[2] = 2;
  nan_only[0] = NAN;
  neg_inf[0] = -INFINITY;
  neg_inf[1] = 0;
  neg_inf[2] = 1;
  inf_middle[0] = 1;
  inf_middle[1] = INFINITY;
  inf_middle[2] = 2;
  two_inf[0] = 1;
  two_inf[1] = INFINITY;
  two_inf[2] = INFINITY;

  bad[0].what = "unsorted", bad[0].b = unsorted, bad[0].n = 5, bad[0].needle = "strictly sorted";
  bad[1].what = "duplicates", bad[1].b = dups, bad[1].n = 5, bad[1].needle = "strictly sorted";
  bad[2].what = "decreasing", bad[2].b = decreasing, bad[2].n = 2, bad[2].needle = "strictly sorted";
  bad[3].what = "NaN inside", bad[3].b = with_nan, bad[3].n = 3, bad[3].needle = NULL;
  bad[4].what = "NaN only", bad[4].b = nan_only, bad[4].n = 1, bad[4].needle = NULL;
  bad[5].what = "-Inf first", bad[5].b = neg_inf, bad[5].n = 3, bad[5].needle = NULL;
  bad[6].what = "+Inf not last", bad[6].b = inf_middle, bad[6].n = 3, bad[6].needle = NULL;
  bad[7].what = "+Inf twice", bad[7].b = two_inf, bad[7].n = 3, bad[7].needle = NULL;

  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    INFERMETRICS_MetricArgs* a = HIST_ARGS(bad[i].b, bad[i].n);
    INFERMETRICS_Metric* m = NULL;
    INFERMETRICS_Error* e = INFERMETRICS_MetricNewWithArgs(&m, f, NULL, 0, a);
    CHECKF(e != NULL, "buckets '%s' should be refused, got success", bad[i].what);
    if (e != NULL) {
      const char* msg = INFERMETRICS_ErrorMessage(e);
      CHECKF(INFERMETRICS_ErrorCode(e) == INFERMETRICS_ERROR_INVALID_ARG, "buckets '%s': expected INVALID_ARG, got %s: %s",
             bad[i].what, tu_code_name((int)INFERMETRICS_ErrorCode(e)), msg);
      CHECKF(bad[i].needle == NULL || strstr(msg, bad[i].needle) != NULL,
             "buckets '%s': message should contain \"%s\": %s", bad[i].what, bad[i].needle, msg);
      INFERMETRICS_ErrorDelete(e);
    } else {
      INFERMETRICS_MetricDelete(m);
    }
    CHECKF(m == NULL, "buckets '%s': *metric must stay NULL on error", bad[i].what);
    OK(INFERMETRICS_MetricArgsDelete(a));
  }
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "test_hist_buckets");
  free(text);
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* Empty bucket list (NULL or not), a lone +Inf, and a trailing +Inf: only the implicit bucket. */
static void test_empty_and_trailing_inf(void)
{
  static const double one = 1.0;
  double only_inf[1];
  double trailing_inf[3];
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_hist_empty", "");
  INFERMETRICS_MetricArgs* a_null = HIST_ARGS(NULL, 0);
  INFERMETRICS_MetricArgs* a_zero = HIST_ARGS(&one, 0);
  INFERMETRICS_MetricArgs* a_inf;
  INFERMETRICS_MetricArgs* a_trail;
  INFERMETRICS_Metric *m1, *m2, *m3, *m4;
  char* text;

  only_inf[0] = INFINITY;
  trailing_inf[0] = 0.5;
  trailing_inf[1] = 1;
  trailing_inf[2] = INFINITY;
  a_inf = HIST_ARGS(only_inf, 1);
  a_trail = HIST_ARGS(trailing_inf, 3);

  m1 = METRIC_ARGS(f, a_null, 1, "case", "null");
  m2 = METRIC_ARGS(f, a_zero, 1, "case", "zero");
  m3 = METRIC_ARGS(f, a_inf, 1, "case", "inf");
  m4 = METRIC_ARGS(f, a_trail, 1, "case", "trailing");
  OK(INFERMETRICS_MetricObserve(m1, 3));
  OK(INFERMETRICS_MetricObserve(m3, 100));
  OK(INFERMETRICS_MetricObserve(m4, 0.75));
  OK(INFERMETRICS_MetricObserve(m4, 2));
  text = SNAPSHOT();
  CHECK_BLOCK(text,
              "test_hist_empty_bucket{case=\"null\",le=\"+Inf\"} 1\n"
              "test_hist_empty_sum{case=\"null\"} 3\n"
              "test_hist_empty_count{case=\"null\"} 1\n");
  CHECK_BLOCK(text,
              "test_hist_empty_bucket{case=\"zero\",le=\"+Inf\"} 0\n"
              "test_hist_empty_sum{case=\"zero\"} 0\n"
              "test_hist_empty_count{case=\"zero\"} 0\n");
  CHECK_BLOCK(text,
              "test_hist_empty_bucket{case=\"inf\",le=\"+Inf\"} 1\n"
              "test_hist_empty_sum{case=\"inf\"} 100\n"
              "test_hist_empty_count{case=\"inf\"} 1\n");
  CHECK_BLOCK(text,
              "test_hist_empty_bucket{case=\"trailing\",le=\"0.5\"} 0\n"
              "test_hist_empty_bucket{case=\"trailing\",le=\"1\"} 1\n"
              "test_hist_empty_bucket{case=\"trailing\",le=\"+Inf\"} 2\n"
              "test_hist_empty_sum{case=\"trailing\"} 2.75\n"
              "test_hist_empty_count{case=\"trailing\"} 2\n");
  CHECK_COUNT(text, "test_hist_empty_bucket{", 6);
  free(text);
  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricDelete(m2));
  OK(INFERMETRICS_MetricDelete(m3));
  OK(INFERMETRICS_MetricDelete(m4));
  OK(INFERMETRICS_MetricArgsDelete(a_null));
  OK(INFERMETRICS_MetricArgsDelete(a_zero));
  OK(INFERMETRICS_MetricArgsDelete(a_inf));
  OK(INFERMETRICS_MetricArgsDelete(a_trail));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* QA item 32: negative and zero boundaries, no labels. */
static void test_negative_buckets_no_labels(void)
{
  static const double b[] = {-1, 0.0, 1, 2.5};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_hist_neg", "negative bounds");
  INFERMETRICS_MetricArgs* a = HIST_ARGS(b, 4);
  INFERMETRICS_Metric* m = METRIC_ARGS(f, a, 0);
  char* text;
  OK(INFERMETRICS_MetricObserve(m, -2));
  OK(INFERMETRICS_MetricObserve(m, 0));
  OK(INFERMETRICS_MetricObserve(m, 2));
  text = SNAPSHOT();
  CHECK_BLOCK(text,
              "# HELP test_hist_neg negative bounds\n"
              "# TYPE test_hist_neg histogram\n"
              "test_hist_neg_bucket{le=\"-1\"} 1\n"
              "test_hist_neg_bucket{le=\"0\"} 2\n"
              "test_hist_neg_bucket{le=\"1\"} 2\n"
              "test_hist_neg_bucket{le=\"2.5\"} 3\n"
              "test_hist_neg_bucket{le=\"+Inf\"} 3\n"
              "test_hist_neg_sum 0\n"
              "test_hist_neg_count 3\n");
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* Re-creating a series keeps its first buckets (new ones are validated, then ignored). */
static void test_recreate_keeps_first_buckets(void)
{
  static const double first[] = {1, 2};
  static const double second[] = {5, 10, 20};
  static const double invalid[] = {2, 1};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_hist_recreate", "recreate");
  INFERMETRICS_MetricArgs* a = HIST_ARGS(first, 2);
  INFERMETRICS_Metric* m1 = METRIC_ARGS(f, a, 1, "k", "v");
  INFERMETRICS_Metric* m2;
  INFERMETRICS_Metric* m3 = NULL;
  const INFERMETRICS_Parameter* labels[1];
  char* text;

  /* SetHistogram again replaces the args' buckets */
  OK(INFERMETRICS_MetricArgsSetHistogram(a, second, 3));
  m2 = METRIC_ARGS(f, a, 1, "k", "v");
  OK(INFERMETRICS_MetricObserve(m2, 1.5));
  OK(INFERMETRICS_MetricObserve(m1, 0.5));
  text = SNAPSHOT();
  CHECK_BLOCK(text,
              "test_hist_recreate_bucket{k=\"v\",le=\"1\"} 1\n"
              "test_hist_recreate_bucket{k=\"v\",le=\"2\"} 2\n"
              "test_hist_recreate_bucket{k=\"v\",le=\"+Inf\"} 2\n"
              "test_hist_recreate_sum{k=\"v\"} 2\n"
              "test_hist_recreate_count{k=\"v\"} 2\n");
  CHECK_COUNT(text, "le=\"5\"", 0);
  free(text);

  /* invalid buckets are refused even for an existing series */
  OK(INFERMETRICS_MetricArgsSetHistogram(a, invalid, 2));
  labels[0] = tu_label("k", "v");
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&m3, f, labels, 1, a), INFERMETRICS_ERROR_INVALID_ARG, "strictly sorted");
  CHECK(m3 == NULL);
  INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[0]);

  /* the new buckets do apply to a new series of the same family */
  OK(INFERMETRICS_MetricArgsSetHistogram(a, second, 3));
  m3 = METRIC_ARGS(f, a, 1, "k", "other");
  text = SNAPSHOT();
  CHECK_BLOCK(text,
              "test_hist_recreate_bucket{k=\"other\",le=\"5\"} 0\n"
              "test_hist_recreate_bucket{k=\"other\",le=\"10\"} 0\n"
              "test_hist_recreate_bucket{k=\"other\",le=\"20\"} 0\n"
              "test_hist_recreate_bucket{k=\"other\",le=\"+Inf\"} 0\n");
  free(text);

  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricDelete(m2));
  OK(INFERMETRICS_MetricDelete(m3));
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* +Inf and -Inf observations: into the +Inf / first bucket, and the sum follows. */
static void test_infinite_observations(void)
{
  static const double b[] = {1};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "test_hist_inf_obs", "inf");
  INFERMETRICS_MetricArgs* a = HIST_ARGS(b, 1);
  INFERMETRICS_Metric* m = METRIC_ARGS(f, a, 0);
  char* text;
  OK(INFERMETRICS_MetricObserve(m, INFINITY));
  text = SNAPSHOT();
  CHECK_BLOCK(text,
              "test_hist_inf_obs_bucket{le=\"1\"} 0\n"
              "test_hist_inf_obs_bucket{le=\"+Inf\"} 1\n"
              "test_hist_inf_obs_sum +Inf\n"
              "test_hist_inf_obs_count 1\n");
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

int main(void)
{
  test_histogram_e2e();
  test_histogram_args_required();
  test_bucket_validation();
  test_empty_and_trailing_inf();
  test_negative_buckets_no_labels();
  test_recreate_keeps_first_buckets();
  test_infinite_observations();
  return TEST_SUMMARY();
}

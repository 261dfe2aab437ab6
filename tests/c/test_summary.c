/*
 * INFERMETRICS_METRIC_KIND_SUMMARY (issue 13): the text form, the errors, accuracy against the
 * exact quantiles of the recorded data (within each quantile's configured rank error), and the
 * sliding window's expiry with a short max_age.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "test_util.h"

static INFERMETRICS_MetricArgs* summary_args(const double* q, const double* e, uint64_t n, uint64_t max_age_ms,
                                             uint64_t buckets)
{
  INFERMETRICS_MetricArgs* a = NULL;
  OK(INFERMETRICS_MetricArgsNew(&a));
  OK(INFERMETRICS_MetricArgsSetSummary(a, q, e, n, max_age_ms, buckets));
  return a;
}

/* The value of `name{body,quantile="q"}` in the snapshot (NAN if absent). */
static double quantile_value(const char* text, const char* name, const char* body, const char* q)
{
  char prefix[256];
  const char* p;
  snprintf(prefix, sizeof prefix, "%s{%s%squantile=\"%s\"} ", name, body, *body ? "," : "", q);
  p = strstr(text, prefix);
  if (p == NULL) return NAN;
  return strtod(p + strlen(prefix), NULL);
}

static int cmp_double(const void* a, const void* b)
{
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static void test_text_and_errors(void)
{
  static const double q[3] = {0.9, 0.5, 0.99};
  static const double e[3] = {0.01, 0.05, 0.001};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_SUMMARY, "t_latency_us", "Latency");
  INFERMETRICS_MetricArgs* a = summary_args(q, e, 3, 0, 0);
  INFERMETRICS_MetricArgs* h;
  INFERMETRICS_Metric *m, *none = NULL;
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_COUNTER;
  double v = 0;
  char* text;
  int i;
  static const double b[1] = {1};
  CHECK(f != NULL);
  OK(INFERMETRICS_GetMetricFamilyKind(f, &kind));
  CHECK(kind == INFERMETRICS_METRIC_KIND_SUMMARY);
  m = METRIC_ARGS(f, a, 1, "model", "resnet");
  /* present at once: quantiles NaN (empty window), _sum and _count 0 */
  text = SNAPSHOT();
  CHECK_LINE(text, "# HELP t_latency_us Latency");
  CHECK_LINE(text, "# TYPE t_latency_us summary");
  CHECK_LINE(text, "t_latency_us{model=\"resnet\",quantile=\"0.5\"} NaN");
  CHECK_LINE(text, "t_latency_us{model=\"resnet\",quantile=\"0.9\"} NaN");
  CHECK_LINE(text, "t_latency_us{model=\"resnet\",quantile=\"0.99\"} NaN");
  CHECK_LINE(text, "t_latency_us_sum{model=\"resnet\"} 0");
  CHECK_LINE(text, "t_latency_us_count{model=\"resnet\"} 0");
  /* quantiles in increasing order, then _sum, then _count */
  CHECK(line_offset(text, "t_latency_us{model=\"resnet\",quantile=\"0.5\"} NaN") <
        line_offset(text, "t_latency_us{model=\"resnet\",quantile=\"0.99\"} NaN"));
  CHECK(line_offset(text, "t_latency_us{model=\"resnet\",quantile=\"0.99\"} NaN") <
        line_offset(text, "t_latency_us_sum{model=\"resnet\"} 0"));
  free(text);
  for (i = 1; i <= 100; ++i) OK(INFERMETRICS_MetricObserve(m, (double)i));
  text = SNAPSHOT();
  /* 1..100: each quantile within its rank error (0.5 +/- 0.05, 0.9 +/- 0.01, 0.99 +/- 0.001) */
  v = quantile_value(text, "t_latency_us", "model=\"resnet\"", "0.5");
  CHECKF(v >= 45 && v <= 55, "median of 1..100 with error 0.05: %g", v);
  v = quantile_value(text, "t_latency_us", "model=\"resnet\"", "0.9");
  CHECKF(v >= 89 && v <= 91, "0.9 of 1..100 with error 0.01: %g", v);
  CHECK_LINE(text, "t_latency_us{model=\"resnet\",quantile=\"0.99\"} 99");
  CHECK_LINE(text, "t_latency_us_sum{model=\"resnet\"} 5050");
  CHECK_LINE(text, "t_latency_us_count{model=\"resnet\"} 100");
  free(text);

  /* the operations a summary does not have */
  ERR(INFERMETRICS_MetricValue(m, &v), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR(INFERMETRICS_MetricIncrement(m, 1), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR(INFERMETRICS_MetricSet(m, 1), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR_MSG(INFERMETRICS_MetricObserve(m, NAN), INFERMETRICS_ERROR_INVALID_ARG, "NaN");
  OK(INFERMETRICS_MetricObserve(m, INFINITY));
  OK(INFERMETRICS_GetMetricKind(m, &kind));
  CHECK(kind == INFERMETRICS_METRIC_KIND_SUMMARY);

  /* args: needed, of summary kind, checked when set */
  ERR_MSG(INFERMETRICS_MetricNew(&none, f, NULL, 0), INFERMETRICS_ERROR_INVALID_ARG, "Quantiles not found");
  h = HIST_ARGS(b, 1);
  ERR_MSG(INFERMETRICS_MetricNewWithArgs(&none, f, NULL, 0, h), INFERMETRICS_ERROR_INVALID_ARG,
          "not set to summary kind");
  {
    INFERMETRICS_Parameter* l = tu_label("quantile", "x");
    const INFERMETRICS_Parameter* ls[1] = {l};
    ERR_NAMED(INFERMETRICS_MetricNewWithArgs(&none, f, ls, 1, a), INFERMETRICS_ERROR_INVALID_ARG, "quantile");
    INFERMETRICS_ParameterDelete(l);
  }
  {
    static const double bad_q[2] = {0.5, 1.5}, bad_e[2] = {0.1, 0.1}, dup_q[2] = {0.5, 0.5}, neg_e[1] = {-0.1};
    static const double nan_q[1] = {NAN};
    ERR_MSG(INFERMETRICS_MetricArgsSetSummary(h, bad_q, bad_e, 2, 0, 0), INFERMETRICS_ERROR_INVALID_ARG, "1.5");
    ERR_MSG(INFERMETRICS_MetricArgsSetSummary(h, dup_q, bad_e, 2, 0, 0), INFERMETRICS_ERROR_INVALID_ARG, "twice");
    ERR(INFERMETRICS_MetricArgsSetSummary(h, q, neg_e, 1, 0, 0), INFERMETRICS_ERROR_INVALID_ARG);
    ERR(INFERMETRICS_MetricArgsSetSummary(h, nan_q, e, 1, 0, 0), INFERMETRICS_ERROR_INVALID_ARG);
    ERR_NULL(INFERMETRICS_MetricArgsSetSummary(h, NULL, e, 1, 0, 0), "quantiles");
    ERR_NULL(INFERMETRICS_MetricArgsSetSummary(h, q, NULL, 1, 0, 0), "errors");
    ERR_NULL(INFERMETRICS_MetricArgsSetSummary(NULL, q, e, 1, 0, 0), "args");
    ERR(INFERMETRICS_MetricArgsSetSummary(h, q, e, 1, 0, 100000), INFERMETRICS_ERROR_INVALID_ARG);
  }
  /* no quantiles at all: only _sum and _count */
  OK(INFERMETRICS_MetricArgsSetSummary(h, NULL, NULL, 0, 0, 0));
  {
    INFERMETRICS_Metric* plain = METRIC_ARGS(f, h, 1, "model", "plain");
    OK(INFERMETRICS_MetricObserve(plain, 2.5));
    text = SNAPSHOT();
    CHECK_LINE(text, "t_latency_us_sum{model=\"plain\"} 2.5");
    CHECK_LINE(text, "t_latency_us_count{model=\"plain\"} 1");
    CHECK(strstr(text, "t_latency_us{model=\"plain\"") == NULL);
    free(text);
    OK(INFERMETRICS_MetricDelete(plain));
  }
  /* the same labels again share the series and keep its first quantiles */
  {
    INFERMETRICS_Metric* again = METRIC_ARGS(f, h, 1, "model", "resnet");
    OK(INFERMETRICS_MetricObserve(again, 1));
    text = SNAPSHOT();
    CHECK_LINE(text, "t_latency_us_count{model=\"resnet\"} 102");
    CHECK(count_lines_prefix(text, "t_latency_us{model=\"resnet\"") == 3);
    free(text);
    OK(INFERMETRICS_MetricDelete(again));
  }
  OK(INFERMETRICS_MetricDelete(m));
  text = SNAPSHOT();
  CHECK(strstr(text, "t_latency_us") == NULL);
  free(text);
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricArgsDelete(h));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* Each reported quantile's rank in the exact sorted data is within q ± error of the count. */
static void test_accuracy(void)
{
  static const double q[5] = {0.5, 0.9, 0.95, 0.99, 0.999};
  static const double e[5] = {0.05, 0.01, 0.001, 0.001, 0.001};
  static const char* qs[5] = {"0.5", "0.9", "0.95", "0.99", "0.999"};
  enum { N = 100000 };
  static double data[N], sorted[N];
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_SUMMARY, "t_accuracy_us", "accuracy");
  INFERMETRICS_MetricArgs* a = summary_args(q, e, 5, 0, 0);
  uint64_t x = 88172645463325252ull;
  int dist, i, k;
  for (dist = 0; dist < 3; ++dist) {
    const char* names[3] = {"exponential", "uniform", "lognormal"};
    INFERMETRICS_Metric* m = METRIC_ARGS(f, a, 1, "dist", names[dist]);
    char body[64];
    char* text;
    for (i = 0; i < N; ++i) {
      double u;
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      u = (double)(x >> 11) / 9007199254740992.0;
      if (dist == 0)
        data[i] = floor(-log(1.0 - u) * 2000.0); /* integer µs, as the reporter observes */
      else if (dist == 1)
        data[i] = u * 1000.0;
      else
        data[i] = exp(3.0 + 1.5 * sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * u));
      OK(INFERMETRICS_MetricObserve(m, data[i]));
    }
    memcpy(sorted, data, sizeof data);
    qsort(sorted, N, sizeof(double), cmp_double);
    snprintf(body, sizeof body, "dist=\"%s\"", names[dist]);
    text = SNAPSHOT();
    for (k = 0; k < 5; ++k) {
      double v = quantile_value(text, "t_accuracy_us", body, qs[k]);
      /* the ranks v takes in the data: [lo, hi] (1-based) */
      size_t lo = 0, hi = 0;
      for (i = 0; i < N; ++i) {
        if (sorted[i] < v) lo++;
        if (sorted[i] <= v) hi++;
      }
      lo += 1;
      {
        double want_lo = floor((q[k] - e[k]) * N), want_hi = ceil((q[k] + e[k]) * N);
        CHECKF(!isnan(v) && (double)hi >= want_lo && (double)lo <= want_hi,
               "%s q=%s: got %g with ranks %zu..%zu, exact rank window %.0f..%.0f", names[dist], qs[k], v, lo, hi,
               want_lo, want_hi);
      }
    }
    free(text);
    OK(INFERMETRICS_MetricDelete(m));
  }
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* max_age 600 ms in 3 age buckets: the quantiles cover 400..600 ms of history; after 800 ms
 * without observations they are NaN, while _sum and _count keep everything. */
static void test_window_expiry(void)
{
  static const double q[1] = {0.5};
  static const double e[1] = {0.01};
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_SUMMARY, "t_window_us", "window");
  INFERMETRICS_MetricArgs* a = summary_args(q, e, 1, 600, 3);
  INFERMETRICS_Metric* m = METRIC_ARGS(f, a, 0);
  char* text;
  int i;
  for (i = 0; i < 1000; ++i) OK(INFERMETRICS_MetricObserve(m, 10.0));
  text = SNAPSHOT();
  CHECK_LINE(text, "t_window_us{quantile=\"0.5\"} 10");
  free(text);
  sleep_ms(300);
  for (i = 0; i < 1000; ++i) OK(INFERMETRICS_MetricObserve(m, 20.0));
  text = SNAPSHOT(); /* both batches are within the window still */
  CHECKF(quantile_value(text, "t_window_us", "", "0.5") == 10.0 ||
             quantile_value(text, "t_window_us", "", "0.5") == 20.0,
         "median of 10s and 20s: %s", text);
  free(text);
  sleep_ms(450); /* the first batch is 750 ms old: out of every age bucket */
  text = SNAPSHOT();
  {
    double med = quantile_value(text, "t_window_us", "", "0.5");
    CHECKF(med == 20.0 || isnan(med), "after 750 ms only the second batch may remain: %s", text);
  }
  CHECK_LINE(text, "t_window_us_count 2000");
  CHECK_LINE(text, "t_window_us_sum 30000");
  free(text);
  sleep_ms(900);
  text = SNAPSHOT();
  CHECK_LINE(text, "t_window_us{quantile=\"0.5\"} NaN");
  CHECK_LINE(text, "t_window_us_count 2000");
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricArgsDelete(a));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

int main(void)
{
  test_text_and_errors();
  test_accuracy();
  test_window_expiry();
  return TEST_SUMMARY();
}

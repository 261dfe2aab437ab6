/*
 * Triton's inference statistics through INFERMETRICS_ModelReporter (issue 13): the inference
 * cases of Triton's L0_metrics / identity tests (triton-metrics.md §5, items 24-28, 30, 32, 38)
 * ported to the reporter, each model's series compared line by line with the expected text.
 *
 *   c_test_triton        every case below
 *   c_test_triton env    INFERMETRICS_METRICS_CONFIG (set by the program) wins over SetMetricsConfig
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "test_util.h"

/* A base far from 0 (timestamps must be non-zero). */
#define T 1000000000ull

/* ------------------------------------------------------------------ line comparison */

/* The sample lines (not # lines) of `text` that mention model="<model>". */
static size_t model_lines(const char* text, const char* model, char lines[][256], size_t max)
{
  char needle[128];
  size_t n = 0;
  const char* p = text;
  snprintf(needle, sizeof needle, "model=\"%s\"", model);
  while (*p) {
    const char* end = strchr(p, '\n');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    if (*p != '#' && l < 256) {
      char line[256];
      memcpy(line, p, l);
      line[l] = '\0';
      if (strstr(line, needle) != NULL && n < max) strcpy(lines[n++], line);
    }
    if (!end) break;
    p = end + 1;
  }
  return n;
}

typedef struct {
  char lines[256][256];
  size_t n;
} expect_t;

static void expect(expect_t* e, const char* fmt, ...)
{
  va_list ap;
  if (e->n >= 256) return;
  va_start(ap, fmt);
  vsnprintf(e->lines[e->n++], 256, fmt, ap);
  va_end(ap);
}

/* The model's series must be exactly the expected lines (any order), each once. */
#define CHECK_MODEL(model, e) check_model(__FILE__, __LINE__, (model), (e))
static void check_model(const char* file, int line, const char* model, const expect_t* e)
{
  static char got[512][256];
  char* text = tu_snapshot(file, line);
  size_t n = model_lines(text, model, got, 512), i, j;
  int bad = 0;
  ++tu_checks;
  for (i = 0; i < e->n; ++i) {
    size_t seen = 0;
    for (j = 0; j < n; ++j) seen += strcmp(got[j], e->lines[i]) == 0;
    if (seen != 1) {
      tu_fail(file, line, "model %s: expected line [%s] once, found %zu times", model, e->lines[i], seen);
      bad = 1;
    }
  }
  for (j = 0; j < n; ++j) {
    int known = 0;
    for (i = 0; i < e->n; ++i) known |= strcmp(got[j], e->lines[i]) == 0;
    if (!known) {
      tu_fail(file, line, "model %s: unexpected line [%s]", model, got[j]);
      bad = 1;
    }
  }
  if (bad) fprintf(stderr, "--- snapshot:\n%s---\n", text);
  free(text);
}

/* ------------------------------------------------------------------ helpers */

static INFERMETRICS_ModelReporter* reporter(const char* model, const char* version)
{
  INFERMETRICS_ModelReporter* r = NULL;
  OK(INFERMETRICS_ModelReporterNew(&r, model, version, NULL, 0));
  return r;
}

/* One successful request with these offsets (ns) from T. */
static INFERMETRICS_Error* request(INFERMETRICS_ModelReporter* r, uint64_t batch, uint64_t queue, uint64_t exec,
                                   uint64_t cstart, uint64_t cend, uint64_t eend, uint64_t end)
{
  return INFERMETRICS_ModelReporterReportRequest(r, true, NULL, batch, T, T + queue, T + exec, T + cstart, T + cend,
                                                 T + eend, T + end);
}

/* The always-present series of `m` (labels {model=m,version=1}) with these values. */
static void expect_base(expect_t* e, const char* m, int success, int count, int exec, const int failures[4],
                        int pending)
{
  static const char* reasons[4] = {"REJECTED", "CANCELED", "BACKEND", "OTHER"};
  int i;
  expect(e, "nv_inference_request_success{model=\"%s\",version=\"1\"} %d", m, success);
  for (i = 0; i < 4; ++i)
    expect(e, "nv_inference_request_failure{model=\"%s\",reason=\"%s\",version=\"1\"} %d", m, reasons[i],
           failures ? failures[i] : 0);
  expect(e, "nv_inference_count{model=\"%s\",version=\"1\"} %d", m, count);
  expect(e, "nv_inference_exec_count{model=\"%s\",version=\"1\"} %d", m, exec);
  expect(e, "nv_inference_pending_request_count{model=\"%s\",version=\"1\"} %d", m, pending);
}

static const char* LAT[5] = {"request", "queue", "compute_input", "compute_infer", "compute_output"};

static void expect_counters(expect_t* e, const char* m, const long us[5])
{
  int i;
  for (i = 0; i < 5; ++i) expect(e, "nv_inference_%s_duration_us{model=\"%s\",version=\"1\"} %ld", LAT[i], m, us[i]);
}

/* A histogram series holding the given observations (cumulative bucket lines, _sum, _count). */
static void expect_hist(expect_t* e, const char* name, const char* m, const double* bounds, int nb,
                        const double* obs, int n)
{
  int i, k;
  double sum = 0;
  for (i = 0; i <= nb; ++i) {
    int c = 0;
    char le[32];
    for (k = 0; k < n; ++k) c += (i == nb || obs[k] <= bounds[i]);
    if (i == nb)
      snprintf(le, sizeof le, "+Inf");
    else
      snprintf(le, sizeof le, "%.15g", bounds[i]);
    expect(e, "%s_bucket{model=\"%s\",version=\"1\",le=\"%s\"} %d", name, m, le, c);
  }
  for (k = 0; k < n; ++k) sum += obs[k];
  expect(e, "%s_sum{model=\"%s\",version=\"1\"} %.15g", name, m, sum);
  expect(e, "%s_count{model=\"%s\",version=\"1\"} %d", name, m, n);
}

/* A summary series whose window holds one value (every quantile is that value). */
static void expect_summary1(expect_t* e, const char* name, const char* m, const char* const* qs, int nq, long v)
{
  int i;
  for (i = 0; i < nq; ++i) expect(e, "%s{model=\"%s\",version=\"1\",quantile=\"%s\"} %ld", name, m, qs[i], v);
  expect(e, "%s_sum{model=\"%s\",version=\"1\"} %ld", name, m, v);
  expect(e, "%s_count{model=\"%s\",version=\"1\"} 1", name, m);
}

static const double DUR_BUCKETS[16] = {100, 250, 500, 1e3, 2.5e3, 5e3, 1e4, 2.5e4,
                                       5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7};

/* ------------------------------------------------------------------ cases */

/* L0 item 24: defaults, a model without cache: the counters, no histogram, no summary. */
static void test_defaults(void)
{
  static const long zero[5] = {0, 0, 0, 0, 0};
  expect_t e = {.n = 0};
  INFERMETRICS_ModelReporter* r;
  OK(INFERMETRICS_SetMetricsConfig(""));
  r = reporter("defaults", "1");
  expect_base(&e, "defaults", 0, 0, 0, NULL, 0);
  expect_counters(&e, "defaults", zero);
  CHECK_MODEL("defaults", &e);
  OK(INFERMETRICS_ModelReporterDelete(r));
  e.n = 0;
  CHECK_MODEL("defaults", &e); /* gone with its last reporter */
}

/* L0 item 38 (identity backend): 4 requests of batch 2 in one execution: success 4, count 8,
 * exec 1; every duration floored to µs per request before it is summed. */
static void test_success_arithmetic(void)
{
  expect_t e = {.n = 0};
  INFERMETRICS_ModelReporter* r = reporter("arith", "1");
  int i;
  for (i = 0; i < 4; ++i)
    /* queue 3999-1500 = 2499 ns, input 1001, infer 7345, output 654, request 20000 */
    OK(request(r, 2, 1500, 3999, 5000, 12345, 12999, 20000));
  OK(INFERMETRICS_ModelReporterReportBatch(r, 8, T + 3999, T + 5000, T + 12345, T + 12999));
  {
    static const long us[5] = {4 * 20, 4 * 2, 4 * 1, 4 * 7, 4 * 0};
    expect_base(&e, "arith", 4, 8, 1, NULL, 0);
    expect_counters(&e, "arith", us);
    CHECK_MODEL("arith", &e);
  }
  /* batch size 0 counts as 1 (Triton counts max(1, batch)); equal timestamps are in order */
  OK(INFERMETRICS_ModelReporterReportRequest(r, true, NULL, 0, T, T, T, T, T, T, T));
  e.n = 0;
  {
    static const long us[5] = {80, 8, 4, 28, 0};
    expect_base(&e, "arith", 5, 9, 1, NULL, 0);
    expect_counters(&e, "arith", us);
    CHECK_MODEL("arith", &e);
  }
  /* out of order, or zero where used: INVALID_ARG naming them, nothing recorded */
  ERR_MSG(request(r, 1, 5000, 4000, 6000, 7000, 8000, 9000), INFERMETRICS_ERROR_INVALID_ARG, "queue_start_ns");
  ERR_MSG(request(r, 1, 1000, 2000, 3000, 2500, 8000, 9000), INFERMETRICS_ERROR_INVALID_ARG, "compute_end_ns");
  ERR_MSG(request(r, 1, 1000, 2000, 3000, 4000, 8000, 7000), INFERMETRICS_ERROR_INVALID_ARG, "out of order");
  ERR_MSG(INFERMETRICS_ModelReporterReportRequest(r, true, NULL, 1, 0, T, T, T, T, T, T),
          INFERMETRICS_ERROR_INVALID_ARG, "request_start_ns");
  ERR_MSG(INFERMETRICS_ModelReporterReportRequest(r, true, NULL, 1, T, T, T, T, T, T, 0),
          INFERMETRICS_ERROR_INVALID_ARG, "is 0");
  ERR_MSG(INFERMETRICS_ModelReporterReportBatch(r, 1, T + 5, T + 4, T + 6, T + 7), INFERMETRICS_ERROR_INVALID_ARG,
          "exec_start_ns");
  ERR(INFERMETRICS_ModelReporterReportBatch(r, 1, 0, 0, 0, 0), INFERMETRICS_ERROR_INVALID_ARG);
  CHECK_MODEL("arith", &e);
  OK(INFERMETRICS_ModelReporterDelete(r));
}

/* Failures: one counter per reason, created eagerly at 0; only request start/end used. */
static void test_failures(void)
{
  static const long zero[5] = {0, 0, 0, 0, 0};
  static const int fails[4] = {1, 2, 3, 1}; /* REJECTED, CANCELED, BACKEND, OTHER */
  expect_t e = {.n = 0};
  INFERMETRICS_ModelReporter* r = reporter("fail", "1");
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, "REJECTED", 1, T, 0, 0, 0, 0, 0, T + 10));
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, "CANCELED", 1, T, 0, 0, 0, 0, 0, T + 10));
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, "CANCELED", 1, T, 0, 0, 0, 0, 0, T));
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, "BACKEND", 1, T, 0, 0, 0, 0, 0, T + 10));
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, NULL, 4, T, 0, 0, 0, 0, 0, T + 10)); /* NULL: BACKEND */
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, "BACKEND", 1, T, 9, 9, 9, 9, 9, T + 10));
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, "OTHER", 1, T, 0, 0, 0, 0, 0, T + 10));
  ERR_MSG(INFERMETRICS_ModelReporterReportRequest(r, false, "TIMEOUT", 1, T, 0, 0, 0, 0, 0, T + 10),
          INFERMETRICS_ERROR_INVALID_ARG, "TIMEOUT");
  ERR(INFERMETRICS_ModelReporterReportRequest(r, false, "rejected", 1, T, 0, 0, 0, 0, 0, T + 10),
      INFERMETRICS_ERROR_INVALID_ARG);
  ERR_MSG(INFERMETRICS_ModelReporterReportRequest(r, false, "OTHER", 1, T + 11, 0, 0, 0, 0, 0, T + 10),
          INFERMETRICS_ERROR_INVALID_ARG, "request_end_ns");
  ERR(INFERMETRICS_ModelReporterReportRequest(r, false, "OTHER", 1, 0, 0, 0, 0, 0, 0, T),
      INFERMETRICS_ERROR_INVALID_ARG);
  ERR_MSG(INFERMETRICS_ModelReporterReportRequest(r, true, "OTHER", 1, T, T, T, T, T, T, T),
          INFERMETRICS_ERROR_INVALID_ARG, "successful");
  expect_base(&e, "fail", 0, 0, 0, fails, 0);
  expect_counters(&e, "fail", zero);
  CHECK_MODEL("fail", &e);
  OK(INFERMETRICS_ModelReporterDelete(r));
}

/* Cache hits as Triton counts them: success +1, count unchanged, request and queue durations,
 * cache hit count and lookup duration; the cache series appear with the first hit. */
static void test_cache_hits(void)
{
  expect_t e = {.n = 0};
  INFERMETRICS_ModelReporter* r = reporter("cache", "1");
  static const long zero[5] = {0, 0, 0, 0, 0};
  expect_base(&e, "cache", 0, 0, 0, NULL, 0);
  expect_counters(&e, "cache", zero);
  CHECK_MODEL("cache", &e); /* no cache series before a hit */
  /* request 9999 ns (9 µs); lookup 2500 ns (2 µs) ends it, so queue = (T+9999-2500) - (T+1000) = 6499 (6 µs) */
  OK(INFERMETRICS_ModelReporterReportCacheHit(r, T, T + 1000, T + 9999, 2500));
  OK(INFERMETRICS_ModelReporterReportCacheHit(r, T, T + 1000, T + 9999, 2500));
  OK(request(r, 3, 0, 1000, 2000, 3000, 4000, 5000)); /* a miss served by the model */
  ERR_MSG(INFERMETRICS_ModelReporterReportCacheHit(r, T, T + 1000, T + 2000, 1001), INFERMETRICS_ERROR_INVALID_ARG,
          "lookup_ns");
  ERR(INFERMETRICS_ModelReporterReportCacheHit(r, T + 5, T + 1, T + 9, 0), INFERMETRICS_ERROR_INVALID_ARG);
  ERR(INFERMETRICS_ModelReporterReportCacheHit(r, T, T, 0, 0), INFERMETRICS_ERROR_INVALID_ARG);
  e.n = 0;
  {
    static const long us[5] = {9 + 9 + 5, 6 + 6 + 1, 1, 1, 1};
    expect_base(&e, "cache", 3, 3, 0, NULL, 0);
    expect_counters(&e, "cache", us);
  }
  expect(&e, "nv_cache_num_hits_per_model{model=\"cache\",version=\"1\"} 2");
  expect(&e, "nv_cache_hit_duration_per_model{model=\"cache\",version=\"1\"} 4");
  CHECK_MODEL("cache", &e);
  OK(INFERMETRICS_ModelReporterDelete(r));
}

/* L0 item 26 + issue #8125: counter_latencies=false drops the duration counters (and cache
 * counters) but success, failure, count and exec count still count. */
static void test_counter_latencies_off(void)
{
  static const int fails[4] = {0, 0, 1, 0};
  expect_t e = {.n = 0};
  INFERMETRICS_ModelReporter* r;
  OK(INFERMETRICS_SetMetricsConfig("counter_latencies=false"));
  r = reporter("nocounters", "1");
  OK(request(r, 2, 1000, 2000, 3000, 4000, 5000, 6000));
  OK(INFERMETRICS_ModelReporterReportBatch(r, 2, T + 2000, T + 3000, T + 4000, T + 5000));
  OK(INFERMETRICS_ModelReporterReportRequest(r, false, NULL, 1, T, 0, 0, 0, 0, 0, T + 1));
  OK(INFERMETRICS_ModelReporterReportCacheHit(r, T, T + 1000, T + 9999, 2500));
  OK(INFERMETRICS_ModelReporterPendingAdd(r, 3));
  OK(INFERMETRICS_ModelReporterPendingAdd(r, -1));
  expect_base(&e, "nocounters", 2, 2, 1, fails, 2);
  CHECK_MODEL("nocounters", &e);
  OK(INFERMETRICS_ModelReporterDelete(r));
  OK(INFERMETRICS_SetMetricsConfig(""));
}

/* L0 items 25, 32: histogram_latencies=true: the duration histograms (our addition) and the
 * first-response histogram; buckets set per reporter before the first report. */
static void test_histograms(void)
{
  static const double fr_default[4] = {100, 500, 2000, 5000};
  static const double custom[4] = {-1, 0, 1, 2.5};
  static const double req_buckets[3] = {10, 20, 30};
  static const long us[5] = {20, 2, 1, 7, 0};
  expect_t e = {.n = 0};
  INFERMETRICS_ModelReporter *r, *r2, *off;
  int i;
  OK(INFERMETRICS_SetMetricsConfig("histogram_latencies=true"));
  r = reporter("hist", "1");
  /* nothing yet: histograms appear with the first observation */
  expect_base(&e, "hist", 0, 0, 0, NULL, 0);
  {
    static const long zero[5] = {0, 0, 0, 0, 0};
    expect_counters(&e, "hist", zero);
  }
  CHECK_MODEL("hist", &e);
  OK(INFERMETRICS_ModelReporterSetHistogramBuckets(r, "nv_inference_request_duration_histogram_us", req_buckets, 3));
  ERR_MSG(INFERMETRICS_ModelReporterSetHistogramBuckets(r, "nv_inference_count", req_buckets, 3),
          INFERMETRICS_ERROR_INVALID_ARG, "not a customizable");
  ERR_MSG(INFERMETRICS_ModelReporterSetHistogramBuckets(r, "nv_inference_queue_duration_histogram_us", NULL, 0),
          INFERMETRICS_ERROR_INVALID_ARG, "non-empty");
  {
    static const double unsorted[2] = {2, 1};
    ERR(INFERMETRICS_ModelReporterSetHistogramBuckets(r, "nv_inference_queue_duration_histogram_us", unsorted, 2),
        INFERMETRICS_ERROR_INVALID_ARG);
  }
  OK(request(r, 1, 1500, 3999, 5000, 12345, 12999, 20000));
  OK(INFERMETRICS_ModelReporterFirstResponse(r, T, T + 1999999999ull)); /* 1999.999999 ms -> 1999 */
  OK(INFERMETRICS_ModelReporterFirstResponse(r, T, T + 50000000ull));   /* 50 ms */
  ERR(INFERMETRICS_ModelReporterFirstResponse(r, T + 2, T + 1), INFERMETRICS_ERROR_INVALID_ARG);
  ERR_MSG(INFERMETRICS_ModelReporterSetHistogramBuckets(r, "nv_inference_queue_duration_histogram_us", custom, 4),
          INFERMETRICS_ERROR_ALREADY_EXISTS, NULL);
  e.n = 0;
  expect_base(&e, "hist", 1, 1, 0, NULL, 0);
  expect_counters(&e, "hist", us);
  for (i = 0; i < 5; ++i) {
    char name[96];
    double v = (double)us[i];
    snprintf(name, sizeof name, "nv_inference_%s_duration_histogram_us", LAT[i]);
    if (i == 0)
      expect_hist(&e, name, "hist", req_buckets, 3, &v, 1);
    else
      expect_hist(&e, name, "hist", DUR_BUCKETS, 16, &v, 1);
  }
  {
    static const double fr[2] = {1999, 50};
    expect_hist(&e, "nv_inference_first_response_histogram_ms", "hist", fr_default, 4, fr, 2);
  }
  CHECK_MODEL("hist", &e);

  /* item 32: bucket override [-1, 0, 1, 2.5] on the first-response histogram */
  r2 = reporter("hist_fr", "1");
  OK(INFERMETRICS_ModelReporterSetHistogramBuckets(r2, "nv_inference_first_response_histogram_ms", custom, 4));
  OK(INFERMETRICS_ModelReporterFirstResponse(r2, T, T + 1500000)); /* 1 ms */
  {
    char* text = SNAPSHOT();
    CHECK(count_lines_prefix(text, "nv_inference_first_response_histogram_ms_bucket{model=\"hist_fr\"") == 5);
    CHECK_LINE(text, "nv_inference_first_response_histogram_ms_bucket{model=\"hist_fr\",version=\"1\",le=\"-1\"} 0");
    CHECK_LINE(text, "nv_inference_first_response_histogram_ms_bucket{model=\"hist_fr\",version=\"1\",le=\"0\"} 0");
    CHECK_LINE(text, "nv_inference_first_response_histogram_ms_bucket{model=\"hist_fr\",version=\"1\",le=\"1\"} 1");
    CHECK_LINE(text, "nv_inference_first_response_histogram_ms_bucket{model=\"hist_fr\",version=\"1\",le=\"2.5\"} 1");
    CHECK_LINE(text, "nv_inference_first_response_histogram_ms_bucket{model=\"hist_fr\",version=\"1\",le=\"+Inf\"} 1");
    free(text);
  }
  OK(INFERMETRICS_ModelReporterDelete(r2));
  OK(INFERMETRICS_ModelReporterDelete(r));

  /* ... and with histogram_latencies=false the family is absent despite the override */
  OK(INFERMETRICS_SetMetricsConfig("histogram_latencies=false"));
  off = reporter("hist_off", "1");
  OK(INFERMETRICS_ModelReporterSetHistogramBuckets(off, "nv_inference_first_response_histogram_ms", custom, 4));
  OK(INFERMETRICS_ModelReporterFirstResponse(off, T, T + 1500000));
  OK(request(off, 1, 1, 2, 3, 4, 5, 6));
  {
    char* text = SNAPSHOT();
    CHECK_NO_LINE_PREFIX(text, "nv_inference_first_response_histogram_ms");
    CHECK_NO_LINE_PREFIX(text, "nv_inference_request_duration_histogram_us");
    free(text);
  }
  OK(INFERMETRICS_ModelReporterDelete(off));
  OK(INFERMETRICS_SetMetricsConfig(""));
}

/* L0 items 26, 28: summary_latencies=true gives the five summaries with Triton's default
 * quantiles; summary_quantiles=0.1:0.0.1,0.7:0.01,0.75:0.01 gives quantiles 0.1, 0.7, 0.75. */
static void test_summaries(void)
{
  static const char* const triton_q[5] = {"0.5", "0.9", "0.95", "0.99", "0.999"};
  static const char* const custom_q[3] = {"0.1", "0.7", "0.75"};
  static const long us[5] = {20, 2, 1, 7, 0};
  expect_t e = {.n = 0};
  INFERMETRICS_ModelReporter* r;
  int i;
  OK(INFERMETRICS_SetMetricsConfig("summary_latencies=true;counter_latencies=false"));
  r = reporter("summ", "1");
  OK(request(r, 1, 1500, 3999, 5000, 12345, 12999, 20000));
  expect_base(&e, "summ", 1, 1, 0, NULL, 0);
  for (i = 0; i < 5; ++i) {
    char name[64];
    snprintf(name, sizeof name, "nv_inference_%s_summary_us", LAT[i]);
    expect_summary1(&e, name, "summ", triton_q, 5, us[i]);
  }
  CHECK_MODEL("summ", &e); /* counter latencies absent */
  /* a cache hit: the queue and cache-hit summaries observe, the request summary does not */
  OK(INFERMETRICS_ModelReporterReportCacheHit(r, T, T + 1000, T + 9999, 2500));
  {
    char* text = SNAPSHOT();
    CHECK_LINE(text, "nv_inference_request_summary_us_count{model=\"summ\",version=\"1\"} 1");
    CHECK_LINE(text, "nv_inference_queue_summary_us_count{model=\"summ\",version=\"1\"} 2");
    CHECK_LINE(text, "nv_inference_queue_summary_us_sum{model=\"summ\",version=\"1\"} 8");
    CHECK_LINE(text, "nv_cache_hit_summary_per_model_count{model=\"summ\",version=\"1\"} 1");
    CHECK_LINE(text, "nv_cache_hit_summary_per_model{model=\"summ\",version=\"1\",quantile=\"0.5\"} 2");
    CHECK_LINE(text, "# TYPE nv_inference_queue_summary_us summary");
    CHECK_NO_LINE_PREFIX(text, "nv_cache_num_hits_per_model{model=\"summ\"");
    free(text);
  }
  OK(INFERMETRICS_ModelReporterDelete(r));

  OK(INFERMETRICS_SetMetricsConfig("summary_latencies=true;summary_quantiles=0.1:0.0.1,0.7:0.01,0.75:0.01"));
  r = reporter("summq", "1");
  OK(request(r, 1, 1500, 3999, 5000, 12345, 12999, 20000));
  e.n = 0;
  expect_base(&e, "summq", 1, 1, 0, NULL, 0);
  expect_counters(&e, "summq", us);
  for (i = 0; i < 5; ++i) {
    char name[64];
    snprintf(name, sizeof name, "nv_inference_%s_summary_us", LAT[i]);
    expect_summary1(&e, name, "summq", custom_q, 3, us[i]);
  }
  CHECK_MODEL("summq", &e);
  OK(INFERMETRICS_ModelReporterDelete(r));
  OK(INFERMETRICS_SetMetricsConfig(""));
}

/* Reporters with the same labels share series; tags are `_key` labels; the series go with the
 * last reporter; pending count (item 30) moves with PendingAdd. */
static void test_sharing_and_tags(void)
{
  INFERMETRICS_Parameter* tag = tu_label("team", "vision");
  INFERMETRICS_Parameter* bad = tu_label("bad-name", "x");
  INFERMETRICS_Parameter* num;
  const INFERMETRICS_Parameter* tags[1] = {tag};
  const INFERMETRICS_Parameter* bads[1] = {bad};
  INFERMETRICS_ModelReporter *a = NULL, *b = NULL, *c = NULL;
  int64_t seven = 7;
  char* text;
  OK(INFERMETRICS_ModelReporterNew(&a, "shared", "2", tags, 1));
  OK(INFERMETRICS_ModelReporterNew(&b, "shared", "2", tags, 1));
  OK(INFERMETRICS_ModelReporterReportRequest(a, true, NULL, 1, T, T, T, T, T, T, T + 5000));
  OK(INFERMETRICS_ModelReporterReportRequest(b, true, NULL, 1, T, T, T, T, T, T, T + 5000));
  OK(INFERMETRICS_ModelReporterPendingAdd(a, 4));
  OK(INFERMETRICS_ModelReporterPendingAdd(b, -1));
  text = SNAPSHOT();
  CHECK_LINE(text, "nv_inference_request_success{_team=\"vision\",model=\"shared\",version=\"2\"} 2");
  CHECK_LINE(text, "nv_inference_request_duration_us{_team=\"vision\",model=\"shared\",version=\"2\"} 10");
  CHECK_LINE(text, "nv_inference_pending_request_count{_team=\"vision\",model=\"shared\",version=\"2\"} 3");
  free(text);
  OK(INFERMETRICS_ModelReporterDelete(a));
  text = SNAPSHOT();
  CHECK_LINE(text, "nv_inference_request_success{_team=\"vision\",model=\"shared\",version=\"2\"} 2");
  free(text);
  OK(INFERMETRICS_ModelReporterDelete(b));
  text = SNAPSHOT();
  CHECK(strstr(text, "model=\"shared\"") == NULL);
  free(text);
  ERR_NULL(INFERMETRICS_ModelReporterDelete(b), "reporter");

  /* argument checks */
  ERR_NAMED(INFERMETRICS_ModelReporterNew(&c, "m", "1", bads, 1), INFERMETRICS_ERROR_INVALID_ARG, "bad-name");
  num = INFERMETRICS_ParameterNew("n", INFERMETRICS_PARAMETER_INT, &seven);
  {
    const INFERMETRICS_Parameter* nums[1] = {num};
    ERR(INFERMETRICS_ModelReporterNew(&c, "m", "1", nums, 1), INFERMETRICS_ERROR_INVALID_ARG);
  }
  {
    const INFERMETRICS_Parameter* twice[2] = {tag, tag};
    ERR_MSG(INFERMETRICS_ModelReporterNew(&c, "m", "1", twice, 2), INFERMETRICS_ERROR_INVALID_ARG, "twice");
  }
  ERR_NULL(INFERMETRICS_ModelReporterNew(NULL, "m", "1", NULL, 0), "reporter");
  ERR_NULL(INFERMETRICS_ModelReporterNew(&c, NULL, "1", NULL, 0), "model");
  ERR_NULL(INFERMETRICS_ModelReporterNew(&c, "m", NULL, NULL, 0), "version");
  ERR_NULL(INFERMETRICS_ModelReporterNew(&c, "m", "1", NULL, 1), "tags");
  ERR(INFERMETRICS_ModelReporterNew(&c, "", "1", NULL, 0), INFERMETRICS_ERROR_INVALID_ARG);
  CHECK(c == NULL);
  ERR_NULL(INFERMETRICS_ModelReporterReportRequest(NULL, true, NULL, 1, T, T, T, T, T, T, T), "reporter");
  ERR_NULL(INFERMETRICS_ModelReporterPendingAdd(NULL, 1), "reporter");
  ERR_NULL(INFERMETRICS_ModelReporterSetHistogramBuckets(NULL, "x", NULL, 0), "reporter");
  ERR_NULL(INFERMETRICS_SetMetricsConfig(NULL), "config");
  INFERMETRICS_ParameterDelete(tag);
  INFERMETRICS_ParameterDelete(bad);
  INFERMETRICS_ParameterDelete(num);
}

/* Malformed --metrics-config settings are refused and change nothing. */
static void test_config_errors(void)
{
  INFERMETRICS_ModelReporter* r;
  char* text;
  OK(INFERMETRICS_SetMetricsConfig("summary_latencies=true"));
  ERR_MSG(INFERMETRICS_SetMetricsConfig("summary_latencies"), INFERMETRICS_ERROR_INVALID_ARG,
          "--metrics-config option format is <setting>=<value>");
  ERR(INFERMETRICS_SetMetricsConfig("=true"), INFERMETRICS_ERROR_INVALID_ARG);
  ERR(INFERMETRICS_SetMetricsConfig("counter_latencies="), INFERMETRICS_ERROR_INVALID_ARG);
  OK(INFERMETRICS_SetMetricsConfig("summary_latencies=true;unknown_setting=1;"));
  r = reporter("cfg", "1");
  text = SNAPSHOT();
  CHECK_LINE(text, "nv_inference_queue_summary_us_count{model=\"cfg\",version=\"1\"} 0");
  free(text);
  OK(INFERMETRICS_ModelReporterDelete(r));
  OK(INFERMETRICS_SetMetricsConfig(""));
}

/* ------------------------------------------------------------------ environment mode */

static char logged[4096];
static void on_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)level;
  (void)userp;
  if (strlen(logged) + strlen(message) + 2 < sizeof logged) {
    strcat(logged, message);
    strcat(logged, "\n");
  }
}

/* INFERMETRICS_METRICS_CONFIG="summary_latencies=true;summary_quantiles=0.5:0.01", set before
 * the first call of the library. */
static int env_mode(void)
{
  INFERMETRICS_ModelReporter* r;
  char* text;
  setenv("INFERMETRICS_METRICS_CONFIG", "summary_latencies=true;summary_quantiles=0.5:0.01", 1);
  OK(INFERMETRICS_SetLogCallback(on_log, NULL));
  OK(INFERMETRICS_SetMetricsConfig("counter_latencies=false"));
  CHECKF(strstr(logged, "INFERMETRICS_METRICS_CONFIG") != NULL && strstr(logged, "wins") != NULL,
         "expected a log line saying the environment wins, got: %s", logged);
  r = reporter("envmodel", "1");
  OK(request(r, 1, 1000, 2000, 3000, 4000, 5000, 6000));
  text = SNAPSHOT();
  CHECK_LINE(text, "nv_inference_request_summary_us{model=\"envmodel\",version=\"1\",quantile=\"0.5\"} 6");
  CHECK_LINE(text, "nv_inference_request_duration_us{model=\"envmodel\",version=\"1\"} 6"); /* counters stay */
  CHECK(strstr(text, "quantile=\"0.9\"") == NULL);
  free(text);
  OK(INFERMETRICS_ModelReporterDelete(r));
  OK(INFERMETRICS_SetLogCallback(NULL, NULL));
  return TEST_SUMMARY();
}

int main(int argc, char** argv)
{
  if (argc > 1 && strcmp(argv[1], "env") == 0) return env_mode();
  test_defaults();
  test_success_arithmetic();
  test_failures();
  test_cache_hits();
  test_counter_latencies_off();
  test_histograms();
  test_summaries();
  test_sharing_and_tags();
  test_config_errors();
  return TEST_SUMMARY();
}

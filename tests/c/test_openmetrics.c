/*
 * OpenMetrics 1.0 output and exemplars (issue 12): every error case of
 * INFERMETRICS_MetricIncrementWithExemplar and INFERMETRICS_MetricObserveWithExemplar, the
 * OpenMetrics text of each kind with and without exemplars, and that 0.0.4 never shows one.
 */
#include "test_util.h"

/* The registry as OpenMetrics text (malloc'd copy; free() it). */
static char* om_snapshot(void)
{
  INFERMETRICS_Metrics* metrics = NULL;
  const char* base = "";
  size_t size = 0;
  char* copy;
  OK(INFERMETRICS_ServerMetrics(NULL, &metrics));
  if (!OK(INFERMETRICS_MetricsFormatted(metrics, INFERMETRICS_METRIC_OPENMETRICS, &base, &size))) {
    base = "";
    size = 0;
  }
  copy = (char*)malloc(size + 1);
  memcpy(copy, base, size);
  copy[size] = '\0';
  OK(INFERMETRICS_MetricsDelete(metrics));
  return copy;
}

/* Does text end with "# EOF\n" (and have it once)? */
static void check_eof(const char* text)
{
  size_t n = strlen(text);
  CHECKF(n >= 6 && strcmp(text + n - 6, "# EOF\n") == 0, "OpenMetrics text must end with # EOF:\n%s", text);
  CHECK_COUNT(text, "# EOF", 1);
}

/* The line starting with prefix (its first occurrence), or NULL. */
static const char* find_line(const char* text, const char* prefix)
{
  const char* p = text;
  size_t n = strlen(prefix);
  while (p && *p) {
    if (strncmp(p, prefix, n) == 0) return p;
    p = strchr(p, '\n');
    if (p) ++p;
  }
  return NULL;
}

/* The line starting with `prefix` must be `prefix` + " # {labels} value <timestamp>". */
static void check_exemplar(const char* text, const char* prefix, const char* exemplar)
{
  const char* line = find_line(text, prefix);
  char want[512];
  double ts;
  char* end;
  snprintf(want, sizeof want, "%s # %s ", prefix, exemplar);
  CHECKF(line != NULL && strncmp(line, want, strlen(want)) == 0, "expected a line starting [%s] in:\n%s", want, text);
  if (line == NULL || strncmp(line, want, strlen(want)) != 0) return;
  ts = strtod(line + strlen(want), &end);
  CHECKF(ts > 1.6e9 && ts < 4e9 && *end == '\n', "exemplar timestamp of [%s] is not wall-clock seconds", prefix);
}

static void test_exemplar_errors(void)
{
  const double b[] = {1.0, 2.0};
  INFERMETRICS_MetricArgs* ha = HIST_ARGS(b, 2);
  INFERMETRICS_MetricArgs* sa = NULL;
  const double q[] = {0.5}, e[] = {0.05};
  INFERMETRICS_MetricFamily* cf = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "om_err_c", "");
  INFERMETRICS_MetricFamily* gf = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "om_err_g", "");
  INFERMETRICS_MetricFamily* hf = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "om_err_h", "");
  INFERMETRICS_MetricFamily* sf = FAMILY(INFERMETRICS_METRIC_KIND_SUMMARY, "om_err_s", "");
  INFERMETRICS_Metric *c, *g, *h, *s;
  const INFERMETRICS_Parameter* ok[1];
  const INFERMETRICS_Parameter* bad[2];
  INFERMETRICS_Parameter* trace = tu_label("trace_id", "abc");
  int64_t i64 = 7;
  INFERMETRICS_Parameter* not_string = INFERMETRICS_ParameterNew("n", INFERMETRICS_PARAMETER_INT, &i64);
  INFERMETRICS_Parameter* bad_name = tu_label("1bad", "x");
  INFERMETRICS_Parameter* reserved = tu_label("__x", "x");
  INFERMETRICS_Parameter* trace2 = tu_label("trace_id", "def");
  char long_value[200];
  INFERMETRICS_Parameter *p128, *p129;
  char* text;

  OK(INFERMETRICS_MetricArgsNew(&sa));
  OK(INFERMETRICS_MetricArgsSetSummary(sa, q, e, 1, 0, 0));
  c = METRIC(cf, 0);
  g = METRIC(gf, 0);
  h = METRIC_ARGS(hf, ha, 0);
  s = METRIC_ARGS(sf, sa, 0);
  ok[0] = trace;

  /* 128 characters (names + values) pass, 129 do not: "trace_id" is 8 */
  memset(long_value, 'v', sizeof long_value);
  long_value[120] = '\0';
  p128 = tu_label("trace_id", long_value);
  long_value[120] = 'v';
  long_value[121] = '\0';
  p129 = tu_label("trace_id", long_value);

  /* NULL metric */
  ERR_NULL(INFERMETRICS_MetricIncrementWithExemplar(NULL, 1, ok, 1), "metric");
  ERR_NULL(INFERMETRICS_MetricObserveWithExemplar(NULL, 1, ok, 1), "metric");
  /* NULL array with a count; NULL entry */
  ERR(INFERMETRICS_MetricIncrementWithExemplar(c, 1, NULL, 1), INFERMETRICS_ERROR_INVALID_ARG);
  ERR(INFERMETRICS_MetricObserveWithExemplar(h, 1, NULL, 2), INFERMETRICS_ERROR_INVALID_ARG);
  bad[0] = trace;
  bad[1] = NULL;
  ERR_MSG(INFERMETRICS_MetricIncrementWithExemplar(c, 1, bad, 2), INFERMETRICS_ERROR_INVALID_ARG, "exemplar_labels[1]");
  ERR_MSG(INFERMETRICS_MetricObserveWithExemplar(h, 1, bad, 2), INFERMETRICS_ERROR_INVALID_ARG, "exemplar_labels[1]");
  /* non-STRING, invalid names, duplicates */
  CHECK(not_string != NULL);
  bad[0] = not_string;
  ERR_MSG(INFERMETRICS_MetricIncrementWithExemplar(c, 1, bad, 1), INFERMETRICS_ERROR_INVALID_ARG, "STRING");
  ERR_MSG(INFERMETRICS_MetricObserveWithExemplar(h, 1, bad, 1), INFERMETRICS_ERROR_INVALID_ARG, "STRING");
  bad[0] = bad_name;
  ERR_NAMED(INFERMETRICS_MetricIncrementWithExemplar(c, 1, bad, 1), INFERMETRICS_ERROR_INVALID_ARG, "1bad");
  ERR_NAMED(INFERMETRICS_MetricObserveWithExemplar(h, 1, bad, 1), INFERMETRICS_ERROR_INVALID_ARG, "1bad");
  bad[0] = reserved;
  ERR_NAMED(INFERMETRICS_MetricIncrementWithExemplar(c, 1, bad, 1), INFERMETRICS_ERROR_INVALID_ARG, "__x");
  bad[0] = trace;
  bad[1] = trace2;
  ERR_NAMED(INFERMETRICS_MetricIncrementWithExemplar(c, 1, bad, 2), INFERMETRICS_ERROR_INVALID_ARG, "trace_id");
  ERR_NAMED(INFERMETRICS_MetricObserveWithExemplar(h, 1, bad, 2), INFERMETRICS_ERROR_INVALID_ARG, "trace_id");
  /* the 128-character limit, named with the count */
  bad[0] = p129;
  ERR_MSG(INFERMETRICS_MetricIncrementWithExemplar(c, 1, bad, 1), INFERMETRICS_ERROR_INVALID_ARG, "129");
  ERR_MSG(INFERMETRICS_MetricObserveWithExemplar(h, 1, bad, 1), INFERMETRICS_ERROR_INVALID_ARG, "at most 128");
  /* what the plain call refuses */
  ERR(INFERMETRICS_MetricIncrementWithExemplar(c, -1, ok, 1), INFERMETRICS_ERROR_INVALID_ARG);
  ERR(INFERMETRICS_MetricIncrementWithExemplar(c, NAN, ok, 1), INFERMETRICS_ERROR_INVALID_ARG);
  ERR(INFERMETRICS_MetricObserveWithExemplar(h, NAN, ok, 1), INFERMETRICS_ERROR_INVALID_ARG);
  /* wrong kinds */
  ERR(INFERMETRICS_MetricIncrementWithExemplar(g, 1, ok, 1), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR(INFERMETRICS_MetricIncrementWithExemplar(h, 1, ok, 1), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR(INFERMETRICS_MetricIncrementWithExemplar(s, 1, ok, 1), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR(INFERMETRICS_MetricObserveWithExemplar(c, 1, ok, 1), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR(INFERMETRICS_MetricObserveWithExemplar(g, 1, ok, 1), INFERMETRICS_ERROR_UNSUPPORTED);
  ERR_MSG(INFERMETRICS_MetricObserveWithExemplar(s, 1, ok, 1), INFERMETRICS_ERROR_UNSUPPORTED,
          "OpenMetrics has no exemplars on summaries");

  /* nothing was recorded by any of the failures */
  CHECK_VALUE(c, 0);
  CHECK_VALUE(g, 0);
  text = om_snapshot();
  CHECK_LINE(text, "om_err_c_total 0");
  CHECK_LINE(text, "om_err_h_count 0");
  CHECK_LINE(text, "om_err_s_count 0");
  CHECK(strstr(text, " # {") == NULL);
  free(text);

  /* the limits themselves and the empty cases succeed */
  bad[0] = p128;
  OK(INFERMETRICS_MetricIncrementWithExemplar(c, 1, bad, 1));
  OK(INFERMETRICS_MetricObserveWithExemplar(h, 1, bad, 1));
  OK(INFERMETRICS_MetricIncrementWithExemplar(c, 1, NULL, 0));
  OK(INFERMETRICS_MetricObserveWithExemplar(h, 5, NULL, 0));
  CHECK_VALUE(c, 2);
  text = om_snapshot();
  check_exemplar(text, "om_err_c_total 2", "{} 1");
  check_exemplar(text, "om_err_h_bucket{le=\"+Inf\"} 2", "{} 5");
  check_exemplar(text, "om_err_h_bucket{le=\"1\"} 1", "{trace_id=\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\"} 1");
  free(text);

  INFERMETRICS_ParameterDelete(trace);
  INFERMETRICS_ParameterDelete(trace2);
  INFERMETRICS_ParameterDelete(not_string);
  INFERMETRICS_ParameterDelete(bad_name);
  INFERMETRICS_ParameterDelete(reserved);
  INFERMETRICS_ParameterDelete(p128);
  INFERMETRICS_ParameterDelete(p129);
  OK(INFERMETRICS_MetricDelete(c));
  OK(INFERMETRICS_MetricDelete(g));
  OK(INFERMETRICS_MetricDelete(h));
  OK(INFERMETRICS_MetricDelete(s));
  OK(INFERMETRICS_MetricFamilyDelete(cf));
  OK(INFERMETRICS_MetricFamilyDelete(gf));
  OK(INFERMETRICS_MetricFamilyDelete(hf));
  OK(INFERMETRICS_MetricFamilyDelete(sf));
  OK(INFERMETRICS_MetricArgsDelete(ha));
  OK(INFERMETRICS_MetricArgsDelete(sa));
}

static void test_openmetrics_text(void)
{
  const double b[] = {0.1, 1.0};
  INFERMETRICS_MetricArgs* ha = HIST_ARGS(b, 2);
  INFERMETRICS_MetricArgs* sa = NULL;
  const double q[] = {0.5}, e[] = {0.05};
  INFERMETRICS_MetricFamily* cf = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "om_requests", "Requests \"ok\"\nsecond");
  INFERMETRICS_MetricFamily* tf = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "om_cpu_seconds_total", "");
  INFERMETRICS_MetricFamily* gf = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "om_temp_celsius", "t");
  INFERMETRICS_MetricFamily* hf = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "om_latency_seconds", "");
  INFERMETRICS_MetricFamily* sf = FAMILY(INFERMETRICS_METRIC_KIND_SUMMARY, "om_size_bytes", "");
  INFERMETRICS_Metric *c, *t, *g, *h, *s;
  INFERMETRICS_Parameter* trace = tu_label("trace_id", "abc");
  INFERMETRICS_Parameter* quote = tu_label("q", "a\"b\\c\nd");
  const INFERMETRICS_Parameter* ex[2];
  char *text, *plain;

  OK(INFERMETRICS_MetricArgsNew(&sa));
  OK(INFERMETRICS_MetricArgsSetSummary(sa, q, e, 1, 0, 0));
  c = METRIC(cf, 1, "model", "m\"1");
  t = METRIC(tf, 0);
  g = METRIC(gf, 0);
  h = METRIC_ARGS(hf, ha, 1, "model", "x");
  s = METRIC_ARGS(sf, sa, 0);
  OK(INFERMETRICS_MetricIncrement(c, 3));
  OK(INFERMETRICS_MetricIncrement(t, 1.5));
  OK(INFERMETRICS_MetricSet(g, 21.5));
  OK(INFERMETRICS_MetricObserve(h, 0.05));
  OK(INFERMETRICS_MetricObserve(s, 7));

  /* without exemplars */
  text = om_snapshot();
  check_eof(text);
  CHECK_LINE(text, "# HELP om_requests Requests \\\"ok\\\"\\nsecond");
  CHECK_LINE(text, "# TYPE om_requests counter");
  CHECK_LINE(text, "om_requests_total{model=\"m\\\"1\"} 3");
  CHECK_LINE(text, "# TYPE om_cpu_seconds counter");
  CHECK_LINE(text, "# UNIT om_cpu_seconds seconds");
  CHECK_LINE(text, "om_cpu_seconds_total 1.5");
  CHECK_LINE(text, "# TYPE om_temp_celsius gauge");
  CHECK_LINE(text, "# UNIT om_temp_celsius celsius");
  CHECK_LINE(text, "om_temp_celsius 21.5");
  CHECK_LINE(text, "# UNIT om_latency_seconds seconds");
  CHECK_LINE(text, "om_latency_seconds_bucket{model=\"x\",le=\"0.1\"} 1");
  CHECK_LINE(text, "om_latency_seconds_bucket{model=\"x\",le=\"+Inf\"} 1");
  CHECK_LINE(text, "om_latency_seconds_sum{model=\"x\"} 0.05");
  CHECK_LINE(text, "om_latency_seconds_count{model=\"x\"} 1");
  CHECK_LINE(text, "# TYPE om_size_bytes summary");
  CHECK_LINE(text, "om_size_bytes{quantile=\"0.5\"} 7");
  CHECK_LINE(text, "om_size_bytes_count 1");
  CHECK(strstr(text, " # {") == NULL);
  free(text);

  /* with exemplars: the counter, and the bucket each value falls in (the latest wins) */
  ex[0] = trace;
  ex[1] = quote;
  OK(INFERMETRICS_MetricIncrementWithExemplar(c, 2, ex, 1));
  OK(INFERMETRICS_MetricIncrementWithExemplar(c, 4, ex, 2));
  OK(INFERMETRICS_MetricObserveWithExemplar(h, 0.5, ex, 1));
  OK(INFERMETRICS_MetricObserveWithExemplar(h, 7, ex, 2));
  CHECK_VALUE(c, 9);
  text = om_snapshot();
  check_eof(text);
  check_exemplar(text, "om_requests_total{model=\"m\\\"1\"} 9", "{q=\"a\\\"b\\\\c\\nd\",trace_id=\"abc\"} 4");
  check_exemplar(text, "om_latency_seconds_bucket{model=\"x\",le=\"1\"} 2", "{trace_id=\"abc\"} 0.5");
  check_exemplar(text, "om_latency_seconds_bucket{model=\"x\",le=\"+Inf\"} 3", "{q=\"a\\\"b\\\\c\\nd\",trace_id=\"abc\"} 7");
  CHECK_LINE(text, "om_latency_seconds_bucket{model=\"x\",le=\"0.1\"} 1");
  CHECK_LINE(text, "om_latency_seconds_count{model=\"x\"} 3");
  CHECK_COUNT(text, " # {", 3);
  free(text);

  /* 0.0.4 never shows exemplars, nor the OpenMetrics spellings */
  plain = SNAPSHOT();
  CHECK(strstr(plain, "trace_id") == NULL);
  CHECK(strstr(plain, " # ") == NULL);
  CHECK(strstr(plain, "# EOF") == NULL);
  CHECK(strstr(plain, "# UNIT") == NULL);
  CHECK_LINE(plain, "om_requests{model=\"m\\\"1\"} 9");
  CHECK_LINE(plain, "om_cpu_seconds_total 1.5");
  CHECK_LINE(plain, "om_latency_seconds_bucket{model=\"x\",le=\"+Inf\"} 3");
  free(plain);

  /* deleting a series drops its exemplars with it */
  OK(INFERMETRICS_MetricDelete(c));
  c = METRIC(cf, 1, "model", "m\"1");
  text = om_snapshot();
  CHECK_LINE(text, "om_requests_total{model=\"m\\\"1\"} 0");
  free(text);

  INFERMETRICS_ParameterDelete(trace);
  INFERMETRICS_ParameterDelete(quote);
  OK(INFERMETRICS_MetricDelete(c));
  OK(INFERMETRICS_MetricDelete(t));
  OK(INFERMETRICS_MetricDelete(g));
  OK(INFERMETRICS_MetricDelete(h));
  OK(INFERMETRICS_MetricDelete(s));
  OK(INFERMETRICS_MetricFamilyDelete(cf));
  OK(INFERMETRICS_MetricFamilyDelete(tf));
  OK(INFERMETRICS_MetricFamilyDelete(gf));
  OK(INFERMETRICS_MetricFamilyDelete(hf));
  OK(INFERMETRICS_MetricFamilyDelete(sf));
  OK(INFERMETRICS_MetricArgsDelete(ha));
  OK(INFERMETRICS_MetricArgsDelete(sa));
}

static void test_empty_registry_openmetrics(void)
{
  char* text = om_snapshot();
  CHECKF(strcmp(text, "# EOF\n") == 0, "an empty registry in OpenMetrics is just # EOF, got:\n%s", text);
  free(text);
}

int main(void)
{
  test_empty_registry_openmetrics();
  test_exemplar_errors();
  test_openmetrics_text();
  test_empty_registry_openmetrics();
  return TEST_SUMMARY();
}

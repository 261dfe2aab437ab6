/*
 * c_test_cardinality (issue 7): the per-family series limit and empty label values.
 *
 * `c_test_cardinality` (no argument; INFERMETRICS_MAX_SERIES_PER_FAMILY unset):
 *   - INFERMETRICS_SetMaxSeriesPerFamily(10): 10 series of a family are created, the 11th gives
 *     UNAVAILABLE naming the family and the limit 10, and leaves *metric untouched; the same
 *     labels again (an existing series) succeed at the limit and share the series; once every
 *     handle of one series is deleted a new series fits again; each family has its own count
 *     (counters, gauges and histograms alike); one log line per family, the first time only;
 *     nv_metric_series_rejected_total{family="NAME"} counts the rejected creations;
 *     lowering the limit below a family's size keeps its series working; 0 lifts the limit.
 *   - empty label values are absent labels: {a=""} is {}, {a="",b="x"} is {b="x"} (one shared,
 *     reference-counted series), for counters, gauges and histograms; no `=""` in the text,
 *     and no render ever holds two samples of one series.
 * `c_test_cardinality env` (run by CTest with INFERMETRICS_MAX_SERIES_PER_FAMILY=3): the
 *   variable wins over SetMaxSeriesPerFamily(100) and (0), with a log line saying so.
 */
#include <ctype.h>

#include "test_util.h"

/* ---------------------------------------------------------------- log capture */

#define MAX_LOG 256
static char* g_log[MAX_LOG];
static int g_nlog = 0;

static void capture_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)level;
  (void)userp;
  if (g_nlog < MAX_LOG) g_log[g_nlog++] = strdup(message);
}

/* Log lines since `from` that contain `needle`. */
static int log_count(int from, const char* needle)
{
  int n = 0;
  for (int i = from; i < g_nlog; ++i)
    if (strstr(g_log[i], needle)) ++n;
  return n;
}

static void log_dump(int from)
{
  for (int i = from; i < g_nlog; ++i) fprintf(stderr, "  log: %s\n", g_log[i]);
}

/* ---------------------------------------------------------------- helpers */

/* msg holds the decimal number n as a whole token (not inside a longer number). */
static int has_number(const char* msg, unsigned long long n)
{
  char buf[32];
  size_t len;
  const char* p = msg;
  snprintf(buf, sizeof buf, "%llu", n);
  len = strlen(buf);
  while ((p = strstr(p, buf)) != NULL) {
    int before = p > msg && isdigit((unsigned char)p[-1]);
    int after = isdigit((unsigned char)p[len]);
    if (!before && !after) return 1;
    p += len;
  }
  return 0;
}

/* MetricNew with one label pair (or none when name is NULL); returns the error. */
static INFERMETRICS_Error* try_metric(INFERMETRICS_MetricFamily* f, const INFERMETRICS_MetricArgs* args,
                                      INFERMETRICS_Metric** out, const char* name, const char* value)
{
  INFERMETRICS_Parameter* p = name ? tu_label(name, value) : NULL;
  const INFERMETRICS_Parameter* labels[] = {p};
  INFERMETRICS_Error* e = INFERMETRICS_MetricNewWithArgs(out, f, p ? labels : NULL, p ? 1 : 0, args);
  INFERMETRICS_ParameterDelete(p);
  return e;
}

/* The creation must be refused for the limit: UNAVAILABLE, naming the family and the limit. */
static void expect_limited(int line, INFERMETRICS_MetricFamily* f, const INFERMETRICS_MetricArgs* args,
                           const char* family, unsigned long long limit, const char* name, const char* value)
{
  INFERMETRICS_Metric* m = (INFERMETRICS_Metric*)(uintptr_t)0x5a5a;
  INFERMETRICS_Error* e = try_metric(f, args, &m, name, value);
  ++tu_checks;
  if (e == NULL) {
    tu_fail(__FILE__, line, "%s{%s%s%s%s}: expected UNAVAILABLE (limit %llu), got success", family, name ? name : "",
            name ? "=\"" : "", name ? value : "", name ? "\"" : "", limit);
    INFERMETRICS_ErrorDelete(INFERMETRICS_MetricDelete(m));
    return;
  }
  {
    const char* msg = INFERMETRICS_ErrorMessage(e);
    int code = (int)INFERMETRICS_ErrorCode(e);
    if (code != INFERMETRICS_ERROR_UNAVAILABLE)
      tu_fail(__FILE__, line, "%s{%s%s%s%s}: expected UNAVAILABLE, got %s: %s", family, name ? name : "",
              name ? "=\"" : "", name ? value : "", name ? "\"" : "", tu_code_name(code), msg);
    if (!tu_names(msg, family))
      tu_fail(__FILE__, line, "the limit message should name the family '%s', got: %s", family, msg);
    if (!has_number(msg, limit))
      tu_fail(__FILE__, line, "the limit message should give the limit %llu, got: %s", limit, msg);
    if (m != (INFERMETRICS_Metric*)(uintptr_t)0x5a5a)
      tu_fail(__FILE__, line, "a refused MetricNew wrote *metric (%p)", (void*)m);
  }
  INFERMETRICS_ErrorDelete(e);
}
#define EXPECT_LIMITED(f, args, family, limit, name, value) \
  expect_limited(__LINE__, (f), (args), (family), (limit), (name), (value))

/*
 * The series of a sample line (the text before the value) as Prometheus identifies it: the
 * name, then the labels without those whose value is empty, sorted by name. Returns a malloc'd
 * string, or NULL if the line does not parse.
 */
typedef struct {
  const char* p; /* name="value" */
  size_t n;
} label_pair;

static char* series_key(const char* line, size_t len)
{
  const char* end = line + len;
  const char* brace = memchr(line, '{', len);
  char* out;
  size_t npairs = 0;
  label_pair pairs[64];
  if (brace == NULL) {
    out = (char*)malloc(len + 1);
    memcpy(out, line, len);
    out[len] = '\0';
    return out;
  }
  {
    const char* p = brace + 1;
    while (p < end && *p != '}') {
      const char* start = p;
      const char* eq = p;
      while (eq < end && *eq != '=') ++eq;
      if (eq + 1 >= end || eq[1] != '"') return NULL;
      p = eq + 2;
      while (p < end && *p != '"') p += (*p == '\\') ? 2 : 1;
      if (p >= end) return NULL;
      ++p; /* past the closing quote */
      if (p - eq - 1 > 2 && npairs < 64) { /* value not empty */
        pairs[npairs].p = start;
        pairs[npairs].n = (size_t)(p - start);
        ++npairs;
      }
      if (p < end && *p == ',') ++p;
    }
  }
  /* sort the pairs (insertion sort: a handful at most) */
  for (size_t i = 1; i < npairs; ++i)
    for (size_t j = i; j > 0; --j) {
      size_t m = pairs[j].n < pairs[j - 1].n ? pairs[j].n : pairs[j - 1].n;
      int c = memcmp(pairs[j].p, pairs[j - 1].p, m);
      if (c < 0 || (c == 0 && pairs[j].n < pairs[j - 1].n)) {
        label_pair t = pairs[j];
        pairs[j] = pairs[j - 1];
        pairs[j - 1] = t;
      } else {
        break;
      }
    }
  out = (char*)malloc(len + 3);
  {
    size_t o = (size_t)(brace - line);
    memcpy(out, line, o);
    if (npairs == 0) { /* {} and {a=""} are the bare name */
      out[o] = '\0';
      return out;
    }
    out[o++] = '{';
    for (size_t i = 0; i < npairs; ++i) {
      if (i) out[o++] = ',';
      memcpy(out + o, pairs[i].p, pairs[i].n);
      o += pairs[i].n;
    }
    out[o++] = '}';
    out[o] = '\0';
  }
  return out;
}

/* No two sample lines of one render are the same series (as Prometheus sees it: labels with an
   empty value dropped, label order ignored). */
static void check_no_duplicate_series(int line, const char* text)
{
  size_t cap = 1024, n = 0;
  char** keys = (char**)malloc(cap * sizeof *keys);
  char** lines = (char**)malloc(cap * sizeof *lines);
  const char* p = text;
  while (*p) {
    const char* end = strchr(p, '\n');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    if (l > 0 && p[0] != '#') {
      const char* sp = p + l;
      while (sp > p && sp[-1] != ' ') --sp; /* the value is after the last space */
      if (sp > p) {
        char* k = series_key(p, (size_t)(sp - p - 1));
        ++tu_checks;
        if (k == NULL) {
          tu_fail(__FILE__, line, "cannot parse the sample line [%.*s]", (int)l, p);
        } else {
          if (n == cap) {
            cap *= 2;
            keys = (char**)realloc(keys, cap * sizeof *keys);
            lines = (char**)realloc(lines, cap * sizeof *lines);
          }
          keys[n] = k;
          lines[n] = strndup(p, l);
          ++n;
        }
      }
    }
    if (!end) break;
    p = end + 1;
  }
  ++tu_checks;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j)
      if (strcmp(keys[i], keys[j]) == 0)
        tu_fail(__FILE__, line, "two samples of the series %s in one render: [%s] and [%s]", keys[i], lines[i],
                lines[j]);
  for (size_t i = 0; i < n; ++i) {
    free(keys[i]);
    free(lines[i]);
  }
  free(keys);
  free(lines);
}

/* The value of the sample line `series ` (exactly), or NAN if absent. */
static double sample_value(const char* text, const char* series)
{
  size_t len = strlen(series);
  const char* p = text;
  while (*p) {
    if (strncmp(p, series, len) == 0 && p[len] == ' ') return strtod(p + len + 1, NULL);
    p = strchr(p, '\n');
    if (!p) break;
    ++p;
  }
  return NAN;
}

static void check_rejected(int line, const char* family, double want)
{
  char series[256];
  char* text = SNAPSHOT();
  double got;
  snprintf(series, sizeof series, "nv_metric_series_rejected_total{family=\"%s\"}", family);
  got = sample_value(text, series);
  ++tu_checks;
  if (isnan(want) ? !isnan(got) : !(got == want)) {
    if (isnan(want))
      tu_fail(__FILE__, line, "expected no line [%s] before any rejection, got one with value %g", series, got);
    else if (isnan(got))
      tu_fail(__FILE__, line, "expected the line [%s %g] in the render, found no such line", series, want);
    else
      tu_fail(__FILE__, line, "expected the line [%s %g] in the render, got the value %g", series, want, got);
  }
  if (want > 0 && !isnan(got)) {
    ++tu_checks;
    if (count_lines_equal(text, "# TYPE nv_metric_series_rejected_total counter") != 1)
      tu_fail(__FILE__, line, "expected [# TYPE nv_metric_series_rejected_total counter] once");
  }
  check_no_duplicate_series(line, text);
  free(text);
}
#define CHECK_REJECTED(family, want) check_rejected(__LINE__, (family), (want))

/* ---------------------------------------------------------------- the limit, set by the call */

static void test_limit_by_call(void)
{
  const char* fam = "card_limited_total";
  INFERMETRICS_Metric* ms[10] = {0};
  INFERMETRICS_Metric* again = NULL;
  INFERMETRICS_Metric* extra = NULL;
  INFERMETRICS_Metric* more[60] = {0};
  char v[32];
  int log0 = g_nlog;
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, fam, "limited");
  if (!f) return;

  /* no limit yet: no self-metric either */
  CHECK_REJECTED(fam, NAN);

  OK(INFERMETRICS_SetMaxSeriesPerFamily(10));
  for (int i = 0; i < 10; ++i) {
    snprintf(v, sizeof v, "%d", i);
    ms[i] = METRIC(f, 1, "i", v);
  }
  EXPECT_LIMITED(f, NULL, fam, 10, "i", "10");
  CHECK_REJECTED(fam, 1);
  EXPECT_LIMITED(f, NULL, fam, 10, "i", "11");
  EXPECT_LIMITED(f, NULL, fam, 10, NULL, NULL); /* {} is a new series too */
  CHECK_REJECTED(fam, 3);
  CHECKF(log_count(log0, fam) == 1, "expected one log line naming %s after 3 rejections, got %d", fam,
         log_count(log0, fam));
  if (log_count(log0, fam) != 1) log_dump(log0);

  /* an existing series is re-acquired at the limit, and shares the value */
  again = METRIC(f, 1, "i", "3");
  if (again && ms[3]) {
    OK(INFERMETRICS_MetricIncrement(again, 4));
    CHECK_VALUE(ms[3], 4);
  }
  {
    char* text = SNAPSHOT();
    CHECKF(count_lines_prefix(text, "card_limited_total{") == 10, "expected 10 series of %s, got %zu:\n%s", fam,
           count_lines_prefix(text, "card_limited_total{"), text);
    free(text);
  }

  /* one handle of the series deleted: the series lives on, still no room */
  OK(INFERMETRICS_MetricDelete(ms[3]));
  ms[3] = NULL;
  EXPECT_LIMITED(f, NULL, fam, 10, "i", "20");
  /* the last handle deleted: room for one new series, not two */
  OK(INFERMETRICS_MetricDelete(again));
  OK(try_metric(f, NULL, &extra, "i", "20"));
  EXPECT_LIMITED(f, NULL, fam, 10, "i", "21");
  CHECK_REJECTED(fam, 5);
  CHECKF(log_count(log0, fam) == 1, "expected still one log line naming %s after 5 rejections, got %d", fam,
         log_count(log0, fam));

  /* other families have their own count: a gauge and a histogram at 10 */
  {
    const char* gfam = "card_other_gauge";
    const char* hfam = "card_other_seconds";
    const double b[] = {0.5, 1};
    INFERMETRICS_MetricArgs* args = HIST_ARGS(b, 2);
    INFERMETRICS_MetricFamily* g = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, gfam, "g");
    INFERMETRICS_MetricFamily* h = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, hfam, "h");
    INFERMETRICS_Metric* gs[10] = {0};
    INFERMETRICS_Metric* hs[10] = {0};
    int log1 = g_nlog;
    for (int i = 0; i < 10; ++i) {
      snprintf(v, sizeof v, "%d", i);
      gs[i] = METRIC(g, 1, "i", v);
      hs[i] = METRIC_ARGS(h, args, 1, "i", v);
    }
    EXPECT_LIMITED(g, NULL, gfam, 10, "i", "x");
    EXPECT_LIMITED(h, args, hfam, 10, "i", "x");
    EXPECT_LIMITED(h, args, hfam, 10, "i", "y");
    CHECK_REJECTED(gfam, 1);
    CHECK_REJECTED(hfam, 2);
    CHECK_REJECTED(fam, 5);
    CHECKF(log_count(log1, gfam) == 1 && log_count(log1, hfam) == 1,
           "expected one log line for each of %s and %s, got %d and %d", gfam, hfam, log_count(log1, gfam),
           log_count(log1, hfam));
    /* histograms: the existing series again, and observations through it */
    {
      INFERMETRICS_Metric* h3 = METRIC_ARGS(h, args, 1, "i", "3");
      OK(INFERMETRICS_MetricObserve(h3, 0.7));
      char* text = SNAPSHOT();
      CHECK_LINE(text, "card_other_seconds_count{i=\"3\"} 1");
      free(text);
      OK(INFERMETRICS_MetricDelete(h3));
    }
    for (int i = 0; i < 10; ++i) {
      OK(INFERMETRICS_MetricDelete(gs[i]));
      OK(INFERMETRICS_MetricDelete(hs[i]));
    }
    OK(INFERMETRICS_MetricFamilyDelete(g));
    OK(INFERMETRICS_MetricFamilyDelete(h));
    OK(INFERMETRICS_MetricArgsDelete(args));
  }

  /* 0 lifts the limit: 50 more series of the same family */
  OK(INFERMETRICS_SetMaxSeriesPerFamily(0));
  for (int i = 0; i < 50; ++i) {
    snprintf(v, sizeof v, "more%d", i);
    more[i] = METRIC(f, 1, "i", v);
  }
  CHECK_REJECTED(fam, 5);

  /* a limit below a family's size: its 60 series keep working and re-acquiring one works, a new one is refused */
  OK(INFERMETRICS_SetMaxSeriesPerFamily(5));
  EXPECT_LIMITED(f, NULL, fam, 5, "i", "new");
  OK(INFERMETRICS_MetricIncrement(more[49], 2));
  CHECK_VALUE(more[49], 2);
  {
    INFERMETRICS_Metric* m49 = METRIC(f, 1, "i", "more49");
    CHECK_VALUE(m49, 2);
    OK(INFERMETRICS_MetricDelete(m49));
  }
  CHECK_REJECTED(fam, 6);
  OK(INFERMETRICS_SetMaxSeriesPerFamily(0));

  for (int i = 0; i < 10; ++i)
    if (ms[i]) OK(INFERMETRICS_MetricDelete(ms[i]));
  for (int i = 0; i < 50; ++i) OK(INFERMETRICS_MetricDelete(more[i]));
  OK(INFERMETRICS_MetricDelete(extra));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  {
    char* text = SNAPSHOT();
    CHECK_NO_LINE_PREFIX(text, "card_limited_total{");
    free(text);
  }
  /* the count of rejections is a counter: it stays after the family's series are gone */
  CHECK_REJECTED(fam, 6);
}

/* ---------------------------------------------------------------- empty label values */

static void test_empty_label_values(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "card_empty_total", "empty labels");
  INFERMETRICS_MetricFamily* g = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "card_empty_gauge", "empty labels");
  INFERMETRICS_MetricFamily* h = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "card_empty_seconds", "empty labels");
  const double b[] = {1};
  INFERMETRICS_MetricArgs* args = HIST_ARGS(b, 1);
  char* text;
  if (!f || !g || !h) return;

  /* {a=""} is {} */
  INFERMETRICS_Metric* m_empty = METRIC(f, 1, "a", "");
  INFERMETRICS_Metric* m_none = METRIC(f, 0);
  OK(INFERMETRICS_MetricIncrement(m_empty, 5));
  CHECK_VALUE(m_none, 5);
  OK(INFERMETRICS_MetricIncrement(m_none, 1));
  CHECK_VALUE(m_empty, 6);

  /* {a="",b="x"} is {b="x"}, in either order */
  INFERMETRICS_Metric* m_ab = METRIC(f, 2, "a", "", "b", "x");
  INFERMETRICS_Metric* m_b = METRIC(f, 1, "b", "x");
  INFERMETRICS_Metric* m_ba = METRIC(f, 2, "b", "x", "a", "");
  INFERMETRICS_Metric* m_cab = METRIC(f, 3, "c", "", "b", "x", "a", "");
  OK(INFERMETRICS_MetricIncrement(m_b, 2));
  CHECK_VALUE(m_ab, 2);
  CHECK_VALUE(m_ba, 2);
  CHECK_VALUE(m_cab, 2);

  /* gauges and histograms alike */
  INFERMETRICS_Metric* g1 = METRIC(g, 2, "a", "", "c", "");
  INFERMETRICS_Metric* g2 = METRIC(g, 0);
  OK(INFERMETRICS_MetricSet(g1, 42));
  CHECK_VALUE(g2, 42);
  INFERMETRICS_Metric* h1 = METRIC_ARGS(h, args, 1, "a", "");
  INFERMETRICS_Metric* h2 = METRIC_ARGS(h, args, 0);
  OK(INFERMETRICS_MetricObserve(h1, 0.5));
  OK(INFERMETRICS_MetricObserve(h2, 2));

  text = SNAPSHOT();
  CHECK_LINE(text, "card_empty_total 6");
  CHECK_LINE(text, "card_empty_total{b=\"x\"} 2");
  CHECKF(count_lines_prefix(text, "card_empty_total") == 2, "expected 2 samples of card_empty_total, got %zu:\n%s",
         count_lines_prefix(text, "card_empty_total"), text);
  CHECK_LINE(text, "card_empty_gauge 42");
  CHECKF(count_lines_prefix(text, "card_empty_gauge") == 1, "expected 1 sample of card_empty_gauge, got %zu",
         count_lines_prefix(text, "card_empty_gauge"));
  CHECK_LINE(text, "card_empty_seconds_count 2");
  CHECK_LINE(text, "card_empty_seconds_bucket{le=\"1\"} 1");
  CHECK_LINE(text, "card_empty_seconds_bucket{le=\"+Inf\"} 2");
  CHECKF(count_lines_prefix(text, "card_empty_seconds_count") == 1, "expected one histogram series");
  CHECKF(strstr(text, "=\"\"") == NULL, "no label with an empty value may be rendered:\n%s", text);
  check_no_duplicate_series(__LINE__, text);
  free(text);

  /* shared and reference-counted: the series stays until its last handle goes */
  OK(INFERMETRICS_MetricDelete(m_empty));
  text = SNAPSHOT();
  CHECK_LINE(text, "card_empty_total 6");
  free(text);
  OK(INFERMETRICS_MetricDelete(m_none));
  OK(INFERMETRICS_MetricDelete(m_ab));
  OK(INFERMETRICS_MetricDelete(m_b));
  OK(INFERMETRICS_MetricDelete(m_ba));
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "card_empty_total ");
  CHECK_LINE(text, "card_empty_total{b=\"x\"} 2"); /* m_cab still holds it */
  free(text);
  OK(INFERMETRICS_MetricDelete(m_cab));
  text = SNAPSHOT();
  CHECK_NO_LINE_PREFIX(text, "card_empty_total");
  free(text);
  /* a new {a=""} after the last handle went is a fresh series */
  m_empty = METRIC(f, 1, "a", "");
  CHECK_VALUE(m_empty, 0);
  OK(INFERMETRICS_MetricDelete(m_empty));

  /* with a limit, {a=""} at the limit is the existing {} (held by g1 and g2) and succeeds */
  OK(INFERMETRICS_SetMaxSeriesPerFamily(1));
  {
    INFERMETRICS_Metric* g3 = METRIC(g, 1, "a", "");
    if (g3) CHECK_VALUE(g3, 42);
    EXPECT_LIMITED(g, NULL, "card_empty_gauge", 1, "a", "b");
    if (g3) OK(INFERMETRICS_MetricDelete(g3));
  }
  OK(INFERMETRICS_SetMaxSeriesPerFamily(0));

  OK(INFERMETRICS_MetricDelete(g1));
  OK(INFERMETRICS_MetricDelete(g2));
  OK(INFERMETRICS_MetricDelete(h1));
  OK(INFERMETRICS_MetricDelete(h2));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  OK(INFERMETRICS_MetricFamilyDelete(g));
  OK(INFERMETRICS_MetricFamilyDelete(h));
  OK(INFERMETRICS_MetricArgsDelete(args));
}

/* ---------------------------------------------------------------- the limit, set by the environment */

static int test_limit_by_env(void)
{
  const char* env = getenv("INFERMETRICS_MAX_SERIES_PER_FAMILY");
  const char* fam = "card_env_total";
  INFERMETRICS_Metric* ms[3] = {0};
  INFERMETRICS_MetricFamily* f;
  int log0;
  if (env == NULL || strcmp(env, "3") != 0) {
    fprintf(stderr, "FAIL: this case expects INFERMETRICS_MAX_SERIES_PER_FAMILY=3 in its environment (got %s)\n",
            env ? env : "(unset)");
    return 1;
  }
  log0 = g_nlog;
  OK(INFERMETRICS_SetMaxSeriesPerFamily(100));
  {
    int said = 0;
    for (int i = log0; i < g_nlog; ++i)
      if (strstr(g_log[i], "INFERMETRICS_MAX_SERIES_PER_FAMILY") && has_number(g_log[i], 100)) ++said;
    CHECKF(said >= 1,
           "expected a log line saying INFERMETRICS_MAX_SERIES_PER_FAMILY wins over SetMaxSeriesPerFamily(100) "
           "(naming the variable and 100), got %d such lines of %d",
           said, g_nlog - log0);
    if (said < 1) log_dump(0);
  }

  f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, fam, "env limited");
  if (!f) return TEST_SUMMARY();
  for (int i = 0; i < 3; ++i) {
    char v[8];
    snprintf(v, sizeof v, "%d", i);
    ms[i] = METRIC(f, 1, "i", v);
  }
  EXPECT_LIMITED(f, NULL, fam, 3, "i", "3");
  CHECK_REJECTED(fam, 1);
  /* re-acquiring an existing series works */
  {
    INFERMETRICS_Metric* m = METRIC(f, 1, "i", "1");
    if (m) OK(INFERMETRICS_MetricDelete(m));
  }
  /* 0 from the call does not lift the operator's limit either */
  OK(INFERMETRICS_SetMaxSeriesPerFamily(0));
  EXPECT_LIMITED(f, NULL, fam, 3, "i", "4");
  CHECK_REJECTED(fam, 2);
  for (int i = 0; i < 3; ++i)
    if (ms[i]) OK(INFERMETRICS_MetricDelete(ms[i]));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

int main(int argc, char** argv)
{
  int rc;
  if (argc > 1 && strcmp(argv[1], "env") == 0) {
    OK(INFERMETRICS_SetLogCallback(capture_log, NULL));
    rc = test_limit_by_env();
  } else {
    /* the call's case must not see an operator's limit */
    unsetenv("INFERMETRICS_MAX_SERIES_PER_FAMILY");
    OK(INFERMETRICS_SetLogCallback(capture_log, NULL));
    test_limit_by_call();
    test_empty_label_values();
    rc = TEST_SUMMARY();
  }
  OK(INFERMETRICS_SetLogCallback(NULL, NULL));
  for (int i = 0; i < g_nlog; ++i) free(g_log[i]);
  return rc;
}

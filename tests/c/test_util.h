/*
 * Tiny assertion helpers shared by the C tests of infermetrics (tests/c/).
 *
 * Every check prints "file:line: what was expected / what came" on failure and counts the
 * failure; a test program ends with `return TEST_SUMMARY();`, which exits non-zero if any
 * check failed. Checks never abort, so one run reports every failing case.
 *
 * Error helpers take ownership of the INFERMETRICS_Error* they are given and delete it.
 */
#ifndef INFERMETRICS_TEST_UTIL_H
#define INFERMETRICS_TEST_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infermetrics.h"

static int tu_failures = 0;
static int tu_checks = 0;

static inline void tu_fail(const char* file, int line, const char* fmt, ...)
{
  va_list ap;
  ++tu_failures;
  fprintf(stderr, "%s:%d: FAIL: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static inline const char* tu_code_name(int code)
{
  static const char* const names[] = {"UNKNOWN",     "INTERNAL",       "NOT_FOUND", "INVALID_ARG",
                                      "UNAVAILABLE", "UNSUPPORTED",    "ALREADY_EXISTS", "CANCELLED"};
  return (code >= 0 && code < 8) ? names[code] : "<out of range>";
}

/* cond must hold. */
#define CHECK(cond)                                                       \
  do {                                                                    \
    ++tu_checks;                                                          \
    if (!(cond)) tu_fail(__FILE__, __LINE__, "expected: %s", #cond);      \
  } while (0)

/* cond must hold; the printf-style message says what came. */
#define CHECKF(cond, ...)                                                 \
  do {                                                                    \
    ++tu_checks;                                                          \
    if (!(cond)) tu_fail(__FILE__, __LINE__, __VA_ARGS__);                \
  } while (0)

static inline int tu_ok(const char* file, int line, const char* expr, INFERMETRICS_Error* err)
{
  ++tu_checks;
  if (err == NULL) return 1;
  tu_fail(file, line, "expected success from %s, got %s: %s", expr,
          tu_code_name((int)INFERMETRICS_ErrorCode(err)), INFERMETRICS_ErrorMessage(err));
  INFERMETRICS_ErrorDelete(err);
  return 0;
}

/* The call must succeed (return NULL). Evaluates to 1 on success, 0 otherwise. */
#define OK(call) tu_ok(__FILE__, __LINE__, #call, (call))

/* Is `word` quoted in msg as 'word', "word", `word` or [word]? */
static inline int tu_names(const char* msg, const char* word)
{
  static const char* const quotes[][2] = {{"'", "'"}, {"\"", "\""}, {"`", "`"}, {"[", "]"}};
  size_t i;
  char buf[512];
  for (i = 0; i < sizeof quotes / sizeof quotes[0]; ++i) {
    snprintf(buf, sizeof buf, "%s%s%s", quotes[i][0], word, quotes[i][1]);
    if (strstr(msg, buf) != NULL) return 1;
  }
  return 0;
}

/*
 * The call must fail with `code`; if `needle` is non-NULL the message must contain it; if
 * `named` is non-NULL the message must name it in quotes ('x', "x", `x` or [x]).
 */
static inline int tu_err(const char* file, int line, const char* expr, INFERMETRICS_Error* err, int code,
                  const char* needle, const char* named)
{
  int ok = 1;
  const char* msg;
  ++tu_checks;
  if (err == NULL) {
    tu_fail(file, line, "expected %s from %s, got success", tu_code_name(code), expr);
    return 0;
  }
  msg = INFERMETRICS_ErrorMessage(err);
  if (msg == NULL) msg = "(NULL message)";
  if ((int)INFERMETRICS_ErrorCode(err) != code) {
    tu_fail(file, line, "expected %s from %s, got %s: %s", tu_code_name(code), expr,
            tu_code_name((int)INFERMETRICS_ErrorCode(err)), msg);
    ok = 0;
  }
  if (needle != NULL && strstr(msg, needle) == NULL) {
    tu_fail(file, line, "message of %s should contain \"%s\", got: %s", expr, needle, msg);
    ok = 0;
  }
  if (named != NULL && !tu_names(msg, named)) {
    tu_fail(file, line, "message of %s should name '%s', got: %s", expr, named, msg);
    ok = 0;
  }
  INFERMETRICS_ErrorDelete(err);
  return ok;
}

#define ERR(call, code) tu_err(__FILE__, __LINE__, #call, (call), (int)(code), NULL, NULL)
#define ERR_MSG(call, code, needle) tu_err(__FILE__, __LINE__, #call, (call), (int)(code), (needle), NULL)
#define ERR_NAMED(call, code, word) tu_err(__FILE__, __LINE__, #call, (call), (int)(code), NULL, (word))
/* INVALID_ARG naming the NULL argument. */
#define ERR_NULL(call, argname) ERR_NAMED(call, INFERMETRICS_ERROR_INVALID_ARG, argname)

static inline int tu_dbl_eq(const char* file, int line, const char* expr, double got, double want)
{
  ++tu_checks;
  if (got == want || (isnan(got) && isnan(want))) return 1;
  tu_fail(file, line, "%s: expected %.17g, got %.17g", expr, want, got);
  return 0;
}
#define CHECK_DBL(expr, want) tu_dbl_eq(__FILE__, __LINE__, #expr, (expr), (want))

/* The value of a counter or gauge metric (NAN if the call fails, which is reported). */
static inline double tu_value(const char* file, int line, INFERMETRICS_Metric* m)
{
  double v = -12345.0;
  INFERMETRICS_Error* err = INFERMETRICS_MetricValue(m, &v);
  if (!tu_ok(file, line, "INFERMETRICS_MetricValue", err)) return NAN;
  return v;
}
#define VALUE(m) tu_value(__FILE__, __LINE__, (m))
#define CHECK_VALUE(m, want) tu_dbl_eq(__FILE__, __LINE__, "value of " #m, VALUE(m), (want))

/* ---------------------------------------------------------------- snapshot text helpers */

/* The whole registry as Prometheus text, in a malloc'd NUL-terminated copy (free() it). */
static inline char* tu_snapshot(const char* file, int line)
{
  INFERMETRICS_Metrics* metrics = NULL;
  const char* base = NULL;
  size_t size = 0;
  char* copy;
  if (!tu_ok(file, line, "INFERMETRICS_ServerMetrics", INFERMETRICS_ServerMetrics(NULL, &metrics))) {
    copy = (char*)malloc(1);
    copy[0] = '\0';
    return copy;
  }
  if (!tu_ok(file, line, "INFERMETRICS_MetricsFormatted",
             INFERMETRICS_MetricsFormatted(metrics, INFERMETRICS_METRIC_PROMETHEUS, &base, &size))) {
    base = "";
    size = 0;
  }
  copy = (char*)malloc(size + 1);
  if (size > 0) memcpy(copy, base, size);
  copy[size] = '\0';
  ++tu_checks;
  if (strlen(copy) != size) tu_fail(file, line, "snapshot has a NUL byte inside its %zu bytes", size);
  tu_ok(file, line, "INFERMETRICS_MetricsDelete", INFERMETRICS_MetricsDelete(metrics));
  return copy;
}
#define SNAPSHOT() tu_snapshot(__FILE__, __LINE__)

/* Occurrences of needle in hay (non-overlapping). */
static inline size_t count_substr(const char* hay, const char* needle)
{
  size_t n = 0, len = strlen(needle);
  const char* p = hay;
  if (len == 0) return 0;
  while ((p = strstr(p, needle)) != NULL) {
    ++n;
    p += len;
  }
  return n;
}

/* Number of lines that start with prefix. */
static inline size_t count_lines_prefix(const char* text, const char* prefix)
{
  size_t n = 0, len = strlen(prefix);
  const char* p = text;
  while (*p) {
    if (strncmp(p, prefix, len) == 0) ++n;
    p = strchr(p, '\n');
    if (!p) break;
    ++p;
  }
  return n;
}

/* Number of lines exactly equal to line (no trailing newline in `line`). */
static inline size_t count_lines_equal(const char* text, const char* line)
{
  size_t n = 0, len = strlen(line);
  const char* p = text;
  while (*p) {
    const char* end = strchr(p, '\n');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    if (l == len && strncmp(p, line, len) == 0) ++n;
    if (!end) break;
    p = end + 1;
  }
  return n;
}

/* Byte offset of the first line equal to `line`, or -1. */
static inline long line_offset(const char* text, const char* line)
{
  size_t len = strlen(line);
  const char* p = text;
  while (*p) {
    const char* end = strchr(p, '\n');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    if (l == len && strncmp(p, line, len) == 0) return (long)(p - text);
    if (!end) break;
    p = end + 1;
  }
  return -1;
}

/* The exact line must appear exactly once. */
#define CHECK_LINE(text, line)                                                                   \
  do {                                                                                           \
    size_t n_ = count_lines_equal((text), (line));                                               \
    CHECKF(n_ == 1, "expected the line [%s] exactly once in the snapshot, found %zu times:\n%s", \
           (line), n_, (text));                                                                  \
  } while (0)

/* No line may start with prefix. */
#define CHECK_NO_LINE_PREFIX(text, prefix)                                                      \
  do {                                                                                          \
    size_t n_ = count_lines_prefix((text), (prefix));                                           \
    CHECKF(n_ == 0, "expected no line starting with [%s], found %zu:\n%s", (prefix), n_, (text)); \
  } while (0)

#define CHECK_COUNT(text, needle, want)                                                          \
  do {                                                                                           \
    size_t n_ = count_substr((text), (needle));                                                  \
    CHECKF(n_ == (size_t)(want), "expected [%s] %zu times in the snapshot, found %zu:\n%s",      \
           (needle), (size_t)(want), n_, (text));                                                \
  } while (0)

/* ---------------------------------------------------------------- object helpers */

/* A STRING label parameter (aborts the test if ParameterNew returns NULL: nothing else works then). */
static inline INFERMETRICS_Parameter* tu_label(const char* name, const char* value)
{
  INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew(name, INFERMETRICS_PARAMETER_STRING, value);
  if (p == NULL) {
    fprintf(stderr, "FATAL: INFERMETRICS_ParameterNew(\"%s\", STRING, \"%s\") returned NULL\n", name, value);
    exit(2);
  }
  return p;
}

/* A new family handle; NULL (and a reported failure) on error. */
static inline INFERMETRICS_MetricFamily* tu_family(const char* file, int line, INFERMETRICS_MetricKind kind,
                                            const char* name, const char* help)
{
  INFERMETRICS_MetricFamily* f = NULL;
  if (!tu_ok(file, line, "INFERMETRICS_MetricFamilyNew", INFERMETRICS_MetricFamilyNew(&f, kind, name, help)))
    return NULL;
  ++tu_checks;
  if (f == NULL) tu_fail(file, line, "MetricFamilyNew(%s) succeeded but left *family NULL", name);
  return f;
}
#define FAMILY(kind, name, help) tu_family(__FILE__, __LINE__, (kind), (name), (help))

/* A new metric with `n` labels given as name/value string pairs: METRIC(fam, 2, "a","1","b","2"). */
static inline INFERMETRICS_Metric* tu_metric_v(const char* file, int line, INFERMETRICS_MetricFamily* fam,
                                        const INFERMETRICS_MetricArgs* args, int n, va_list ap)
{
  const INFERMETRICS_Parameter* labels[16];
  INFERMETRICS_Metric* m = NULL;
  int i;
  for (i = 0; i < n && i < 16; ++i) {
    const char* k = va_arg(ap, const char*);
    const char* v = va_arg(ap, const char*);
    labels[i] = tu_label(k, v);
  }
  if (tu_ok(file, line, "INFERMETRICS_MetricNewWithArgs",
            INFERMETRICS_MetricNewWithArgs(&m, fam, n ? labels : NULL, (uint64_t)n, args))) {
    ++tu_checks;
    if (m == NULL) tu_fail(file, line, "MetricNew succeeded but left *metric NULL");
  }
  for (i = 0; i < n && i < 16; ++i) INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[i]);
  return m;
}
static inline INFERMETRICS_Metric* tu_metric(const char* file, int line, INFERMETRICS_MetricFamily* fam,
                                      const INFERMETRICS_MetricArgs* args, int n, ...)
{
  INFERMETRICS_Metric* m;
  va_list ap;
  va_start(ap, n);
  m = tu_metric_v(file, line, fam, args, n, ap);
  va_end(ap);
  return m;
}
#define METRIC(fam, ...) tu_metric(__FILE__, __LINE__, (fam), NULL, __VA_ARGS__)
#define METRIC_ARGS(fam, args, ...) tu_metric(__FILE__, __LINE__, (fam), (args), __VA_ARGS__)

/* Histogram args with these buckets (caller deletes them). */
static inline INFERMETRICS_MetricArgs* tu_hist_args(const char* file, int line, const double* b, uint64_t n)
{
  INFERMETRICS_MetricArgs* a = NULL;
  tu_ok(file, line, "INFERMETRICS_MetricArgsNew", INFERMETRICS_MetricArgsNew(&a));
  tu_ok(file, line, "INFERMETRICS_MetricArgsSetHistogram", INFERMETRICS_MetricArgsSetHistogram(a, b, n));
  return a;
}
#define HIST_ARGS(b, n) tu_hist_args(__FILE__, __LINE__, (b), (n))

static inline int tu_summary(const char* prog)
{
  if (tu_failures) {
    fprintf(stderr, "%s: %d of %d checks FAILED\n", prog, tu_failures, tu_checks);
    return 1;
  }
  printf("%s: all %d checks passed\n", prog, tu_checks);
  return 0;
}
#define TEST_SUMMARY() tu_summary(__FILE__)

#endif /* INFERMETRICS_TEST_UTIL_H */

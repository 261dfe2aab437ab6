/*
 * c_test_handles (issue 7): handles are generation-checked, so a handle that is not live gives
 * INVALID_ARG from every call, never undefined behaviour, for all eight handle types
 * (Parameter, MetricFamily, MetricArgs, Metric, Metrics, ServerOptions, Server, Error):
 *   - use after delete, double delete, and a stale handle whose slot was reused since;
 *   - a live handle of another type cast to this one (and the live object is unharmed);
 *   - forged values: 1, 0x10, 0xdeadbeef, a pointer to a stack variable, pointers into a
 *     malloc'd block, (void*)-1, fixed-seed random 64-bit values, a live handle plus 1..7,
 *     and a live handle with any one of its 64 bits flipped;
 *   - 200 metrics deleted and 200 created: every old handle is refused by Increment, Value and
 *     Delete, and the new series keep their values (the old tagged boxes let 40 of 200 alias);
 *   - 100,000 create/delete cycles of one metric, family handle and error: every handle from
 *     an earlier cycle stays invalid.
 * ParameterDelete and ErrorDelete return nothing: on such handles they must just not crash
 * (nor free anything live); ErrorCode on one gives UNKNOWN, ErrorMessage a readable string.
 *
 * Each case runs in a forked child process (the parent never touches the library), so a crash
 * is reported as "case X died of signal N" and the other cases still run.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

typedef INFERMETRICS_Error Err;

/* ---------------------------------------------------------------- checks with context */

/* Failures printed at most this many times per case (a broken build would print 100k lines). */
static int g_printed = 0;
#define MAX_PRINTED 200

static void fail_ctx(int line, const char* fmt, ...)
{
  va_list ap;
  ++tu_failures;
  if (++g_printed > MAX_PRINTED) {
    if (g_printed == MAX_PRINTED + 1) fprintf(stderr, "... (further failures of this case not printed)\n");
    return;
  }
  fprintf(stderr, "%s:%d: FAIL: ", __FILE__, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* The call must give INVALID_ARG; `ctx` says which handle was passed. */
static int inv_at(int line, const char* ctx, const char* expr, Err* e)
{
  ++tu_checks;
  if (e == NULL) {
    fail_ctx(line, "%s: expected INVALID_ARG from %s, got success", ctx, expr);
    return 0;
  }
  int code = (int)INFERMETRICS_ErrorCode(e);
  if (code != INFERMETRICS_ERROR_INVALID_ARG) {
    fail_ctx(line, "%s: expected INVALID_ARG from %s, got %s: %s", ctx, expr, tu_code_name(code),
             INFERMETRICS_ErrorMessage(e));
    INFERMETRICS_ErrorDelete(e);
    return 0;
  }
  INFERMETRICS_ErrorDelete(e);
  return 1;
}
#define INV(ctx, call) inv_at(__LINE__, (ctx), #call, (call))

static int ok_at(int line, const char* ctx, const char* expr, Err* e)
{
  ++tu_checks;
  if (e == NULL) return 1;
  fail_ctx(line, "%s: expected success from %s, got %s: %s", ctx, expr, tu_code_name((int)INFERMETRICS_ErrorCode(e)),
           INFERMETRICS_ErrorMessage(e));
  INFERMETRICS_ErrorDelete(e);
  return 0;
}
#define OKC(ctx, call) ok_at(__LINE__, (ctx), #call, (call))

/* ---------------------------------------------------------------- live objects */

typedef struct {
  INFERMETRICS_Parameter* param;      /* STRING label "who" = "live" */
  INFERMETRICS_MetricFamily* family;  /* counter handles_live_total */
  INFERMETRICS_MetricFamily* hfamily; /* histogram handles_live_seconds */
  INFERMETRICS_MetricArgs* args;      /* histogram args {1, 2} */
  INFERMETRICS_Metric* metric;        /* counter series {who="live"}, value 7 */
  INFERMETRICS_Metrics* metrics;      /* registry snapshot holder */
  INFERMETRICS_ServerOptions* options;
  INFERMETRICS_Server* server;
  Err* error;                         /* NOT_FOUND "live error" */
} live_set;

static const double k_buckets[] = {1.0, 2.0};

static INFERMETRICS_Server* start_server(void)
{
  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* s = NULL;
  if (!OK(INFERMETRICS_ServerOptionsNew(&o))) return NULL;
  OK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  OK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  OK(INFERMETRICS_ServerNew(&s, o));
  OK(INFERMETRICS_ServerOptionsDelete(o));
  return s;
}

static void live_make(live_set* L)
{
  memset(L, 0, sizeof *L);
  L->param = tu_label("who", "live");
  L->family = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "handles_live_total", "live objects");
  L->hfamily = FAMILY(INFERMETRICS_METRIC_KIND_HISTOGRAM, "handles_live_seconds", "live histogram");
  L->args = HIST_ARGS(k_buckets, 2);
  {
    const INFERMETRICS_Parameter* labels[] = {L->param};
    OK(INFERMETRICS_MetricNew(&L->metric, L->family, labels, 1));
  }
  OK(INFERMETRICS_MetricIncrement(L->metric, 7));
  OK(INFERMETRICS_ServerMetrics(NULL, &L->metrics));
  OK(INFERMETRICS_ServerOptionsNew(&L->options));
  L->server = start_server();
  L->error = INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_NOT_FOUND, "live error");
}

/* Every live object still works and is unchanged (a bad handle must not have touched them). */
static void live_check(const live_set* L, const char* after)
{
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_GAUGE;
  double v = -1;
  INFERMETRICS_Metric* m = NULL;
  const INFERMETRICS_Parameter* labels[] = {L->param};
  const char* base = NULL;
  size_t size = 0;
  uint16_t port = 0;

  /* the parameter still labels a metric: the same series {who="live"} */
  if (OKC(after, INFERMETRICS_MetricNew(&m, L->family, labels, 1))) {
    OKC(after, INFERMETRICS_MetricValue(m, &v));
    CHECKF(v == 7, "%s: the series through the live parameter should be 7, got %g", after, v);
    OKC(after, INFERMETRICS_MetricDelete(m));
  }
  OKC(after, INFERMETRICS_GetMetricFamilyKind(L->family, &kind));
  CHECKF(kind == INFERMETRICS_METRIC_KIND_COUNTER, "%s: the live family's kind changed to %d", after, (int)kind);
  OKC(after, INFERMETRICS_GetMetricFamilyKind(L->hfamily, &kind));
  m = NULL;
  if (OKC(after, INFERMETRICS_MetricNewWithArgs(&m, L->hfamily, NULL, 0, L->args)))
    OKC(after, INFERMETRICS_MetricDelete(m));
  v = -1;
  OKC(after, INFERMETRICS_MetricValue(L->metric, &v));
  CHECKF(v == 7, "%s: the live metric should still be 7, got %g", after, v);
  if (OKC(after, INFERMETRICS_MetricsFormatted(L->metrics, INFERMETRICS_METRIC_PROMETHEUS, &base, &size)))
    CHECKF(base && strstr(base, "handles_live_total{who=\"live\"} 7") != NULL,
           "%s: the live snapshot holder should render the live series", after);
  OKC(after, INFERMETRICS_ServerOptionsSetPort(L->options, 0));
  if (L->server) {
    OKC(after, INFERMETRICS_ServerPort(L->server, &port));
    CHECKF(port != 0, "%s: the live server's port is 0", after);
  }
  CHECKF(INFERMETRICS_ErrorCode(L->error) == INFERMETRICS_ERROR_NOT_FOUND, "%s: the live error's code is now %d",
         after, (int)INFERMETRICS_ErrorCode(L->error));
  CHECKF(strcmp(INFERMETRICS_ErrorMessage(L->error), "live error") == 0, "%s: the live error's message is now \"%s\"",
         after, INFERMETRICS_ErrorMessage(L->error));
}

static void live_free(live_set* L)
{
  OK(INFERMETRICS_MetricDelete(L->metric));
  OK(INFERMETRICS_MetricFamilyDelete(L->family));
  OK(INFERMETRICS_MetricFamilyDelete(L->hfamily));
  OK(INFERMETRICS_MetricArgsDelete(L->args));
  OK(INFERMETRICS_MetricsDelete(L->metrics));
  OK(INFERMETRICS_ServerOptionsDelete(L->options));
  if (L->server) OK(INFERMETRICS_ServerDelete(L->server));
  INFERMETRICS_ParameterDelete(L->param);
  INFERMETRICS_ErrorDelete(L->error);
}

/* ---------------------------------------------------------------- probes: every call taking a handle of one type */

enum { T_PARAMETER, T_FAMILY, T_ARGS, T_METRIC, T_METRICS, T_OPTIONS, T_SERVER, T_ERROR, T_COUNT };
static const char* const k_type_names[T_COUNT] = {"Parameter", "MetricFamily", "MetricArgs",    "Metric",
                                                  "Metrics",   "ServerOptions", "Server",       "Error"};

/* A MetricNew-style call must give INVALID_ARG and leave *out NULL; a metric it made anyway
   is reported and deleted, so one failure does not cascade into the next checks. */
static void inv_new_at(int line, const char* ctx, const char* expr, Err* e, INFERMETRICS_Metric** out)
{
  inv_at(line, ctx, expr, e);
  if (*out != NULL) {
    ++tu_checks;
    fail_ctx(line, "%s: %s wrote *metric although it should have failed", ctx, expr);
    INFERMETRICS_ErrorDelete(INFERMETRICS_MetricDelete(*out));
    *out = NULL;
  }
}
#define INV_NEW(ctx, call, out) inv_new_at(__LINE__, (ctx), #call, (call), (out))

/*
 * Passes `h` (not a live object of type `t`) to every call that takes a `t`, expecting
 * INVALID_ARG (or, for the void/plain-value calls, no crash and the documented answer).
 * `L` supplies live objects for the other arguments. With `deletes`, the type's Delete is
 * called too (it must refuse as well).
 */
static void probe(int t, void* h, const char* ctx, const live_set* L, int deletes)
{
  switch (t) {
    case T_PARAMETER: {
      const INFERMETRICS_Parameter* labels[] = {(const INFERMETRICS_Parameter*)h};
      const INFERMETRICS_Parameter* two[] = {L->param, (const INFERMETRICS_Parameter*)h};
      INFERMETRICS_Metric* m = NULL;
      INV_NEW(ctx, INFERMETRICS_MetricNew(&m, L->family, labels, 1), &m);
      INV_NEW(ctx, INFERMETRICS_MetricNew(&m, L->family, two, 2), &m);
      INV_NEW(ctx, INFERMETRICS_MetricNewWithArgs(&m, L->hfamily, labels, 1, L->args), &m);
      if (deletes) INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)h); /* void: must not crash */
      break;
    }
    case T_FAMILY: {
      INFERMETRICS_MetricFamily* f = (INFERMETRICS_MetricFamily*)h;
      INFERMETRICS_MetricKind kind = (INFERMETRICS_MetricKind)99;
      INFERMETRICS_Metric* m = NULL;
      const INFERMETRICS_Parameter* labels[] = {L->param};
      INV(ctx, INFERMETRICS_GetMetricFamilyKind(f, &kind));
      CHECKF((int)kind == 99, "%s: GetMetricFamilyKind wrote *kind (%d)", ctx, (int)kind);
      INV_NEW(ctx, INFERMETRICS_MetricNew(&m, f, labels, 1), &m);
      INV_NEW(ctx, INFERMETRICS_MetricNew(&m, f, NULL, 0), &m);
      INV_NEW(ctx, INFERMETRICS_MetricNewWithArgs(&m, f, NULL, 0, L->args), &m);
      if (deletes) INV(ctx, INFERMETRICS_MetricFamilyDelete(f));
      break;
    }
    case T_ARGS: {
      INFERMETRICS_MetricArgs* a = (INFERMETRICS_MetricArgs*)h;
      INFERMETRICS_Metric* m = NULL;
      INV(ctx, INFERMETRICS_MetricArgsSetHistogram(a, k_buckets, 2));
      INV_NEW(ctx, INFERMETRICS_MetricNewWithArgs(&m, L->hfamily, NULL, 0, a), &m);
      if (deletes) INV(ctx, INFERMETRICS_MetricArgsDelete(a));
      break;
    }
    case T_METRIC: {
      INFERMETRICS_Metric* m = (INFERMETRICS_Metric*)h;
      double v = -5;
      INFERMETRICS_MetricKind kind = (INFERMETRICS_MetricKind)99;
      INV(ctx, INFERMETRICS_MetricIncrement(m, 1));
      INV(ctx, INFERMETRICS_MetricSet(m, 1));
      INV(ctx, INFERMETRICS_MetricObserve(m, 1));
      INV(ctx, INFERMETRICS_MetricValue(m, &v));
      CHECKF(v == -5, "%s: MetricValue wrote *value (%g)", ctx, v);
      INV(ctx, INFERMETRICS_GetMetricKind(m, &kind));
      CHECKF((int)kind == 99, "%s: GetMetricKind wrote *kind (%d)", ctx, (int)kind);
      if (deletes) INV(ctx, INFERMETRICS_MetricDelete(m));
      break;
    }
    case T_METRICS: {
      INFERMETRICS_Metrics* ms = (INFERMETRICS_Metrics*)h;
      const char* base = "untouched";
      size_t size = 12345;
      INV(ctx, INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size));
      CHECKF(size == 12345 && strcmp(base, "untouched") == 0, "%s: MetricsFormatted wrote its outputs", ctx);
      if (deletes) INV(ctx, INFERMETRICS_MetricsDelete(ms));
      break;
    }
    case T_OPTIONS: {
      INFERMETRICS_ServerOptions* o = (INFERMETRICS_ServerOptions*)h;
      INFERMETRICS_Server* s = NULL;
      INV(ctx, INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
      INV(ctx, INFERMETRICS_ServerOptionsSetPort(o, 0));
      INV(ctx, INFERMETRICS_ServerOptionsSetMetricsInterval(o, 10));
      INV(ctx, INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
      INV(ctx, INFERMETRICS_ServerOptionsSetCpuMetrics(o, false));
      INV(ctx, INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(o, false));
      INV(ctx, INFERMETRICS_ServerOptionsSetNvmlLibrary(o, "/nonexistent/libnvidia-ml.so.1"));
      INV(ctx, INFERMETRICS_ServerOptionsSetProcessMetrics(o, false));
      INV(ctx, INFERMETRICS_ServerOptionsSetContainerMetrics(o, false));
      INV(ctx, INFERMETRICS_ServerOptionsSetHostMetrics(o, true));
      INV(ctx, INFERMETRICS_ServerOptionsSetCollector(o, "host", true));
      INV(ctx, INFERMETRICS_ServerOptionsSetDiskPaths(o, "/"));
      INV(ctx, INFERMETRICS_ServerNew(&s, o));
      CHECKF(s == NULL, "%s: ServerNew with bad options wrote *server", ctx);
      if (s) INFERMETRICS_ErrorDelete(INFERMETRICS_ServerDelete(s));
      if (deletes) INV(ctx, INFERMETRICS_ServerOptionsDelete(o));
      break;
    }
    case T_SERVER: {
      INFERMETRICS_Server* s = (INFERMETRICS_Server*)h;
      uint16_t port = 4321;
      INFERMETRICS_Metrics* ms = NULL;
      INV(ctx, INFERMETRICS_ServerPort(s, &port));
      CHECKF(port == 4321, "%s: ServerPort wrote *port (%u)", ctx, (unsigned)port);
      INV(ctx, INFERMETRICS_ServerMetrics(s, &ms));
      CHECKF(ms == NULL, "%s: ServerMetrics with a bad server wrote *metrics", ctx);
      if (deletes) INV(ctx, INFERMETRICS_ServerDelete(s));
      break;
    }
    case T_ERROR: {
      Err* e = (Err*)h;
      const char* msg;
      const char* cs;
      int code = (int)INFERMETRICS_ErrorCode(e);
      ++tu_checks;
      if (code != INFERMETRICS_ERROR_UNKNOWN)
        fail_ctx(__LINE__, "%s: ErrorCode of a non-live error should be UNKNOWN, got %s", ctx, tu_code_name(code));
      cs = INFERMETRICS_ErrorCodeString(e);
      ++tu_checks;
      if (cs == NULL || strcmp(cs, "Unknown") != 0)
        fail_ctx(__LINE__, "%s: ErrorCodeString of a non-live error should be \"Unknown\", got \"%s\"", ctx,
                 cs ? cs : "(NULL)");
      msg = INFERMETRICS_ErrorMessage(e);
      ++tu_checks;
      if (msg == NULL)
        fail_ctx(__LINE__, "%s: ErrorMessage of a non-live error returned NULL (callers print it)", ctx);
      else
        (void)strlen(msg); /* readable */
      if (deletes) INFERMETRICS_ErrorDelete(e); /* void: must not crash, must not free anything live */
      break;
    }
    default:
      break;
  }
}

/* ---------------------------------------------------------------- cases (each runs in a child) */

/* Use after delete, double delete, and the stale handle after its slot was (probably) reused. */
static void case_stale(void)
{
  live_set L;
  char ctx[128];
  live_make(&L);
  for (int t = 0; t < T_COUNT; ++t) {
    void* dead = NULL;
    void* fresh = NULL;
    /* make one, delete it */
    switch (t) {
      case T_PARAMETER:
        dead = tu_label("p", "v");
        INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)dead);
        break;
      case T_FAMILY:
        dead = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "handles_stale_total", "stale");
        OK(INFERMETRICS_MetricFamilyDelete((INFERMETRICS_MetricFamily*)dead));
        break;
      case T_ARGS:
        dead = HIST_ARGS(k_buckets, 2);
        OK(INFERMETRICS_MetricArgsDelete((INFERMETRICS_MetricArgs*)dead));
        break;
      case T_METRIC: {
        INFERMETRICS_Metric* m = METRIC(L.family, 1, "who", "stale");
        dead = m;
        OK(INFERMETRICS_MetricDelete(m));
        break;
      }
      case T_METRICS: {
        INFERMETRICS_Metrics* ms = NULL;
        OK(INFERMETRICS_ServerMetrics(NULL, &ms));
        dead = ms;
        OK(INFERMETRICS_MetricsDelete(ms));
        break;
      }
      case T_OPTIONS: {
        INFERMETRICS_ServerOptions* o = NULL;
        OK(INFERMETRICS_ServerOptionsNew(&o));
        dead = o;
        OK(INFERMETRICS_ServerOptionsDelete(o));
        break;
      }
      case T_SERVER: {
        INFERMETRICS_Server* s = start_server();
        dead = s;
        if (s) OK(INFERMETRICS_ServerDelete(s));
        break;
      }
      case T_ERROR:
        dead = INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_INTERNAL, "to be deleted");
        INFERMETRICS_ErrorDelete((Err*)dead);
        break;
    }
    if (dead == NULL) {
      tu_fail(__FILE__, __LINE__, "could not make a %s to delete", k_type_names[t]);
      continue;
    }
    /* use after delete (the probe's own Delete is the double delete) */
    snprintf(ctx, sizeof ctx, "deleted %s %p", k_type_names[t], dead);
    probe(t, dead, ctx, &L, 0);
    snprintf(ctx, sizeof ctx, "deleted %s %p (double delete)", k_type_names[t], dead);
    probe(t, dead, ctx, &L, 1);
    snprintf(ctx, sizeof ctx, "deleted %s %p (triple delete)", k_type_names[t], dead);
    probe(t, dead, ctx, &L, 1);

    /* make another of the same type: it may take the freed slot; the stale one stays dead */
    switch (t) {
      case T_PARAMETER: fresh = tu_label("p", "fresh"); break;
      case T_FAMILY: fresh = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "handles_stale_total", "stale"); break;
      case T_ARGS: fresh = HIST_ARGS(k_buckets, 2); break;
      case T_METRIC: fresh = METRIC(L.family, 1, "who", "fresh"); break;
      case T_METRICS: OK(INFERMETRICS_ServerMetrics(NULL, (INFERMETRICS_Metrics**)&fresh)); break;
      case T_OPTIONS: OK(INFERMETRICS_ServerOptionsNew((INFERMETRICS_ServerOptions**)&fresh)); break;
      case T_SERVER: fresh = start_server(); break;
      case T_ERROR: fresh = INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_ALREADY_EXISTS, "fresh"); break;
    }
    CHECKF(fresh != dead, "a new %s has the same handle value %p as a deleted one: the stale handle cannot be told "
           "from it", k_type_names[t], dead);
    snprintf(ctx, sizeof ctx, "deleted %s %p after a new one (%p) was made", k_type_names[t], dead, fresh);
    probe(t, dead, ctx, &L, 1);
    /* the new one is intact and deletes once */
    switch (t) {
      case T_PARAMETER: {
        const INFERMETRICS_Parameter* labels[] = {(INFERMETRICS_Parameter*)fresh};
        INFERMETRICS_Metric* m = NULL;
        if (OK(INFERMETRICS_MetricNew(&m, L.family, labels, 1))) {
          char* text = SNAPSHOT();
          CHECK_LINE(text, "handles_live_total{p=\"fresh\"} 0");
          free(text);
          OK(INFERMETRICS_MetricDelete(m));
        }
        INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)fresh);
        break;
      }
      case T_FAMILY: {
        INFERMETRICS_MetricKind k;
        OK(INFERMETRICS_GetMetricFamilyKind((INFERMETRICS_MetricFamily*)fresh, &k));
        OK(INFERMETRICS_MetricFamilyDelete((INFERMETRICS_MetricFamily*)fresh));
        break;
      }
      case T_ARGS: OK(INFERMETRICS_MetricArgsDelete((INFERMETRICS_MetricArgs*)fresh)); break;
      case T_METRIC: {
        OK(INFERMETRICS_MetricIncrement((INFERMETRICS_Metric*)fresh, 3));
        CHECK_VALUE((INFERMETRICS_Metric*)fresh, 3);
        OK(INFERMETRICS_MetricDelete((INFERMETRICS_Metric*)fresh));
        break;
      }
      case T_METRICS: OK(INFERMETRICS_MetricsDelete((INFERMETRICS_Metrics*)fresh)); break;
      case T_OPTIONS: OK(INFERMETRICS_ServerOptionsDelete((INFERMETRICS_ServerOptions*)fresh)); break;
      case T_SERVER:
        if (fresh) OK(INFERMETRICS_ServerDelete((INFERMETRICS_Server*)fresh));
        break;
      case T_ERROR:
        CHECK(INFERMETRICS_ErrorCode((Err*)fresh) == INFERMETRICS_ERROR_ALREADY_EXISTS);
        CHECK(strcmp(INFERMETRICS_ErrorMessage((Err*)fresh), "fresh") == 0);
        INFERMETRICS_ErrorDelete((Err*)fresh);
        break;
    }
    snprintf(ctx, sizeof ctx, "after deleting %s", k_type_names[t]);
    live_check(&L, ctx);
  }
  live_free(&L);
}

/* A live handle of each type passed as each other type; the live objects are unharmed. */
static void case_wrong_type(void)
{
  live_set L;
  char ctx[128];
  live_make(&L);
  void* handles[T_COUNT] = {L.param, L.family, L.args, L.metric, L.metrics, L.options, L.server, L.error};
  for (int from = 0; from < T_COUNT; ++from) {
    if (handles[from] == NULL) continue;
    for (int as = 0; as < T_COUNT; ++as) {
      if (as == from) continue;
      snprintf(ctx, sizeof ctx, "a live %s passed as a %s", k_type_names[from], k_type_names[as]);
      probe(as, handles[from], ctx, &L, 1);
      live_check(&L, ctx);
    }
  }
  live_free(&L);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void)
{
  /* xorshift64*: fixed seed, so a failure names a value that reproduces */
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 0x2545f4914f6cdd1dull;
}

/* Forged values for every type, then a live handle's neighbours and one-bit flips. */
static void case_forged(void)
{
  live_set L;
  char ctx[160];
  uint64_t stack_var[8] = {0};
  unsigned char* block = (unsigned char*)malloc(4096);
  live_make(&L);
  memset(block, 0xAB, 4096);
  {
    uintptr_t forged[64];
    const char* what[64];
    int n = 0;
    forged[n] = 1; what[n++] = "1";
    forged[n] = 0x10; what[n++] = "0x10";
    forged[n] = 0xdeadbeef; what[n++] = "0xdeadbeef";
    forged[n] = (uintptr_t)(void*)&stack_var[0]; what[n++] = "a pointer to a zeroed stack variable";
    forged[n] = (uintptr_t)(void*)&stack_var[3]; what[n++] = "a pointer into a zeroed stack array";
    forged[n] = (uintptr_t)(void*)block; what[n++] = "a malloc'd block filled with 0xAB";
    forged[n] = (uintptr_t)(void*)(block + 8); what[n++] = "8 bytes into a malloc'd block";
    forged[n] = (uintptr_t)(void*)(block + 1001); what[n++] = "an odd address in a malloc'd block";
    forged[n] = (uintptr_t)(void*)-1; what[n++] = "(void*)-1";
    forged[n] = (uintptr_t)(void*)-8; what[n++] = "(void*)-8";
    forged[n] = (uintptr_t)0x8000000000000000ull; what[n++] = "1 << 63";
    forged[n] = (uintptr_t)&case_forged; what[n++] = "a function's address";
    forged[n] = (uintptr_t)(void*)"a string literal"; what[n++] = "a string literal";
    while (n < 40) {
      forged[n] = (uintptr_t)rng_next();
      what[n++] = "a random 64-bit value";
    }
    for (int t = 0; t < T_COUNT; ++t) {
      for (int i = 0; i < n; ++i) {
        snprintf(ctx, sizeof ctx, "%s forged as %s (0x%llx)", k_type_names[t], what[i], (unsigned long long)forged[i]);
        probe(t, (void*)forged[i], ctx, &L, 1);
      }
      snprintf(ctx, sizeof ctx, "after forged %s handles", k_type_names[t]);
      live_check(&L, ctx);
    }
  }
  /* Neighbours and one-bit flips of a live handle, while it is the only live object of its type
     here (so no flip can land on another legitimate handle of that type). */
  for (int t = 0; t < T_COUNT; ++t) {
    void* h = NULL;
    switch (t) {
      case T_PARAMETER: h = tu_label("p", "neighbour"); break;
      case T_FAMILY: h = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "handles_neighbour_total", "n"); break;
      case T_ARGS: h = HIST_ARGS(k_buckets, 2); break;
      case T_METRIC: h = METRIC(L.family, 1, "who", "neighbour"); break;
      case T_METRICS: OK(INFERMETRICS_ServerMetrics(NULL, (INFERMETRICS_Metrics**)&h)); break;
      case T_OPTIONS: OK(INFERMETRICS_ServerOptionsNew((INFERMETRICS_ServerOptions**)&h)); break;
      case T_SERVER: h = NULL; break; /* one server is plenty (L.server is the live one) */
      case T_ERROR: h = INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_CANCELLED, "neighbour"); break;
    }
    /* the live set holds one object of each type too: a flip that lands exactly on it is skipped */
    void* twin = NULL;
    switch (t) {
      case T_PARAMETER: twin = L.param; break;
      case T_FAMILY: twin = L.family; break; /* L.hfamily too, below */
      case T_ARGS: twin = L.args; break;
      case T_METRIC: twin = L.metric; break;
      case T_METRICS: twin = L.metrics; break;
      case T_OPTIONS: twin = L.options; break;
      case T_SERVER: h = L.server; break;
      case T_ERROR: twin = L.error; break;
    }
    if (h == NULL) continue;
    for (int k = 1; k <= 7 + 64; ++k) {
      uintptr_t v = k <= 7 ? (uintptr_t)h + (uintptr_t)k : (uintptr_t)h ^ ((uintptr_t)1 << (k - 8));
      if ((void*)v == twin || (void*)v == (void*)L.hfamily || v == 0) continue;
      if (k <= 7)
        snprintf(ctx, sizeof ctx, "live %s %p plus %d", k_type_names[t], h, k);
      else
        snprintf(ctx, sizeof ctx, "live %s %p with bit %d flipped (0x%llx)", k_type_names[t], h, k - 8,
                 (unsigned long long)v);
      probe(t, (void*)v, ctx, &L, 1);
    }
    snprintf(ctx, sizeof ctx, "after neighbours of a live %s", k_type_names[t]);
    live_check(&L, ctx);
    /* h itself is unharmed and deletes once */
    switch (t) {
      case T_PARAMETER: INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)h); break;
      case T_FAMILY: OK(INFERMETRICS_MetricFamilyDelete((INFERMETRICS_MetricFamily*)h)); break;
      case T_ARGS: OK(INFERMETRICS_MetricArgsDelete((INFERMETRICS_MetricArgs*)h)); break;
      case T_METRIC:
        CHECK_VALUE((INFERMETRICS_Metric*)h, 0);
        OK(INFERMETRICS_MetricDelete((INFERMETRICS_Metric*)h));
        break;
      case T_METRICS: OK(INFERMETRICS_MetricsDelete((INFERMETRICS_Metrics*)h)); break;
      case T_OPTIONS: OK(INFERMETRICS_ServerOptionsDelete((INFERMETRICS_ServerOptions*)h)); break;
      case T_SERVER: break;
      case T_ERROR:
        CHECK(INFERMETRICS_ErrorCode((Err*)h) == INFERMETRICS_ERROR_CANCELLED);
        INFERMETRICS_ErrorDelete((Err*)h);
        break;
    }
  }
  live_check(&L, "at the end of the forged cases");
  live_free(&L);
  free(block);
}

/* 200 metrics deleted, 200 created: no old handle reaches a new series. */
static void case_aliasing(void)
{
  enum { N = 200 };
  INFERMETRICS_Metric* old_h[N];
  INFERMETRICS_Metric* new_h[N];
  char v[32];
  int aliased = 0, equal_values = 0;
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "handles_alias", "aliasing");
  if (!f) return;
  for (int i = 0; i < N; ++i) {
    snprintf(v, sizeof v, "old%d", i);
    old_h[i] = METRIC(f, 1, "i", v);
  }
  for (int i = 0; i < N; ++i) OK(INFERMETRICS_MetricDelete(old_h[i]));
  for (int i = 0; i < N; ++i) {
    snprintf(v, sizeof v, "new%d", i);
    new_h[i] = METRIC(f, 1, "i", v);
    OK(INFERMETRICS_MetricSet(new_h[i], 1000 + i));
  }
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j)
      if (old_h[i] == new_h[j]) ++equal_values;
  for (int i = 0; i < N; ++i) {
    char ctx[64];
    double val = -1;
    Err* e;
    snprintf(ctx, sizeof ctx, "deleted metric %d of %d (%p)", i, N, (void*)old_h[i]);
    e = INFERMETRICS_MetricIncrement(old_h[i], 1);
    if (e == NULL) ++aliased;
    inv_at(__LINE__, ctx, "INFERMETRICS_MetricIncrement(old, 1)", e);
    INV(ctx, INFERMETRICS_MetricSet(old_h[i], -1));
    INV(ctx, INFERMETRICS_MetricValue(old_h[i], &val));
  }
  for (int i = 0; i < N; ++i) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "deleted metric %d of %d (%p)", i, N, (void*)old_h[i]);
    INV(ctx, INFERMETRICS_MetricDelete(old_h[i]));
  }
  CHECKF(aliased == 0, "%d of %d deleted metric handles were accepted by MetricIncrement (aliasing new series)",
         aliased, N);
  CHECKF(equal_values == 0, "%d of %d new metric handles have the value of a deleted one", equal_values, N);
  {
    int wrong = 0;
    for (int i = 0; i < N; ++i) {
      double val = -1;
      Err* e = INFERMETRICS_MetricValue(new_h[i], &val);
      if (e != NULL || val != 1000 + i) {
        if (wrong < 10)
          tu_fail(__FILE__, __LINE__, "new series i=\"new%d\": expected value %d, got %g (%s)", i, 1000 + i, val,
                  e ? INFERMETRICS_ErrorMessage(e) : "ok");
        ++wrong;
      }
      INFERMETRICS_ErrorDelete(e);
      OK(INFERMETRICS_MetricDelete(new_h[i]));
    }
    CHECKF(wrong == 0, "%d of %d new series were changed through deleted handles", wrong, N);
  }
  {
    char* text = SNAPSHOT();
    CHECK_NO_LINE_PREFIX(text, "handles_alias{");
    free(text);
  }
  OK(INFERMETRICS_MetricFamilyDelete(f));
  printf("aliasing: %d of %d deleted handles accepted, %d equal handle values\n", aliased, N, equal_values);
}

static int cmp_ptr(const void* a, const void* b)
{
  uintptr_t x = *(const uintptr_t*)a, y = *(const uintptr_t*)b;
  return x < y ? -1 : x > y;
}

/* 100,000 create/delete cycles of one slot; every earlier handle stays invalid. */
enum { CYCLES = 100000 };
static void case_churn(void)
{
  uintptr_t* hs = (uintptr_t*)malloc(CYCLES * sizeof *hs);
  uintptr_t* sorted = (uintptr_t*)malloc(CYCLES * sizeof *sorted);
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "handles_churn_total", "churn");
  INFERMETRICS_Metric* keep = NULL;
  int accepted, dup;
  if (!f || !hs || !sorted) return;

  /* metrics: a second, long-lived series must not be touched by stale handles */
  keep = METRIC(f, 1, "who", "keeper");
  OK(INFERMETRICS_MetricIncrement(keep, 5));
  for (int i = 0; i < CYCLES; ++i) {
    INFERMETRICS_Metric* m = NULL;
    Err* e = INFERMETRICS_MetricNew(&m, f, NULL, 0);
    if (e) {
      tu_ok(__FILE__, __LINE__, "MetricNew in the churn loop", e);
      break;
    }
    hs[i] = (uintptr_t)m;
    if (i < CYCLES - 1) {
      e = INFERMETRICS_MetricDelete(m);
      if (e) {
        tu_ok(__FILE__, __LINE__, "MetricDelete in the churn loop", e);
        break;
      }
    }
  }
  memcpy(sorted, hs, CYCLES * sizeof *hs);
  qsort(sorted, CYCLES, sizeof *sorted, cmp_ptr);
  dup = 0;
  for (int i = 1; i < CYCLES; ++i)
    if (sorted[i] == sorted[i - 1]) ++dup;
  CHECKF(dup == 0, "metric churn: %d of %d handle values repeat an earlier cycle's", dup, CYCLES);
  accepted = 0;
  for (int i = 0; i < CYCLES - 1; ++i) {
    Err* e = INFERMETRICS_MetricIncrement((INFERMETRICS_Metric*)hs[i], 1);
    if (e == NULL || INFERMETRICS_ErrorCode(e) != INFERMETRICS_ERROR_INVALID_ARG) {
      if (accepted < 5)
        tu_fail(__FILE__, __LINE__, "metric churn: the handle of cycle %d (%p) was not refused: %s", i, (void*)hs[i],
                e ? INFERMETRICS_ErrorMessage(e) : "success");
      ++accepted;
    }
    INFERMETRICS_ErrorDelete(e);
  }
  ++tu_checks;
  if (accepted) tu_fail(__FILE__, __LINE__, "metric churn: %d of %d stale handles were not refused", accepted, CYCLES - 1);
  INV("the first cycle's metric handle", INFERMETRICS_MetricIncrement((INFERMETRICS_Metric*)hs[0], 1));
  INV("the first cycle's metric handle", INFERMETRICS_MetricDelete((INFERMETRICS_Metric*)hs[0]));
  {
    double v = -1;
    INV("the first cycle's metric handle", INFERMETRICS_MetricValue((INFERMETRICS_Metric*)hs[0], &v));
  }
  CHECK_VALUE((INFERMETRICS_Metric*)hs[CYCLES - 1], 0);
  CHECK_VALUE(keep, 5);
  OK(INFERMETRICS_MetricDelete((INFERMETRICS_Metric*)hs[CYCLES - 1]));
  OK(INFERMETRICS_MetricDelete(keep));
  printf("metric churn: %d cycles, %d repeated handle values, %d stale handles accepted\n", CYCLES, dup, accepted);

  /* family handles */
  for (int i = 0; i < CYCLES; ++i) {
    INFERMETRICS_MetricFamily* g = NULL;
    Err* e = INFERMETRICS_MetricFamilyNew(&g, INFERMETRICS_METRIC_KIND_COUNTER, "handles_churn_total", "churn");
    if (e) {
      tu_ok(__FILE__, __LINE__, "MetricFamilyNew in the churn loop", e);
      break;
    }
    hs[i] = (uintptr_t)g;
    if (i < CYCLES - 1) INFERMETRICS_ErrorDelete(INFERMETRICS_MetricFamilyDelete(g));
  }
  accepted = 0;
  for (int i = 0; i < CYCLES - 1; i += 7) {
    INFERMETRICS_MetricKind k;
    Err* e = INFERMETRICS_GetMetricFamilyKind((INFERMETRICS_MetricFamily*)hs[i], &k);
    if (e == NULL) ++accepted;
    INFERMETRICS_ErrorDelete(e);
  }
  CHECKF(accepted == 0, "family churn: %d stale family handles (every 7th cycle) were accepted", accepted);
  INV("the first cycle's family handle", INFERMETRICS_MetricFamilyDelete((INFERMETRICS_MetricFamily*)hs[0]));
  OK(INFERMETRICS_MetricFamilyDelete((INFERMETRICS_MetricFamily*)hs[CYCLES - 1]));

  /* errors */
  for (int i = 0; i < CYCLES; ++i) {
    Err* e = INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_ALREADY_EXISTS, "churn");
    hs[i] = (uintptr_t)e;
    if (i < CYCLES - 1) INFERMETRICS_ErrorDelete(e);
  }
  accepted = 0;
  for (int i = 0; i < CYCLES - 1; i += 7)
    if (INFERMETRICS_ErrorCode((Err*)hs[i]) != INFERMETRICS_ERROR_UNKNOWN) ++accepted;
  CHECKF(accepted == 0, "error churn: ErrorCode of %d deleted errors (every 7th cycle) was not UNKNOWN", accepted);
  INFERMETRICS_ErrorDelete((Err*)hs[0]); /* stale: must not free the live one */
  CHECKF(INFERMETRICS_ErrorCode((Err*)hs[CYCLES - 1]) == INFERMETRICS_ERROR_ALREADY_EXISTS,
         "error churn: the live error's code changed after ErrorDelete of a stale one");
  INFERMETRICS_ErrorDelete((Err*)hs[CYCLES - 1]);

  OK(INFERMETRICS_MetricFamilyDelete(f));
  free(hs);
  free(sorted);
}

/* ---------------------------------------------------------------- driver */

static void run_case(const char* name, void (*fn)(void))
{
  pid_t pid;
  int status = 0;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0) {
    tu_fail(__FILE__, __LINE__, "fork for case %s failed", name);
    return;
  }
  if (pid == 0) {
    tu_failures = tu_checks = 0; /* the child counts its own */
    alarm(120);                  /* a hang ends as SIGALRM */
    fn();
    fprintf(stderr, "case %s: %d of %d checks failed\n", name, tu_failures, tu_checks);
    fflush(stdout);
    fflush(stderr);
    _exit(tu_failures ? 1 : 0);
  }
  while (waitpid(pid, &status, 0) < 0) {
  }
  ++tu_checks;
  if (WIFSIGNALED(status))
    tu_fail(__FILE__, __LINE__, "case %s: the process died of signal %d (%s)", name, WTERMSIG(status),
            strsignal(WTERMSIG(status)));
  else if (WEXITSTATUS(status) != 0)
    tu_fail(__FILE__, __LINE__, "case %s: failed (exit %d, see above)", name, WEXITSTATUS(status));
  else
    printf("case %s: passed\n", name);
}

static void quiet_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)level;
  (void)message;
  (void)userp;
}

static void case_with_quiet_log(void (*fn)(void))
{
  INFERMETRICS_SetLogCallback(quiet_log, NULL);
  fn();
}
static void c_stale(void) { case_with_quiet_log(case_stale); }
static void c_wrong(void) { case_with_quiet_log(case_wrong_type); }
static void c_forged(void) { case_with_quiet_log(case_forged); }
static void c_alias(void) { case_with_quiet_log(case_aliasing); }
static void c_churn(void) { case_with_quiet_log(case_churn); }

int main(int argc, char** argv)
{
  /* `test_handles NAME` runs one case in this process (for a debugger) */
  static const struct {
    const char* name;
    void (*fn)(void);
  } cases[] = {{"stale", c_stale}, {"wrong_type", c_wrong}, {"forged", c_forged}, {"aliasing", c_alias},
               {"churn", c_churn}};
  size_t i;
  if (argc > 1) {
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i)
      if (strcmp(argv[1], cases[i].name) == 0) {
        cases[i].fn();
        return TEST_SUMMARY();
      }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
  }
  for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_case(cases[i].name, cases[i].fn);
  return TEST_SUMMARY();
}

/*
 * Shared helpers of the infermetrics metrics-server tests (tests/server/), header-only.
 *
 * Checks never abort: each failure prints "file:line: FAIL: what was expected / what came" and
 * is counted; a program ends with `return TEST_SUMMARY();` (exit 1 if anything failed).
 * Error helpers take ownership of the INFERMETRICS_Error* they are given and delete it.
 */
#ifndef INFERMETRICS_SERVER_TEST_H
#define INFERMETRICS_SERVER_TEST_H

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "http_client.h"
#include "infermetrics.h"

static int st_failures = 0;
static int st_checks = 0;

static inline void st_fail(const char* file, int line, const char* fmt, ...)
{
  va_list ap;
  ++st_failures;
  fprintf(stderr, "%s:%d: FAIL: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

static inline const char* st_code_name(int code)
{
  static const char* const names[] = {"UNKNOWN",     "INTERNAL",    "NOT_FOUND",      "INVALID_ARG",
                                      "UNAVAILABLE", "UNSUPPORTED", "ALREADY_EXISTS", "CANCELLED"};
  return (code >= 0 && code < 8) ? names[code] : "<out of range>";
}

#define CHECK(cond)                                                  \
  do {                                                               \
    ++st_checks;                                                     \
    if (!(cond)) st_fail(__FILE__, __LINE__, "expected: %s", #cond); \
  } while (0)

#define CHECKF(cond, ...)                                \
  do {                                                   \
    ++st_checks;                                         \
    if (!(cond)) st_fail(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

static inline int st_ok(const char* file, int line, const char* expr, INFERMETRICS_Error* err)
{
  ++st_checks;
  if (err == NULL) return 1;
  st_fail(file, line, "expected success from %s, got %s: %s", expr, st_code_name((int)INFERMETRICS_ErrorCode(err)),
          INFERMETRICS_ErrorMessage(err));
  INFERMETRICS_ErrorDelete(err);
  return 0;
}
/* The call must succeed; evaluates to 1 on success. */
#define OK(call) st_ok(__FILE__, __LINE__, #call, (call))

/* Is `word` quoted in msg as 'word', "word", `word` or [word]? */
static inline int st_names(const char* msg, const char* word)
{
  static const char* const quotes[][2] = {{"'", "'"}, {"\"", "\""}, {"`", "`"}, {"[", "]"}};
  char buf[512];
  for (size_t i = 0; i < sizeof quotes / sizeof quotes[0]; ++i) {
    snprintf(buf, sizeof buf, "%s%s%s", quotes[i][0], word, quotes[i][1]);
    if (strstr(msg, buf) != NULL) return 1;
  }
  return 0;
}

/*
 * The call must fail with `code`; if `substr` is non-NULL the message must contain it; if
 * `exact` is non-NULL the message must equal it. Returns 1 when all holds.
 */
static inline int st_err(const char* file, int line, const char* expr, INFERMETRICS_Error* err, int code,
                         const char* substr, const char* exact)
{
  int good = 1;
  ++st_checks;
  if (err == NULL) {
    st_fail(file, line, "expected %s from %s, got success", st_code_name(code), expr);
    return 0;
  }
  int got = (int)INFERMETRICS_ErrorCode(err);
  const char* msg = INFERMETRICS_ErrorMessage(err);
  if (got != code) {
    st_fail(file, line, "expected %s from %s, got %s: %s", st_code_name(code), expr, st_code_name(got), msg);
    good = 0;
  } else if (substr && !strstr(msg, substr)) {
    st_fail(file, line, "expected the message of %s to contain \"%s\", got \"%s\"", expr, substr, msg);
    good = 0;
  } else if (exact && strcmp(msg, exact) != 0) {
    st_fail(file, line, "expected the message of %s to be exactly \"%s\", got \"%s\"", expr, exact, msg);
    good = 0;
  }
  INFERMETRICS_ErrorDelete(err);
  return good;
}
#define ERR(call, code) st_err(__FILE__, __LINE__, #call, (call), (code), NULL, NULL)
#define ERR_MSG(call, code, substr) st_err(__FILE__, __LINE__, #call, (call), (code), (substr), NULL)
#define ERR_EXACT(call, code, exact) st_err(__FILE__, __LINE__, #call, (call), (code), NULL, (exact))

/* The call must fail with INVALID_ARG and its message must name `arg` in quotes. */
static inline void st_null_arg(const char* file, int line, const char* expr, INFERMETRICS_Error* err, const char* arg)
{
  ++st_checks;
  if (err == NULL) {
    st_fail(file, line, "expected INVALID_ARG naming '%s' from %s, got success", arg, expr);
    return;
  }
  int got = (int)INFERMETRICS_ErrorCode(err);
  const char* msg = INFERMETRICS_ErrorMessage(err);
  if (got != INFERMETRICS_ERROR_INVALID_ARG)
    st_fail(file, line, "expected INVALID_ARG from %s, got %s: %s", expr, st_code_name(got), msg);
  else if (!st_names(msg, arg))
    st_fail(file, line, "expected the message of %s to name the argument '%s', got \"%s\"", expr, arg, msg);
  INFERMETRICS_ErrorDelete(err);
}
#define NULL_ARG(call, arg) st_null_arg(__FILE__, __LINE__, #call, (call), (arg))

#define TEST_SUMMARY() st_summary(__FILE__)
static inline int st_summary(const char* file)
{
  if (st_failures) {
    fprintf(stderr, "%s: %d of %d checks FAILED\n", file, st_failures, st_checks);
    return 1;
  }
  printf("%s: all %d checks passed\n", file, st_checks);
  return 0;
}

/* ---------------------------------------------------------------- log capture */

/* Library log lines go to stderr unless a test installs st_quiet_log (counts lines). */
static int st_log_errors = 0;
static inline void st_quiet_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)userp;
  (void)message;
  if (level == INFERMETRICS_LOG_ERROR) ++st_log_errors;
}

/* ---------------------------------------------------------------- servers */

typedef struct {
  const char* address; /* default "127.0.0.1" */
  uint16_t port;       /* default 0 (any free port) */
  uint64_t interval_ms;/* default 100 */
  int gpu, cpu, pinned;/* default 0, 1, 1 (see st_server_defaults) */
  int openmetrics;     /* default 0: INFERMETRICS_ServerOptionsSetOpenMetrics when set */
  const char* web_config; /* default NULL: INFERMETRICS_ServerOptionsSetWebConfig when set */
} st_server_cfg;

static inline st_server_cfg st_server_defaults(void)
{
  st_server_cfg c = {"127.0.0.1", 0, 100, 0, 1, 1, 0, NULL};
  return c;
}

/* Starts a server as configured; returns it (and its port in *port) or NULL after a FAIL. */
static inline INFERMETRICS_Server* st_start_at(const char* file, int line, st_server_cfg cfg, uint16_t* port)
{
  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* s = NULL;
  INFERMETRICS_Error* e = INFERMETRICS_ServerOptionsNew(&o);
  if (!st_ok(file, line, "ServerOptionsNew", e)) return NULL;
  int good = st_ok(file, line, "ServerOptionsSetAddress", INFERMETRICS_ServerOptionsSetAddress(o, cfg.address)) &&
             st_ok(file, line, "ServerOptionsSetPort", INFERMETRICS_ServerOptionsSetPort(o, cfg.port)) &&
             st_ok(file, line, "ServerOptionsSetMetricsInterval",
                   INFERMETRICS_ServerOptionsSetMetricsInterval(o, cfg.interval_ms)) &&
             st_ok(file, line, "ServerOptionsSetGpuMetrics", INFERMETRICS_ServerOptionsSetGpuMetrics(o, cfg.gpu != 0)) &&
             st_ok(file, line, "ServerOptionsSetCpuMetrics", INFERMETRICS_ServerOptionsSetCpuMetrics(o, cfg.cpu != 0)) &&
             st_ok(file, line, "ServerOptionsSetPinnedMemoryMetrics",
                   INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(o, cfg.pinned != 0));
  if (good && cfg.openmetrics)
    good = st_ok(file, line, "ServerOptionsSetOpenMetrics", INFERMETRICS_ServerOptionsSetOpenMetrics(o, true));
  if (good && cfg.web_config)
    good = st_ok(file, line, "ServerOptionsSetWebConfig", INFERMETRICS_ServerOptionsSetWebConfig(o, cfg.web_config));
  if (good && st_ok(file, line, "ServerNew", INFERMETRICS_ServerNew(&s, o))) {
    uint16_t p = 0;
    if (!st_ok(file, line, "ServerPort", INFERMETRICS_ServerPort(s, &p)) || p == 0) {
      st_fail(file, line, "expected a non-zero bound port, got %u", (unsigned)p);
    }
    if (port) *port = p;
  } else {
    s = NULL;
  }
  st_ok(file, line, "ServerOptionsDelete", INFERMETRICS_ServerOptionsDelete(o));
  return s;
}
#define START_SERVER(cfg, port) st_start_at(__FILE__, __LINE__, (cfg), (port))

/* Deletes a server, checking it succeeds; returns the milliseconds it took. */
static inline long long st_stop_at(const char* file, int line, INFERMETRICS_Server* s)
{
  long long t0 = hc_now_ms();
  st_ok(file, line, "ServerDelete", INFERMETRICS_ServerDelete(s));
  return hc_now_ms() - t0;
}
#define STOP_SERVER(s) st_stop_at(__FILE__, __LINE__, (s))

/* A TCP port that is free on 127.0.0.1 (and ::1 when `v6`) right now. */
static inline uint16_t st_free_port(int v6)
{
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0) return 0;
    if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr*)&a, &al) != 0) {
      close(fd);
      return 0;
    }
    close(fd);
    uint16_t port = ntohs(a.sin_port);
    if (!v6) return port;
    int fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 b;
    memset(&b, 0, sizeof b);
    b.sin6_family = AF_INET6;
    b.sin6_addr = in6addr_loopback;
    b.sin6_port = htons(port);
    int ok = fd6 >= 0 && bind(fd6, (struct sockaddr*)&b, sizeof b) == 0;
    if (fd6 >= 0) close(fd6);
    if (ok) return port;
  }
  return 0;
}

/* ---------------------------------------------------------------- scraping */

/* GET /metrics on a fresh connection: the body (malloc'ed; caller frees) or NULL after a FAIL. */
static inline char* st_scrape_at(const char* file, int line, const char* host, uint16_t port)
{
  hc_response r;
  ++st_checks;
  int rc = hc_get(host, port, "/metrics", &r, 5000);
  if (rc != HC_OK) {
    st_fail(file, line, "GET http://%s:%u/metrics: %s", host, (unsigned)port, hc_strerror(rc));
    return NULL;
  }
  if (r.status != 200) {
    st_fail(file, line, "GET http://%s:%u/metrics: expected status 200, got %d", host, (unsigned)port, r.status);
    hc_response_free(&r);
    return NULL;
  }
  char* body = r.body;
  r.body = NULL;
  hc_response_free(&r);
  return body;
}
#define SCRAPE(host, port) st_scrape_at(__FILE__, __LINE__, (host), (port))

/*
 * Finds the sample line whose name-and-labels part is exactly `series` (e.g.
 * `foo{a="b"}` or `nv_cpu_utilization`) and parses its value. Returns 1 if found.
 */
static inline int st_sample(const char* body, const char* series, double* value)
{
  size_t n = strlen(series);
  const char* p = body;
  while (p && *p) {
    if (strncmp(p, series, n) == 0 && p[n] == ' ') {
      char* end = NULL;
      double v = strtod(p + n + 1, &end);
      if (end == p + n + 1) {
        /* Prometheus spellings strtod may not take */
        if (strncmp(p + n + 1, "+Inf", 4) == 0) v = INFINITY;
        else if (strncmp(p + n + 1, "-Inf", 4) == 0) v = -INFINITY;
        else if (strncmp(p + n + 1, "NaN", 3) == 0) v = NAN;
        else return 0;
      }
      if (value) *value = v;
      return 1;
    }
    p = strchr(p, '\n');
    if (p) ++p;
  }
  return 0;
}

/* Does any line of body start with `prefix`? */
static inline int st_has_line_prefix(const char* body, const char* prefix)
{
  size_t n = strlen(prefix);
  const char* p = body;
  while (p && *p) {
    if (strncmp(p, prefix, n) == 0) return 1;
    p = strchr(p, '\n');
    if (p) ++p;
  }
  return 0;
}

/* Does any sample line (not a comment) contain `needle`? */
static inline int st_has_sample_containing(const char* body, const char* needle)
{
  const char* p = body;
  size_t nl = strlen(needle);
  while (p && *p) {
    const char* e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (*p != '#') {
      for (size_t i = 0; i + nl <= len; ++i)
        if (memcmp(p + i, needle, nl) == 0) return 1;
    }
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* ---------------------------------------------------------------- process resources */

/* Threads of this process (/proc/self/status "Threads:"), or -1. */
static inline int st_thread_count(void)
{
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  fclose(f);
  return n;
}

/* Prints this process's threads by name ("name x count") to stderr, for leak reports. */
static inline void st_print_threads(void)
{
  DIR* d = opendir("/proc/self/task");
  char names[512][20];
  int counts[512], n = 0;
  struct dirent* e;
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[20] = "?";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE* f = fopen(path, "r");
    if (f) {
      if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = '\0';
      fclose(f);
    }
    int k;
    for (k = 0; k < n; ++k)
      if (strcmp(names[k], comm) == 0) break;
    if (k == n && n < 512) {
      snprintf(names[n], sizeof names[n], "%s", comm);
      counts[n++] = 0;
    }
    if (k < 512) ++counts[k];
  }
  closedir(d);
  fprintf(stderr, "threads by name:");
  for (int k = 0; k < n; ++k) fprintf(stderr, " %s x%d", names[k], counts[k]);
  fprintf(stderr, "\n");
}

/* Resident set size in KiB (/proc/self/status "VmRSS:"), or -1. */
static inline long st_rss_kib(void)
{
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long n = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &n) == 1) break;
  fclose(f);
  return n;
}

/* Sockets among this process's descriptors (from /proc/self/fd). */
static inline int st_socket_count(void)
{
  DIR* d = opendir("/proc/self/fd");
  struct dirent* e;
  int n = 0;
  char path[300], target[128];
  if (!d) return -1;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len > 0) {
      target[len] = '\0';
      if (strncmp(target, "socket:", 7) == 0) ++n;
    }
  }
  closedir(d);
  return n;
}

/* Open file descriptors of this process (entries of /proc/self/fd, minus the one listing it). */
static inline int st_fd_count(void)
{
  DIR* d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent* e;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n - 1;
}

/* Raises the soft open-files limit to at least `want` (bounded by the hard limit). */
static inline void st_raise_nofile(rlim_t want)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

static inline void st_sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

#endif /* INFERMETRICS_SERVER_TEST_H */

/*
 * Helpers of the collector-group tests (process, container, host), header-only, on top of
 * server_test.h: a log capture, fixture trees under a temp dir, a server built from a list of
 * option calls, and small readers of the files the tests compare against.
 */
#ifndef INFERMETRICS_COLLECTOR_TEST_H
#define INFERMETRICS_COLLECTOR_TEST_H

#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "server_test.h"

/* ---------------------------------------------------------------- log capture */

static pthread_mutex_t ct_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char ct_log_buf[1 << 16];
static size_t ct_log_len;

/* Log callback: keeps every line (up to 64 KiB) for ct_log_count; prints nothing. */
static inline void ct_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)userp;
  (void)level;
  pthread_mutex_lock(&ct_log_mu);
  size_t n = strlen(message);
  if (ct_log_len + n + 2 < sizeof ct_log_buf) {
    memcpy(ct_log_buf + ct_log_len, message, n);
    ct_log_len += n;
    ct_log_buf[ct_log_len++] = '\n';
    ct_log_buf[ct_log_len] = '\0';
  }
  pthread_mutex_unlock(&ct_log_mu);
}

/* How many captured log lines contain `needle`. */
static inline int ct_log_count(const char* needle)
{
  int n = 0;
  pthread_mutex_lock(&ct_log_mu);
  for (const char* p = ct_log_buf; (p = strstr(p, needle)) != NULL; p += strlen(needle)) ++n;
  pthread_mutex_unlock(&ct_log_mu);
  return n;
}

static inline void ct_log_print(void)
{
  pthread_mutex_lock(&ct_log_mu);
  fprintf(stderr, "captured log:\n%s", ct_log_buf);
  pthread_mutex_unlock(&ct_log_mu);
}

/* ---------------------------------------------------------------- fixture trees */

/* mkdir -p of the directory part of `path`. */
static inline void ct_mkdirs_for(const char* path)
{
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char* p = buf + 1; *p; ++p) {
    if (*p == '/') {
      *p = '\0';
      mkdir(buf, 0755);
      *p = '/';
    }
  }
}

/* Writes root/rel with `content`, creating directories; atomically (rename), so a collector
   reading it concurrently sees the old or the new content, never a mix. */
static inline void ct_write(const char* root, const char* rel, const char* content)
{
  char path[PATH_MAX], tmp[PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  ct_mkdirs_for(path);
  FILE* f = fopen(tmp, "w");
  if (!f) {
    st_fail(__FILE__, __LINE__, "cannot write fixture file %s", tmp);
    return;
  }
  fputs(content, f);
  fclose(f);
  if (rename(tmp, path) != 0) st_fail(__FILE__, __LINE__, "cannot rename %s", tmp);
}

/* A new temp dir (caller frees); removed by ct_rmtree. */
static inline char* ct_tmpdir(const char* what)
{
  char buf[256];
  snprintf(buf, sizeof buf, "%s/infermetrics-%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", what);
  if (!mkdtemp(buf)) return NULL;
  return strdup(buf);
}

static inline void ct_rmtree(const char* dir)
{
  char cmd[PATH_MAX + 16];
  if (!dir || strncmp(dir, "/tmp/", 5) != 0) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---------------------------------------------------------------- servers */

/* Options as the tests need them: 127.0.0.1, port 0, `interval_ms`, GPU off; the caller sets
   the rest, then calls ct_start. NULL after a FAIL. */
static inline INFERMETRICS_ServerOptions* ct_options(uint64_t interval_ms)
{
  INFERMETRICS_ServerOptions* o = NULL;
  if (!OK(INFERMETRICS_ServerOptionsNew(&o))) return NULL;
  OK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  OK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  OK(INFERMETRICS_ServerOptionsSetMetricsInterval(o, interval_ms));
  OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  return o;
}

/* Starts a server from `o` (deleted here); its port in *port. NULL after a FAIL. */
static inline INFERMETRICS_Server* ct_start(INFERMETRICS_ServerOptions* o, uint16_t* port)
{
  INFERMETRICS_Server* s = NULL;
  *port = 0;
  if (!o) return NULL;
  if (!OK(INFERMETRICS_ServerNew(&s, o))) s = NULL;
  else OK(INFERMETRICS_ServerPort(s, port));
  OK(INFERMETRICS_ServerOptionsDelete(o));
  return s;
}

/* The value of `series` in a fresh scrape, NAN if absent. */
static inline double ct_value(uint16_t port, const char* series)
{
  double v = NAN;
  char* body = SCRAPE("127.0.0.1", port);
  if (body && !st_sample(body, series, &v)) v = NAN;
  free(body);
  return v;
}

/* Scrapes until `series` is present (up to max_ms); its value or NAN. */
static inline double ct_wait_value(uint16_t port, const char* series, int max_ms)
{
  long long t0 = hc_now_ms();
  double v;
  do {
    v = ct_value(port, series);
    if (!isnan(v)) return v;
    st_sleep_ms(20);
  } while (hc_now_ms() - t0 < max_ms);
  return NAN;
}

/* Does the body have any sample or metadata line of a family starting with `prefix`? */
static inline int ct_has_family_prefix(const char* body, const char* prefix)
{
  char help[128], type[128];
  snprintf(help, sizeof help, "# HELP %s", prefix);
  snprintf(type, sizeof type, "# TYPE %s", prefix);
  return st_has_line_prefix(body, prefix) || st_has_line_prefix(body, help) || st_has_line_prefix(body, type);
}

/* ---------------------------------------------------------------- files */

/* The first line of a file, trimmed, into buf; 0 if unreadable. */
static inline int ct_read_line(const char* path, char* buf, size_t n)
{
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  int ok = fgets(buf, (int)n, f) != NULL;
  fclose(f);
  if (ok) buf[strcspn(buf, "\n")] = '\0';
  return ok;
}

/* An unsigned number from the first line of a file; 0 if unreadable (then *ok = 0). */
static inline unsigned long long ct_read_u64(const char* path, int* ok)
{
  char buf[128];
  unsigned long long v = 0;
  int good = ct_read_line(path, buf, sizeof buf) && sscanf(buf, "%llu", &v) == 1;
  if (ok) *ok = good;
  return v;
}

/* `key value` from a flat-keyed file (cpu.stat, memory.stat, /proc/meminfo with "Key:"). */
static inline int ct_read_key(const char* path, const char* key, unsigned long long* v)
{
  FILE* f = fopen(path, "r");
  char line[512];
  size_t k = strlen(key);
  int found = 0;
  if (!f) return 0;
  while (!found && fgets(line, sizeof line, f))
    if (strncmp(line, key, k) == 0 && (line[k] == ' ' || line[k] == '\t'))
      found = sscanf(line + k, "%llu", v) == 1;
  fclose(f);
  return found;
}

#endif /* INFERMETRICS_COLLECTOR_TEST_H */

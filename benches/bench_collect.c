/* bench_collect: CPU time the collectors cost per interval, by thread, with every collector
 * group on (pinned, CPU, GPU, process, container, host with its filesystem helper), against
 * Triton's groups only (CPU and pinned memory) in the same run.
 *
 * Method: a fresh server per configuration, nothing scraping it; the CPU of each thread the
 * server started is read from /proc/self/task/<tid>/schedstat (nanoseconds) before and after
 * BENCH_COLLECT_S seconds (default 20) of the main thread sleeping; the collector threads are
 * those named infermetrics-* other than the HTTP ones (-http, -conn). "per interval" divides by
 * the number of intervals that passed. A third run at a 100 ms interval gives the cost of one
 * collection with more samples. Finally one scrape prints nv_collector_duration_seconds (wall
 * time of each collector's last run).
 * Reported, never pass/fail (target: under 0.1 % of a core at the 2 s interval).
 * "RESULT\t" lines feed benches/run.sh. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdbool.h>

#define BENCH_NAME "bench_collect"
#include "infermetrics.h"
#include "bench_util.h"

#define MAX_TIDS 256

static int list_tids(int* tids, int max) {
  DIR* d = opendir("/proc/self/task");
  struct dirent* e;
  int n = 0;
  if (d == NULL) return 0;
  while ((e = readdir(d)) != NULL && n < max)
    if (e->d_name[0] != '.') tids[n++] = atoi(e->d_name);
  closedir(d);
  return n;
}

static bool has_tid(const int* tids, int n, int tid) {
  for (int i = 0; i < n; i++)
    if (tids[i] == tid) return true;
  return false;
}

static double tid_cpu_ms(int tid) {
  char path[64];
  unsigned long long ns = 0;
  snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0.0;
  if (fscanf(f, "%llu", &ns) != 1) ns = 0;
  fclose(f);
  return (double)ns * 1e-6;
}

static void tid_name(int tid, char* out, size_t n) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
  snprintf(out, n, "?");
  FILE* f = fopen(path, "r");
  if (f == NULL) return;
  if (fgets(out, (int)n, f) == NULL) snprintf(out, n, "?");
  out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

/* GET /metrics with HTTP/1.0 (the server closes after the response); the whole response,
   malloc'ed, or NULL. */
static char* scrape(uint16_t port) {
  bench_http_conn c;
  if (bench_http_open(&c, port) != 0) return NULL;
  const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(c.fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
    bench_http_close(&c);
    return NULL;
  }
  size_t len = 0, cap = 1 << 16;
  char* out = malloc(cap + 1);
  for (;;) {
    if (len == cap) out = realloc(out, (cap *= 2) + 1);
    ssize_t r = recv(c.fd, out + len, cap - len, 0);
    if (r <= 0) break;
    len += (size_t)r;
  }
  out[len] = '\0';
  bench_http_close(&c);
  return out;
}

static INFERMETRICS_Server* start(uint64_t interval_ms, bool all, uint16_t* port) {
  INFERMETRICS_ServerOptions* o = NULL;
  CHECK(INFERMETRICS_ServerOptionsNew(&o));
  CHECK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  CHECK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  CHECK(INFERMETRICS_ServerOptionsSetMetricsInterval(o, interval_ms));
  static const char* const groups[] = {"pinned", "cpu", "gpu", "process", "container", "host"};
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
    bool on = all || strcmp(groups[i], "cpu") == 0 || strcmp(groups[i], "pinned") == 0;
    CHECK(INFERMETRICS_ServerOptionsSetCollector(o, groups[i], on));
  }
  INFERMETRICS_Server* s = NULL;
  CHECK(INFERMETRICS_ServerNew(&s, o));
  CHECK(INFERMETRICS_ServerOptionsDelete(o));
  CHECK(INFERMETRICS_ServerPort(s, port));
  return s;
}

/* Runs one configuration; returns the collector threads' CPU ms per interval. */
static double run(const char* label, const char* key, uint64_t interval_ms, bool all, double seconds, bool show) {
  int before[MAX_TIDS], after[MAX_TIDS], srv[MAX_TIDS];
  int nb = list_tids(before, MAX_TIDS);
  uint16_t port = 0;
  INFERMETRICS_Server* s = start(interval_ms, all, &port);
  int na = list_tids(after, MAX_TIDS), ns = 0;
  for (int i = 0; i < na; i++)
    if (!has_tid(before, nb, after[i])) srv[ns++] = after[i];
  double c0[MAX_TIDS], t0 = bench_now_s();
  for (int i = 0; i < ns; i++) c0[i] = tid_cpu_ms(srv[i]);
  while (bench_now_s() - t0 < seconds) usleep(50 * 1000);
  double wall = bench_now_s() - t0, coll = 0, other = 0;
  char detail[2048] = "";
  for (int i = 0; i < ns; i++) {
    char name[32], part[96];
    double ms = tid_cpu_ms(srv[i]) - c0[i];
    tid_name(srv[i], name, sizeof name);
    /* collector threads: "infermetrics-co" (the shared one), -gpu*, -statfs; not -http/-conn */
    bool collector = strncmp(name, "infermetrics-", 13) == 0 && strncmp(name + 13, "ht", 2) != 0 &&
                     strncmp(name + 13, "con", 3) != 0;
    if (collector) coll += ms;
    else other += ms;
    snprintf(part, sizeof part, " %s=%.2f", name, ms);
    if (strlen(detail) + strlen(part) < sizeof detail) strcat(detail, part);
  }
  double intervals = wall * 1000.0 / (double)interval_ms;
  double per = coll / intervals, pct = coll / (wall * 1000.0) * 100.0;
  printf("%-46s %8.2f %10.3f %12.4f\n", label, coll, per, pct);
  printf("#   %.1f s, %.0f intervals; CPU ms by thread:%s (non-collector threads: %.2f ms)\n", wall, intervals, detail,
         other);
  printf("RESULT\tinfermetrics\t%s_ms_per_interval\t%.4f\n", key, per);
  printf("RESULT\tinfermetrics\t%s_cpu_pct\t%.5f\n", key, pct);
  if (show) {
    /* one scrape: the collectors' own duration self-metric */
    char* body = scrape(port);
    const char* key = "\nnv_collector_duration_seconds{collector=\"";
    printf("#   nv_collector_duration_seconds (wall time of the last run):");
    for (const char* p = body; p != NULL && (p = strstr(p, key)) != NULL; p++) {
      const char* q = p + strlen(key);
      const char* e = strchr(q, '"');
      if (e == NULL) break;
      printf(" %.*s=%.1fus", (int)(e - q), q, atof(e + 3) * 1e6);
    }
    printf("\n");
    free(body);
  }
  CHECK(INFERMETRICS_ServerDelete(s));
  return per;
}

int main(void) {
  double seconds = (double)bench_env_u64("BENCH_COLLECT_S", 20);
  bench_print_machine(stdout, "bench_collect", "gcc");
  printf("\n%-46s %8s %10s %12s\n", "collector threads, no scrapes", "CPU ms", "ms/interval", "% of 1 core");
  run("Triton's groups (CPU, pinned), 2000 ms", "collect_triton", 2000, false, seconds, false);
  run("every group on, 2000 ms", "collect_all", 2000, true, seconds, false);
  run("every group on, 100 ms (cost of one run)", "collect_all_100ms", 100, true, seconds / 4 > 2 ? seconds / 4 : 2, true);
  return 0;
}

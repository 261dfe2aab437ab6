/* bench_http: the infermetrics metrics server through real HTTP on 127.0.0.1.
 *   - scrape latency (keep-alive, one connection) with 100, 1k and 10k registered series
 *     (half counters, half 10-bucket histograms), median and p99;
 *   - scrapes/s at 100 series with keep-alive, 1 and 2 client connections;
 *   - MetricIncrement cost with and without a scrape loop running in another thread;
 *   - CPU used by the server's threads at the default collection interval (2000 ms) with the
 *     CPU and pinned-memory collectors on, over BENCH_COLLECT_S seconds of idle running.
 * Reported, never pass/fail. Knobs: BENCH_N (default 20000000), BENCH_REPS (3 here),
 * BENCH_HTTP_SECONDS (3), BENCH_COLLECT_S (10). "RESULT\t" lines feed benches/run.sh. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/resource.h>

#define BENCH_NAME "bench_http"
#include "infermetrics.h"
#include "bench_util.h"


/* Observed values: spread over the lower buckets. */
static double http_observe(size_t i, size_t k) { return BOUNDS[(i + k * 3) % 10] * 0.9; }

/* n series: n/2 counters + n/2 10-bucket histograms (all counters if !mixed), labels {model, id}. */
static series_set make_series_kind(size_t n, const char* tag, bool mixed) {
  return bench_make_series("bench_http", n, tag, mixed, http_observe);
}

static series_set make_series(size_t n, const char* tag) { return make_series_kind(n, tag, true); }

static INFERMETRICS_Server* start_server(uint16_t* port) {
  INFERMETRICS_ServerOptions* o = NULL;
  CHECK(INFERMETRICS_ServerOptionsNew(&o));
  CHECK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  CHECK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  CHECK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  CHECK(INFERMETRICS_ServerOptionsSetCpuMetrics(o, true));
  CHECK(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(o, true));
  INFERMETRICS_Server* s = NULL;
  CHECK(INFERMETRICS_ServerNew(&s, o));
  CHECK(INFERMETRICS_ServerOptionsDelete(o));
  CHECK(INFERMETRICS_ServerPort(s, port));
  return s;
}

/* ------------------------------------------------------- recording with/without scrapes ---- */
static INFERMETRICS_Metric* g_counter;

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of reps: wall ns/op and this thread's CPU ns/op for n increments. */
static void incr_cost(uint64_t n, uint64_t reps, double* wall_ns, double* cpu_ns) {
  *wall_ns = *cpu_ns = 1e30;
  for (uint64_t r = 0; r < reps; r++) {
    double c0 = thread_cpu_s(), t0 = bench_now_s();
    for (uint64_t i = 0; i < n; i++) {
      INFERMETRICS_Error* e = INFERMETRICS_MetricIncrement(g_counter, 1.0);
      if (__builtin_expect(e != NULL, 0)) CHECK(e);
    }
    double w = (bench_now_s() - t0) * 1e9 / (double)n, c = (thread_cpu_s() - c0) * 1e9 / (double)n;
    if (w < *wall_ns) *wall_ns = w;
    if (c < *cpu_ns) *cpu_ns = c;
  }
}

/* ------------------------------------------------------------- thread CPU accounting ------- */
#define MAX_TIDS 256

static int list_tids(int* tids, int max) {
  DIR* d = opendir("/proc/self/task");
  int n = 0;
  if (d == NULL) return 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL && n < max) {
    if (e->d_name[0] == '.') continue;
    tids[n++] = atoi(e->d_name);
  }
  closedir(d);
  return n;
}

static bool has_tid(const int* tids, int n, int tid) {
  for (int i = 0; i < n; i++)
    if (tids[i] == tid) return true;
  return false;
}

/* CPU time of one thread in seconds: schedstat (ns) when present, else stat (clock ticks). */
static double tid_cpu_s(int tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
  FILE* f = fopen(path, "r");
  if (f != NULL) {
    unsigned long long ns = 0;
    int ok = fscanf(f, "%llu", &ns);
    fclose(f);
    if (ok == 1) return (double)ns * 1e-9;
  }
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  f = fopen(path, "r");
  if (f == NULL) return 0.0;
  char buf[1024];
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = '\0';
  char* p = strrchr(buf, ')'); /* fields after the comm: state(3) ... utime(14) stime(15) */
  if (p == NULL) return 0.0;
  unsigned long long ut = 0, st = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0.0;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double rusage_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec * 1e-6;
}

/* "bench_http serve SECONDS": 100 series on a fresh server, prints "PORT <n>", sleeps, exits
 * (for an external load generator such as wrk; benches/run.sh uses it when wrk is installed). */
static int serve_main(unsigned seconds) {
  uint16_t port = 0;
  series_set s = make_series(100, "tp");
  INFERMETRICS_Server* server = start_server(&port);
  printf("PORT %u\n", (unsigned)port);
  fflush(stdout);
  for (unsigned i = 0; i < seconds * 10; i++) usleep(100 * 1000);
  CHECK(INFERMETRICS_ServerDelete(server));
  free_series(&s);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 2 && strcmp(argv[1], "serve") == 0) return serve_main((unsigned)atoi(argv[2]));
  uint64_t n_ops = bench_env_u64("BENCH_N", 20000000);
  uint64_t reps = bench_env_u64("BENCH_REPS", 3);
  if (reps > 3) reps = 3;
  double http_s = (double)bench_env_u64("BENCH_HTTP_SECONDS", 3);
  uint64_t collect_s = bench_env_u64("BENCH_COLLECT_S", 10);
  bench_print_machine(stdout, "bench_http (infermetrics metrics server over HTTP/1.1 on 127.0.0.1)",
                      "gcc " __VERSION__);
  if (getenv("INFERMETRICS_INTERVAL_MS") != NULL)
    printf("# note: INFERMETRICS_INTERVAL_MS=%s is set and overrides the default interval\n",
           getenv("INFERMETRICS_INTERVAL_MS"));

  uint16_t port = 0;
  INFERMETRICS_Server* server = start_server(&port);
  printf("# server on 127.0.0.1:%u (GPU collector off, CPU + pinned collectors on)\n", (unsigned)port);

  /* -------- latency at 100 / 1k / 10k series */
  printf("\n%-44s %10s %10s %12s %8s\n", "scrape latency (keep-alive, 1 connection)", "median ms", "p99 ms", "bytes",
         "failed");
  size_t sizes[3] = {100, 1000, 10000};
  const char* tags[3] = {"100", "1k", "10k"};
  double med10k = 0;
  for (int k = 0; k < 3; k++) {
    series_set s = make_series(sizes[k], tags[k]);
    double med = 0, p99 = 0;
    size_t body = 0;
    int done = 0;
    int failed = bench_http_latency(port, 200, 15.0, &med, &p99, &body, &done);
    char label[96];
    snprintf(label, sizeof label, "%s series (%d scrapes)", tags[k], done);
    printf("%-44s %10.3f %10.3f %12zu %8d%s\n", label, med, p99, body, failed,
           k == 2 ? (med < 20.0 ? "  target < 20 ms: met" : "  target < 20 ms: MISSED") : "");
    printf("RESULT\tinfermetrics\thttp_lat_%s_med_ms\t%.3f\n", tags[k], med);
    printf("RESULT\tinfermetrics\thttp_lat_%s_p99_ms\t%.3f\n", tags[k], p99);
    printf("RESULT\tinfermetrics\thttp_lat_%s_bytes\t%zu\n", tags[k], body);
    if (k == 2) med10k = med;
    free_series(&s);
  }
  (void)med10k;

  /* -------- throughput at 100 series: half histograms (as above), then 100 counters only */
  printf("\n%-44s %10s %10s %10s %8s\n", "scrape throughput, keep-alive", "scrapes/s", "seconds", "reconnects",
         "failed");
  for (int mix = 1; mix >= 0; mix--) {
    series_set st = make_series_kind(100, mix ? "tp" : "tpc", mix == 1);
    for (int conns = 1; conns <= 2; conns++) {
      uint64_t failed = 0, rec = 0;
      double rps = bench_http_throughput(port, conns, http_s, &failed, &rec);
      char label[96];
      snprintf(label, sizeof label, "%s, %d conn", mix ? "100 series (50 hist)" : "100 counters only", conns);
      printf("%-44s %10.0f %10.1f %10llu %8llu  target >= 20000/s: %s\n", label, rps, http_s,
             (unsigned long long)rec, (unsigned long long)failed, rps >= 20000 ? "met" : "MISSED");
      printf("RESULT\tinfermetrics\thttp_rps_%s_%dc\t%.0f\n", mix ? "100" : "100c", conns, rps);
      printf("RESULT\tinfermetrics\thttp_reconnects_%s_%dc\t%llu\n", mix ? "100" : "100c", conns,
             (unsigned long long)rec);
    }
    if (mix) {
      double med = 0, p99 = 0;
      size_t body = 0;
      int done = 0;
      bench_http_latency(port, 1, 1.0, &med, &p99, &body, &done);
      printf("# body with 100 series (50 histograms) + collector series: %zu bytes\n", body);
    } else {
      double med = 0, p99 = 0;
      size_t body = 0;
      int done = 0;
      bench_http_latency(port, 1, 1.0, &med, &p99, &body, &done);
      printf("# body with 100 counters + collector series: %zu bytes\n", body);
      printf("RESULT\tinfermetrics\thttp_bytes_100c\t%zu\n", body);
    }
    free_series(&st);
  }
  series_set s100 = make_series(100, "tp");

  /* -------- recording cost with and without a scrape loop (100 series + this counter) */
  INFERMETRICS_MetricFamily* cf = NULL;
  CHECK(INFERMETRICS_MetricFamilyNew(&cf, INFERMETRICS_METRIC_KIND_COUNTER, "bench_http_hot_total", "hot counter"));
  CHECK(INFERMETRICS_MetricNew(&g_counter, cf, NULL, 0));
  double w0, c0, w1, c1;
  incr_cost(n_ops / 10, 1, &w0, &c0); /* warm-up */
  incr_cost(n_ops, reps, &w0, &c0);
  volatile int stop = 0;
  bench_http_loop_arg la;
  memset(&la, 0, sizeof la);
  la.port = port;
  la.seconds = 600;
  la.stop = &stop;
  pthread_t th;
  pthread_create(&th, NULL, bench_http_loop, &la);
  usleep(100 * 1000);
  double t0 = bench_now_s();
  incr_cost(n_ops, reps, &w1, &c1);
  double during = bench_now_s() - t0;
  stop = 1;
  pthread_join(th, NULL);
  printf("\n%-44s %10s %12s %s\n", "MetricIncrement while scraping", "wall ns/op", "thread-CPU", "");
  printf("%-44s %10.2f %12.2f\n", "no scrapes", w0, c0);
  printf("%-44s %10.2f %12.2f   (%llu scrapes in %.1f s, %llu failed)\n", "scrape loop in another thread", w1, c1,
         (unsigned long long)la.ok, during, (unsigned long long)la.failed);
  printf("%-44s %10.2f %12.2f\n", "ratio with/without", w1 / w0, c1 / c0);
  printf("RESULT\tinfermetrics\tincr_idle_ns\t%.3f\n", w0);
  printf("RESULT\tinfermetrics\tincr_scraping_ns\t%.3f\n", w1);
  printf("RESULT\tinfermetrics\tincr_idle_cpu_ns\t%.3f\n", c0);
  printf("RESULT\tinfermetrics\tincr_scraping_cpu_ns\t%.3f\n", c1);
  CHECK(INFERMETRICS_MetricDelete(g_counter));
  CHECK(INFERMETRICS_MetricFamilyDelete(cf));
  free_series(&s100);
  double td = bench_now_s();
  CHECK(INFERMETRICS_ServerDelete(server));
  printf("# ServerDelete took %.1f ms\n", (bench_now_s() - td) * 1e3);

  /* -------- collector CPU on a fresh, idle server (default interval) */
  int before[MAX_TIDS], after[MAX_TIDS];
  int nb = list_tids(before, MAX_TIDS);
  server = start_server(&port);
  CHECK(INFERMETRICS_PinnedMemoryPoolReport(1u << 30, 1u << 20));
  int na = list_tids(after, MAX_TIDS);
  int srv[MAX_TIDS], ns = 0;
  for (int i = 0; i < na; i++)
    if (!has_tid(before, nb, after[i])) srv[ns++] = after[i];
  double tc0 = 0, per0[MAX_TIDS];
  for (int i = 0; i < ns; i++) tc0 += (per0[i] = tid_cpu_s(srv[i]));
  double r0 = rusage_cpu_s(), wt0 = bench_now_s();
  for (uint64_t i = 0; i < collect_s * 10; i++) usleep(100 * 1000);
  double tc1 = 0, per1[MAX_TIDS];
  for (int i = 0; i < ns; i++) tc1 += (per1[i] = tid_cpu_s(srv[i]));
  double r1 = rusage_cpu_s(), wall = bench_now_s() - wt0;
  int nlate = list_tids(after, MAX_TIDS);
  double thr_ms = (tc1 - tc0) * 1e3, proc_ms = (r1 - r0) * 1e3;
  printf("\n%-44s %10s %10s %12s\n", "idle server, interval 2000 ms (CPU+pinned)", "CPU ms", "% of 1 core",
         "ms/interval");
  printf("%-44s %10.2f %10.4f %12.3f\n", "server threads (/proc/self/task/*/schedstat)", thr_ms,
         thr_ms / (wall * 1e3) * 100, thr_ms / (wall / 2.0));
  printf("%-44s %10.2f %10.4f %12.3f\n", "whole process (getrusage, main thread asleep)", proc_ms,
         proc_ms / (wall * 1e3) * 100, proc_ms / (wall / 2.0));
  printf("# %d server thread(s) appeared at ServerNew; %d threads in the process at the end; %.1f s measured\n", ns,
         nlate, wall);
  printf("# CPU ms per server thread over the run:");
  double coll_ms = 0;
  for (int i = 0; i < ns; i++) {
    char path[64], comm[64] = "?";
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", srv[i]);
    FILE* f = fopen(path, "r");
    if (f != NULL) {
      if (fgets(comm, sizeof comm, f) == NULL) snprintf(comm, sizeof comm, "?");
      comm[strcspn(comm, "\n")] = '\0';
      fclose(f);
    }
    printf(" %s=%.2f", comm, (per1[i] - per0[i]) * 1e3);
    /* collector threads: infermetrics-* except the HTTP responders (-http*) and heartbeat (-he*) */
    if (strncmp(comm, "infermetrics-", 13) == 0 && strncmp(comm + 13, "ht", 2) != 0 && strncmp(comm + 13, "he", 2) != 0)
      coll_ms += (per1[i] - per0[i]) * 1e3;
  }
  printf("\n");
  printf("%-44s %10.2f %10.4f %12.3f\n", "collector threads only (by thread name)", coll_ms,
         coll_ms / (wall * 1e3) * 100, coll_ms / (wall / 2.0));
  printf("RESULT\tinfermetrics\tcollectors_only_cpu_pct\t%.4f\n", coll_ms / (wall * 1e3) * 100);
  printf("RESULT\tinfermetrics\tcollectors_only_ms_per_interval\t%.3f\n", coll_ms / (wall / 2.0));
  printf("RESULT\tinfermetrics\tcollector_cpu_ms\t%.3f\n", thr_ms);
  printf("RESULT\tinfermetrics\tcollector_cpu_pct\t%.4f\n", thr_ms / (wall * 1e3) * 100);
  printf("RESULT\tinfermetrics\tprocess_cpu_pct\t%.4f\n", proc_ms / (wall * 1e3) * 100);
  printf("RESULT\tinfermetrics\tcollector_wall_s\t%.1f\n", wall);
  CHECK(INFERMETRICS_ServerDelete(server));
  return 0;
}

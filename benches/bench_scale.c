/*
 * bench_scale: how memory, rendering and scraping grow with the number of series.
 *
 * For each size in BENCH_SCALE_SIZES (default 1000,10000,100000,1000000), in a fresh child
 * process: half counters, half 10-bucket histograms (labels {model, id}, each recorded), then
 *  - memory: VmRSS growth per series;
 *  - render: ServerMetrics(NULL) + MetricsFormatted, median of 5 (ms);
 *  - scrape: GET /metrics over HTTP from a server on 127.0.0.1 (keep-alive), median of 5 (ms).
 * Prints a table and RESULT lines; reported, never pass/fail. Linear growth is expected.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_NAME "bench_scale"
#include "infermetrics.h"
#include "bench_util.h"

static long rss_bytes(void)
{
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  if (f) fclose(f);
  return kb * 1024;
}

static double observe(size_t i, size_t k) { return (double)((i + k * 7) % 64) / 10.0; }

static int measure(size_t n)
{
  long before = rss_bytes();
  series_set s = bench_make_series("scale", n, "s", true, observe);
  long after = rss_bytes();

  double r[5];
  size_t bytes = 0;
  for (int k = 0; k < 5; ++k) {
    INFERMETRICS_Metrics* m = NULL;
    const char* base = NULL;
    double t0 = bench_now_s();
    CHECK(INFERMETRICS_ServerMetrics(NULL, &m));
    CHECK(INFERMETRICS_MetricsFormatted(m, INFERMETRICS_METRIC_PROMETHEUS, &base, &bytes));
    r[k] = (bench_now_s() - t0) * 1e3;
    CHECK(INFERMETRICS_MetricsDelete(m));
  }

  INFERMETRICS_ServerOptions* o = NULL;
  CHECK(INFERMETRICS_ServerOptionsNew(&o));
  CHECK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  CHECK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  CHECK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  INFERMETRICS_Server* srv = NULL;
  CHECK(INFERMETRICS_ServerNew(&srv, o));
  uint16_t port = 0;
  CHECK(INFERMETRICS_ServerPort(srv, &port));
  double med = 0, p99 = 0;
  size_t body = 0;
  int done = 0;
  int failed = bench_http_latency(port, 5, 120.0, &med, &p99, &body, &done);
  CHECK(INFERMETRICS_ServerDelete(srv));
  CHECK(INFERMETRICS_ServerOptionsDelete(o));

  double rmed = bench_quantile(r, 5, 0.5);
  double per = (double)(after - before) / (double)n;
  printf("%10zu %14.0f %12.1f %14.1f %12.1f %8d\n", n, per, rmed, med, (double)bytes / 1e6, failed);
  printf("RESULT\tinfermetrics\tscale_%zu_bytes_per_series\t%.0f\n", n, per);
  printf("RESULT\tinfermetrics\tscale_%zu_render_ms\t%.3f\n", n, rmed);
  printf("RESULT\tinfermetrics\tscale_%zu_scrape_ms\t%.3f\n", n, med);
  fflush(stdout);
  free_series(&s);
  return failed == 0 ? 0 : 1;
}

int main(void)
{
  const char* sizes = getenv("BENCH_SCALE_SIZES");
  char buf[256];
  snprintf(buf, sizeof buf, "%s", sizes && *sizes ? sizes : "1000,10000,100000,1000000");
  printf("# half counters, half 10-bucket histograms, labels {model, id}; medians of 5\n");
  printf("%10s %14s %12s %14s %12s %8s\n", "series", "bytes/series", "render ms", "HTTP scrape ms",
         "text MB", "failed");
  int rc = 0;
  for (char* tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    size_t n = (size_t)strtoull(tok, NULL, 10);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(measure(n));
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) rc = 1;
  }
  return rc;
}

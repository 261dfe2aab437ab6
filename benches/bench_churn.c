/*
 * bench_churn: does creating or deleting a series wait for a render of a huge family?
 *
 * One gauge family holds BENCH_CHURN_SERIES series (default 1,000,000, labels {id}). The main
 * thread creates and deletes series of that family (MetricNew with two ParameterNew /
 * ParameterDelete, then MetricDelete) and times each call; first with nothing else running,
 * then while a second thread renders the registry in a loop (ServerMetrics(NULL) +
 * MetricsFormatted, i.e. what a scrape does). Prints p50 / p99 / max of both calls in both
 * phases and how many renders ran. Reported, never a pass/fail test.
 *
 * Build: see benches/run.sh (or: cc -O2 -std=c11 -Iinclude benches/bench_churn.c
 *        -Ltarget/release -linfermetrics -lpthread -Wl,-rpath,$PWD/target/release)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "bench_churn"
#include "infermetrics.h"
#include "bench_util.h"

static atomic_int g_stop;
static atomic_long g_renders;
static double g_render_ms_total;

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void* a, const void* b)
{
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static void* render_loop(void* arg)
{
  (void)arg;
  while (!atomic_load(&g_stop)) {
    INFERMETRICS_Metrics* m = NULL;
    const char* base = NULL;
    size_t size = 0;
    double t0 = now_ns();
    CHECK(INFERMETRICS_ServerMetrics(NULL, &m));
    CHECK(INFERMETRICS_MetricsFormatted(m, INFERMETRICS_METRIC_PROMETHEUS, &base, &size));
    CHECK(INFERMETRICS_MetricsDelete(m));
    g_render_ms_total += (now_ns() - t0) / 1e6;
    atomic_fetch_add(&g_renders, 1);
  }
  return NULL;
}

static INFERMETRICS_Metric* make(INFERMETRICS_MetricFamily* f, long id, double* ns)
{
  char v[32];
  snprintf(v, sizeof v, "%ld", id);
  double t0 = now_ns();
  INFERMETRICS_Parameter* p[2] = {INFERMETRICS_ParameterNew("id", INFERMETRICS_PARAMETER_STRING, v),
                                  INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "resnet50")};
  INFERMETRICS_Metric* m = NULL;
  CHECK(INFERMETRICS_MetricNew(&m, f, (const INFERMETRICS_Parameter**)p, 2));
  INFERMETRICS_ParameterDelete(p[0]);
  INFERMETRICS_ParameterDelete(p[1]);
  if (ns) *ns = now_ns() - t0;
  return m;
}

static void phase(const char* name, INFERMETRICS_MetricFamily* f, long base_id, int n)
{
  double* tn = calloc((size_t)n, sizeof *tn);
  double* td = calloc((size_t)n, sizeof *td);
  for (int i = 0; i < n; ++i) {
    INFERMETRICS_Metric* m = make(f, base_id + i, &tn[i]);
    double t0 = now_ns();
    CHECK(INFERMETRICS_MetricDelete(m));
    td[i] = now_ns() - t0;
  }
  qsort(tn, (size_t)n, sizeof *tn, cmp_double);
  qsort(td, (size_t)n, sizeof *td, cmp_double);
  printf("%-34s %10.0f %10.0f %12.0f %10.0f %10.0f %12.0f\n", name, tn[n / 2], tn[n * 99 / 100], tn[n - 1],
         td[n / 2], td[n * 99 / 100], td[n - 1]);
  printf("RESULT\tinfermetrics\tchurn_%s_new_p99_ns\t%.0f\n", name[0] == 'i' ? "idle" : "render", tn[n * 99 / 100]);
  printf("RESULT\tinfermetrics\tchurn_%s_delete_p99_ns\t%.0f\n", name[0] == 'i' ? "idle" : "render",
         td[n * 99 / 100]);
  free(tn);
  free(td);
}

int main(void)
{
  long series = getenv("BENCH_CHURN_SERIES") ? atol(getenv("BENCH_CHURN_SERIES")) : 1000000;
  int ops = getenv("BENCH_CHURN_OPS") ? atoi(getenv("BENCH_CHURN_OPS")) : 20000;
  INFERMETRICS_MetricFamily* f = NULL;
  CHECK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "bench_churn_big", "a huge family"));
  INFERMETRICS_Metric** keep = malloc((size_t)series * sizeof *keep);
  double t0 = now_ns();
  for (long i = 0; i < series; ++i) keep[i] = make(f, i, NULL);
  double build_s = (now_ns() - t0) / 1e9;
  printf("# %ld series in one family created in %.2f s (%.0f ns per MetricNew incl. 2 ParameterNew/Delete)\n",
         series, build_s, build_s * 1e9 / (double)series);
  printf("# %d create+delete pairs per phase; times in ns\n", ops);
  printf("%-34s %10s %10s %12s %10s %10s %12s\n", "phase", "new p50", "new p99", "new max", "del p50", "del p99",
         "del max");
  phase("idle (no render running)", f, series + 1, ops);
  pthread_t t;
  pthread_create(&t, NULL, render_loop, NULL);
  while (atomic_load(&g_renders) == 0 && g_render_ms_total == 0) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    if (atomic_load(&g_renders) > 0) break;
  }
  phase("render loop running", f, series + 1 + ops, ops);
  atomic_store(&g_stop, 1);
  pthread_join(t, NULL);
  long r = atomic_load(&g_renders);
  printf("# renders during the second phase: %ld, mean %.1f ms each\n", r, r ? g_render_ms_total / (double)r : 0.0);
  for (long i = 0; i < series; ++i) CHECK(INFERMETRICS_MetricDelete(keep[i]));
  free(keep);
  CHECK(INFERMETRICS_MetricFamilyDelete(f));
  return 0;
}

/*
 * bench_series: what one series costs — memory, MetricNew, MetricDelete — and what two
 * threads on one counter cost.
 *
 *  - BENCH_SERIES (100000) counter series with labels {model, id} in one family: VmRSS before
 *    and after (bytes per series, handle included), MetricNew time including its two
 *    ParameterNew / ParameterDelete (what a backend does), then MetricDelete time;
 *  - the same with 10-bucket histograms;
 *  - THREADS (BENCH_THREADS, default 1 and 2) threads incrementing one counter: wall time
 *    divided by the total number of increments, against the same with a raw C11 atomic CAS
 *    add on one double and with a per-thread raw atomic (the ideal).
 * Reported, never pass/fail. Memory is read from /proc/self/status (VmRSS), so run it alone.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_NAME "bench_series"
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

static INFERMETRICS_Metric* make(INFERMETRICS_MetricFamily* f, long id, const INFERMETRICS_MetricArgs* args)
{
  char v[32];
  snprintf(v, sizeof v, "%ld", id);
  INFERMETRICS_Parameter* p[2] = {INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "resnet50"),
                                  INFERMETRICS_ParameterNew("id", INFERMETRICS_PARAMETER_STRING, v)};
  INFERMETRICS_Metric* m = NULL;
  CHECK(INFERMETRICS_MetricNewWithArgs(&m, f, (const INFERMETRICS_Parameter**)p, 2, args));
  INFERMETRICS_ParameterDelete(p[0]);
  INFERMETRICS_ParameterDelete(p[1]);
  return m;
}

static void series_cost(const char* what, INFERMETRICS_MetricKind kind, long n)
{
  static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
  INFERMETRICS_MetricArgs* args = NULL;
  if (kind == INFERMETRICS_METRIC_KIND_HISTOGRAM) {
    CHECK(INFERMETRICS_MetricArgsNew(&args));
    CHECK(INFERMETRICS_MetricArgsSetHistogram(args, bounds, 10));
  }
  char name[64];
  snprintf(name, sizeof name, "bench_series_%s", what);
  INFERMETRICS_MetricFamily* f = NULL;
  CHECK(INFERMETRICS_MetricFamilyNew(&f, kind, name, "series cost"));
  INFERMETRICS_Metric** ms = malloc((size_t)n * sizeof *ms);
  long before = rss_bytes();
  double t0 = bench_now_s();
  for (long i = 0; i < n; ++i) ms[i] = make(f, i, args);
  double t_new = bench_now_s() - t0;
  long after = rss_bytes();
  /* record once into each, as a live server would */
  for (long i = 0; i < n; ++i) {
    INFERMETRICS_Error* e = kind == INFERMETRICS_METRIC_KIND_HISTOGRAM ? INFERMETRICS_MetricObserve(ms[i], 0.3)
                                                                       : INFERMETRICS_MetricIncrement(ms[i], 1);
    CHECK(e);
  }
  t0 = bench_now_s();
  for (long i = 0; i < n; ++i) CHECK(INFERMETRICS_MetricDelete(ms[i]));
  double t_del = bench_now_s() - t0;
  double per = (double)(after - before) / (double)n;
  printf("%-34s %12.0f %12.0f %12.0f\n", what, per, t_new * 1e9 / (double)n, t_del * 1e9 / (double)n);
  printf("RESULT\tinfermetrics\tseries_%s_bytes\t%.0f\n", what, per);
  printf("RESULT\tinfermetrics\tseries_%s_new_ns\t%.0f\n", what, t_new * 1e9 / (double)n);
  printf("RESULT\tinfermetrics\tseries_%s_delete_ns\t%.0f\n", what, t_del * 1e9 / (double)n);
  free(ms);
  CHECK(INFERMETRICS_MetricFamilyDelete(f));
  if (args) CHECK(INFERMETRICS_MetricArgsDelete(args));
}

/* ------------------------------------------------------------ contended counter */
enum { OP_RAW_SHARED, OP_RAW_PRIVATE, OP_COUNTER };
static _Atomic uint64_t g_raw;
static INFERMETRICS_Metric* g_counter;
static atomic_int g_go;

typedef struct {
  int op, cpu;
  uint64_t n;
} thr_arg;

static inline void cas_add(_Atomic uint64_t* a, double v)
{
  uint64_t old = atomic_load_explicit(a, memory_order_relaxed), nw;
  do {
    double d;
    memcpy(&d, &old, sizeof d);
    d += v;
    memcpy(&nw, &d, sizeof nw);
  } while (!atomic_compare_exchange_weak(a, &old, nw));
}

static void* thr(void* p)
{
  thr_arg* a = p;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(a->cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  _Atomic uint64_t mine = 0;
  while (!atomic_load(&g_go)) sched_yield();
  for (uint64_t i = 0; i < a->n; ++i) {
    switch (a->op) {
    case OP_RAW_SHARED: cas_add(&g_raw, 1.0); break;
    case OP_RAW_PRIVATE: cas_add(&mine, 1.0); break;
    default: {
      INFERMETRICS_Error* e = INFERMETRICS_MetricIncrement(g_counter, 1.0);
      if (__builtin_expect(e != NULL, 0)) CHECK(e);
    }
    }
  }
  return NULL;
}

static double contended(int op, int threads, uint64_t total)
{
  pthread_t t[64];
  thr_arg a[64];
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  atomic_store(&g_go, 0);
  for (int i = 0; i < threads; ++i) {
    a[i] = (thr_arg){op, (int)(i % cpus), total / (uint64_t)threads};
    pthread_create(&t[i], NULL, thr, &a[i]);
  }
  double t0 = bench_now_s();
  atomic_store(&g_go, 1);
  for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
  return (bench_now_s() - t0) * 1e9 / (double)total;
}

int main(void)
{
  long n = (long)bench_env_u64("BENCH_SERIES", 100000);
  uint64_t total = bench_env_u64("BENCH_N", 20000000);
  int max_threads = (int)bench_env_u64("BENCH_THREADS", 2);
  printf("# %ld series per family, labels {model, id}; VmRSS delta per series (handle included);\n"
         "# MetricNew includes its two ParameterNew/ParameterDelete\n",
         n);
  printf("%-34s %12s %12s %12s\n", "series", "bytes/series", "new ns", "delete ns");
  /* each in a fresh child process, so freed memory of one cannot hide the cost of the next */
  for (int k = 0; k < 2; ++k) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      if (k == 0) series_cost("counter", INFERMETRICS_METRIC_KIND_COUNTER, n);
      else series_cost("histogram10", INFERMETRICS_METRIC_KIND_HISTOGRAM, n);
      fflush(stdout);
      _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "bench_series: child %d failed\n", k);
      return 2;
    }
  }

  INFERMETRICS_MetricFamily* f = NULL;
  CHECK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_COUNTER, "bench_series_contended", "c"));
  CHECK(INFERMETRICS_MetricNew(&g_counter, f, NULL, 0));
  printf("\n# %llu increments in all per measurement, best of 3; wall ns / total increments\n",
         (unsigned long long)total);
  printf("%-8s %14s %14s %14s %16s\n", "threads", "raw shared", "raw private", "counter", "counter/1-thread");
  double single = 0;
  for (int th = 1; th <= max_threads; th *= 2) {
    double best[3] = {1e9, 1e9, 1e9};
    for (int r = 0; r < 3; ++r)
      for (int op = 0; op < 3; ++op) {
        double x = contended(op, th, total);
        if (x < best[op]) best[op] = x;
      }
    if (th == 1) single = best[OP_COUNTER];
    printf("%-8d %14.2f %14.2f %14.2f %15.2fx\n", th, best[OP_RAW_SHARED], best[OP_RAW_PRIVATE], best[OP_COUNTER],
           best[OP_COUNTER] / single);
    printf("RESULT\tinfermetrics\tcontended_%d_counter_ns\t%.3f\n", th, best[OP_COUNTER]);
    printf("RESULT\tinfermetrics\tcontended_%d_raw_ns\t%.3f\n", th, best[OP_RAW_SHARED]);
  }
  double v = 0;
  CHECK(INFERMETRICS_MetricValue(g_counter, &v));
  double expect = 0;
  for (int th = 1; th <= max_threads; th *= 2) expect += 3.0 * (double)(total / (uint64_t)th * (uint64_t)th);
  printf("# sanity: counter total %.0f, expected %.0f: %s\n", v, expect, v == expect ? "exact" : "WRONG");
  CHECK(INFERMETRICS_MetricDelete(g_counter));
  CHECK(INFERMETRICS_MetricFamilyDelete(f));
  return v == expect ? 0 : 1;
}

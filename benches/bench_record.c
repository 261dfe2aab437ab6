/* bench_record: cost of recording through the infermetrics C API, against a raw C11 atomic
 * compare-and-swap add on a double measured in the same run, plus text rendering time.
 *
 * Reported, never pass/fail. Environment knobs:
 *   BENCH_N     calls per single-thread measurement (default 20000000)
 *   BENCH_REPS  repetitions, the best one is reported (default 5)
 * Lines starting with "RESULT\t" are machine-readable (benches/run.sh builds its tables from them). */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define BENCH_NAME "bench_record"
#include "infermetrics.h"
#include "bench_util.h"


static uint64_t N;
static uint64_t REPS;

/* ----------------------------------------------------------------- raw baseline ----------- */
static _Atomic uint64_t raw_bits; /* bit pattern of a double */

static inline void raw_cas_add(_Atomic uint64_t* a, double v) {
  uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
  for (;;) {
    double d;
    memcpy(&d, &old, sizeof d);
    d += v;
    uint64_t nw;
    memcpy(&nw, &d, sizeof nw);
    if (atomic_compare_exchange_weak(a, &old, nw)) return;
  }
}

static double raw_get(void) {
  uint64_t b = atomic_load(&raw_bits);
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

static double VALS[64]; /* values spread over all 11 buckets (10 + the implicit +Inf) */

static INFERMETRICS_Metric* g_counter;
static INFERMETRICS_Metric* g_gauge;
static INFERMETRICS_Metric* g_hist;
/* the exemplar path (issue 12): own series, so the sanity check of g_counter stays exact */
static INFERMETRICS_Metric* g_counter_ex;
static INFERMETRICS_Metric* g_hist_ex;
static const INFERMETRICS_Parameter* g_exemplar[1]; /* {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} */

typedef enum { OP_RAW, OP_COUNTER, OP_GAUGE, OP_HIST, OP_COUNTER_EX, OP_HIST_EX } op_kind;

/* Runs n operations of one kind; returns elapsed seconds. */
static double run_ops(op_kind op, uint64_t n) {
  double t0 = bench_now_s();
  switch (op) {
    case OP_RAW:
      for (uint64_t i = 0; i < n; i++) raw_cas_add(&raw_bits, 1.0);
      break;
    case OP_COUNTER:
      for (uint64_t i = 0; i < n; i++) {
        INFERMETRICS_Error* e = INFERMETRICS_MetricIncrement(g_counter, 1.0);
        if (__builtin_expect(e != NULL, 0)) CHECK(e);
      }
      break;
    case OP_GAUGE:
      for (uint64_t i = 0; i < n; i++) {
        INFERMETRICS_Error* e = INFERMETRICS_MetricSet(g_gauge, (double)i);
        if (__builtin_expect(e != NULL, 0)) CHECK(e);
      }
      break;
    case OP_HIST:
      for (uint64_t i = 0; i < n; i++) {
        INFERMETRICS_Error* e = INFERMETRICS_MetricObserve(g_hist, VALS[i & 63]);
        if (__builtin_expect(e != NULL, 0)) CHECK(e);
      }
      break;
    case OP_COUNTER_EX:
      for (uint64_t i = 0; i < n; i++) {
        INFERMETRICS_Error* e = INFERMETRICS_MetricIncrementWithExemplar(g_counter_ex, 1.0, g_exemplar, 1);
        if (__builtin_expect(e != NULL, 0)) CHECK(e);
      }
      break;
    case OP_HIST_EX:
      for (uint64_t i = 0; i < n; i++) {
        INFERMETRICS_Error* e = INFERMETRICS_MetricObserveWithExemplar(g_hist_ex, VALS[i & 63], g_exemplar, 1);
        if (__builtin_expect(e != NULL, 0)) CHECK(e);
      }
      break;
  }
  return bench_now_s() - t0;
}

static double best_ns(op_kind op, uint64_t n) {
  double best = 1e30;
  for (uint64_t r = 0; r < REPS; r++) {
    double s = run_ops(op, n);
    if (s < best) best = s;
  }
  return best * 1e9 / (double)n;
}

/* ------------------------------------------------------------------ 2 threads ------------- */
typedef struct {
  op_kind op;
  uint64_t n;
  int cpu;
  pthread_barrier_t* barrier;
  double cpu_s; /* this thread's CPU time for its share */
} thr_arg;

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void* thr_main(void* p) {
  thr_arg* a = (thr_arg*)p;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(a->cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
  pthread_barrier_wait(a->barrier);
  double c0 = thread_cpu_s();
  run_ops(a->op, a->n);
  a->cpu_s = thread_cpu_s() - c0;
  return NULL;
}

/* Two threads pinned to CPUs 0 and 1, n/2 operations each, on the same metric. Returns the
 * median over 5 runs of wall ns per operation (all operations of both threads); *overlap gets
 * the median of (CPU time of both threads / wall time), 2.0 when they truly ran side by side. */
static double two_threads_ns(op_kind op, uint64_t n, double* overlap) {
  enum { RUNS = 5 };
  double ns[RUNS], ov[RUNS];
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  for (int r = 0; r < RUNS; r++) {
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 3);
    thr_arg a[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
      a[i].op = op;
      a[i].n = n / 2;
      a[i].cpu = (int)(i % (ncpu > 0 ? ncpu : 1));
      a[i].barrier = &barrier;
      a[i].cpu_s = 0;
      pthread_create(&t[i], NULL, thr_main, &a[i]);
    }
    pthread_barrier_wait(&barrier);
    double t0 = bench_now_s();
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    double s = bench_now_s() - t0;
    pthread_barrier_destroy(&barrier);
    ns[r] = s * 1e9 / (double)(n / 2 * 2);
    ov[r] = (a[0].cpu_s + a[1].cpu_s) / s;
  }
  *overlap = bench_quantile(ov, RUNS, 0.5);
  return bench_quantile(ns, RUNS, 0.5);
}

/* ------------------------------------------------------------------ rendering ------------- */
/* Observed values: spread over all 11 buckets. */
static double record_observe(size_t i, size_t k) { return VALS[(i + k * 7) & 63]; }

static series_set make_series(size_t n, const char* tag) {
  return bench_make_series("bench_render", n, tag, true, record_observe);
}

/* Median ms of ServerMetrics(NULL)+MetricsFormatted+MetricsDelete over `runs` runs. */
static double render_ms(int runs, size_t* bytes) {
  double* t = (double*)calloc((size_t)runs, sizeof(double));
  for (int r = 0; r < runs; r++) {
    double t0 = bench_now_s();
    INFERMETRICS_Metrics* m = NULL;
    const char* base = NULL;
    size_t sz = 0;
    CHECK(INFERMETRICS_ServerMetrics(NULL, &m));
    CHECK(INFERMETRICS_MetricsFormatted(m, INFERMETRICS_METRIC_PROMETHEUS, &base, &sz));
    if (base == NULL || sz == 0) {
      fprintf(stderr, "bench_record: empty metrics text\n");
      exit(2);
    }
    *bytes = sz;
    CHECK(INFERMETRICS_MetricsDelete(m));
    t[r] = (bench_now_s() - t0) * 1e3;
  }
  double med = bench_quantile(t, (size_t)runs, 0.5);
  free(t);
  return med;
}

static const char* verdict(double v, double target) { return v <= target ? "met" : "MISSED"; }

/* ------------------------------------------------ issue 13: summary observe, ReportRequest ---- */
/* Triton's default summary quantiles (prometheus-cpp's window: 60 s, 5 age buckets). */
static const double SUM_Q[5] = {0.5, 0.9, 0.95, 0.99, 0.999};
static const double SUM_E[5] = {0.05, 0.01, 0.001, 0.001, 0.001};

static void drain_by_render(void) {
  INFERMETRICS_Metrics* m = NULL;
  const char* base = NULL;
  size_t sz = 0;
  CHECK(INFERMETRICS_ServerMetrics(NULL, &m));
  CHECK(INFERMETRICS_MetricsFormatted(m, INFERMETRICS_METRIC_PROMETHEUS, &base, &sz));
  CHECK(INFERMETRICS_MetricsDelete(m));
}

/* ns per MetricObserve on a summary: `burst` observations timed, then a render (not timed)
 * drains the buffer, as the summary thread does between bursts; burst = 0: one tight loop of n
 * (faster than the summary thread drains, so the recorder drains its full buffer itself). */
static double summary_ns(INFERMETRICS_Metric* m, uint64_t n, uint64_t burst) {
  double best = 1e30;
  for (uint64_t r = 0; r < REPS; r++) {
    double timed = 0;
    if (burst == 0) {
      double t0 = bench_now_s();
      for (uint64_t i = 0; i < n; i++) {
        INFERMETRICS_Error* e = INFERMETRICS_MetricObserve(m, VALS[i & 63] * 1000.0);
        if (__builtin_expect(e != NULL, 0)) CHECK(e);
      }
      timed = bench_now_s() - t0;
    } else {
      for (uint64_t done = 0; done < n; done += burst) {
        double t0 = bench_now_s();
        for (uint64_t i = 0; i < burst; i++) {
          INFERMETRICS_Error* e = INFERMETRICS_MetricObserve(m, VALS[i & 63] * 1000.0);
          if (__builtin_expect(e != NULL, 0)) CHECK(e);
        }
        timed += bench_now_s() - t0;
        drain_by_render();
      }
    }
    if (timed < best) best = timed;
  }
  return best * 1e9 / (double)n;
}

/* ns per ReportRequest (success, 7 timestamps), in bursts of `burst` with a render between
 * (0: one tight loop). */
static double report_ns(INFERMETRICS_ModelReporter* r, uint64_t n, uint64_t burst) {
  double best = 1e30;
  const uint64_t t = 1000000000ull;
  if (burst == 0) burst = n;
  for (uint64_t rep = 0; rep < REPS; rep++) {
    double timed = 0;
    for (uint64_t done = 0; done < n; done += burst) {
      double t0 = bench_now_s();
      for (uint64_t i = 0; i < burst; i++) {
        uint64_t d = (i & 63) * 1000;
        INFERMETRICS_Error* e = INFERMETRICS_ModelReporterReportRequest(
            r, true, NULL, 1, t, t + 1000, t + 2000 + d, t + 3000 + d, t + 9000 + 2 * d, t + 9500 + 2 * d,
            t + 10000 + 2 * d);
        if (__builtin_expect(e != NULL, 0)) CHECK(e);
      }
      timed += bench_now_s() - t0;
      if (burst < n) drain_by_render();
    }
    if (timed < best) best = timed;
  }
  return best * 1e9 / (double)n;
}

static void bench_triton(double raw) {
  INFERMETRICS_MetricFamily* sf;
  INFERMETRICS_MetricArgs* sa;
  INFERMETRICS_Metric* sm;
  INFERMETRICS_ModelReporter *plain, *all;
  uint64_t n = N / 4, burst = 1000;
  CHECK(INFERMETRICS_MetricFamilyNew(&sf, INFERMETRICS_METRIC_KIND_SUMMARY, "bench_summary_us", "s"));
  CHECK(INFERMETRICS_MetricArgsNew(&sa));
  CHECK(INFERMETRICS_MetricArgsSetSummary(sa, SUM_Q, SUM_E, 5, 0, 0));
  CHECK(INFERMETRICS_MetricNewWithArgs(&sm, sf, NULL, 0, sa));
  summary_ns(sm, n / 10, burst); /* warm-up: buffer allocated, window populated */
  double s_burst = summary_ns(sm, n, burst);
  double s_tight = summary_ns(sm, n, 0);

  CHECK(INFERMETRICS_SetMetricsConfig(""));
  CHECK(INFERMETRICS_ModelReporterNew(&plain, "bench_plain", "1", NULL, 0));
  CHECK(INFERMETRICS_SetMetricsConfig("histogram_latencies=true;summary_latencies=true"));
  CHECK(INFERMETRICS_ModelReporterNew(&all, "bench_all", "1", NULL, 0));
  report_ns(plain, n / 10, 0);
  report_ns(all, n / 10, burst);
  double r_plain = report_ns(plain, n, 0);
  double r_all = report_ns(all, n, burst);
  double r_all_tight = report_ns(all, n, 0);

  printf("\n%-52s %10s %10s\n", "issue 13 (Triton statistics, summaries)", "ns/op", "x raw CAS");
  printf("%-52s %10.2f %10.2f   <= 3x: %s\n", "summary observe, 5 quantiles (bursts of 1000)", s_burst,
         s_burst / raw, verdict(s_burst / raw, 3.0));
  printf("%-52s %10.2f %10.2f\n", "summary observe, sustained tight loop", s_tight, s_tight / raw);
  printf("%-52s %10.2f %10.2f\n", "ReportRequest, default config (7 counters)", r_plain, r_plain / raw);
  printf("%-52s %10.2f %10.2f\n", "ReportRequest, + 5 summaries + 5 histograms (bursts)", r_all, r_all / raw);
  printf("%-52s %10.2f %10.2f\n", "ReportRequest, + 5 summaries + 5 histograms (tight)", r_all_tight,
         r_all_tight / raw);
  printf("RESULT\tinfermetrics\tsummary\t%.3f\n", s_burst);
  printf("RESULT\tinfermetrics\tsummary_tight\t%.3f\n", s_tight);
  printf("RESULT\tinfermetrics\treport_request\t%.3f\n", r_plain);
  printf("RESULT\tinfermetrics\treport_request_all\t%.3f\n", r_all);
  printf("RESULT\tinfermetrics\treport_request_all_tight\t%.3f\n", r_all_tight);
  CHECK(INFERMETRICS_ModelReporterDelete(plain));
  CHECK(INFERMETRICS_ModelReporterDelete(all));
  CHECK(INFERMETRICS_SetMetricsConfig(""));
  CHECK(INFERMETRICS_MetricDelete(sm));
  CHECK(INFERMETRICS_MetricArgsDelete(sa));
  CHECK(INFERMETRICS_MetricFamilyDelete(sf));
}

int main(void) {
  N = bench_env_u64("BENCH_N", 20000000);
  REPS = bench_env_u64("BENCH_REPS", 5);
  for (int k = 0; k < 64; k++) {
    int b = k % 11;
    VALS[k] = b < 10 ? BOUNDS[b] * 0.9 : 7.5;
  }
  bench_print_machine(stdout, "bench_record (infermetrics C API)", "gcc " __VERSION__);
  printf("# N=%llu calls per measurement, best of %llu repetitions; 2 threads: N calls in all, pinned to CPUs 0/1,"
         " median of 5\n",
         (unsigned long long)N, (unsigned long long)REPS);

  INFERMETRICS_MetricFamily *cf, *gf, *hf;
  CHECK(INFERMETRICS_MetricFamilyNew(&cf, INFERMETRICS_METRIC_KIND_COUNTER, "bench_counter_total", "c"));
  CHECK(INFERMETRICS_MetricFamilyNew(&gf, INFERMETRICS_METRIC_KIND_GAUGE, "bench_gauge", "g"));
  CHECK(INFERMETRICS_MetricFamilyNew(&hf, INFERMETRICS_METRIC_KIND_HISTOGRAM, "bench_hist_seconds", "h"));
  INFERMETRICS_MetricArgs* args;
  CHECK(INFERMETRICS_MetricArgsNew(&args));
  CHECK(INFERMETRICS_MetricArgsSetHistogram(args, BOUNDS, 10));
  CHECK(INFERMETRICS_MetricNew(&g_counter, cf, NULL, 0));
  CHECK(INFERMETRICS_MetricNew(&g_gauge, gf, NULL, 0));
  CHECK(INFERMETRICS_MetricNewWithArgs(&g_hist, hf, NULL, 0, args));
  INFERMETRICS_MetricFamily *cxf, *hxf;
  CHECK(INFERMETRICS_MetricFamilyNew(&cxf, INFERMETRICS_METRIC_KIND_COUNTER, "bench_counter_ex_total", "c"));
  CHECK(INFERMETRICS_MetricFamilyNew(&hxf, INFERMETRICS_METRIC_KIND_HISTOGRAM, "bench_hist_ex_seconds", "h"));
  CHECK(INFERMETRICS_MetricNew(&g_counter_ex, cxf, NULL, 0));
  CHECK(INFERMETRICS_MetricNewWithArgs(&g_hist_ex, hxf, NULL, 0, args));
  CHECK(INFERMETRICS_MetricArgsDelete(args));
  INFERMETRICS_Parameter* trace =
      INFERMETRICS_ParameterNew("trace_id", INFERMETRICS_PARAMETER_STRING, "4bf92f3577b34da6a3ce929d0e0e4736");
  if (trace == NULL) {
    fprintf(stderr, "ParameterNew failed\n");
    return 1;
  }
  g_exemplar[0] = trace;

  /* warm-up */
  run_ops(OP_RAW, N / 10);
  run_ops(OP_COUNTER, N / 10);

  double raw = best_ns(OP_RAW, N);
  double ctr = best_ns(OP_COUNTER, N);
  double gau = best_ns(OP_GAUGE, N);
  double his = best_ns(OP_HIST, N);
  /* the exemplar calls copy their labels and allocate: N/4 calls are plenty */
  run_ops(OP_COUNTER_EX, N / 40);
  double ctr_ex = best_ns(OP_COUNTER_EX, N / 4);
  double his_ex = best_ns(OP_HIST_EX, N / 4);
  double ov_raw = 0, ov_ctr = 0;
  double raw2 = two_threads_ns(OP_RAW, N, &ov_raw);
  double ctr2 = two_threads_ns(OP_COUNTER, N, &ov_ctr);

  /* sanity: the counter holds exactly what was added (all adds are exact integers in a double) */
  double got = 0;
  CHECK(INFERMETRICS_MetricValue(g_counter, &got));
  double expect_ctr = (double)(N / 10 + REPS * N + 5 * (N / 2 * 2));
  double expect_raw = expect_ctr;
  printf("# sanity: counter value %.0f (expected %.0f) %s; raw value %.0f (expected %.0f) %s\n", got, expect_ctr,
         got == expect_ctr ? "ok" : "WRONG", raw_get(), expect_raw, raw_get() == expect_raw ? "ok" : "WRONG");

  printf("\n%-40s %10s %14s %10s %s\n", "operation", "ns/op", "x raw CAS", "target", "");
  printf("%-40s %10.2f %14s %10s\n", "raw C11 atomic CAS add (1 thread)", raw, "1.00", "");
  printf("%-40s %10.2f %14.2f %10s %s\n", "MetricIncrement counter", ctr, ctr / raw, "<= 1.5x",
         verdict(ctr / raw, 1.5));
  printf("%-40s %10.2f %14.2f %10s %s\n", "MetricSet gauge", gau, gau / raw, "<= 1.5x", verdict(gau / raw, 1.5));
  printf("%-40s %10.2f %14.2f %10s %s\n", "MetricObserve histogram (10 buckets)", his, his / raw, "<= 3x",
         verdict(his / raw, 3.0));
  printf("%-40s %10.2f %14.2f %10s\n", "IncrementWithExemplar (1 label)", ctr_ex, ctr_ex / raw, "");
  printf("%-40s %10.2f %14.2f %10s\n", "ObserveWithExemplar (1 label, 10 bkt)", his_ex, his_ex / raw, "");
  printf("%-40s %10.2f %14s %10s   overlap %.2f of 2.00\n", "raw C11 atomic CAS add (2 threads, 1 var)", raw2, "1.00",
         "", ov_raw);
  printf("%-40s %10.2f %14.2f %10s   overlap %.2f of 2.00\n", "MetricIncrement counter (2 threads)", ctr2,
         ctr2 / raw2, "", ov_ctr);

  printf("RESULT\tinfermetrics\traw\t%.3f\n", raw);
  printf("RESULT\tinfermetrics\tcounter\t%.3f\n", ctr);
  printf("RESULT\tinfermetrics\tgauge\t%.3f\n", gau);
  printf("RESULT\tinfermetrics\thistogram\t%.3f\n", his);
  printf("RESULT\tinfermetrics\tcounter_exemplar\t%.3f\n", ctr_ex);
  printf("RESULT\tinfermetrics\thistogram_exemplar\t%.3f\n", his_ex);
  printf("RESULT\tinfermetrics\traw2\t%.3f\n", raw2);
  printf("RESULT\tinfermetrics\tcounter2\t%.3f\n", ctr2);
  printf("RESULT\tinfermetrics\toverlap_raw2\t%.3f\n", ov_raw);
  printf("RESULT\tinfermetrics\toverlap_counter2\t%.3f\n", ov_ctr);

  bench_triton(raw);

  CHECK(INFERMETRICS_MetricDelete(g_counter));
  CHECK(INFERMETRICS_MetricDelete(g_gauge));
  CHECK(INFERMETRICS_MetricDelete(g_hist));
  CHECK(INFERMETRICS_MetricFamilyDelete(cf));
  CHECK(INFERMETRICS_MetricFamilyDelete(gf));
  CHECK(INFERMETRICS_MetricFamilyDelete(hf));

  printf("\n%-40s %10s %14s %10s\n", "render (ServerMetrics+Formatted)", "median ms", "bytes", "target");
  size_t sizes[2] = {1000, 10000};
  const char* tags[2] = {"1k", "10k"};
  int runs[2] = {31, 15};
  for (int k = 0; k < 2; k++) {
    series_set s = make_series(sizes[k], tags[k]);
    size_t bytes = 0;
    render_ms(2, &bytes); /* warm-up */
    double ms = render_ms(runs[k], &bytes);
    if (k == 1)
      printf("%-40s %10.3f %14zu %10s %s\n", "10k series (5k counters + 5k histograms)", ms, bytes, "< 20 ms",
             verdict(ms, 20.0 - 1e-9));
    else
      printf("%-40s %10.3f %14zu %10s\n", "1k series (500 counters + 500 histograms)", ms, bytes, "");
    printf("RESULT\tinfermetrics\trender_%s_ms\t%.3f\n", tags[k], ms);
    printf("RESULT\tinfermetrics\trender_%s_bytes\t%zu\n", tags[k], bytes);
    free_series(&s);
  }
  return 0;
}

/*
 * server_process_*: the process group (process_* series of the Go and Python clients) against
 * what the test reads from /proc/self itself, and its switches. One case per run:
 *   server_process values    every series, its TYPE, and its value against /proc/self/stat,
 *                            /proc/self/fd, getrlimit and btime; CPU time rises with a busy loop
 *   server_process off       ServerOptionsSetProcessMetrics(false): no process_* family
 *   server_process env_on    INFERMETRICS_PROCESS_METRICS=1 wins over code's false (one log line says so)
 *   server_process env_off   INFERMETRICS_PROCESS_METRICS=0 wins over the default
 *   server_process env_list  INFERMETRICS_COLLECTORS=-process; SetCollector("bogus") is INVALID_ARG
 */
#include <sys/resource.h>

#include "collector_test.h"

typedef struct {
  unsigned long long utime, stime, threads, starttime, vsize, rss;
} self_stat;

static int read_self_stat(self_stat* s)
{
  char buf[4096];
  FILE* f = fopen("/proc/self/stat", "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char* p = strrchr(buf, ')');
  if (!p) return 0;
  /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime
     cutime cstime priority nice num_threads(20) itrealvalue starttime(22) vsize rss */
  char state;
  long long skip;
  int k = sscanf(p + 1, " %c %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %llu %llu %lld %lld %lld %lld %llu %lld %llu %llu %llu",
                 &state, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &s->utime, &s->stime,
                 &skip, &skip, &skip, &skip, &s->threads, &skip, &s->starttime, &s->vsize, &s->rss);
  return k == 22;
}

static unsigned long long btime(void)
{
  unsigned long long v = 0;
  FILE* f = fopen("/proc/stat", "r");
  char line[512];
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "btime %llu", &v) == 1) break;
  fclose(f);
  return v;
}

static const char* const k_series[][2] = {
    {"process_cpu_seconds_total", "counter"},     {"process_resident_memory_bytes", "gauge"},
    {"process_virtual_memory_bytes", "gauge"},    {"process_start_time_seconds", "gauge"},
    {"process_open_fds", "gauge"},                {"process_max_fds", "gauge"},
    {"process_threads", "gauge"},
};
#define N_SERIES (sizeof k_series / sizeof k_series[0])

/* Spins until this thread has used `ms` of CPU (at most 10 s of wall time on a crowded machine). */
static void burn_cpu_ms(int ms)
{
  struct timespec a, b;
  long long t0 = hc_now_ms();
  volatile unsigned long long x = 0;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do {
    for (int i = 0; i < 100000; ++i) ++x;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms && hc_now_ms() - t0 < 10000);
}

static void case_values(void)
{
  uint16_t port;
  INFERMETRICS_Server* s = ct_start(ct_options(100), &port);
  if (!s) return;
  char* body = SCRAPE("127.0.0.1", port);
  if (!body) return;
  for (size_t i = 0; i < N_SERIES; ++i) {
    char type[128];
    snprintf(type, sizeof type, "# TYPE %s %s", k_series[i][0], k_series[i][1]);
    CHECKF(st_has_line_prefix(body, type), "expected the line '%s'", type);
    CHECKF(st_sample(body, k_series[i][0], NULL), "expected a %s sample", k_series[i][0]);
  }
  free(body);

  long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  self_stat a, b;
  /* read, let a collection happen, scrape, read again: the served values lie between */
  CHECK(read_self_stat(&a));
  int fds_a = st_fd_count();
  st_sleep_ms(400);
  body = SCRAPE("127.0.0.1", port);
  CHECK(read_self_stat(&b));
  int fds_b = st_fd_count();
  if (!body) return;
  double cpu = NAN, rss = NAN, vsz = NAN, start = NAN, fds = NAN, maxfds = NAN, threads = NAN;
  st_sample(body, "process_cpu_seconds_total", &cpu);
  st_sample(body, "process_resident_memory_bytes", &rss);
  st_sample(body, "process_virtual_memory_bytes", &vsz);
  st_sample(body, "process_start_time_seconds", &start);
  st_sample(body, "process_open_fds", &fds);
  st_sample(body, "process_max_fds", &maxfds);
  st_sample(body, "process_threads", &threads);
  free(body);

  double cpu_a = (double)(a.utime + a.stime) / tck, cpu_b = (double)(b.utime + b.stime) / tck;
  printf("cpu %.3f in [%.3f, %.3f]; rss %.0f (%llu..%llu pages); vsize %.0f (%llu..%llu); threads %.0f (%llu..%llu); "
         "fds %.0f (%d..%d); max_fds %.0f; start %.2f\n",
         cpu, cpu_a, cpu_b, rss, a.rss, b.rss, vsz, a.vsize, b.vsize, threads, a.threads, b.threads, fds, fds_a, fds_b,
         maxfds, start);
  CHECKF(cpu >= cpu_a - 1e-9 && cpu <= cpu_b + 1e-9, "process_cpu_seconds_total %.4f outside [%.4f, %.4f]", cpu, cpu_a,
         cpu_b);
  double rss_lo = (double)(a.rss < b.rss ? a.rss : b.rss) * page, rss_hi = (double)(a.rss > b.rss ? a.rss : b.rss) * page;
  CHECKF(rss >= rss_lo * 0.8 && rss <= rss_hi * 1.2, "process_resident_memory_bytes %.0f far from %.0f..%.0f", rss,
         rss_lo, rss_hi);
  double vsz_lo = (double)(a.vsize < b.vsize ? a.vsize : b.vsize),
         vsz_hi = (double)(a.vsize > b.vsize ? a.vsize : b.vsize);
  CHECKF(vsz >= vsz_lo * 0.8 && vsz <= vsz_hi * 1.2, "process_virtual_memory_bytes %.0f far from %.0f..%.0f", vsz,
         vsz_lo, vsz_hi);
  double want_start = (double)btime() + (double)a.starttime / tck;
  CHECKF(fabs(start - want_start) < 0.011, "process_start_time_seconds %.3f, expected btime + starttime/CLK_TCK = %.3f",
         start, want_start);
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  CHECKF(maxfds == (double)rl.rlim_cur, "process_max_fds %.0f, expected the soft RLIMIT_NOFILE %llu", maxfds,
         (unsigned long long)rl.rlim_cur);
  /* fds and threads change with scrapes and server threads: a small slack */
  CHECKF(fds >= (fds_a < fds_b ? fds_a : fds_b) - 2 && fds <= (fds_a > fds_b ? fds_a : fds_b) + 3,
         "process_open_fds %.0f far from the test's count %d..%d", fds, fds_a, fds_b);
  CHECKF(threads >= (double)(a.threads < b.threads ? a.threads : b.threads) - 1 &&
             threads <= (double)(a.threads > b.threads ? a.threads : b.threads) + 1,
         "process_threads %.0f far from /proc/self/stat's %llu..%llu", threads, a.threads, b.threads);

  /* 300 ms of CPU in a busy loop shows up in process_cpu_seconds_total at the next collections: the
     served value is at least what /proc/self/stat said right after the loop */
  self_stat c0, c1;
  CHECK(read_self_stat(&c0));
  burn_cpu_ms(300);
  CHECK(read_self_stat(&c1));
  st_sleep_ms(400);
  double cpu2 = ct_value(port, "process_cpu_seconds_total");
  double used = (double)(c1.utime + c1.stime - c0.utime - c0.stime) / tck;
  double after = (double)(c1.utime + c1.stime) / tck;
  printf("after a busy loop of 300 ms of CPU (%.2f s of CPU by /proc/self/stat): process_cpu_seconds_total %.3f (was %.3f)\n",
         used, cpu2, cpu);
  CHECKF(used >= 0.2, "the busy loop used only %.2f s of CPU", used);
  CHECKF(cpu2 >= after - 1e-9, "process_cpu_seconds_total %.3f after the busy loop, expected >= %.3f", cpu2, after);
  STOP_SERVER(s);
}

static int has_process_family(uint16_t port)
{
  char* body = SCRAPE("127.0.0.1", port);
  int has = body && ct_has_family_prefix(body, "process_");
  free(body);
  return has;
}

static void case_off(void)
{
  uint16_t port;
  INFERMETRICS_ServerOptions* o = ct_options(100);
  OK(INFERMETRICS_ServerOptionsSetProcessMetrics(o, false));
  INFERMETRICS_Server* s = ct_start(o, &port);
  if (!s) return;
  st_sleep_ms(150);
  CHECKF(!has_process_family(port), "process metrics off: expected no process_* family");
  STOP_SERVER(s);
}

static void case_env(int on)
{
  uint16_t port;
  setenv("INFERMETRICS_PROCESS_METRICS", on ? "1" : "0", 1);
  INFERMETRICS_ServerOptions* o = ct_options(100);
  unsetenv("INFERMETRICS_PROCESS_METRICS");
  if (on) OK(INFERMETRICS_ServerOptionsSetProcessMetrics(o, false)); /* the environment wins */
  INFERMETRICS_Server* s = ct_start(o, &port);
  if (!s) return;
  CHECKF(has_process_family(port) == on, "INFERMETRICS_PROCESS_METRICS=%d: expected process_* %s", on,
         on ? "present" : "absent");
  CHECKF(ct_log_count("INFERMETRICS_PROCESS_METRICS=") == 1,
         "expected one log line naming INFERMETRICS_PROCESS_METRICS, got %d", ct_log_count("INFERMETRICS_PROCESS_METRICS="));
  STOP_SERVER(s);
}

static void case_env_list(void)
{
  uint16_t port;
  setenv("INFERMETRICS_COLLECTORS", "-process", 1);
  INFERMETRICS_ServerOptions* o = ct_options(100);
  unsetenv("INFERMETRICS_COLLECTORS");
  OK(INFERMETRICS_ServerOptionsSetCollector(o, "process", true)); /* the environment wins */
  ERR_MSG(INFERMETRICS_ServerOptionsSetCollector(o, "bogus", true), INFERMETRICS_ERROR_INVALID_ARG, "'bogus'");
  NULL_ARG(INFERMETRICS_ServerOptionsSetCollector(o, NULL, true), "name");
  NULL_ARG(INFERMETRICS_ServerOptionsSetProcessMetrics(NULL, true), "options");
  INFERMETRICS_Server* s = ct_start(o, &port);
  if (!s) return;
  CHECKF(!has_process_family(port), "INFERMETRICS_COLLECTORS=-process: expected no process_* family");
  CHECKF(ct_log_count("INFERMETRICS_COLLECTORS=-process") == 1, "expected one log line naming INFERMETRICS_COLLECTORS");
  STOP_SERVER(s);

  /* an unknown name in the variable: ServerOptionsNew fails naming it */
  INFERMETRICS_ServerOptions* bad = NULL;
  setenv("INFERMETRICS_COLLECTORS", "process,nonesuch", 1);
  ERR_MSG(INFERMETRICS_ServerOptionsNew(&bad), INFERMETRICS_ERROR_INVALID_ARG, "INFERMETRICS_COLLECTORS");
  setenv("INFERMETRICS_COLLECTORS", "", 1);
  setenv("INFERMETRICS_PROCESS_METRICS", "maybe", 1);
  ERR_MSG(INFERMETRICS_ServerOptionsNew(&bad), INFERMETRICS_ERROR_INVALID_ARG, "INFERMETRICS_PROCESS_METRICS='maybe'");
  unsetenv("INFERMETRICS_COLLECTORS");
  unsetenv("INFERMETRICS_PROCESS_METRICS");
  CHECK(bad == NULL);
}

int main(int argc, char** argv)
{
  const char* c = argc > 1 ? argv[1] : "values";
  INFERMETRICS_SetLogCallback(ct_log, NULL);
  if (strcmp(c, "values") == 0) case_values();
  else if (strcmp(c, "off") == 0) case_off();
  else if (strcmp(c, "env_on") == 0) case_env(1);
  else if (strcmp(c, "env_off") == 0) case_env(0);
  else if (strcmp(c, "env_list") == 0) case_env_list();
  else {
    fprintf(stderr, "unknown case '%s'\n", c);
    return 2;
  }
  if (st_failures) ct_log_print();
  return TEST_SUMMARY();
}

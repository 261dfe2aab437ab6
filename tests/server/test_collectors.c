/*
 * server_collectors: the CPU and pinned-memory collectors against what the test reads itself.
 *  - nv_cpu_memory_total_bytes == MemTotal x 1024 (/proc/meminfo), exactly;
 *  - nv_cpu_memory_used_bytes within 5% of (MemTotal - MemAvailable) x 1024;
 *  - nv_cpu_utilization in [0, 1]; with every CPU busy-spinning it rises (>= 0.5, above the
 *    quietest idle reading), cross-checked with a utilization the test computes from /proc/stat;
 *  - PinnedMemoryPoolReport(1024, 64) is served after an interval; (1, 2) is refused;
 *  - switched-off collectors serve no series at all.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "server_test.h"

/* MemTotal and MemAvailable in KiB. */
static int read_meminfo(long long* total_kib, long long* avail_kib)
{
  FILE* f = fopen("/proc/meminfo", "r");
  char line[256];
  int got = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "MemTotal: %lld kB", total_kib) == 1) got |= 1;
    if (sscanf(line, "MemAvailable: %lld kB", avail_kib) == 1) got |= 2;
  }
  fclose(f);
  return got == 3;
}

/* Aggregate busy and total jiffies from /proc/stat's "cpu" line, as the contract defines. */
static int read_stat(unsigned long long* busy, unsigned long long* total)
{
  unsigned long long u = 0, n = 0, s = 0, idle = 0, io = 0, irq = 0, sirq = 0, steal = 0;
  FILE* f = fopen("/proc/stat", "r");
  if (!f) return 0;
  int k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &s, &idle, &io, &irq, &sirq, &steal);
  fclose(f);
  if (k < 8) return 0;
  *busy = u + n + s + irq + sirq + steal;
  *total = *busy + idle + io;
  return 1;
}

static double scrape_value(uint16_t port, const char* series)
{
  double v = NAN;
  char* body = SCRAPE("127.0.0.1", port);
  if (body && !st_sample(body, series, &v)) {
    st_fail(__FILE__, __LINE__, "expected a '%s' sample in the scrape", series);
    v = NAN;
  }
  free(body);
  return v;
}

static atomic_int g_spin;
static void* spin(void* arg)
{
  (void)arg;
  volatile unsigned long long x = 0;
  while (atomic_load_explicit(&g_spin, memory_order_relaxed)) ++x;
  return NULL;
}

static void check_memory(uint16_t port)
{
  long long total_kib = 0, avail_kib = 0, total2 = 0, avail2 = 0;
  double total = -1, used = -1, lo = 0, hi = 0;
  int fits = 0;
  /* the served value is up to one interval old and other processes allocate meanwhile: read
     /proc/meminfo just before and after each scrape, and allow a few attempts */
  for (int attempt = 0; attempt < 10 && !fits; ++attempt) {
    if (attempt) st_sleep_ms(50);
    CHECK(read_meminfo(&total_kib, &avail_kib));
    char* body = SCRAPE("127.0.0.1", port);
    CHECK(read_meminfo(&total2, &avail2));
    if (!body) return;
    if (attempt == 0) {
      CHECKF(st_has_line_prefix(body, "# TYPE nv_cpu_memory_total_bytes gauge"), "expected nv_cpu_memory_total_bytes gauge");
      CHECKF(st_has_line_prefix(body, "# TYPE nv_cpu_memory_used_bytes gauge"), "expected nv_cpu_memory_used_bytes gauge");
      CHECKF(st_has_line_prefix(body, "# TYPE nv_cpu_utilization gauge"), "expected nv_cpu_utilization gauge");
    }
    int have_total = st_sample(body, "nv_cpu_memory_total_bytes", &total);
    int have_used = st_sample(body, "nv_cpu_memory_used_bytes", &used);
    free(body);
    CHECKF(have_total && have_used, "expected nv_cpu_memory_total_bytes and nv_cpu_memory_used_bytes in the scrape");
    if (!have_total || !have_used) return;
    double u1 = (double)(total_kib - avail_kib) * 1024.0, u2 = (double)(total2 - avail2) * 1024.0;
    lo = (u1 < u2 ? u1 : u2) * 0.95;
    hi = (u1 > u2 ? u1 : u2) * 1.05;
    fits = used >= lo && used <= hi;
  }
  double want_total = (double)total_kib * 1024.0;
  printf("MemTotal %lld kB, MemAvailable %lld..%lld kB; served total %.0f, used %.0f (accepted %.0f..%.0f)\n",
         total_kib, avail_kib, avail2, total, used, lo, hi);
  CHECKF(total == want_total, "nv_cpu_memory_total_bytes: expected MemTotal x 1024 = %.0f, got %.0f", want_total, total);
  CHECKF(fits, "nv_cpu_memory_used_bytes: expected within 5%% of (MemTotal - MemAvailable) x 1024, i.e. %.0f..%.0f, "
         "got %.0f (10 attempts)", lo, hi, used);
  CHECKF(used > 0 && used <= total, "nv_cpu_memory_used_bytes: expected in (0, total], got %.0f", used);
}

static void check_utilization(uint16_t port)
{
  /* idle-ish: the quietest of several readings over ~0.6 s */
  double idle_min = 2, v;
  for (int i = 0; i < 6; ++i) {
    st_sleep_ms(110);
    v = scrape_value(port, "nv_cpu_utilization");
    CHECKF(v >= 0 && v <= 1, "nv_cpu_utilization: expected within [0, 1], got %g", v);
    if (v < idle_min) idle_min = v;
  }
  /* every CPU busy-spinning for ~1 s */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 1) ncpu = 1;
  if (ncpu > 64) ncpu = 64;
  pthread_t th[64];
  unsigned long long b0 = 0, t0 = 0, b1 = 0, t1 = 0;
  read_stat(&b0, &t0);
  atomic_store(&g_spin, 1);
  for (long i = 0; i < ncpu; ++i) pthread_create(&th[i], NULL, spin, NULL);
  double busy_max = -1, busy_sum = 0;
  int busy_n = 0;
  st_sleep_ms(150);
  for (int i = 0; i < 8; ++i) {
    st_sleep_ms(110);
    v = scrape_value(port, "nv_cpu_utilization");
    CHECKF(v >= 0 && v <= 1, "nv_cpu_utilization while spinning: expected within [0, 1], got %g", v);
    if (v > busy_max) busy_max = v;
    busy_sum += v;
    ++busy_n;
  }
  read_stat(&b1, &t1);
  atomic_store(&g_spin, 0);
  for (long i = 0; i < ncpu; ++i) pthread_join(th[i], NULL);
  double own = t1 > t0 ? (double)(b1 - b0) / (double)(t1 - t0) : -1;
  printf("nv_cpu_utilization: idle min %.3f; with %ld spinning threads max %.3f mean %.3f; /proc/stat over the "
         "same second %.3f\n",
         idle_min, ncpu, busy_max, busy_sum / busy_n, own);
  CHECKF(busy_max > 0, "nv_cpu_utilization stayed 0 while every CPU was spinning");
  CHECKF(busy_max >= 0.5, "nv_cpu_utilization while every CPU was spinning: expected >= 0.5, max reading %g "
         "(the test's own /proc/stat figure: %g)", busy_max, own);
  CHECKF(idle_min >= 0.99 || busy_max > idle_min,
         "nv_cpu_utilization did not rise under load: idle min %g, busy max %g", idle_min, busy_max);
  /* coarse agreement with /proc/stat over the spinning period */
  CHECKF(own < 0 || fabs(busy_sum / busy_n - own) <= 0.35,
         "nv_cpu_utilization mean %g while spinning is far from the test's own /proc/stat figure %g",
         busy_sum / busy_n, own);
}

static double wait_for_value(uint16_t port, const char* series, double want, int max_ms)
{
  long long t0 = hc_now_ms();
  double v = NAN;
  do {
    char* body = SCRAPE("127.0.0.1", port);
    if (body && !st_sample(body, series, &v)) v = NAN;
    free(body);
    if (v == want) break;
    st_sleep_ms(20);
  } while (hc_now_ms() - t0 < max_ms);
  return v;
}

static void check_pinned(uint16_t port)
{
  OK(INFERMETRICS_PinnedMemoryPoolReport(1024, 64));
  double t = wait_for_value(port, "nv_pinned_memory_pool_total_bytes", 1024, 3000);
  double u = wait_for_value(port, "nv_pinned_memory_pool_used_bytes", 64, 3000);
  CHECKF(t == 1024, "after PinnedMemoryPoolReport(1024, 64): expected nv_pinned_memory_pool_total_bytes 1024, got %g",
         t);
  CHECKF(u == 64, "after PinnedMemoryPoolReport(1024, 64): expected nv_pinned_memory_pool_used_bytes 64, got %g", u);
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    CHECK(st_has_line_prefix(body, "# TYPE nv_pinned_memory_pool_total_bytes gauge"));
    CHECK(st_has_line_prefix(body, "# TYPE nv_pinned_memory_pool_used_bytes gauge"));
    free(body);
  }
  /* refused: used > total; the served values stay */
  ERR(INFERMETRICS_PinnedMemoryPoolReport(1, 2), INFERMETRICS_ERROR_INVALID_ARG);
  st_sleep_ms(250); /* > 2 intervals */
  t = scrape_value(port, "nv_pinned_memory_pool_total_bytes");
  u = scrape_value(port, "nv_pinned_memory_pool_used_bytes");
  CHECKF(t == 1024 && u == 64, "after the refused report(1, 2): expected 1024 and 64 still served, got %g and %g", t,
         u);
  /* large values are served exactly (2^52 is exact in a double) */
  OK(INFERMETRICS_PinnedMemoryPoolReport(4503599627370496ull, 4503599627370496ull));
  t = wait_for_value(port, "nv_pinned_memory_pool_total_bytes", 4503599627370496.0, 3000);
  CHECKF(t == 4503599627370496.0, "expected nv_pinned_memory_pool_total_bytes 2^52, got %.17g", t);
  OK(INFERMETRICS_PinnedMemoryPoolReport(0, 0));
}

static void check_switch_offs(void)
{
  uint16_t port = 0;
  st_server_cfg cfg = st_server_defaults();
  cfg.gpu = 0;
  cfg.cpu = 0;
  cfg.pinned = 0;
  INFERMETRICS_Server* s = START_SERVER(cfg, &port);
  if (!s) return;
  st_sleep_ms(250); /* a couple of intervals */
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    static const char* const prefixes[] = {"nv_cpu_", "nv_pinned_", "nv_gpu_", "nv_energy_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; ++i) {
      char help[64], type[64];
      snprintf(help, sizeof help, "# HELP %s", prefixes[i]);
      snprintf(type, sizeof type, "# TYPE %s", prefixes[i]);
      CHECKF(!st_has_line_prefix(body, prefixes[i]) && !st_has_line_prefix(body, help) &&
                 !st_has_line_prefix(body, type),
             "all collectors off: expected no %s* series or metadata, got:\n%s", prefixes[i], body);
    }
    free(body);
  }
  STOP_SERVER(s);

  /* each switch alone */
  cfg = st_server_defaults();
  cfg.cpu = 0;
  s = START_SERVER(cfg, &port);
  if (s) {
    body = SCRAPE("127.0.0.1", port);
    CHECKF(body && !strstr(body, "nv_cpu_") && strstr(body, "nv_pinned_memory_pool_total_bytes"),
           "CPU off, pinned on: expected pinned series and no nv_cpu_*");
    free(body);
    STOP_SERVER(s);
  }
  cfg = st_server_defaults();
  cfg.pinned = 0;
  s = START_SERVER(cfg, &port);
  if (s) {
    body = SCRAPE("127.0.0.1", port);
    CHECKF(body && !strstr(body, "nv_pinned_") && strstr(body, "nv_cpu_utilization"),
           "pinned off, CPU on: expected CPU series and no nv_pinned_*");
    free(body);
    STOP_SERVER(s);
  }
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  uint16_t port = 0;
  st_server_cfg cfg = st_server_defaults(); /* interval 100 ms, GPU off */
  INFERMETRICS_Server* s = START_SERVER(cfg, &port);
  if (s) {
    check_memory(port);
    check_utilization(port);
    check_pinned(port);
    STOP_SERVER(s);
  }
  check_switch_offs();
  return TEST_SUMMARY();
}

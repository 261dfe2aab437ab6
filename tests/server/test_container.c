/*
 * server_container_*: the container group (nv_container_*) against this machine's real cgroup
 * and against fixture trees built here under a temp dir and passed with
 * INFERMETRICS_SYSFS_ROOT (for /sys) and INFERMETRICS_PROC_ROOT (for /proc/self/cgroup, the
 * test seam). One case per run:
 *   real      this process's cgroup (v2 or v1, found by the test itself): usage counters
 *             between the test's own readings, memory usage close, limit as the test computes it
 *   v2        limits at three levels (the smallest wins), every series' exact value, and the
 *             utilisation of a usage counter the test advances at 0.75 cores under a 1.5-core
 *             limit (0.5), absent before its first 100 ms window
 *   v2_max    cpu.max "max", memory.max "max": no limit series; utilisation of the 4 online
 *             CPUs of the fixture (1 core used: 0.25)
 *   v2_nocpu  no cpu controller (cpu.stat with usage only, no cpu.max): usage only, no CFS series
 *   v1        v1 hierarchies (cpu,cpuacct and memory, a v2 one beside them): values, limits
 *   v1_unlimited  quota -1 and a limit near 2^63: no limit series
 *   none      no cgroup found: no nv_container_* family, one log line, the server still serves
 *   off       ServerOptionsSetContainerMetrics(false) and INFERMETRICS_CONTAINER_METRICS=0
 */
#include <stdatomic.h>

#include "collector_test.h"

static char* g_root; /* the fixture tree */

static void use_fixture(void)
{
  char sys[PATH_MAX], proc[PATH_MAX];
  snprintf(sys, sizeof sys, "%s/sys", g_root);
  snprintf(proc, sizeof proc, "%s/proc", g_root);
  setenv("INFERMETRICS_SYSFS_ROOT", sys, 1);
  setenv("INFERMETRICS_PROC_ROOT", proc, 1);
}

static INFERMETRICS_Server* start_container_only(uint64_t interval_ms, uint16_t* port)
{
  INFERMETRICS_ServerOptions* o = ct_options(interval_ms);
  OK(INFERMETRICS_ServerOptionsSetCpuMetrics(o, false));
  OK(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(o, false));
  OK(INFERMETRICS_ServerOptionsSetProcessMetrics(o, false));
  OK(INFERMETRICS_ServerOptionsSetContainerMetrics(o, true));
  return ct_start(o, port);
}

/* expect series == want exactly (want NAN: absent) */
static void expect(const char* body, const char* series, double want)
{
  double v = NAN;
  int has = st_sample(body, series, &v);
  if (isnan(want)) {
    CHECKF(!has, "expected no %s, got %g", series, v);
  } else {
    CHECKF(has && fabs(v - want) <= 1e-9 * fabs(want), "expected %s %.10g, got %s%.10g", series, want,
           has ? "" : "none: ", v);
  }
}

/* A writer advancing cpu.stat's usage_usec at `rate` cores, as a busy container would. */
typedef struct {
  const char* rel;
  double rate;
  const char* tail; /* the rest of cpu.stat */
  atomic_int run;
} usage_writer;

static void* write_usage(void* arg)
{
  usage_writer* w = arg;
  long long t0 = hc_now_ms();
  while (atomic_load(&w->run)) {
    char content[512];
    unsigned long long usec = 1000000ull + (unsigned long long)((double)(hc_now_ms() - t0) * 1000.0 * w->rate);
    snprintf(content, sizeof content, "usage_usec %llu\n%s", usec, w->tail);
    ct_write(g_root, w->rel, content);
    st_sleep_ms(2);
  }
  return NULL;
}

/* Mean of `n` readings of nv_container_cpu_utilization, one per interval. */
static double mean_utilization(uint16_t port, int n, int interval_ms)
{
  double sum = 0;
  int got = 0;
  /* the first value comes once a window of 100 ms has passed: wait for it */
  CHECKF(!isnan(ct_wait_value(port, "nv_container_cpu_utilization", 3000)),
         "nv_container_cpu_utilization did not appear within 3 s");
  for (int i = 0; i < n; ++i) {
    st_sleep_ms(interval_ms);
    double v = ct_value(port, "nv_container_cpu_utilization");
    CHECKF(!isnan(v) && v >= 0 && v <= 1, "nv_container_cpu_utilization: expected in [0, 1], got %g", v);
    if (!isnan(v)) {
      sum += v;
      ++got;
    }
  }
  return got ? sum / got : NAN;
}

static const char* const k_v2_stat_tail = "user_usec 1\nsystem_usec 1\nnr_periods 40\nnr_throttled 4\nthrottled_usec 300000\n";

static void case_v2(void)
{
  const char* leaf = "sys/fs/cgroup/kubepods/pod1/ctr";
  ct_write(g_root, "proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  ct_write(g_root, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/memory.max", "max\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n"); /* 1.5 cores: the smallest */
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/memory.max", "4294967296\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "200000 100000\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "1073741824\n"); /* 1 GiB: the smallest */
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.stat", "usage_usec 1000000\nuser_usec 1\nsystem_usec 1\n"
                                                               "nr_periods 40\nnr_throttled 4\nthrottled_usec 300000\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/memory.current", "104857600\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/memory.stat", "anon 5\nfile 7\ninactive_file 4857600\nactive_file 1\n");
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/memory.events", "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n");
  use_fixture();

  uint16_t port;
  INFERMETRICS_Server* s = start_container_only(1000, &port);
  if (!s) return;
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    expect(body, "nv_container_cpu_usage_seconds_total", 1.0);
    expect(body, "nv_container_cpu_limit_cores", 1.5);
    expect(body, "nv_container_cpu_cfs_periods_total", 40);
    expect(body, "nv_container_cpu_cfs_throttled_periods_total", 4);
    expect(body, "nv_container_cpu_cfs_throttled_seconds_total", 0.3);
    expect(body, "nv_container_memory_usage_bytes", 104857600);
    expect(body, "nv_container_memory_working_set_bytes", 100000000);
    expect(body, "nv_container_memory_limit_bytes", 1073741824);
    expect(body, "nv_container_oom_kills_total", 2);
    /* right after start: no utilisation yet (its first window needs >= 100 ms) */
    expect(body, "nv_container_cpu_utilization", NAN);
    CHECK(st_has_line_prefix(body, "# TYPE nv_container_cpu_usage_seconds_total counter"));
    CHECK(st_has_line_prefix(body, "# TYPE nv_container_cpu_cfs_throttled_seconds_total counter"));
    CHECK(st_has_line_prefix(body, "# TYPE nv_container_oom_kills_total counter"));
    CHECK(st_has_line_prefix(body, "# TYPE nv_container_memory_limit_bytes gauge"));
    CHECK(st_has_line_prefix(body, "# TYPE nv_container_cpu_utilization gauge") == 0);
    CHECK(st_sample(body, "nv_collector_success{collector=\"container\"}", NULL));
    free(body);
  }
  STOP_SERVER(s);

  /* utilisation: 0.75 cores used under the 1.5-core limit */
  usage_writer w = {"sys/fs/cgroup/kubepods/pod1/ctr/cpu.stat", 0.75, k_v2_stat_tail, 1};
  (void)leaf;
  pthread_t th;
  pthread_create(&th, NULL, write_usage, &w);
  s = start_container_only(150, &port);
  if (s) {
    double u = mean_utilization(port, 6, 160);
    printf("v2: 0.75 cores used under a 1.5-core limit: mean nv_container_cpu_utilization %.3f (expected 0.5)\n", u);
    CHECKF(fabs(u - 0.5) <= 0.12, "nv_container_cpu_utilization: expected about 0.5, mean %g", u);
    STOP_SERVER(s);
  }
  atomic_store(&w.run, 0);
  pthread_join(th, NULL);

  /* a limit changed at run time (docker update) is served at the next collection */
  ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "536870912\n");
  s = start_container_only(100, &port);
  if (s) {
    ct_write(g_root, "sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "268435456\n");
    st_sleep_ms(400);
    double v = ct_value(port, "nv_container_memory_limit_bytes");
    CHECKF(v == 268435456.0, "after memory.max changed to 256 MiB: expected nv_container_memory_limit_bytes 268435456, got %.0f", v);
    STOP_SERVER(s);
  }
}

static void case_v2_max(void)
{
  ct_write(g_root, "proc/self/cgroup", "0::/app\n");
  ct_write(g_root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  ct_write(g_root, "sys/devices/system/cpu/online", "0-3\n");
  ct_write(g_root, "sys/fs/cgroup/app/cpu.max", "max 100000\n");
  ct_write(g_root, "sys/fs/cgroup/app/memory.max", "max\n");
  ct_write(g_root, "sys/fs/cgroup/app/cpu.stat", "usage_usec 1000000\nuser_usec 1\nsystem_usec 1\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n");
  ct_write(g_root, "sys/fs/cgroup/app/memory.current", "2048\n");
  ct_write(g_root, "sys/fs/cgroup/app/memory.stat", "inactive_file 4096\n"); /* more than current: 0, not negative */
  ct_write(g_root, "sys/fs/cgroup/app/memory.events", "oom_kill 0\n");
  use_fixture();
  usage_writer w = {"sys/fs/cgroup/app/cpu.stat", 1.0, "user_usec 1\nsystem_usec 1\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n", 1};
  pthread_t th;
  pthread_create(&th, NULL, write_usage, &w);
  uint16_t port;
  INFERMETRICS_Server* s = start_container_only(150, &port);
  if (s) {
    char* body = SCRAPE("127.0.0.1", port);
    if (body) {
      expect(body, "nv_container_cpu_limit_cores", NAN);
      expect(body, "nv_container_memory_limit_bytes", NAN);
      expect(body, "nv_container_memory_usage_bytes", 2048);
      expect(body, "nv_container_memory_working_set_bytes", 0);
      expect(body, "nv_container_oom_kills_total", 0);
      expect(body, "nv_container_cpu_cfs_periods_total", 0);
      free(body);
    }
    double u = mean_utilization(port, 6, 160);
    printf("v2 unlimited: 1 core used of 4 online: mean nv_container_cpu_utilization %.3f (expected 0.25)\n", u);
    CHECKF(fabs(u - 0.25) <= 0.08, "nv_container_cpu_utilization: expected about 0.25, mean %g", u);
    STOP_SERVER(s);
  }
  atomic_store(&w.run, 0);
  pthread_join(th, NULL);
}

static void case_v2_nocpu(void)
{
  ct_write(g_root, "proc/self/cgroup", "0::/a/b\n");
  ct_write(g_root, "sys/fs/cgroup/cgroup.controllers", "memory pids\n");
  ct_write(g_root, "sys/fs/cgroup/a/b/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
  ct_write(g_root, "sys/fs/cgroup/a/b/memory.current", "65536\n");
  ct_write(g_root, "sys/fs/cgroup/a/memory.max", "131072\n");
  use_fixture();
  uint16_t port;
  INFERMETRICS_Server* s = start_container_only(100, &port);
  if (!s) return;
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    expect(body, "nv_container_cpu_usage_seconds_total", 2.5);
    expect(body, "nv_container_cpu_limit_cores", NAN);
    expect(body, "nv_container_cpu_cfs_periods_total", NAN);
    expect(body, "nv_container_cpu_cfs_throttled_periods_total", NAN);
    expect(body, "nv_container_cpu_cfs_throttled_seconds_total", NAN);
    expect(body, "nv_container_memory_usage_bytes", 65536);
    expect(body, "nv_container_memory_limit_bytes", 131072); /* the parent's */
    expect(body, "nv_container_oom_kills_total", NAN);
    CHECKF(!st_has_line_prefix(body, "# TYPE nv_container_cpu_cfs"), "expected no CFS family metadata");
    free(body);
  }
  STOP_SERVER(s);
}

static void write_v1(int limited)
{
  ct_write(g_root, "proc/self/cgroup",
           "12:memory:/docker/abc\n11:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n");
  ct_write(g_root, "sys/fs/cgroup/unified/cgroup.controllers", ""); /* a v2 hierarchy beside: still v1 */
  ct_write(g_root, "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n");
  ct_write(g_root, "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
  ct_write(g_root, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", limited ? "250000\n" : "-1\n");
  ct_write(g_root, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  ct_write(g_root, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage", "5000000000\n");
  ct_write(g_root, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 7000000\n");
  ct_write(g_root, "sys/fs/cgroup/memory/docker/memory.limit_in_bytes", "9223372036854771712\n");
  ct_write(g_root, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", limited ? "536870912\n" : "9223372036854771712\n");
  ct_write(g_root, "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", "300000000\n");
  ct_write(g_root, "sys/fs/cgroup/memory/docker/abc/memory.stat", "cache 5\ninactive_file 1\ntotal_inactive_file 100000000\n");
  ct_write(g_root, "sys/fs/cgroup/memory/docker/abc/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  use_fixture();
}

static void case_v1(int limited)
{
  write_v1(limited);
  uint16_t port;
  INFERMETRICS_Server* s = start_container_only(100, &port);
  if (!s) return;
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    expect(body, "nv_container_cpu_usage_seconds_total", 5.0);
    expect(body, "nv_container_cpu_limit_cores", limited ? 2.5 : NAN);
    expect(body, "nv_container_cpu_cfs_periods_total", 10);
    expect(body, "nv_container_cpu_cfs_throttled_periods_total", 2);
    expect(body, "nv_container_cpu_cfs_throttled_seconds_total", 0.007);
    expect(body, "nv_container_memory_usage_bytes", 300000000);
    expect(body, "nv_container_memory_working_set_bytes", 200000000);
    expect(body, "nv_container_memory_limit_bytes", limited ? 536870912 : NAN);
    expect(body, "nv_container_oom_kills_total", 3);
    free(body);
  }
  CHECKF(ct_log_count("cgroup v1") == 1, "expected one log line naming the v1 cgroup");
  STOP_SERVER(s);
}

static void case_none(void)
{
  ct_write(g_root, "proc/self/cgroup", "0::/\n");
  ct_write(g_root, "sys/fs/cgroup/README", "no hierarchy here\n");
  use_fixture();
  uint16_t port;
  INFERMETRICS_ServerOptions* o = ct_options(100);
  INFERMETRICS_Server* s = ct_start(o, &port); /* defaults: container on */
  if (!s) return;
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    CHECKF(!ct_has_family_prefix(body, "nv_container_"), "no cgroup: expected no nv_container_* family");
    CHECKF(!st_has_sample_containing(body, "collector=\"container\""), "no cgroup: expected no container self-metrics");
    CHECKF(st_sample(body, "nv_cpu_memory_total_bytes", NULL), "no cgroup: the other collectors still serve");
    free(body);
  }
  CHECKF(ct_log_count("no container metrics") == 1, "expected one 'no container metrics' log line, got %d",
         ct_log_count("no container metrics"));
  STOP_SERVER(s);
}

static void case_off(void)
{
  write_v1(1);
  uint16_t port;
  INFERMETRICS_ServerOptions* o = ct_options(100);
  OK(INFERMETRICS_ServerOptionsSetContainerMetrics(o, false));
  INFERMETRICS_Server* s = ct_start(o, &port);
  if (s) {
    char* body = SCRAPE("127.0.0.1", port);
    CHECKF(body && !ct_has_family_prefix(body, "nv_container_"), "container off: expected no nv_container_* family");
    free(body);
    STOP_SERVER(s);
  }
  setenv("INFERMETRICS_CONTAINER_METRICS", "0", 1);
  o = ct_options(100);
  unsetenv("INFERMETRICS_CONTAINER_METRICS");
  OK(INFERMETRICS_ServerOptionsSetContainerMetrics(o, true)); /* the environment wins */
  s = ct_start(o, &port);
  if (s) {
    char* body = SCRAPE("127.0.0.1", port);
    CHECKF(body && !ct_has_family_prefix(body, "nv_container_"),
           "INFERMETRICS_CONTAINER_METRICS=0: expected no nv_container_* family");
    free(body);
    CHECKF(ct_log_count("INFERMETRICS_CONTAINER_METRICS=0") == 1, "expected one log line naming the variable");
    STOP_SERVER(s);
  }
}

/* ------------------------------------------------------------------ this machine's cgroup */

/* The directory of `controller` (v1) or of the v2 cgroup ("" controller), as the library finds
   it; 0 when there is none. */
static int find_dir(const char* controller, char* dir, size_t n, char* mount, size_t mn)
{
  FILE* f = fopen("/proc/self/cgroup", "r");
  char line[1024];
  int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0, found = 0;
  if (!f) return 0;
  while (!found && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char* c1 = strchr(line, ':');
    char* c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = '\0';
    const char* ctls = c1 + 1;
    const char* path = c2 + 1;
    if (v2) {
      if (strncmp(line, "0:", 2) != 0 || *ctls) continue;
      snprintf(mount, mn, "/sys/fs/cgroup");
    } else {
      /* the controller among the comma-separated list */
      char list[256];
      snprintf(list, sizeof list, ",%s,", ctls);
      char want[64];
      snprintf(want, sizeof want, ",%s,", controller);
      if (!strstr(list, want)) continue;
      const char* cands[] = {ctls, controller, "cpu,cpuacct", "cpuacct,cpu"};
      int m = 0;
      for (size_t i = 0; i < 4 && !m; ++i) {
        snprintf(mount, mn, "/sys/fs/cgroup/%s", cands[i]);
        struct stat st;
        m = stat(mount, &st) == 0 && S_ISDIR(st.st_mode);
      }
      if (!m) continue;
    }
    snprintf(dir, n, "%s%s", mount, strcmp(path, "/") == 0 ? "" : path);
    struct stat st;
    if (stat(dir, &st) != 0) snprintf(dir, n, "%s", mount); /* host path inside a container */
    found = 1;
  }
  fclose(f);
  return found;
}

/* The effective memory limit from `dir` up to `mount` (0: none). */
static unsigned long long effective_memory_limit(const char* dir, const char* mount, int v2)
{
  char d[PATH_MAX], p[PATH_MAX + 32];
  unsigned long long best = 0;
  snprintf(d, sizeof d, "%s", dir);
  for (;;) {
    int ok = 0;
    snprintf(p, sizeof p, "%s/%s", d, v2 ? "memory.max" : "memory.limit_in_bytes");
    unsigned long long l = ct_read_u64(p, &ok);
    if (ok && l < (1ull << 62) && (best == 0 || l < best)) best = l;
    if (strcmp(d, mount) == 0) break;
    char* slash = strrchr(d, '/');
    if (!slash || slash == d) break;
    *slash = '\0';
  }
  return best;
}

static void case_real(void)
{
  char cpu_dir[PATH_MAX], mem_dir[PATH_MAX], cpu_mount[PATH_MAX], mem_mount[PATH_MAX];
  int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
  int have_cpu = find_dir(v2 ? "" : "cpuacct", cpu_dir, sizeof cpu_dir, cpu_mount, sizeof cpu_mount);
  int have_mem = find_dir(v2 ? "" : "memory", mem_dir, sizeof mem_dir, mem_mount, sizeof mem_mount);
  if (!have_cpu && !have_mem) {
    printf("SKIP: this machine has no cgroup the test can find\n");
    exit(77);
  }
  printf("this machine: cgroup %s; cpu usage from %s, memory from %s\n", v2 ? "v2" : "v1", have_cpu ? cpu_dir : "-",
         have_mem ? mem_dir : "-");
  char usage_path[PATH_MAX + 32], mem_path[PATH_MAX + 32];
  snprintf(usage_path, sizeof usage_path, "%s/%s", cpu_dir, v2 ? "cpu.stat" : "cpuacct.usage");
  snprintf(mem_path, sizeof mem_path, "%s/%s", mem_dir, v2 ? "memory.current" : "memory.usage_in_bytes");

  uint16_t port;
  INFERMETRICS_Server* s = start_container_only(100, &port);
  if (!s) return;
  for (int round = 0; round < 3; ++round) {
    unsigned long long u1 = 0, u2 = 0, m1 = 0, m2 = 0;
    int ok1 = 0, ok2 = 0, okm1 = 0, okm2 = 0;
    if (v2) {
      ok1 = ct_read_key(usage_path, "usage_usec", &u1);
      u1 *= 1000;
    } else {
      u1 = ct_read_u64(usage_path, &ok1);
    }
    m1 = ct_read_u64(mem_path, &okm1);
    st_sleep_ms(400); /* at least one collection after the readings above */
    char* body = SCRAPE("127.0.0.1", port);
    if (v2) {
      ok2 = ct_read_key(usage_path, "usage_usec", &u2);
      u2 *= 1000;
    } else {
      u2 = ct_read_u64(usage_path, &ok2);
    }
    m2 = ct_read_u64(mem_path, &okm2);
    if (!body) return;
    double usage = NAN, mem = NAN, limit = NAN;
    int has_usage = st_sample(body, "nv_container_cpu_usage_seconds_total", &usage);
    int has_mem = st_sample(body, "nv_container_memory_usage_bytes", &mem);
    int has_limit = st_sample(body, "nv_container_memory_limit_bytes", &limit);
    free(body);
    if (ok1 && ok2) {
      CHECKF(has_usage && usage >= u1 / 1e9 - 1e-9 && usage <= u2 / 1e9 + 1e-9,
             "nv_container_cpu_usage_seconds_total %.6f: expected between the test's readings %.6f and %.6f", usage,
             u1 / 1e9, u2 / 1e9);
    }
    if (okm1 && okm2) {
      double lo = (double)(m1 < m2 ? m1 : m2), hi = (double)(m1 > m2 ? m1 : m2);
      /* other processes of the cgroup allocate meanwhile */
      CHECKF(has_mem && mem >= lo * 0.8 - (64 << 20) && mem <= hi * 1.2 + (64 << 20),
             "nv_container_memory_usage_bytes %.0f far from the test's readings %.0f..%.0f", mem, lo, hi);
      unsigned long long want = effective_memory_limit(mem_dir, mem_mount, v2);
      if (want) CHECKF(has_limit && limit == (double)want, "nv_container_memory_limit_bytes %.0f, expected %llu", limit, want);
      else CHECKF(!has_limit, "no memory limit on the path: expected no nv_container_memory_limit_bytes, got %.0f", limit);
    }
    if (round == 0)
      printf("usage %.3f s (test: %.3f..%.3f), memory %.0f (test: %llu..%llu), limit %s\n", usage, u1 / 1e9, u2 / 1e9,
             mem, m1, m2, has_limit ? "set" : "none");
  }
  double u = ct_wait_value(port, "nv_container_cpu_utilization", 1000);
  CHECKF(!isnan(u) && u >= 0 && u <= 1, "nv_container_cpu_utilization: expected in [0, 1], got %g", u);
  STOP_SERVER(s);
}

int main(int argc, char** argv)
{
  const char* c = argc > 1 ? argv[1] : "real";
  INFERMETRICS_SetLogCallback(ct_log, NULL);
  unsetenv("INFERMETRICS_SYSFS_ROOT");
  unsetenv("INFERMETRICS_PROC_ROOT");
  g_root = ct_tmpdir("cgroup");
  if (!g_root) {
    fprintf(stderr, "mkdtemp failed\n");
    return 1;
  }
  if (strcmp(c, "real") == 0) case_real();
  else if (strcmp(c, "v2") == 0) case_v2();
  else if (strcmp(c, "v2_max") == 0) case_v2_max();
  else if (strcmp(c, "v2_nocpu") == 0) case_v2_nocpu();
  else if (strcmp(c, "v1") == 0) case_v1(1);
  else if (strcmp(c, "v1_unlimited") == 0) case_v1(0);
  else if (strcmp(c, "none") == 0) case_none();
  else if (strcmp(c, "off") == 0) case_off();
  else {
    fprintf(stderr, "unknown case '%s'\n", c);
    return 2;
  }
  ct_rmtree(g_root);
  free(g_root);
  if (st_failures) ct_log_print();
  return TEST_SUMMARY();
}

/*
 * server_host_*: the host group (node_exporter's node_* names and labels, and
 * nv_cpu_core_utilization) against /proc/meminfo, /proc/loadavg, /proc/stat, /proc and
 * statvfs read by the test itself. One case per run:
 *   values      every series against the test's own readings; filesystems of "/", "/dev/shm"
 *               and "/proc" with the labels of the mount that holds each (computed here from
 *               /proc/self/mountinfo), "/proc" reported although its fstype is proc
 *   first       the window rule: right after start nv_cpu_utilization is 0 and no
 *               nv_cpu_core_utilization is served; after one 1 s interval both are, per online CPU
 *   off         off by default; INFERMETRICS_HOST_METRICS=1 wins over code's false (one log line)
 *   env         INFERMETRICS_COLLECTORS=host,-process, INFERMETRICS_DISK_PATHS, bad values
 *   overlay     a mount table (INFERMETRICS_PROC_ROOT, the test seam) where "/" is an overlay:
 *               reported with fstype="overlay"
 *   hang        a disk path whose statfs hangs (a FUSE mount nobody answers, made by the test
 *               in its own mount namespace): ServerNew, every scrape and the other series are
 *               not held up, the path is skipped and logged once, nv_collector_success of
 *               "filesystem" is 0, and ServerDelete does not wait for the hung call.
 *               Exit 77 (skipped) where the test cannot mount (no /dev/fuse, no CAP_SYS_ADMIN).
 */
#include <sched.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include "collector_test.h"

static INFERMETRICS_ServerOptions* host_options(uint64_t interval_ms, const char* disk_paths)
{
  INFERMETRICS_ServerOptions* o = ct_options(interval_ms);
  OK(INFERMETRICS_ServerOptionsSetHostMetrics(o, true));
  if (disk_paths) OK(INFERMETRICS_ServerOptionsSetDiskPaths(o, disk_paths));
  return o;
}

/* ------------------------------------------------------------------ mounts, as the test sees them */

typedef struct {
  char mountpoint[512], fstype[64], device[256];
} mount_t;

static void unescape(char* s)
{
  char* w = s;
  for (char* r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* The mount holding `path` (resolved): the longest mount point that is a prefix, the last on ties. */
static int mount_of(const char* mountinfo, const char* path, mount_t* out)
{
  char real[PATH_MAX];
  if (!realpath(path, real)) return 0;
  FILE* f = fopen(mountinfo, "r");
  char line[4096];
  size_t best = 0;
  int found = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f)) {
    mount_t m;
    char* sep = strstr(line, " - ");
    if (!sep) continue;
    if (sscanf(line, "%*s %*s %*s %*s %511s", m.mountpoint) != 1) continue;
    if (sscanf(sep + 3, "%63s %255s", m.fstype, m.device) != 2) continue;
    unescape(m.mountpoint);
    unescape(m.device);
    size_t n = strlen(m.mountpoint);
    int prefix = strcmp(m.mountpoint, "/") == 0 ||
                 (strncmp(real, m.mountpoint, n) == 0 && (real[n] == '\0' || real[n] == '/'));
    if (prefix && n >= best) {
      best = n;
      *out = m;
      found = 1;
    }
  }
  fclose(f);
  return found;
}

static void fs_series(char* buf, size_t n, const char* family, const mount_t* m)
{
  snprintf(buf, n, "%s{device=\"%s\",fstype=\"%s\",mountpoint=\"%s\"}", family, m->device, m->fstype, m->mountpoint);
}

/* ------------------------------------------------------------------ values */

static int count_pids(void)
{
  DIR* d = opendir("/proc");
  struct dirent* e;
  int n = 0;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL) {
    const char* p = e->d_name;
    while (*p >= '0' && *p <= '9') ++p;
    if (*p == '\0' && p != e->d_name) ++n;
  }
  closedir(d);
  return n;
}

static int read_loadavg(double l[3])
{
  FILE* f = fopen("/proc/loadavg", "r");
  if (!f) return 0;
  int k = fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]);
  fclose(f);
  return k == 3;
}

static const char* const k_mem[] = {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree"};

static void case_values(void)
{
  int have_shm = access("/dev/shm", F_OK) == 0;
  const char* paths = have_shm ? "/,/dev/shm,/proc" : "/,/proc";
  uint16_t port;
  INFERMETRICS_Server* s = ct_start(host_options(100, paths), &port);
  if (!s) return;

  for (int round = 0; round < 3; ++round) {
    unsigned long long mem_a[7] = {0}, mem_b[7] = {0};
    double load_a[3], load_b[3];
    struct statvfs va[3], vb[3];
    const char* p[3] = {"/", "/proc", have_shm ? "/dev/shm" : NULL};
    for (int i = 0; i < 7; ++i) {
      char key[32];
      snprintf(key, sizeof key, "%s:", k_mem[i]);
      CHECK(ct_read_key("/proc/meminfo", key, &mem_a[i]));
    }
    CHECK(read_loadavg(load_a));
    for (int i = 0; i < 3; ++i)
      if (p[i]) CHECK(statvfs(p[i], &va[i]) == 0);
    int pids_a = count_pids();
    st_sleep_ms(400);
    char* body = SCRAPE("127.0.0.1", port);
    for (int i = 0; i < 7; ++i) {
      char key[32];
      snprintf(key, sizeof key, "%s:", k_mem[i]);
      CHECK(ct_read_key("/proc/meminfo", key, &mem_b[i]));
    }
    CHECK(read_loadavg(load_b));
    for (int i = 0; i < 3; ++i)
      if (p[i]) CHECK(statvfs(p[i], &vb[i]) == 0);
    int pids_b = count_pids();
    if (!body) return;

    for (int i = 0; i < 7; ++i) {
      char name[64];
      double v = NAN;
      snprintf(name, sizeof name, "node_memory_%s_bytes", k_mem[i]);
      CHECKF(st_sample(body, name, &v), "expected %s", name);
      double lo = (double)(mem_a[i] < mem_b[i] ? mem_a[i] : mem_b[i]) * 1024,
             hi = (double)(mem_a[i] > mem_b[i] ? mem_a[i] : mem_b[i]) * 1024;
      if (strcmp(k_mem[i], "MemTotal") == 0 || strcmp(k_mem[i], "SwapTotal") == 0) {
        CHECKF(v == lo && v == hi, "%s: expected exactly %s x 1024 = %.0f, got %.0f", name, k_mem[i], lo, v);
      } else {
        /* the machine allocates meanwhile: 5% or 32 MiB of slack */
        double slack = hi * 0.05 > 32.0 * 1048576 ? hi * 0.05 : 32.0 * 1048576;
        CHECKF(v >= lo - slack && v <= hi + slack, "%s %.0f far from the test's readings %.0f..%.0f", name, v, lo, hi);
      }
      if (round == 0) {
        char type[96];
        snprintf(type, sizeof type, "# TYPE %s gauge", name);
        CHECKF(st_has_line_prefix(body, type), "expected '%s'", type);
      }
    }
    static const char* const loads[3] = {"node_load1", "node_load5", "node_load15"};
    for (int i = 0; i < 3; ++i) {
      double v = NAN;
      CHECKF(st_sample(body, loads[i], &v), "expected %s", loads[i]);
      /* the kernel updates it every 5 s: it is one of the two readings */
      CHECKF(fabs(v - load_a[i]) < 1e-9 || fabs(v - load_b[i]) < 1e-9, "%s %g: expected %g or %g", loads[i], v,
             load_a[i], load_b[i]);
    }
    double running = NAN, blocked = NAN, pids = NAN;
    CHECK(st_sample(body, "node_procs_running", &running) && running >= 1);
    CHECK(st_sample(body, "node_procs_blocked", &blocked) && blocked >= 0);
    CHECK(st_sample(body, "node_processes_pids", &pids));
    int plo = pids_a < pids_b ? pids_a : pids_b, phi = pids_a > pids_b ? pids_a : pids_b;
    CHECKF(pids >= plo * 0.8 - 5 && pids <= phi * 1.2 + 5, "node_processes_pids %.0f far from the test's count %d..%d",
           pids, plo, phi);

    for (int i = 0; i < 3; ++i) {
      if (!p[i]) continue;
      mount_t m;
      char series[1024];
      double size = NAN, avail = NAN, free_ = NAN;
      CHECKF(mount_of("/proc/self/mountinfo", p[i], &m), "no mount for %s", p[i]);
      fs_series(series, sizeof series, "node_filesystem_size_bytes", &m);
      CHECKF(st_sample(body, series, &size), "expected the sample %s (disk path %s)", series, p[i]);
      fs_series(series, sizeof series, "node_filesystem_free_bytes", &m);
      CHECKF(st_sample(body, series, &free_), "expected the sample %s", series);
      fs_series(series, sizeof series, "node_filesystem_avail_bytes", &m);
      CHECKF(st_sample(body, series, &avail), "expected the sample %s", series);
      double unit = (double)(va[i].f_frsize ? va[i].f_frsize : va[i].f_bsize);
      CHECKF(size == (double)va[i].f_blocks * unit, "%s: size %.0f, expected f_blocks x f_frsize = %.0f", p[i], size,
             (double)va[i].f_blocks * unit);
      double fa = (double)va[i].f_bfree * unit, fb = (double)vb[i].f_bfree * unit;
      double aa = (double)va[i].f_bavail * unit, ab = (double)vb[i].f_bavail * unit;
      double slack = 64.0 * 1048576;
      CHECKF(free_ >= (fa < fb ? fa : fb) - slack && free_ <= (fa > fb ? fa : fb) + slack,
             "%s: free %.0f far from statvfs's %.0f..%.0f", p[i], free_, fa, fb);
      CHECKF(avail >= (aa < ab ? aa : ab) - slack && avail <= (aa > ab ? aa : ab) + slack,
             "%s: avail %.0f far from statvfs's %.0f..%.0f", p[i], avail, aa, ab);
      if (round == 0) printf("disk path %s: %s size %.0f free %.0f avail %.0f\n", p[i], series, size, free_, avail);
    }
    free(body);
  }
  /* one series per mount, even for two paths on one filesystem */
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    int n = 0;
    for (const char* q = body; (q = strstr(q, "\nnode_filesystem_size_bytes{")) != NULL; ++q) ++n;
    CHECKF(n == (have_shm ? 3 : 2), "expected %d node_filesystem_size_bytes series, got %d", have_shm ? 3 : 2, n);
    CHECK(st_has_line_prefix(body, "# TYPE node_filesystem_avail_bytes gauge"));
    CHECK(st_sample(body, "nv_collector_success{collector=\"host\"}", NULL));
    double ok = NAN;
    CHECKF(st_sample(body, "nv_collector_success{collector=\"filesystem\"}", &ok) && ok == 1,
           "expected nv_collector_success{collector=\"filesystem\"} 1, got %g", ok);
    free(body);
  }
  STOP_SERVER(s);
}

/* ------------------------------------------------------------------ the window rule */

static void case_first(void)
{
  uint16_t port;
  INFERMETRICS_Server* s = ct_start(host_options(1000, NULL), &port);
  if (!s) return;
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    double u = NAN;
    CHECKF(st_sample(body, "nv_cpu_utilization", &u) && u == 0,
           "right after start: expected nv_cpu_utilization 0 (no window yet), got %g", u);
    CHECKF(!st_has_sample_containing(body, "nv_cpu_core_utilization"),
           "right after start: expected no nv_cpu_core_utilization (no window yet)");
    free(body);
  }
  /* one interval (1 s) later; a crowded machine may run the collection late: up to 4 s */
  st_sleep_ms(1000);
  long long t0 = hc_now_ms();
  for (;;) {
    body = SCRAPE("127.0.0.1", port);
    if (!body || st_has_sample_containing(body, "nv_cpu_core_utilization{") || hc_now_ms() - t0 > 3000) break;
    free(body);
    st_sleep_ms(50);
  }
  if (body) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* every online CPU, by its /proc/stat number */
    FILE* f = fopen("/proc/stat", "r");
    char line[512];
    int seen = 0;
    while (f && fgets(line, sizeof line, f)) {
      int n;
      if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9' || sscanf(line + 3, "%d", &n) != 1) continue;
      char series[64];
      double v = NAN;
      snprintf(series, sizeof series, "nv_cpu_core_utilization{cpu=\"%d\"}", n);
      CHECKF(st_sample(body, series, &v) && v >= 0 && v <= 1, "expected %s in [0, 1], got %g", series, v);
      ++seen;
    }
    if (f) fclose(f);
    CHECKF(seen == ncpu, "expected %ld online CPUs in /proc/stat, saw %d", ncpu, seen);
    double u = NAN;
    CHECKF(st_sample(body, "nv_cpu_utilization", &u) && u >= 0 && u <= 1, "nv_cpu_utilization %g", u);
    printf("after one interval: nv_cpu_utilization %g, %d per-core series\n", u, seen);
    free(body);
  }
  STOP_SERVER(s);
}

/* ------------------------------------------------------------------ switches */

static int has_host(uint16_t port)
{
  char* body = SCRAPE("127.0.0.1", port);
  int has = body && ct_has_family_prefix(body, "node_");
  free(body);
  return has;
}

static void case_off(void)
{
  uint16_t port;
  INFERMETRICS_Server* s = ct_start(ct_options(100), &port);
  if (s) {
    CHECKF(!has_host(port), "host metrics are off by default: expected no node_* family");
    char* body = SCRAPE("127.0.0.1", port);
    CHECKF(body && !ct_has_family_prefix(body, "nv_cpu_core_"), "host off: expected no nv_cpu_core_utilization");
    free(body);
    STOP_SERVER(s);
  }
  setenv("INFERMETRICS_HOST_METRICS", "1", 1);
  INFERMETRICS_ServerOptions* o = ct_options(100);
  unsetenv("INFERMETRICS_HOST_METRICS");
  OK(INFERMETRICS_ServerOptionsSetHostMetrics(o, false)); /* the environment wins */
  s = ct_start(o, &port);
  if (s) {
    CHECKF(has_host(port), "INFERMETRICS_HOST_METRICS=1: expected node_* series");
    CHECKF(ct_log_count("INFERMETRICS_HOST_METRICS=1") == 1, "expected one log line naming INFERMETRICS_HOST_METRICS");
    STOP_SERVER(s);
  }
}

static void case_env(void)
{
  uint16_t port;
  if (access("/dev/shm", F_OK) != 0) {
    printf("SKIP: no /dev/shm\n");
    exit(77);
  }
  setenv("INFERMETRICS_COLLECTORS", "host,-process", 1);
  setenv("INFERMETRICS_DISK_PATHS", "/dev/shm", 1);
  INFERMETRICS_ServerOptions* o = ct_options(100);
  unsetenv("INFERMETRICS_COLLECTORS");
  unsetenv("INFERMETRICS_DISK_PATHS");
  OK(INFERMETRICS_ServerOptionsSetDiskPaths(o, "/")); /* the environment wins */
  ERR_MSG(INFERMETRICS_ServerOptionsSetDiskPaths(o, "relative/path"), INFERMETRICS_ERROR_INVALID_ARG, "not absolute");
  ERR(INFERMETRICS_ServerOptionsSetDiskPaths(o, " , "), INFERMETRICS_ERROR_INVALID_ARG);
  NULL_ARG(INFERMETRICS_ServerOptionsSetDiskPaths(o, NULL), "paths");
  NULL_ARG(INFERMETRICS_ServerOptionsSetHostMetrics(NULL, true), "options");
  INFERMETRICS_Server* s = ct_start(o, &port);
  if (!s) return;
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    mount_t m;
    char series[1024];
    CHECK(mount_of("/proc/self/mountinfo", "/dev/shm", &m));
    fs_series(series, sizeof series, "node_filesystem_size_bytes", &m);
    CHECKF(st_sample(body, series, NULL), "INFERMETRICS_DISK_PATHS=/dev/shm: expected %s", series);
    int n = 0;
    for (const char* q = body; (q = strstr(q, "\nnode_filesystem_size_bytes{")) != NULL; ++q) ++n;
    CHECKF(n == 1, "INFERMETRICS_DISK_PATHS=/dev/shm: expected one filesystem, got %d", n);
    CHECKF(ct_has_family_prefix(body, "node_load1"), "INFERMETRICS_COLLECTORS=host: expected node_load1");
    CHECKF(!ct_has_family_prefix(body, "process_"), "INFERMETRICS_COLLECTORS=-process: expected no process_*");
    free(body);
  }
  CHECKF(ct_log_count("INFERMETRICS_DISK_PATHS=/dev/shm") == 1, "expected one log line naming INFERMETRICS_DISK_PATHS");
  STOP_SERVER(s);

  INFERMETRICS_ServerOptions* bad = NULL;
  setenv("INFERMETRICS_DISK_PATHS", "/ok,not/absolute", 1);
  ERR_MSG(INFERMETRICS_ServerOptionsNew(&bad), INFERMETRICS_ERROR_INVALID_ARG, "INFERMETRICS_DISK_PATHS");
  unsetenv("INFERMETRICS_DISK_PATHS");
  setenv("INFERMETRICS_HOST_METRICS", "2", 1);
  ERR_MSG(INFERMETRICS_ServerOptionsNew(&bad), INFERMETRICS_ERROR_INVALID_ARG, "INFERMETRICS_HOST_METRICS='2'");
  unsetenv("INFERMETRICS_HOST_METRICS");
  CHECK(bad == NULL);
}

/* ------------------------------------------------------------------ overlay (mount table seam) */

static void case_overlay(void)
{
  char* root = ct_tmpdir("mounts");
  if (!root) return;
  /* "/" is an overlay (a container's root); the real statvfs of "/" gives the numbers */
  ct_write(root, "proc/self/mountinfo",
           "600 500 0:51 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
           "601 600 0:52 / /proc rw,nosuid - proc proc rw\n");
  char proc[PATH_MAX];
  snprintf(proc, sizeof proc, "%s/proc", root);
  setenv("INFERMETRICS_PROC_ROOT", proc, 1);
  uint16_t port;
  INFERMETRICS_Server* s = ct_start(host_options(100, "/,/proc"), &port);
  unsetenv("INFERMETRICS_PROC_ROOT");
  if (s) {
    char* body = SCRAPE("127.0.0.1", port);
    struct statvfs v;
    CHECK(statvfs("/", &v) == 0);
    double size = NAN;
    const char* want = "node_filesystem_size_bytes{device=\"overlay\",fstype=\"overlay\",mountpoint=\"/\"}";
    CHECKF(body && st_sample(body, want, &size), "expected %s in:\n%s", want, body ? body : "");
    CHECKF(size == (double)v.f_blocks * (double)(v.f_frsize ? v.f_frsize : v.f_bsize), "overlay size %.0f", size);
    CHECKF(body && st_sample(body, "node_filesystem_size_bytes{device=\"proc\",fstype=\"proc\",mountpoint=\"/proc\"}", NULL),
           "expected the proc filesystem reported too");
    free(body);
    STOP_SERVER(s);
  }
  ct_rmtree(root);
  free(root);
}

/* ------------------------------------------------------------------ a hung statfs */

static char g_stall_dir[PATH_MAX];
static int g_fuse_fd = -1;

/* A FUSE mount whose "daemon" (this process, holding /dev/fuse) never answers: every statfs
   on it blocks until the fd is closed. Made in a private mount namespace, so no other process
   on the machine can trip over it. 0 when this machine does not allow it. */
static int make_stalled_mount(void)
{
  if (unshare(CLONE_NEWNS) != 0) {
    printf("SKIP: unshare(CLONE_NEWNS): %s\n", strerror(errno));
    return 0;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    printf("SKIP: cannot make mounts private: %s\n", strerror(errno));
    return 0;
  }
  g_fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (g_fuse_fd < 0) {
    printf("SKIP: /dev/fuse: %s\n", strerror(errno));
    return 0;
  }
  char* d = ct_tmpdir("stall");
  if (!d) return 0;
  snprintf(g_stall_dir, sizeof g_stall_dir, "%s", d);
  free(d);
  char opts[128];
  snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", g_fuse_fd);
  if (mount("infermetrics-stall", g_stall_dir, "fuse.infermetrics-stall", MS_NOSUID | MS_NODEV, opts) != 0) {
    printf("SKIP: cannot mount FUSE on %s: %s\n", g_stall_dir, strerror(errno));
    rmdir(g_stall_dir);
    return 0;
  }
  return 1;
}

static atomic_int g_probe_done;
static void* probe(void* arg)
{
  struct statvfs v;
  (void)arg;
  statvfs(g_stall_dir, &v);
  atomic_store(&g_probe_done, 1);
  return NULL;
}

static void case_hang(void)
{
  if (!make_stalled_mount()) exit(77);
  /* the trick works here: a statvfs of our own does not return */
  pthread_t th;
  pthread_create(&th, NULL, probe, NULL);
  st_sleep_ms(200);
  if (atomic_load(&g_probe_done)) {
    printf("SKIP: statvfs on the FUSE mount returned at once; no hang to test\n");
    close(g_fuse_fd);
    pthread_join(th, NULL);
    umount2(g_stall_dir, MNT_DETACH);
    exit(77);
  }
  printf("statvfs(%s) hangs, as intended\n", g_stall_dir);

  char paths[PATH_MAX + 8];
  snprintf(paths, sizeof paths, "%s,/", g_stall_dir);
  uint16_t port;
  long long t0 = hc_now_ms();
  INFERMETRICS_Server* s = ct_start(host_options(100, paths), &port);
  long long started = hc_now_ms() - t0;
  printf("ServerNew with a hung disk path took %lld ms\n", started);
  CHECKF(started < 1000, "ServerNew took %lld ms with a hung disk path", started);
  if (s) {
    mount_t root;
    char root_series[1024];
    CHECK(mount_of("/proc/self/mountinfo", "/", &root));
    fs_series(root_series, sizeof root_series, "node_filesystem_avail_bytes", &root);
    long long worst = 0;
    for (int i = 0; i < 10; ++i) {
      long long a = hc_now_ms();
      char* body = SCRAPE("127.0.0.1", port);
      long long took = hc_now_ms() - a;
      if (took > worst) worst = took;
      if (!body) break;
      if (i >= 2) {
        CHECKF(st_sample(body, root_series, NULL), "round %d: expected %s beside the hung path", i, root_series);
        CHECKF(!st_has_sample_containing(body, g_stall_dir), "round %d: expected no series for the hung path", i);
        CHECKF(st_sample(body, "node_load1", NULL) && st_sample(body, "process_threads", NULL) &&
                   st_sample(body, "nv_cpu_utilization", NULL),
               "round %d: expected the other collectors' series", i);
        double fs_ok = NAN, host_ok = NAN;
        CHECKF(st_sample(body, "nv_collector_success{collector=\"filesystem\"}", &fs_ok) && fs_ok == 0,
               "round %d: expected nv_collector_success{collector=\"filesystem\"} 0, got %g", i, fs_ok);
        CHECKF(st_sample(body, "nv_collector_success{collector=\"host\"}", &host_ok) && host_ok == 1,
               "round %d: expected nv_collector_success{collector=\"host\"} 1, got %g", i, host_ok);
      }
      free(body);
      st_sleep_ms(100);
    }
    printf("slowest of 10 scrapes: %lld ms\n", worst);
    CHECKF(worst < 500, "a scrape took %lld ms while a disk path hung", worst);
    CHECKF(ct_log_count("statfs has not returned") == 1, "expected the hang logged once, got %d",
           ct_log_count("statfs has not returned"));
    t0 = hc_now_ms();
    STOP_SERVER(s);
    long long stopped = hc_now_ms() - t0;
    printf("ServerDelete with a hung statfs helper took %lld ms\n", stopped);
    CHECKF(stopped < 1000, "ServerDelete took %lld ms with a hung statfs helper", stopped);
  }
  /* end the stall: the kernel fails the pending calls, the hung helpers return and exit */
  close(g_fuse_fd);
  pthread_join(th, NULL);
  st_sleep_ms(50);
  umount2(g_stall_dir, MNT_DETACH);
  rmdir(g_stall_dir);
}

int main(int argc, char** argv)
{
  const char* c = argc > 1 ? argv[1] : "values";
  INFERMETRICS_SetLogCallback(ct_log, NULL);
  if (strcmp(c, "values") == 0) case_values();
  else if (strcmp(c, "first") == 0) case_first();
  else if (strcmp(c, "off") == 0) case_off();
  else if (strcmp(c, "env") == 0) case_env();
  else if (strcmp(c, "overlay") == 0) case_overlay();
  else if (strcmp(c, "hang") == 0) case_hang();
  else {
    fprintf(stderr, "unknown case '%s'\n", c);
    return 2;
  }
  if (st_failures) ct_log_print();
  return TEST_SUMMARY();
}

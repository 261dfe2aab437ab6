/*
 * bench_gpu: what the GPU collector costs with 8 (fake) GPUs and every group on, and proof that a
 * scrape makes no NVML call.
 *
 *   bench_gpu FAKE_NVML_LIBRARY
 *
 * The fake NVML (tests/fake_nvml, built by benches/run.sh) runs in its fast mode
 * (FAKE_NVML_FAST=1: configuration read once, calls counted in memory); this program reads its
 * counts with fakeNvmlCallCount through dlopen of the same path. Every GPU has fans, processes
 * (this one beside another PID), throttle bits, violation counters, ECC, row remapping, growing
 * PCIe counters, replays, codecs; GPUs 6 and 7 are in MIG mode with two instances each and GPM.
 *
 * Phase 1: a server with only the GPU collector, interval BENCH_GPU_INTERVAL_MS (100) for
 *   BENCH_COLLECT_S (10) seconds. Per tick: NVML calls (fast and energy threads), the CPU time of
 *   each GPU thread (its per-thread CPU clock, ns), and that CPU projected onto the default 2 s
 *   interval as a share of one core. The fake's own cost per call is measured separately and
 *   reported, so the collector's share can be told apart.
 * Phase 2: a server with a one-hour interval; after its first collection, BENCH_GPU_SCRAPES (1000)
 *   scrapes; the NVML calls made meanwhile (the XID thread's waits aside) must be 0.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "infermetrics.h"
#define BENCH_NAME "bench_gpu"
#include "bench_util.h"

#define NGPU 8
#define MAX_TIDS 256

typedef unsigned long long (*count_fn)(const char*);
static count_fn g_calls;

/* CPU time of a thread of this process (its per-thread CPU clock, as pthread_getcpuclockid). */
static double tid_cpu_s(int tid) {
  clockid_t c = (clockid_t)((~(unsigned)tid << 3) | 6); /* CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED */
  struct timespec ts;
  if (clock_gettime(c, &ts) != 0) return 0.0;
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int list_tids(int* tids, int max) {
  DIR* d = opendir("/proc/self/task");
  int n = 0;
  if (d == NULL) return 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL && n < max) {
    if (e->d_name[0] != '.') tids[n++] = atoi(e->d_name);
  }
  closedir(d);
  return n;
}

static void thread_name(int tid, char* out, size_t n) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
  FILE* f = fopen(path, "r");
  snprintf(out, n, "?");
  if (f == NULL) return;
  if (fgets(out, (int)n, f) == NULL) snprintf(out, n, "?");
  out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

static void write_config(const char* path) {
  FILE* f = fopen(path, "w");
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  fprintf(f, "count = %d\n", NGPU);
  for (int i = 0; i < NGPU; i++) {
    fprintf(f,
            "gpu%d.fans = 2\ngpu%d.procs = self:1073741824, 4242:2147483648\ngpu%d.gprocs = self:536870912\n"
            "gpu%d.reasons = 0x44\ngpu%d.violation.power = 2500000000\ngpu%d.ecc_corrected = 3\n"
            "gpu%d.remap_cor = 2\ngpu%d.pcie_step = 4096\ngpu%d.pcie_replays = 1\ngpu%d.enc_util = 12\n"
            "gpu%d.dec_util = 7\n",
            i, i, i, i, i, i, i, i, i, i, i);
    if (i >= 6)
      fprintf(f, "gpu%d.mig = 1\ngpu%d.mig_count = 2\ngpu%d.gpm = 1\ngpu%d.util.error = not_supported\n", i, i, i, i);
  }
  fclose(f);
}

static INFERMETRICS_Server* start(uint64_t interval_ms, uint16_t* port) {
  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* s = NULL;
  CHECK(INFERMETRICS_ServerOptionsNew(&o));
  CHECK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  CHECK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  CHECK(INFERMETRICS_ServerOptionsSetMetricsInterval(o, interval_ms));
  const char* off[] = {"pinned", "cpu", "process", "container", "host"};
  for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) CHECK(INFERMETRICS_ServerOptionsSetCollector(o, off[i], 0));
  CHECK(INFERMETRICS_ServerOptionsSetCollector(o, "gpu", 1));
  CHECK(INFERMETRICS_ServerNew(&s, o));
  CHECK(INFERMETRICS_ServerOptionsDelete(o));
  CHECK(INFERMETRICS_ServerPort(s, port));
  return s;
}

/* Waits until the collectors have read every GPU (the fake answered the energy and the
 * temperature of each since `en0` / `temp0`) and, with `gpm`, a GPM metrics call (which needs two
 * ticks); then returns the size of a scrape. */
static size_t wait_full(uint16_t port, bool gpm, unsigned long long en0, unsigned long long temp0) {
  unsigned long long gpm0 = g_calls("nvmlGpmMetricsGet");
  for (int i = 0; i < 500; i++) {
    if ((!gpm || g_calls("nvmlGpmMetricsGet") > gpm0) && g_calls("nvmlDeviceGetTotalEnergyConsumption") >= en0 + NGPU &&
        g_calls("nvmlDeviceGetTemperature") >= temp0 + NGPU)
      break;
    usleep(10 * 1000);
  }
  usleep(50 * 1000);
  bench_http_conn c;
  size_t len = 0;
  if (bench_http_open(&c, port) == 0 && bench_http_get(&c, "/metrics") == 200) len = c.last_body_len;
  bench_http_close(&c);
  return len;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FAKE_NVML_LIBRARY\n", argv[0]);
    return 2;
  }
  const char* lib = argv[1];
  uint64_t interval_ms = bench_env_u64("BENCH_GPU_INTERVAL_MS", 100);
  uint64_t seconds = bench_env_u64("BENCH_COLLECT_S", 10);
  uint64_t scrapes = bench_env_u64("BENCH_GPU_SCRAPES", 1000);
  char conf[256];
  snprintf(conf, sizeof conf, "/tmp/bench_gpu-%d.conf", (int)getpid());
  write_config(conf);
  setenv("FAKE_NVML_CONFIG", conf, 1);
  setenv("FAKE_NVML_FAST", "1", 1);
  unsetenv("FAKE_NVML_STATS");
  setenv("INFERMETRICS_NVML_LIBRARY", lib, 1);
  setenv("INFERMETRICS_GPU_VENDORS", "none,nvidia", 1);
  bench_print_machine(stdout, "bench_gpu", "gcc");

  /* -------- phase 1: collection cost */
  int before[MAX_TIDS], after[MAX_TIDS];
  int nb = list_tids(before, MAX_TIDS);
  uint16_t port = 0;
  INFERMETRICS_Server* s = start(interval_ms, &port);
  void* h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
  if (h == NULL || (*(void**)&g_calls = dlsym(h, "fakeNvmlCallCount")) == NULL) {
    fprintf(stderr, "bench_gpu: %s is not loaded or is not the fake NVML\n", lib);
    return 2;
  }
  size_t body = wait_full(port, true, 0, 0); /* the XID thread exists from the first tick on */
  int na = list_tids(after, MAX_TIDS), tids[MAX_TIDS], nt = 0;
  for (int i = 0; i < na; i++) {
    bool old = false;
    for (int j = 0; j < nb; j++) old |= before[j] == after[i];
    char name[64];
    thread_name(after[i], name, sizeof name);
    /* thread names are cut to 15 bytes: "infermetrics-gp" is the gpu and gpu-energy collectors,
       "infermetrics-xi" the XID thread */
    if (!old && (!strcmp(name, "infermetrics-gp") || !strcmp(name, "infermetrics-xi"))) tids[nt++] = after[i];
  }
  double cpu0[MAX_TIDS];
  for (int i = 0; i < nt; i++) cpu0[i] = tid_cpu_s(tids[i]);
  unsigned long long all0 = g_calls("-nvmlEventSetWait_v2"), wait0 = g_calls("nvmlEventSetWait_v2");
  unsigned long long temp0 = g_calls("nvmlDeviceGetTemperature"), en0 = g_calls("nvmlDeviceGetTotalEnergyConsumption");
  double t0 = bench_now_s();
  usleep((useconds_t)(seconds * 1000000));
  double wall = bench_now_s() - t0;
  unsigned long long all1 = g_calls("-nvmlEventSetWait_v2"), wait1 = g_calls("nvmlEventSetWait_v2");
  unsigned long long temp1 = g_calls("nvmlDeviceGetTemperature"), en1 = g_calls("nvmlDeviceGetTotalEnergyConsumption");
  double ticks = (double)(temp1 - temp0) / NGPU, eticks = (double)(en1 - en0) / NGPU;
  double coll_ms = 0, xid_ms = 0;
  printf("\n8 fake GPUs, every group on, interval %llu ms, %.1f s: %.0f fast ticks, %.0f energy ticks, %zu-byte "
         "scrape\n",
         (unsigned long long)interval_ms, wall, ticks, eticks, body);
  printf("%-34s %12s %14s\n", "thread", "CPU ms", "per tick (ms)");
  for (int i = 0; i < nt; i++) {
    char name[64];
    thread_name(tids[i], name, sizeof name);
    double ms = (tid_cpu_s(tids[i]) - cpu0[i]) * 1e3;
    bool xid = !strcmp(name, "infermetrics-xi");
    if (xid) {
      xid_ms += ms;
    } else {
      coll_ms += ms;
    }
    if (xid) {
      printf("%-34s %12.2f %14s\n", "infermetrics-xid (event waits)", ms, "-");
    } else {
      printf("%-34s %12.2f %14.4f\n", "infermetrics-gpu or gpu-energy", ms, ms / ticks);
    }
  }
  CHECK(INFERMETRICS_ServerDelete(s));

  /* the fake's own cost per call, to tell the collector's share apart */
  typedef int (*handle_fn)(unsigned, void**);
  typedef int (*temp_fn)(void*, int, unsigned*);
  handle_fn handle;
  temp_fn temp;
  *(void**)&handle = dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
  *(void**)&temp = dlsym(h, "nvmlDeviceGetTemperature");
  void* dev = NULL;
  double fake_ns = 0;
  if (handle && temp && handle(0, &dev) == 0) {
    unsigned t;
    double c0 = bench_now_s();
    for (int i = 0; i < 200000; i++) temp(dev, 0, &t);
    fake_ns = (bench_now_s() - c0) * 1e9 / 200000;
  }

  double calls_tick = (double)(all1 - all0) / ticks; /* fast + energy threads, per interval */
  double per_interval_ms = coll_ms / (ticks < eticks ? ticks : eticks);
  double xid_ms_per_s = xid_ms / wall;
  double pct_2s = (per_interval_ms / 2000.0 + xid_ms_per_s / 1000.0) * 100.0;
  double fake_ms_interval = calls_tick * fake_ns * 1e-6;
  printf("\n%-58s %12.1f\n", "NVML calls per interval (fast + energy threads)", calls_tick);
  printf("%-58s %12.1f\n", "  per GPU", calls_tick / NGPU);
  printf("%-58s %12.1f\n", "XID thread event waits per second", (double)(wait1 - wait0) / wall);
  printf("%-58s %12.4f\n", "collector CPU ms per interval (fast + energy)", per_interval_ms);
  printf("%-58s %12.4f\n", "  of which the fake NVML (calls x its ns/call)", fake_ms_interval);
  printf("%-58s %12.1f\n", "  fake NVML ns per call (measured alone)", fake_ns);
  printf("%-58s %12.4f\n", "XID thread CPU ms per second", xid_ms_per_s);
  printf("%-58s %12.4f\n", "share of one core at the 2 s interval, % (target < 0.1)", pct_2s);
  printf("RESULT\tinfermetrics\tgpu_calls_per_interval\t%.1f\n", calls_tick);
  printf("RESULT\tinfermetrics\tgpu_cpu_ms_per_interval\t%.4f\n", per_interval_ms);
  printf("RESULT\tinfermetrics\tgpu_fake_ms_per_interval\t%.4f\n", fake_ms_interval);
  printf("RESULT\tinfermetrics\tgpu_xid_cpu_ms_per_s\t%.4f\n", xid_ms_per_s);
  printf("RESULT\tinfermetrics\tgpu_cpu_pct_at_2s\t%.4f\n", pct_2s);

  /* -------- phase 2: scrapes make no NVML call */
  unsigned long long en_before = g_calls("nvmlDeviceGetTotalEnergyConsumption");
  unsigned long long temp_before = g_calls("nvmlDeviceGetTemperature");
  s = start(3600 * 1000, &port);
  wait_full(port, false, en_before, temp_before);
  usleep(200 * 1000); /* both collectors are done with their first run */
  unsigned long long c0 = g_calls("-nvmlEventSetWait_v2");
  bench_http_conn c;
  uint64_t ok = 0;
  if (bench_http_open(&c, port) == 0) {
    for (uint64_t i = 0; i < scrapes; i++) ok += bench_http_get(&c, "/metrics") == 200;
    bench_http_close(&c);
  }
  unsigned long long c1 = g_calls("-nvmlEventSetWait_v2");
  CHECK(INFERMETRICS_ServerDelete(s));
  printf("\n%-58s %12llu\n", "scrapes (one keep-alive connection)", (unsigned long long)ok);
  printf("%-58s %12llu\n", "NVML calls during them (XID waits aside; must be 0)", c1 - c0);
  printf("RESULT\tinfermetrics\tgpu_nvml_calls_per_1000_scrapes\t%.1f\n", ok ? (double)(c1 - c0) * 1000.0 / ok : -1);
  unlink(conf);
  return (c1 - c0) == 0 && ok == scrapes ? 0 : 1;
}

/*
 * soak (issue 7): a metrics server under steady load and hostile clients for a long time; its
 * memory, threads and descriptors must stay flat and normal scrapes must keep working.
 *
 *   soak --seconds N [--csv PATH] [--conn-cap 256] [--idle K]
 *
 * This process is the server process. It forks, before touching the library, one client
 * process that waits for the port and then runs the hostile clients until the deadline:
 *   - K idle connections (default conn-cap + 32: more than the server may hold), reopened
 *     (at most 100 per second) when the server closes one;
 *   - 4 header drips (a request head one byte every 100 ms, never finished);
 *   - 2 body drips (POST with Content-Length 1000000, one body byte every 100 ms);
 *   - 1 thread sending random garbage (512 B to 16 KB) and reading whatever comes back;
 *   - 1 thread sending GET /metrics and resetting the connection after the first bytes.
 * Meanwhile, in this process: a server on 127.0.0.1 port 0 (collectors every 250 ms), two
 * threads recording into 1,000 counter and 100 histogram series, one thread churning series
 * (create, record, delete; a MetricsFormatted every 50 cycles) and a scrape loop (a normal
 * GET /metrics every 100 ms on a fresh connection, 5 s timeout).
 *
 * Every 10 s it samples its own VmRSS (/proc/self/status), thread count (/proc/self/task) and
 * open descriptors (/proc/self/fd) into the CSV (t_s,phase,rss_kb,threads,fds,scrapes_ok,
 * scrapes_failed); thread and descriptor peaks are also watched every second. Phases:
 * "baseline" (server, recorders and churn running, no client yet), "load", "final" (clients
 * gone, the server drained: threads back to the baseline, at most 30 s of waiting).
 *
 * It fails (exit 1) if:
 *   - RSS at the end of the load grew more than 10 % + 4 MB over RSS at the end of the first
 *     minute (the first load sample when the run is shorter than 70 s);
 *   - the thread count in the final phase differs from the baseline (a thread leak), or the
 *     descriptor count does;
 *   - descriptors ever exceeded conn-cap + 16;
 *   - fewer than 99 % of the normal scrapes succeeded;
 *   - a recorded total does not match what the threads recorded, or a library call failed.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "infermetrics.h"

/* ---------------------------------------------------------------- options */

static long g_seconds = 1800;
static const char* g_csv = "target/soak/samples.csv";
static int g_conn_cap = 256;
static int g_idle = -1; /* default conn-cap + 32 */

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void raise_nofile(rlim_t want)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
  rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/* ================================================================ the hostile client process */

static long long g_deadline_ms; /* the clients stop at this hc_now_ms() */
static uint16_t g_port;
static atomic_llong h_idle_opened, h_idle_closed_by_server, h_connect_failed;
static atomic_llong h_hdr_conns, h_hdr_closed, h_body_conns, h_body_closed;
static atomic_llong h_garbage, h_garbage_answered, h_midresp, h_midresp_got_bytes;

static int raw_connect(void)
{
  hc_conn c;
  if (hc_connect(&c, "127.0.0.1", g_port, 2000) != HC_OK) {
    atomic_fetch_add(&h_connect_failed, 1);
    return -1;
  }
  int fd = c.fd; /* keep the socket, drop the buffer (none yet) */
  c.fd = -1;
  hc_close(&c);
  return fd;
}

static int send_str(int fd, const char* s, size_t n)
{
  return hc_send_all(fd, s, n, hc_now_ms() + 2000) == HC_OK;
}

/* 1 if the peer closed the connection or sent something (we read and drop it). */
static int peer_spoke(int fd)
{
  char buf[4096];
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return 0;
  ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return 1;
  return r > 0 ? 2 : 0;
}

static void* idle_clients(void* arg)
{
  (void)arg;
  int n = g_idle;
  int* fds = (int*)malloc(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; ++i) fds[i] = -1;
  while (hc_now_ms() < g_deadline_ms) {
    int opened = 0;
    for (int i = 0; i < n; ++i) {
      if (fds[i] >= 0 && peer_spoke(fds[i])) {
        close(fds[i]);
        fds[i] = -1;
        atomic_fetch_add(&h_idle_closed_by_server, 1);
      }
      if (fds[i] < 0 && opened < 10) { /* at most 10 per tick: 100 per second */
        fds[i] = raw_connect();
        if (fds[i] >= 0) {
          ++opened;
          atomic_fetch_add(&h_idle_opened, 1);
        }
      }
    }
    sleep_ms(100);
  }
  for (int i = 0; i < n; ++i)
    if (fds[i] >= 0) close(fds[i]);
  free(fds);
  return NULL;
}

/* A request that never ends: `head` then one byte of `drip` every 100 ms until the server ends it. */
static void drip(const char* head, char byte, atomic_llong* conns, atomic_llong* closed)
{
  while (hc_now_ms() < g_deadline_ms) {
    int fd = raw_connect();
    if (fd < 0) {
      sleep_ms(100);
      continue;
    }
    atomic_fetch_add(conns, 1);
    int ok = send_str(fd, head, strlen(head));
    while (ok && hc_now_ms() < g_deadline_ms) {
      if (peer_spoke(fd)) {
        atomic_fetch_add(closed, 1);
        break;
      }
      if (send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1 && errno != EAGAIN) {
        atomic_fetch_add(closed, 1);
        break;
      }
      sleep_ms(100);
    }
    close(fd);
  }
}

static void* header_drip(void* arg)
{
  (void)arg;
  drip("GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Drip: ", 'a', &h_hdr_conns, &h_hdr_closed);
  return NULL;
}

static void* body_drip(void* arg)
{
  (void)arg;
  drip("POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n", 'b', &h_body_conns,
       &h_body_closed);
  return NULL;
}

static void* garbage(void* arg)
{
  unsigned seed = (unsigned)(uintptr_t)arg ^ (unsigned)getpid();
  char* buf = (char*)malloc(16384);
  while (hc_now_ms() < g_deadline_ms) {
    int fd = raw_connect();
    if (fd < 0) {
      sleep_ms(50);
      continue;
    }
    size_t n = 512 + (size_t)(rand_r(&seed) % (16384 - 512));
    for (size_t i = 0; i < n; ++i) {
      int r = rand_r(&seed) % 10;
      buf[i] = r == 0 ? '\r' : r == 1 ? '\n' : (char)(rand_r(&seed) & 0xff);
    }
    atomic_fetch_add(&h_garbage, 1);
    hc_send_all(fd, buf, n, hc_now_ms() + 1000); /* the server may close early: fine */
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 2000) > 0) atomic_fetch_add(&h_garbage_answered, 1);
    close(fd);
    sleep_ms(20);
  }
  free(buf);
  return NULL;
}

static void* mid_response(void* arg)
{
  (void)arg;
  static const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  while (hc_now_ms() < g_deadline_ms) {
    int fd = raw_connect();
    if (fd < 0) {
      sleep_ms(50);
      continue;
    }
    atomic_fetch_add(&h_midresp, 1);
    if (send_str(fd, req, sizeof req - 1)) {
      char b[256];
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 2000) > 0 && recv(fd, b, sizeof b, 0) > 0) atomic_fetch_add(&h_midresp_got_bytes, 1);
    }
    struct linger lg = {1, 0}; /* close with a reset, in the middle of the response */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    sleep_ms(20);
  }
  return NULL;
}

/* The client process: reads the port from `rfd`, runs until the deadline, prints its counts. */
static int client_main(int rfd)
{
  unsigned short port = 0;
  if (read(rfd, &port, sizeof port) != (ssize_t)sizeof port || port == 0) return 3; /* server never started */
  close(rfd);
  g_port = port;
  raise_nofile((rlim_t)g_idle + 256);
  g_deadline_ms = hc_now_ms() + g_seconds * 1000;
  pthread_t t[16];
  int n = 0;
  pthread_create(&t[n++], NULL, idle_clients, NULL);
  for (int i = 0; i < 4; ++i) pthread_create(&t[n++], NULL, header_drip, NULL);
  for (int i = 0; i < 2; ++i) pthread_create(&t[n++], NULL, body_drip, NULL);
  pthread_create(&t[n++], NULL, garbage, (void*)(uintptr_t)1);
  pthread_create(&t[n++], NULL, mid_response, NULL);
  for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  printf("hostile clients: %lld idle connections opened (%lld closed by the server), "
         "%lld header drips (%lld ended by the server), %lld body drips (%lld ended by the server), "
         "%lld garbage requests (%lld answered or closed), %lld resets mid-response (%lld got bytes first), "
         "%lld failed connects\n",
         (long long)h_idle_opened, (long long)h_idle_closed_by_server, (long long)h_hdr_conns,
         (long long)h_hdr_closed, (long long)h_body_conns, (long long)h_body_closed, (long long)h_garbage,
         (long long)h_garbage_answered, (long long)h_midresp, (long long)h_midresp_got_bytes,
         (long long)h_connect_failed);
  fflush(stdout);
  return 0;
}

/* ================================================================ the server process */

enum { COUNTERS = 1000, HISTS = 100, RECORDERS = 2 };
static INFERMETRICS_MetricFamily *f_counter, *f_hist, *f_churn;
static INFERMETRICS_MetricArgs* g_args;
static INFERMETRICS_Metric* m_counter[COUNTERS];
static INFERMETRICS_Metric* m_hist[HISTS];
static atomic_int g_stop_work, g_stop_scrape;
static atomic_llong g_recorded[RECORDERS], g_observed[RECORDERS];
static atomic_llong g_churn_cycles, g_call_errors, g_scrapes_ok, g_scrapes_failed;

static void count_err(INFERMETRICS_Error* e, const char* what)
{
  if (!e) return;
  if (atomic_fetch_add(&g_call_errors, 1) < 10) fprintf(stderr, "soak: %s failed: %s\n", what, INFERMETRICS_ErrorMessage(e));
  INFERMETRICS_ErrorDelete(e);
}

static void* recorder(void* arg)
{
  int id = (int)(intptr_t)arg;
  unsigned k = (unsigned)id * 7919u;
  while (!atomic_load(&g_stop_work)) {
    for (int i = 0; i < 2000; ++i, ++k) { /* ~50 us of work, then a pause: leaves the CPUs to others */
      count_err(INFERMETRICS_MetricIncrement(m_counter[k % COUNTERS], 1), "MetricIncrement");
      if ((i & 15) == 0) {
        count_err(INFERMETRICS_MetricObserve(m_hist[k % HISTS], (double)(k % 1000) / 100.0), "MetricObserve");
        atomic_fetch_add(&g_observed[id], 1);
      }
    }
    atomic_fetch_add(&g_recorded[id], 2000);
    sleep_ms(5);
  }
  return NULL;
}

static void* churner(void* arg)
{
  (void)arg;
  unsigned n = 0;
  INFERMETRICS_Metrics* ms = NULL;
  count_err(INFERMETRICS_ServerMetrics(NULL, &ms), "ServerMetrics");
  while (!atomic_load(&g_stop_work)) {
    char v[32];
    snprintf(v, sizeof v, "c%u", n % 500); /* a bounded set of label values */
    INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew("churn", INFERMETRICS_PARAMETER_STRING, v);
    const INFERMETRICS_Parameter* labels[] = {p};
    INFERMETRICS_Metric* m = NULL;
    count_err(INFERMETRICS_MetricNew(&m, f_churn, labels, 1), "MetricNew");
    INFERMETRICS_ParameterDelete(p);
    if (m) {
      count_err(INFERMETRICS_MetricSet(m, n), "MetricSet");
      count_err(INFERMETRICS_MetricDelete(m), "MetricDelete");
    }
    if (++n % 50 == 0 && ms) {
      const char* base;
      size_t size;
      count_err(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size), "MetricsFormatted");
    }
    atomic_fetch_add(&g_churn_cycles, 1);
    sleep_ms(1);
  }
  if (ms) count_err(INFERMETRICS_MetricsDelete(ms), "MetricsDelete");
  return NULL;
}

static void* scraper(void* arg)
{
  (void)arg;
  while (!atomic_load(&g_stop_scrape)) {
    hc_response r;
    int rc = hc_get("127.0.0.1", g_port, "/metrics", &r, 5000);
    if (rc == HC_OK && r.status == 200 && strstr(r.body, "soak_requests_total{i=\"999\"}") != NULL) {
      atomic_fetch_add(&g_scrapes_ok, 1);
    } else {
      long long f = atomic_fetch_add(&g_scrapes_failed, 1);
      if (f < 20) fprintf(stderr, "soak: scrape failed: %s, status %d\n", hc_strerror(rc), rc == HC_OK ? r.status : 0);
    }
    if (rc == HC_OK) hc_response_free(&r);
    sleep_ms(100);
  }
  return NULL;
}

/* ---------------------------------------------------------------- sampling /proc/self */

typedef struct {
  double t;
  const char* phase;
  long rss_kb;
  int threads, fds;
  long long ok, failed;
} sample_t;

static int count_dir(const char* path)
{
  DIR* d = opendir(path);
  struct dirent* e;
  int n = 0;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

static long rss_kb(void)
{
  char line[256];
  long kb = -1;
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

static long long g_t0;

static sample_t take(const char* phase)
{
  sample_t s;
  s.t = (double)(hc_now_ms() - g_t0) / 1000.0;
  s.phase = phase;
  s.rss_kb = rss_kb();
  s.threads = count_dir("/proc/self/task");
  s.fds = count_dir("/proc/self/fd") - 1; /* minus the directory's own descriptor */
  s.ok = atomic_load(&g_scrapes_ok);
  s.failed = atomic_load(&g_scrapes_failed);
  return s;
}

static void write_sample(FILE* csv, const sample_t* s)
{
  fprintf(csv, "%.1f,%s,%ld,%d,%d,%lld,%lld\n", s->t, s->phase, s->rss_kb, s->threads, s->fds, s->ok, s->failed);
  fflush(csv);
  printf("  t=%7.1f s  %-8s rss %7ld kB  threads %4d  fds %4d  scrapes ok %lld failed %lld\n", s->t, s->phase,
         s->rss_kb, s->threads, s->fds, s->ok, s->failed);
  fflush(stdout);
}

static void quiet_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)userp;
  static atomic_int n;
  if (level != INFERMETRICS_LOG_INFO && atomic_fetch_add(&n, 1) < 50) fprintf(stderr, "library log: %s\n", message);
}

static int failures = 0;
#define VERDICT(cond, ...)                 \
  do {                                     \
    if (cond) {                            \
      printf("  PASS  ");                  \
    } else {                               \
      printf("  FAIL  ");                  \
      ++failures;                          \
    }                                      \
    printf(__VA_ARGS__);                   \
    putchar('\n');                         \
  } while (0)

static void usage(const char* argv0)
{
  fprintf(stderr, "usage: %s --seconds N [--csv PATH] [--conn-cap 256] [--idle K]\n", argv0);
  exit(2);
}

int main(int argc, char** argv)
{
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      g_seconds = atol(argv[++i]);
    else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
      g_csv = argv[++i];
    else if (strcmp(argv[i], "--conn-cap") == 0 && i + 1 < argc)
      g_conn_cap = atoi(argv[++i]);
    else if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc)
      g_idle = atoi(argv[++i]);
    else
      usage(argv[0]);
  }
  if (g_seconds < 10) usage(argv[0]);
  if (g_idle < 0) g_idle = g_conn_cap + 32;
  signal(SIGPIPE, SIG_IGN);

  /* the client process, forked before this process touches the library */
  int pfd[2];
  if (pipe(pfd) != 0) return 2;
  fflush(stdout);
  pid_t client = fork();
  if (client < 0) return 2;
  if (client == 0) {
    close(pfd[1]);
    _exit(client_main(pfd[0]));
  }
  close(pfd[0]);

  FILE* csv = fopen(g_csv, "w");
  if (!csv) {
    fprintf(stderr, "soak: cannot write %s: %s\n", g_csv, strerror(errno));
    kill(client, SIGKILL);
    return 2;
  }
  fprintf(csv, "t_s,phase,rss_kb,threads,fds,scrapes_ok,scrapes_failed\n");
  g_t0 = hc_now_ms();

  /* the server process's own work */
  INFERMETRICS_SetLogCallback(quiet_log, NULL);
  const double buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10};
  count_err(INFERMETRICS_MetricFamilyNew(&f_counter, INFERMETRICS_METRIC_KIND_COUNTER, "soak_requests_total", "r"),
            "MetricFamilyNew");
  count_err(INFERMETRICS_MetricFamilyNew(&f_hist, INFERMETRICS_METRIC_KIND_HISTOGRAM, "soak_latency_seconds", "l"),
            "MetricFamilyNew");
  count_err(INFERMETRICS_MetricFamilyNew(&f_churn, INFERMETRICS_METRIC_KIND_GAUGE, "soak_churn", "c"), "MetricFamilyNew");
  count_err(INFERMETRICS_MetricArgsNew(&g_args), "MetricArgsNew");
  count_err(INFERMETRICS_MetricArgsSetHistogram(g_args, buckets, 10), "MetricArgsSetHistogram");
  for (int i = 0; i < COUNTERS; ++i) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew("i", INFERMETRICS_PARAMETER_STRING, v);
    const INFERMETRICS_Parameter* l[] = {p};
    count_err(INFERMETRICS_MetricNew(&m_counter[i], f_counter, l, 1), "MetricNew");
    if (i < HISTS) count_err(INFERMETRICS_MetricNewWithArgs(&m_hist[i], f_hist, l, 1, g_args), "MetricNewWithArgs");
    INFERMETRICS_ParameterDelete(p);
  }
  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* server = NULL;
  count_err(INFERMETRICS_ServerOptionsNew(&o), "ServerOptionsNew");
  count_err(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"), "SetAddress");
  count_err(INFERMETRICS_ServerOptionsSetPort(o, 0), "SetPort");
  count_err(INFERMETRICS_ServerOptionsSetMetricsInterval(o, 250), "SetMetricsInterval");
  INFERMETRICS_Error* e = INFERMETRICS_ServerNew(&server, o);
  count_err(INFERMETRICS_ServerOptionsDelete(o), "ServerOptionsDelete");
  if (e) {
    fprintf(stderr, "soak: ServerNew failed: %s\n", INFERMETRICS_ErrorMessage(e));
    kill(client, SIGKILL);
    waitpid(client, NULL, 0);
    return 1;
  }
  count_err(INFERMETRICS_ServerPort(server, &g_port), "ServerPort");

  pthread_t work[RECORDERS + 1], scrape;
  for (int i = 0; i < RECORDERS; ++i) pthread_create(&work[i], NULL, recorder, (void*)(intptr_t)i);
  pthread_create(&work[RECORDERS], NULL, churner, NULL);
  sleep_ms(2000);
  printf("soak: server on 127.0.0.1:%u, %ld s of load, %d idle connections against a cap of %d; samples in %s\n",
         (unsigned)g_port, g_seconds, g_idle, g_conn_cap, g_csv);
  sample_t base = take("baseline");
  write_sample(csv, &base);

  /* load: the scrape loop and the hostile clients */
  pthread_create(&scrape, NULL, scraper, NULL);
  unsigned short port16 = g_port;
  if (write(pfd[1], &port16, sizeof port16) != (ssize_t)sizeof port16) fprintf(stderr, "soak: cannot start the clients\n");
  close(pfd[1]);
  long long load_start = hc_now_ms(), load_end = load_start + g_seconds * 1000;
  size_t nload = 0, cap = 64;
  sample_t* load = (sample_t*)malloc(cap * sizeof *load);
  int peak_threads = base.threads, peak_fds = base.fds;
  long long next = load_start + 10000;
  for (;;) {
    long long now = hc_now_ms();
    if (now >= next || now >= load_end) {
      sample_t s = take("load");
      if (nload == cap) load = (sample_t*)realloc(load, (cap *= 2) * sizeof *load);
      load[nload++] = s;
      write_sample(csv, &s);
      if (s.threads > peak_threads) peak_threads = s.threads;
      if (s.fds > peak_fds) peak_fds = s.fds;
      next += 10000;
      if (now >= load_end) break;
    } else {
      sample_t s = take("peek"); /* every second: peaks only */
      if (s.threads > peak_threads) peak_threads = s.threads;
      if (s.fds > peak_fds) peak_fds = s.fds;
    }
    sleep_ms(1000 - (hc_now_ms() - now) % 1000);
  }

  /* the end: clients gone, scrapes stopped, then the server must drain back to the baseline */
  int status = 0;
  for (int i = 0; i < 300 && waitpid(client, &status, WNOHANG) == 0; ++i) sleep_ms(100);
  if (waitpid(client, &status, WNOHANG) == 0) {
    fprintf(stderr, "soak: the client process did not end 30 s after its deadline: killed\n");
    kill(client, SIGKILL);
    waitpid(client, &status, 0);
  }
  atomic_store(&g_stop_scrape, 1);
  pthread_join(scrape, NULL);
  sample_t fin = take("final");
  for (int i = 0; i < 300 && (fin.threads != base.threads || fin.fds != base.fds); ++i) {
    sleep_ms(100);
    fin = take("final");
  }
  write_sample(csv, &fin);
  atomic_store(&g_stop_work, 1);
  for (int i = 0; i <= RECORDERS; ++i) pthread_join(work[i], NULL);

  /* exact totals: every increment and observation of the recorders is in the series */
  long long want_inc = 0, want_obs = 0;
  double got_inc = 0, got_obs = 0;
  for (int i = 0; i < RECORDERS; ++i) {
    want_inc += atomic_load(&g_recorded[i]);
    want_obs += atomic_load(&g_observed[i]);
  }
  for (int i = 0; i < COUNTERS; ++i) {
    double v = 0;
    count_err(INFERMETRICS_MetricValue(m_counter[i], &v), "MetricValue");
    got_inc += v;
  }
  {
    INFERMETRICS_Metrics* ms = NULL;
    const char* base_text = NULL;
    size_t size = 0;
    count_err(INFERMETRICS_ServerMetrics(NULL, &ms), "ServerMetrics");
    if (ms && !INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base_text, &size)) {
      const char* p = base_text;
      while ((p = strstr(p, "soak_latency_seconds_count{")) != NULL) {
        const char* sp = strchr(p, ' ');
        if (!sp) break;
        got_obs += strtod(sp + 1, NULL);
        p = sp;
      }
    }
    if (ms) count_err(INFERMETRICS_MetricsDelete(ms), "MetricsDelete");
  }

  /* the table */
  /* the sample at the end of the first minute of load (the first one in a shorter run) */
  double load_t0 = (double)(load_start - g_t0) / 1000.0;
  sample_t first_min = load[0];
  if (g_seconds >= 70)
    for (size_t i = 0; i < nload; ++i)
      if (load[i].t - load_t0 <= 61.0) first_min = load[i];
  sample_t last = load[nload - 1];
  long rmin = load[0].rss_kb, rmax = load[0].rss_kb;
  int tmin = load[0].threads, tmax = load[0].threads, fmin = load[0].fds, fmax = load[0].fds;
  for (size_t i = 0; i < nload; ++i) {
    if (load[i].rss_kb < rmin) rmin = load[i].rss_kb;
    if (load[i].rss_kb > rmax) rmax = load[i].rss_kb;
    if (load[i].threads < tmin) tmin = load[i].threads;
    if (load[i].threads > tmax) tmax = load[i].threads;
    if (load[i].fds < fmin) fmin = load[i].fds;
    if (load[i].fds > fmax) fmax = load[i].fds;
  }
  long long ok = last.ok, failed = last.failed;
  double rate = ok + failed ? 100.0 * (double)ok / (double)(ok + failed) : 0;
  printf("\nsoak results over %ld s (%zu load samples, every 10 s; peaks watched every second)\n", g_seconds, nload);
  printf("  %-9s %10s %10s %10s %10s %10s %10s %12s\n", "", "baseline", "min", "max", "first", "last", "final",
         "peak (1 s)");
  printf("  %-9s %10ld %10ld %10ld %10ld %10ld %10ld %12s\n", "rss_kB", base.rss_kb, rmin, rmax, load[0].rss_kb,
         last.rss_kb, fin.rss_kb, "-");
  printf("  %-9s %10d %10d %10d %10d %10d %10d %12d\n", "threads", base.threads, tmin, tmax, load[0].threads,
         last.threads, fin.threads, peak_threads);
  printf("  %-9s %10d %10d %10d %10d %10d %10d %12d\n", "fds", base.fds, fmin, fmax, load[0].fds, last.fds, fin.fds,
         peak_fds);
  printf("  normal scrapes: %lld ok, %lld failed (%.2f %%); recorder increments %lld, observations %lld, churn "
         "cycles %lld\n\n",
         ok, failed, rate, want_inc, want_obs, (long long)atomic_load(&g_churn_cycles));
  fflush(stdout);

  long limit_kb = first_min.rss_kb + first_min.rss_kb / 10 + 4096;
  VERDICT(last.rss_kb <= limit_kb, "RSS %ld kB at the end vs %ld kB at t=%.0f s: limit %ld kB (+10 %% + 4 MB)", last.rss_kb,
          first_min.rss_kb, first_min.t, limit_kb);
  VERDICT(fin.threads == base.threads, "threads after the clients left: %d, baseline %d (during the load %d..%d)",
          fin.threads, base.threads, tmin, tmax);
  VERDICT(fin.fds == base.fds, "descriptors after the clients left: %d, baseline %d", fin.fds, base.fds);
  VERDICT(peak_fds <= g_conn_cap + 16, "descriptors peaked at %d: cap %d + 16 = %d", peak_fds, g_conn_cap,
          g_conn_cap + 16);
  VERDICT(ok + failed > 0 && rate >= 99.0, "normal scrapes: %.2f %% of %lld succeeded (at least 99 %%)", rate,
          ok + failed);
  VERDICT(got_inc == (double)want_inc && got_obs == (double)want_obs,
          "recorded totals: counters %.0f of %lld increments, histograms %.0f of %lld observations", got_inc, want_inc,
          got_obs, want_obs);
  VERDICT(atomic_load(&g_call_errors) == 0, "library calls that failed: %lld", (long long)atomic_load(&g_call_errors));
  VERDICT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the client process ended normally (status 0x%x)", status);

  for (int i = 0; i < COUNTERS; ++i) count_err(INFERMETRICS_MetricDelete(m_counter[i]), "MetricDelete");
  for (int i = 0; i < HISTS; ++i) count_err(INFERMETRICS_MetricDelete(m_hist[i]), "MetricDelete");
  count_err(INFERMETRICS_ServerDelete(server), "ServerDelete");
  fclose(csv);
  free(load);
  printf("soak: %s\n", failures ? "FAILED" : "passed");
  return failures ? 1 : 0;
}

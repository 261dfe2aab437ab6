/*
 * fork_busy_parent (issue 7): fork() while every part of the library is busy, 50 times.
 *
 * The parent runs a server (port 0, collectors every 10 ms), 2 threads scraping it over HTTP
 * in a loop, 2 threads churning series (MetricNew/MetricDelete on a counter and a histogram
 * family, MetricsFormatted after each cycle) and 1 thread recording into a counter. Meanwhile
 * it forks 50 children, a few ms apart (at most 8 alive at once). Each child, under alarm(10)
 * (a hang ends it with SIGALRM), uses the whole API:
 *   - records into the inherited counter, and reads exactly what it added;
 *   - creates and deletes families and metrics (its own and in the inherited families);
 *   - renders with MetricsFormatted (its own series and the inherited counter are there);
 *   - starts its own server on port 0, scrapes it once over HTTP, deletes it;
 *   - deletes the inherited server handle: NULL, within a second;
 *   - and never held the parent's listening socket (closed by the library's fork handler);
 * then _exit(0) (1 if any check failed). The parent waits for each child for 15 s at most
 * (then kills it and counts it as hung) and fails if any child hung or failed. Afterwards the
 * parent's own state is intact: every scrape succeeded, its counter holds exactly the parent's
 * increments (none of the children's), and its server still serves.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server_test.h"

enum { CHILDREN = 50, MAX_ALIVE = 8, CHILD_ALARM_S = 10, CHILD_DEADLINE_MS = 15000 };

static INFERMETRICS_MetricFamily* g_req_family;
static INFERMETRICS_Metric* g_requests;        /* recorded by the recorder thread only */
static INFERMETRICS_MetricFamily* g_churn_family; /* counter */
static INFERMETRICS_MetricFamily* g_churn_hist;   /* histogram */
static INFERMETRICS_MetricArgs* g_churn_args;
static INFERMETRICS_Server* g_server;
static uint16_t g_port;
static unsigned long g_listener_inode; /* the parent server's listening socket */

static atomic_int g_stop;
static atomic_llong g_recorded;
static atomic_llong g_scrapes_ok, g_scrapes_failed, g_churn_cycles, g_thread_errors;

static void count_error(INFERMETRICS_Error* e, const char* what)
{
  if (e == NULL) return;
  if (atomic_fetch_add(&g_thread_errors, 1) < 10)
    fprintf(stderr, "parent thread: %s failed: %s\n", what, INFERMETRICS_ErrorMessage(e));
  INFERMETRICS_ErrorDelete(e);
}

static void* recorder(void* arg)
{
  (void)arg;
  while (!atomic_load(&g_stop)) {
    INFERMETRICS_Error* e = INFERMETRICS_MetricIncrement(g_requests, 1);
    if (e == NULL)
      atomic_fetch_add(&g_recorded, 1);
    else
      count_error(e, "MetricIncrement");
    if ((atomic_load(&g_recorded) & 1023) == 0) st_sleep_ms(1);
  }
  return NULL;
}

static void* scraper(void* arg)
{
  (void)arg;
  while (!atomic_load(&g_stop)) {
    hc_response r;
    int rc = hc_get("127.0.0.1", g_port, "/metrics", &r, 5000);
    if (rc == HC_OK && r.status == 200 && strstr(r.body, "fork_requests_total ") != NULL) {
      atomic_fetch_add(&g_scrapes_ok, 1);
    } else {
      if (atomic_fetch_add(&g_scrapes_failed, 1) < 10)
        fprintf(stderr, "parent scrape failed: %s, status %d\n", hc_strerror(rc), rc == HC_OK ? r.status : 0);
    }
    if (rc == HC_OK) hc_response_free(&r);
    st_sleep_ms(1);
  }
  return NULL;
}

static void* churner(void* arg)
{
  int id = (int)(intptr_t)arg;
  unsigned n = 0;
  while (!atomic_load(&g_stop)) {
    char v[32];
    INFERMETRICS_Parameter* p;
    INFERMETRICS_Metric* m = NULL;
    INFERMETRICS_Metric* h = NULL;
    INFERMETRICS_Metrics* ms = NULL;
    const char* base = NULL;
    size_t size = 0;
    snprintf(v, sizeof v, "%d-%u", id, n++ % 64);
    p = INFERMETRICS_ParameterNew("churn", INFERMETRICS_PARAMETER_STRING, v);
    const INFERMETRICS_Parameter* labels[] = {p};
    count_error(INFERMETRICS_MetricNew(&m, g_churn_family, labels, 1), "MetricNew");
    count_error(INFERMETRICS_MetricNewWithArgs(&h, g_churn_hist, labels, 1, g_churn_args), "MetricNewWithArgs");
    INFERMETRICS_ParameterDelete(p);
    if (m) count_error(INFERMETRICS_MetricIncrement(m, 1), "MetricIncrement");
    if (h) count_error(INFERMETRICS_MetricObserve(h, 0.5), "MetricObserve");
    count_error(INFERMETRICS_ServerMetrics(g_server, &ms), "ServerMetrics");
    if (ms) {
      count_error(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size), "MetricsFormatted");
      count_error(INFERMETRICS_MetricsDelete(ms), "MetricsDelete");
    }
    if (m) count_error(INFERMETRICS_MetricDelete(m), "MetricDelete");
    if (h) count_error(INFERMETRICS_MetricDelete(h), "MetricDelete");
    atomic_fetch_add(&g_churn_cycles, 1);
  }
  return NULL;
}

/* ---------------------------------------------------------------- the child */

static int g_child;

#define CFAIL(...)                                                      \
  do {                                                                  \
    ++st_failures;                                                      \
    fprintf(stderr, "child %d (pid %d), line %d: FAIL: ", g_child, (int)getpid(), __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                       \
    fputc('\n', stderr);                                                \
  } while (0)

/* The call must succeed in the child. */
static int cok(int line, const char* expr, INFERMETRICS_Error* e)
{
  if (e == NULL) return 1;
  ++st_failures;
  fprintf(stderr, "child %d (pid %d), line %d: FAIL: expected success from %s, got %s: %s\n", g_child,
          (int)getpid(), line, expr, st_code_name((int)INFERMETRICS_ErrorCode(e)), INFERMETRICS_ErrorMessage(e));
  INFERMETRICS_ErrorDelete(e);
  return 0;
}
#define COK(call) cok(__LINE__, #call, (call))

static INFERMETRICS_Metric* child_metric(INFERMETRICS_MetricFamily* f, const INFERMETRICS_MetricArgs* args,
                                         const char* name, const char* value)
{
  INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew(name, INFERMETRICS_PARAMETER_STRING, value);
  const INFERMETRICS_Parameter* labels[] = {p};
  INFERMETRICS_Metric* m = NULL;
  if (p == NULL) {
    CFAIL("ParameterNew(%s, %s) returned NULL", name, value);
    return NULL;
  }
  COK(INFERMETRICS_MetricNewWithArgs(&m, f, labels, 1, args));
  INFERMETRICS_ParameterDelete(p);
  return m;
}

static char* child_render(INFERMETRICS_Server* s)
{
  INFERMETRICS_Metrics* ms = NULL;
  const char* base = NULL;
  size_t size = 0;
  char* copy = NULL;
  if (!COK(INFERMETRICS_ServerMetrics(s, &ms))) return NULL;
  if (COK(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size))) {
    copy = (char*)malloc(size + 1);
    memcpy(copy, base, size);
    copy[size] = '\0';
  }
  COK(INFERMETRICS_MetricsDelete(ms));
  return copy;
}

/* The inode of the socket listening on 127.0.0.1:port (from /proc/net/tcp), or 0. */
static unsigned long listener_inode(uint16_t port)
{
  char buf[512];
  unsigned long inode = 0;
  FILE* f = fopen("/proc/net/tcp", "r");
  if (!f) return 0;
  while (fgets(buf, sizeof buf, f)) {
    unsigned lport = 0, state = 0;
    unsigned long ino = 0;
    /* "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode" */
    if (sscanf(buf, " %*d: %*8x:%x %*8x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &lport, &state, &ino) == 3 &&
        lport == port && state == 0x0A)
      inode = ino;
  }
  fclose(f);
  return inode;
}

/* Does this process hold a descriptor for the socket with this inode? */
static int holds_socket(unsigned long inode)
{
  char path[300], target[64], want[64];
  int found = 0;
  DIR* d = opendir("/proc/self/fd");
  struct dirent* e;
  if (!d) return 0;
  snprintf(want, sizeof want, "socket:[%lu]", inode);
  while ((e = readdir(d)) != NULL) {
    ssize_t n;
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    n = readlink(path, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (strcmp(target, want) == 0) found = 1;
  }
  closedir(d);
  return found;
}

static void child_main(int id)
{
  char v[32], line[128];
  double before = -1, after = -1;
  g_child = id;
  st_failures = 0;
  signal(SIGALRM, SIG_DFL);
  alarm(CHILD_ALARM_S);
  snprintf(v, sizeof v, "%d", id);

  /* 0. the parent's listening socket is not kept open in the child */
  if (g_listener_inode != 0 && holds_socket(g_listener_inode))
    CFAIL("the child holds the parent's listening socket (127.0.0.1:%u, inode %lu)", (unsigned)g_port,
          g_listener_inode);

  /* 1. record into the inherited counter: only this thread exists, so the sum is exact */
  COK(INFERMETRICS_MetricValue(g_requests, &before));
  for (int i = 0; i < 10; ++i) COK(INFERMETRICS_MetricIncrement(g_requests, 1));
  COK(INFERMETRICS_MetricValue(g_requests, &after));
  if (after != before + 10) CFAIL("inherited counter: expected %.0f + 10, got %.0f", before, after);

  /* 2. families and metrics: new ones, and new series of the inherited (busy) families */
  INFERMETRICS_MetricFamily* f = NULL;
  COK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "fork_child_gauge", "child's own"));
  INFERMETRICS_Metric* own = f ? child_metric(f, NULL, "child", v) : NULL;
  if (own) COK(INFERMETRICS_MetricSet(own, id));
  INFERMETRICS_Metric* c = child_metric(g_churn_family, NULL, "churn", "child");
  INFERMETRICS_Metric* h = child_metric(g_churn_hist, g_churn_args, "churn", "child");
  if (c) COK(INFERMETRICS_MetricIncrement(c, 3));
  if (h) COK(INFERMETRICS_MetricObserve(h, 0.25));
  for (int i = 0; i < 20; ++i) { /* churn a little, as the parent's threads did */
    char cv[16];
    snprintf(cv, sizeof cv, "c%d", i);
    INFERMETRICS_Metric* m = child_metric(g_churn_family, NULL, "churn", cv);
    if (m) COK(INFERMETRICS_MetricDelete(m));
  }
  INFERMETRICS_MetricFamily* f2 = NULL;
  COK(INFERMETRICS_MetricFamilyNew(&f2, INFERMETRICS_METRIC_KIND_COUNTER, "fork_child_temp_total", "temporary"));
  if (f2) COK(INFERMETRICS_MetricFamilyDelete(f2));

  /* 3. render */
  char* text = child_render(NULL);
  if (text) {
    snprintf(line, sizeof line, "fork_child_gauge{child=\"%d\"} %d\n", id, id);
    if (!strstr(text, line)) CFAIL("render: expected the line [%.*s]", (int)strlen(line) - 1, line);
    snprintf(line, sizeof line, "fork_requests_total %.0f\n", after);
    if (!strstr(text, line)) CFAIL("render: expected the inherited counter as [%.*s]", (int)strlen(line) - 1, line);
    if (!strstr(text, "fork_churn_total{churn=\"child\"} 3\n")) CFAIL("render: expected fork_churn_total{churn=\"child\"} 3");
    if (!strstr(text, "fork_churn_seconds_count{churn=\"child\"} 1\n"))
      CFAIL("render: expected fork_churn_seconds_count{churn=\"child\"} 1");
    free(text);
  }

  /* 4. its own server: port 0, one scrape over HTTP, delete */
  {
    INFERMETRICS_ServerOptions* o = NULL;
    INFERMETRICS_Server* s = NULL;
    uint16_t port = 0;
    COK(INFERMETRICS_ServerOptionsNew(&o));
    COK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
    COK(INFERMETRICS_ServerOptionsSetPort(o, 0));
    COK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
    if (COK(INFERMETRICS_ServerNew(&s, o)) && COK(INFERMETRICS_ServerPort(s, &port))) {
      hc_response r;
      int rc;
      if (port == g_port) CFAIL("the child's server got the parent's port %u", (unsigned)port);
      rc = hc_get("127.0.0.1", port, "/metrics", &r, 5000);
      if (rc != HC_OK || r.status != 200) {
        CFAIL("scrape of the child's server on port %u: %s, status %d", (unsigned)port, hc_strerror(rc),
              rc == HC_OK ? r.status : 0);
      } else {
        snprintf(line, sizeof line, "fork_child_gauge{child=\"%d\"} %d\n", id, id);
        if (!strstr(r.body, line)) CFAIL("the child's scrape lacks [%.*s]", (int)strlen(line) - 1, line);
        if (!strstr(r.body, "nv_cpu_utilization")) CFAIL("the child's scrape lacks its CPU collector's series");
      }
      if (rc == HC_OK) hc_response_free(&r);
      long long t0 = hc_now_ms();
      COK(INFERMETRICS_ServerDelete(s));
      if (hc_now_ms() - t0 > 2000) CFAIL("deleting the child's own server took %lld ms", hc_now_ms() - t0);
    }
    COK(INFERMETRICS_ServerOptionsDelete(o));
  }

  /* 5. the inherited server: deleting it succeeds at once and quietly */
  {
    long long t0 = hc_now_ms();
    INFERMETRICS_Error* e = INFERMETRICS_ServerDelete(g_server);
    long long ms = hc_now_ms() - t0;
    if (e) {
      CFAIL("ServerDelete of the inherited server: expected NULL, got %s: %s", st_code_name((int)INFERMETRICS_ErrorCode(e)),
            INFERMETRICS_ErrorMessage(e));
      INFERMETRICS_ErrorDelete(e);
    }
    if (ms > 1000) CFAIL("ServerDelete of the inherited server took %lld ms (expected well under a second)", ms);
  }

  /* 6. clean up what the child made */
  if (own) COK(INFERMETRICS_MetricDelete(own));
  if (c) COK(INFERMETRICS_MetricDelete(c));
  if (h) COK(INFERMETRICS_MetricDelete(h));
  if (f) COK(INFERMETRICS_MetricFamilyDelete(f));
  fflush(stderr);
  _exit(st_failures ? 1 : 0);
}

/* ---------------------------------------------------------------- the parent */

typedef struct {
  pid_t pid;
  int id;
  long long started;
} child_t;

static int g_ok, g_failed, g_hung, g_signalled;

static void reap(child_t* c, int status)
{
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    ++g_ok;
  } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
    ++g_hung;
    fprintf(stderr, "child %d (pid %d): hung (its %d s alarm went off)\n", c->id, (int)c->pid, CHILD_ALARM_S);
  } else if (WIFSIGNALED(status)) {
    ++g_signalled;
    fprintf(stderr, "child %d (pid %d): died of signal %d (%s)\n", c->id, (int)c->pid, WTERMSIG(status),
            strsignal(WTERMSIG(status)));
  } else {
    ++g_failed;
    fprintf(stderr, "child %d (pid %d): exited with %d (its failures are above)\n", c->id, (int)c->pid,
            WEXITSTATUS(status));
  }
  c->pid = 0;
}

/* Reaps finished children; kills those past the deadline. Returns how many are still alive. */
static int poll_children(child_t* kids, int n)
{
  int alive = 0;
  for (int i = 0; i < n; ++i) {
    int status = 0;
    if (kids[i].pid <= 0) continue;
    pid_t r = waitpid(kids[i].pid, &status, WNOHANG);
    if (r == kids[i].pid) {
      reap(&kids[i], status);
    } else if (hc_now_ms() - kids[i].started > CHILD_DEADLINE_MS) {
      kill(kids[i].pid, SIGKILL);
      waitpid(kids[i].pid, &status, 0);
      ++g_hung;
      fprintf(stderr, "child %d (pid %d): still running after %d ms: killed, counted as hung\n", kids[i].id,
              (int)kids[i].pid, CHILD_DEADLINE_MS);
      kids[i].pid = 0;
    } else {
      ++alive;
    }
  }
  return alive;
}

static void quiet_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)userp;
  if (level == INFERMETRICS_LOG_ERROR) fprintf(stderr, "library error log (pid %d): %s\n", (int)getpid(), message);
}

int main(void)
{
  const double buckets[] = {0.1, 1};
  pthread_t threads[5];
  child_t kids[CHILDREN];
  int nthreads = 0;

  INFERMETRICS_SetLogCallback(quiet_log, NULL);
  OK(INFERMETRICS_MetricFamilyNew(&g_req_family, INFERMETRICS_METRIC_KIND_COUNTER, "fork_requests_total", "r"));
  OK(INFERMETRICS_MetricNew(&g_requests, g_req_family, NULL, 0));
  OK(INFERMETRICS_MetricFamilyNew(&g_churn_family, INFERMETRICS_METRIC_KIND_COUNTER, "fork_churn_total", "c"));
  OK(INFERMETRICS_MetricFamilyNew(&g_churn_hist, INFERMETRICS_METRIC_KIND_HISTOGRAM, "fork_churn_seconds", "h"));
  OK(INFERMETRICS_MetricArgsNew(&g_churn_args));
  OK(INFERMETRICS_MetricArgsSetHistogram(g_churn_args, buckets, 2));
  st_server_cfg cfg = st_server_defaults();
  cfg.interval_ms = 10; /* collectors run all the time */
  g_server = START_SERVER(cfg, &g_port);
  if (!g_server || !g_requests) return TEST_SUMMARY();
  g_listener_inode = listener_inode(g_port);
  CHECKF(g_listener_inode != 0 && holds_socket(g_listener_inode),
         "could not find the parent's listening socket for 127.0.0.1:%u in /proc/net/tcp and /proc/self/fd",
         (unsigned)g_port);

  CHECK(pthread_create(&threads[nthreads++], NULL, recorder, NULL) == 0);
  CHECK(pthread_create(&threads[nthreads++], NULL, scraper, NULL) == 0);
  CHECK(pthread_create(&threads[nthreads++], NULL, scraper, NULL) == 0);
  CHECK(pthread_create(&threads[nthreads++], NULL, churner, (void*)(intptr_t)1) == 0);
  CHECK(pthread_create(&threads[nthreads++], NULL, churner, (void*)(intptr_t)2) == 0);
  st_sleep_ms(100); /* let everything get going */

  long long t0 = hc_now_ms();
  memset(kids, 0, sizeof kids);
  for (int i = 0; i < CHILDREN; ++i) {
    while (poll_children(kids, i) >= MAX_ALIVE) st_sleep_ms(2);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) child_main(i);
    if (pid < 0) {
      st_fail(__FILE__, __LINE__, "fork %d failed: %s", i, strerror(errno));
      break;
    }
    kids[i].pid = pid;
    kids[i].id = i;
    kids[i].started = hc_now_ms();
    st_sleep_ms(3 + i % 5);
  }
  while (poll_children(kids, CHILDREN) > 0) st_sleep_ms(5);
  long long forks_ms = hc_now_ms() - t0;

  atomic_store(&g_stop, 1);
  for (int i = 0; i < nthreads; ++i) pthread_join(threads[i], NULL);

  printf("%d children: %d ok, %d failed, %d hung, %d killed by a signal (%lld ms); parent: %lld scrapes ok, "
         "%lld failed, %lld increments, %lld churn cycles, %lld errors in its threads\n",
         CHILDREN, g_ok, g_failed, g_hung, g_signalled, forks_ms, (long long)atomic_load(&g_scrapes_ok),
         (long long)atomic_load(&g_scrapes_failed), (long long)atomic_load(&g_recorded),
         (long long)atomic_load(&g_churn_cycles), (long long)atomic_load(&g_thread_errors));
  CHECKF(g_ok == CHILDREN, "expected all %d children to succeed: %d failed, %d hung, %d killed by a signal", CHILDREN,
         g_failed, g_hung, g_signalled);
  CHECKF(atomic_load(&g_scrapes_failed) == 0, "%lld of the parent's scrapes failed while it forked",
         (long long)atomic_load(&g_scrapes_failed));
  CHECKF(atomic_load(&g_scrapes_ok) > 0, "the parent's scrapers never succeeded");
  CHECKF(atomic_load(&g_churn_cycles) > 0, "the parent's churn threads made no progress");
  CHECKF(atomic_load(&g_thread_errors) == 0, "%lld library calls failed in the parent's threads",
         (long long)atomic_load(&g_thread_errors));

  /* the parent is intact: its counter holds its own increments only, its server still serves */
  {
    double v = -1;
    OK(INFERMETRICS_MetricValue(g_requests, &v));
    CHECKF(v == (double)atomic_load(&g_recorded), "the parent's counter is %.0f, it recorded %lld (children's "
           "increments must not reach it)", v, (long long)atomic_load(&g_recorded));
    hc_response r;
    int rc = hc_get("127.0.0.1", g_port, "/metrics", &r, 5000);
    CHECKF(rc == HC_OK && r.status == 200, "the parent's server after the forks: %s, status %d", hc_strerror(rc),
           rc == HC_OK ? r.status : 0);
    if (rc == HC_OK) {
      CHECKF(strstr(r.body, "fork_child_gauge") == NULL, "a child's family appeared in the parent's server");
      hc_response_free(&r);
    }
  }
  long long stop_ms = STOP_SERVER(g_server);
  CHECKF(stop_ms < 2000, "ServerDelete in the parent took %lld ms", stop_ms);
  OK(INFERMETRICS_MetricDelete(g_requests));
  OK(INFERMETRICS_MetricFamilyDelete(g_req_family));
  OK(INFERMETRICS_MetricFamilyDelete(g_churn_family));
  OK(INFERMETRICS_MetricFamilyDelete(g_churn_hist));
  OK(INFERMETRICS_MetricArgsDelete(g_churn_args));
  return TEST_SUMMARY();
}

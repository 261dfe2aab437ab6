/*
 * server_limits: the acceptance test of issue 7 (an attacker's probe of the earlier server
 * made 513 threads from 1,500 idle connections and exhausted the host's file descriptors).
 *
 * This process limits itself to RLIMIT_NOFILE 1024 and starts a server with the default cap
 * of 256 connections. A child process (its own fd limit, so the attack never counts against
 * ours) then attacks 127.0.0.1:PORT for ATTACK_MS:
 *   - 3,000 idle connections, opened at once and never written to;
 *   - 300 "slowloris" connections: a partial request head, then one more header byte per
 *     second; reconnecting whenever the server closes one;
 *   - 300 body drippers: a complete GET /metrics head announcing a 60,000-byte body, then
 *     one body byte per second; reconnecting whenever the server closes one.
 * Throughout, every 100 ms, this process scrapes /metrics on a fresh connection and opens
 * /dev/null 50 times. It checks that:
 *   - every open() succeeds (the server never takes the host's file descriptors);
 *   - the process's thread count (/proc/self/task) never changes;
 *   - the process never holds more descriptors than before the attack plus the cap (plus
 *     the connection being accepted and our own scrape);
 *   - >= 95 % of the scrapes are answered 200 within 1 s;
 * and prints the measured numbers. Only 127.0.0.1 is ever connected to.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "server_test.h"

enum {
  IDLE = 3000,
  HEAD_DRIP = 300,
  BODY_DRIP = 300,
  SLOTS = IDLE + HEAD_DRIP + BODY_DRIP,
  ATTACK_MS = 25000,
  SCRAPE_EVERY_MS = 100,
  SCRAPE_LIMIT_MS = 1000,
  MAX_CONNECTIONS = 256, /* the default */
  SCRAPES_MAX = ATTACK_MS / SCRAPE_EVERY_MS + 50
};

/* ---------------------------------------------------------------- the attacker (child) */

enum { K_IDLE, K_HEAD, K_BODY };

typedef struct {
  int fd;
  int kind;
  int connecting;
  long long next_drip;
} slot;

typedef struct {
  long idle_opened, idle_refused, idle_closed_by_server, idle_open_at_end;
  long head_connects, head_closed_by_server, head_bytes;
  long body_connects, body_answered, body_closed_by_server, body_bytes;
  long socket_errors;
  int nofile;
} attack_stats;

static attack_stats g_stats;

static int nb_connect(uint16_t port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++g_stats.socket_errors;
    return -1;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0 && errno != EINPROGRESS) {
    ++g_stats.socket_errors;
    close(fd);
    return -1;
  }
  return fd;
}

static void open_slot(slot* s, uint16_t port, long long now)
{
  s->fd = nb_connect(port);
  s->connecting = 1;
  s->next_drip = now + 1000;
  if (s->fd < 0) return;
  if (s->kind == K_HEAD) ++g_stats.head_connects;
  if (s->kind == K_BODY) ++g_stats.body_connects;
}

/* The connection is established: send what this kind sends first. */
static void on_connected(slot* s)
{
  static const char head[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ";
  static const char body[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\n";
  s->connecting = 0;
  if (s->kind == K_HEAD) send(s->fd, head, sizeof head - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (s->kind == K_BODY) send(s->fd, body, sizeof body - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The server closed (or refused) it: idle ones stay closed, drippers come back. */
static void on_closed(slot* s, uint16_t port, long long now)
{
  int was_connecting = s->connecting;
  close(s->fd);
  s->fd = -1;
  if (s->kind == K_IDLE) {
    if (was_connecting) ++g_stats.idle_refused;
    else ++g_stats.idle_closed_by_server;
    return;
  }
  if (s->kind == K_HEAD) ++g_stats.head_closed_by_server;
  if (s->kind == K_BODY) ++g_stats.body_closed_by_server;
  open_slot(s, port, now);
}

static void attacker(uint16_t port, int stop_fd)
{
  static slot slots[SLOTS];
  static struct pollfd pfd[SLOTS + 1];
  static int owner[SLOTS + 1];
  char buf[65536];
  signal(SIGPIPE, SIG_IGN);
  /* our own limit: all the attack's sockets, whatever the parent allows itself */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = SLOTS + 256;
    rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    g_stats.nofile = (int)rl.rlim_cur;
  }
  long long now = hc_now_ms(), end = now + ATTACK_MS;
  for (int i = 0; i < SLOTS; ++i) {
    slots[i].kind = i < IDLE ? K_IDLE : i < IDLE + HEAD_DRIP ? K_HEAD : K_BODY;
    open_slot(&slots[i], port, now);
    if (slots[i].kind == K_IDLE && slots[i].fd >= 0) ++g_stats.idle_opened;
    /* spread the drippers' drips over the second */
    slots[i].next_drip = now + 1000 + (i % 1000);
  }
  while ((now = hc_now_ms()) < end) {
    int n = 0;
    for (int i = 0; i < SLOTS; ++i) {
      if (slots[i].fd < 0) {
        if (slots[i].kind != K_IDLE) open_slot(&slots[i], port, now); /* socket() failed: retry */
        if (slots[i].fd < 0) continue;
      }
      pfd[n].fd = slots[i].fd;
      pfd[n].events = (short)(POLLIN | (slots[i].connecting ? POLLOUT : 0));
      pfd[n].revents = 0;
      owner[n++] = i;
    }
    pfd[n].fd = stop_fd;
    pfd[n].events = POLLIN;
    pfd[n].revents = 0;
    if (poll(pfd, (nfds_t)n + 1, 50) < 0 && errno != EINTR) break;
    if (pfd[n].revents) break; /* the parent says stop */
    now = hc_now_ms();
    for (int k = 0; k < n; ++k) {
      slot* s = &slots[owner[k]];
      short ev = pfd[k].revents;
      if (!ev) continue;
      if (s->connecting && (ev & POLLOUT) && !(ev & (POLLERR | POLLHUP))) on_connected(s);
      if (ev & (POLLIN | POLLERR | POLLHUP)) {
        ssize_t r = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
          if (s->kind == K_BODY && r >= 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0) ++g_stats.body_answered;
        } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          on_closed(s, port, now);
        }
      }
    }
    /* one byte per second on every established dripper */
    for (int i = IDLE; i < SLOTS; ++i) {
      slot* s = &slots[i];
      if (s->fd < 0 || s->connecting || now < s->next_drip) continue;
      s->next_drip = now + 1000;
      if (send(s->fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
        if (s->kind == K_HEAD) ++g_stats.head_bytes;
        else ++g_stats.body_bytes;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        on_closed(s, port, now);
      }
    }
  }
  for (int i = 0; i < SLOTS; ++i) {
    if (slots[i].fd < 0) continue;
    if (slots[i].kind == K_IDLE) ++g_stats.idle_open_at_end;
    close(slots[i].fd);
  }
}

/* ---------------------------------------------------------------- the host (parent) */

/* Entries of /proc/self/task: the threads of this process. */
static int task_count(void)
{
  DIR* d = opendir("/proc/self/task");
  struct dirent* e;
  int n = 0;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

static int cmp_ll(const void* a, const void* b)
{
  long long x = *(const long long*)a, y = *(const long long*)b;
  return x < y ? -1 : x > y;
}

static int read_all(int fd, void* p, size_t n)
{
  char* c = (char*)p;
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    c += r;
    n -= (size_t)r;
  }
  return 1;
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* this process: 1024 descriptors, as many hosts have */
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  rl.rlim_cur = 1024;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1024) rl.rlim_cur = rl.rlim_max;
  CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);

  /* the attacker, forked before the server exists (it inherits none of its sockets) */
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) {
    CHECKF(0, "pipe: %s", strerror(errno));
    return TEST_SUMMARY();
  }
  pid_t pid = fork();
  if (pid < 0) {
    CHECKF(0, "fork: %s", strerror(errno));
    return TEST_SUMMARY();
  }
  if (pid == 0) {
    close(to_child[1]);
    close(from_child[0]);
    uint16_t port = 0;
    if (read_all(to_child[0], &port, sizeof port) && port != 0) attacker(port, to_child[0]);
    ssize_t w = write(from_child[1], &g_stats, sizeof g_stats);
    (void)w;
    _exit(0);
  }
  close(to_child[0]);
  close(from_child[1]);

  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_Metric* m = NULL;
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_COUNTER, "srvtest_limits_scrapes", "Scrapes"));
  OK(INFERMETRICS_MetricNew(&m, f, NULL, 0));
  uint16_t port = 0;
  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &port);
  if (!s) {
    close(to_child[1]);
    waitpid(pid, NULL, 0);
    return TEST_SUMMARY();
  }
  free(SCRAPE("127.0.0.1", port));
  int threads0 = task_count(), fds0 = st_fd_count();
  long long rss0 = st_rss_kib();

  ssize_t w = write(to_child[1], &port, sizeof port);
  CHECK(w == (ssize_t)sizeof port);
  long long t_start = hc_now_ms();

  static long long lat[SCRAPES_MAX];
  int scrapes = 0, answered = 0, open_failures = 0, opens = 0, thread_changes = 0;
  int threads_min = threads0, threads_max = threads0, fds_max = fds0, first_open_errno = 0;
  int rc_counts[8] = {0};
  while (hc_now_ms() - t_start < ATTACK_MS && scrapes < SCRAPES_MAX) {
    long long t0 = hc_now_ms();
    /* the host opens files */
    int fds[50];
    for (int i = 0; i < 50; ++i) {
      fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
      ++opens;
      if (fds[i] < 0) {
        if (!first_open_errno) first_open_errno = errno;
        ++open_failures;
      }
    }
    for (int i = 0; i < 50; ++i)
      if (fds[i] >= 0) close(fds[i]);
    /* threads and descriptors */
    int t = task_count();
    if (t != threads0) ++thread_changes;
    if (t < threads_min) threads_min = t;
    if (t > threads_max) threads_max = t;
    int fdn = st_fd_count();
    if (fdn > fds_max) fds_max = fdn;
    /* a normal scrape */
    hc_response r;
    long long s0 = hc_now_ms();
    int rc = hc_get("127.0.0.1", port, "/metrics", &r, SCRAPE_LIMIT_MS);
    long long ms = hc_now_ms() - s0;
    int good = rc == HC_OK && r.status == 200 && ms < SCRAPE_LIMIT_MS &&
               strstr(r.body, "srvtest_limits_scrapes ") != NULL;
    if (rc == HC_OK) hc_response_free(&r);
    rc_counts[-rc < 8 && rc <= 0 ? -rc : 7]++;
    lat[scrapes++] = good ? ms : SCRAPE_LIMIT_MS;
    if (good) ++answered;
    OK(INFERMETRICS_MetricIncrement(m, 1));
    long long left = SCRAPE_EVERY_MS - (hc_now_ms() - t0);
    if (left > 0) st_sleep_ms(left);
  }

  /* stop the attacker and collect its numbers */
  close(to_child[1]);
  attack_stats st;
  memset(&st, 0, sizeof st);
  int got_stats = read_all(from_child[0], &st, sizeof st);
  close(from_child[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECKF(got_stats, "no numbers from the attacker process (exit status %d)", status);

  qsort(lat, (size_t)scrapes, sizeof lat[0], cmp_ll);
  double pct = scrapes ? 100.0 * answered / scrapes : 0;
  printf("attack %lld ms, attacker fd limit %d\n", hc_now_ms() - t_start, st.nofile);
  printf("  idle: %ld opened, %ld refused/reset before accept, %ld closed by the server, %ld still open at the end\n",
         st.idle_opened, st.idle_refused, st.idle_closed_by_server, st.idle_open_at_end);
  printf("  header drip: %ld connections, %ld closed by the server, %ld bytes dripped\n", st.head_connects,
         st.head_closed_by_server, st.head_bytes);
  printf("  body drip: %ld connections, %ld answered 200, %ld closed by the server, %ld body bytes dripped\n",
         st.body_connects, st.body_answered, st.body_closed_by_server, st.body_bytes);
  printf("  attacker socket()/connect() errors: %ld\n", st.socket_errors);
  printf("scrapes: %d of %d answered 200 within %d ms (%.1f %%); latency p50 %lld ms, p95 %lld ms, max %lld ms "
         "(failures counted as %d)\n",
         answered, scrapes, SCRAPE_LIMIT_MS, pct, scrapes ? lat[scrapes / 2] : -1,
         scrapes ? lat[scrapes * 95 / 100] : -1, scrapes ? lat[scrapes - 1] : -1, SCRAPE_LIMIT_MS);
  printf("  scrape results: ok %d, connect failed %d, timed out %d, closed %d, other %d\n", rc_counts[0],
         rc_counts[-HC_ECONNECT], rc_counts[-HC_ETIMEOUT], rc_counts[-HC_ECLOSED],
         scrapes - rc_counts[0] - rc_counts[-HC_ECONNECT] - rc_counts[-HC_ETIMEOUT] - rc_counts[-HC_ECLOSED]);
  printf("host: %d of %d open(\"/dev/null\") failed; threads %d before, %d..%d during (%d changes); fds %d before, "
         "at most %d during (cap %d); RSS %lld -> %ld KiB\n",
         open_failures, opens, threads0, threads_min, threads_max, thread_changes, fds0, fds_max, MAX_CONNECTIONS,
         rss0, st_rss_kib());

  CHECKF(open_failures == 0, "%d of %d open() calls failed during the attack (first errno: %s)", open_failures, opens,
         strerror(first_open_errno));
  CHECKF(thread_changes == 0, "the thread count changed during the attack: %d before, %d..%d", threads0, threads_min,
         threads_max);
  /* + the cap, + one connection in hand, + our own scrape socket (+ opendir's own fd is in both) */
  CHECKF(fds_max <= fds0 + MAX_CONNECTIONS + 2, "descriptors: %d before, %d during (cap %d)", fds0, fds_max,
         MAX_CONNECTIONS);
  CHECKF(pct >= 95.0, "only %.1f %% of scrapes answered 200 within %d ms (%d of %d)", pct, SCRAPE_LIMIT_MS, answered,
         scrapes);
  /* the attack really happened */
  CHECKF(got_stats && st.idle_opened >= IDLE / 2, "the attacker opened only %ld idle connections", st.idle_opened);
  CHECKF(got_stats && st.head_connects >= HEAD_DRIP && st.body_answered > 0,
         "the drippers did not run (%ld header-drip connections, %ld body answers)", st.head_connects,
         st.body_answered);

  /* afterwards: serves, and stops promptly */
  free(SCRAPE("127.0.0.1", port));
  long long ms = STOP_SERVER(s);
  CHECKF(ms < 1000, "ServerDelete after the attack took %lld ms", ms);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

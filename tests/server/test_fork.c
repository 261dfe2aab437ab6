/*
 * server_fork: a host that forks while a server runs (gunicorn --preload, uWSGI workers).
 * In the child:
 *   - the server's sockets (its listener and the connection it accepted) are closed at the
 *     fork: the only sockets left are the test's own client end;
 *   - deleting the inherited server returns at once (its threads exist only in the parent:
 *     nothing to join, nothing to signal);
 *   - a new server starts, serves and stops.
 * In the parent, while the child is still alive:
 *   - the server keeps serving the keep-alive connection opened before the fork;
 *   - ServerDelete frees the port (a plain socket binds it) and closes that connection
 *     promptly: the child holds neither.
 */
#include <sys/wait.h>

#include "server_test.h"

static int scrape_on(hc_conn* c, const char* what)
{
  hc_response r;
  int rc = hc_request(c, "GET", "/metrics", NULL, &r, 3000);
  CHECKF(rc == HC_OK && r.status == 200, "%s: %s, status %d", what, hc_strerror(rc), rc == HC_OK ? r.status : 0);
  if (rc == HC_OK) hc_response_free(&r);
  return rc == HC_OK;
}

static int child(INFERMETRICS_Server* inherited, int sockets_in_parent, int wait_fd)
{
  /* the parent's server-side sockets (listener, accepted connection) were closed at the fork */
  int n = st_socket_count();
  CHECKF(n == 1, "child: expected only the test's own client socket after the fork, found %d sockets (the parent "
         "had %d)", n, sockets_in_parent);
  long long ms = STOP_SERVER(inherited);
  CHECKF(ms < 200, "child: deleting the inherited server took %lld ms (it has no threads here: nothing to join)", ms);
  /* a server of the child's own works */
  uint16_t port = 0;
  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &port);
  if (s) {
    char* body = SCRAPE("127.0.0.1", port);
    CHECKF(body && strstr(body, "srvtest_fork "), "child: expected the registry in the child's own server");
    free(body);
    ms = STOP_SERVER(s);
    CHECKF(ms < 1000, "child: ServerDelete of its own server took %lld ms", ms);
  }
  /* stay alive until the parent has checked that we hold nothing of its server */
  char b;
  ssize_t r = read(wait_fd, &b, 1);
  (void)r;
  return st_failures ? 1 : 0;
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_Metric* m = NULL;
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "srvtest_fork", "Fork test gauge"));
  OK(INFERMETRICS_MetricNew(&m, f, NULL, 0));

  uint16_t port = st_free_port(0);
  st_server_cfg cfg = st_server_defaults();
  cfg.port = port;
  uint16_t got = 0;
  INFERMETRICS_Server* s = START_SERVER(cfg, &got);
  if (!s) return TEST_SUMMARY();
  hc_conn k;
  int rc = hc_connect(&k, "127.0.0.1", port, 3000);
  CHECKF(rc == HC_OK, "connect: %s", hc_strerror(rc));
  if (rc != HC_OK) return TEST_SUMMARY();
  scrape_on(&k, "before the fork");
  st_sleep_ms(50); /* the server has registered the accepted connection */
  int sockets = st_socket_count();
  CHECKF(sockets == 3, "expected 3 sockets before the fork (listener, accepted, client), found %d", sockets);

  int release[2];
  CHECK(pipe(release) == 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    CHECKF(0, "fork: %s", strerror(errno));
    return TEST_SUMMARY();
  }
  if (pid == 0) {
    close(release[1]);
    _exit(child(s, sockets, release[0]));
  }
  close(release[0]);

  /* the parent's server goes on serving the connection from before the fork */
  for (int i = 0; i < 3; ++i) scrape_on(&k, "after the fork");

  /* ServerDelete, with the child alive: the port is free and the connection closed */
  long long ms = STOP_SERVER(s);
  CHECKF(ms < 1000, "ServerDelete took %lld ms", ms);
  {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int bound = fd >= 0 && bind(fd, (struct sockaddr*)&a, sizeof a) == 0 && listen(fd, 1) == 0;
    CHECKF(bound, "after ServerDelete, with the forked child alive: port %u cannot be bound (%s): the child holds "
           "the listener", (unsigned)port, strerror(errno));
    if (fd >= 0) close(fd);
  }
  {
    long long t0 = hc_now_ms();
    int frc;
    while ((frc = hc_fill(&k, t0 + 2000)) == HC_OK) {
    }
    long long waited = hc_now_ms() - t0;
    CHECKF(frc == HC_ECLOSED && waited < 1000,
           "the keep-alive connection was not closed by ServerDelete within 1 s (%s after %lld ms): the child holds it",
           hc_strerror(frc), waited);
  }
  hc_close(&k);

  /* let the child finish */
  close(release[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d; see its messages above)", status);

  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

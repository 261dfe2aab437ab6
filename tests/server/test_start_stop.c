/*
 * server_start_stop: 50 x (ServerNew on one fixed port, scrape, ServerDelete). The port must
 * rebind every time (ServerDelete frees it), each ServerDelete must return well under a second
 * (a coarse "did not hang" guard), and afterwards threads, file descriptors and memory must be
 * back near where they started.
 */
#include "server_test.h"

enum { ROUNDS = 50 };

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  int threads0 = st_thread_count(), fds0 = st_fd_count();
  long rss_after_warmup = -1;
  CHECK(threads0 > 0 && fds0 > 0);

  uint16_t port = st_free_port(0);
  CHECK(port != 0);
  st_server_cfg cfg = st_server_defaults();
  cfg.port = port;
  cfg.interval_ms = 50;
  cfg.gpu = 1; /* every collector on (no NVML here: the GPU collector finds none and says so) */
  long long worst_delete = 0;
  int rounds_ok = 0;

  for (int i = 0; i < ROUNDS; ++i) {
    uint16_t got = 0;
    INFERMETRICS_Server* s = START_SERVER(cfg, &got);
    if (!s) {
      fprintf(stderr, "round %d: ServerNew on the fixed port %u failed (see above)\n", i, (unsigned)port);
      break;
    }
    CHECKF(got == port, "round %d: expected ServerPort %u, got %u", i, (unsigned)port, (unsigned)got);

    /* one scrape on a keep-alive connection that stays open across ServerDelete */
    hc_conn conn;
    hc_response r;
    int rc = hc_connect(&conn, "127.0.0.1", port, 5000);
    CHECKF(rc == HC_OK, "round %d: connect: %s", i, hc_strerror(rc));
    if (rc == HC_OK) {
      rc = hc_request(&conn, "GET", "/metrics", NULL, &r, 5000);
      CHECKF(rc == HC_OK && r.status == 200, "round %d: scrape: %s, status %d", i, hc_strerror(rc), r.status);
      if (rc == HC_OK) {
        CHECKF(strstr(r.body, "nv_cpu_utilization") != NULL, "round %d: expected nv_cpu_utilization in the body", i);
        hc_response_free(&r);
      }
    }
    /* and one on a fresh connection */
    char* body = SCRAPE("127.0.0.1", port);
    free(body);

    long long ms = STOP_SERVER(s);
    if (ms > worst_delete) worst_delete = ms;
    CHECKF(ms < 1000, "round %d: ServerDelete took %lld ms (expected well under a second)", i, ms);
    hc_close(&conn);
    ++rounds_ok;
    if (i == 4) rss_after_warmup = st_rss_kib();
  }
  CHECKF(rounds_ok == ROUNDS, "only %d of %d rounds rebound the fixed port %u", rounds_ok, ROUNDS, (unsigned)port);

  /* the port is free: nothing answers, and a plain socket can bind it */
  {
    hc_conn c;
    int rc = hc_connect(&c, "127.0.0.1", port, 2000);
    CHECKF(rc == HC_ECONNECT, "after the loop: expected 127.0.0.1:%u to refuse connections, got %s", (unsigned)port,
           hc_strerror(rc));
    if (rc == HC_OK) hc_close(&c);
  }

  int threads1 = st_thread_count(), fds1 = st_fd_count();
  long rss1 = st_rss_kib();
  printf("threads %d -> %d, fds %d -> %d, RSS after 5 rounds %ld KiB -> after %d rounds %ld KiB, slowest "
         "ServerDelete %lld ms\n",
         threads0, threads1, fds0, fds1, rss_after_warmup, ROUNDS, rss1, worst_delete);
  CHECKF(threads1 <= threads0 + 3, "thread leak: %d threads before %d start/stop rounds, %d after", threads0, ROUNDS,
         threads1);
  if (threads1 > threads0 + 3) {
    /* diagnostics for the report: which threads, and do they go away later? */
    st_print_threads();
    int later = threads1;
    for (int k = 0; k < 80 && later > threads0 + 3; ++k) {
      st_sleep_ms(100);
      later = st_thread_count();
    }
    fprintf(stderr, "%d threads 8 s after the last ServerDelete (they %s)\n", later,
            later > threads0 + 3 ? "stay: a permanent leak" : "linger after ServerDelete returns, unjoined");
  }
  CHECKF(fds1 <= fds0 + 3, "file descriptor leak: %d open before %d start/stop rounds, %d after", fds0, ROUNDS, fds1);
  /* coarse: 45 more rounds must not grow the RSS by more than 8 MiB */
  CHECKF(rss_after_warmup < 0 || rss1 < 0 || rss1 - rss_after_warmup < 8192,
         "memory growth: RSS %ld KiB after 5 rounds, %ld KiB after %d", rss_after_warmup, rss1, ROUNDS);
  return TEST_SUMMARY();
}

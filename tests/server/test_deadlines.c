/*
 * server_deadlines: the server's deadlines, measured from the client side (~62 s).
 *   A  connects and sends nothing                     -> closed 60 s after accept;
 *   B  sends a partial head, then a byte every 500 ms -> closed 10 s after its first byte;
 *   C  sends a partial head once, then nothing        -> closed 10 s after its first byte;
 *   D  completes a request, reads the answer, idles   -> closed 60 s after the answer;
 *   E  asks for a ~12 MB body and never reads it      -> closed 10 s after its last progress
 *                                                        (seen as its server-side socket going
 *                                                        away; then E, reading, gets a reset);
 * while scrapes on fresh connections keep working. Tolerance: the 250 ms sweep plus 750 ms.
 */
#include "server_test.h"

enum { SERIES = 20000, LABEL_LEN = 600, SLACK_MS = 1000 };

/* -1 while open; otherwise when (ms) the peer closed it. Discards what it reads. */
static int closed_now(hc_conn* c)
{
  char buf[4096];
  for (;;) {
    ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) continue;
    if (r == 0) return 1;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
  }
}

static void expect_close(const char* what, long long closed_at, long long from, long long after_ms)
{
  long long at = closed_at - from;
  CHECKF(closed_at > 0 && at >= after_ms - 300 && at <= after_ms + SLACK_MS,
         "%s: expected to be closed %lld ms after its start, got %s%lld ms", what, after_ms,
         closed_at > 0 ? "" : "still open after ", closed_at > 0 ? at : hc_now_ms() - from);
  printf("%-50s closed after %lld ms (deadline %lld ms)\n", what, closed_at > 0 ? at : -1, after_ms);
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  /* a ~12 MB body: more than the socket buffers hold, so E's response stalls */
  INFERMETRICS_MetricFamily* f = NULL;
  static INFERMETRICS_Metric* m[SERIES];
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "srvtest_deadlines", "Deadline test gauge"));
  static char label[LABEL_LEN + 16];
  for (int i = 0; i < SERIES; ++i) {
    int n = snprintf(label, sizeof label, "%d-", i);
    memset(label + n, 'x', LABEL_LEN);
    label[n + LABEL_LEN] = '\0';
    INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew("l", INFERMETRICS_PARAMETER_STRING, label);
    const INFERMETRICS_Parameter* labels[1] = {p};
    if (!OK(INFERMETRICS_MetricNew(&m[i], f, labels, 1))) return TEST_SUMMARY();
    INFERMETRICS_ParameterDelete(p);
  }
  uint16_t port = 0;
  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &port);
  if (!s) return TEST_SUMMARY();

  hc_conn a, b, c, d, e;
  int ok = hc_connect(&a, "127.0.0.1", port, 2000) == HC_OK && hc_connect(&b, "127.0.0.1", port, 2000) == HC_OK &&
           hc_connect(&c, "127.0.0.1", port, 2000) == HC_OK && hc_connect(&d, "127.0.0.1", port, 2000) == HC_OK &&
           hc_connect(&e, "127.0.0.1", port, 2000) == HC_OK;
  CHECK(ok);
  if (!ok) return TEST_SUMMARY();
  long long t0 = hc_now_ms();
  const char* partial = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  hc_send_all(b.fd, partial, strlen(partial), t0 + 1000);
  hc_send_all(c.fd, partial, strlen(partial), t0 + 1000);
  long long d_idle_from;
  {
    hc_response r;
    int rc = hc_request(&d, "GET", "/metrics", NULL, &r, 5000);
    CHECKF(rc == HC_OK && r.status == 200, "D: %s", hc_strerror(rc));
    if (rc == HC_OK) hc_response_free(&r);
    d_idle_from = hc_now_ms();
  }
  /* E asks and never reads */
  int rcvbuf = 4096;
  setsockopt(e.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  const char* req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  hc_send_all(e.fd, req, strlen(req), t0 + 1000);
  long long e_from = hc_now_ms();
  st_sleep_ms(1000); /* the server has written what the buffers take; E's response stalls */
  int sockets_busy = st_socket_count();

  long long a_closed = 0, b_closed = 0, c_closed = 0, d_closed = 0, e_gone = 0, next_drip = t0 + 500;
  int scrapes = 0, scrapes_ok = 0;
  long long next_scrape = t0;
  while (hc_now_ms() - t0 < 64000 && (!a_closed || !b_closed || !c_closed || !d_closed || !e_gone)) {
    long long now = hc_now_ms();
    if (!b_closed && now >= next_drip) {
      send(b.fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      next_drip += 500;
    }
    if (!a_closed && closed_now(&a)) a_closed = now;
    if (!b_closed && closed_now(&b)) b_closed = now;
    if (!c_closed && closed_now(&c)) c_closed = now;
    if (!d_closed && closed_now(&d)) d_closed = now;
    /* E's server-side socket: the only one of the five still open after 10 s but A and D */
    if (!e_gone && b_closed && c_closed && !a_closed && st_socket_count() <= sockets_busy - 3) e_gone = now;
    if (now >= next_scrape) {
      hc_response r;
      int rc = hc_get("127.0.0.1", port, "/metrics/", &r, 3000);
      ++scrapes;
      if (rc == HC_OK && r.status == 200) ++scrapes_ok;
      if (rc == HC_OK) hc_response_free(&r);
      next_scrape = now + 5000;
    }
    st_sleep_ms(50);
  }
  expect_close("A: silent since accept", a_closed, t0, 60000);
  expect_close("B: partial head, a byte every 500 ms", b_closed, t0, 10000);
  expect_close("C: partial head, then nothing", c_closed, t0, 10000);
  expect_close("D: idle after its answer", d_closed, d_idle_from, 60000);
  expect_close("E: response not read (server side gone)", e_gone, e_from, 10000);
  /* E: once it reads, it gets what was already delivered, then the reset */
  {
    long long deadline = hc_now_ms() + 5000;
    int frc;
    while ((frc = hc_fill(&e, deadline)) == HC_OK) {
      if (e.len > (1u << 20)) hc_consume(&e, e.len);
    }
    CHECKF(frc == HC_ECLOSED, "E: expected the connection to end once drained, got %s", hc_strerror(frc));
  }
  CHECKF(scrapes_ok == scrapes && scrapes > 0, "only %d of %d scrapes answered 200", scrapes_ok, scrapes);
  hc_close(&a);
  hc_close(&b);
  hc_close(&c);
  hc_close(&d);
  hc_close(&e);
  STOP_SERVER(s);
  for (int i = 0; i < SERIES; ++i) OK(INFERMETRICS_MetricDelete(m[i]));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

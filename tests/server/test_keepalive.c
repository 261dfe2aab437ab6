/*
 * server_keepalive: regression guard for the Nagle / delayed-ACK stall (headers and body
 * written separately with Nagle on: ~40 ms per keep-alive response). 50 scrapes over ONE
 * keep-alive connection must take well under a second in total (about 2 s with the bug).
 * Also: two servers in one process, on two ports, both serve (and are independent).
 */
#include "server_test.h"

enum { SCRAPES = 50, SERIES = 100 };

/* 50 scrapes over one connection; returns the total milliseconds, or -1 after a FAIL. */
static long long keepalive_run(const char* host, uint16_t port, const char* expect)
{
  hc_conn c;
  hc_response r;
  int rc = hc_connect(&c, host, port, 5000);
  CHECKF(rc == HC_OK, "connect %s:%u: %s", host, (unsigned)port, hc_strerror(rc));
  if (rc != HC_OK) return -1;
  long long t0 = hc_now_ms();
  int done = 0;
  for (int i = 0; i < SCRAPES; ++i) {
    rc = hc_request(&c, "GET", "/metrics", NULL, &r, 5000);
    if (rc != HC_OK || r.status != 200) {
      CHECKF(0, "keep-alive scrape %d of %d on %s:%u: %s, status %d (the connection must stay open)", i + 1, SCRAPES,
             host, (unsigned)port, hc_strerror(rc), rc == HC_OK ? r.status : 0);
      if (rc == HC_OK) hc_response_free(&r);
      break;
    }
    CHECKF(strstr(r.body, expect) != NULL, "keep-alive scrape %d: expected '%s' in the body", i + 1, expect);
    CHECKF(!r.closes, "keep-alive scrape %d: the server answered Connection: close", i + 1);
    hc_response_free(&r);
    ++done;
  }
  long long ms = hc_now_ms() - t0;
  hc_close(&c);
  CHECKF(done == SCRAPES, "only %d of %d keep-alive scrapes completed", done, SCRAPES);
  return done == SCRAPES ? ms : -1;
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);

  /* ~100 series: a small body, the case the delayed ACK hurts most */
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_Metric* m[SERIES] = {0};
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "srvtest_keepalive", "Keep-alive test gauge"));
  for (int i = 0; i < SERIES; ++i) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew("i", INFERMETRICS_PARAMETER_STRING, v);
    const INFERMETRICS_Parameter* labels[1] = {p};
    OK(INFERMETRICS_MetricNew(&m[i], f, labels, 1));
    OK(INFERMETRICS_MetricSet(m[i], i));
    INFERMETRICS_ParameterDelete(p);
  }

  uint16_t p1 = 0, p2 = 0;
  INFERMETRICS_Server* s1 = START_SERVER(st_server_defaults(), &p1);
  st_server_cfg cfg2 = st_server_defaults();
  cfg2.address = "::1";
  cfg2.cpu = 0; /* the second server is configured differently: no CPU series */
  INFERMETRICS_Server* s2 = START_SERVER(cfg2, &p2);
  CHECKF(!s1 || !s2 || p1 != p2, "two servers reported the same port %u", (unsigned)p1);

  if (s1) {
    long long ms = keepalive_run("127.0.0.1", p1, "srvtest_keepalive{i=\"99\"} 99");
    printf("%d keep-alive scrapes of %d series over one connection (IPv4): %lld ms\n", SCRAPES, SERIES, ms);
    CHECKF(ms >= 0 && ms < 1000,
           "%d keep-alive scrapes took %lld ms (expected well under 1 s; ~2 s means each response waits for a "
           "delayed ACK: TCP_NODELAY missing?)",
           SCRAPES, ms);
  }
  if (s2) {
    long long ms = keepalive_run("::1", p2, "srvtest_keepalive{i=\"0\"} 0");
    printf("%d keep-alive scrapes of %d series over one connection (IPv6): %lld ms\n", SCRAPES, SERIES, ms);
    CHECKF(ms >= 0 && ms < 1000, "%d keep-alive scrapes over ::1 took %lld ms (expected well under 1 s)", SCRAPES, ms);
  }

  /* both servers serve the registry; each its own collectors */
  if (s1 && s2) {
    char* b1 = SCRAPE("127.0.0.1", p1);
    char* b2 = SCRAPE("::1", p2);
    if (b1 && b2) {
      CHECK(strstr(b1, "srvtest_keepalive{i=\"42\"} 42") != NULL);
      CHECK(strstr(b2, "srvtest_keepalive{i=\"42\"} 42") != NULL);
      CHECKF(st_has_line_prefix(b1, "nv_cpu_utilization "), "server 1 (CPU on): expected nv_cpu_utilization");
      CHECKF(!st_has_sample_containing(b2, "nv_cpu_"), "server 2 (CPU off): expected no nv_cpu_* series");
    }
    free(b1);
    free(b2);
    /* deleting one leaves the other serving */
    STOP_SERVER(s1);
    s1 = NULL;
    b2 = SCRAPE("::1", p2);
    CHECKF(b2 && strstr(b2, "srvtest_keepalive{i=\"42\"} 42"), "server 2 stopped serving after server 1 was deleted");
    free(b2);
  }
  if (s1) STOP_SERVER(s1);
  if (s2) STOP_SERVER(s2);

  for (int i = 0; i < SERIES; ++i)
    if (m[i]) OK(INFERMETRICS_MetricDelete(m[i]));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

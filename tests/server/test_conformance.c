/*
 * server_conformance: HTTP/1.1 conformance of the metrics server (RFC 9112) over real sockets.
 * Each case sends raw bytes on a fresh connection and must be answered (or closed) within
 * 1 s - never left waiting for more bytes:
 *   - HTTP/1.1 without Host, or with two Host headers -> 400 (RFC 9112 3.2);
 *   - `Host : x` (space before the colon), a NUL in a header, two different Content-Lengths,
 *     `Content-Length: +5`, obsolete line folding -> 400;
 *   - bare-LF line endings -> answered at once (200 or 400);
 *   - HTTP/0.9 (`GET /metrics` CRLF) -> 400; HTTP/1.2 -> 400 (hyper's parser takes 1.0/1.1);
 *   - binary garbage (a TLS ClientHello) -> 400 and closed; an HTTP/2 preface -> closed
 *     (or 400 and closed);
 *   - Transfer-Encoding with Content-Length -> 400, or an answer and the connection closed;
 *   - a GET /metrics whose body never comes -> 200 at once, Connection: close, closed;
 *   - Content-Length over 64 KiB -> 413; a head over 16 KiB -> 431;
 *   - HTTP/1.0 without Host, absolute-form targets, pipelining -> served.
 */
#include "server_test.h"

#define CASE_LIMIT_MS 1000

static uint16_t g_port;

/* What came back for one case. */
typedef struct {
  int rc;          /* HC_OK: a response was read */
  int status;
  int closes;      /* the response said Connection: close */
  int closed;      /* the server closed the connection afterwards (within the limit) */
  long long ms;    /* until the response (or the close) */
  int more;        /* further responses ("HTTP/1." status lines) that came after the first */
  char head[512];
} outcome;

/* Sends `len` bytes on a fresh connection; reads one response and then whether the server
   closes the connection, each bounded by CASE_LIMIT_MS. */
static outcome exchange(const char* data, size_t len)
{
  outcome o;
  memset(&o, 0, sizeof o);
  hc_conn c;
  o.rc = hc_connect(&c, "127.0.0.1", g_port, CASE_LIMIT_MS);
  if (o.rc != HC_OK) return o;
  long long t0 = hc_now_ms();
  int src = hc_send_all(c.fd, data, len, t0 + CASE_LIMIT_MS);
  hc_response r;
  o.rc = hc_read_response(&c, 0, &r, CASE_LIMIT_MS);
  o.ms = hc_now_ms() - t0;
  if (o.rc == HC_OK) {
    o.status = r.status;
    o.closes = r.closes;
    snprintf(o.head, sizeof o.head, "%s", r.head);
    hc_response_free(&r);
    /* when it said so, does the server close it? */
    if (o.closes) {
      long long deadline = hc_now_ms() + CASE_LIMIT_MS;
      int frc;
      while ((frc = hc_fill(&c, deadline)) == HC_OK) {
      }
      o.closed = frc == HC_ECLOSED;
      /* what came after the first response (a smuggled request's answer would be here) */
      for (const char* at = c.buf; at && (at = strstr(at, "HTTP/1.")) != NULL; at += 7) ++o.more;
    }
  } else {
    o.closed = o.rc == HC_ECLOSED;
  }
  (void)src;
  hc_close(&c);
  return o;
}

static outcome exchange_str(const char* s) { return exchange(s, strlen(s)); }

static const char* rc_name(const outcome* o) { return o->rc == HC_OK ? "answered" : hc_strerror(o->rc); }

/* Must be answered `status` within the limit, and closed afterwards when `closed`. */
static void expect_status(const char* what, outcome o, int status, int closed)
{
  CHECKF(o.rc == HC_OK && o.status == status, "%s: expected %d within %d ms, got %s (status %d) after %lld ms", what,
         status, CASE_LIMIT_MS, rc_name(&o), o.status, o.ms);
  CHECKF(o.ms < CASE_LIMIT_MS, "%s: answered after %lld ms (limit %d)", what, o.ms, CASE_LIMIT_MS);
  if (closed && o.rc == HC_OK)
    CHECKF(o.closes && o.closed, "%s: expected Connection: close and the connection closed (said close: %d, closed: %d)",
           what, o.closes, o.closed);
  printf("%-44s -> %d in %lld ms%s\n", what, o.status, o.ms, o.closed ? ", closed" : "");
}

static void expect_400(const char* what, const char* req) { expect_status(what, exchange_str(req), 400, 1); }

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_Metric* m = NULL;
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "srvtest_conformance", "Conformance gauge"));
  OK(INFERMETRICS_MetricNew(&m, f, NULL, 0));
  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &g_port);
  if (!s) return TEST_SUMMARY();

  /* Host (RFC 9112 3.2) */
  expect_400("HTTP/1.1 without Host", "GET /metrics HTTP/1.1\r\n\r\n");
  expect_400("two Host headers", "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  expect_400("two Host headers, same value", "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
  expect_400("HTTP/1.0 with two Host headers", "GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
  expect_status("HTTP/1.0 without Host", exchange_str("GET /metrics HTTP/1.0\r\n\r\n"), 200, 1);

  /* malformed fields */
  expect_400("space before the colon (Host : x)", "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n");
  {
    static const char nul[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n";
    expect_status("NUL in a header value", exchange(nul, sizeof nul - 1), 400, 1);
  }
  expect_400("two different Content-Lengths",
             "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
  expect_400("Content-Length: +5", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello");
  expect_400("Content-Length: -1", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n");
  expect_400("obsolete line folding", "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n");

  /* line endings and versions: answered at once, never left waiting */
  {
    outcome o = exchange_str("GET /metrics HTTP/1.1\nHost: x\n\n");
    CHECKF(o.rc == HC_OK && (o.status == 200 || o.status == 400) && o.ms < CASE_LIMIT_MS,
           "bare LF: expected 200 or 400 within %d ms, got %s (status %d) after %lld ms", CASE_LIMIT_MS, rc_name(&o),
           o.status, o.ms);
    printf("%-44s -> %d in %lld ms\n", "bare LF line endings", o.status, o.ms);
  }
  expect_400("HTTP/0.9 (no version)", "GET /metrics\r\n");
  expect_400("HTTP/1.2", "GET /metrics HTTP/1.2\r\nHost: x\r\n\r\n");
  expect_400("HTTP/2.0 request line", "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n");
  expect_400("lowercase version", "GET /metrics http/1.1\r\nHost: x\r\n\r\n");

  /* binary garbage: a TLS 1.2 ClientHello record start */
  {
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
                                          0x5a, 0x1f, 0x00, 0x9c, 0x13, 0x02, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a};
    expect_status("TLS ClientHello", exchange((const char*)hello, sizeof hello), 400, 1);
  }
  /* an HTTP/2 connection preface: closed (hyper sends nothing), or 400 and closed */
  {
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    outcome o = exchange(preface, sizeof preface - 1);
    int good = (o.rc == HC_ECLOSED && o.ms < CASE_LIMIT_MS) || (o.rc == HC_OK && o.status == 400 && o.closed);
    CHECKF(good, "HTTP/2 preface: expected the connection closed (or 400 and closed) within %d ms, got %s (status %d) "
           "after %lld ms", CASE_LIMIT_MS, rc_name(&o), o.status, o.ms);
    printf("%-44s -> %s in %lld ms\n", "HTTP/2 preface", o.rc == HC_OK ? "400" : "closed", o.ms);
  }

  /* request smuggling shapes */
  {
    outcome o = exchange_str("POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                             "0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    /* either way the connection closes after that one response: the GET smuggled behind the
       chunked body is never answered (RFC 9112 6.1) */
    int good = o.rc == HC_OK && o.ms < CASE_LIMIT_MS && o.closes && o.closed && o.more == 0;
    CHECKF(good, "Transfer-Encoding with Content-Length: expected 400, or an answer, and the connection closed with "
           "nothing after it, within %d ms; got %s (status %d, close %d, closed %d, %d more responses) after %lld ms",
           CASE_LIMIT_MS, rc_name(&o), o.status, o.closes, o.closed, o.more, o.ms);
    printf("%-44s -> %d in %lld ms%s\n", "Transfer-Encoding + Content-Length", o.status, o.ms,
           o.closed ? ", closed" : "");
  }
  expect_400("Transfer-Encoding: gzip (not chunked last)",
             "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n");

  /* bodies are never waited for */
  expect_status("GET /metrics with a body that never comes",
                exchange_str("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\nab"), 200, 1);
  expect_status("POST with a chunked body that never ends",
                exchange_str("POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), 405, 1);
  expect_status("Content-Length over 64 KiB",
                exchange_str("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"), 413, 1);
  {
    size_t n = 20000;
    char* big = (char*)malloc(n + 64);
    int len = snprintf(big, 64, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + len, 'a', n);
    expect_status("a head over 16 KiB", exchange(big, (size_t)len + n), 431, 1);
    free(big);
  }

  /* served */
  {
    outcome o = exchange_str("GET http://127.0.0.1/metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    expect_status("absolute-form target", o, 200, 1);
  }
  {
    /* three pipelined requests in one write: three answers, in order, on one connection */
    hc_conn c;
    int rc = hc_connect(&c, "127.0.0.1", g_port, CASE_LIMIT_MS);
    CHECKF(rc == HC_OK, "pipelining: connect: %s", hc_strerror(rc));
    if (rc == HC_OK) {
      const char* req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
      long long t0 = hc_now_ms();
      hc_send_all(c.fd, req, strlen(req), t0 + CASE_LIMIT_MS);
      int want[3] = {200, 200, 404}, head_only[3] = {0, 1, 0};
      for (int i = 0; i < 3; ++i) {
        hc_response r;
        rc = hc_read_response(&c, head_only[i], &r, CASE_LIMIT_MS);
        CHECKF(rc == HC_OK && r.status == want[i], "pipelining: response %d: expected %d, got %s (status %d)", i + 1,
               want[i], hc_strerror(rc), rc == HC_OK ? r.status : 0);
        if (rc == HC_OK) {
          CHECKF(!r.closes, "pipelining: response %d closed the connection", i + 1);
          if (i == 0)
            CHECKF(strstr(r.body, "srvtest_conformance 0\n") != NULL, "pipelining: expected the gauge in the body");
          hc_response_free(&r);
        }
      }
      long long ms = hc_now_ms() - t0;
      CHECKF(ms < CASE_LIMIT_MS, "pipelining: three answers took %lld ms", ms);
      printf("%-44s -> 200, 200, 404 in %lld ms\n", "three pipelined requests", ms);
      hc_close(&c);
    }
  }
  /* a keep-alive connection that half-closes after its request still gets the answer */
  {
    hc_conn c;
    int rc = hc_connect(&c, "127.0.0.1", g_port, CASE_LIMIT_MS);
    if (rc == HC_OK) {
      const char* req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
      hc_send_all(c.fd, req, strlen(req), hc_now_ms() + CASE_LIMIT_MS);
      shutdown(c.fd, SHUT_WR);
      hc_response r;
      rc = hc_read_response(&c, 0, &r, CASE_LIMIT_MS);
      CHECKF(rc == HC_OK && r.status == 200, "half-closed client: expected 200, got %s", hc_strerror(rc));
      if (rc == HC_OK) hc_response_free(&r);
      hc_close(&c);
    }
  }

  /* after all that, a plain scrape works */
  free(SCRAPE("127.0.0.1", g_port));
  long long ms = STOP_SERVER(s);
  CHECKF(ms < 1000, "ServerDelete took %lld ms", ms);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

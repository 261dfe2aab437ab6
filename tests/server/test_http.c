/*
 * server_http: routes, methods, status codes, content type and body of the metrics server.
 * GET /metrics and /metrics/ -> 200 with the exact Prometheus content type and the registered
 * series; HEAD -> 200 without a body; other paths 404; other methods 405; query strings ignored;
 * several requests over one keep-alive connection.
 */
#include "server_test.h"

static const char* const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/* A registered counter and histogram with a label; checks they appear in `body`. */
static void check_custom_series(const char* body, const char* what)
{
  double v = -1;
  CHECKF(st_has_line_prefix(body, "# TYPE srvtest_http_requests counter"),
         "%s: expected '# TYPE srvtest_http_requests counter' in the body:\n%s", what, body);
  CHECKF(st_sample(body, "srvtest_http_requests{model=\"m1\"}", &v) && v == 7,
         "%s: expected the sample srvtest_http_requests{model=\"m1\"} 7, got %s (value %g)", what,
         st_sample(body, "srvtest_http_requests{model=\"m1\"}", NULL) ? "it" : "no such line", v);
  CHECKF(st_has_line_prefix(body, "# TYPE srvtest_http_latency histogram"),
         "%s: expected '# TYPE srvtest_http_latency histogram' in the body", what);
  v = -1;
  CHECKF(st_sample(body, "srvtest_http_latency_count{model=\"m1\"}", &v) && v == 2,
         "%s: expected srvtest_http_latency_count{model=\"m1\"} 2, got value %g", what, v);
  v = -1;
  CHECKF(st_sample(body, "srvtest_http_latency_sum{model=\"m1\"}", &v) && v == 2.5,
         "%s: expected srvtest_http_latency_sum{model=\"m1\"} 2.5, got value %g", what, v);
  v = -1;
  CHECKF(st_sample(body, "srvtest_http_latency_bucket{model=\"m1\",le=\"1\"}", &v) && v == 1,
         "%s: expected srvtest_http_latency_bucket{model=\"m1\",le=\"1\"} 1, got value %g", what, v);
  v = -1;
  CHECKF(st_sample(body, "srvtest_http_latency_bucket{model=\"m1\",le=\"+Inf\"}", &v) && v == 2,
         "%s: expected srvtest_http_latency_bucket{model=\"m1\",le=\"+Inf\"} 2, got value %g", what, v);
}

/* A one-shot request on a fresh connection; checks the status (and the body for 200s). */
static void expect_status(uint16_t port, const char* method, const char* path, int status)
{
  hc_response r;
  int rc = hc_get_method("127.0.0.1", port, method, path, &r, 5000);
  CHECKF(rc == HC_OK, "%s %s: %s", method, path, hc_strerror(rc));
  if (rc != HC_OK) return;
  CHECKF(r.status == status, "%s %s: expected status %d, got %d", method, path, status, r.status);
  char ct[256] = "";
  if (status == 200) {
    CHECKF(hc_header(&r, "Content-Type", ct, sizeof ct) && strcmp(ct, CONTENT_TYPE) == 0,
           "%s %s: expected Content-Type '%s', got '%s'", method, path, CONTENT_TYPE, ct);
    if (strcmp(method, "HEAD") == 0) {
      CHECKF(r.body_len == 0, "%s %s: expected no body, got %zu bytes", method, path, r.body_len);
    } else {
      char what[256];
      snprintf(what, sizeof what, "%s %s", method, path);
      check_custom_series(r.body, what);
    }
  } else if (status == 405) {
    char allow[256] = "";
    CHECKF(hc_header(&r, "Allow", allow, sizeof allow) && strstr(allow, "GET"),
           "%s %s: expected a 405 with an Allow header listing GET, got '%s'", method, path, allow);
  }
  hc_response_free(&r);
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);

  /* the custom series: a counter and a histogram, with a label */
  INFERMETRICS_MetricFamily *cf = NULL, *hf = NULL;
  INFERMETRICS_Metric *c = NULL, *h = NULL;
  INFERMETRICS_MetricArgs* args = NULL;
  const char* model = "m1";
  INFERMETRICS_Parameter* label = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, model);
  const INFERMETRICS_Parameter* labels[1] = {label};
  const double buckets[2] = {0.1, 1.0};
  CHECK(label != NULL);
  OK(INFERMETRICS_MetricFamilyNew(&cf, INFERMETRICS_METRIC_KIND_COUNTER, "srvtest_http_requests", "Requests seen"));
  OK(INFERMETRICS_MetricFamilyNew(&hf, INFERMETRICS_METRIC_KIND_HISTOGRAM, "srvtest_http_latency", "Latency"));
  OK(INFERMETRICS_MetricNew(&c, cf, labels, 1));
  OK(INFERMETRICS_MetricArgsNew(&args));
  OK(INFERMETRICS_MetricArgsSetHistogram(args, buckets, 2));
  OK(INFERMETRICS_MetricNewWithArgs(&h, hf, labels, 1, args));
  OK(INFERMETRICS_MetricIncrement(c, 7));
  OK(INFERMETRICS_MetricObserve(h, 0.5));
  OK(INFERMETRICS_MetricObserve(h, 2.0));

  uint16_t port = 0;
  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &port);
  if (!s) return TEST_SUMMARY();

  /* 200s with the exact content type and the custom series */
  expect_status(port, "GET", "/metrics", 200);
  expect_status(port, "GET", "/metrics/", 200);
  expect_status(port, "GET", "/metrics?x=1", 200);
  expect_status(port, "GET", "/metrics/?a=b&c=d", 200);
  expect_status(port, "HEAD", "/metrics", 200);
  expect_status(port, "HEAD", "/metrics/", 200);

  /* other paths */
  expect_status(port, "GET", "/other", 404);
  expect_status(port, "GET", "/", 404);
  expect_status(port, "GET", "/metricsx", 404);
  expect_status(port, "GET", "/metrics/x", 404);
  expect_status(port, "GET", "/other?metrics", 404);
  expect_status(port, "HEAD", "/other", 404);

  /* other methods */
  expect_status(port, "POST", "/metrics", 405);
  expect_status(port, "PUT", "/metrics", 405);
  expect_status(port, "DELETE", "/metrics", 405);
  expect_status(port, "PATCH", "/metrics", 405);
  expect_status(port, "OPTIONS", "/metrics", 405);

  /* one keep-alive connection: GET, HEAD (no body may follow it), 404, 405, GET */
  {
    hc_conn conn;
    hc_response r;
    int rc = hc_connect(&conn, "127.0.0.1", port, 5000);
    CHECKF(rc == HC_OK, "connect: %s", hc_strerror(rc));
    if (rc == HC_OK) {
      rc = hc_request(&conn, "GET", "/metrics", NULL, &r, 5000);
      CHECKF(rc == HC_OK && r.status == 200, "keep-alive GET #1: rc=%s status=%d", hc_strerror(rc), r.status);
      if (rc == HC_OK) {
        CHECKF(!r.closes, "keep-alive GET #1: the server asked to close the connection:\n%s", r.head);
        check_custom_series(r.body, "keep-alive GET #1");
        hc_response_free(&r);
      }
      rc = hc_request(&conn, "HEAD", "/metrics", NULL, &r, 5000);
      CHECKF(rc == HC_OK && r.status == 200, "keep-alive HEAD: rc=%s status=%d", hc_strerror(rc), r.status);
      if (rc == HC_OK) {
        char ct[256] = "";
        CHECKF(hc_header(&r, "Content-Type", ct, sizeof ct) && strcmp(ct, CONTENT_TYPE) == 0,
               "keep-alive HEAD: expected Content-Type '%s', got '%s'", CONTENT_TYPE, ct);
        hc_response_free(&r);
      }
      /* a HEAD answer carries no body: nothing more may arrive */
      CHECKF(!hc_pending(&conn, 200), "keep-alive HEAD: %zu unexpected bytes followed the response head: %.80s",
             conn.len, conn.buf ? conn.buf : "(readable)");
      rc = hc_request(&conn, "GET", "/nope", NULL, &r, 5000);
      CHECKF(rc == HC_OK && r.status == 404, "keep-alive GET /nope: rc=%s status=%d", hc_strerror(rc), r.status);
      if (rc == HC_OK) hc_response_free(&r);
      rc = hc_request(&conn, "POST", "/metrics", "Content-Length: 0\r\n", &r, 5000);
      CHECKF(rc == HC_OK && r.status == 405, "keep-alive POST: rc=%s status=%d", hc_strerror(rc), r.status);
      if (rc == HC_OK) hc_response_free(&r);
      rc = hc_request(&conn, "GET", "/metrics/", NULL, &r, 5000);
      CHECKF(rc == HC_OK && r.status == 200, "keep-alive GET #2: rc=%s status=%d", hc_strerror(rc), r.status);
      if (rc == HC_OK) {
        check_custom_series(r.body, "keep-alive GET #2");
        hc_response_free(&r);
      }
      hc_close(&conn);
    }
  }

  /* a value recorded after the server started is served by the next scrape */
  OK(INFERMETRICS_MetricIncrement(c, 3));
  char* body = SCRAPE("127.0.0.1", port);
  if (body) {
    double v = -1;
    CHECKF(st_sample(body, "srvtest_http_requests{model=\"m1\"}", &v) && v == 10,
           "after +3: expected srvtest_http_requests{model=\"m1\"} 10, got %g", v);
    free(body);
  }

  STOP_SERVER(s);
  OK(INFERMETRICS_MetricDelete(c));
  OK(INFERMETRICS_MetricDelete(h));
  OK(INFERMETRICS_MetricArgsDelete(args));
  OK(INFERMETRICS_MetricFamilyDelete(cf));
  OK(INFERMETRICS_MetricFamilyDelete(hf));
  INFERMETRICS_ParameterDelete(label);
  return TEST_SUMMARY();
}

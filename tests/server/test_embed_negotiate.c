/*
 * server_embed_negotiate: INFERMETRICS_MetricsNegotiate's RFC 9110 behaviour (the choice the
 * server itself makes) and the OpenMetrics body's `# EOF` through INFERMETRICS_MetricsRender.
 */
#include "server_test.h"

static void expect(const char* accept, const char* accept_encoding, bool openmetrics, INFERMETRICS_MetricFormat want_f,
                   bool want_gz)
{
  INFERMETRICS_MetricFormat f = (INFERMETRICS_MetricFormat)9;
  bool gz = !want_gz;
  if (!OK(INFERMETRICS_MetricsNegotiate(accept, accept_encoding, openmetrics, &f, &gz))) return;
  CHECKF(f == want_f && gz == want_gz,
         "Accept: %s / Accept-Encoding: %s / openmetrics %d: got format %d gzip %d, expected %d %d",
         accept ? accept : "(none)", accept_encoding ? accept_encoding : "(none)", (int)openmetrics, (int)f, (int)gz,
         (int)want_f, (int)want_gz);
}

#define PROM INFERMETRICS_METRIC_PROMETHEUS
#define OM INFERMETRICS_METRIC_OPENMETRICS
/* what Prometheus 2.42 sends */
#define PROMETHEUS_ACCEPT                                                                                      \
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;" \
  "version=0.0.4;q=0.5,*/*;q=0.1"

int main(void)
{
  /* Accept-Encoding */
  expect(NULL, "gzip", false, PROM, true);
  expect(NULL, "GZIP", false, PROM, true);
  expect(NULL, "gzip;q=0", false, PROM, false);
  expect(NULL, "gzip; q=0.000", false, PROM, false);
  expect(NULL, "*", false, PROM, true);
  expect(NULL, "*;q=0", false, PROM, false);
  expect(NULL, "gzip;q=0, *", false, PROM, false);
  expect(NULL, "identity", false, PROM, false);
  expect(NULL, "deflate, gzip;q=0.5", false, PROM, true);
  expect(NULL, "", false, PROM, false);
  /* Accept */
  expect("application/openmetrics-text; version=1.0.0", NULL, true, OM, false);
  expect("application/openmetrics-text", NULL, true, OM, false);
  expect("application/openmetrics-text; version=1.0.0", NULL, false, PROM, false);
  expect("application/openmetrics-text;q=0, text/plain", NULL, true, PROM, false);
  expect("text/plain;version=0.0.4", NULL, true, PROM, false);
  expect("text/plain;version=0.0.4, application/openmetrics-text;q=0.5", NULL, true, PROM, false);
  /* both at once, as Prometheus asks */
  expect(PROMETHEUS_ACCEPT, "gzip", true, OM, true);
  expect(PROMETHEUS_ACCEPT, "gzip", false, PROM, true);

  /* the OpenMetrics body ends with # EOF */
  INFERMETRICS_Metrics* m = NULL;
  OK(INFERMETRICS_ServerMetrics(NULL, &m));
  const void* body = NULL;
  size_t size = 0;
  const char* type = NULL;
  if (OK(INFERMETRICS_MetricsRender(m, OM, false, &body, &size, &type))) {
    const char* text = (const char*)body;
    CHECKF(size >= 6 && strcmp(text + size - 6, "# EOF\n") == 0, "OpenMetrics body does not end with # EOF:\n%s",
           text);
  }
  OK(INFERMETRICS_MetricsDelete(m));
  return TEST_SUMMARY();
}

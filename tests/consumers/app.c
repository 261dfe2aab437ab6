/* Consumer program (C11, include/infermetrics.h), built by all three consumer projects, shared
 * and static. The part between the [snippet] markers is copied verbatim into
 * docs/cmake-cpp-python.md (tests/consumers/check_snippets.sh keeps them in sync). */
#include "http_get.h" /* first: it sets _POSIX_C_SOURCE */

#include <stdlib.h>
#include <string.h>

/* [snippet c] */
#include <infermetrics.h>
#include <stdio.h>

/* Prints and frees an error; returns 1 if there was one. */
static int failed(INFERMETRICS_Error* err) {
  if (err == NULL) return 0;
  fprintf(stderr, "infermetrics: %s: %s\n", INFERMETRICS_ErrorCodeString(err), INFERMETRICS_ErrorMessage(err));
  INFERMETRICS_ErrorDelete(err);
  return 1;
}

static int record(INFERMETRICS_MetricFamily** family, INFERMETRICS_Metric** metric) {
  INFERMETRICS_Parameter* model = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "resnet");
  const INFERMETRICS_Parameter* labels[] = {model};
  int bad = failed(INFERMETRICS_MetricFamilyNew(family, INFERMETRICS_METRIC_KIND_COUNTER,
                                                "app_c_requests_total", "Requests handled")) ||
            failed(INFERMETRICS_MetricNew(metric, *family, labels, 1)) ||
            failed(INFERMETRICS_MetricIncrement(*metric, 1));
  INFERMETRICS_ParameterDelete(model); /* labels may go once the metric exists */
  return bad;
}
/* [/snippet] */

static int expect(const char* text, const char* needle, const char* where) {
  if (strstr(text, needle) != NULL) return 0;
  fprintf(stderr, "FAILED (%s): expected to find \"%s\" in:\n%s\n", where, needle, text);
  return 1;
}

int main(void) {
  INFERMETRICS_MetricFamily* family = NULL;
  INFERMETRICS_Metric* metric = NULL;
  INFERMETRICS_ServerOptions* options = NULL;
  INFERMETRICS_Server* server = NULL;
  INFERMETRICS_Metrics* metrics = NULL;
  const char* base = NULL;
  size_t size = 0;
  uint16_t port = 0;
  int failures = 0;
  char* text;
  char* response;
  long n;

  if (record(&family, &metric)) return 1;

  /* The registry's text. */
  if (failed(INFERMETRICS_ServerMetrics(NULL, &metrics)) ||
      failed(INFERMETRICS_MetricsFormatted(metrics, INFERMETRICS_METRIC_PROMETHEUS, &base, &size)))
    return 1;
  text = malloc(size + 1);
  if (text == NULL) return 1;
  memcpy(text, base, size);
  text[size] = '\0';
  failed(INFERMETRICS_MetricsDelete(metrics));
  failures += expect(text, "# TYPE app_c_requests_total counter\n", "snapshot");
  failures += expect(text, "app_c_requests_total{model=\"resnet\"} 1\n", "snapshot");
  free(text);

  /* Served over HTTP on a free port. */
  if (failed(INFERMETRICS_ServerOptionsNew(&options)) ||
      failed(INFERMETRICS_ServerOptionsSetAddress(options, "127.0.0.1")) ||
      failed(INFERMETRICS_ServerOptionsSetPort(options, 0)) ||
      failed(INFERMETRICS_ServerOptionsSetGpuMetrics(options, false)) ||
      failed(INFERMETRICS_ServerNew(&server, options)) || failed(INFERMETRICS_ServerPort(server, &port)))
    return 1;
  response = malloc(1 << 20);
  if (response == NULL) return 1;
  n = im_http_get(port, "/metrics", response, 1 << 20);
  if (n <= 0) {
    fprintf(stderr, "FAILED: GET http://127.0.0.1:%u/metrics gave no response\n", (unsigned)port);
    failures++;
  } else {
    failures += expect(response, "HTTP/1.1 200", "GET /metrics");
    failures += expect(response, "app_c_requests_total{model=\"resnet\"} 1\n", "GET /metrics");
  }
  free(response);

  if (failed(INFERMETRICS_ServerDelete(server)) || failed(INFERMETRICS_ServerOptionsDelete(options)) ||
      failed(INFERMETRICS_MetricDelete(metric)) || failed(INFERMETRICS_MetricFamilyDelete(family)))
    failures++;
  if (failures != 0) return 1;
  printf("consumer app (C): OK\n");
  return 0;
}

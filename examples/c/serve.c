/*
 * serve.c: a C "backend" that serves its metrics to Prometheus, the way Triton's port 8002 does.
 *
 * It creates a metrics server, registers a request counter and a latency histogram, records
 * synthetic traffic, reports a pinned-memory pool, and prints the URL to scrape.
 *
 *   serve [--port N] [--address A] [--interval-ms N] [--duration-ms N]
 *
 * --port 0 picks a free port. --duration-ms 0 (the default) runs until Ctrl-C.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infermetrics.h"

/* Every call returns NULL on success or an error the caller owns: print it and stop. */
#define CHECK(call)                                                                       \
  do {                                                                                    \
    INFERMETRICS_Error* err_ = (call);                                                    \
    if (err_ != NULL) {                                                                   \
      fprintf(stderr, "serve: %s failed: %s: %s\n", #call, INFERMETRICS_ErrorCodeString(err_), \
              INFERMETRICS_ErrorMessage(err_));                                           \
      INFERMETRICS_ErrorDelete(err_);                                                     \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One labelled series: labels are STRING parameters, copied by MetricNew. */
static INFERMETRICS_Metric* new_series(INFERMETRICS_MetricFamily* family, const char* model,
                                       const INFERMETRICS_MetricArgs* args) {
  INFERMETRICS_Parameter* labels[2] = {
      INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, model),
      INFERMETRICS_ParameterNew("version", INFERMETRICS_PARAMETER_STRING, "1"),
  };
  INFERMETRICS_Metric* metric = NULL;
  CHECK(INFERMETRICS_MetricNewWithArgs(&metric, family, (const INFERMETRICS_Parameter**)labels, 2, args));
  INFERMETRICS_ParameterDelete(labels[0]);
  INFERMETRICS_ParameterDelete(labels[1]);
  return metric;
}

int main(int argc, char** argv) {
  long port = 8002, interval_ms = 2000, duration_ms = 0;
  const char* address = "0.0.0.0";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port") == 0) port = strtol(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--address") == 0) address = argv[i + 1];
    else if (strcmp(argv[i], "--interval-ms") == 0) interval_ms = strtol(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--duration-ms") == 0) duration_ms = strtol(argv[i + 1], NULL, 10);
    else { fprintf(stderr, "serve: unknown option %s\n", argv[i]); return 2; }
  }
  if (port < 0 || port > 65535) { fprintf(stderr, "serve: bad port %ld\n", port); return 2; }

  /* 1. The server: binds before ServerNew returns; collectors run on its own threads. */
  INFERMETRICS_ServerOptions* options = NULL;
  CHECK(INFERMETRICS_ServerOptionsNew(&options)); /* reads INFERMETRICS_PORT etc. too */
  CHECK(INFERMETRICS_ServerOptionsSetAddress(options, address));
  CHECK(INFERMETRICS_ServerOptionsSetPort(options, (uint16_t)port));
  CHECK(INFERMETRICS_ServerOptionsSetMetricsInterval(options, (uint64_t)interval_ms));
  INFERMETRICS_Server* server = NULL;
  CHECK(INFERMETRICS_ServerNew(&server, options));
  CHECK(INFERMETRICS_ServerOptionsDelete(options));
  uint16_t bound = 0;
  CHECK(INFERMETRICS_ServerPort(server, &bound));

  /* 2. The backend's own metrics: a counter and a latency histogram per model. */
  INFERMETRICS_MetricFamily* requests = NULL;
  CHECK(INFERMETRICS_MetricFamilyNew(&requests, INFERMETRICS_METRIC_KIND_COUNTER,
                                     "demo_requests_total", "Inference requests handled"));
  INFERMETRICS_MetricFamily* latency = NULL;
  CHECK(INFERMETRICS_MetricFamilyNew(&latency, INFERMETRICS_METRIC_KIND_HISTOGRAM,
                                     "demo_request_duration_seconds", "Inference request latency"));
  const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
  INFERMETRICS_MetricArgs* args = NULL;
  CHECK(INFERMETRICS_MetricArgsNew(&args));
  CHECK(INFERMETRICS_MetricArgsSetHistogram(args, buckets, sizeof buckets / sizeof buckets[0]));
  INFERMETRICS_Metric* count = new_series(requests, "resnet50", NULL);
  INFERMETRICS_Metric* lat = new_series(latency, "resnet50", args);
  CHECK(INFERMETRICS_MetricArgsDelete(args)); /* args are not retained */

  const char* shown = strcmp(address, "0.0.0.0") == 0 || strcmp(address, "::") == 0 ? "127.0.0.1" : address;
  printf("serving metrics at http://%s:%u/metrics\n", shown, (unsigned)bound);
  fflush(stdout);

  /* 3. Synthetic traffic: the hot path is one call per value, lock-free. */
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  const uint64_t pool = 256u << 20; /* Triton's default pinned pool: 256 MiB */
  double start = now_ms();
  unsigned long n = 0;
  while (!stop_requested && (duration_ms == 0 || now_ms() - start < duration_ms)) {
    CHECK(INFERMETRICS_MetricIncrement(count, 1));
    CHECK(INFERMETRICS_MetricObserve(lat, 0.002 + (double)(n % 97) / 400.0));
    CHECK(INFERMETRICS_PinnedMemoryPoolReport(pool, (n % 5) * (64u << 20)));
    n++;
    struct timespec pause = {0, 10 * 1000 * 1000}; /* ~100 requests/s */
    nanosleep(&pause, NULL);
  }

  /* 4. Clean up: metrics before their families; the server stops and joins its threads. */
  CHECK(INFERMETRICS_MetricDelete(count));
  CHECK(INFERMETRICS_MetricDelete(lat));
  CHECK(INFERMETRICS_MetricFamilyDelete(requests));
  CHECK(INFERMETRICS_MetricFamilyDelete(latency));
  CHECK(INFERMETRICS_ServerDelete(server));
  printf("served %lu synthetic requests\n", n);
  return 0;
}

/*
 * serve_triton: a small non-Triton inference server's metrics, for the Prometheus and Grafana
 * tests of issue 13 (triton_prometheus.sh). It serves on 127.0.0.1, port 0, prints "PORT <n>",
 * and until stdin closes (or SECONDS pass) "handles" traffic through an INFERMETRICS_ModelReporter
 * with known timestamps, every 100 ms:
 *   - 9 requests of 1500 us and 1 of 8000 us (model "resnet", version "1", batch 1 each), all
 *     queued 100 us and computing 800 us (7300 us for the slow one);
 *   - one execution (ReportBatch), one CANCELED failure, pending count +2 then -2.
 * So: nv_inference_request_success grows by 100/s; with histogram buckets 1000, 2000, 5000,
 * 10000 us, 90 % of request durations are in (1000, 2000] and 10 % in (5000, 10000], so
 * histogram_quantile(0.99) = 5000 + (0.99-0.9)/0.1 * 5000 = 9500 and histogram_quantile(0.5) =
 * 1000 + 0.5/0.9 * 1000 = 1555.6; the request summary's 0.5 quantile is 1500 and its 0.99
 * quantile 8000. Metrics config: histogram_latencies=true;summary_latencies=true;
 * summary_quantiles=0.5:0.05,0.95:0.001,0.99:0.001. GPU metrics come from NVML (the test points
 * INFERMETRICS_NVML_LIBRARY at tests/fake_nvml), CPU metrics from /proc.
 *
 *   serve_triton [SECONDS]      serve until stdin closes or SECONDS pass (default 60)
 *   serve_triton --free-port    print a TCP port free on 127.0.0.1 now, and exit
 */
#include "server_test.h"

static void fatal(const char* what, INFERMETRICS_Error* e)
{
  fprintf(stderr, "serve_triton: %s: %s\n", what, e ? INFERMETRICS_ErrorMessage(e) : "failed");
  exit(1);
}
#define MUST(call)                   \
  do {                               \
    INFERMETRICS_Error* e_ = (call); \
    if (e_) fatal(#call, e_);        \
  } while (0)

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A request that ends now and took `total_us`, of which `compute_us` computing. */
static void one_request(INFERMETRICS_ModelReporter* r, uint64_t total_us, uint64_t compute_us)
{
  uint64_t end = now_ns();
  uint64_t start = end - total_us * 1000;
  uint64_t queue = start + 100000;   /* 100 us after arrival */
  uint64_t exec = queue + 100000;    /* queued 100 us */
  uint64_t cstart = exec + 100000;   /* inputs 100 us */
  uint64_t cend = cstart + compute_us * 1000;
  uint64_t eend = cend + 100000;     /* outputs 100 us */
  MUST(INFERMETRICS_ModelReporterReportRequest(r, true, NULL, 1, start, queue, exec, cstart, cend, eend, end));
}

int main(int argc, char** argv)
{
  int seconds;
  if (argc > 1 && strcmp(argv[1], "--free-port") == 0) {
    uint16_t fp = st_free_port(0);
    if (!fp) return 1;
    printf("%u\n", (unsigned)fp);
    return 0;
  }
  seconds = argc > 1 ? atoi(argv[1]) : 60;
  static const double buckets[4] = {1000, 2000, 5000, 10000};
  INFERMETRICS_ModelReporter* r = NULL;
  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* s = NULL;
  uint16_t port = 0;
  long long deadline;
  if (seconds <= 0) seconds = 60;

  MUST(INFERMETRICS_SetMetricsConfig(
      "histogram_latencies=true;summary_latencies=true;summary_quantiles=0.5:0.05,0.95:0.001,0.99:0.001"));
  MUST(INFERMETRICS_ModelReporterNew(&r, "resnet", "1", NULL, 0));
  MUST(INFERMETRICS_ModelReporterSetHistogramBuckets(r, "nv_inference_request_duration_histogram_us", buckets, 4));
  MUST(INFERMETRICS_PinnedMemoryPoolReport(268435456, 0));

  MUST(INFERMETRICS_ServerOptionsNew(&o));
  MUST(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  MUST(INFERMETRICS_ServerOptionsSetPort(o, 0));
  MUST(INFERMETRICS_ServerOptionsSetMetricsInterval(o, 500));
  MUST(INFERMETRICS_ServerNew(&s, o));
  MUST(INFERMETRICS_ServerOptionsDelete(o));
  MUST(INFERMETRICS_ServerPort(s, &port));
  printf("PORT %u\n", (unsigned)port);
  fflush(stdout);

  deadline = hc_now_ms() + (long long)seconds * 1000;
  long long next = hc_now_ms();
  for (;;) {
    int i;
    struct pollfd p = {0, POLLIN, 0};
    int n;
    long long wait;
    MUST(INFERMETRICS_ModelReporterPendingAdd(r, 2));
    for (i = 0; i < 9; ++i) one_request(r, 1500, 800);
    one_request(r, 8000, 7300);
    {
      uint64_t t = now_ns();
      MUST(INFERMETRICS_ModelReporterReportBatch(r, 10, t - 9000000, t - 8000000, t - 1000000, t - 500000));
      MUST(INFERMETRICS_ModelReporterReportRequest(r, false, "CANCELED", 1, t - 1000, 0, 0, 0, 0, 0, t));
    }
    MUST(INFERMETRICS_ModelReporterPendingAdd(r, -2));
    if (hc_now_ms() >= deadline) break;
    next += 100; /* ticks on a fixed schedule: exactly 10 per second on average */
    wait = next - hc_now_ms();
    n = poll(&p, 1, wait > 0 ? (int)wait : 0);
    if (n > 0) {
      char buf[256];
      ssize_t got = read(0, buf, sizeof buf);
      if (got <= 0) break; /* EOF: the test is done */
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  MUST(INFERMETRICS_ServerDelete(s));
  MUST(INFERMETRICS_ModelReporterDelete(r));
  return 0;
}

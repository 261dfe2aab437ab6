/*
 * serve_fixture: a metrics server for the promtool / Prometheus tests.
 *
 *   serve_fixture [SECONDS]     serve on 127.0.0.1, port 0; print "PORT <n>" on stdout; stay up
 *                               until stdin closes (EOF) or SECONDS pass (default 60)
 *   serve_fixture --free-port   print a TCP port that is free on 127.0.0.1 now, and exit
 *
 * Registered series (values fixed, so a test can check them):
 *   fixture_requests{model="a\"b\\c\nd",version="1"} 42           counter (label needs escaping)
 *   fixture_queue_size{model="plain"} 17                           gauge
 *   fixture_queue_size{model="x\\y"} -2.5                          gauge
 *   fixture_latency_seconds{model="a\"b\\c\nd"} buckets 0.1, 1     histogram: 0.05, 0.5, 3 observed
 *   fixture_help_escapes_total 1   counter whose HELP has a backslash and a newline
 * plus the server's CPU and pinned-memory collector series (GPU off; the environment can switch
 * collectors on, e.g. INFERMETRICS_COLLECTORS=all, as it wins over code).
 *
 * With FIXTURE_TRAFFIC_MS=N (N > 0), also a histogram that keeps moving, for the dashboard test
 * (deploy_promql.sh): every N ms one observation of
 *   fixture_work_seconds{model="traffic"}  buckets 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1
 * in a cycle of ten: nine of 0.007 s, one of 0.3 s. So over any window of whole cycles 90 % of
 * the observations fall in (0.005, 0.01] and 10 % in (0.25, 0.5]: histogram_quantile(0.5) =
 * 0.005 + 0.5/0.9 * 0.005 = 0.00778 and histogram_quantile(0.99) = 0.25 + 0.09/0.1 * 0.25 = 0.475.
 */
#include "server_test.h"

static void fatal(const char* what, INFERMETRICS_Error* e)
{
  fprintf(stderr, "serve_fixture: %s: %s\n", what, e ? INFERMETRICS_ErrorMessage(e) : "failed");
  exit(1);
}
#define MUST(call)                          \
  do {                                      \
    INFERMETRICS_Error* e_ = (call);        \
    if (e_) fatal(#call, e_);               \
  } while (0)

int main(int argc, char** argv)
{
  if (argc > 1 && strcmp(argv[1], "--free-port") == 0) {
    uint16_t p = st_free_port(0);
    if (!p) return 1;
    printf("%u\n", (unsigned)p);
    return 0;
  }
  int seconds = argc > 1 ? atoi(argv[1]) : 60;
  if (seconds <= 0) seconds = 60;

  /* label values that need escaping in the text format: a quote, a backslash, a newline */
  const char* tricky = "a\"b\\c\nd";
  const char* version = "1";
  INFERMETRICS_Parameter* l_model = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, tricky);
  INFERMETRICS_Parameter* l_version = INFERMETRICS_ParameterNew("version", INFERMETRICS_PARAMETER_STRING, version);
  INFERMETRICS_Parameter* l_plain = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "plain");
  INFERMETRICS_Parameter* l_bs = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "x\\y");
  if (!l_model || !l_version || !l_plain || !l_bs) fatal("ParameterNew", NULL);
  const INFERMETRICS_Parameter* two[2] = {l_model, l_version};
  const INFERMETRICS_Parameter* one_tricky[1] = {l_model};
  const INFERMETRICS_Parameter* one_plain[1] = {l_plain};
  const INFERMETRICS_Parameter* one_bs[1] = {l_bs};

  INFERMETRICS_MetricFamily *fc = NULL, *fg = NULL, *fh = NULL, *fe = NULL;
  INFERMETRICS_Metric *c = NULL, *g1 = NULL, *g2 = NULL, *h = NULL, *e = NULL;
  INFERMETRICS_MetricArgs* args = NULL;
  const double buckets[2] = {0.1, 1.0};
  MUST(INFERMETRICS_MetricFamilyNew(&fc, INFERMETRICS_METRIC_KIND_COUNTER, "fixture_requests",
                                    "Requests handled, per model"));
  MUST(INFERMETRICS_MetricFamilyNew(&fg, INFERMETRICS_METRIC_KIND_GAUGE, "fixture_queue_size", "Queued requests"));
  MUST(INFERMETRICS_MetricFamilyNew(&fh, INFERMETRICS_METRIC_KIND_HISTOGRAM, "fixture_latency_seconds",
                                    "Request latency, in seconds"));
  MUST(INFERMETRICS_MetricFamilyNew(&fe, INFERMETRICS_METRIC_KIND_COUNTER, "fixture_help_escapes_total",
                                    "HELP with a backslash \\ and a\nnewline"));
  MUST(INFERMETRICS_MetricNew(&c, fc, two, 2));
  MUST(INFERMETRICS_MetricNew(&g1, fg, one_plain, 1));
  MUST(INFERMETRICS_MetricNew(&g2, fg, one_bs, 1));
  MUST(INFERMETRICS_MetricArgsNew(&args));
  MUST(INFERMETRICS_MetricArgsSetHistogram(args, buckets, 2));
  MUST(INFERMETRICS_MetricNewWithArgs(&h, fh, one_tricky, 1, args));
  MUST(INFERMETRICS_MetricNew(&e, fe, NULL, 0));
  MUST(INFERMETRICS_MetricIncrement(c, 42));
  MUST(INFERMETRICS_MetricSet(g1, 17));
  MUST(INFERMETRICS_MetricSet(g2, -2.5));
  MUST(INFERMETRICS_MetricObserve(h, 0.05));
  MUST(INFERMETRICS_MetricObserve(h, 0.5));
  MUST(INFERMETRICS_MetricObserve(h, 3));
  MUST(INFERMETRICS_MetricIncrement(e, 1));
  MUST(INFERMETRICS_PinnedMemoryPoolReport(1 << 20, 1 << 10));

  const char* traffic_env = getenv("FIXTURE_TRAFFIC_MS");
  int traffic_ms = traffic_env ? atoi(traffic_env) : 0;
  INFERMETRICS_MetricFamily* fw = NULL;
  INFERMETRICS_Metric* w = NULL;
  INFERMETRICS_MetricArgs* wargs = NULL;
  INFERMETRICS_Parameter* l_traffic = NULL;
  if (traffic_ms > 0) {
    const double wb[8] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
    l_traffic = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "traffic");
    if (!l_traffic) fatal("ParameterNew", NULL);
    const INFERMETRICS_Parameter* one_traffic[1] = {l_traffic};
    MUST(INFERMETRICS_MetricFamilyNew(&fw, INFERMETRICS_METRIC_KIND_HISTOGRAM, "fixture_work_seconds",
                                      "Work time per request, in seconds"));
    MUST(INFERMETRICS_MetricArgsNew(&wargs));
    MUST(INFERMETRICS_MetricArgsSetHistogram(wargs, wb, 8));
    MUST(INFERMETRICS_MetricNewWithArgs(&w, fw, one_traffic, 1, wargs));
  }

  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* s = NULL;
  uint16_t port = 0;
  MUST(INFERMETRICS_ServerOptionsNew(&o));
  MUST(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  MUST(INFERMETRICS_ServerOptionsSetPort(o, 0));
  MUST(INFERMETRICS_ServerOptionsSetMetricsInterval(o, 500));
  MUST(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  MUST(INFERMETRICS_ServerNew(&s, o));
  MUST(INFERMETRICS_ServerOptionsDelete(o));
  MUST(INFERMETRICS_ServerPort(s, &port));
  printf("PORT %u\n", (unsigned)port);
  fflush(stdout);

  /* stay up until stdin closes or the time is up */
  long long deadline = hc_now_ms() + (long long)seconds * 1000;
  long long next_obs = hc_now_ms();
  unsigned obs = 0;
  for (;;) {
    long long now = hc_now_ms();
    long long left = deadline - now;
    if (left <= 0) break;
    long long wait = left > 1000 ? 1000 : left;
    if (w) {
      while (next_obs <= now) {
        MUST(INFERMETRICS_MetricObserve(w, obs++ % 10 == 9 ? 0.3 : 0.007));
        next_obs += traffic_ms;
      }
      if (next_obs - now < wait) wait = next_obs - now;
    }
    struct pollfd p = {0, POLLIN, 0};
    int n = poll(&p, 1, (int)wait);
    if (n > 0) {
      char buf[256];
      ssize_t r = read(0, buf, sizeof buf);
      if (r <= 0) break; /* EOF or error: the test is done */
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }

  MUST(INFERMETRICS_ServerDelete(s));
  MUST(INFERMETRICS_MetricDelete(c));
  MUST(INFERMETRICS_MetricDelete(g1));
  MUST(INFERMETRICS_MetricDelete(g2));
  MUST(INFERMETRICS_MetricDelete(h));
  MUST(INFERMETRICS_MetricDelete(e));
  if (w) {
    MUST(INFERMETRICS_MetricDelete(w));
    MUST(INFERMETRICS_MetricArgsDelete(wargs));
    MUST(INFERMETRICS_MetricFamilyDelete(fw));
    INFERMETRICS_ParameterDelete(l_traffic);
  }
  MUST(INFERMETRICS_MetricArgsDelete(args));
  MUST(INFERMETRICS_MetricFamilyDelete(fc));
  MUST(INFERMETRICS_MetricFamilyDelete(fg));
  MUST(INFERMETRICS_MetricFamilyDelete(fh));
  MUST(INFERMETRICS_MetricFamilyDelete(fe));
  INFERMETRICS_ParameterDelete(l_model);
  INFERMETRICS_ParameterDelete(l_version);
  INFERMETRICS_ParameterDelete(l_plain);
  INFERMETRICS_ParameterDelete(l_bs);
  return 0;
}

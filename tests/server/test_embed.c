/*
 * server_embed: servers without a listener (collectors only) and INFERMETRICS_MetricsRender, the
 * calls a host uses to serve our series from its own HTTP server (issue 12, "Embedding").
 *
 *  - ServerOptionsSetListen(false): ServerNew opens no socket and starts no HTTP thread, logs
 *    "collectors only (no listener)"; ServerPort answers UNAVAILABLE saying there is no listener.
 *  - two listener-less servers and a listening one run side by side; the listening one serves.
 *  - MetricsRender from a listener-less server: the registry's families plus the collectors'
 *    series, the header's content-type macros, gzip (magic bytes, smaller), NULL arguments named.
 *  - a holder outlives its server: it renders the last collected values, never crashes.
 */
#include "server_test.h"

static int socket_fds(void)
{
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  struct dirent* e;
  char path[300], target[256];
  if (!d) return -1;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(path, target, sizeof target - 1);
    if (k > 0) {
      target[k] = 0;
      if (strncmp(target, "socket:", 7) == 0) ++n;
    }
  }
  closedir(d);
  return n;
}

static char log_lines[8192];
static void capture_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)level;
  (void)userp;
  size_t used = strlen(log_lines);
  snprintf(log_lines + used, sizeof log_lines - used, "%s\n", message);
}

static INFERMETRICS_Server* start_collectors_only(void)
{
  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* s = NULL;
  if (!OK(INFERMETRICS_ServerOptionsNew(&o))) return NULL;
  OK(INFERMETRICS_ServerOptionsSetListen(o, false));
  OK(INFERMETRICS_ServerOptionsSetMetricsInterval(o, 50));
  OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  /* the port a listening server would take: unused here, so two of these never collide */
  OK(INFERMETRICS_ServerOptionsSetPort(o, 8002));
  if (!OK(INFERMETRICS_ServerNew(&s, o))) s = NULL;
  OK(INFERMETRICS_ServerOptionsDelete(o));
  return s;
}

/* Renders `m`; returns the body (owned by m) and its size, checking the content type. */
static const unsigned char* render(INFERMETRICS_Metrics* m, INFERMETRICS_MetricFormat f, bool gz, size_t* size,
                                   const char* want_type)
{
  const void* body = NULL;
  const char* type = NULL;
  *size = 0;
  if (!OK(INFERMETRICS_MetricsRender(m, f, gz, &body, size, &type))) return NULL;
  CHECKF(type != NULL && strcmp(type, want_type) == 0, "content type \"%s\", expected \"%s\"", type ? type : "(null)",
         want_type);
  return body;
}

int main(void)
{
  /* 1. no listener: no socket, no port, the log says so */
  OK(INFERMETRICS_SetLogCallback(capture_log, NULL));
  int sockets_before = socket_fds();
  INFERMETRICS_Server* a = start_collectors_only();
  CHECK(a != NULL);
  OK(INFERMETRICS_SetLogCallback(NULL, NULL));
  CHECKF(socket_fds() == sockets_before, "a listener-less server opened sockets: %d before, %d after",
         sockets_before, socket_fds());
  CHECKF(strstr(log_lines, "collectors only (no listener)") != NULL, "log: %s", log_lines);
  CHECKF(strstr(log_lines, "Started metrics service at") == NULL, "log: %s", log_lines);
  uint16_t port = 1234;
  ERR_MSG(INFERMETRICS_ServerPort(a, &port), INFERMETRICS_ERROR_UNAVAILABLE, "no listener");
  CHECKF(port == 1234, "ServerPort wrote %u on an error", (unsigned)port);

  /* 2. a second one, and a listening server beside them */
  INFERMETRICS_Server* b = start_collectors_only();
  CHECK(b != NULL);
  uint16_t lport = 0;
  INFERMETRICS_Server* listening = START_SERVER(st_server_defaults(), &lport);
  CHECK(listening != NULL);
  char* scraped = listening ? SCRAPE("127.0.0.1", lport) : NULL;
  CHECK(scraped != NULL && strstr(scraped, "nv_cpu_memory_total_bytes ") != NULL);
  free(scraped);

  /* 3. render a listener-less server: registry + collectors */
  INFERMETRICS_MetricFamily* fam = NULL;
  INFERMETRICS_Metric* metric = NULL;
  OK(INFERMETRICS_MetricFamilyNew(&fam, INFERMETRICS_METRIC_KIND_COUNTER, "embed_requests_total", "Requests."));
  OK(INFERMETRICS_MetricNew(&metric, fam, NULL, 0));
  OK(INFERMETRICS_MetricIncrement(metric, 7));
  st_sleep_ms(120); /* two intervals: the CPU ratio has its first value */
  INFERMETRICS_Metrics* m = NULL;
  OK(INFERMETRICS_ServerMetrics(a, &m));
  size_t plain_size = 0, gz_size = 0, om_size = 0;
  const unsigned char* plain =
      render(m, INFERMETRICS_METRIC_PROMETHEUS, false, &plain_size, INFERMETRICS_CONTENT_TYPE_PROMETHEUS);
  CHECK(plain != NULL && plain[plain_size] == 0 && strlen((const char*)plain) == plain_size);
  if (plain) {
    const char* text = (const char*)plain;
    CHECKF(strstr(text, "\nembed_requests_total 7\n") != NULL, "registry series missing:\n%s", text);
    CHECKF(strstr(text, "\nnv_cpu_memory_total_bytes ") != NULL, "CPU collector series missing:\n%s", text);
    CHECKF(strstr(text, "nv_collector_success{collector=\"cpu\"} 1\n") != NULL, "collector self-metrics missing:\n%s",
           text);
    CHECKF(strstr(text, "nv_pinned_memory_pool_total_bytes ") != NULL, "pinned-memory series missing:\n%s", text);
  }
  const unsigned char* gz =
      render(m, INFERMETRICS_METRIC_PROMETHEUS, true, &gz_size, INFERMETRICS_CONTENT_TYPE_PROMETHEUS);
  CHECK(gz != NULL && gz_size > 18 && gz[0] == 0x1f && gz[1] == 0x8b && gz[2] == 8);
  CHECKF(gz_size < plain_size, "gzip body %zu bytes, plain %zu", gz_size, plain_size);
  const unsigned char* om =
      render(m, INFERMETRICS_METRIC_OPENMETRICS, false, &om_size, INFERMETRICS_CONTENT_TYPE_OPENMETRICS);
  CHECK(om != NULL && strstr((const char*)om, "embed_requests") != NULL);
  const unsigned char* omz =
      render(m, INFERMETRICS_METRIC_OPENMETRICS, true, &gz_size, INFERMETRICS_CONTENT_TYPE_OPENMETRICS);
  CHECK(omz != NULL && omz[0] == 0x1f && omz[1] == 0x8b);
  CHECK(strcmp(INFERMETRICS_CONTENT_TYPE_PROMETHEUS, "text/plain; version=0.0.4; charset=utf-8") == 0);
  CHECK(strcmp(INFERMETRICS_CONTENT_TYPE_OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8") ==
        0);

  /* 4. NULL and bad arguments are named; out-parameters untouched */
  const void* body = (const void*)&port;
  size_t size = 99;
  const char* type = "untouched";
  NULL_ARG(INFERMETRICS_MetricsRender(NULL, INFERMETRICS_METRIC_PROMETHEUS, false, &body, &size, &type), "metrics");
  NULL_ARG(INFERMETRICS_MetricsRender(m, INFERMETRICS_METRIC_PROMETHEUS, false, NULL, &size, &type), "body");
  NULL_ARG(INFERMETRICS_MetricsRender(m, INFERMETRICS_METRIC_PROMETHEUS, false, &body, NULL, &type), "byte_size");
  NULL_ARG(INFERMETRICS_MetricsRender(m, INFERMETRICS_METRIC_PROMETHEUS, false, &body, &size, NULL), "content_type");
  ERR_MSG(INFERMETRICS_MetricsRender(m, (INFERMETRICS_MetricFormat)5, false, &body, &size, &type),
          INFERMETRICS_ERROR_INVALID_ARG, "unknown metrics format 5");
  CHECK(body == (const void*)&port && size == 99 && strcmp(type, "untouched") == 0);
  INFERMETRICS_MetricFormat f = (INFERMETRICS_MetricFormat)9;
  bool g = true;
  NULL_ARG(INFERMETRICS_MetricsNegotiate(NULL, NULL, false, NULL, &g), "format");
  NULL_ARG(INFERMETRICS_MetricsNegotiate(NULL, NULL, false, &f, NULL), "gzip");
  NULL_ARG(INFERMETRICS_ServerOptionsSetListen(NULL, false), "options");
  OK(INFERMETRICS_MetricsNegotiate(NULL, NULL, true, &f, &g));
  CHECK(f == INFERMETRICS_METRIC_PROMETHEUS && g == false);
  /* whatever the Accept header, OpenMetrics needs the host's opt-in */
  OK(INFERMETRICS_MetricsNegotiate("application/openmetrics-text; version=1.0.0", NULL, false, &f, &g));
  CHECK(f == INFERMETRICS_METRIC_PROMETHEUS && g == false);

  /* 5. a holder outlives its server: the last collected values, no crash */
  STOP_SERVER(a);
  CHECK(render(m, INFERMETRICS_METRIC_PROMETHEUS, false, &size, INFERMETRICS_CONTENT_TYPE_PROMETHEUS) != NULL);
  OK(INFERMETRICS_MetricsDelete(m));
  NULL_ARG(INFERMETRICS_ServerPort(NULL, &port), "server");

  STOP_SERVER(b);
  if (listening) STOP_SERVER(listening);
  OK(INFERMETRICS_MetricDelete(metric));
  OK(INFERMETRICS_MetricFamilyDelete(fam));
  return TEST_SUMMARY();
}

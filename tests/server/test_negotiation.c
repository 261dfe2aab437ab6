/*
 * server_negotiation: content negotiation over real sockets (issue 12).
 *   Accept-Encoding: gzip, x-gzip, `*` -> gzip (the body gunzipped with zlib equals a plain
 *   scrape's series); gzip;q=0, `*;q=0`, `*, gzip;q=0`, identity, none -> identity; HEAD too.
 *   Accept with OpenMetrics off: always 0.0.4. With OpenMetrics on: application/openmetrics-text
 *   with or without version=1.0.0, Prometheus 2.42's header -> OpenMetrics; version=0.0.1,
 *   text/plain preferred by q, any media type -> 0.0.4. Vary: Accept-Encoding (plus Accept when offered).
 *   Environment: INFERMETRICS_OPENMETRICS=yes fails ServerOptionsNew naming the variable;
 *   INFERMETRICS_OPENMETRICS=1 and INFERMETRICS_PORT over a port set by the host each log
 *   exactly one line saying what they override.
 */
#include <zlib.h>

#include "server_test.h"

/* The Accept header of Prometheus 2.42's scrapes (tests/server/webconfig.sh captures it
   from a real Prometheus and checks it is this). */
#define PROMETHEUS_2_42_ACCEPT                                                                 \
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," \
  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CT_OM "application/openmetrics-text; version=1.0.0; charset=utf-8"

static uint16_t g_port;

/* gunzips `in` into a new NUL-terminated buffer (NULL if it is not gzip). */
static char* gunzip(const char* in, size_t n, size_t* out_len)
{
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return NULL;
  size_t cap = n * 8 + 4096, len = 0;
  char* out = malloc(cap + 1);
  z.next_in = (Bytef*)in;
  z.avail_in = (uInt)n;
  int rc;
  do {
    if (cap - len < 65536) {
      cap *= 2;
      out = realloc(out, cap + 1);
    }
    z.next_out = (Bytef*)out + len;
    z.avail_out = (uInt)(cap - len);
    rc = inflate(&z, Z_NO_FLUSH);
    len = cap - z.avail_out;
  } while (rc == Z_OK);
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  out[len] = '\0';
  *out_len = len;
  return out;
}

typedef struct {
  int status;
  char content_type[128], encoding[64], vary[64];
  char* body; /* decoded */
  size_t body_len;
} got;

static got ask(const char* method, const char* headers)
{
  got g;
  memset(&g, 0, sizeof g);
  hc_conn c;
  char extra[1024];
  snprintf(extra, sizeof extra, "Connection: close\r\n%s", headers);
  if (hc_connect(&c, "127.0.0.1", g_port, 3000) != HC_OK) return g;
  hc_response r;
  if (hc_request(&c, method, "/metrics", extra, &r, 3000) == HC_OK) {
    g.status = r.status;
    hc_header(&r, "Content-Type", g.content_type, sizeof g.content_type);
    hc_header(&r, "Content-Encoding", g.encoding, sizeof g.encoding);
    hc_header(&r, "Vary", g.vary, sizeof g.vary);
    if (strcmp(g.encoding, "gzip") == 0 && r.body_len > 0) {
      g.body = gunzip(r.body, r.body_len, &g.body_len);
    } else {
      g.body = strdup(r.body ? r.body : "");
      g.body_len = r.body_len;
    }
    hc_response_free(&r);
  }
  hc_close(&c);
  return g;
}

static void expect(const char* what, const char* method, const char* headers, const char* content_type, int gzip,
                   const char* vary)
{
  got g = ask(method, headers);
  int head = strcmp(method, "HEAD") == 0;
  CHECKF(g.status == 200, "%s: status %d", what, g.status);
  CHECKF(strcmp(g.content_type, content_type) == 0, "%s: Content-Type '%s', expected '%s'", what, g.content_type,
         content_type);
  CHECKF(strcmp(g.encoding, gzip ? "gzip" : "") == 0, "%s: Content-Encoding '%s', expected '%s'", what, g.encoding,
         gzip ? "gzip" : "(none)");
  CHECKF(strcmp(g.vary, vary) == 0, "%s: Vary '%s', expected '%s'", what, g.vary, vary);
  if (head) {
    CHECKF(g.body_len == 0, "%s: HEAD answered with %zu body bytes", what, g.body_len);
  } else {
    CHECKF(g.body != NULL, "%s: the gzip body does not gunzip", what);
    /* OpenMetrics writes the counter's sample as name_total */
    const bool om = strcmp(content_type, CT_OM) == 0;
    CHECKF(g.body && strstr(g.body, om ? "\nsrvtest_negotiation_requests_total{model=\"m\"} 7\n"
                                       : "\nsrvtest_negotiation_requests{model=\"m\"} 7\n"),
           "%s: the decoded body lacks the test series", what);
    /* an OpenMetrics body ends with # EOF; a 0.0.4 body has none */
    if (om)
      CHECKF(g.body_len >= 6 && strcmp(g.body + g.body_len - 6, "# EOF\n") == 0, "%s: # EOF is not the last line",
             what);
    if (strcmp(content_type, CT_PROM) == 0)
      CHECKF(g.body && !strstr(g.body, "# EOF"), "%s: # EOF in a 0.0.4 body", what);
  }
  printf("%-46s -> %s%s\n", what, g.content_type, gzip ? ", gzip" : "");
  free(g.body);
}

/* log lines containing a word */
static char g_log[8192];
static void capture_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  (void)level;
  (void)userp;
  size_t n = strlen(g_log);
  snprintf(g_log + n, sizeof g_log - n, "%s\n", message);
}

static int count(const char* hay, const char* needle)
{
  int n = 0;
  for (const char* at = hay; (at = strstr(at, needle)) != NULL; at += strlen(needle)) ++n;
  return n;
}

static void env_cases(void)
{
  INFERMETRICS_ServerOptions* o = NULL;
  setenv("INFERMETRICS_OPENMETRICS", "yes", 1);
  ERR_MSG(INFERMETRICS_ServerOptionsNew(&o), INFERMETRICS_ERROR_INVALID_ARG, "INFERMETRICS_OPENMETRICS");

  uint16_t host_port = st_free_port(0), env_port = st_free_port(0);
  char v[16];
  snprintf(v, sizeof v, "%u", (unsigned)env_port);
  setenv("INFERMETRICS_OPENMETRICS", "1", 1);
  setenv("INFERMETRICS_PORT", v, 1);
  g_log[0] = '\0';
  INFERMETRICS_SetLogCallback(capture_log, NULL);
  INFERMETRICS_Server* s = NULL;
  if (OK(INFERMETRICS_ServerOptionsNew(&o))) {
    OK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
    OK(INFERMETRICS_ServerOptionsSetPort(o, host_port));
    OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
    OK(INFERMETRICS_ServerNew(&s, o));
    OK(INFERMETRICS_ServerOptionsDelete(o));
  }
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  unsetenv("INFERMETRICS_OPENMETRICS");
  unsetenv("INFERMETRICS_PORT");
  char want[128];
  snprintf(want, sizeof want, "INFERMETRICS_PORT=%u overrides the port %u set by the host", (unsigned)env_port,
           (unsigned)host_port);
  CHECKF(count(g_log, want) == 1 && count(g_log, "INFERMETRICS_PORT") == 1,
         "expected one line '%s' in the log:\n%s", want, g_log);
  CHECKF(count(g_log, "INFERMETRICS_OPENMETRICS=1 overrides the default OpenMetrics setting 0") == 1 &&
             count(g_log, "INFERMETRICS_OPENMETRICS") == 1,
         "expected one line about INFERMETRICS_OPENMETRICS in the log:\n%s", g_log);
  if (s) {
    uint16_t p = 0;
    OK(INFERMETRICS_ServerPort(s, &p));
    CHECKF(p == env_port, "the environment's port %u is not the one bound (%u)", (unsigned)env_port, (unsigned)p);
    g_port = p;
    expect("INFERMETRICS_OPENMETRICS=1: OpenMetrics asked for", "GET",
           "Accept: application/openmetrics-text\r\n", CT_OM, 0, "Accept, Accept-Encoding");
    STOP_SERVER(s);
  }
  printf("env overrides logged:\n%s", g_log);
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_Metric* m = NULL;
  const INFERMETRICS_Parameter* labels[1];
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_COUNTER, "srvtest_negotiation_requests", "Requests"));
  INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "m");
  labels[0] = p;
  OK(INFERMETRICS_MetricNew(&m, f, labels, 1));
  OK(INFERMETRICS_MetricIncrement(m, 7));

  /* OpenMetrics off: never served */
  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &g_port);
  if (!s) return TEST_SUMMARY();
  const char* v = "Accept-Encoding";
  expect("no Accept-Encoding", "GET", "", CT_PROM, 0, v);
  expect("gzip", "GET", "Accept-Encoding: gzip\r\n", CT_PROM, 1, v);
  expect("GZIP, deflate, br (Prometheus-like)", "GET", "Accept-Encoding: GZIP, deflate, br\r\n", CT_PROM, 1, v);
  expect("x-gzip", "GET", "Accept-Encoding: x-gzip\r\n", CT_PROM, 1, v);
  expect("gzip;q=0.5, identity", "GET", "Accept-Encoding: gzip;q=0.5, identity\r\n", CT_PROM, 1, v);
  expect("gzip;q=0", "GET", "Accept-Encoding: gzip;q=0\r\n", CT_PROM, 0, v);
  expect("*", "GET", "Accept-Encoding: *\r\n", CT_PROM, 1, v);
  expect("*;q=0", "GET", "Accept-Encoding: *;q=0\r\n", CT_PROM, 0, v);
  expect("*, gzip;q=0", "GET", "Accept-Encoding: *, gzip;q=0\r\n", CT_PROM, 0, v);
  expect("identity only", "GET", "Accept-Encoding: identity\r\n", CT_PROM, 0, v);
  expect("junk Accept-Encoding", "GET", "Accept-Encoding: ;;=,q=;gzip;q=x\r\n", CT_PROM, 0, v);
  expect("HEAD, gzip", "HEAD", "Accept-Encoding: gzip\r\n", CT_PROM, 1, v);
  expect("OpenMetrics asked for, not offered", "GET", "Accept: application/openmetrics-text\r\n", CT_PROM, 0, v);
  expect("Prometheus 2.42, OpenMetrics not offered", "GET",
         "Accept: " PROMETHEUS_2_42_ACCEPT "\r\nAccept-Encoding: gzip\r\n", CT_PROM, 1, v);
  STOP_SERVER(s);

  /* OpenMetrics on */
  st_server_cfg cfg = st_server_defaults();
  cfg.openmetrics = 1;
  s = START_SERVER(cfg, &g_port);
  if (!s) return TEST_SUMMARY();
  v = "Accept, Accept-Encoding";
  expect("OpenMetrics without version", "GET", "Accept: application/openmetrics-text\r\n", CT_OM, 0, v);
  expect("OpenMetrics version=1.0.0", "GET", "Accept: application/openmetrics-text; version=1.0.0\r\n", CT_OM, 0, v);
  expect("OpenMetrics version=0.0.1", "GET", "Accept: application/openmetrics-text;version=0.0.1\r\n", CT_PROM, 0, v);
  expect("OpenMetrics q=0.9, text q=0.5", "GET",
         "Accept: application/openmetrics-text;q=0.9, text/plain;q=0.5\r\n", CT_OM, 0, v);
  expect("text q=1, OpenMetrics q=0.2", "GET",
         "Accept: text/plain;version=0.0.4, application/openmetrics-text;q=0.2\r\n", CT_PROM, 0, v);
  expect("*/*", "GET", "Accept: */*\r\n", CT_PROM, 0, v);
  expect("no Accept", "GET", "", CT_PROM, 0, v);
  expect("Prometheus 2.42 (OpenMetrics, gzip)", "GET",
         "Accept: " PROMETHEUS_2_42_ACCEPT "\r\nAccept-Encoding: gzip\r\n", CT_OM, 1, v);
  expect("HEAD, OpenMetrics, gzip", "HEAD",
         "Accept: application/openmetrics-text\r\nAccept-Encoding: gzip\r\n", CT_OM, 1, v);
  STOP_SERVER(s);

  env_cases();

  OK(INFERMETRICS_MetricDelete(m));
  INFERMETRICS_ParameterDelete(p);
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

/*
 * server_env_*: INFERMETRICS_PORT / INFERMETRICS_ADDRESS / INFERMETRICS_INTERVAL_MS /
 * INFERMETRICS_MAX_CONNECTIONS, read by ServerOptionsNew, win over what code sets; bad values
 * make ServerOptionsNew fail with INVALID_ARG naming the variable. One case per run:
 * `server_env <case>`.
 */
#include "server_test.h"

static void unset_all(void)
{
  unsetenv("INFERMETRICS_PORT");
  unsetenv("INFERMETRICS_ADDRESS");
  unsetenv("INFERMETRICS_INTERVAL_MS");
  unsetenv("INFERMETRICS_MAX_CONNECTIONS");
}

/* Options as code would set them (address, port, interval), after the environment is read. */
static INFERMETRICS_ServerOptions* code_options(const char* address, uint16_t port, uint64_t interval_ms)
{
  INFERMETRICS_ServerOptions* o = NULL;
  if (!OK(INFERMETRICS_ServerOptionsNew(&o))) return NULL;
  OK(INFERMETRICS_ServerOptionsSetAddress(o, address));
  OK(INFERMETRICS_ServerOptionsSetPort(o, port));
  OK(INFERMETRICS_ServerOptionsSetMetricsInterval(o, interval_ms));
  OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  return o;
}

static INFERMETRICS_Server* start(INFERMETRICS_ServerOptions* o, uint16_t* port)
{
  INFERMETRICS_Server* s = NULL;
  *port = 0;
  if (!o) return NULL;
  if (!OK(INFERMETRICS_ServerNew(&s, o))) s = NULL;
  else OK(INFERMETRICS_ServerPort(s, port));
  OK(INFERMETRICS_ServerOptionsDelete(o));
  return s;
}

static int refused(const char* host, uint16_t port)
{
  hc_conn c;
  int rc = hc_connect(&c, host, port, 2000);
  if (rc == HC_OK) hc_close(&c);
  return rc == HC_ECONNECT;
}

static void case_port(void)
{
  uint16_t env_port = st_free_port(0), code_port = st_free_port(0), port = 0;
  char buf[16];
  while (code_port == env_port) code_port = st_free_port(0);
  snprintf(buf, sizeof buf, "%u", (unsigned)env_port);
  setenv("INFERMETRICS_PORT", buf, 1);
  INFERMETRICS_Server* s = start(code_options("127.0.0.1", code_port, 100), &port);
  if (s) {
    CHECKF(port == env_port, "INFERMETRICS_PORT=%u with code port %u: expected ServerPort %u, got %u",
           (unsigned)env_port, (unsigned)code_port, (unsigned)env_port, (unsigned)port);
    char* body = SCRAPE("127.0.0.1", env_port);
    free(body);
    CHECKF(refused("127.0.0.1", code_port), "INFERMETRICS_PORT set: expected nothing on the code's port %u",
           (unsigned)code_port);
    STOP_SERVER(s);
  }
  /* also over code that asks for port 0 */
  s = start(code_options("127.0.0.1", 0, 100), &port);
  if (s) {
    CHECKF(port == env_port, "INFERMETRICS_PORT=%u with code port 0: expected ServerPort %u, got %u",
           (unsigned)env_port, (unsigned)env_port, (unsigned)port);
    STOP_SERVER(s);
  }
  /* unset: the code's port is used again */
  unset_all();
  s = start(code_options("127.0.0.1", code_port, 100), &port);
  if (s) {
    CHECKF(port == code_port, "INFERMETRICS_PORT unset: expected the code's port %u, got %u", (unsigned)code_port,
           (unsigned)port);
    STOP_SERVER(s);
  }
}

static void case_address(void)
{
  uint16_t port = 0;
  setenv("INFERMETRICS_ADDRESS", "::1", 1);
  INFERMETRICS_Server* s = start(code_options("127.0.0.1", 0, 100), &port);
  if (s) {
    char* body = SCRAPE("::1", port);
    free(body);
    CHECKF(refused("127.0.0.1", port), "INFERMETRICS_ADDRESS=::1 with code address 127.0.0.1: expected 127.0.0.1:%u to "
           "refuse (the server should be on ::1 only)", (unsigned)port);
    STOP_SERVER(s);
  }
  setenv("INFERMETRICS_ADDRESS", "127.0.0.1", 1);
  s = start(code_options("::1", 0, 100), &port);
  if (s) {
    char* body = SCRAPE("127.0.0.1", port);
    free(body);
    CHECKF(refused("::1", port), "INFERMETRICS_ADDRESS=127.0.0.1 with code address ::1: expected [::1]:%u to refuse",
           (unsigned)port);
    STOP_SERVER(s);
  }
  unset_all();
  s = start(code_options("::1", 0, 100), &port);
  if (s) {
    char* body = SCRAPE("::1", port);
    free(body);
    CHECKF(refused("127.0.0.1", port), "INFERMETRICS_ADDRESS unset: expected the code's address ::1 only");
    STOP_SERVER(s);
  }
}

/* The pinned-pool total served by a scrape, or -1. */
static double pinned_total(uint16_t port)
{
  double v = -1;
  char* body = SCRAPE("127.0.0.1", port);
  if (body && !st_sample(body, "nv_pinned_memory_pool_total_bytes", &v)) v = -1;
  free(body);
  return v;
}

static void case_interval(void)
{
  uint16_t port = 0;
  /* the code asks for a 10-minute interval; the environment for 100 ms */
  setenv("INFERMETRICS_INTERVAL_MS", "100", 1);
  OK(INFERMETRICS_PinnedMemoryPoolReport(1000, 1));
  INFERMETRICS_Server* s = start(code_options("127.0.0.1", 0, 600000), &port);
  if (s) {
    double v = pinned_total(port);
    CHECKF(v == 1000, "expected the first collection (at ServerNew) to serve pinned total 1000, got %g", v);
    OK(INFERMETRICS_PinnedMemoryPoolReport(2000, 1));
    long long t0 = hc_now_ms();
    while ((v = pinned_total(port)) != 2000 && hc_now_ms() - t0 < 5000) st_sleep_ms(20);
    CHECKF(v == 2000, "INFERMETRICS_INTERVAL_MS=100 with code interval 600000 ms: a new pinned report was not "
           "served within 5 s (still %g): the environment's interval was not used", v);
    STOP_SERVER(s);
  }
  /* unset: the code's 10-minute interval holds; a new report is not collected half a second later */
  unset_all();
  OK(INFERMETRICS_PinnedMemoryPoolReport(3000, 1));
  s = start(code_options("127.0.0.1", 0, 600000), &port);
  if (s) {
    OK(INFERMETRICS_PinnedMemoryPoolReport(4000, 1));
    st_sleep_ms(500);
    double v = pinned_total(port);
    CHECKF(v == 3000, "INFERMETRICS_INTERVAL_MS unset, code interval 600000 ms: expected the value collected at "
           "ServerNew (3000) half a second later, got %g", v);
    long long ms = STOP_SERVER(s);
    CHECKF(ms < 1000, "ServerDelete with a 10-minute interval took %lld ms (expected well under a second)", ms);
  }
}

/* INFERMETRICS_MAX_CONNECTIONS=2 over code that asks for 256: the server keeps at most 2
   connections (a third one closes the oldest idle one to get in) */
static void case_max_connections(void)
{
  uint16_t port = 0;
  setenv("INFERMETRICS_MAX_CONNECTIONS", "2", 1);
  INFERMETRICS_ServerOptions* o = code_options("127.0.0.1", 0, 100);
  if (o) OK(INFERMETRICS_ServerOptionsSetMaxConnections(o, 256));
  INFERMETRICS_Server* s = start(o, &port);
  if (!s) return;
  hc_conn a, b, c;
  int ra = hc_connect(&a, "127.0.0.1", port, 2000);
  st_sleep_ms(50);
  int rb = hc_connect(&b, "127.0.0.1", port, 2000);
  st_sleep_ms(50);
  CHECK(ra == HC_OK && rb == HC_OK);
  /* a third connection is served: the oldest idle one (a) makes room */
  int rc = hc_connect(&c, "127.0.0.1", port, 2000);
  if (rc == HC_OK) {
    hc_response r;
    rc = hc_request(&c, "GET", "/metrics", NULL, &r, 2000);
    CHECKF(rc == HC_OK && r.status == 200, "a third connection over a cap of 2: %s", hc_strerror(rc));
    if (rc == HC_OK) hc_response_free(&r);
    hc_close(&c);
  }
  CHECKF(ra == HC_OK && hc_pending(&a, 1000) && hc_fill(&a, hc_now_ms() + 1000) == HC_ECLOSED,
         "INFERMETRICS_MAX_CONNECTIONS=2: expected the oldest idle connection closed to make room");
  if (rb == HC_OK) {
    hc_response r;
    rc = hc_request(&b, "GET", "/metrics", NULL, &r, 2000);
    CHECKF(rc == HC_OK && r.status == 200, "the younger idle connection should still be served: %s", hc_strerror(rc));
    if (rc == HC_OK) hc_response_free(&r);
  }
  if (ra == HC_OK) hc_close(&a);
  if (rb == HC_OK) hc_close(&b);
  STOP_SERVER(s);
}

static void case_bad(const char* var, const char* value)
{
  INFERMETRICS_ServerOptions* const sentinel = (INFERMETRICS_ServerOptions*)(uintptr_t)0x5e17;
  INFERMETRICS_ServerOptions* o = sentinel;
  setenv(var, value, 1);
  INFERMETRICS_Error* e = INFERMETRICS_ServerOptionsNew(&o);
  CHECKF(e != NULL, "%s=\"%s\": expected ServerOptionsNew to fail with INVALID_ARG, got success", var, value);
  if (e) {
    const char* msg = INFERMETRICS_ErrorMessage(e);
    CHECKF(INFERMETRICS_ErrorCode(e) == INFERMETRICS_ERROR_INVALID_ARG, "%s=\"%s\": expected INVALID_ARG, got %s: %s",
           var, value, st_code_name((int)INFERMETRICS_ErrorCode(e)), msg);
    CHECKF(strstr(msg, var) != NULL, "%s=\"%s\": expected the message to name %s, got \"%s\"", var, value, var, msg);
    CHECKF(strstr(msg, value) != NULL, "%s=\"%s\": expected the message to quote the value, got \"%s\"", var, value,
           msg);
    INFERMETRICS_ErrorDelete(e);
    CHECKF(o == sentinel, "%s=\"%s\": ServerOptionsNew failed but wrote its out-pointer", var, value);
  } else {
    OK(INFERMETRICS_ServerOptionsDelete(o));
  }
  /* unset again: ServerOptionsNew works */
  unset_all();
  o = NULL;
  if (OK(INFERMETRICS_ServerOptionsNew(&o))) OK(INFERMETRICS_ServerOptionsDelete(o));
}

int main(int argc, char** argv)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  unset_all();
  const char* c = argc > 1 ? argv[1] : "";
  if (strcmp(c, "port") == 0) case_port();
  else if (strcmp(c, "address") == 0) case_address();
  else if (strcmp(c, "interval") == 0) case_interval();
  else if (strcmp(c, "bad_port_abc") == 0) case_bad("INFERMETRICS_PORT", "abc");
  else if (strcmp(c, "bad_port_70000") == 0) case_bad("INFERMETRICS_PORT", "70000");
  else if (strcmp(c, "bad_port_negative") == 0) case_bad("INFERMETRICS_PORT", "-1");
  else if (strcmp(c, "bad_interval_negative") == 0) case_bad("INFERMETRICS_INTERVAL_MS", "-5");
  else if (strcmp(c, "bad_interval_abc") == 0) case_bad("INFERMETRICS_INTERVAL_MS", "soon");
  else if (strcmp(c, "bad_address") == 0) case_bad("INFERMETRICS_ADDRESS", "bogus");
  else if (strcmp(c, "max_connections") == 0) case_max_connections();
  else if (strcmp(c, "bad_max_connections_0") == 0) case_bad("INFERMETRICS_MAX_CONNECTIONS", "0");
  else if (strcmp(c, "bad_max_connections_abc") == 0) case_bad("INFERMETRICS_MAX_CONNECTIONS", "many");
  else if (strcmp(c, "bad_max_connections_huge") == 0) case_bad("INFERMETRICS_MAX_CONNECTIONS", "99999999999");
  else {
    fprintf(stderr, "usage: %s port|address|interval|max_connections|bad_port_abc|bad_port_70000|"
                    "bad_port_negative|bad_interval_negative|bad_interval_abc|bad_address|bad_max_connections_0|"
                    "bad_max_connections_abc|bad_max_connections_huge\n", argv[0]);
    return 2;
  }
  unset_all();
  return TEST_SUMMARY();
}

/*
 * server_bind: port 0, fixed ports, a port in use, bad addresses, IPv6 and "localhost".
 */
#include "server_test.h"

/* Options for address:port with the GPU collector off; NULL after a FAIL. */
static INFERMETRICS_ServerOptions* options_for(const char* address, uint16_t port)
{
  INFERMETRICS_ServerOptions* o = NULL;
  if (!OK(INFERMETRICS_ServerOptionsNew(&o))) return NULL;
  OK(INFERMETRICS_ServerOptionsSetAddress(o, address));
  OK(INFERMETRICS_ServerOptionsSetPort(o, port));
  OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  return o;
}

/* A plain listening socket on 127.0.0.1:port (no SO_REUSEADDR), or -1. */
static int plain_listener(uint16_t port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0 || listen(fd, 8) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static uint16_t bound_port(int fd)
{
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  if (getsockname(fd, (struct sockaddr*)&a, &al) != 0) return 0;
  return ntohs(a.sin_port);
}

/* ServerNew must fail with UNAVAILABLE "Socket '127.0.0.1:PORT' already in use", out untouched. */
static void expect_in_use(uint16_t port, const char* why)
{
  INFERMETRICS_ServerOptions* o = options_for("127.0.0.1", port);
  INFERMETRICS_Server* const sentinel = (INFERMETRICS_Server*)(uintptr_t)0x5e17;
  INFERMETRICS_Server* s = sentinel;
  char exact[128];
  snprintf(exact, sizeof exact, "Socket '127.0.0.1:%u' already in use", (unsigned)port);
  if (!o) return;
  printf("port %u in use (%s)\n", (unsigned)port, why);
  ERR_EXACT(INFERMETRICS_ServerNew(&s, o), INFERMETRICS_ERROR_UNAVAILABLE, exact);
  CHECKF(s == sentinel, "%s: ServerNew failed but wrote its out-pointer (%p)", why, (void*)s);
  OK(INFERMETRICS_ServerOptionsDelete(o));
}

static void expect_serves(const char* host, uint16_t port, const char* what)
{
  char* body = SCRAPE(host, port);
  CHECKF(body && strstr(body, "nv_cpu_memory_total_bytes"), "%s: expected a /metrics body with CPU series from %s:%u",
         what, host, (unsigned)port);
  free(body);
}

static void expect_refused(const char* host, uint16_t port, const char* what)
{
  hc_conn c;
  int rc = hc_connect(&c, host, port, 2000);
  CHECKF(rc == HC_ECONNECT, "%s: expected the connection to %s:%u to be refused, got %s", what, host, (unsigned)port,
         hc_strerror(rc));
  if (rc == HC_OK) hc_close(&c);
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);

  /* ---- port 0: a real, non-zero port that answers */
  {
    uint16_t port = 0;
    INFERMETRICS_ServerOptions* o = options_for("127.0.0.1", 0);
    INFERMETRICS_Server* s = NULL;
    if (o && OK(INFERMETRICS_ServerNew(&s, o))) {
      OK(INFERMETRICS_ServerPort(s, &port));
      CHECKF(port != 0, "port 0: expected ServerPort to report the bound port, got 0");
      if (port) expect_serves("127.0.0.1", port, "port 0");

      /* ---- the port taken by a running server: a second server on it fails */
      if (port) expect_in_use(port, "held by another server");
      STOP_SERVER(s);
      /* and after ServerDelete the port is free again */
      if (port) expect_refused("127.0.0.1", port, "after ServerDelete");
    }
    if (o) OK(INFERMETRICS_ServerOptionsDelete(o));
  }

  /* ---- a fixed free port: ServerPort reports exactly it */
  {
    uint16_t want = st_free_port(0), port = 0;
    INFERMETRICS_ServerOptions* o = options_for("127.0.0.1", want);
    INFERMETRICS_Server* s = NULL;
    CHECK(want != 0);
    if (o && OK(INFERMETRICS_ServerNew(&s, o))) {
      OK(INFERMETRICS_ServerPort(s, &port));
      CHECKF(port == want, "fixed port: expected ServerPort %u, got %u", (unsigned)want, (unsigned)port);
      expect_serves("127.0.0.1", want, "fixed port");
      STOP_SERVER(s);
    }
    if (o) OK(INFERMETRICS_ServerOptionsDelete(o));
  }

  /* ---- the port held by a plain listening socket */
  {
    int fd = plain_listener(0);
    CHECKF(fd >= 0, "could not open a plain listening socket: %s", strerror(errno));
    if (fd >= 0) {
      expect_in_use(bound_port(fd), "held by a plain socket");
      close(fd);
    }
  }

  /* ---- the port held by a server bound to 0.0.0.0: 127.0.0.1 on it is taken too */
  {
    uint16_t port = 0;
    INFERMETRICS_ServerOptions* o = options_for("0.0.0.0", 0);
    INFERMETRICS_Server* s = NULL;
    if (o && OK(INFERMETRICS_ServerNew(&s, o))) {
      OK(INFERMETRICS_ServerPort(s, &port));
      if (port) {
        expect_serves("127.0.0.1", port, "0.0.0.0 over 127.0.0.1");
        expect_in_use(port, "held by a server on 0.0.0.0");
      }
      STOP_SERVER(s);
    }
    if (o) OK(INFERMETRICS_ServerOptionsDelete(o));
  }

  /* ---- bad addresses: INVALID_ARG from the setter (and nothing bound) */
  {
    static const char* const bad[] = {"300.1.1.1", "not an address", "", "1.2.3", "127.0.0.1:80", "::g", "256.0.0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
      INFERMETRICS_ServerOptions* o = NULL;
      if (!OK(INFERMETRICS_ServerOptionsNew(&o))) continue;
      INFERMETRICS_Error* e = INFERMETRICS_ServerOptionsSetAddress(o, bad[i]);
      CHECKF(e != NULL, "SetAddress(\"%s\"): expected INVALID_ARG, got success", bad[i]);
      if (e) {
        CHECKF(INFERMETRICS_ErrorCode(e) == INFERMETRICS_ERROR_INVALID_ARG,
               "SetAddress(\"%s\"): expected INVALID_ARG, got %s: %s", bad[i],
               st_code_name((int)INFERMETRICS_ErrorCode(e)), INFERMETRICS_ErrorMessage(e));
        CHECKF(strstr(INFERMETRICS_ErrorMessage(e), bad[i]) != NULL,
               "SetAddress(\"%s\"): expected the message to quote the address, got \"%s\"", bad[i],
               INFERMETRICS_ErrorMessage(e));
        INFERMETRICS_ErrorDelete(e);
      } else {
        /* the setter took it: then ServerNew must refuse it as INVALID_ARG, not bind */
        INFERMETRICS_Server* s = NULL;
        OK(INFERMETRICS_ServerOptionsSetPort(o, 0));
        OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
        ERR(INFERMETRICS_ServerNew(&s, o), INFERMETRICS_ERROR_INVALID_ARG);
        CHECK(s == NULL);
      }
      OK(INFERMETRICS_ServerOptionsDelete(o));
    }
  }

  /* ---- IPv6: "::1" and "::", reached over ::1 */
  {
    uint16_t port = 0;
    INFERMETRICS_ServerOptions* o = options_for("::1", 0);
    INFERMETRICS_Server* s = NULL;
    if (o && OK(INFERMETRICS_ServerNew(&s, o))) {
      OK(INFERMETRICS_ServerPort(s, &port));
      CHECK(port != 0);
      if (port) {
        expect_serves("::1", port, "::1");
        /* a second server on the same IPv6 socket: UNAVAILABLE */
        INFERMETRICS_ServerOptions* o2 = options_for("::1", port);
        INFERMETRICS_Server* s2 = NULL;
        if (o2) {
          ERR_MSG(INFERMETRICS_ServerNew(&s2, o2), INFERMETRICS_ERROR_UNAVAILABLE, "already in use");
          CHECK(s2 == NULL);
          OK(INFERMETRICS_ServerOptionsDelete(o2));
        }
      }
      STOP_SERVER(s);
    }
    if (o) OK(INFERMETRICS_ServerOptionsDelete(o));

    o = options_for("::", 0);
    s = NULL;
    port = 0;
    if (o && OK(INFERMETRICS_ServerNew(&s, o))) {
      OK(INFERMETRICS_ServerPort(s, &port));
      CHECK(port != 0);
      if (port) expect_serves("::1", port, "::");
      STOP_SERVER(s);
    }
    if (o) OK(INFERMETRICS_ServerOptionsDelete(o));

  }

  /* ---- "localhost" is documented as accepted: it binds a loopback address */
  {
    uint16_t port = 0;
    INFERMETRICS_ServerOptions* o = options_for("localhost", 0);
    INFERMETRICS_Server* s = NULL;
    if (o && OK(INFERMETRICS_ServerNew(&s, o))) {
      OK(INFERMETRICS_ServerPort(s, &port));
      if (port) {
        hc_response r;
        int rc4 = hc_get("127.0.0.1", port, "/metrics", &r, 5000);
        if (rc4 == HC_OK) hc_response_free(&r);
        int rc6 = rc4 == HC_OK ? HC_ECONNECT : hc_get("::1", port, "/metrics", &r, 5000);
        if (rc4 != HC_OK && rc6 == HC_OK) hc_response_free(&r);
        CHECKF(rc4 == HC_OK || rc6 == HC_OK, "localhost: neither 127.0.0.1:%u (%s) nor [::1]:%u (%s) answered",
               (unsigned)port, hc_strerror(rc4), (unsigned)port, hc_strerror(rc6));
      }
      STOP_SERVER(s);
    }
    if (o) OK(INFERMETRICS_ServerOptionsDelete(o));
  }

  return TEST_SUMMARY();
}

/*
 * embed.c: serving infermetrics' series from the host's own HTTP server.
 *
 * A backend that already runs an HTTP server does not want a second port. It starts an
 * infermetrics server *without a listener* (collectors only: CPU, GPU, pinned memory, process,
 * container), and answers GET /metrics itself:
 *
 *   INFERMETRICS_MetricsNegotiate(accept, accept_encoding, openmetrics, &format, &gzip);
 *   INFERMETRICS_MetricsRender(metrics, format, gzip, &body, &size, &content_type);
 *
 * which makes the same choice of format and compression the library's own server makes, so
 * Prometheus gets gzip (and OpenMetrics, if the host opts in) here too.
 *
 * The "host server" below is deliberately tiny: plain sockets, one connection at a time, one
 * request per connection. A real host has its own; only the two calls above matter.
 *
 *   embed [--port N] [--duration-ms N] [--openmetrics]
 *
 * --port 0 (the default) picks a free port; the program prints "PORT <n>" once it listens.
 * --duration-ms 0 (the default) runs until Ctrl-C or SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "infermetrics.h"

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    INFERMETRICS_Error* err_ = (call);                                                              \
    if (err_ != NULL) {                                                                             \
      fprintf(stderr, "embed: %s failed: %s: %s\n", #call, INFERMETRICS_ErrorCodeString(err_),      \
              INFERMETRICS_ErrorMessage(err_));                                                     \
      INFERMETRICS_ErrorDelete(err_);                                                               \
      exit(1);                                                                                      \
    }                                                                                               \
  } while (0)

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int send_all(int fd, const void* data, size_t n)
{
  const char* p = data;
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* The value of header `name` in the request head `head` (NUL-terminated, CRLF lines), copied
 * into out; NULL when absent. */
static const char* header_value(const char* head, const char* name, char* out, size_t outsz)
{
  size_t len = strlen(name);
  const char* line = strstr(head, "\r\n");
  while (line && line[2] != '\r' && line[2] != '\0') {
    line += 2;
    const char* end = strstr(line, "\r\n");
    if (!end) break;
    if ((size_t)(end - line) > len && strncasecmp(line, name, len) == 0 && line[len] == ':') {
      const char* v = line + len + 1;
      while (v < end && (*v == ' ' || *v == '\t')) ++v;
      size_t n = (size_t)(end - v);
      if (n >= outsz) n = outsz - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return out;
    }
    line = end;
  }
  return NULL;
}

static void respond_text(int fd, const char* status, const char* extra, const char* body, bool head_only)
{
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n%s"
                   "Connection: close\r\n\r\n%s",
                   status, strlen(body), extra, head_only ? "" : body);
  if (n > 0) send_all(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Serves one request on `fd`. */
static void serve(int fd, INFERMETRICS_Metrics* metrics, bool openmetrics)
{
  char head[8192];
  size_t used = 0;
  head[0] = '\0';
  while (strstr(head, "\r\n\r\n") == NULL) {
    if (used == sizeof head - 1) {
      respond_text(fd, "431 Request Header Fields Too Large", "", "request head too large\n", false);
      return;
    }
    ssize_t k = recv(fd, head + used, sizeof head - 1 - used, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return; /* closed, or the 5 s receive timeout */
    used += (size_t)k;
    head[used] = '\0';
  }
  char method[16], target[256];
  if (sscanf(head, "%15s %255s", method, target) != 2) {
    respond_text(fd, "400 Bad Request", "", "bad request line\n", false);
    return;
  }
  bool head_only = strcmp(method, "HEAD") == 0;
  if (strcmp(target, "/metrics") != 0 && strcmp(target, "/metrics/") != 0) {
    respond_text(fd, "404 Not Found", "", "not found: try /metrics\n", head_only);
    return;
  }
  if (strcmp(method, "GET") != 0 && !head_only) {
    respond_text(fd, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "use GET or HEAD\n", false);
    return;
  }

  /* the two calls: choose as our own server would, then render */
  char accept[1024], accept_encoding[256];
  INFERMETRICS_MetricFormat format;
  bool gzip;
  const void* body;
  size_t size;
  const char* content_type;
  CHECK(INFERMETRICS_MetricsNegotiate(header_value(head, "Accept", accept, sizeof accept),
                                      header_value(head, "Accept-Encoding", accept_encoding, sizeof accept_encoding),
                                      openmetrics, &format, &gzip));
  CHECK(INFERMETRICS_MetricsRender(metrics, format, gzip, &body, &size, &content_type));

  char response_head[512];
  int n = snprintf(response_head, sizeof response_head,
                   "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n%sVary: Accept-Encoding\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   content_type, gzip ? "Content-Encoding: gzip\r\n" : "", size);
  if (send_all(fd, response_head, (size_t)n) == 0 && !head_only) send_all(fd, body, size);
}

int main(int argc, char** argv)
{
  long port = 0;
  long duration_ms = 0;
  bool openmetrics = false;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--duration-ms") == 0 && i + 1 < argc) {
      duration_ms = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--openmetrics") == 0) {
      openmetrics = true;
    } else {
      fprintf(stderr, "usage: %s [--port N] [--duration-ms N] [--openmetrics]\n", argv[0]);
      return 2;
    }
  }

  /* 1. the collectors, without a listener of their own */
  INFERMETRICS_ServerOptions* options = NULL;
  INFERMETRICS_Server* collectors = NULL;
  CHECK(INFERMETRICS_ServerOptionsNew(&options));
  CHECK(INFERMETRICS_ServerOptionsSetListen(options, false));
  CHECK(INFERMETRICS_ServerNew(&collectors, options));
  CHECK(INFERMETRICS_ServerOptionsDelete(options));

  /* 2. the host's own series */
  INFERMETRICS_MetricFamily* family = NULL;
  INFERMETRICS_Metric* scrapes = NULL;
  CHECK(INFERMETRICS_MetricFamilyNew(&family, INFERMETRICS_METRIC_KIND_COUNTER, "embed_scrapes_total",
                                     "HTTP requests answered by the host's own server"));
  CHECK(INFERMETRICS_MetricNew(&scrapes, family, NULL, 0));

  /* 3. one holder for the host's /metrics handler (one thread renders at a time) */
  INFERMETRICS_Metrics* metrics = NULL;
  CHECK(INFERMETRICS_ServerMetrics(collectors, &metrics));

  /* 4. the host's HTTP server */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  struct sockaddr_in addr;
  socklen_t alen = sizeof addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)port);
  if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0 ||
      getsockname(lfd, (struct sockaddr*)&addr, &alen) != 0) {
    perror("embed: listen");
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  printf("PORT %u\nserving http://127.0.0.1:%u/metrics\n", (unsigned)ntohs(addr.sin_port),
         (unsigned)ntohs(addr.sin_port));
  fflush(stdout);

  double end = duration_ms > 0 ? now_ms() + (double)duration_ms : 0;
  while (!stop_requested && (end == 0 || now_ms() < end)) {
    struct pollfd p = {lfd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) continue;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    CHECK(INFERMETRICS_MetricIncrement(scrapes, 1));
    serve(fd, metrics, openmetrics);
    close(fd);
  }

  close(lfd);
  CHECK(INFERMETRICS_MetricsDelete(metrics));
  CHECK(INFERMETRICS_MetricDelete(scrapes));
  CHECK(INFERMETRICS_MetricFamilyDelete(family));
  CHECK(INFERMETRICS_ServerDelete(collectors));
  return 0;
}

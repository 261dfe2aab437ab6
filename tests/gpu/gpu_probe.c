/*
 * gpu_probe: one metrics server with the GPU collector on, standalone (only infermetrics.h and
 * libc), so that tests/gpu/real.sh can build it with plain gcc on a GPU machine without Rust.
 *
 *   gpu_probe [--interval MS] [--wait-for TEXT]...   start a server on 127.0.0.1 (port 0),
 *       scrape /metrics until every TEXT appears in the body (at most 20 s), print the last
 *       body on stdout, stop the server; exit 0, or 1 if some TEXT never appeared
 *   gpu_probe [--interval MS] --serve                 print "PORT <n>", serve until stdin closes
 *
 * The environment steers the rest (INFERMETRICS_NVML_LIBRARY, INFERMETRICS_COLLECTORS, ...).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "infermetrics.h"

static void must(INFERMETRICS_Error* e, const char* what)
{
  if (e) {
    fprintf(stderr, "gpu_probe: %s: %s\n", what, INFERMETRICS_ErrorMessage(e));
    INFERMETRICS_ErrorDelete(e);
    exit(2);
  }
}

/* GET /metrics on 127.0.0.1:port with Connection: close; the malloc'd body, or NULL. */
static char* scrape(unsigned port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return NULL;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    close(fd);
    return NULL;
  }
  const char* req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
    close(fd);
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  char* buf = malloc(cap);
  for (;;) {
    if (len + 4096 > cap) {
      char* nb = realloc(buf, cap *= 2);
      if (!nb) break;
      buf = nb;
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  char* body = strstr(buf, "\r\n\r\n");
  if (!body || strncmp(buf, "HTTP/1.1 200", 12) != 0) {
    free(buf);
    return NULL;
  }
  /* the server answers with Content-Length; keep just the body */
  memmove(buf, body + 4, strlen(body + 4) + 1);
  return buf;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(int argc, char** argv)
{
  unsigned long long interval = 500;
  int serve = 0, nwait = 0;
  const char* wait_for[32];
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
      interval = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--wait-for") && i + 1 < argc && nwait < 32) {
      wait_for[nwait++] = argv[++i];
    } else if (!strcmp(argv[i], "--serve")) {
      serve = 1;
    } else {
      fprintf(stderr, "usage: %s [--interval MS] [--wait-for TEXT]... | [--serve]\n", argv[0]);
      return 2;
    }
  }
  INFERMETRICS_ServerOptions* o = NULL;
  INFERMETRICS_Server* s = NULL;
  must(INFERMETRICS_ServerOptionsNew(&o), "ServerOptionsNew");
  must(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"), "SetAddress");
  must(INFERMETRICS_ServerOptionsSetPort(o, 0), "SetPort");
  must(INFERMETRICS_ServerOptionsSetMetricsInterval(o, interval), "SetMetricsInterval");
  must(INFERMETRICS_ServerOptionsSetGpuMetrics(o, 1), "SetGpuMetrics");
  must(INFERMETRICS_ServerNew(&s, o), "ServerNew");
  must(INFERMETRICS_ServerOptionsDelete(o), "ServerOptionsDelete");
  uint16_t port = 0;
  must(INFERMETRICS_ServerPort(s, &port), "ServerPort");
  int rc = 0;
  if (serve) {
    printf("PORT %u\n", (unsigned)port);
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof line, stdin) != NULL) {
    }
  } else {
    char* body = NULL;
    for (int tries = 0; tries < 200; ++tries) {
      free(body);
      body = scrape(port);
      int missing = body == NULL;
      for (int i = 0; body && i < nwait; ++i) missing |= strstr(body, wait_for[i]) == NULL;
      if (!missing) break;
      sleep_ms(100);
    }
    for (int i = 0; i < nwait; ++i) {
      if (!body || !strstr(body, wait_for[i])) {
        fprintf(stderr, "gpu_probe: '%s' never appeared in the scrape\n", wait_for[i]);
        rc = 1;
      }
    }
    if (body) fputs(body, stdout);
    free(body);
  }
  must(INFERMETRICS_ServerDelete(s), "ServerDelete");
  return rc;
}

/*
 * A small raw-socket HTTP/1.1 client for the infermetrics server tests (header-only).
 *
 * - hc_connect() opens a TCP connection to 127.0.0.1 / ::1 (any numeric address) with a timeout.
 * - hc_request() sends one request on it and reads the whole response: status line, headers,
 *   and a body framed by Content-Length or chunked transfer encoding (or, failing both, by the
 *   connection closing). A HEAD request, and 1xx/204/304 answers, have no body. Bytes that
 *   arrive after a response stay buffered for the next one, so one connection can be reused
 *   for many requests (keep-alive).
 * - hc_get() is a one-shot "Connection: close" request on a fresh connection.
 *
 * Every wait is bounded by the timeout given; nothing blocks forever. Return values: 0 for
 * success, a negative HC_E* code otherwise (hc_strerror() names it).
 */
#ifndef INFERMETRICS_HTTP_CLIENT_H
#define INFERMETRICS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
  HC_OK = 0,
  HC_EADDR = -1,     /* the host is not a numeric IPv4/IPv6 address */
  HC_ECONNECT = -2,  /* connect() failed (e.g. refused) */
  HC_ETIMEOUT = -3,  /* no (complete) answer before the deadline */
  HC_ECLOSED = -4,   /* the peer closed or reset the connection before a complete response */
  HC_EPROTO = -5,    /* the bytes that came are not a well-formed HTTP/1.x response */
  HC_ESEND = -6,     /* sending the request failed */
  HC_ENOMEM = -7
};

static inline const char* hc_strerror(int rc)
{
  switch (rc) {
    case HC_OK: return "ok";
    case HC_EADDR: return "bad address";
    case HC_ECONNECT: return "connect failed";
    case HC_ETIMEOUT: return "timed out";
    case HC_ECLOSED: return "connection closed before a complete response";
    case HC_EPROTO: return "malformed HTTP response";
    case HC_ESEND: return "send failed";
    case HC_ENOMEM: return "out of memory";
    default: return "?";
  }
}

typedef struct {
  int fd;
  char* buf; /* bytes received and not consumed yet */
  size_t len, cap;
  int eof;   /* the peer closed its side */
} hc_conn;

typedef struct {
  int status;       /* e.g. 200 */
  int minor;        /* HTTP/1.<minor> */
  char* head;       /* status line and headers, NUL-terminated (CRLFs kept) */
  char* body;       /* body, NUL-terminated (body_len excludes the NUL); never NULL after success */
  size_t body_len;
  int chunked;      /* the body came with Transfer-Encoding: chunked */
  int closes;       /* the server said Connection: close (or HTTP/1.0 without keep-alive) */
} hc_response;

static inline long long hc_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void hc_init(hc_conn* c)
{
  c->fd = -1;
  c->buf = NULL;
  c->len = c->cap = 0;
  c->eof = 0;
}

static inline void hc_close(hc_conn* c)
{
  if (c->fd >= 0) close(c->fd);
  free(c->buf);
  hc_init(c);
}

static inline void hc_response_free(hc_response* r)
{
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof *r);
}

/* Fills a sockaddr for a numeric host; returns its length or 0. */
static inline socklen_t hc_sockaddr(const char* host, uint16_t port, struct sockaddr_storage* ss)
{
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in* v4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return sizeof *v4;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return sizeof *v6;
  }
  return 0;
}

/* Connects (blocking socket afterwards; all reads and writes poll with deadlines). */
static inline int hc_connect(hc_conn* c, const char* host, uint16_t port, int timeout_ms)
{
  struct sockaddr_storage ss;
  socklen_t sl = hc_sockaddr(host, port, &ss);
  hc_init(c);
  if (sl == 0) return HC_EADDR;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return HC_ECONNECT;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr*)&ss, sl) != 0) {
    if (errno != EINPROGRESS) {
      close(fd);
      return HC_ECONNECT;
    }
    struct pollfd p = {fd, POLLOUT, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n <= 0) {
      close(fd);
      return n == 0 ? HC_ETIMEOUT : HC_ECONNECT;
    }
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
      close(fd);
      return HC_ECONNECT;
    }
  }
  c->fd = fd;
  return HC_OK;
}

/* Sends all of data before the deadline. */
static inline int hc_send_all(int fd, const char* data, size_t n, long long deadline)
{
  while (n > 0) {
    ssize_t w = send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      data += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return HC_ESEND;
    long long left = deadline - hc_now_ms();
    if (left <= 0) return HC_ETIMEOUT;
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, (int)left) < 0 && errno != EINTR) return HC_ESEND;
  }
  return HC_OK;
}

/* Reads more bytes into c->buf; HC_ECLOSED at end of stream. */
static inline int hc_fill(hc_conn* c, long long deadline)
{
  if (c->eof) return HC_ECLOSED;
  if (c->cap - c->len < 65536) {
    size_t ncap = c->cap ? c->cap * 2 : 131072;
    while (ncap - c->len < 65536) ncap *= 2;
    char* nb = (char*)realloc(c->buf, ncap + 1);
    if (!nb) return HC_ENOMEM;
    c->buf = nb;
    c->cap = ncap;
  }
  for (;;) {
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
    if (r > 0) {
      c->len += (size_t)r;
      c->buf[c->len] = '\0';
      return HC_OK;
    }
    if (r == 0) {
      c->eof = 1;
      return HC_ECLOSED;
    }
    if (errno == ECONNRESET || errno == EPIPE) {
      c->eof = 1;
      return HC_ECLOSED;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return HC_ECLOSED;
    long long left = deadline - hc_now_ms();
    if (left <= 0) return HC_ETIMEOUT;
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, (int)left) < 0 && errno != EINTR) return HC_ECLOSED;
  }
}

static inline void hc_consume(hc_conn* c, size_t n)
{
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
  if (c->buf) c->buf[c->len] = '\0';
}

/* Finds "\r\n" at or after `from` in c->buf; returns its offset or -1. */
static inline long hc_find_crlf(const hc_conn* c, size_t from)
{
  for (size_t i = from; i + 1 < c->len; ++i)
    if (c->buf[i] == '\r' && c->buf[i + 1] == '\n') return (long)i;
  return -1;
}

/* Value of header `name` in a response head (case-insensitive), copied into out; 1 if found. */
static inline int hc_header(const hc_response* r, const char* name, char* out, size_t outsz)
{
  const char* line = r->head ? strstr(r->head, "\r\n") : NULL;
  size_t nl = strlen(name);
  while (line && line[2] != '\0' && !(line[2] == '\r' && line[3] == '\n')) {
    line += 2;
    const char* end = strstr(line, "\r\n");
    if (!end) break;
    if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char* v = line + nl + 1;
      while (v < end && (*v == ' ' || *v == '\t')) ++v;
      const char* ve = end;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) --ve;
      size_t n = (size_t)(ve - v);
      if (outsz) {
        if (n >= outsz) n = outsz - 1;
        memcpy(out, v, n);
        out[n] = '\0';
      }
      return 1;
    }
    line = end;
  }
  return 0;
}

/* Reads one complete response from the connection. `head_only`: the request was HEAD. */
static inline int hc_read_response(hc_conn* c, int head_only, hc_response* r, int timeout_ms)
{
  long long deadline = hc_now_ms() + timeout_ms;
  memset(r, 0, sizeof *r);
  int rc;
  /* 1. the head, up to the empty line */
  char* end;
  for (;;) {
    end = c->buf ? strstr(c->buf, "\r\n\r\n") : NULL;
    if (end) break;
    if (c->len > (16u << 20)) return HC_EPROTO;
    if ((rc = hc_fill(c, deadline)) != HC_OK) return rc;
  }
  size_t head_len = (size_t)(end - c->buf) + 4;
  r->head = (char*)malloc(head_len + 1);
  if (!r->head) return HC_ENOMEM;
  memcpy(r->head, c->buf, head_len);
  r->head[head_len] = '\0';
  hc_consume(c, head_len);
  int maj = 0, mi = 0, st = 0;
  if (sscanf(r->head, "HTTP/%d.%d %d", &maj, &mi, &st) != 3 || maj != 1 || st < 100 || st > 599) {
    hc_response_free(r);
    return HC_EPROTO;
  }
  r->status = st;
  r->minor = mi;
  char v[256];
  if (hc_header(r, "Connection", v, sizeof v)) {
    r->closes = strcasestr(v, "close") != NULL;
  } else {
    r->closes = (mi == 0);
  }
  /* 2. the body */
  int no_body = head_only || st < 200 || st == 204 || st == 304;
  r->body = (char*)malloc(1);
  if (!r->body) return HC_ENOMEM;
  r->body[0] = '\0';
  if (no_body) return HC_OK;
  if (hc_header(r, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked")) {
    r->chunked = 1;
    size_t pos = 0; /* parse position in c->buf */
    size_t total = 0;
    char* body = NULL;
    for (;;) {
      long eol;
      while ((eol = hc_find_crlf(c, pos)) < 0) {
        if ((rc = hc_fill(c, deadline)) != HC_OK) {
          free(body);
          hc_response_free(r);
          return rc;
        }
      }
      char* after = NULL;
      unsigned long long size = strtoull(c->buf + pos, &after, 16);
      if (after == c->buf + pos || size > (1ull << 30)) {
        free(body);
        hc_response_free(r);
        return HC_EPROTO;
      }
      size_t data = (size_t)eol + 2;
      if (size == 0) {
        /* trailers until an empty line */
        size_t tpos = data;
        for (;;) {
          long tl;
          while ((tl = hc_find_crlf(c, tpos)) < 0) {
            if ((rc = hc_fill(c, deadline)) != HC_OK) {
              free(body);
              hc_response_free(r);
              return rc;
            }
          }
          if ((size_t)tl == tpos) {
            hc_consume(c, tpos + 2);
            break;
          }
          tpos = (size_t)tl + 2;
        }
        break;
      }
      while (c->len < data + size + 2) {
        if ((rc = hc_fill(c, deadline)) != HC_OK) {
          free(body);
          hc_response_free(r);
          return rc;
        }
      }
      if (c->buf[data + size] != '\r' || c->buf[data + size + 1] != '\n') {
        free(body);
        hc_response_free(r);
        return HC_EPROTO;
      }
      char* nb = (char*)realloc(body, total + size + 1);
      if (!nb) {
        free(body);
        hc_response_free(r);
        return HC_ENOMEM;
      }
      body = nb;
      memcpy(body + total, c->buf + data, size);
      total += size;
      body[total] = '\0';
      hc_consume(c, data + size + 2);
      pos = 0;
    }
    free(r->body);
    r->body = body ? body : (char*)calloc(1, 1);
    r->body_len = total;
    return r->body ? HC_OK : HC_ENOMEM;
  }
  if (hc_header(r, "Content-Length", v, sizeof v)) {
    char* after = NULL;
    unsigned long long n = strtoull(v, &after, 10);
    if (after == v || *after != '\0' || n > (1ull << 30)) {
      hc_response_free(r);
      return HC_EPROTO;
    }
    while (c->len < n) {
      if ((rc = hc_fill(c, deadline)) != HC_OK) {
        hc_response_free(r);
        return rc;
      }
    }
    free(r->body);
    r->body = (char*)malloc((size_t)n + 1);
    if (!r->body) return HC_ENOMEM;
    memcpy(r->body, c->buf, (size_t)n);
    r->body[n] = '\0';
    r->body_len = (size_t)n;
    hc_consume(c, (size_t)n);
    return HC_OK;
  }
  /* neither: the body runs until the connection closes */
  for (;;) {
    rc = hc_fill(c, deadline);
    if (rc == HC_ECLOSED) break;
    if (rc != HC_OK) {
      hc_response_free(r);
      return rc;
    }
  }
  free(r->body);
  r->body = (char*)malloc(c->len + 1);
  if (!r->body) return HC_ENOMEM;
  memcpy(r->body, c->buf ? c->buf : "", c->len);
  r->body[c->len] = '\0';
  r->body_len = c->len;
  hc_consume(c, c->len);
  r->closes = 1;
  return HC_OK;
}

/*
 * Sends `METHOD path HTTP/1.1` with Host (plus `extra_headers`, each ending in CRLF, may be
 * NULL) and reads the response into *r (free it with hc_response_free).
 */
static inline int hc_request(hc_conn* c, const char* method, const char* path, const char* extra_headers,
                             hc_response* r, int timeout_ms)
{
  char req[2048];
  memset(r, 0, sizeof *r);
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: infermetrics-test\r\n%s\r\n",
                   method, path, extra_headers ? extra_headers : "");
  if (n <= 0 || (size_t)n >= sizeof req) return HC_EPROTO;
  int rc = hc_send_all(c->fd, req, (size_t)n, hc_now_ms() + timeout_ms);
  if (rc != HC_OK) return rc == HC_ETIMEOUT ? rc : HC_ECLOSED;
  return hc_read_response(c, strcmp(method, "HEAD") == 0, r, timeout_ms);
}

/* One request on a fresh connection with "Connection: close". */
static inline int hc_get_method(const char* host, uint16_t port, const char* method, const char* path,
                                hc_response* r, int timeout_ms)
{
  hc_conn c;
  memset(r, 0, sizeof *r);
  int rc = hc_connect(&c, host, port, timeout_ms);
  if (rc != HC_OK) return rc;
  const char* extra = (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
                          ? "Connection: close\r\nContent-Length: 0\r\n"
                          : "Connection: close\r\n";
  rc = hc_request(&c, method, path, extra, r, timeout_ms);
  hc_close(&c);
  return rc;
}

static inline int hc_get(const char* host, uint16_t port, const char* path, hc_response* r, int timeout_ms)
{
  return hc_get_method(host, port, "GET", path, r, timeout_ms);
}

/* 1 if bytes (or EOF) are readable on the connection within `ms`, 0 if nothing came. */
static inline int hc_pending(hc_conn* c, int ms)
{
  if (c->len > 0) return 1;
  struct pollfd p = {c->fd, POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}

#endif /* INFERMETRICS_HTTP_CLIENT_H */

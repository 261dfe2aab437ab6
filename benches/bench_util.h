/* Shared helpers for the infermetrics benchmarks: clock, statistics, machine info and a tiny
 * HTTP/1.1 keep-alive client over a raw socket. Compiles as C11 and as C++17 (header-only,
 * every function static). Benchmarks only report; nothing here decides pass/fail. */
#ifndef INFERMETRICS_BENCH_UTIL_H
#define INFERMETRICS_BENCH_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t bench_env_u64(const char* name, uint64_t dflt) {
  const char* v = getenv(name);
  if (v == NULL || *v == '\0') return dflt;
  char* end = NULL;
  unsigned long long x = strtoull(v, &end, 10);
  if (end == NULL || *end != '\0' || x == 0) {
    fprintf(stderr, "bench: %s=\"%s\" is not a positive integer; using %llu\n", name, v,
            (unsigned long long)dflt);
    return dflt;
  }
  return (uint64_t)x;
}

static inline int bench_cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* Sorts v in place; returns the q-quantile (nearest rank, q in [0,1]). */
static inline double bench_quantile(double* v, size_t n, double q) {
  if (n == 0) return 0.0;
  qsort(v, n, sizeof(double), bench_cmp_double);
  size_t idx = (size_t)(q * (double)(n - 1) + 0.5);
  if (idx >= n) idx = n - 1;
  return v[idx];
}

static inline void bench_print_machine(FILE* out, const char* what, const char* compiler) {
  char model[256] = "unknown";
  FILE* f = fopen("/proc/cpuinfo", "r");
  if (f != NULL) {
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
      if (strncmp(line, "model name", 10) == 0) {
        char* colon = strchr(line, ':');
        if (colon != NULL) {
          colon += 2;
          colon[strcspn(colon, "\n")] = '\0';
          snprintf(model, sizeof model, "%s", colon);
        }
        break;
      }
    }
    fclose(f);
  }
  char load[128] = "?";
  f = fopen("/proc/loadavg", "r");
  if (f != NULL) {
    if (fgets(load, sizeof load, f) == NULL) snprintf(load, sizeof load, "?");
    load[strcspn(load, "\n")] = '\0';
    fclose(f);
  }
  char date[64];
  time_t t = time(NULL);
  struct tm tmv;
  gmtime_r(&t, &tmv);
  strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tmv);
  fprintf(out, "# %s\n# cpu: %s | nproc: %ld | compiler: %s | date: %s | loadavg: %s\n", what, model,
          sysconf(_SC_NPROCESSORS_ONLN), compiler, date, load);
}

/* ---------------------------------------------------------------- HTTP client ------------- */
/* One connection to 127.0.0.1:port. scrape() sends "GET path" and reads one whole response
 * (Content-Length, chunked, or close-delimited). If the server closes the connection after a
 * response (Connection: close), the next scrape reconnects and counts it in `reconnects`. */
typedef struct bench_http_conn bench_http_conn;

/* A transport over the connected socket (TLS in bench_scrape); NULL in a connection = plain
 * send/recv on the socket. */
typedef struct {
  int (*start)(bench_http_conn* c); /* after connect (a TLS handshake); 0 = ok */
  long (*send)(bench_http_conn* c, const char* p, size_t n);
  long (*recv)(bench_http_conn* c, char* p, size_t n);
  void (*stop)(bench_http_conn* c); /* before the socket is closed */
} bench_http_transport;

struct bench_http_conn {
  int fd;
  uint16_t port;
  char* buf; /* receive buffer */
  size_t cap, len, pos;
  uint64_t reconnects;
  int must_reconnect;
  size_t last_body_len;     /* bytes on the wire (compressed if the response was) */
  int last_status;
  int last_gzip;            /* the response said Content-Encoding: gzip */
  char last_type[96];       /* its Content-Type */
  const char* headers;      /* request header lines, each ending in CRLF (NULL: "Accept: * / *") */
  const bench_http_transport* tr;
  void* tr_state;
};

static inline long bench_io_send(bench_http_conn* c, const char* p, size_t n) {
  return c->tr != NULL ? c->tr->send(c, p, n) : (long)send(c->fd, p, n, MSG_NOSIGNAL);
}

static inline long bench_io_recv(bench_http_conn* c, char* p, size_t n) {
  return c->tr != NULL ? c->tr->recv(c, p, n) : (long)recv(c->fd, p, n, 0);
}

static inline void bench_io_close(bench_http_conn* c) {
  if (c->fd < 0) return;
  if (c->tr != NULL) c->tr->stop(c);
  close(c->fd);
  c->fd = -1;
}

static inline int bench_http_connect(bench_http_conn* c) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv;
  tv.tv_sec = 5;
  tv.tv_usec = 0;
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(c->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  if (c->tr != NULL && c->tr->start(c) != 0) {
    bench_io_close(c);
    return -1;
  }
  c->len = c->pos = 0;
  c->must_reconnect = 0;
  return 0;
}

/* A connection sending `headers` (NULL: "Accept: * / *") over `tr` (NULL: plain TCP). */
static inline int bench_http_open_ex(bench_http_conn* c, uint16_t port, const char* headers,
                                     const bench_http_transport* tr, void* tr_state) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->port = port;
  c->headers = headers;
  c->tr = tr;
  c->tr_state = tr_state;
  c->cap = 1 << 16;
  c->buf = (char*)malloc(c->cap);
  if (c->buf == NULL) return -1;
  return bench_http_connect(c);
}

static inline int bench_http_open(bench_http_conn* c, uint16_t port) {
  return bench_http_open_ex(c, port, NULL, NULL, NULL);
}

static inline void bench_http_close(bench_http_conn* c) {
  bench_io_close(c);
  free(c->buf);
  c->buf = NULL;
}

/* Makes sure at least `need` unread bytes are buffered. 0 ok, -1 error/EOF. */
static inline int bench_http_fill(bench_http_conn* c, size_t need) {
  if (c->pos > 0 && c->len - c->pos < need) { /* compact */
    memmove(c->buf, c->buf + c->pos, c->len - c->pos);
    c->len -= c->pos;
    c->pos = 0;
  }
  while (c->len - c->pos < need) {
    if (c->len == c->cap) {
      size_t ncap = c->cap * 2;
      while (ncap < need + c->pos) ncap *= 2;
      char* nb = (char*)realloc(c->buf, ncap);
      if (nb == NULL) return -1;
      c->buf = nb;
      c->cap = ncap;
    }
    long r = bench_io_recv(c, c->buf + c->len, c->cap - c->len);
    if (r <= 0) return -1;
    c->len += (size_t)r;
  }
  return 0;
}

/* Reads until CRLF; returns pointer to a NUL-terminated line (valid until next call), or NULL. */
static inline char* bench_http_line(bench_http_conn* c) {
  for (;;) {
    char* start = c->buf + c->pos;
    size_t avail = c->len - c->pos;
    char* nl = (char*)memchr(start, '\n', avail);
    if (nl != NULL) {
      *nl = '\0';
      if (nl > start && nl[-1] == '\r') nl[-1] = '\0';
      c->pos += (size_t)(nl - start) + 1;
      return start;
    }
    if (bench_http_fill(c, avail + 1) != 0) return NULL;
  }
}

/* Consumes n body bytes. */
static inline int bench_http_skip(bench_http_conn* c, size_t n) {
  while (n > 0) {
    if (c->len == c->pos && bench_http_fill(c, 1) != 0) return -1;
    size_t avail = c->len - c->pos;
    size_t take = avail < n ? avail : n;
    c->pos += take;
    n -= take;
  }
  return 0;
}

/* One GET. Returns the HTTP status (200...) or -1 on a transport/parse error. */
static inline int bench_http_get_once(bench_http_conn* c, const char* path, int* fresh) {
  *fresh = 0;
  if (c->fd >= 0 && !c->must_reconnect && c->pos == c->len) {
    /* like an HTTP client's idle-connection check: a server that closed after its last
     * response (without saying "Connection: close") is noticed before sending */
    char b;
    ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) c->must_reconnect = 1;
  }
  if (c->fd < 0 || c->must_reconnect) {
    *fresh = 1;
    bench_io_close(c);
    if (bench_http_connect(c) != 0) return -1;
    c->reconnects++;
  }
  char req[512];
  int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", path,
                    c->headers != NULL ? c->headers : "Accept: */*\r\n");
  if (rl < 0 || (size_t)rl >= sizeof req) return -1;
  size_t off = 0;
  while (off < (size_t)rl) {
    long w = bench_io_send(c, req + off, (size_t)rl - off);
    if (w <= 0) {
      c->must_reconnect = 1;
      return -1;
    }
    off += (size_t)w;
  }
  char* line = bench_http_line(c);
  if (line == NULL || strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12) {
    c->must_reconnect = 1;
    return -1;
  }
  int status = atoi(line + 9);
  long long clen = -1;
  int chunked = 0, close_after = (line[7] == '0');
  c->last_gzip = 0;
  c->last_type[0] = '\0';
  for (;;) {
    line = bench_http_line(c);
    if (line == NULL) {
      c->must_reconnect = 1;
      return -1;
    }
    if (*line == '\0') break;
    if (strncasecmp(line, "Content-Length:", 15) == 0) clen = atoll(line + 15);
    else if (strncasecmp(line, "Content-Encoding:", 17) == 0 && strstr(line, "gzip") != NULL) c->last_gzip = 1;
    else if (strncasecmp(line, "Content-Type:", 13) == 0) {
      const char* v = line + 13;
      while (*v == ' ') v++;
      snprintf(c->last_type, sizeof c->last_type, "%s", v);
    }
    else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked") != NULL) chunked = 1;
    else if (strncasecmp(line, "Connection:", 11) == 0) {
      const char* v = line + 11;
      while (*v == ' ') v++;
      if (strncasecmp(v, "close", 5) == 0) close_after = 1;
      else if (strncasecmp(v, "keep-alive", 10) == 0) close_after = 0;
    }
  }
  size_t body = 0;
  if (chunked) {
    for (;;) {
      line = bench_http_line(c);
      if (line == NULL) {
        c->must_reconnect = 1;
        return -1;
      }
      size_t sz = (size_t)strtoull(line, NULL, 16);
      if (sz == 0) {
        do { /* trailers up to the empty line */
          line = bench_http_line(c);
          if (line == NULL) {
            c->must_reconnect = 1;
            return -1;
          }
        } while (*line != '\0');
        break;
      }
      if (bench_http_skip(c, sz) != 0 || bench_http_line(c) == NULL) {
        c->must_reconnect = 1;
        return -1;
      }
      body += sz;
    }
  } else if (clen >= 0) {
    if (bench_http_skip(c, (size_t)clen) != 0) {
      c->must_reconnect = 1;
      return -1;
    }
    body = (size_t)clen;
  } else { /* close-delimited */
    body = c->len - c->pos;
    c->pos = c->len;
    for (;;) {
      long r = bench_io_recv(c, c->buf, c->cap);
      if (r <= 0) break;
      body += (size_t)r;
    }
    c->len = c->pos = 0;
    close_after = 1;
  }
  c->last_body_len = body;
  c->last_status = status;
  if (close_after) c->must_reconnect = 1;
  return status;
}

/* A reused connection the server closed silently is retried once on a fresh one. */
static inline int bench_http_get(bench_http_conn* c, const char* path) {
  int fresh = 0;
  int st = bench_http_get_once(c, path, &fresh);
  if (st < 0 && !fresh) {
    c->must_reconnect = 1;
    st = bench_http_get_once(c, path, &fresh);
  }
  return st;
}

/* Latency of `n` keep-alive scrapes of /metrics on the open connection `c` (after 3 warm-up
 * scrapes); see bench_http_open_ex for other headers or TLS. Stops early after max_s seconds.
 * Fills median/p99 in ms, the body size on the wire and the number of timed scrapes (*done);
 * returns the number of failed scrapes. Leaves `c` open, the last response's headers in c->last_*. */
static inline int bench_http_latency_on(bench_http_conn* c, int n, double max_s, double* median_ms,
                                        double* p99_ms, size_t* body, int* done) {
  int failed = 0;
  *median_ms = *p99_ms = 0.0;
  *body = 0;
  for (int i = 0; i < 3; i++)
    if (bench_http_get(c, "/metrics") != 200) failed++;
  double* t = (double*)calloc((size_t)n, sizeof(double));
  int got = 0;
  double deadline = bench_now_s() + max_s;
  for (int i = 0; i < n && bench_now_s() < deadline; i++) {
    double t0 = bench_now_s();
    int st = bench_http_get(c, "/metrics");
    double dt = (bench_now_s() - t0) * 1e3;
    if (st != 200) {
      failed++;
      continue;
    }
    t[got++] = dt;
    *body = c->last_body_len;
  }
  if (got > 0) {
    *median_ms = bench_quantile(t, (size_t)got, 0.5);
    *p99_ms = bench_quantile(t, (size_t)got, 0.99);
  }
  free(t);
  *done = got;
  return failed;
}

/* As bench_http_latency_on, on a new plain connection to 127.0.0.1:port. */
static inline int bench_http_latency(uint16_t port, int n, double max_s, double* median_ms, double* p99_ms,
                              size_t* body, int* done) {
  bench_http_conn c;
  *median_ms = *p99_ms = 0.0;
  *body = 0;
  *done = 0;
  if (bench_http_open(&c, port) != 0) return n;
  int failed = bench_http_latency_on(&c, n, max_s, median_ms, p99_ms, body, done);
  bench_http_close(&c);
  return failed;
}

typedef struct {
  uint16_t port;
  double seconds;
  const volatile int* stop; /* optional external stop flag (NULL: run `seconds`) */
  uint64_t ok, failed, reconnects;
} bench_http_loop_arg;

/* Scrapes /metrics in a loop on one keep-alive connection until `seconds` pass or *stop. */
static inline void* bench_http_loop(void* p) {
  bench_http_loop_arg* a = (bench_http_loop_arg*)p;
  bench_http_conn c;
  a->ok = a->failed = a->reconnects = 0;
  if (bench_http_open(&c, a->port) != 0) {
    a->failed = 1;
    return NULL;
  }
  double end = bench_now_s() + a->seconds;
  for (;;) {
    if (a->stop != NULL ? *a->stop != 0 : bench_now_s() >= end) break;
    if (bench_http_get(&c, "/metrics") == 200) a->ok++;
    else if (++a->failed > 1000) break;
  }
  a->reconnects = c.reconnects;
  bench_http_close(&c);
  return NULL;
}

/* Scrapes per second with `conns` client connections (one thread each) for `seconds`. */
static inline double bench_http_throughput(uint16_t port, int conns, double seconds, uint64_t* failed,
                                    uint64_t* reconnects) {
  bench_http_loop_arg args[8];
  pthread_t th[8];
  if (conns > 8) conns = 8;
  double t0 = bench_now_s();
  for (int i = 0; i < conns; i++) {
    memset(&args[i], 0, sizeof args[i]);
    args[i].port = port;
    args[i].seconds = seconds;
    args[i].stop = NULL;
    pthread_create(&th[i], NULL, bench_http_loop, &args[i]);
  }
  uint64_t ok = 0;
  *failed = *reconnects = 0;
  for (int i = 0; i < conns; i++) {
    pthread_join(th[i], NULL);
    ok += args[i].ok;
    *failed += args[i].failed;
    *reconnects += args[i].reconnects;
  }
  double el = bench_now_s() - t0;
  return (double)ok / el;
}

#ifdef INFERMETRICS_H
/* Benchmarks of infermetrics stop on the first error (BENCH_NAME names the program). */
#ifndef BENCH_NAME
#define BENCH_NAME "bench"
#endif
#define CHECK(call)                                                                            \
  do {                                                                                         \
    INFERMETRICS_Error* err_ = (call);                                                         \
    if (err_ != NULL) {                                                                        \
      fprintf(stderr, BENCH_NAME ": %s failed at line %d: %s\n", #call, __LINE__,              \
              INFERMETRICS_ErrorMessage(err_));                                                \
      exit(2);                                                                                 \
    }                                                                                          \
  } while (0)

/* 10 bucket bounds shared by the benchmarks' histograms. */
static const double BOUNDS[10] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};

/* A set of benchmark series: counters in family PREFIX_TAG_requests_total, 10-bucket
 * histograms in PREFIX_TAG_latency_seconds, labels {model, id}. */
typedef struct {
  INFERMETRICS_MetricFamily* cfam;
  INFERMETRICS_MetricFamily* hfam;
  INFERMETRICS_Metric** metrics;
  size_t n;
} series_set;

/* n series: alternately a counter (incremented by i+1) and a histogram observing
 * observe(i, k) for k in 0..4 when mixed; all counters when !mixed. */
static inline series_set bench_make_series(const char* prefix, size_t n, const char* tag, bool mixed,
                                    double (*observe)(size_t i, size_t k)) {
  series_set s;
  char name[128];
  snprintf(name, sizeof name, "%s_%s_requests_total", prefix, tag);
  CHECK(INFERMETRICS_MetricFamilyNew(&s.cfam, INFERMETRICS_METRIC_KIND_COUNTER, name,
                                     "Benchmark counter family"));
  snprintf(name, sizeof name, "%s_%s_latency_seconds", prefix, tag);
  CHECK(INFERMETRICS_MetricFamilyNew(&s.hfam, INFERMETRICS_METRIC_KIND_HISTOGRAM, name,
                                     "Benchmark histogram family"));
  INFERMETRICS_MetricArgs* args = NULL;
  CHECK(INFERMETRICS_MetricArgsNew(&args));
  CHECK(INFERMETRICS_MetricArgsSetHistogram(args, BOUNDS, 10));
  s.n = n;
  s.metrics = (INFERMETRICS_Metric**)calloc(n, sizeof *s.metrics);
  for (size_t i = 0; i < n; i++) {
    char val[32];
    snprintf(val, sizeof val, "%zu", mixed ? i / 2 : i);
    INFERMETRICS_Parameter* lbl[2];
    lbl[0] = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "resnet50");
    lbl[1] = INFERMETRICS_ParameterNew("id", INFERMETRICS_PARAMETER_STRING, val);
    if (lbl[0] == NULL || lbl[1] == NULL) {
      fprintf(stderr, BENCH_NAME ": ParameterNew returned NULL\n");
      exit(2);
    }
    if (!mixed || i % 2 == 0) {
      CHECK(INFERMETRICS_MetricNew(&s.metrics[i], s.cfam, (const INFERMETRICS_Parameter**)lbl, 2));
      CHECK(INFERMETRICS_MetricIncrement(s.metrics[i], (double)(i + 1)));
    } else {
      CHECK(INFERMETRICS_MetricNewWithArgs(&s.metrics[i], s.hfam, (const INFERMETRICS_Parameter**)lbl, 2,
                                           args));
      for (size_t k = 0; k < 5; k++) CHECK(INFERMETRICS_MetricObserve(s.metrics[i], observe(i, k)));
    }
    INFERMETRICS_ParameterDelete(lbl[0]);
    INFERMETRICS_ParameterDelete(lbl[1]);
  }
  CHECK(INFERMETRICS_MetricArgsDelete(args));
  return s;
}

static inline void free_series(series_set* s) {
  for (size_t i = 0; i < s->n; i++) CHECK(INFERMETRICS_MetricDelete(s->metrics[i]));
  free(s->metrics);
  CHECK(INFERMETRICS_MetricFamilyDelete(s->cfam));
  CHECK(INFERMETRICS_MetricFamilyDelete(s->hfam));
}
#endif

#endif

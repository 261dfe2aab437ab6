/* bench_scrape: one 10k-series scrape (half counters, half 10-bucket histograms) through the
 * infermetrics server in every wire form it offers, on one keep-alive connection each:
 *   0.0.4 plain, 0.0.4 gzip, OpenMetrics plain, OpenMetrics gzip, and the same over TLS
 *   (rustls; the client is OpenSSL) plain and gzip.
 * Reports median and p99 scrape latency (request sent to last body byte read; the cases take
 * turns, one scrape each per round) and the bytes on the wire per scrape (body, as sent: compressed when gzip). The prometheus-cpp side of the
 * comparison is `bench_promcpp scrape` (same series, same client code in bench_util.h).
 *
 * usage: bench_scrape WEB_CONFIG_TLS   (a web-config.yml with tls_server_config; benches/run.sh
 *        makes one with openssl). Knobs: BENCH_SCRAPE_SERIES (10000), BENCH_SCRAPE_N (100 per
 *        case, at most 60 s in all). Reported, never pass/fail. "RESULT\t" lines feed run.sh. */
#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdlib.h>

#define BENCH_NAME "bench_scrape"
#include "infermetrics.h"
#include "bench_util.h"

static double scrape_observe(size_t i, size_t k) { return BOUNDS[(i + k * 3) % 10] * 0.9; }

/* ------------------------------------------------------------------ TLS client (OpenSSL) */
static SSL_CTX* g_ctx;

static int tls_start(bench_http_conn* c) {
  SSL* ssl = SSL_new(g_ctx);
  if (ssl == NULL || SSL_set_fd(ssl, c->fd) != 1 || SSL_connect(ssl) != 1) {
    ERR_print_errors_fp(stderr);
    SSL_free(ssl);
    return -1;
  }
  c->tr_state = ssl;
  return 0;
}

static long tls_send(bench_http_conn* c, const char* p, size_t n) {
  int w = SSL_write((SSL*)c->tr_state, p, (int)n);
  return w > 0 ? w : -1;
}

static long tls_recv(bench_http_conn* c, char* p, size_t n) {
  int r = SSL_read((SSL*)c->tr_state, p, (int)(n > (1u << 30) ? (1u << 30) : n));
  return r > 0 ? r : (SSL_get_error((SSL*)c->tr_state, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
}

static void tls_stop(bench_http_conn* c) {
  if (c->tr_state != NULL) {
    SSL_shutdown((SSL*)c->tr_state);
    SSL_free((SSL*)c->tr_state);
  }
  c->tr_state = NULL;
}

static const bench_http_transport TLS = {tls_start, tls_send, tls_recv, tls_stop};

/* ------------------------------------------------------------------ servers */
/* A server on 127.0.0.1:0 with every collector off (the scrape is the registry alone), with
 * OpenMetrics enabled and the given web config (NULL: none), set through the environment
 * variables a deployment would use. */
static INFERMETRICS_Server* start_server(const char* web_config, uint16_t* port) {
  setenv("INFERMETRICS_OPENMETRICS", "1", 1);
  if (web_config != NULL) setenv("INFERMETRICS_WEB_CONFIG", web_config, 1);
  INFERMETRICS_ServerOptions* o = NULL;
  CHECK(INFERMETRICS_ServerOptionsNew(&o));
  unsetenv("INFERMETRICS_OPENMETRICS");
  unsetenv("INFERMETRICS_WEB_CONFIG");
  CHECK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  CHECK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  CHECK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  CHECK(INFERMETRICS_ServerOptionsSetCpuMetrics(o, false));
  CHECK(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(o, false));
  CHECK(INFERMETRICS_ServerOptionsSetProcessMetrics(o, false));
  CHECK(INFERMETRICS_ServerOptionsSetContainerMetrics(o, false));
  INFERMETRICS_Server* s = NULL;
  CHECK(INFERMETRICS_ServerNew(&s, o));
  CHECK(INFERMETRICS_ServerOptionsDelete(o));
  CHECK(INFERMETRICS_ServerPort(s, port));
  return s;
}

#define ACCEPT_TEXT "Accept: text/plain;version=0.0.4\r\n"
#define ACCEPT_OM "Accept: application/openmetrics-text;version=1.0.0\r\n"
#define GZIP "Accept-Encoding: gzip\r\n"

typedef struct {
  const char* what;
  const char* key;
  const char* headers;
  bool tls;
  bool want_gzip;
  const char* want_type; /* prefix of the Content-Type expected */
} scrape_case;

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s WEB_CONFIG_TLS\n", argv[0]);
    return 2;
  }
  size_t n = (size_t)bench_env_u64("BENCH_SCRAPE_SERIES", 10000);
  int reps = (int)bench_env_u64("BENCH_SCRAPE_N", 100);
  bench_print_machine(stdout, "bench_scrape (10k-series scrape: plain / gzip / OpenMetrics / TLS)",
                      "gcc " __VERSION__);
  series_set set = bench_make_series("bench_scrape", n, "10k", true, scrape_observe);

  g_ctx = SSL_CTX_new(TLS_client_method());
  if (g_ctx == NULL) {
    fprintf(stderr, "bench_scrape: SSL_CTX_new failed\n");
    return 2;
  }
  SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL); /* a bench on loopback: no verification */

  uint16_t plain_port = 0, tls_port = 0;
  INFERMETRICS_Server* plain = start_server(NULL, &plain_port);
  INFERMETRICS_Server* tls = start_server(argv[1], &tls_port);

  const scrape_case cases[] = {
      {"0.0.4, identity", "text", ACCEPT_TEXT, false, false, "text/plain"},
      {"0.0.4, gzip", "text_gzip", ACCEPT_TEXT GZIP, false, true, "text/plain"},
      {"OpenMetrics, identity", "om", ACCEPT_OM, false, false, "application/openmetrics-text"},
      {"OpenMetrics, gzip", "om_gzip", ACCEPT_OM GZIP, false, true, "application/openmetrics-text"},
      {"TLS 0.0.4, identity", "tls_text", ACCEPT_TEXT, true, false, "text/plain"},
      {"TLS 0.0.4, gzip", "tls_text_gzip", ACCEPT_TEXT GZIP, true, true, "text/plain"},
  };
  enum { NCASES = sizeof cases / sizeof cases[0] };
  /* one connection per case; the cases take turns, one scrape each per round, so a change in
     the machine's load during the run touches every case alike */
  bench_http_conn conns[NCASES];
  double* t[NCASES];
  int got[NCASES], failed[NCASES];
  for (size_t i = 0; i < NCASES; i++) {
    const scrape_case* k = &cases[i];
    t[i] = (double*)calloc((size_t)reps, sizeof(double));
    got[i] = failed[i] = 0;
    if (bench_http_open_ex(&conns[i], k->tls ? tls_port : plain_port, k->headers, k->tls ? &TLS : NULL, NULL) != 0) {
      fprintf(stderr, "bench_scrape: %s: could not connect\n", k->what);
      return 2;
    }
    for (int w = 0; w < 3; w++) bench_http_get(&conns[i], "/metrics"); /* warm-up */
  }
  double deadline = bench_now_s() + 60.0;
  for (int r = 0; r < reps && bench_now_s() < deadline; r++) {
    for (size_t i = 0; i < NCASES; i++) {
      double t0 = bench_now_s();
      int st = bench_http_get(&conns[i], "/metrics");
      double dt = (bench_now_s() - t0) * 1e3;
      if (st == 200) t[i][got[i]++] = dt;
      else failed[i]++;
    }
  }
  printf("\n%zu series (%zu counters, %zu 10-bucket histograms), %d keep-alive scrapes per case, in turns\n", n,
         (n + 1) / 2, n / 2, got[0]);
  printf("%-26s %10s %10s %12s  %s\n", "form", "median ms", "p99 ms", "wire bytes", "served as");
  for (size_t i = 0; i < NCASES; i++) {
    const scrape_case* k = &cases[i];
    bench_http_conn* c = &conns[i];
    double med = got[i] ? bench_quantile(t[i], (size_t)got[i], 0.5) : 0;
    double p99 = got[i] ? bench_quantile(t[i], (size_t)got[i], 0.99) : 0;
    bool as_asked = c->last_gzip == k->want_gzip &&
                    strncmp(c->last_type, k->want_type, strlen(k->want_type)) == 0;
    printf("%-26s %10.3f %10.3f %12zu  %s%s%s\n", k->what, med, p99, c->last_body_len, c->last_type,
           c->last_gzip ? ", gzip" : "", as_asked ? "" : "   <- NOT AS ASKED");
    if (failed[i] > 0) printf("   (%d of %d scrapes failed)\n", failed[i], got[i] + failed[i]);
    printf("RESULT\tinfermetrics\tscrape_%s_med_ms\t%.3f\n", k->key, med);
    printf("RESULT\tinfermetrics\tscrape_%s_p99_ms\t%.3f\n", k->key, p99);
    printf("RESULT\tinfermetrics\tscrape_%s_bytes\t%zu\n", k->key, c->last_body_len);
    bench_http_close(c);
    free(t[i]);
  }
  CHECK(INFERMETRICS_ServerDelete(tls));
  CHECK(INFERMETRICS_ServerDelete(plain));
  free_series(&set);
  SSL_CTX_free(g_ctx);
  return 0;
}

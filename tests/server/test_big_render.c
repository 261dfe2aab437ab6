/*
 * server_big_render: rendering never blocks the I/O thread. A gauge family with SERIES
 * series (1,000,000 by default; the environment variable SRVTEST_BIG_SERIES overrides it),
 * a thread scraping it in a loop on one keep-alive connection, and meanwhile probes on a
 * second connection (GET /nope -> 404 and HEAD /nope -> 404, which need no render) that must
 * each be answered within 100 ms - also while a big render is running, which the test checks
 * by timestamps: a probe counts as "during a render" when it was sent after a scrape request
 * and answered before that scrape's first response byte. Then 8 connections scrape at once:
 * they share renders (coalescing): their answers come from about two renders, not eight.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "server_test.h"

enum { PROBES_MAX = 4000, SCRAPES_MAX = 64, PROBE_LIMIT_MS = 100, MIN_SCRAPES = 5 };

static uint16_t g_port;
static long g_series;
static atomic_int g_stop;
static atomic_int g_scrapes;
static int g_bad_scrapes;
/* [sent, first byte, done] of each scrape, in ms */
static long long g_scrape_t[SCRAPES_MAX][3];
static size_t g_body_bytes;

static void* scraper(void* arg)
{
  (void)arg;
  hc_conn c;
  char last[64];
  snprintf(last, sizeof last, "srvtest_big{i=\"%ld\"} %ld\n", g_series - 1, g_series - 1);
  if (hc_connect(&c, "127.0.0.1", g_port, 5000) != HC_OK) {
    g_bad_scrapes++;
    return NULL;
  }
  while (!atomic_load(&g_stop) && atomic_load(&g_scrapes) < SCRAPES_MAX) {
    int i = atomic_load(&g_scrapes);
    const char* req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    g_scrape_t[i][0] = hc_now_ms();
    if (hc_send_all(c.fd, req, strlen(req), g_scrape_t[i][0] + 30000) != HC_OK) {
      g_bad_scrapes++;
      break;
    }
    if (hc_fill(&c, g_scrape_t[i][0] + 30000) != HC_OK) {
      g_bad_scrapes++;
      break;
    }
    g_scrape_t[i][1] = hc_now_ms();
    hc_response r;
    int rc = hc_read_response(&c, 0, &r, 30000);
    g_scrape_t[i][2] = hc_now_ms();
    if (rc != HC_OK || r.status != 200 || strstr(r.body, last) == NULL ||
        strstr(r.body, "srvtest_big{i=\"0\"} 0\n") == NULL) {
      fprintf(stderr, "bad scrape: %s, status %d, %zu bytes\n", hc_strerror(rc), rc == HC_OK ? r.status : 0,
              rc == HC_OK ? r.body_len : 0);
      g_bad_scrapes++;
      if (rc == HC_OK) hc_response_free(&r);
      break;
    }
    g_body_bytes = r.body_len;
    hc_response_free(&r);
    atomic_fetch_add(&g_scrapes, 1);
  }
  hc_close(&c);
  return NULL;
}

static INFERMETRICS_Metric* g_ticks;

/* Increments srvtest_big_ticks until g_stop. */
static void* tick_loop(void* arg)
{
  (void)arg;
  while (!atomic_load(&g_stop)) {
    INFERMETRICS_Error* e = INFERMETRICS_MetricIncrement(g_ticks, 1);
    if (e) INFERMETRICS_ErrorDelete(e);
  }
  return NULL;
}

static int cmp_ll(const void* a, const void* b)
{
  long long x = *(const long long*)a, y = *(const long long*)b;
  return x < y ? -1 : x > y;
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  g_series = 1000000;
  if (getenv("SRVTEST_BIG_SERIES")) g_series = atol(getenv("SRVTEST_BIG_SERIES"));
  if (g_series < 1000) g_series = 1000;

  INFERMETRICS_MetricFamily* f = NULL;
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_GAUGE, "srvtest_big", "A big gauge family"));
  INFERMETRICS_Metric** m = (INFERMETRICS_Metric**)calloc((size_t)g_series, sizeof *m);
  if (!f || !m) return TEST_SUMMARY();
  long long t0 = hc_now_ms();
  for (long i = 0; i < g_series; ++i) {
    char v[24];
    snprintf(v, sizeof v, "%ld", i);
    INFERMETRICS_Parameter* p = INFERMETRICS_ParameterNew("i", INFERMETRICS_PARAMETER_STRING, v);
    const INFERMETRICS_Parameter* labels[1] = {p};
    INFERMETRICS_Error* e = INFERMETRICS_MetricNew(&m[i], f, labels, 1);
    INFERMETRICS_ParameterDelete(p);
    if (e) {
      OK(e);
      return TEST_SUMMARY();
    }
    e = INFERMETRICS_MetricSet(m[i], (double)i);
    if (e) OK(e);
  }
  long long create_ms = hc_now_ms() - t0;
  INFERMETRICS_MetricFamily* tf = NULL;
  OK(INFERMETRICS_MetricFamilyNew(&tf, INFERMETRICS_METRIC_KIND_COUNTER, "srvtest_big_ticks", "Increments"));
  OK(INFERMETRICS_MetricNew(&g_ticks, tf, NULL, 0));

  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &g_port);
  if (!s) return TEST_SUMMARY();

  pthread_t th;
  CHECK(pthread_create(&th, NULL, scraper, NULL) == 0);
  hc_conn c;
  int rc = hc_connect(&c, "127.0.0.1", g_port, 5000);
  CHECKF(rc == HC_OK, "probe connection: %s", hc_strerror(rc));
  static long long sent[PROBES_MAX], answered[PROBES_MAX];
  int probes = 0, slow = 0, failed = 0;
  long long until = hc_now_ms() + 60000;
  while (rc == HC_OK && probes < PROBES_MAX && atomic_load(&g_scrapes) < MIN_SCRAPES && !g_bad_scrapes &&
         hc_now_ms() < until) {
    hc_response r;
    const char* method = (probes & 1) ? "HEAD" : "GET";
    sent[probes] = hc_now_ms();
    int prc = hc_request(&c, method, "/nope", NULL, &r, 5000);
    answered[probes] = hc_now_ms();
    long long ms = answered[probes] - sent[probes];
    if (prc != HC_OK || r.status != 404) {
      ++failed;
      CHECKF(0, "probe %d (%s /nope): %s, status %d", probes, method, hc_strerror(prc), prc == HC_OK ? r.status : 0);
    } else if (ms >= PROBE_LIMIT_MS) {
      ++slow;
    }
    if (prc == HC_OK) hc_response_free(&r);
    ++probes;
    if (prc != HC_OK) break;
    st_sleep_ms(5);
  }
  atomic_store(&g_stop, 1);
  pthread_join(th, NULL);
  if (rc == HC_OK) hc_close(&c);

  /* which probes ran while a scrape was waiting for its render */
  int scrapes = atomic_load(&g_scrapes), during = 0;
  long long worst = 0, worst_during = 0;
  static long long lat[PROBES_MAX];
  for (int i = 0; i < probes; ++i) {
    long long ms = answered[i] - sent[i];
    lat[i] = ms;
    if (ms > worst) worst = ms;
    for (int k = 0; k < scrapes; ++k) {
      if (sent[i] >= g_scrape_t[k][0] && answered[i] <= g_scrape_t[k][1]) {
        ++during;
        if (ms > worst_during) worst_during = ms;
        break;
      }
    }
  }
  qsort(lat, (size_t)probes, sizeof lat[0], cmp_ll);
  long long render_min = -1, scrape_min = -1;
  for (int k = 0; k < scrapes; ++k) {
    long long r = g_scrape_t[k][1] - g_scrape_t[k][0], t = g_scrape_t[k][2] - g_scrape_t[k][0];
    if (render_min < 0 || r < render_min) render_min = r;
    if (scrape_min < 0 || t < scrape_min) scrape_min = t;
  }
  printf("%ld series created in %lld ms; %d scrapes of %zu bytes: first byte after >= %lld ms, whole scrape >= %lld "
         "ms\n",
         g_series, create_ms, scrapes, g_body_bytes, render_min, scrape_min);
  printf("%d probes (GET/HEAD /nope -> 404) on a second connection: p50 %lld ms, p99 %lld ms, max %lld ms; %d of them "
         "while a render ran (max %lld ms); %d over %d ms\n",
         probes, probes ? lat[probes / 2] : -1, probes ? lat[probes * 99 / 100] : -1, worst, during, worst_during,
         slow, PROBE_LIMIT_MS);
  CHECKF(g_bad_scrapes == 0, "%d scrapes of the big registry failed", g_bad_scrapes);
  CHECKF(scrapes >= MIN_SCRAPES, "only %d big scrapes completed", scrapes);
  CHECKF(failed == 0, "%d probes failed", failed);
  CHECKF(slow == 0, "%d of %d probes took %d ms or more (worst %lld ms)", slow, probes, PROBE_LIMIT_MS, worst);
  CHECKF(during >= 5, "only %d probes fell inside a render (expected the render to take long enough for several)",
         during);

  /* coalescing: 8 connections ask at once while a thread increments a counter as fast as it
     can; each render captures a different value of it, so the number of distinct values
     among the 8 answers is the number of renders that served them: about two (the first
     request starts one, the other seven queue behind it and share the next), not eight */
  {
    enum { N = 8 };
    hc_conn cs[N];
    struct pollfd pfd[N];
    long long first[N];
    double ticks[N];
    int opened = 0;
    pthread_t ticker;
    atomic_store(&g_stop, 0);
    CHECK(pthread_create(&ticker, NULL, tick_loop, NULL) == 0);
    for (int i = 0; i < N; ++i)
      if (hc_connect(&cs[opened], "127.0.0.1", g_port, 5000) == HC_OK) ++opened;
    CHECKF(opened == N, "coalescing: only %d of %d connections opened", opened, N);
    const char* req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    long long t_sent = hc_now_ms();
    for (int i = 0; i < opened; ++i) {
      hc_send_all(cs[i].fd, req, strlen(req), t_sent + 5000);
      pfd[i].fd = cs[i].fd;
      pfd[i].events = POLLIN;
      first[i] = -1;
    }
    int waiting = opened;
    while (waiting > 0 && hc_now_ms() - t_sent < 30000) {
      for (int i = 0; i < opened; ++i) pfd[i].revents = 0;
      if (poll(pfd, (nfds_t)opened, 100) < 0) break;
      for (int i = 0; i < opened; ++i) {
        if (first[i] < 0 && pfd[i].revents) {
          first[i] = hc_now_ms() - t_sent;
          pfd[i].fd = -1; /* seen: poll ignores it from now on */
          --waiting;
        }
      }
    }
    long long last = 0;
    int complete = 0, renders = 0;
    for (int i = 0; i < opened; ++i) {
      if (first[i] > last) last = first[i];
      hc_response r;
      ticks[i] = -1;
      if (hc_read_response(&cs[i], 0, &r, 30000) == HC_OK) {
        if (r.status == 200 && st_sample(r.body, "srvtest_big_ticks", &ticks[i])) ++complete;
        hc_response_free(&r);
      }
      hc_close(&cs[i]);
      int seen = 0;
      for (int k = 0; k < i; ++k) seen |= ticks[k] == ticks[i];
      renders += !seen;
    }
    atomic_store(&g_stop, 1);
    pthread_join(ticker, NULL);
    printf("coalescing: %d simultaneous scrapes served by %d renders; last first byte after %lld ms (one render: >= "
           "%lld ms)\n",
           opened, renders, last, render_min);
    CHECKF(complete == opened, "coalescing: %d of %d responses complete", complete, opened);
    CHECKF(renders <= 3, "coalescing: %d scrapes sent together were served by %d different renders (expected the "
           "ones queued during a render to share the next one)", opened, renders);
  }

  long long ms = STOP_SERVER(s);
  CHECKF(ms < 1000, "ServerDelete took %lld ms", ms);
  for (long i = 0; i < g_series; ++i) OK(INFERMETRICS_MetricDelete(m[i]));
  free(m);
  OK(INFERMETRICS_MetricFamilyDelete(f));
  OK(INFERMETRICS_MetricDelete(g_ticks));
  OK(INFERMETRICS_MetricFamilyDelete(tf));
  return TEST_SUMMARY();
}

/*
 * server_hostile: slow or hostile clients cannot stop other scrapes or stall recording.
 *  (a) 20 connections that connect and never send anything;
 *  (b) a request line plus a 1 MB header sent at once, never finished, and a "slowloris"
 *      trickling a header byte by byte;
 *  (c) 300 idle connections opened at once.
 * While they are open, scrapes from fresh connections get 200 quickly (each < 1 s, a coarse
 * guard) and a recording thread's increments keep going; then all are closed and a scrape works.
 * The 1 MB header must be refused (4xx or the connection closed) rather than buffered forever.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "server_test.h"

static INFERMETRICS_Metric* g_counter;
static atomic_int g_stop_recording;
static atomic_llong g_recorded;
static atomic_int g_record_errors;

static void* recorder(void* arg)
{
  (void)arg;
  while (!atomic_load(&g_stop_recording)) {
    INFERMETRICS_Error* e = INFERMETRICS_MetricIncrement(g_counter, 1);
    if (e) {
      atomic_fetch_add(&g_record_errors, 1);
      INFERMETRICS_ErrorDelete(e);
    }
    atomic_fetch_add(&g_recorded, 1);
    if ((atomic_load(&g_recorded) & 4095) == 0) st_sleep_ms(1); /* busy, but leaves the CPUs some air */
  }
  return NULL;
}

/* The recording thread makes progress within 200 ms. */
static void check_recording(const char* phase)
{
  long long a = atomic_load(&g_recorded);
  st_sleep_ms(200);
  long long b = atomic_load(&g_recorded);
  CHECKF(b > a, "%s: the recording thread made no progress in 200 ms (%lld increments)", phase, a);
}

/* 5 scrapes from fresh connections: each 200, each within a second. */
static void check_scrapes(uint16_t port, const char* phase)
{
  for (int i = 0; i < 5; ++i) {
    hc_response r;
    long long t0 = hc_now_ms();
    int rc = hc_get("127.0.0.1", port, "/metrics", &r, 3000);
    long long ms = hc_now_ms() - t0;
    CHECKF(rc == HC_OK && r.status == 200, "%s: scrape %d: %s, status %d (after %lld ms)", phase, i + 1,
           hc_strerror(rc), rc == HC_OK ? r.status : 0, ms);
    CHECKF(ms < 1000, "%s: scrape %d took %lld ms (expected well under a second)", phase, i + 1, ms);
    if (rc == HC_OK) {
      CHECKF(strstr(r.body, "srvtest_hostile_increments ") != NULL, "%s: scrape %d: expected the counter in the body",
             phase, i + 1);
      hc_response_free(&r);
    }
  }
}

/* Opens n raw connections (optionally sending `data`); returns how many opened. */
static int open_idle(hc_conn* conns, int n, uint16_t port)
{
  int opened = 0;
  for (int i = 0; i < n; ++i) {
    if (hc_connect(&conns[i], "127.0.0.1", port, 3000) == HC_OK) ++opened;
  }
  return opened;
}

static void close_all(hc_conn* conns, int n)
{
  for (int i = 0; i < n; ++i) hc_close(&conns[i]);
}

/* --- (b) slowloris: one header byte every 20 ms for ~3 s, never finishing */
static atomic_int g_slow_stop;
static void* slowloris(void* arg)
{
  hc_conn* c = (hc_conn*)arg;
  const char* start = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
  if (hc_send_all(c->fd, start, strlen(start), hc_now_ms() + 2000) != HC_OK) return NULL;
  for (int i = 0; i < 150 && !atomic_load(&g_slow_stop); ++i) {
    if (send(c->fd, "a", 1, MSG_NOSIGNAL) != 1) break;
    st_sleep_ms(20);
  }
  return NULL;
}

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  st_raise_nofile(4096);

  INFERMETRICS_MetricFamily* f = NULL;
  OK(INFERMETRICS_MetricFamilyNew(&f, INFERMETRICS_METRIC_KIND_COUNTER, "srvtest_hostile_increments", "Increments"));
  OK(INFERMETRICS_MetricNew(&g_counter, f, NULL, 0));

  uint16_t port = 0;
  INFERMETRICS_Server* s = START_SERVER(st_server_defaults(), &port);
  if (!s || !g_counter) return TEST_SUMMARY();

  pthread_t rec;
  CHECK(pthread_create(&rec, NULL, recorder, NULL) == 0);
  check_scrapes(port, "baseline");

  /* (a) 20 silent connections */
  hc_conn silent[20];
  int n = open_idle(silent, 20, port);
  CHECKF(n == 20, "(a) only %d of 20 silent connections opened", n);
  st_sleep_ms(100);
  check_scrapes(port, "(a) 20 silent connections");
  check_recording("(a) 20 silent connections");

  /* (b1) a request line and a 1 MB header sent at once, never finished */
  {
    hc_conn big;
    int rc = hc_connect(&big, "127.0.0.1", port, 3000);
    CHECKF(rc == HC_OK, "(b) connect: %s", hc_strerror(rc));
    if (rc == HC_OK) {
      size_t hsz = 1u << 20;
      char* req = (char*)malloc(hsz + 128);
      int len = snprintf(req, 128, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Huge: ");
      memset(req + len, 'a', hsz);
      /* send what the server takes within 3 s; it may stop reading or close (both fine) */
      int src = hc_send_all(big.fd, req, (size_t)len + hsz, hc_now_ms() + 3000);
      free(req);
      check_scrapes(port, "(b) 1 MB unfinished header");
      check_recording("(b) 1 MB unfinished header");
      /* the server must refuse it: a 4xx answer or a closed connection, within 5 s (well
         before any 10 s idle timeout, so this is a size cap, not a timeout) */
      hc_response r;
      long long t0 = hc_now_ms();
      int rrc = hc_read_response(&big, 0, &r, 5000);
      long long ms = hc_now_ms() - t0;
      if (rrc == HC_OK) {
        CHECKF(r.status >= 400 && r.status < 500, "(b) 1 MB header: expected a 4xx answer (e.g. 431), got %d",
               r.status);
        printf("(b) 1 MB header answered %d after %lld ms (send: %s)\n", r.status, ms, hc_strerror(src));
        hc_response_free(&r);
      } else {
        CHECKF(rrc == HC_ECLOSED, "(b) 1 MB header: expected a 4xx answer or the connection closed within 5 s, got: %s",
               hc_strerror(rrc));
        printf("(b) 1 MB header: connection %s after %lld ms (send: %s)\n", hc_strerror(rrc), ms, hc_strerror(src));
      }
      hc_close(&big);
    }
  }

  /* (b2) slowloris, while scrapes go on */
  {
    hc_conn slow;
    pthread_t th;
    int rc = hc_connect(&slow, "127.0.0.1", port, 3000);
    CHECKF(rc == HC_OK, "(b) slowloris connect: %s", hc_strerror(rc));
    if (rc == HC_OK && pthread_create(&th, NULL, slowloris, &slow) == 0) {
      st_sleep_ms(300);
      check_scrapes(port, "(b) slowloris");
      check_recording("(b) slowloris");
      atomic_store(&g_slow_stop, 1);
      pthread_join(th, NULL);
    }
    if (rc == HC_OK) hc_close(&slow);
  }

  /* (c) 300 idle connections at once (on top of the 20 silent ones) */
  static hc_conn idle[300];
  n = open_idle(idle, 300, port);
  CHECKF(n == 300, "(c) only %d of 300 idle connections opened", n);
  st_sleep_ms(200);
  check_scrapes(port, "(c) 300 idle connections");
  check_recording("(c) 300 idle connections");
  /* an idle connection that finally sends its request is answered */
  {
    hc_response r;
    int rc = hc_request(&idle[150], "GET", "/metrics", NULL, &r, 3000);
    CHECKF(rc == HC_OK && r.status == 200, "(c) a long-idle connection's request: %s, status %d", hc_strerror(rc),
           rc == HC_OK ? r.status : 0);
    if (rc == HC_OK) hc_response_free(&r);
  }

  /* close them all: scraping works, recording goes on */
  close_all(idle, 300);
  close_all(silent, 20);
  st_sleep_ms(100);
  check_scrapes(port, "after closing all");
  check_recording("after closing all");

  atomic_store(&g_stop_recording, 1);
  pthread_join(rec, NULL);
  CHECKF(atomic_load(&g_record_errors) == 0, "%d increments failed", atomic_load(&g_record_errors));
  /* the served counter equals what was recorded (no increment lost) */
  {
    double v = -1, direct = -2;
    char* body = SCRAPE("127.0.0.1", port);
    OK(INFERMETRICS_MetricValue(g_counter, &direct));
    CHECKF(body && st_sample(body, "srvtest_hostile_increments", &v) && v == direct &&
               direct == (double)atomic_load(&g_recorded),
           "expected the served counter (%g) = MetricValue (%g) = increments made (%lld)", v, direct,
           (long long)atomic_load(&g_recorded));
    free(body);
  }

  long long ms = STOP_SERVER(s);
  CHECKF(ms < 1000, "ServerDelete took %lld ms", ms);
  OK(INFERMETRICS_MetricDelete(g_counter));
  OK(INFERMETRICS_MetricFamilyDelete(f));
  return TEST_SUMMARY();
}

/*
 * groups_once: one server start / scrape / stop with every collector group on (pinned, CPU,
 * GPU, process, container, host with two disk paths), for valgrind (server_valgrind_groups).
 * Exits 0 when every scrape had the groups' series, 1 otherwise.
 */
#include "collector_test.h"

int main(void)
{
  INFERMETRICS_SetLogCallback(ct_log, NULL);
  static const char* const groups[] = {"pinned", "cpu", "gpu", "process", "container", "host"};
  INFERMETRICS_ServerOptions* o = ct_options(100);
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; ++i)
    OK(INFERMETRICS_ServerOptionsSetCollector(o, groups[i], true));
  OK(INFERMETRICS_ServerOptionsSetDiskPaths(o, "/,/proc"));
  uint16_t port;
  INFERMETRICS_Server* s = ct_start(o, &port);
  if (!s) return TEST_SUMMARY();
  for (int i = 0; i < 3; ++i) {
    st_sleep_ms(150);
    char* body = SCRAPE("127.0.0.1", port);
    if (!body) break;
    CHECKF(st_sample(body, "process_threads", NULL), "scrape %d: expected process_threads", i);
    CHECKF(st_sample(body, "node_load1", NULL), "scrape %d: expected node_load1", i);
    CHECKF(st_has_sample_containing(body, "node_filesystem_size_bytes{"), "scrape %d: expected filesystem series", i);
    CHECKF(st_sample(body, "nv_cpu_memory_total_bytes", NULL), "scrape %d: expected nv_cpu_memory_total_bytes", i);
    CHECKF(st_sample(body, "nv_collector_success{collector=\"gpu\"}", NULL), "scrape %d: expected the gpu self-metric", i);
    free(body);
  }
  STOP_SERVER(s);
  if (st_failures) ct_log_print();
  return TEST_SUMMARY();
}

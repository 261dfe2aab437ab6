/*
 * server_null_args: every server call refuses NULL arguments with INVALID_ARG naming the
 * argument, and leaves its out-parameters untouched.
 */
#include "server_test.h"

int main(void)
{
  INFERMETRICS_SetLogCallback(st_quiet_log, NULL);
  INFERMETRICS_ServerOptions* o = NULL;
  if (!OK(INFERMETRICS_ServerOptionsNew(&o))) return TEST_SUMMARY();

  NULL_ARG(INFERMETRICS_ServerOptionsNew(NULL), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsDelete(NULL), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetAddress(NULL, "127.0.0.1"), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetAddress(o, NULL), "address");
  NULL_ARG(INFERMETRICS_ServerOptionsSetPort(NULL, 0), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetMetricsInterval(NULL, 100), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetGpuMetrics(NULL, false), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetCpuMetrics(NULL, false), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(NULL, false), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetProcessMetrics(NULL, false), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetContainerMetrics(NULL, false), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetHostMetrics(NULL, false), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetCollector(NULL, "host", false), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetCollector(o, NULL, false), "name");
  NULL_ARG(INFERMETRICS_ServerOptionsSetDiskPaths(NULL, "/"), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetDiskPaths(o, NULL), "paths");
  NULL_ARG(INFERMETRICS_ServerOptionsSetNvmlLibrary(NULL, "libnvidia-ml.so.1"), "options");
  NULL_ARG(INFERMETRICS_ServerOptionsSetNvmlLibrary(o, NULL), "path");
  /* an empty NVML path is refused too (documented) */
  ERR(INFERMETRICS_ServerOptionsSetNvmlLibrary(o, ""), INFERMETRICS_ERROR_INVALID_ARG);
  NULL_ARG(INFERMETRICS_ServerOptionsSetMaxConnections(NULL, 16), "options");
  /* the connection cap: 1 to 65536 (documented) */
  ERR_MSG(INFERMETRICS_ServerOptionsSetMaxConnections(o, 0), INFERMETRICS_ERROR_INVALID_ARG, "max_connections");
  ERR_MSG(INFERMETRICS_ServerOptionsSetMaxConnections(o, 65537), INFERMETRICS_ERROR_INVALID_ARG, "max_connections");
  ERR(INFERMETRICS_ServerOptionsSetMaxConnections(o, UINT32_MAX), INFERMETRICS_ERROR_INVALID_ARG);
  OK(INFERMETRICS_ServerOptionsSetMaxConnections(o, 65536));
  OK(INFERMETRICS_ServerOptionsSetMaxConnections(o, 1));
  OK(INFERMETRICS_ServerOptionsSetMaxConnections(o, 256));

  OK(INFERMETRICS_ServerOptionsSetAddress(o, "127.0.0.1"));
  OK(INFERMETRICS_ServerOptionsSetPort(o, 0));
  OK(INFERMETRICS_ServerOptionsSetGpuMetrics(o, false));
  NULL_ARG(INFERMETRICS_ServerNew(NULL, o), "server");
  {
    INFERMETRICS_Server* const sentinel = (INFERMETRICS_Server*)(uintptr_t)0x5e17;
    INFERMETRICS_Server* s = sentinel;
    NULL_ARG(INFERMETRICS_ServerNew(&s, NULL), "options");
    CHECKF(s == sentinel, "ServerNew(&s, NULL) wrote its out-pointer (%p)", (void*)s);
  }

  INFERMETRICS_Server* s = NULL;
  if (OK(INFERMETRICS_ServerNew(&s, o))) {
    uint16_t port = 4242;
    NULL_ARG(INFERMETRICS_ServerPort(NULL, &port), "server");
    CHECKF(port == 4242, "ServerPort(NULL, &port) wrote its out-parameter (%u)", (unsigned)port);
    NULL_ARG(INFERMETRICS_ServerPort(s, NULL), "port");
    NULL_ARG(INFERMETRICS_ServerMetrics(s, NULL), "metrics");
    /* ServerMetrics with a NULL server is documented as the registry alone: success */
    INFERMETRICS_Metrics* m = NULL;
    if (OK(INFERMETRICS_ServerMetrics(NULL, &m))) OK(INFERMETRICS_MetricsDelete(m));
    /* and with a live server, its collector series are included */
    m = NULL;
    if (OK(INFERMETRICS_ServerMetrics(s, &m))) {
      const char* text = NULL;
      uintptr_t size = 0;
      if (OK(INFERMETRICS_MetricsFormatted(m, INFERMETRICS_METRIC_PROMETHEUS, &text, &size))) {
        CHECKF(text && strstr(text, "nv_cpu_memory_total_bytes"),
               "ServerMetrics(server): expected the CPU collector series in the text");
      }
      OK(INFERMETRICS_MetricsDelete(m));
    }
    STOP_SERVER(s);
  }
  NULL_ARG(INFERMETRICS_ServerDelete(NULL), "server");
  OK(INFERMETRICS_ServerOptionsDelete(o));

  /* PinnedMemoryPoolReport has no pointers; its one refusal: used > total */
  ERR_MSG(INFERMETRICS_PinnedMemoryPoolReport(1, 2), INFERMETRICS_ERROR_INVALID_ARG, "used");
  OK(INFERMETRICS_PinnedMemoryPoolReport(0, 0));
  return TEST_SUMMARY();
}

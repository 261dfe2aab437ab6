/*
 * fork_dlclose (issue 7): the library's pthread_atfork handlers must not outlive it.
 *
 * `fork_dlclose /path/to/libinfermetrics.so` (the program is not linked to the library):
 *   1. dlopen the library, create a family and a metric, record, render (so the fork handlers
 *      are installed), delete them, dlclose it; then fork: the parent must survive its own
 *      prepare/parent handlers and the child must exit 0;
 *   2. dlopen it again (handlers installed again, maybe at another address), use it, fork: the
 *      child uses the library (record + render) and exits 0; dlclose; fork once more.
 * Whether glibc really unmapped the library at dlclose is printed (it may keep it mapped, e.g.
 * for thread-local destructors); either way no fork may crash or hang.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "infermetrics.h"

static int g_failures = 0;

#define FAIL(...)                                  \
  do {                                             \
    ++g_failures;                                  \
    fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                  \
    fputc('\n', stderr);                           \
  } while (0)

typedef struct {
  void* handle;
  INFERMETRICS_Error* (*family_new)(INFERMETRICS_MetricFamily**, INFERMETRICS_MetricKind, const char*, const char*);
  INFERMETRICS_Error* (*family_delete)(INFERMETRICS_MetricFamily*);
  INFERMETRICS_Error* (*metric_new)(INFERMETRICS_Metric**, INFERMETRICS_MetricFamily*, const INFERMETRICS_Parameter**,
                                    uint64_t);
  INFERMETRICS_Error* (*metric_delete)(INFERMETRICS_Metric*);
  INFERMETRICS_Error* (*increment)(INFERMETRICS_Metric*, double);
  INFERMETRICS_Error* (*value)(INFERMETRICS_Metric*, double*);
  INFERMETRICS_Error* (*server_metrics)(INFERMETRICS_Server*, INFERMETRICS_Metrics**);
  INFERMETRICS_Error* (*formatted)(INFERMETRICS_Metrics*, INFERMETRICS_MetricFormat, const char**, uintptr_t*);
  INFERMETRICS_Error* (*metrics_delete)(INFERMETRICS_Metrics*);
  const char* (*message)(INFERMETRICS_Error*);
  void (*error_delete)(INFERMETRICS_Error*);
} lib_t;

/* dlsym into a function pointer without the object-to-function cast ISO C forbids. */
static int sym(void* h, const char* name, void* fnptr, size_t size)
{
  void* p = dlsym(h, name);
  if (p == NULL) {
    FAIL("dlsym(%s): %s", name, dlerror());
    return 0;
  }
  memcpy(fnptr, &p, size);
  return 1;
}
#define SYM(lib, field, name) sym((lib)->handle, name, &(lib)->field, sizeof((lib)->field))

static int load(lib_t* lib, const char* path)
{
  memset(lib, 0, sizeof *lib);
  lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib->handle == NULL) {
    FAIL("dlopen(%s): %s", path, dlerror());
    return 0;
  }
  return SYM(lib, family_new, "INFERMETRICS_MetricFamilyNew") &&
         SYM(lib, family_delete, "INFERMETRICS_MetricFamilyDelete") && SYM(lib, metric_new, "INFERMETRICS_MetricNew") &&
         SYM(lib, metric_delete, "INFERMETRICS_MetricDelete") && SYM(lib, increment, "INFERMETRICS_MetricIncrement") &&
         SYM(lib, value, "INFERMETRICS_MetricValue") && SYM(lib, server_metrics, "INFERMETRICS_ServerMetrics") &&
         SYM(lib, formatted, "INFERMETRICS_MetricsFormatted") && SYM(lib, metrics_delete, "INFERMETRICS_MetricsDelete") &&
         SYM(lib, message, "INFERMETRICS_ErrorMessage") && SYM(lib, error_delete, "INFERMETRICS_ErrorDelete");
}

static int ok(const lib_t* lib, INFERMETRICS_Error* e, const char* what)
{
  if (e == NULL) return 1;
  FAIL("%s: %s", what, lib->message(e));
  lib->error_delete(e);
  return 0;
}

/* Records `n` into a counter {phase} and checks the render shows it; deletes what it made. */
static void use(const lib_t* lib, const char* name, double n)
{
  INFERMETRICS_MetricFamily* f = NULL;
  INFERMETRICS_Metric* m = NULL;
  INFERMETRICS_Metrics* ms = NULL;
  const char* base = NULL;
  uintptr_t size = 0;
  double v = -1;
  char line[128];
  if (!ok(lib, lib->family_new(&f, INFERMETRICS_METRIC_KIND_COUNTER, name, "dlclose test"), "MetricFamilyNew")) return;
  if (ok(lib, lib->metric_new(&m, f, NULL, 0), "MetricNew")) {
    ok(lib, lib->increment(m, n), "MetricIncrement");
    ok(lib, lib->value(m, &v), "MetricValue");
    if (v != n) FAIL("%s: expected %g, got %g", name, n, v);
    if (ok(lib, lib->server_metrics(NULL, &ms), "ServerMetrics")) {
      if (ok(lib, lib->formatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size), "MetricsFormatted")) {
        snprintf(line, sizeof line, "%s %g\n", name, n);
        if (!strstr(base, line)) FAIL("render lacks [%s %g]", name, n);
      }
      ok(lib, lib->metrics_delete(ms), "MetricsDelete");
    }
    ok(lib, lib->metric_delete(m), "MetricDelete");
  }
  ok(lib, lib->family_delete(f), "MetricFamilyDelete");
}

static int mapped(void)
{
  char buf[4096];
  int found = 0;
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  while (fgets(buf, sizeof buf, f))
    if (strstr(buf, "libinfermetrics")) found = 1;
  fclose(f);
  return found;
}

/* Forks; the child runs `child` (if any) under alarm(10) and exits 0 on success. */
static void fork_and_check(const char* phase, const lib_t* lib_in_child)
{
  int status = 0;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork(); /* a stale prepare/parent handler would crash right here */
  if (pid < 0) {
    FAIL("%s: fork failed", phase);
    return;
  }
  if (pid == 0) {
    signal(SIGALRM, SIG_DFL);
    alarm(10);
    if (lib_in_child) use(lib_in_child, "dlclose_child_total", 5);
    fflush(stderr);
    _exit(g_failures ? 1 : 0);
  }
  for (int i = 0; i < 1500; ++i) { /* 15 s */
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (i == 1499) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL("%s: the child hung (killed after 15 s)", phase);
      return;
    }
    usleep(10000);
  }
  if (WIFSIGNALED(status))
    FAIL("%s: the child died of signal %d (%s)", phase, WTERMSIG(status), strsignal(WTERMSIG(status)));
  else if (WEXITSTATUS(status) != 0)
    FAIL("%s: the child exited with %d", phase, WEXITSTATUS(status));
  else
    printf("%s: parent and child fine\n", phase);
}

int main(int argc, char** argv)
{
  lib_t lib;
  if (argc != 2) {
    fprintf(stderr, "usage: %s /path/to/libinfermetrics.so\n", argv[0]);
    return 2;
  }
  if (mapped() == 1) FAIL("the library is mapped before dlopen: this program must not link it");

  /* 1. load, use, unload, fork */
  if (!load(&lib, argv[1])) return 1;
  use(&lib, "dlclose_first_total", 1);
  if (dlclose(lib.handle) != 0) FAIL("dlclose: %s", dlerror());
  printf("after dlclose the library is %s\n", mapped() == 1 ? "still mapped (glibc kept it)" : "unmapped");
  fork_and_check("fork after dlclose", NULL);

  /* 2. load again, use it, fork with the child using it; unload; fork again */
  if (!load(&lib, argv[1])) return 1;
  use(&lib, "dlclose_second_total", 2);
  fork_and_check("fork after a second dlopen (the child uses the library)", &lib);
  if (dlclose(lib.handle) != 0) FAIL("second dlclose: %s", dlerror());
  printf("after the second dlclose the library is %s\n", mapped() == 1 ? "still mapped" : "unmapped");
  fork_and_check("fork after the second dlclose", NULL);

  if (g_failures) {
    fprintf(stderr, "%s: %d checks FAILED\n", __FILE__, g_failures);
    return 1;
  }
  printf("%s: all checks passed\n", __FILE__);
  return 0;
}

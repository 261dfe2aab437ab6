/*
 * include/infermetrics.h alone, as C (built once with -std=c99 and once with -std=c11,
 * -Wall -Wextra -Wpedantic -Werror), included twice to prove the include guard; the same
 * for tritonserver_compat.h. Links and calls one function so the declarations match the
 * library's symbols.
 */
#include "infermetrics.h"
#include "infermetrics.h"
#include "tritonserver_compat.h"
#include "tritonserver_compat.h"

#include <stdio.h>

int main(void)
{
  uint32_t major = 0, minor = 0;
  INFERMETRICS_Error* err = INFERMETRICS_ApiVersion(&major, &minor);
  struct INFERMETRICS_Error* same = err; /* the struct tag is declared too */
  TRITONSERVER_Error* compat = same;
  INFERMETRICS_MetricKind kind = INFERMETRICS_METRIC_KIND_HISTOGRAM;
  INFERMETRICS_LogFn fn = 0;
  (void)fn;
  if (compat != NULL || major != INFERMETRICS_API_VERSION_MAJOR || minor != INFERMETRICS_API_VERSION_MINOR ||
      kind != 2) {
    fprintf(stderr, "FAIL: ApiVersion gave %u.%u, header says %d.%d\n", (unsigned)major, (unsigned)minor,
            INFERMETRICS_API_VERSION_MAJOR, INFERMETRICS_API_VERSION_MINOR);
    return 1;
  }
  printf("header OK as C (__STDC_VERSION__ %ld)\n", (long)__STDC_VERSION__);
  return 0;
}

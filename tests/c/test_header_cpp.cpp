// include/infermetrics.h and tritonserver_compat.h alone, as C++17 (-Wall -Wextra -Wpedantic
// -Werror), each included twice (include guards); calls through the extern "C" declarations.
#include "infermetrics.h"
#include "infermetrics.h"
#include "tritonserver_compat.h"
#include "tritonserver_compat.h"

#include <cstdio>
#include <type_traits>

static_assert(INFERMETRICS_ERROR_CANCELLED == 7, "error codes follow Triton's order");
static_assert(INFERMETRICS_METRIC_KIND_HISTOGRAM == 2, "kinds follow Triton's order");
static_assert(std::is_same<TRITONSERVER_Error, INFERMETRICS_Error>::value, "compat maps the type");
static_assert(std::is_same<decltype(&TRITONSERVER_MetricNew), decltype(&INFERMETRICS_MetricNew)>::value,
              "compat maps the function");

int main()
{
  uint32_t major = 0, minor = 0;
  INFERMETRICS_Error* err = INFERMETRICS_ApiVersion(&major, &minor);
  if (err != nullptr || major != INFERMETRICS_API_VERSION_MAJOR || minor != INFERMETRICS_API_VERSION_MINOR) {
    std::fprintf(stderr, "FAIL: ApiVersion gave %u.%u\n", unsigned(major), unsigned(minor));
    INFERMETRICS_ErrorDelete(err);
    return 1;
  }
  INFERMETRICS_MetricFamily* family = nullptr;
  err = TRITONSERVER_MetricFamilyNew(&family, TRITONSERVER_METRIC_KIND_GAUGE, "cpp_header_gauge", "from C++");
  if (err != nullptr) {
    std::fprintf(stderr, "FAIL: %s\n", INFERMETRICS_ErrorMessage(err));
    INFERMETRICS_ErrorDelete(err);
    return 1;
  }
  err = INFERMETRICS_MetricFamilyDelete(family);
  if (err != nullptr) {
    INFERMETRICS_ErrorDelete(err);
    return 1;
  }
  std::printf("header OK as C++ (%ld)\n", long(__cplusplus));
  return 0;
}

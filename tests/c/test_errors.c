/*
 * Error objects, parameters, API version and the log callback.
 */
#include <stdbool.h>

#include "test_util.h"

static void test_error_objects(void)
{
  static const char* const want[8] = {"Unknown",     "Internal",    "Not found",      "Invalid argument",
                                      "Unavailable", "Unsupported", "Already exists", "Cancelled"};
  int code;
  for (code = 0; code < 8; ++code) {
    char msg[64];
    INFERMETRICS_Error* e;
    snprintf(msg, sizeof msg, "message %d with \"quotes\"", code);
    e = INFERMETRICS_ErrorNew((INFERMETRICS_Error_Code)code, msg);
    CHECKF(e != NULL, "ErrorNew(%d) returned NULL", code);
    if (e == NULL) continue;
    CHECKF((int)INFERMETRICS_ErrorCode(e) == code, "ErrorCode: expected %d, got %d", code,
           (int)INFERMETRICS_ErrorCode(e));
    CHECKF(INFERMETRICS_ErrorCodeString(e) != NULL && strcmp(INFERMETRICS_ErrorCodeString(e), want[code]) == 0,
           "ErrorCodeString(%d): expected \"%s\", got \"%s\"", code, want[code],
           INFERMETRICS_ErrorCodeString(e) ? INFERMETRICS_ErrorCodeString(e) : "(NULL)");
    CHECKF(INFERMETRICS_ErrorMessage(e) != NULL && strcmp(INFERMETRICS_ErrorMessage(e), msg) == 0,
           "ErrorMessage: expected \"%s\", got \"%s\"", msg,
           INFERMETRICS_ErrorMessage(e) ? INFERMETRICS_ErrorMessage(e) : "(NULL)");
    INFERMETRICS_ErrorDelete(e);
  }

  /* the message is copied: changing the caller's buffer afterwards does not change it */
  {
    char buf[16] = "original";
    INFERMETRICS_Error* e = INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_INTERNAL, buf);
    strcpy(buf, "changed");
    CHECKF(e != NULL && strcmp(INFERMETRICS_ErrorMessage(e), "original") == 0,
           "ErrorNew must copy its message; got \"%s\"", e ? INFERMETRICS_ErrorMessage(e) : "(NULL error)");
    INFERMETRICS_ErrorDelete(e);
  }

  /* the enum values are Triton's */
  CHECK(INFERMETRICS_ERROR_UNKNOWN == 0);
  CHECK(INFERMETRICS_ERROR_INTERNAL == 1);
  CHECK(INFERMETRICS_ERROR_NOT_FOUND == 2);
  CHECK(INFERMETRICS_ERROR_INVALID_ARG == 3);
  CHECK(INFERMETRICS_ERROR_UNAVAILABLE == 4);
  CHECK(INFERMETRICS_ERROR_UNSUPPORTED == 5);
  CHECK(INFERMETRICS_ERROR_ALREADY_EXISTS == 6);
  CHECK(INFERMETRICS_ERROR_CANCELLED == 7);
  CHECK(INFERMETRICS_METRIC_KIND_COUNTER == 0);
  CHECK(INFERMETRICS_METRIC_KIND_GAUGE == 1);
  CHECK(INFERMETRICS_METRIC_KIND_HISTOGRAM == 2);
  CHECK(INFERMETRICS_PARAMETER_STRING == 0);
  CHECK(INFERMETRICS_PARAMETER_INT == 1);
  CHECK(INFERMETRICS_PARAMETER_BOOL == 2);
  CHECK(INFERMETRICS_PARAMETER_DOUBLE == 3);
  CHECK(INFERMETRICS_PARAMETER_BYTES == 4);
  CHECK(INFERMETRICS_METRIC_PROMETHEUS == 0);

  /* NULL is a no-op for the deleters that return nothing */
  INFERMETRICS_ErrorDelete(NULL);
  INFERMETRICS_ParameterDelete(NULL);
  /* and a no-op success for MetricArgsDelete (Triton's tests rely on it) */
  OK(INFERMETRICS_MetricArgsDelete(NULL));
}

static void test_api_version(void)
{
  uint32_t major = 0, minor = 0;
  if (OK(INFERMETRICS_ApiVersion(&major, &minor))) {
    CHECKF(major == 1 && minor == 34, "ApiVersion: expected 1.34, got %u.%u", (unsigned)major, (unsigned)minor);
    CHECKF(major == INFERMETRICS_API_VERSION_MAJOR && minor == INFERMETRICS_API_VERSION_MINOR,
           "ApiVersion %u.%u differs from the header's %d.%d", (unsigned)major, (unsigned)minor,
           INFERMETRICS_API_VERSION_MAJOR, INFERMETRICS_API_VERSION_MINOR);
  }
}

static void test_parameters(void)
{
  int64_t i64 = 42;
  bool b = true;
  double d = 2.5;
  INFERMETRICS_Parameter* p;

  p = INFERMETRICS_ParameterNew("model", INFERMETRICS_PARAMETER_STRING, "resnet");
  CHECK(p != NULL);
  INFERMETRICS_ParameterDelete(p);
  p = INFERMETRICS_ParameterNew("n", INFERMETRICS_PARAMETER_INT, &i64);
  CHECK(p != NULL);
  INFERMETRICS_ParameterDelete(p);
  p = INFERMETRICS_ParameterNew("b", INFERMETRICS_PARAMETER_BOOL, &b);
  CHECK(p != NULL);
  INFERMETRICS_ParameterDelete(p);
  p = INFERMETRICS_ParameterNew("d", INFERMETRICS_PARAMETER_DOUBLE, &d);
  CHECK(p != NULL);
  INFERMETRICS_ParameterDelete(p);

  /* refused: NULL name, NULL value, BYTES (as in Triton), unknown type */
  CHECK(INFERMETRICS_ParameterNew(NULL, INFERMETRICS_PARAMETER_STRING, "v") == NULL);
  CHECK(INFERMETRICS_ParameterNew("n", INFERMETRICS_PARAMETER_STRING, NULL) == NULL);
  CHECK(INFERMETRICS_ParameterNew("n", INFERMETRICS_PARAMETER_INT, NULL) == NULL);
  CHECK(INFERMETRICS_ParameterNew("n", INFERMETRICS_PARAMETER_BYTES, "bytes") == NULL);
  CHECK(INFERMETRICS_ParameterNew("n", (INFERMETRICS_ParameterType)99, "v") == NULL);

  /* the label value is copied: the caller's buffer may change right after */
  {
    char value[16] = "first";
    INFERMETRICS_MetricFamily* fam = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "errors_test_param_copy", "copy");
    const INFERMETRICS_Parameter* labels[1];
    INFERMETRICS_Metric* m = NULL;
    char* text;
    labels[0] = INFERMETRICS_ParameterNew("k", INFERMETRICS_PARAMETER_STRING, value);
    strcpy(value, "second");
    OK(INFERMETRICS_MetricNew(&m, fam, labels, 1));
    INFERMETRICS_ParameterDelete((INFERMETRICS_Parameter*)labels[0]); /* labels are copied by MetricNew */
    text = SNAPSHOT();
    CHECK_LINE(text, "errors_test_param_copy{k=\"first\"} 0");
    free(text);
    OK(INFERMETRICS_MetricDelete(m));
    OK(INFERMETRICS_MetricFamilyDelete(fam));
  }
}

struct log_capture {
  int calls;
  int bad_level;
  char last[512];
};

static void capture_log(INFERMETRICS_LogLevel level, const char* message, void* userp)
{
  struct log_capture* c = (struct log_capture*)userp;
  ++c->calls;
  if (level != INFERMETRICS_LOG_ERROR && level != INFERMETRICS_LOG_WARN && level != INFERMETRICS_LOG_INFO)
    c->bad_level = 1;
  snprintf(c->last, sizeof c->last, "%s", message ? message : "(NULL)");
}

static void test_log_callback(void)
{
  struct log_capture cap;
  memset(&cap, 0, sizeof cap);
  CHECK(INFERMETRICS_LOG_ERROR == 0 && INFERMETRICS_LOG_WARN == 1 && INFERMETRICS_LOG_INFO == 2);
  OK(INFERMETRICS_SetLogCallback(capture_log, &cap));
  /* ParameterNew returns NULL on bad input and writes the reason to the log */
  CHECK(INFERMETRICS_ParameterNew(NULL, INFERMETRICS_PARAMETER_STRING, "v") == NULL);
  CHECKF(cap.calls >= 1, "expected a log line through the callback for ParameterNew(NULL name), got %d",
         cap.calls);
  CHECKF(!cap.bad_level, "the callback got a level outside ERROR/WARN/INFO");
  CHECKF(cap.calls == 0 || strstr(cap.last, "name") != NULL, "log line should name the argument: %s", cap.last);

  /* back to stderr: the callback is no longer called */
  OK(INFERMETRICS_SetLogCallback(NULL, NULL));
  {
    int before = cap.calls;
    CHECK(INFERMETRICS_ParameterNew(NULL, INFERMETRICS_PARAMETER_STRING, "v") == NULL);
    CHECKF(cap.calls == before, "callback called %d times after SetLogCallback(NULL)", cap.calls - before);
  }
}

int main(void)
{
  test_error_objects();
  test_api_version();
  test_parameters();
  test_log_callback();
  return TEST_SUMMARY();
}

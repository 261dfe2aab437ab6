/*
 * The text snapshot (Prometheus text format 0.0.4): escaping, label order, special values,
 * empty families, family blocks, and the INFERMETRICS_Metrics object's buffer rules.
 */
#include "test_util.h"

static void test_label_value_escaping(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "text_escape", "escaping");
  INFERMETRICS_Metric* m1 = METRIC(f, 1, "path", "C:\\dir\\file");
  INFERMETRICS_Metric* m2 = METRIC(f, 1, "path", "say \"hi\"");
  INFERMETRICS_Metric* m3 = METRIC(f, 1, "path", "two\nlines");
  INFERMETRICS_Metric* m4 = METRIC(f, 1, "path", "a\\b\"c\nd");
  INFERMETRICS_Metric* m5 = METRIC(f, 1, "path", "h\xc3\xa9llo \xe2\x82\xac {x=1},'q'");
  INFERMETRICS_Metric* m6 = METRIC(f, 1, "path", "");
  char* text;
  OK(INFERMETRICS_MetricSet(m1, 1));
  OK(INFERMETRICS_MetricSet(m2, 2));
  OK(INFERMETRICS_MetricSet(m3, 3));
  OK(INFERMETRICS_MetricSet(m4, 4));
  OK(INFERMETRICS_MetricSet(m5, 5));
  OK(INFERMETRICS_MetricSet(m6, 6));
  text = SNAPSHOT();
  CHECK_LINE(text, "text_escape{path=\"C:\\\\dir\\\\file\"} 1");
  CHECK_LINE(text, "text_escape{path=\"say \\\"hi\\\"\"} 2");
  CHECK_LINE(text, "text_escape{path=\"two\\nlines\"} 3");
  CHECK_LINE(text, "text_escape{path=\"a\\\\b\\\"c\\nd\"} 4");
  CHECK_LINE(text, "text_escape{path=\"h\xc3\xa9llo \xe2\x82\xac {x=1},'q'\"} 5"); /* UTF-8 as is */
  /* an empty label value is an absent label (Prometheus's rule): printed without braces */
  CHECK_LINE(text, "text_escape 6");
  CHECK(strstr(text, "path=\"\"") == NULL);
  free(text);
  OK(INFERMETRICS_MetricDelete(m1));
  OK(INFERMETRICS_MetricDelete(m2));
  OK(INFERMETRICS_MetricDelete(m3));
  OK(INFERMETRICS_MetricDelete(m4));
  OK(INFERMETRICS_MetricDelete(m5));
  OK(INFERMETRICS_MetricDelete(m6));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_help_escaping(void)
{
  INFERMETRICS_MetricFamily* f =
      FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "text_help", "first line\nsecond \\ line with \"quotes\"");
  INFERMETRICS_Metric* m = METRIC(f, 0);
  char* text = SNAPSHOT();
  CHECK_LINE(text, "# HELP text_help first line\\nsecond \\\\ line with \"quotes\"");
  CHECK_LINE(text, "# TYPE text_help counter");
  CHECK_LINE(text, "text_help 0");
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_labels_sorted(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "text_sorted", "sorted");
  INFERMETRICS_Metric* m = METRIC(f, 4, "zeta", "1", "alpha", "2", "Mid", "3", "_under", "4");
  char* text = SNAPSHOT();
  /* byte order: uppercase < underscore < lowercase */
  CHECK_LINE(text, "text_sorted{Mid=\"3\",_under=\"4\",alpha=\"2\",zeta=\"1\"} 0");
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_special_values(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "text_special", "special");
  INFERMETRICS_Metric* nan = METRIC(f, 1, "v", "nan");
  INFERMETRICS_Metric* pinf = METRIC(f, 1, "v", "pinf");
  INFERMETRICS_Metric* ninf = METRIC(f, 1, "v", "ninf");
  INFERMETRICS_Metric* neg = METRIC(f, 1, "v", "neg");
  INFERMETRICS_Metric* frac = METRIC(f, 1, "v", "frac");
  INFERMETRICS_Metric* big = METRIC(f, 1, "v", "big");
  char* text;
  OK(INFERMETRICS_MetricSet(nan, NAN));
  OK(INFERMETRICS_MetricSet(pinf, INFINITY));
  OK(INFERMETRICS_MetricSet(ninf, -INFINITY));
  OK(INFERMETRICS_MetricSet(neg, -2.5));
  OK(INFERMETRICS_MetricSet(frac, 0.1));
  OK(INFERMETRICS_MetricSet(big, 12345678.0));
  text = SNAPSHOT();
  CHECK_LINE(text, "text_special{v=\"nan\"} NaN");
  CHECK_LINE(text, "text_special{v=\"pinf\"} +Inf");
  CHECK_LINE(text, "text_special{v=\"ninf\"} -Inf");
  CHECK_LINE(text, "text_special{v=\"neg\"} -2.5");
  CHECK_LINE(text, "text_special{v=\"frac\"} 0.1");
  CHECK_LINE(text, "text_special{v=\"big\"} 12345678");
  free(text);

  /* any finite value printed must parse back to the same double */
  {
    static const double vals[] = {1.0 / 3.0, 0.1 + 0.2, 123456.789, 2.5e-5, 1e17, -7.25e-300};
    size_t i;
    for (i = 0; i < sizeof vals / sizeof vals[0]; ++i) {
      const char* line;
      char* endp;
      double back;
      OK(INFERMETRICS_MetricSet(frac, vals[i]));
      text = SNAPSHOT();
      line = strstr(text, "text_special{v=\"frac\"} ");
      CHECKF(line != NULL, "no line for v=frac in:\n%s", text);
      if (line != NULL) {
        line += strlen("text_special{v=\"frac\"} ");
        back = strtod(line, &endp);
        CHECKF(back == vals[i] && *endp == '\n', "value %.17g printed as [%.*s], which reads back as %.17g", vals[i],
               (int)strcspn(line, "\n"), line, back);
      }
      free(text);
    }
  }
  OK(INFERMETRICS_MetricDelete(nan));
  OK(INFERMETRICS_MetricDelete(pinf));
  OK(INFERMETRICS_MetricDelete(ninf));
  OK(INFERMETRICS_MetricDelete(neg));
  OK(INFERMETRICS_MetricDelete(frac));
  OK(INFERMETRICS_MetricDelete(big));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

static void test_empty_family_not_printed(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "text_empty", "empty family help");
  INFERMETRICS_Metric* m;
  char* text = SNAPSHOT();
  CHECK_COUNT(text, "text_empty", 0);
  free(text);
  m = METRIC(f, 0);
  text = SNAPSHOT();
  CHECK_LINE(text, "# HELP text_empty empty family help");
  free(text);
  OK(INFERMETRICS_MetricDelete(m));
  text = SNAPSHOT();
  CHECK_COUNT(text, "text_empty", 0);
  free(text);
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

/* HELP then TYPE then the family's samples, together; every line ends with a newline. */
static void test_family_block(void)
{
  INFERMETRICS_MetricFamily* fa = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "text_block_a", "block a");
  INFERMETRICS_MetricFamily* fb = FAMILY(INFERMETRICS_METRIC_KIND_COUNTER, "text_block_b", "block b");
  INFERMETRICS_Metric* a1 = METRIC(fa, 1, "i", "1");
  INFERMETRICS_Metric* b1 = METRIC(fb, 1, "i", "1");
  INFERMETRICS_Metric* a2 = METRIC(fa, 1, "i", "2");
  INFERMETRICS_Metric* b2 = METRIC(fb, 1, "i", "2");
  char* text = SNAPSHOT();
  const char* head = "# HELP text_block_a block a\n# TYPE text_block_a gauge\n";
  const char* p = strstr(text, head);
  size_t len = strlen(text);
  CHECKF(len > 0 && text[len - 1] == '\n', "the snapshot must end with a newline");
  CHECKF(p != NULL, "expected [%s] in:\n%s", head, text);
  if (p != NULL) {
    const char* s1 = p + strlen(head);
    const char* s2 = strchr(s1, '\n');
    const char* l1 = "text_block_a{i=\"1\"} 0\n";
    const char* l2 = "text_block_a{i=\"2\"} 0\n";
    int ok = s2 != NULL && ((strncmp(s1, l1, strlen(l1)) == 0 && strncmp(s2 + 1, l2, strlen(l2)) == 0) ||
                            (strncmp(s1, l2, strlen(l2)) == 0 && strncmp(s2 + 1, l1, strlen(l1)) == 0));
    CHECKF(ok, "the two series of text_block_a must follow its TYPE line directly:\n%s", text);
  }
  CHECK_COUNT(text, "# TYPE text_block_a", 1);
  CHECK_COUNT(text, "# TYPE text_block_b", 1);
  /* no blank lines */
  CHECK_COUNT(text, "\n\n", 0);
  free(text);
  OK(INFERMETRICS_MetricDelete(a1));
  OK(INFERMETRICS_MetricDelete(a2));
  OK(INFERMETRICS_MetricDelete(b1));
  OK(INFERMETRICS_MetricDelete(b2));
  OK(INFERMETRICS_MetricFamilyDelete(fa));
  OK(INFERMETRICS_MetricFamilyDelete(fb));
}

/* The Metrics object: rendered at Formatted time; buffer valid until deleted/re-formatted. */
static void test_metrics_object(void)
{
  INFERMETRICS_MetricFamily* f = FAMILY(INFERMETRICS_METRIC_KIND_GAUGE, "text_obj", "object");
  INFERMETRICS_Metric* m = METRIC(f, 0);
  INFERMETRICS_Metrics* ms = NULL;
  INFERMETRICS_Metrics* ms2 = NULL;
  const char* base = NULL;
  const char* base2 = NULL;
  size_t size = 0, size2 = 0;
  char* copy;

  OK(INFERMETRICS_ServerMetrics(NULL, &ms));
  OK(INFERMETRICS_MetricSet(m, 1));
  /* rendered at Formatted time, not at ServerMetrics time */
  if (OK(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size))) {
    CHECKF(base != NULL && strlen(base) == size, "byte_size %zu must equal strlen(base) %zu", size,
           base ? strlen(base) : 0);
    CHECKF(base != NULL && count_lines_equal(base, "text_obj 1") == 1, "expected [text_obj 1] in:\n%s",
           base ? base : "(NULL)");
  }
  copy = (char*)malloc(size + 1);
  memcpy(copy, base, size + 1);

  /* a second object sees later values; the first buffer is unchanged */
  OK(INFERMETRICS_MetricSet(m, 2));
  OK(INFERMETRICS_ServerMetrics(NULL, &ms2));
  if (OK(INFERMETRICS_MetricsFormatted(ms2, INFERMETRICS_METRIC_PROMETHEUS, &base2, &size2)))
    CHECKF(count_lines_equal(base2, "text_obj 2") == 1, "expected [text_obj 2] in:\n%s", base2);
  CHECKF(strcmp(base, copy) == 0, "the first object's text changed although it was not formatted again");
  OK(INFERMETRICS_MetricsDelete(ms2));

  /* formatting the same object again re-renders */
  OK(INFERMETRICS_MetricSet(m, 3));
  if (OK(INFERMETRICS_MetricsFormatted(ms, INFERMETRICS_METRIC_PROMETHEUS, &base, &size)))
    CHECKF(count_lines_equal(base, "text_obj 3") == 1 && strlen(base) == size, "expected [text_obj 3] in:\n%s",
           base);
  OK(INFERMETRICS_MetricsDelete(ms));
  free(copy);
  OK(INFERMETRICS_MetricDelete(m));
  OK(INFERMETRICS_MetricFamilyDelete(f));
}

int main(void)
{
  test_label_value_escaping();
  test_help_escaping();
  test_labels_sorted();
  test_special_values();
  test_empty_family_not_printed();
  test_family_block();
  test_metrics_object();
  return TEST_SUMMARY();
}

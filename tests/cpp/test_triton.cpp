// C++ wrapper, issue 13: summaries (SummaryArgs, summary()) and ModelReporter.
#include <infermetrics.hpp>

#include <cmath>
#include <string>

#include "check.hpp"

namespace im = infermetrics;

int main() {
  // a summary family and series
  im::Family lat(im::Kind::Summary, "cpp_summary_us", "Latency");
  CHECK(lat.kind() == im::Kind::Summary);
  im::SummaryArgs args({{0.5, 0.05}, {0.99, 0.001}});
  im::Metric s = im::summary(lat, {{"model", "a"}}, args);
  for (int i = 1; i <= 10; ++i) s.observe(i);
  std::string text = im::text();
  CHECK(check::contains(text, "cpp_summary_us{model=\"a\",quantile=\"0.5\"} 5\n"));
  CHECK(check::contains(text, "cpp_summary_us{model=\"a\",quantile=\"0.99\"} 10\n"));
  CHECK(check::contains(text, "cpp_summary_us_count{model=\"a\"} 10\n"));
  bool threw = false;
  try {
    s.increment(1);
  } catch (const im::Error& e) {
    threw = e.code() == im::ErrorCode::Unsupported;
  }
  CHECK(threw);
  im::Error err;
  im::SummaryArgs bad = im::SummaryArgs::create({{1.5, 0.1}}, 0, 0, err);
  CHECK(!bad.valid() && err.code() == im::ErrorCode::InvalidArg);

  // a reporter: Triton's series and arithmetic
  im::set_metrics_config("summary_latencies=true;histogram_latencies=true");
  im::ModelReporter r("cppmodel", "3", {{"team", "x"}});
  r.set_histogram_buckets("nv_inference_request_duration_histogram_us", {10, 100});
  const std::uint64_t t = im::now_ns();
  im::RequestTimes times{t, t + 1000, t + 3000, t + 4000, t + 9000, t + 10000, t + 12000};
  r.report_success(2, times);
  r.report_batch(2, t + 3000, t + 4000, t + 9000, t + 10000);
  r.report_failure("REJECTED", t, t + 5);
  r.report_cache_hit(t, t + 1000, t + 5000, 2000);
  r.first_response(t, t + 3000000);
  r.pending_add(1);
  text = im::text();
  const std::string l = "{_team=\"x\",model=\"cppmodel\",version=\"3\"}";
  CHECK(check::contains(text, "nv_inference_request_success" + l + " 2\n"));
  CHECK(check::contains(text, "nv_inference_count" + l + " 2\n"));
  CHECK(check::contains(text, "nv_inference_exec_count" + l + " 1\n"));
  CHECK(check::contains(text, "nv_inference_request_duration_us" + l + " 17\n"));  // 12 + 5
  CHECK(check::contains(text, "nv_inference_queue_duration_us" + l + " 4\n"));     // 2 + 2
  CHECK(check::contains(text, "nv_inference_request_failure{_team=\"x\",model=\"cppmodel\",reason=\"REJECTED\",version=\"3\"} 1\n"));
  CHECK(check::contains(text, "nv_inference_request_duration_histogram_us_bucket{_team=\"x\",model=\"cppmodel\",version=\"3\",le=\"10\"} 1\n"));
  CHECK(check::contains(text, "nv_inference_request_duration_histogram_us_bucket{_team=\"x\",model=\"cppmodel\",version=\"3\",le=\"100\"} 2\n"));
  CHECK(check::contains(text, "nv_inference_first_response_histogram_ms_sum" + l + " 3\n"));
  CHECK(check::contains(text, "nv_inference_compute_infer_summary_us_count" + l + " 1\n"));
  CHECK(check::contains(text, "nv_inference_pending_request_count" + l + " 1\n"));
  threw = false;
  try {
    r.report_success(1, im::RequestTimes{t + 5, t, t, t, t, t, t});
  } catch (const im::Error& e) {
    threw = e.code() == im::ErrorCode::InvalidArg && check::contains(e.message(), "out of order");
  }
  CHECK(threw);
  CHECK(!r.report_failure("NOPE", t, t, err) && err.code() == im::ErrorCode::InvalidArg);
  im::ModelReporter none = im::ModelReporter::create("", "1", {}, err);
  CHECK(!none.valid() && err.failed());
  r.reset();
  CHECK(!check::contains(im::text(), "cppmodel"));
  im::set_metrics_config("");
  return check::failures == 0 ? 0 : 1;
}

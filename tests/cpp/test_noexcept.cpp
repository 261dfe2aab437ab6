// Built with -fno-exceptions: only the non-throwing (Error&) API of infermetrics.hpp exists.
#include <infermetrics.hpp>

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../consumers/common/http_get.h"
#include "check.hpp"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#error "test_noexcept must be compiled with -fno-exceptions"
#endif
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
#error "infermetrics.hpp did not detect -fno-exceptions"
#endif

namespace im = infermetrics;

// The throwing overloads are not declared in this mode.
template <class T, class = void>
struct has_throwing_increment : std::false_type {};
template <class T>
struct has_throwing_increment<T, std::void_t<decltype(std::declval<T&>().increment(1.0))>> : std::true_type {};
template <class T, class = void>
struct has_throwing_family_ctor : std::false_type {};
template <class T>
struct has_throwing_family_ctor<T, std::void_t<decltype(T(im::Kind::Counter, std::string(), std::string()))>>
    : std::true_type {};
static_assert(!has_throwing_increment<im::Metric>::value, "Metric::increment(double) must not exist without exceptions");
static_assert(!has_throwing_family_ctor<im::Family>::value, "Family's throwing constructor must not exist");
template <class T, class = void>
struct has_throwing_Increment : std::false_type {};
template <class T>
struct has_throwing_Increment<T, std::void_t<decltype(std::declval<T&>().Increment(1.0))>> : std::true_type {};
static_assert(!has_throwing_Increment<im::Counter>::value, "Counter::Increment(double) must not exist without exceptions");

int main() {
  im::Error err;

  im::Family f = im::Family::create(im::Kind::Counter, "cppn_requests_total", "Requests", err);
  CHECK(err.ok());
  CHECK(f.valid());
  im::Metric m = f.metric({{"model", "resnet"}, {"version", "1"}}, err);
  CHECK(err.ok());
  CHECK(m.increment(2, err));
  CHECK(!m.increment(-1, err));
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK_EQ(err.code_string(), std::string("Invalid argument"));
  CHECK(!err.message().empty());
  CHECK(!m.set(1, err));
  CHECK(err.code() == im::ErrorCode::Unsupported);
  CHECK_EQ(m.value(err), 2.0);
  CHECK(err.ok());
  CHECK(m.kind(err) == im::Kind::Counter);
  // exemplars through the non-throwing overloads
  CHECK(m.increment(1, {{"trace_id", "abc"}}, err));
  CHECK(!m.observe(1, {{"trace_id", "abc"}}, err));
  CHECK(err.code() == im::ErrorCode::Unsupported);
  CHECK(!m.increment(1, {{"1bad", "x"}}, err));
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK_EQ(m.value(err), 3.0);

  im::Snapshot snap = im::Snapshot::take(nullptr, err);
  CHECK(err.ok());
  CHECK_CONTAINS(snap.text(), "cppn_requests_total{model=\"resnet\",version=\"1\"} 3\n");
  CHECK_CONTAINS(im::text(err), "# TYPE cppn_requests_total counter\n");

  // The typed API: families keep what Add() returns.
  im::CounterFamily typed = im::CounterFamily::create("cppn_typed_total", "Typed", {{"host", "h"}}, err);
  CHECK(typed.valid() && err.ok());
  im::Counter* c = typed.Add({{"model", "a"}}, err);
  CHECK(c != nullptr && err.ok());
  for (int i = 0; i < 3; ++i) CHECK(typed.Add({{"model", "a"}}, err)->Increment(1, err));
  CHECK_EQ(c->Value(err), 3.0);
  CHECK(typed.Add({{"host", "twice"}}, err) == nullptr);
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  im::HistogramFamily hist = im::HistogramFamily::create("cppn_typed_seconds", "Typed", {}, err);
  im::Histogram hs = hist.metric({}, {0.5, 1}, err);
  CHECK(hs.Observe(0.7, err));
  CHECK_CONTAINS(im::text(err), "cppn_typed_total{host=\"h\",model=\"a\"} 3\n");
  CHECK_CONTAINS(im::text(err), "cppn_typed_seconds_bucket{le=\"1\"} 1\n");

  // Errors on creation give empty objects.
  im::Family bad = im::Family::create(im::Kind::Counter, "0bad", "x", err);
  CHECK(!bad.valid());
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK_CONTAINS(err.message(), "0bad");
  im::Family h = im::Family::create(im::Kind::Histogram, "cppn_latency_ms", "Latency", err);
  im::HistogramArgs unsorted = im::HistogramArgs::create({3, 2}, err);
  CHECK(err.ok());  // buckets are checked when a series is created
  im::Metric bad_buckets = h.metric({{"model", "u"}}, unsorted, err);
  CHECK(!bad_buckets.valid());
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  im::Metric nob = h.metric({}, err);
  CHECK(!nob.valid());
  CHECK_EQ(err.message(), std::string("Bucket boundaries not found in Metric args."));
  im::Metric hm = h.histogram({{"model", "m"}}, {1, 2}, err);
  CHECK(err.ok());
  CHECK(hm.observe(1.5, err));
  CHECK_CONTAINS(im::text(err), "cppn_latency_ms_bucket{model=\"m\",le=\"2\"} 1\n");

  // Destruction order: family first.
  f.reset();
  CHECK(m.increment(1, err));
  CHECK_EQ(m.value(err), 4.0);
  m.reset();
  CHECK_NOT_CONTAINS(im::text(err), "cppn_requests_total");

  // Server without exceptions.
  im::ServerOptions opts = im::ServerOptions::create(err);
  CHECK(err.ok());
  CHECK(opts.address("127.0.0.1", err));
  CHECK(opts.port(0, err));
  CHECK(opts.gpu_metrics(false, err));
  // the issue-12 setters in a -fno-exceptions build
  CHECK(!opts.max_connections(0, err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(opts.max_connections(16, err) && opts.openmetrics(false, err) && opts.collector("host", false, err));
  CHECK(opts.disk_paths(std::vector<std::string>{"/"}, err) && opts.gpu_vendor("amd", false, err));
  CHECK(!opts.web_config("", err) && err.code() == im::ErrorCode::InvalidArg);
  im::Server server = im::Server::create(opts, err);
  CHECK(err.ok());
  CHECK(server.valid());
  std::uint16_t port = server.port(err);
  CHECK(port != 0);
  std::vector<char> buf(1 << 20);
  long n = im_http_get(port, "/metrics", buf.data(), buf.size());
  CHECK(n > 0);
  std::string response(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
  CHECK_CONTAINS(response, "HTTP/1.1 200");
  CHECK_CONTAINS(response, "cppn_latency_ms_count{model=\"m\"} 1\n");
  CHECK(opts.port(port, err));
  im::Server busy = im::Server::create(opts, err);
  CHECK(!busy.valid());
  CHECK(err.code() == im::ErrorCode::Unavailable);
  CHECK(!im::Server().port(err) && err.code() == im::ErrorCode::InvalidArg);

  if (check::failures != 0) {
    std::fprintf(stderr, "test_noexcept: %d check(s) failed\n", check::failures);
    return 1;
  }
  std::printf("test_noexcept: all checks passed\n");
  return 0;
}

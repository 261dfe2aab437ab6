// Tests of include/infermetrics.hpp (throwing API, plus the Error& overloads in the same build).
#include <infermetrics.hpp>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "../consumers/common/http_get.h"
#include "check.hpp"

namespace im = infermetrics;

static_assert(!std::is_copy_constructible_v<im::Family> && !std::is_copy_assignable_v<im::Family>);
static_assert(!std::is_copy_constructible_v<im::Metric> && !std::is_copy_assignable_v<im::Metric>);
static_assert(!std::is_copy_constructible_v<im::HistogramArgs>);
static_assert(!std::is_copy_constructible_v<im::Server> && !std::is_copy_constructible_v<im::ServerOptions>);
static_assert(!std::is_copy_constructible_v<im::Snapshot>);
static_assert(std::is_nothrow_move_constructible_v<im::Family> && std::is_nothrow_move_assignable_v<im::Family>);
static_assert(std::is_nothrow_move_constructible_v<im::Metric> && std::is_nothrow_move_assignable_v<im::Metric>);
static_assert(std::is_nothrow_move_constructible_v<im::Server> && std::is_nothrow_move_constructible_v<im::Snapshot>);
static_assert(std::is_base_of_v<std::exception, im::Error>);

namespace {

std::string text() { return im::text(); }

// Runs `f`, expecting it to throw im::Error with `code`; returns the error (default one if none).
template <class F>
im::Error expect_throw(const char* what, im::ErrorCode code, F&& f) {
  try {
    f();
  } catch (const im::Error& e) {
    if (e.code() != code) {
      check::fail(__FILE__, __LINE__,
                  std::string(what) + ": expected code " + std::to_string(static_cast<int>(code)) + ", got " +
                      std::to_string(static_cast<int>(e.code())) + " (" + e.message() + ")");
    }
    if (e.message().empty()) check::fail(__FILE__, __LINE__, std::string(what) + ": empty error message");
    return e;
  } catch (...) {
    check::fail(__FILE__, __LINE__, std::string(what) + ": threw something other than infermetrics::Error");
    return im::Error();
  }
  check::fail(__FILE__, __LINE__, std::string(what) + ": expected an exception, none was thrown");
  return im::Error();
}

void test_counter_records() {
  im::Family requests(im::Kind::Counter, "cppw_requests_total", "Requests handled");
  CHECK(requests.valid());
  CHECK_EQ(requests.name(), std::string("cppw_requests_total"));
  CHECK(requests.kind() == im::Kind::Counter);
  // Labels given out of order: the library sorts them by name.
  im::Metric ok = requests.metric({{"version", "1"}, {"model", "resnet"}});
  CHECK(ok.kind() == im::Kind::Counter);
  CHECK_EQ(ok.value(), 0.0);
  ok.increment();
  ok.increment(2.5);
  CHECK_EQ(ok.value(), 3.5);
  std::string t = text();
  CHECK_CONTAINS(t, "# HELP cppw_requests_total Requests handled\n");
  CHECK_CONTAINS(t, "# TYPE cppw_requests_total counter\n");
  CHECK_CONTAINS(t, "cppw_requests_total{model=\"resnet\",version=\"1\"} 3.5\n");

  // Snapshot text stays valid while the Snapshot lives and is a point-in-time copy.
  im::Snapshot snap = im::Snapshot::take();
  CHECK(snap.valid());
  ok.increment(1);
  CHECK_CONTAINS(snap.text(), "cppw_requests_total{model=\"resnet\",version=\"1\"} 3.5\n");
  CHECK_CONTAINS(text(), "cppw_requests_total{model=\"resnet\",version=\"1\"} 4.5\n");
}

void test_label_forms() {
  im::Family f(im::Kind::Gauge, "cppw_label_forms", "label forms");
  im::Metric a = f.metric({{"model", "m1"}, {"version", "2"}});
  std::vector<std::pair<std::string, std::string>> vec{{"version", "2"}, {"model", "m1"}};
  std::map<std::string, std::string> map{{"model", "m1"}, {"version", "2"}};
  std::unordered_map<std::string, std::string> umap{{"version", "2"}, {"model", "m1"}};
  im::Metric b = f.metric(vec);
  im::Metric c = f.metric(map);
  im::Metric d = f.metric(umap);
  // All four handles name the same series.
  a.set(1);
  b.increment(1);
  c.increment(1);
  d.increment(1);
  CHECK_EQ(a.value(), 4.0);
  CHECK_EQ(d.value(), 4.0);
  im::Metric none = f.metric();  // no labels
  none.set(-7.25);
  std::string t = text();
  CHECK_CONTAINS(t, "cppw_label_forms{model=\"m1\",version=\"2\"} 4\n");
  CHECK_CONTAINS(t, "cppw_label_forms -7.25\n");
  // Escaping of label values.
  im::Metric esc = f.metric({{"path", "a\"b\\c\nd"}});
  esc.set(1);
  CHECK_CONTAINS(text(), "cppw_label_forms{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

void test_gauge() {
  im::Family f(im::Kind::Gauge, "cppw_inflight", "In flight");
  im::Metric g = f.metric({{"model", "bert"}});
  g.set(5);
  g.increment(-2);
  CHECK_EQ(g.value(), 3.0);
  CHECK(g.kind() == im::Kind::Gauge);
  CHECK_CONTAINS(text(), "# TYPE cppw_inflight gauge\n");
  CHECK_CONTAINS(text(), "cppw_inflight{model=\"bert\"} 3\n");
}

void test_histogram() {
  im::Family f(im::Kind::Histogram, "cppw_latency_ms", "Latency");
  CHECK(f.kind() == im::Kind::Histogram);
  im::Metric h = f.histogram({{"model", "m"}}, {1, 5, 10});
  CHECK(h.kind() == im::Kind::Histogram);
  h.observe(0.5);
  h.observe(7);
  h.observe(20);
  std::string t = text();
  CHECK_CONTAINS(t, "# TYPE cppw_latency_ms histogram\n");
  CHECK_CONTAINS(t, "cppw_latency_ms_bucket{model=\"m\",le=\"1\"} 1\n");
  CHECK_CONTAINS(t, "cppw_latency_ms_bucket{model=\"m\",le=\"5\"} 1\n");
  CHECK_CONTAINS(t, "cppw_latency_ms_bucket{model=\"m\",le=\"10\"} 2\n");
  CHECK_CONTAINS(t, "cppw_latency_ms_bucket{model=\"m\",le=\"+Inf\"} 3\n");
  CHECK_CONTAINS(t, "cppw_latency_ms_sum{model=\"m\"} 27.5\n");
  CHECK_CONTAINS(t, "cppw_latency_ms_count{model=\"m\"} 3\n");

  // One HistogramArgs object used for several series, and outliving none of them.
  im::Metric h2;
  {
    im::HistogramArgs args{0.1, 0.2};
    CHECK(args.valid());
    h2 = f.metric({{"model", "n"}}, args);
  }
  h2.observe(0.15);
  CHECK_CONTAINS(text(), "cppw_latency_ms_bucket{model=\"n\",le=\"0.2\"} 1\n");
  CHECK_CONTAINS(text(), "cppw_latency_ms_bucket{model=\"n\",le=\"0.1\"} 0\n");
}

void test_errors() {
  im::Family counter(im::Kind::Counter, "cppw_err_total", "errors");
  im::Metric c = counter.metric({{"model", "x"}});
  c.increment(2);

  im::Error e = expect_throw("counter increment(-1)", im::ErrorCode::InvalidArg, [&] { c.increment(-1); });
  CHECK_EQ(e.code_string(), std::string("Invalid argument"));
  CHECK_EQ(std::string(e.what()), e.message());
  CHECK(e.failed() && !e.ok());
  CHECK_EQ(c.value(), 2.0);  // unchanged
  expect_throw("counter set", im::ErrorCode::Unsupported, [&] { c.set(1); });
  expect_throw("counter observe", im::ErrorCode::Unsupported, [&] { c.observe(1); });

  im::Family gauge(im::Kind::Gauge, "cppw_err_gauge", "errors");
  im::Metric g = gauge.metric();
  expect_throw("gauge observe", im::ErrorCode::Unsupported, [&] { g.observe(1); });

  im::Family hist(im::Kind::Histogram, "cppw_err_hist", "errors");
  im::Error nb = expect_throw("histogram without args", im::ErrorCode::InvalidArg, [&] { (void)hist.metric(); });
  CHECK_EQ(nb.message(), std::string("Bucket boundaries not found in Metric args."));
  im::Metric hm = hist.histogram({}, {1, 2});
  expect_throw("histogram value", im::ErrorCode::Unsupported, [&] { (void)hm.value(); });
  expect_throw("histogram increment", im::ErrorCode::Unsupported, [&] { hm.increment(1); });
  expect_throw("counter with histogram args", im::ErrorCode::InvalidArg,
               [&] { (void)counter.metric({}, im::HistogramArgs{1.0}); });
  // Buckets are checked when a series is created (as in Triton), not when the args are set.
  im::Error unsorted = expect_throw("buckets not increasing", im::ErrorCode::InvalidArg,
                                    [&] { (void)hist.metric({{"model", "u"}}, im::HistogramArgs{5, 1}); });
  CHECK_CONTAINS(unsorted.message(), "strictly");
  expect_throw("le label on histogram", im::ErrorCode::InvalidArg, [&] { (void)hist.histogram({{"le", "1"}}, {1}); });

  im::Error bad = expect_throw("bad family name", im::ErrorCode::InvalidArg,
                               [] { im::Family f(im::Kind::Counter, "1bad-name", "x"); });
  CHECK_CONTAINS(bad.message(), "1bad-name");
  expect_throw("same name other kind", im::ErrorCode::InvalidArg,
               [] { im::Family f(im::Kind::Gauge, "cppw_err_total", "x"); });
  im::Error bl = expect_throw("bad label name", im::ErrorCode::InvalidArg,
                              [&] { (void)counter.metric({{"__reserved", "v"}}); });
  CHECK_CONTAINS(bl.message(), "__reserved");

  // Empty objects report the library's NULL-argument error instead of crashing.
  im::Metric empty;
  CHECK(!empty.valid());
  expect_throw("increment on empty Metric", im::ErrorCode::InvalidArg, [&] { empty.increment(1); });
  im::Family empty_family;
  expect_throw("metric of empty Family", im::ErrorCode::InvalidArg, [&] { (void)empty_family.metric(); });

  // The non-throwing overloads in a build with exceptions.
  im::Error err;
  CHECK(!c.increment(-3, err));
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK(c.increment(3, err));
  CHECK(err.ok());
  CHECK_EQ(c.value(err), 5.0);
  im::Family none = im::Family::create(im::Kind::Counter, "bad name", "x", err);
  CHECK(!none.valid());
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  im::Metric m = hist.metric({}, err);
  CHECK(!m.valid());
  CHECK_EQ(err.message(), std::string("Bucket boundaries not found in Metric args."));
}

void test_ordering() {
  const std::string line = "cppw_order_total{model=\"o\"} 4\n";
  {
    im::Metric m;
    {
      im::Family f(im::Kind::Counter, "cppw_order_total", "ordering");
      m = f.metric({{"model", "o"}});
    }  // Family object destroyed first: its C handle must live on for m.
    m.increment(4);
    CHECK_EQ(m.value(), 4.0);
    CHECK_CONTAINS(text(), line);
  }  // last metric gone: the series (and the empty family) disappear.
  CHECK_NOT_CONTAINS(text(), "cppw_order_total");

  // Two handles on one series; the series lives until the last one goes.
  im::Family f(im::Kind::Gauge, "cppw_shared", "shared");
  im::Metric a = f.metric({{"k", "v"}});
  im::Metric b = f.metric({{"k", "v"}});
  a.set(9);
  CHECK_EQ(b.value(), 9.0);
  a.reset();
  CHECK(!a.valid());
  CHECK_CONTAINS(text(), "cppw_shared{k=\"v\"} 9\n");
  f.reset();  // family object released while b lives
  CHECK_EQ(b.value(), 9.0);
  im::Error err;
  CHECK(b.reset(err));
  CHECK(err.ok());
  CHECK_NOT_CONTAINS(text(), "cppw_shared");

  // Move-assigning over a live Metric deletes the old series first.
  im::Family g(im::Kind::Gauge, "cppw_move", "move");
  im::Metric x = g.metric({{"id", "1"}});
  x.set(1);
  im::Metric y = g.metric({{"id", "2"}});
  y.set(2);
  x = std::move(y);
  CHECK(!y.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  CHECK_EQ(x.value(), 2.0);
  std::string t = text();
  CHECK_NOT_CONTAINS(t, "cppw_move{id=\"1\"}");
  CHECK_CONTAINS(t, "cppw_move{id=\"2\"} 2\n");
  im::Family moved = std::move(g);
  CHECK(moved.valid());
  CHECK(!g.valid());  // NOLINT(bugprone-use-after-move)
  im::Metric z = moved.metric({{"id", "3"}});
  z.set(3);
  CHECK_CONTAINS(text(), "cppw_move{id=\"3\"} 3\n");
}

void test_threads() {
  im::Family f(im::Kind::Counter, "cppw_threads_total", "threads");
  im::Metric m = f.metric({{"t", "all"}});
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&m] {
      for (int j = 0; j < 10000; ++j) m.increment(1);
    });
  }
  for (auto& t : threads) t.join();
  CHECK_EQ(m.value(), 40000.0);
}

void test_server() {
  im::Family f(im::Kind::Counter, "cppw_served_total", "served");
  im::Metric m = f.metric({{"model", "s"}});
  m.increment(7);

  im::ServerOptions opts;
  opts.address("127.0.0.1").port(0).gpu_metrics(false).metrics_interval_ms(100);
  im::Server server(opts);
  CHECK(server.valid());
  std::uint16_t port = server.port();
  CHECK(port != 0);

  std::vector<char> buf(1 << 20);
  long n = im_http_get(port, "/metrics", buf.data(), buf.size());
  CHECK(n > 0);
  std::string response(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
  CHECK_CONTAINS(response, "HTTP/1.1 200");
  CHECK_CONTAINS(response, "cppw_served_total{model=\"s\"} 7\n");
  CHECK_CONTAINS(server.snapshot().text(), "cppw_served_total{model=\"s\"} 7\n");

  // The same port again: UNAVAILABLE naming the socket.
  im::ServerOptions again;
  again.address("127.0.0.1").port(port);
  im::Error busy = expect_throw("port in use", im::ErrorCode::Unavailable, [&] { im::Server s2(again); });
  CHECK_CONTAINS(busy.message(), "already in use");
  im::Error err;
  im::Server none = im::Server::create(again, err);
  CHECK(!none.valid());
  CHECK(err.code() == im::ErrorCode::Unavailable);
  expect_throw("bad address", im::ErrorCode::InvalidArg, [] {
    im::ServerOptions o;
    o.address("not an address").port(0);
    im::Server s3(o);
  });

  // Pinned pool report reaches the collector's series (bounded wait: 100 x 100 ms).
  im::pinned_memory_pool_report(4096, 1024);
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    seen = check::contains(server.snapshot().text(), "nv_pinned_memory_pool_total_bytes 4096\n");
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(seen);
  CHECK_CONTAINS(server.snapshot().text(), "nv_pinned_memory_pool_used_bytes 1024\n");

  // Stopping frees the port: a new server can bind it.
  server.reset();
  CHECK(!server.valid());
  im::Server rebound(again);
  CHECK_EQ(static_cast<unsigned>(rebound.port()), static_cast<unsigned>(port));

  // Moving hands the running server over; the moved-from object owns nothing.
  im::Server moved(std::move(rebound));
  CHECK(!rebound.valid());
  CHECK(moved.valid());
  CHECK(im_http_get(port, "/metrics", buf.data(), buf.size()) > 0);
  // Move-assigning over a running server stops it first: its port is free again.
  im::ServerOptions other;
  other.address("127.0.0.1").port(0);
  moved = im::Server(other);
  CHECK(moved.valid());
  CHECK(moved.port() != port);
  im::Server third(again);
  CHECK_EQ(static_cast<unsigned>(third.port()), static_cast<unsigned>(port));
  // HistogramArgs and ServerOptions move the same way.
  im::HistogramArgs a1({1.0, 2.0});
  im::HistogramArgs a2(std::move(a1));
  CHECK(!a1.valid());
  CHECK(a2.valid());
  im::ServerOptions o2(std::move(other));
  CHECK(!other.valid());
  CHECK(o2.valid());
}

void test_api_version() {
  auto [major, minor] = im::api_version();
  CHECK_EQ(static_cast<unsigned>(major), static_cast<unsigned>(INFERMETRICS_API_VERSION_MAJOR));
  CHECK_EQ(static_cast<unsigned>(minor), static_cast<unsigned>(INFERMETRICS_API_VERSION_MINOR));
}

}  // namespace

// Exemplars (our extension): the throwing and the Error& overloads, seen in OpenMetrics only.
std::string openmetrics_text() {
  INFERMETRICS_Metrics* m = nullptr;
  const char* base = nullptr;
  size_t size = 0;
  CHECK(INFERMETRICS_ServerMetrics(nullptr, &m) == nullptr);
  CHECK(INFERMETRICS_MetricsFormatted(m, INFERMETRICS_METRIC_OPENMETRICS, &base, &size) == nullptr);
  std::string t(base, size);
  INFERMETRICS_ErrorDelete(INFERMETRICS_MetricsDelete(m));
  return t;
}

void test_exemplars() {
  im::Family counter(im::Kind::Counter, "cppw_ex_requests", "with exemplars");
  im::Metric c = counter.metric({{"model", "a"}});
  c.increment(2, {{"trace_id", "abc"}});
  im::Family hist(im::Kind::Histogram, "cppw_ex_latency", "with exemplars");
  im::Metric h = hist.histogram({}, {1, 2});
  h.observe(1.5, {{"trace_id", "def"}});
  std::string t = openmetrics_text();
  CHECK_CONTAINS(t, "cppw_ex_requests_total{model=\"a\"} 2 # {trace_id=\"abc\"} 2 ");
  CHECK_CONTAINS(t, "cppw_ex_latency_bucket{le=\"2\"} 1 # {trace_id=\"def\"} 1.5 ");
  CHECK(text().find("trace_id") == std::string::npos);  // never in 0.0.4
  expect_throw("exemplar on a histogram increment", im::ErrorCode::Unsupported,
               [&] { h.increment(1, {{"trace_id", "x"}}); });
  expect_throw("exemplar label too long", im::ErrorCode::InvalidArg,
               [&] { c.increment(1, {{"trace_id", std::string(200, 'x')}}); });
  expect_throw("negative with exemplar", im::ErrorCode::InvalidArg, [&] { c.increment(-1, {{"t", "x"}}); });
  im::Error err;
  CHECK(!c.increment(1, {{"bad-name", "x"}}, err));
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK(c.increment(1, {}, err));
  CHECK(err.ok());
  CHECK_EQ(c.value(), 3.0);  // the failures recorded nothing
  im::Counter typed;
  CHECK(!typed.Increment(1, {{"t", "x"}}, err));  // an empty handle: the library's NULL error
  CHECK(err.code() == im::ErrorCode::InvalidArg);
}

int main() {
  // Any exception escaping a test is a failure with its message.
  auto run = [](const char* name, void (*fn)()) {
    try {
      fn();
    } catch (const im::Error& e) {
      check::fail(__FILE__, __LINE__, std::string(name) + ": unexpected infermetrics::Error " + e.message());
    } catch (const std::exception& e) {
      check::fail(__FILE__, __LINE__, std::string(name) + ": unexpected exception " + e.what());
    }
  };
  run("counter_records", test_counter_records);
  run("label_forms", test_label_forms);
  run("gauge", test_gauge);
  run("histogram", test_histogram);
  run("errors", test_errors);
  run("exemplars", test_exemplars);
  run("ordering", test_ordering);
  run("threads", test_threads);
  run("server", test_server);
  run("api_version", test_api_version);
  if (check::failures != 0) {
    std::fprintf(stderr, "test_wrapper: %d check(s) failed\n", check::failures);
    return 1;
  }
  std::printf("test_wrapper: all checks passed\n");
  return 0;
}

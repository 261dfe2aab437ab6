// Typed handles (Counter, Gauge, Histogram), TypedFamily, Registry, the Build*() builders and
// Exposer of include/infermetrics.hpp, driven the way prometheus-cpp code drives its own: its
// README example and the cases of its core/tests/family_test.cc and registry_test.cc, ported
// with `namespace prometheus = infermetrics::prometheus;` (Collect() becomes a check of the
// served text). Metric names differ per case: the library has one registry per process, where a
// name's kind is fixed (prometheus-cpp's tests reuse names across registries).
#include <infermetrics.hpp>

#include <array>
#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "../consumers/common/http_get.h"
#include "check.hpp"

namespace im = infermetrics;
namespace prometheus = infermetrics::prometheus;

static_assert(!std::is_copy_constructible_v<im::Counter> && std::is_nothrow_move_constructible_v<im::Counter>);
static_assert(!std::is_copy_constructible_v<im::Histogram> && std::is_nothrow_move_assignable_v<im::Gauge>);
static_assert(std::is_nothrow_move_constructible_v<im::CounterFamily>);
static_assert(std::is_same_v<prometheus::Family<prometheus::Counter>, im::TypedFamily<im::Counter>>);
static_assert(std::is_same_v<prometheus::Histogram::BucketBoundaries, std::vector<double>>);

namespace {

std::string text() { return im::text(); }

template <class F>
bool throws(F&& f, im::ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const im::Error& e) {
    if (code != nullptr) *code = e.code();
    return true;
  }
  return false;
}

// --- prometheus-cpp's README example, ported line for line (bounded loop, ephemeral port) ---
void test_prometheus_cpp_readme_example() {
  using namespace prometheus;

  // create an http server running on port 8080
  Exposer exposer{"127.0.0.1:0"};

  // create a metrics registry
  // @note it's the users responsibility to keep the object alive
  auto registry = std::make_shared<Registry>();

  // add a new counter family to the registry (families combine values with the
  // same name, but distinct label dimensions)
  auto& packet_counter = BuildCounter()
                             .Name("observed_packets_total")
                             .Help("Number of observed packets")
                             .Register(*registry);

  // add and remember dimensional data, incrementing those is very cheap
  auto& tcp_rx_counter = packet_counter.Add({{"protocol", "tcp"}, {"direction", "rx"}});
  auto& tcp_tx_counter = packet_counter.Add({{"protocol", "tcp"}, {"direction", "tx"}});
  auto& udp_rx_counter = packet_counter.Add({{"protocol", "udp"}, {"direction", "rx"}});
  auto& udp_tx_counter = packet_counter.Add({{"protocol", "udp"}, {"direction", "tx"}});

  // add a counter whose dimensional data is not known at compile time
  // nevertheless dimensional values should only occur in low cardinality:
  // https://prometheus.io/docs/practices/naming/#labels
  auto& http_requests_counter = BuildCounter()
                                    .Name("http_requests_total")
                                    .Help("Number of HTTP requests")
                                    .Register(*registry);

  // ask the exposer to scrape the registry on incoming HTTP requests
  exposer.RegisterCollectable(registry);

  std::array<int, 4> expected_method{};
  for (int i = 0; i < 40; ++i) {
    const auto random_value = std::rand();

    if (random_value & 1) tcp_rx_counter.Increment();
    if (random_value & 2) tcp_tx_counter.Increment();
    if (random_value & 4) udp_rx_counter.Increment(10);
    if (random_value & 8) udp_tx_counter.Increment(10);

    const std::array<std::string, 4> methods = {"GET", "PUT", "POST", "HEAD"};
    auto method = methods.at(static_cast<std::size_t>(random_value) % methods.size());
    // dynamically calling Family<T>.Add() works but is slow and should be avoided
    http_requests_counter.Add({{"method", method}}).Increment();
    ++expected_method[static_cast<std::size_t>(random_value) % methods.size()];
  }

  CHECK_EQ(exposer.GetListeningPorts().size(), std::size_t{1});
  std::vector<char> buf(1 << 20);
  long n = im_http_get(static_cast<std::uint16_t>(exposer.GetListeningPorts().at(0)), "/metrics", buf.data(),
                       buf.size());
  std::string body(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
  CHECK_CONTAINS(body, "HTTP/1.1 200");
  CHECK_CONTAINS(body, "# TYPE observed_packets_total counter\n");
  const std::string tcp_rx =
      "observed_packets_total{direction=\"rx\",protocol=\"tcp\"} " + std::to_string(int(tcp_rx_counter.Value())) + "\n";
  CHECK_CONTAINS(body, tcp_rx);
  const std::array<std::string, 4> methods = {"GET", "PUT", "POST", "HEAD"};
  int total = 0;
  for (std::size_t i = 0; i < methods.size(); ++i) {
    total += expected_method[i];
    if (expected_method[i] == 0) continue;
    // the temporaries of Add(...).Increment() recorded: the family keeps each series
    const std::string line =
        "http_requests_total{method=\"" + methods[i] + "\"} " + std::to_string(expected_method[i]) + "\n";
    CHECK_CONTAINS(body, line);
  }
  CHECK_EQ(total, 40);
  CHECK(throws([&] { exposer.RegisterCollectable(registry, "/other"); }));
}

// --- the loop: the natural prometheus-cpp habit records ---
void test_add_in_a_loop_records() {
  im::CounterFamily family("tt_loop_total", "loop");
  for (int i = 0; i < 1000; ++i) family.Add({{"model", "a"}}).Increment();
  CHECK_CONTAINS(text(), "tt_loop_total{model=\"a\"} 1000\n");
  CHECK_EQ(family.Add({{"model", "a"}}).Value(), 1000.0);
}

// --- prometheus-cpp core/tests/family_test.cc ---
void family_labels() {
  prometheus::Family<prometheus::Counter> family{"tt_total_requests", "Counts all requests", {{"component", "test"}}};
  family.Add({{"status", "200"}});
  CHECK_CONTAINS(text(), "tt_total_requests{component=\"test\",status=\"200\"} 0\n");
}

void family_reject_same_label_keys() {
  auto labels = prometheus::Labels{{"component", "test"}};
  prometheus::Family<prometheus::Counter> family{"tt_same_keys", "Counts all requests", labels};
  CHECK(throws([&] { family.Add(labels); }));
}

void family_counter_value() {
  prometheus::Family<prometheus::Counter> family{"tt_counter_value", "Counts all requests", {}};
  auto& counter = family.Add({});
  counter.Increment();
  CHECK_CONTAINS(text(), "\ntt_counter_value 1\n");
}

void family_remove() {
  prometheus::Family<prometheus::Counter> family{"tt_remove", "Counts all requests", {}};
  auto& counter1 = family.Add({{"name", "counter1"}});
  family.Add({{"name", "counter2"}});
  family.Remove(&counter1);
  std::string t = text();
  CHECK_NOT_CONTAINS(t, "tt_remove{name=\"counter1\"}");
  CHECK_CONTAINS(t, "tt_remove{name=\"counter2\"} 0\n");
  CHECK(!family.Has({{"name", "counter1"}}));
}

void family_remove_unknown_metric_must_not_crash() {
  prometheus::Family<prometheus::Counter> family{"tt_remove_unknown", "Counts all requests", {}};
  family.Remove(nullptr);
  prometheus::Counter stranger;
  family.Remove(&stranger);
}

void family_histogram() {
  prometheus::Family<prometheus::Histogram> family{"tt_request_latency", "Latency Histogram", {}};
  auto& histogram1 = family.Add({{"name", "histogram1"}}, prometheus::Histogram::BucketBoundaries{0, 1, 2});
  histogram1.Observe(0);
  std::string t = text();
  CHECK_CONTAINS(t, "tt_request_latency_count{name=\"histogram1\"} 1\n");
  CHECK_CONTAINS(t, "tt_request_latency_bucket{name=\"histogram1\",le=\"0\"} 1\n");
}

void family_add_twice() {
  prometheus::Family<prometheus::Counter> family{"tt_add_twice", "Counts all requests", {}};
  auto& counter = family.Add({{"name", "counter1"}});
  auto& counter1 = family.Add({{"name", "counter1"}});
  CHECK(&counter == &counter1);
  auto& other_order = family.Add({{"name", "counter1"}, {"empty", ""}});  // an empty value is no label
  CHECK(&counter == &other_order);
}

void family_throw_on_invalid_metric_name() {
  auto create_family_with_invalid_name = []() {
    return std::make_unique<prometheus::Family<prometheus::Counter>>("", "empty name", prometheus::Labels{});
  };
  CHECK(throws(create_family_with_invalid_name));
}

void family_throw_on_invalid_constant_label_name() {
  auto create_family_with_invalid_labels = []() {
    return std::make_unique<prometheus::Family<prometheus::Counter>>("tt_invalid_const", "Counts all requests",
                                                                     prometheus::Labels{{"__invalid", "counter1"}});
  };
  CHECK(throws(create_family_with_invalid_labels));
}

void family_should_throw_on_invalid_labels() {
  prometheus::Family<prometheus::Counter> family{"tt_invalid_labels", "Counts all requests", {}};
  auto add_metric_with_invalid_label_name = [&family]() { family.Add({{"__invalid", "counter1"}}); };
  CHECK(throws(add_metric_with_invalid_label_name));
}

void family_should_not_collect_empty_metrics() {
  prometheus::Family<prometheus::Counter> family{"tt_empty_family", "Counts all requests", {}};
  CHECK_NOT_CONTAINS(text(), "tt_empty_family");
}

void family_query_family_if_metric_already_exists() {
  prometheus::Family<prometheus::Counter> family{"tt_has", "Counts all requests", {}};
  family.Add({{"name", "counter1"}});
  CHECK(family.Has({{"name", "counter1"}}));
  CHECK(!family.Has({{"name", "counter2"}}));
}

void family_reject_histogram_with_constant_le_label() {
  auto labels = prometheus::Labels{{"le", "test"}};
  CHECK(throws([&] { std::make_unique<prometheus::Family<prometheus::Histogram>>("tt_const_le", "help", labels); }));
}

void family_reject_histogram_with_le_label() {
  prometheus::Family<prometheus::Histogram> family{"tt_le", "help", {}};
  auto labels = prometheus::Labels{{"le", "test"}};
  CHECK(throws([&] { family.Add(labels, prometheus::Histogram::BucketBoundaries{0, 1, 2}); }));
}

// --- prometheus-cpp core/tests/registry_test.cc ---
void registry_collect_single_metric_family() {
  prometheus::Registry registry{};
  auto& counter_family = prometheus::BuildCounter().Name("tt_reg_test").Help("a test").Register(registry);
  counter_family.Add({{"name", "counter1"}});
  counter_family.Add({{"name", "counter2"}});
  std::string t = text();
  CHECK_CONTAINS(t, "# HELP tt_reg_test a test\n");
  CHECK_CONTAINS(t, "tt_reg_test{name=\"counter1\"} 0\n");
  CHECK_CONTAINS(t, "tt_reg_test{name=\"counter2\"} 0\n");
}

void registry_build_histogram_family() {
  prometheus::Registry registry{};
  auto& histogram_family = prometheus::BuildHistogram().Name("tt_hist").Help("Test Histogram").Register(registry);
  auto& histogram =
      histogram_family.Add({{"name", "test_histogram_1"}}, prometheus::Histogram::BucketBoundaries{0, 1, 2});
  histogram.Observe(1.1);
  CHECK_CONTAINS(text(), "tt_hist_bucket{name=\"test_histogram_1\",le=\"2\"} 1\n");
}

template <class T>
bool register_throws(prometheus::Registry& registry, const std::string& name) {
  im::ErrorCode code{};
  return throws([&] { im::detail::Builder<T>().Name(name).Register(registry); }, &code) &&
         code == im::ErrorCode::InvalidArg;
}

template <class First, class Second, class Third>
void reject_different_type(const std::string& same_name) {
  prometheus::Registry registry{};
  CHECK(!throws([&] { im::detail::Builder<First>().Name(same_name).Register(registry); }));
  CHECK(register_throws<Second>(registry, same_name));
  CHECK(register_throws<Third>(registry, same_name));
}

void registry_reject_different_types() {
  reject_different_type<im::Counter, im::Gauge, im::Histogram>("tt_same_name_counter");
  reject_different_type<im::Gauge, im::Counter, im::Histogram>("tt_same_name_gauge");
  reject_different_type<im::Histogram, im::Counter, im::Gauge>("tt_same_name_histogram");
}

void registry_throw_for_same_family_name() {
  prometheus::Registry registry{prometheus::Registry::InsertBehavior::Throw};
  CHECK(!throws([&] { prometheus::BuildCounter().Name("tt_throw_same").Register(registry); }));
  im::ErrorCode code{};
  CHECK(throws([&] { prometheus::BuildCounter().Name("tt_throw_same").Register(registry); }, &code));
  CHECK(code == im::ErrorCode::AlreadyExists);
}

void registry_merge_same_families() {
  prometheus::Registry registry{prometheus::Registry::InsertBehavior::Merge};
  std::size_t loops = 4;
  prometheus::Family<prometheus::Counter>* first = nullptr;
  while (loops-- > 0) {
    auto& f = prometheus::BuildCounter().Name("tt_merge").Help("Test Counter").Register(registry);
    f.Add({{"name", "test_counter"}}).Increment();
    if (first == nullptr) first = &f;
    CHECK(first == &f);
  }
  CHECK_CONTAINS(text(), "tt_merge{name=\"test_counter\"} 4\n");
}

void registry_do_not_merge_families_with_different_labels() {
  prometheus::Registry registry{prometheus::Registry::InsertBehavior::Merge};
  CHECK(!throws([&] {
    prometheus::BuildCounter().Name("tt_nomerge").Help("Test Counter").Labels({{"a", "A"}}).Register(registry);
  }));
  CHECK(throws([&] {
    prometheus::BuildCounter().Name("tt_nomerge").Help("Test Counter").Labels({{"b", "B"}}).Register(registry);
  }));
}

void registry_remove() {
  prometheus::Registry registry;
  auto& g = prometheus::BuildGauge().Name("tt_reg_remove").Help("h").Register(registry);
  g.Add({}).Set(3);
  CHECK_CONTAINS(text(), "tt_reg_remove 3\n");
  CHECK(registry.Remove(g));
  CHECK_NOT_CONTAINS(text(), "tt_reg_remove");
  prometheus::Family<prometheus::Gauge> stranger{"tt_reg_stranger", "h"};
  CHECK(!registry.Remove(stranger));
}

// --- typed handles, ownership, errors ---
void test_gauge_operations() {
  im::GaugeFamily family("tt_gauge", "g", {{"host", "h1"}});
  im::Gauge& g = family.Add({{"pool", "p"}});
  g.Increment();
  g.Increment(4);
  g.Decrement();
  g.Decrement(1.5);
  CHECK_EQ(g.Value(), 2.5);
  g.Set(-7);
  CHECK_CONTAINS(text(), "tt_gauge{host=\"h1\",pool=\"p\"} -7\n");
  g.SetToCurrentTime();
  CHECK(g.Value() > 1.7e9);
  g.set(1);
  g.increment(1);
  CHECK_EQ(g.value(), 2.0);
}

void test_counter_refuses_negative() {
  im::CounterFamily family("tt_negative_total", "n");
  im::Counter& c = family.Add({});
  im::ErrorCode code{};
  CHECK(throws([&] { c.Increment(-1); }, &code));  // prometheus-cpp ignores it silently
  CHECK(code == im::ErrorCode::InvalidArg);
  im::Error err;
  CHECK(!c.Increment(-1, err));
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK(c.Increment(2, err) && err.ok());
  CHECK_EQ(c.Value(), 2.0);
}

void test_raii_handles_and_family_lifetime() {
  {
    im::CounterFamily family("tt_raii_total", "r");
    im::Counter owned = family.metric({{"k", "v"}});
    owned.Increment(3);
    CHECK_CONTAINS(text(), "tt_raii_total{k=\"v\"} 3\n");
    im::Counter moved = std::move(owned);
    CHECK(!owned.valid());  // NOLINT(bugprone-use-after-move)
    moved.reset();
    CHECK_NOT_CONTAINS(text(), "tt_raii_total");  // the last handle went: the series went
    im::Histogram h = im::HistogramFamily("tt_raii_seconds", "h").metric({}, {0.5, 1});
    h.Observe(0.7);  // the family object is gone; the handle keeps the C family alive
    CHECK_CONTAINS(text(), "tt_raii_seconds_bucket{le=\"1\"} 1\n");
  }
  CHECK_NOT_CONTAINS(text(), "tt_raii_seconds");
  {
    im::CounterFamily family("tt_owned_total", "o");
    family.Add({{"a", "1"}}).Increment();
    im::CounterFamily moved = std::move(family);  // references stay valid across a move
    moved.Add({{"a", "1"}}).Increment();
    CHECK_CONTAINS(text(), "tt_owned_total{a=\"1\"} 2\n");
    CHECK(!family.valid());  // NOLINT(bugprone-use-after-move)
    CHECK(throws([&] { family.Add({}); }));
  }
  CHECK_NOT_CONTAINS(text(), "tt_owned_total");  // the family deleted the series it kept
}

void test_non_throwing_api() {
  im::Error err;
  im::CounterFamily bad = im::CounterFamily::create("bad name", "x", {}, err);
  CHECK(!bad.valid());
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  im::CounterFamily ok = im::CounterFamily::create("tt_noexcept_total", "x", {}, err);
  CHECK(ok.valid() && err.ok());
  CHECK(ok.Add({{"__bad", "v"}}, err) == nullptr);
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  im::Counter* c = ok.Add({{"good", "v"}}, err);
  CHECK(c != nullptr && err.ok());
  CHECK(c->Increment(1, err));
  im::HistogramFamily hf = im::HistogramFamily::create("tt_noexcept_seconds", "x", {}, err);
  CHECK(hf.Add({}, {2, 1}, err) == nullptr);  // unsorted buckets
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  im::Histogram h = hf.metric({}, {1, 2}, err);
  CHECK(h.valid() && err.ok());
  CHECK(h.Observe(1.5, err));
  CHECK(!h.Observe(std::nan(""), err));
  CHECK(err.code() == im::ErrorCode::InvalidArg);
}

void test_add_from_threads() {
  im::CounterFamily family("tt_threads_total", "t");
  std::vector<std::thread> threads;
  std::vector<im::Counter*> seen(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&family, &seen, i] {
      for (int j = 0; j < 5000; ++j) {
        im::Counter& c = family.Add({{"shared", "yes"}});
        c.Increment();
        seen[static_cast<std::size_t>(i)] = &c;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(seen[0] == seen[1] && seen[1] == seen[2] && seen[2] == seen[3]);
  CHECK_EQ(seen[0]->Value(), 20000.0);
}

}  // namespace

int main() {
  auto run = [](const char* name, void (*fn)()) {
    try {
      fn();
    } catch (const std::exception& e) {
      check::fail(__FILE__, __LINE__, std::string(name) + ": unexpected exception " + e.what());
    }
  };
  run("prometheus_cpp_readme_example", test_prometheus_cpp_readme_example);
  run("add_in_a_loop_records", test_add_in_a_loop_records);
  run("family_labels", family_labels);
  run("family_reject_same_label_keys", family_reject_same_label_keys);
  run("family_counter_value", family_counter_value);
  run("family_remove", family_remove);
  run("family_remove_unknown_metric_must_not_crash", family_remove_unknown_metric_must_not_crash);
  run("family_histogram", family_histogram);
  run("family_add_twice", family_add_twice);
  run("family_throw_on_invalid_metric_name", family_throw_on_invalid_metric_name);
  run("family_throw_on_invalid_constant_label_name", family_throw_on_invalid_constant_label_name);
  run("family_should_throw_on_invalid_labels", family_should_throw_on_invalid_labels);
  run("family_should_not_collect_empty_metrics", family_should_not_collect_empty_metrics);
  run("family_query_family_if_metric_already_exists", family_query_family_if_metric_already_exists);
  run("family_reject_histogram_with_constant_le_label", family_reject_histogram_with_constant_le_label);
  run("family_reject_histogram_with_le_label", family_reject_histogram_with_le_label);
  run("registry_collect_single_metric_family", registry_collect_single_metric_family);
  run("registry_build_histogram_family", registry_build_histogram_family);
  run("registry_reject_different_types", registry_reject_different_types);
  run("registry_throw_for_same_family_name", registry_throw_for_same_family_name);
  run("registry_merge_same_families", registry_merge_same_families);
  run("registry_do_not_merge_families_with_different_labels", registry_do_not_merge_families_with_different_labels);
  run("registry_remove", registry_remove);
  run("gauge_operations", test_gauge_operations);
  run("counter_refuses_negative", test_counter_refuses_negative);
  run("raii_handles_and_family_lifetime", test_raii_handles_and_family_lifetime);
  run("non_throwing_api", test_non_throwing_api);
  run("add_from_threads", test_add_from_threads);
  if (check::failures != 0) {
    std::fprintf(stderr, "test_typed: %d check(s) failed\n", check::failures);
    return 1;
  }
  std::printf("test_typed: all checks passed\n");
  return 0;
}

// Consumer program (C++17, include/infermetrics.hpp), built by the find_package and
// add_subdirectory consumer projects. The part between the [snippet] markers is copied verbatim
// into docs/cmake-cpp-python.md (tests/consumers/check_snippets.sh keeps them in sync).
#include <cstdio>
#include <string>
#include <vector>

#include "http_get.h"

// [snippet cpp]
#include <infermetrics.hpp>

namespace im = infermetrics;

std::string record_and_serve() {
  im::CounterFamily requests("app_requests_total", "Requests handled");
  im::HistogramFamily latency("app_latency_ms", "Request latency in ms");
  im::Counter& ok = requests.Add({{"model", "resnet"}, {"version", "1"}});  // kept by the family
  im::Histogram lat = latency.metric({{"model", "resnet"}}, {1, 5, 10, 50});  // a handle we own
  ok.Increment();
  lat.Observe(3.2);
  requests.Add({{"model", "bert"}, {"version", "1"}}).Increment();  // fine in a loop, too

  im::Server server(im::ServerOptions().address("127.0.0.1").port(0));  // 0: any free port
  std::printf("scrape http://127.0.0.1:%u/metrics\n", unsigned(server.port()));
  try {
    ok.Increment(-1);  // counters only go up (and ok.Observe(1) does not compile)
  } catch (const im::Error& e) {
    std::printf("error %s: %s\n", e.code_string().c_str(), e.message().c_str());
  }
  return std::string(server.snapshot().text());
}
// [/snippet]

// [snippet cpp-port]
// prometheus-cpp code, ported: the includes, and one line naming the namespace
namespace prometheus = infermetrics::prometheus;

void ported(prometheus::Registry& registry) {
  auto& packets = prometheus::BuildCounter()
                      .Name("app_observed_packets_total")
                      .Help("Number of observed packets")
                      .Register(registry);
  auto& tcp_rx = packets.Add({{"protocol", "tcp"}, {"direction", "rx"}});
  tcp_rx.Increment();
  prometheus::Family<prometheus::Gauge>& queue =
      prometheus::BuildGauge().Name("app_queue_depth").Help("Queued").Labels({{"pool", "gpu0"}}).Register(registry);
  queue.Add({}).Set(4);
  auto& sizes = prometheus::BuildHistogram().Name("app_request_bytes").Help("Sizes").Register(registry);
  sizes.Add({}, prometheus::Histogram::BucketBoundaries{100, 1000}).Observe(512);
}
// [/snippet]

static int failures = 0;
static void expect(const std::string& text, const char* needle, const char* where) {
  if (text.find(needle) == std::string::npos) {
    std::fprintf(stderr, "FAILED (%s): expected to find \"%s\" in:\n%s\n", where, needle, text.c_str());
    ++failures;
  }
}

int main() {
  std::string text = record_and_serve();
  expect(text, "app_requests_total{model=\"resnet\",version=\"1\"} 1\n", "snapshot");
  expect(text, "app_requests_total{model=\"bert\",version=\"1\"} 1\n", "snapshot");
  expect(text, "app_latency_ms_bucket{model=\"resnet\",le=\"5\"} 1\n", "snapshot");
  expect(text, "# TYPE app_latency_ms histogram\n", "snapshot");

  prometheus::Registry registry;
  ported(registry);
  std::string port_text = im::text();
  expect(port_text, "app_observed_packets_total{direction=\"rx\",protocol=\"tcp\"} 1\n", "ported");
  expect(port_text, "app_queue_depth{pool=\"gpu0\"} 4\n", "ported");
  expect(port_text, "app_request_bytes_bucket{le=\"1000\"} 1\n", "ported");

  // The same through HTTP, from a server that outlives the scrape.
  im::Family served(im::Kind::Counter, "app_served_total", "Served");
  im::Metric m = served.metric({{"model", "resnet"}});
  m.increment(3);
  im::Server server(im::ServerOptions().address("127.0.0.1").port(0).gpu_metrics(false));
  std::vector<char> buf(1 << 20);
  long n = im_http_get(server.port(), "/metrics", buf.data(), buf.size());
  std::string response(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
  expect(response, "HTTP/1.1 200", "GET /metrics");
  expect(response, "text/plain; version=0.0.4", "GET /metrics");
  expect(response, "app_served_total{model=\"resnet\"} 3\n", "GET /metrics");
  if (failures != 0) return 1;
  std::printf("consumer app (C++): OK\n");
  return 0;
}

// Embedding (issue 12) through include/infermetrics.hpp: ServerOptions::listen(false) (collectors
// only), Server::render / infermetrics::render (body, content type, content encoding), negotiate;
// the throwing API and the Error& overloads.
#include <infermetrics.hpp>

#include <cstdio>
#include <string>
#include <type_traits>

#include "check.hpp"

namespace im = infermetrics;

static_assert(std::is_same_v<decltype(std::declval<const im::Server&>().render()), im::Rendered>);
static_assert(noexcept(im::negotiate(nullptr, nullptr, false, std::declval<im::Error&>())));

namespace {

void test_listenerless_server_renders() {
  im::Family requests(im::Kind::Counter, "cppe_requests_total", "Requests");
  im::Metric m = requests.metric();
  m.increment(9);
  im::Server server(im::ServerOptions().listen(false).gpu_metrics(false).metrics_interval_ms(50));
  CHECK(server.valid());
  try {
    (void)server.port();
    check::fail(__FILE__, __LINE__, "port() of a listener-less server did not throw");
  } catch (const im::Error& e) {
    CHECK_EQ(static_cast<int>(e.code()), static_cast<int>(im::ErrorCode::Unavailable));
    CHECK_CONTAINS(e.message(), "no listener");
  }

  im::Rendered plain = server.render();
  CHECK_EQ(plain.content_type, std::string(INFERMETRICS_CONTENT_TYPE_PROMETHEUS));
  CHECK_EQ(plain.content_type, std::string("text/plain; version=0.0.4; charset=utf-8"));
  CHECK(plain.content_encoding.empty());
  CHECK_CONTAINS(plain.body, "\ncppe_requests_total 9\n");
  CHECK_CONTAINS(plain.body, "nv_cpu_memory_total_bytes ");
  CHECK_CONTAINS(plain.body, "nv_collector_success{collector=\"cpu\"}");

  im::Rendered gz = server.render(im::Format::Prometheus, true);
  CHECK_EQ(gz.content_encoding, std::string("gzip"));
  CHECK(gz.body.size() > 18 && static_cast<unsigned char>(gz.body[0]) == 0x1f &&
        static_cast<unsigned char>(gz.body[1]) == 0x8b);
  CHECK(gz.body.size() < plain.body.size());

  im::Rendered om = server.render(im::Format::OpenMetrics, false);
  CHECK_EQ(om.content_type, std::string(INFERMETRICS_CONTENT_TYPE_OPENMETRICS));
  CHECK_CONTAINS(om.body, "cppe_requests");

  // the registry alone: no collector series
  im::Rendered registry = im::render();
  CHECK_CONTAINS(registry.body, "cppe_requests_total 9");
  CHECK_NOT_CONTAINS(registry.body, "nv_collector_success");

  // Error& overloads: no throw, the error says what went wrong
  im::Error err;
  im::Rendered bad = server.render(static_cast<im::Format>(7), false, err);
  CHECK(err.failed());
  CHECK_CONTAINS(err.message(), "unknown metrics format 7");
  CHECK(bad.body.empty() && bad.content_type.empty());
  err.clear();
  im::Server empty;
  (void)empty.render(im::Format::Prometheus, false, err);
  CHECK(err.failed());
  CHECK_CONTAINS(err.message(), "empty Server");
  err.clear();
  CHECK_EQ(server.port(err), 0);
  CHECK(err.failed() && err.code() == im::ErrorCode::Unavailable);

  // two listener-less servers side by side
  im::Server second(im::ServerOptions().listen(false).gpu_metrics(false));
  CHECK_CONTAINS(second.render().body, "cppe_requests_total 9");
}

void test_negotiate() {
  im::Negotiated n = im::negotiate(nullptr, nullptr, true);
  CHECK(n.format == im::Format::Prometheus && !n.gzip);
  // OpenMetrics is the host's opt-in: never without it
  n = im::negotiate("application/openmetrics-text; version=1.0.0", "identity", false);
  CHECK(n.format == im::Format::Prometheus && !n.gzip);
  im::Error err;
  n = im::negotiate("text/plain", nullptr, false, err);
  CHECK(err.ok() && n.format == im::Format::Prometheus);
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
  run("listenerless_server_renders", test_listenerless_server_renders);
  run("negotiate", test_negotiate);
  if (check::failures != 0) {
    std::fprintf(stderr, "test_embed: %d check(s) failed\n", check::failures);
    return 1;
  }
  std::printf("test_embed: all checks passed\n");
  return 0;
}

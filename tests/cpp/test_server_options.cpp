// ServerOptions exposes every INFERMETRICS_ServerOptionsSet* call: each setter compiles in both forms
// (throwing chainable, and bool + Error& noexcept), reaches the server (seen over HTTP, in the
// series or in the log) and reports bad input as the C API's INVALID_ARG.
#include <infermetrics.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "check.hpp"

namespace im = infermetrics;

// The noexcept forms are noexcept (the vector form of disk_paths allocates, so it is not).
static_assert(noexcept(std::declval<im::ServerOptions&>().max_connections(1u, std::declval<im::Error&>())));
static_assert(noexcept(std::declval<im::ServerOptions&>().openmetrics(true, std::declval<im::Error&>())));
static_assert(noexcept(std::declval<im::ServerOptions&>().web_config(std::declval<const std::string&>(), std::declval<im::Error&>())));
static_assert(noexcept(std::declval<im::ServerOptions&>().collector(std::declval<const std::string&>(), true, std::declval<im::Error&>())));
static_assert(noexcept(std::declval<im::ServerOptions&>().gpu_vendor(std::declval<const std::string&>(), true, std::declval<im::Error&>())));
static_assert(noexcept(std::declval<im::ServerOptions&>().disk_paths(std::string(), std::declval<im::Error&>())));
static_assert(std::is_same_v<decltype(std::declval<im::ServerOptions&>().openmetrics(true)), im::ServerOptions&>);

namespace {

// GET /metrics with an Accept header; the whole response (headers and body), "" on failure.
std::string get(std::uint16_t port, const std::string& accept = "") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!accept.empty()) req += "Accept: " + accept + "\r\n";
    req += "\r\n";
    if (send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  return out;
}

const char* const kOmAccept = "application/openmetrics-text; version=1.0.0";

std::mutex log_mu;
std::string log_text;
void on_log(INFERMETRICS_LogLevel, const char* message, void*) {
  std::lock_guard<std::mutex> g(log_mu);
  log_text += message;
  log_text += '\n';
}
std::string logged() {
  std::lock_guard<std::mutex> g(log_mu);
  return log_text;
}

// Expects `f` to throw im::Error InvalidArg whose message contains `needle`.
template <class F>
void expect_invalid(const char* what, const std::string& needle, F&& f) {
  try {
    f();
  } catch (const im::Error& e) {
    if (e.code() != im::ErrorCode::InvalidArg)
      check::fail(__FILE__, __LINE__, std::string(what) + ": not InvalidArg: " + e.message());
    if (!check::contains(e.message(), needle))
      check::fail(__FILE__, __LINE__, std::string(what) + ": message lacks '" + needle + "': " + e.message());
    return;
  }
  check::fail(__FILE__, __LINE__, std::string(what) + ": nothing thrown");
}

void test_throwing_setters_reach_the_server() {
  im::ServerOptions o;
  o.address("127.0.0.1")
      .port(0)
      .gpu_metrics(false)
      .openmetrics(true)
      .max_connections(8)
      .process_metrics(false)
      .container_metrics(true)
      .host_metrics(true)
      .collector("cpu", false)
      .gpu_vendor("amd", false)
      .disk_paths(std::vector<std::string>{"/"})
      .nvml_library("/nonexistent/libnvml-cpp-test.so");
  im::Server s(o);
  std::string om = get(s.port(), kOmAccept);
  CHECK_CONTAINS(om, "HTTP/1.1 200");
  CHECK_CONTAINS(om, "Content-Type: application/openmetrics-text; version=1.0.0");
  CHECK_CONTAINS(om, "# EOF\n");
  std::string text = get(s.port());
  CHECK_CONTAINS(text, "Content-Type: text/plain; version=0.0.4");
  CHECK_CONTAINS(text, "node_filesystem_size_bytes{");  // host on, disk path "/"
  CHECK_CONTAINS(text, "mountpoint=\"/\"");
  CHECK_NOT_CONTAINS(text, "\nprocess_");  // process off
  // collector("cpu", false); the host group's nv_cpu_core_utilization may be there (host on)
  CHECK_NOT_CONTAINS(text, "\nnv_cpu_utilization");
  CHECK_NOT_CONTAINS(text, "\nnv_cpu_memory_");

  // The same options with OpenMetrics off: 0.0.4 whatever the client asks.
  im::ServerOptions off;
  off.address("127.0.0.1").port(0).gpu_metrics(false).openmetrics(false);
  im::Server s2(off);
  CHECK_CONTAINS(get(s2.port(), kOmAccept), "Content-Type: text/plain; version=0.0.4");
}

void test_nvml_library_and_vendor() {
  im::set_log_callback(on_log);
  {
    im::ServerOptions o;
    o.address("127.0.0.1").port(0).nvml_library("/nonexistent/libnvml-cpp-test.so");
    im::Server s(o);
  }
  CHECK_CONTAINS(logged(), "/nonexistent/libnvml-cpp-test.so");
  {
    std::lock_guard<std::mutex> g(log_mu);
    log_text.clear();
  }
  {
    im::ServerOptions o;
    o.address("127.0.0.1").port(0).nvml_library("/nonexistent/libnvml-cpp-test.so").gpu_vendor("nvidia", false);
    im::Server s(o);
  }
  CHECK_NOT_CONTAINS(logged(), "NVML");  // NVIDIA off: NVML is not even loaded
  im::set_log_callback(nullptr);
}

void test_web_config(const std::string& dir) {
  // A good file: its response header is served.
  std::string good = dir + "/im-cpp-web-config-" + std::to_string(getpid()) + ".yml";
  {
    std::ofstream f(good);
    f << "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n";
  }
  im::ServerOptions o;
  o.address("127.0.0.1").port(0).gpu_metrics(false).web_config(good);
  {
    im::Server s(o);
    CHECK_CONTAINS(get(s.port()), "nosniff");
  }
  std::remove(good.c_str());
  // The file is gone now: ServerNew fails, naming it (throwing and Error& forms).
  expect_invalid("missing web config", good, [&] { im::Server s(o); });
  im::Error err;
  im::Server none = im::Server::create(o, err);
  CHECK(!none.valid());
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK_CONTAINS(err.message(), good);
  expect_invalid("empty web config path", "", [&] { o.web_config(""); });
}

void test_bad_input() {
  im::ServerOptions o;
  expect_invalid("max_connections(0)", "max", [&] { o.max_connections(0); });
  expect_invalid("max_connections(65537)", "65536", [&] { o.max_connections(65537); });
  expect_invalid("collector bogus", "bogus", [&] { o.collector("bogus", true); });
  expect_invalid("gpu_vendor bogus", "nvidia", [&] { o.gpu_vendor("bogus", true); });
  expect_invalid("relative disk path", "", [&] { o.disk_paths("models"); });
  expect_invalid("comma in a disk path", "comma", [&] { o.disk_paths(std::vector<std::string>{"/a,b"}); });
  expect_invalid("empty nvml path", "", [&] { o.nvml_library(""); });

  // The Error& forms: false and the error on bad input, true and ok on good input.
  im::Error err;
  CHECK(!o.max_connections(0, err));
  CHECK(err.code() == im::ErrorCode::InvalidArg);
  CHECK(o.max_connections(65536, err) && err.ok());
  CHECK(!o.collector("bogus", true, err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(o.collector("host", true, err) && err.ok());
  CHECK(!o.gpu_vendor("voodoo", false, err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(o.gpu_vendor("intel", false, err) && err.ok());
  CHECK(!o.disk_paths("relative", err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(o.disk_paths("/,/tmp", err) && err.ok());
  CHECK(!o.disk_paths(std::vector<std::string>{"/", "/x,y"}, err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(o.disk_paths(std::vector<std::string>{"/", "/tmp"}, err) && err.ok());
  CHECK(!o.web_config("", err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(o.web_config("/some/file.yml", err) && err.ok());
  CHECK(o.openmetrics(true, err) && err.ok());
  CHECK(o.process_metrics(false, err) && o.container_metrics(false, err) && o.host_metrics(true, err) && err.ok());
  CHECK(!o.nvml_library("", err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(o.nvml_library("/opt/libnvidia-ml.so.1", err) && err.ok());

  // An empty (moved-from) options object: the library's NULL check, never a crash.
  im::ServerOptions moved(std::move(o));
  CHECK(!o.openmetrics(true, err) && err.code() == im::ErrorCode::InvalidArg);
  CHECK(!o.max_connections(5, err) && err.code() == im::ErrorCode::InvalidArg);
  expect_invalid("setter on moved-from options", "", [&] { o.host_metrics(true); });
}

}  // namespace

int main() {
  // Operator variables would win over what the setters under test say.
  for (const char* v : {"INFERMETRICS_NVML_LIBRARY", "INFERMETRICS_OPENMETRICS", "INFERMETRICS_WEB_CONFIG",
                        "INFERMETRICS_MAX_CONNECTIONS", "INFERMETRICS_COLLECTORS", "INFERMETRICS_HOST_METRICS",
                        "INFERMETRICS_PROCESS_METRICS", "INFERMETRICS_CPU_METRICS", "INFERMETRICS_DISK_PATHS",
                        "INFERMETRICS_GPU_VENDORS", "INFERMETRICS_PORT", "INFERMETRICS_ADDRESS"})
    unsetenv(v);
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  auto run = [](const char* name, auto fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      check::fail(__FILE__, __LINE__, std::string(name) + ": unexpected exception " + e.what());
    }
  };
  run("throwing setters", test_throwing_setters_reach_the_server);
  run("nvml library and vendor", test_nvml_library_and_vendor);
  run("web config", [&] { test_web_config(dir); });
  run("bad input", test_bad_input);
  if (check::failures != 0) {
    std::fprintf(stderr, "test_server_options: %d check(s) failed\n", check::failures);
    return 1;
  }
  std::printf("test_server_options: all checks passed\n");
  return 0;
}

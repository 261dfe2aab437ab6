// An inference backend instrumented with infermetrics, the way a Triton backend author would:
// the model state owns the metric families, each model instance owns its labelled series and
// records on the request path, and the host process runs the /metrics server.
//
//   backend [--address A] [--port N] [--requests N] [--serve-ms N]
//     --address   metrics address (default: the library's, 0.0.0.0 or INFERMETRICS_ADDRESS)
//     --port      metrics port (default 0: any free port; printed)
//     --requests  synthetic requests to execute (default 200)
//     --serve-ms  keep serving this long after the requests, for `curl .../metrics` (default 0)
//
// It exits non-zero if the recorded values do not add up (it doubles as a CTest test).
#include <infermetrics.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace im = infermetrics;

namespace {

struct InferenceRequest {
  std::vector<float> input;
};

// What a backend's ModelState holds: one family per metric, created when the model loads.
// Families are process-wide, so two models (or two loads of one) share them.
class ModelState {
 public:
  ModelState(std::string name, int version)
      : name_(std::move(name)),
        version_(std::to_string(version)),
        requests_("backend_inference_requests_total", "Inference requests handled, by outcome"),
        inferences_("backend_inference_count", "Inferences performed (batch items)"),
        latency_("backend_request_duration_ms", "Request duration in milliseconds"),
        pending_("backend_pending_requests", "Requests queued or executing") {}

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const im::CounterFamily& requests() const { return requests_; }
  const im::CounterFamily& inferences() const { return inferences_; }
  const im::HistogramFamily& latency() const { return latency_; }
  const im::GaugeFamily& pending() const { return pending_; }

 private:
  std::string name_, version_;
  // Typed families: the series they give out have only their kind's operations, so recording
  // into the wrong one (latency_.Increment()) is a compile error, not a run-time one.
  im::CounterFamily requests_, inferences_;
  im::HistogramFamily latency_;
  im::GaugeFamily pending_;
};

// What a backend's ModelInstanceState holds: the series for this model/version/instance,
// created once at load (may throw: a bad name is a bug worth failing the load for), then
// recorded on the request path with the non-throwing overloads (no exceptions there).
class ModelInstanceState {
 public:
  ModelInstanceState(const ModelState& model, const std::string& instance)
      : success_(model.requests().metric(labels(model, instance, "success"))),
        failure_(model.requests().metric(labels(model, instance, "failure"))),
        inferences_(model.inferences().metric(labels(model, instance))),
        latency_(model.latency().metric(labels(model, instance), {0.1, 0.5, 1, 5, 10, 50})),
        pending_(model.pending().metric(labels(model, instance))) {}

  // Executes a batch, the shape of TRITONBACKEND_ModelInstanceExecute.
  void Execute(const std::vector<InferenceRequest>& batch) {
    Record(pending_.Increment(static_cast<double>(batch.size()), err_));
    for (const InferenceRequest& request : batch) {
      auto start = std::chrono::steady_clock::now();
      bool ok = Infer(request);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      Record((ok ? success_ : failure_).Increment(1, err_));
      if (ok) Record(inferences_.Increment(1, err_));
      Record(latency_.Observe(ms, err_));
      Record(pending_.Decrement(1, err_));
    }
  }

  int recording_errors() const { return recording_errors_; }
  double successes() const { return success_.Value(); }
  double failures() const { return failure_.Value(); }

 private:
  static im::Labels labels(const ModelState& m, const std::string& instance, const char* outcome = nullptr) {
    std::vector<std::pair<std::string, std::string>> l{
        {"model", m.name()}, {"version", m.version()}, {"instance", instance}};
    if (outcome != nullptr) l.emplace_back("outcome", outcome);
    return l;
  }
  // Stand-in for the model: rejects empty or non-finite input, else does a little arithmetic.
  static bool Infer(const InferenceRequest& request) {
    if (request.input.empty()) return false;
    double acc = 0;
    for (int round = 0; round < 2000; ++round) {
      for (float v : request.input) acc += std::sqrt(std::abs(static_cast<double>(v)) + round);
    }
    return std::isfinite(acc);
  }

  // Recording errors are not expected; they are logged and counted, never thrown.
  void Record(bool ok) {
    if (ok) return;
    ++recording_errors_;
    std::fprintf(stderr, "metrics: %s\n", err_.message().c_str());
  }

  // RAII handles owned by the instance (TypedFamily::metric): the series live as long as it does.
  im::Counter success_, failure_, inferences_;
  im::Histogram latency_;
  im::Gauge pending_;
  im::Error err_;
  int recording_errors_ = 0;
};

const char* arg(int argc, char** argv, const char* name) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return nullptr;
}
long arg(int argc, char** argv, const char* name, long fallback) {
  const char* v = arg(argc, argv, name);
  return v != nullptr ? std::strtol(v, nullptr, 10) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const char* address = arg(argc, argv, "--address");
  const long port = arg(argc, argv, "--port", 0);
  const long requests = arg(argc, argv, "--requests", 200);
  const long serve_ms = arg(argc, argv, "--serve-ms", 0);
  if (port < 0 || port > 65535 || requests < 1 || serve_ms < 0) {
    std::fprintf(stderr, "usage: %s [--address A] [--port N] [--requests N>0] [--serve-ms N]\n", argv[0]);
    return 2;
  }

  try {
    // The host process: one metrics server, like tritonserver's port 8002.
    im::ServerOptions options;
    options.port(static_cast<std::uint16_t>(port));
    if (address != nullptr) options.address(address);
    im::Server server(options);
    std::printf("metrics: http://%s:%u/metrics\n", address != nullptr ? address : "127.0.0.1",
                unsigned(server.port()));

    auto model = std::make_unique<ModelState>("resnet50", 1);
    std::vector<std::unique_ptr<ModelInstanceState>> instances;
    instances.push_back(std::make_unique<ModelInstanceState>(*model, "resnet50_0"));
    instances.push_back(std::make_unique<ModelInstanceState>(*model, "resnet50_1"));
    // The backend reports its pinned staging pool (256 MiB, 64 MiB in use).
    im::pinned_memory_pool_report(256u << 20, 64u << 20);

    // Synthetic traffic: batches of up to 4 requests, every 10th request is malformed.
    long sent = 0, bad = 0;
    for (int b = 0; sent < requests; ++b) {
      std::vector<InferenceRequest> batch;
      for (int i = 0; i < 4 && sent < requests; ++i, ++sent) {
        bool malformed = sent % 10 == 9;
        bad += malformed;
        batch.push_back(InferenceRequest{malformed ? std::vector<float>{} : std::vector<float>(64, 0.5f)});
      }
      instances[b % instances.size()]->Execute(batch);
    }

    // Unload order of a real server is not under the backend's control: dropping the model
    // state (and its families) first is fine, the instances' series stay valid.
    model.reset();
    double ok = 0, failed = 0;
    int recording_errors = 0;
    for (const auto& instance : instances) {
      ok += instance->successes();
      failed += instance->failures();
      recording_errors += instance->recording_errors();
    }

    std::string text(server.snapshot().text());
    std::fputs(text.c_str(), stdout);
    std::printf("requests: %ld sent, %.0f succeeded, %.0f failed\n", sent, ok, failed);
    if (serve_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(serve_ms));

    bool consistent = recording_errors == 0 && ok == static_cast<double>(sent - bad) && failed == static_cast<double>(bad) &&
                      text.find("# TYPE backend_request_duration_ms histogram") != std::string::npos &&
                      text.find("backend_pending_requests{instance=\"resnet50_0\",model=\"resnet50\",version=\"1\"} 0") !=
                          std::string::npos;
    if (!consistent) {
      std::fprintf(stderr, "backend: recorded values do not add up (expected %ld ok, %ld failed)\n", sent - bad, bad);
      return 1;
    }
    instances.clear();  // series go away with the last instance
    return 0;
  } catch (const im::Error& e) {
    std::fprintf(stderr, "backend: infermetrics error %d (%s): %s\n", static_cast<int>(e.code()),
                 e.code_string().c_str(), e.message().c_str());
    return 1;
  }
}

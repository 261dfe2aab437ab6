// infermetrics.hpp: header-only C++17 wrapper over the infermetrics C API (infermetrics.h).
//
//   #include <infermetrics.hpp>
//   infermetrics::Family requests(infermetrics::Kind::Counter, "app_requests_total", "Requests");
//   infermetrics::Metric ok = requests.metric({{"model", "resnet"}, {"version", "1"}});
//   ok.increment(1);
//
// Ownership: every class is move-only and releases its C object in its destructor.
// A Metric keeps its family's C handle alive, so metrics and families may be destroyed in any
// order: the C family handle is deleted after the last Metric made through it.
//
// Errors: by default every failing call throws infermetrics::Error (code() + message()).
// Every call also has a non-throwing overload taking `Error& err` as its last argument; it never
// throws, sets `err` (err.ok() on success) and returns an empty object / 0 on failure. When the code
// is compiled without exceptions (-fno-exceptions, detected through __cpp_exceptions / __EXCEPTIONS),
// or with INFERMETRICS_NO_EXCEPTIONS defined, only the non-throwing overloads are declared.
#ifndef INFERMETRICS_HPP
#define INFERMETRICS_HPP

#include "infermetrics.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#if !defined(INFERMETRICS_NO_EXCEPTIONS) && !defined(__cpp_exceptions) && !defined(__EXCEPTIONS) && \
    !defined(_CPPUNWIND)
#define INFERMETRICS_NO_EXCEPTIONS 1
#endif

namespace infermetrics {

/// Error codes, one-to-one with INFERMETRICS_Error_Code.
enum class ErrorCode : int {
  Unknown = INFERMETRICS_ERROR_UNKNOWN,
  Internal = INFERMETRICS_ERROR_INTERNAL,
  NotFound = INFERMETRICS_ERROR_NOT_FOUND,
  InvalidArg = INFERMETRICS_ERROR_INVALID_ARG,
  Unavailable = INFERMETRICS_ERROR_UNAVAILABLE,
  Unsupported = INFERMETRICS_ERROR_UNSUPPORTED,
  AlreadyExists = INFERMETRICS_ERROR_ALREADY_EXISTS,
  Cancelled = INFERMETRICS_ERROR_CANCELLED,
};

/// Metric kinds, one-to-one with INFERMETRICS_MetricKind.
enum class Kind : int {
  Counter = INFERMETRICS_METRIC_KIND_COUNTER,
  Gauge = INFERMETRICS_METRIC_KIND_GAUGE,
  Histogram = INFERMETRICS_METRIC_KIND_HISTOGRAM,
  Summary = INFERMETRICS_METRIC_KIND_SUMMARY,  // see "Summaries and Triton's inference statistics" below
};

/// An error from the library: its code, the code's text ("Invalid argument", ...) and the message.
/// A default-constructed Error means "no error" (ok() is true). Thrown by the throwing API,
/// filled in by the `Error&` overloads.
class Error : public std::exception {
 public:
  Error() = default;
  Error(ErrorCode code, std::string message, std::string code_string = std::string())
      : failed_(true), code_(code), message_(std::move(message)), code_string_(std::move(code_string)) {}

  /// Takes ownership of a C error (NULL = success) and deletes it.
  static Error adopt(INFERMETRICS_Error* err) {
    if (err == nullptr) return Error();
    const char* msg = INFERMETRICS_ErrorMessage(err);
    const char* cs = INFERMETRICS_ErrorCodeString(err);
    Error e(static_cast<ErrorCode>(INFERMETRICS_ErrorCode(err)), msg ? msg : "", cs ? cs : "");
    INFERMETRICS_ErrorDelete(err);
    return e;
  }

  bool ok() const noexcept { return !failed_; }
  bool failed() const noexcept { return failed_; }
  /// Only meaningful when failed().
  ErrorCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  /// The library's text for the code, e.g. "Invalid argument" (empty for errors made in C++).
  const std::string& code_string() const noexcept { return code_string_; }
  const char* what() const noexcept override { return message_.c_str(); }
  void clear() noexcept {
    failed_ = false;
    code_ = ErrorCode::Unknown;
    message_.clear();
    code_string_.clear();
  }

 private:
  bool failed_ = false;
  ErrorCode code_ = ErrorCode::Unknown;
  std::string message_;
  std::string code_string_;
};

namespace detail {
/// Stores a C error into `out`; returns true on success (NULL error).
inline bool take(INFERMETRICS_Error* c_err, Error& out) {
  out = Error::adopt(c_err);
  return out.ok();
}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline void throw_if(const Error& err) {
  if (err.failed()) throw err;
}
#endif

/// Sole owner of one C object, released with its Delete function (its error, if any, is
/// dropped: a destructor has nowhere to report it). Move-only.
template <typename T, INFERMETRICS_Error* (*Delete)(T*)>
class Owned {
 public:
  Owned() noexcept = default;
  Owned(Owned&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() { reset(); }

  T* get() const noexcept { return p_; }
  void adopt(T* p) noexcept {
    reset();
    p_ = p;
  }
  void reset() noexcept {
    if (p_ != nullptr) INFERMETRICS_ErrorDelete(Delete(p_));
    p_ = nullptr;
  }

 private:
  T* p_ = nullptr;
};
}  // namespace detail

/// Label set: `{{"model", "resnet"}, {"version", "1"}}`, a vector of pairs or a (unordered_)map.
/// Order does not matter: the library sorts labels by name.
class Labels {
 public:
  using Pair = std::pair<std::string, std::string>;
  Labels() = default;
  Labels(std::initializer_list<Pair> pairs) : pairs_(pairs) {}
  Labels(std::vector<Pair> pairs) : pairs_(std::move(pairs)) {}
  Labels(const std::map<std::string, std::string>& m) : pairs_(m.begin(), m.end()) {}
  Labels(const std::unordered_map<std::string, std::string>& m) : pairs_(m.begin(), m.end()) {}
  const std::vector<Pair>& pairs() const noexcept { return pairs_; }
  std::size_t size() const noexcept { return pairs_.size(); }
  bool empty() const noexcept { return pairs_.empty(); }

 private:
  std::vector<Pair> pairs_;
};

namespace detail {
/// The C parameter objects for a label set, deleted on scope exit.
class CLabels {
 public:
  CLabels() = default;
  CLabels(const CLabels&) = delete;
  CLabels& operator=(const CLabels&) = delete;
  ~CLabels() {
    for (const INFERMETRICS_Parameter* p : ptrs_) {
      INFERMETRICS_ParameterDelete(const_cast<INFERMETRICS_Parameter*>(p));
    }
  }
  bool build(const Labels& labels, Error& err) {
    ptrs_.reserve(labels.size());
    for (const auto& kv : labels.pairs()) {
      INFERMETRICS_Parameter* p =
          INFERMETRICS_ParameterNew(kv.first.c_str(), INFERMETRICS_PARAMETER_STRING, kv.second.c_str());
      if (p == nullptr) {
        err = Error(ErrorCode::Internal, "could not create label parameter '" + kv.first + "'");
        return false;
      }
      ptrs_.push_back(p);
    }
    return true;
  }
  const INFERMETRICS_Parameter** data() noexcept { return ptrs_.empty() ? nullptr : ptrs_.data(); }
  std::uint64_t count() const noexcept { return static_cast<std::uint64_t>(ptrs_.size()); }

 private:
  std::vector<const INFERMETRICS_Parameter*> ptrs_;
};

/// Owns one C family handle; shared by the Family object and every Metric made through it,
/// so the C handle is deleted only after its last dependent metric.
struct FamilyHandle {
  INFERMETRICS_MetricFamily* ptr = nullptr;
  explicit FamilyHandle(INFERMETRICS_MetricFamily* p) noexcept : ptr(p) {}
  FamilyHandle(const FamilyHandle&) = delete;
  FamilyHandle& operator=(const FamilyHandle&) = delete;
  ~FamilyHandle() {
    if (ptr != nullptr) INFERMETRICS_ErrorDelete(INFERMETRICS_MetricFamilyDelete(ptr));
  }
};
}  // namespace detail

/// Histogram bucket boundaries (INFERMETRICS_MetricArgs set to histogram). Strictly increasing,
/// finite; the +Inf bucket is implicit.
class HistogramArgs {
 public:
  HistogramArgs() = default;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  explicit HistogramArgs(const std::vector<double>& buckets) {
    Error err;
    init(buckets, err);
    detail::throw_if(err);
  }
  HistogramArgs(std::initializer_list<double> buckets) : HistogramArgs(std::vector<double>(buckets)) {}
#endif
  /// Non-throwing: returns an empty (!valid()) object and sets err on failure.
  static HistogramArgs create(const std::vector<double>& buckets, Error& err) {
    HistogramArgs a;
    a.init(buckets, err);
    return a;
  }


  bool valid() const noexcept { return args_.get() != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  INFERMETRICS_MetricArgs* get() const noexcept { return args_.get(); }
  void reset() noexcept { args_.reset(); }

 private:
  void init(const std::vector<double>& buckets, Error& err) {
    INFERMETRICS_MetricArgs* a = nullptr;
    if (!detail::take(INFERMETRICS_MetricArgsNew(&a), err)) return;
    if (!detail::take(INFERMETRICS_MetricArgsSetHistogram(a, buckets.empty() ? nullptr : buckets.data(),
                                                          static_cast<std::uint64_t>(buckets.size())),
                      err)) {
      INFERMETRICS_ErrorDelete(INFERMETRICS_MetricArgsDelete(a));
      return;
    }
    args_.adopt(a);
  }
  detail::Owned<INFERMETRICS_MetricArgs, INFERMETRICS_MetricArgsDelete> args_;
};

/// One labelled series handle. Recording calls go straight to the C API (thread-safe).
/// Deleting the last handle of a series removes it from the output.
class Metric {
 public:
  Metric() = default;
  Metric(Metric&& o) noexcept : family_(std::move(o.family_)), metric_(std::exchange(o.metric_, nullptr)) {}
  Metric& operator=(Metric&& o) noexcept {
    if (this != &o) {
      reset();
      family_ = std::move(o.family_);
      metric_ = std::exchange(o.metric_, nullptr);
    }
    return *this;
  }
  Metric(const Metric&) = delete;
  Metric& operator=(const Metric&) = delete;
  ~Metric() { reset(); }

  bool valid() const noexcept { return metric_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  INFERMETRICS_Metric* get() const noexcept { return metric_; }

  /// Deletes the C metric, then drops this handle's share of the family.
  void reset() noexcept {
    if (metric_ != nullptr) INFERMETRICS_ErrorDelete(INFERMETRICS_MetricDelete(metric_));
    metric_ = nullptr;
    family_.reset();
  }
  /// Like reset() but reports the library's error, if any.
  bool reset(Error& err) noexcept {
    INFERMETRICS_Metric* m = std::exchange(metric_, nullptr);
    err.clear();
    bool ok = m == nullptr || detail::take(INFERMETRICS_MetricDelete(m), err);
    family_.reset();
    return ok;
  }

  // Non-throwing API: returns true on success, sets err.
  bool increment(double v, Error& err) noexcept { return detail::take(INFERMETRICS_MetricIncrement(metric_, v), err); }
  bool set(double v, Error& err) noexcept { return detail::take(INFERMETRICS_MetricSet(metric_, v), err); }
  bool observe(double v, Error& err) noexcept { return detail::take(INFERMETRICS_MetricObserve(metric_, v), err); }
  /// The current value (0 on error).
  double value(Error& err) const noexcept {
    double v = 0;
    return detail::take(INFERMETRICS_MetricValue(metric_, &v), err) ? v : 0.0;
  }
  /// The kind (Counter on error).
  Kind kind(Error& err) const noexcept {
    INFERMETRICS_MetricKind k = INFERMETRICS_METRIC_KIND_COUNTER;
    detail::take(INFERMETRICS_GetMetricKind(metric_, &k), err);
    return static_cast<Kind>(k);
  }

#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  void increment(double v = 1.0) { call(INFERMETRICS_MetricIncrement(metric_, v)); }
  void set(double v) { call(INFERMETRICS_MetricSet(metric_, v)); }
  void observe(double v) { call(INFERMETRICS_MetricObserve(metric_, v)); }
  double value() const {
    double v = 0;
    call(INFERMETRICS_MetricValue(metric_, &v));
    return v;
  }
  Kind kind() const {
    INFERMETRICS_MetricKind k = INFERMETRICS_METRIC_KIND_COUNTER;
    call(INFERMETRICS_GetMetricKind(metric_, &k));
    return static_cast<Kind>(k);
  }
#endif

 private:
  friend class Family;
  Metric(std::shared_ptr<detail::FamilyHandle> family, INFERMETRICS_Metric* metric) noexcept
      : family_(std::move(family)), metric_(metric) {}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  static void call(INFERMETRICS_Error* c_err) { detail::throw_if(Error::adopt(c_err)); }
#endif
  // Declared first so it is destroyed last; reset() deletes metric_ before releasing it anyway.
  std::shared_ptr<detail::FamilyHandle> family_;
  INFERMETRICS_Metric* metric_ = nullptr;
};

/// A metric family handle (name, kind, description). Families are process-wide: the same name and
/// kind gives the same underlying family. Destroying a Family while its Metrics live is fine: the
/// C handle is deleted after the last of them.
class Family {
 public:
  Family() = default;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  Family(Kind kind, const std::string& name, const std::string& description) {
    Error err;
    init(kind, name, description, err);
    detail::throw_if(err);
  }
#endif
  /// Non-throwing: returns an empty (!valid()) Family and sets err on failure.
  static Family create(Kind kind, const std::string& name, const std::string& description, Error& err) {
    Family f;
    f.init(kind, name, description, err);
    return f;
  }

  Family(Family&&) noexcept = default;
  Family& operator=(Family&&) noexcept = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;
  ~Family() = default;

  bool valid() const noexcept { return handle_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  INFERMETRICS_MetricFamily* get() const noexcept { return handle_ ? handle_->ptr : nullptr; }
  const std::string& name() const noexcept { return name_; }
  /// Drops this object's share; the C family is deleted once no Metric of it remains.
  void reset() noexcept {
    handle_.reset();
    name_.clear();
  }

  // Non-throwing API.
  Metric metric(const Labels& labels, Error& err) const { return make(labels, nullptr, err); }
  Metric metric(const Labels& labels, const HistogramArgs& args, Error& err) const {
    return make(labels, &args, err);
  }
  /// Histogram series with the given buckets.
  Metric histogram(const Labels& labels, const std::vector<double>& buckets, Error& err) const {
    HistogramArgs args = HistogramArgs::create(buckets, err);
    if (err.failed()) return Metric();
    return make(labels, &args, err);
  }
  Kind kind(Error& err) const noexcept {
    INFERMETRICS_MetricKind k = INFERMETRICS_METRIC_KIND_COUNTER;
    detail::take(INFERMETRICS_GetMetricFamilyKind(get(), &k), err);
    return static_cast<Kind>(k);
  }

#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  Metric metric(const Labels& labels = Labels()) const {
    Error err;
    Metric m = make(labels, nullptr, err);
    detail::throw_if(err);
    return m;
  }
  Metric metric(const Labels& labels, const HistogramArgs& args) const {
    Error err;
    Metric m = make(labels, &args, err);
    detail::throw_if(err);
    return m;
  }
  Metric histogram(const Labels& labels, const std::vector<double>& buckets) const {
    HistogramArgs args(buckets);
    return metric(labels, args);
  }
  Kind kind() const {
    Error err;
    Kind k = kind(err);
    detail::throw_if(err);
    return k;
  }
#endif

 private:
  void init(Kind kind, const std::string& name, const std::string& description, Error& err) {
    INFERMETRICS_MetricFamily* f = nullptr;
    if (!detail::take(INFERMETRICS_MetricFamilyNew(&f, static_cast<INFERMETRICS_MetricKind>(kind), name.c_str(),
                                                   description.c_str()),
                      err)) {
      return;
    }
    handle_ = std::make_shared<detail::FamilyHandle>(f);
    name_ = name;
  }
  Metric make(const Labels& labels, const HistogramArgs* args, Error& err) const {
    err.clear();
    detail::CLabels c;
    if (!c.build(labels, err)) return Metric();
    INFERMETRICS_Metric* m = nullptr;
    INFERMETRICS_Error* e =
        args == nullptr ? INFERMETRICS_MetricNew(&m, get(), c.data(), c.count())
                        : INFERMETRICS_MetricNewWithArgs(&m, get(), c.data(), c.count(), args->get());
    if (!detail::take(e, err)) return Metric();
    return Metric(handle_, m);
  }
  std::shared_ptr<detail::FamilyHandle> handle_;
  std::string name_;
};

/// A text snapshot of every family (plus the server's collector series when taken from a Server).
class Snapshot {
 public:
  Snapshot() = default;
  Snapshot(Snapshot&& o) noexcept
      : metrics_(std::exchange(o.metrics_, nullptr)), base_(std::exchange(o.base_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  Snapshot& operator=(Snapshot&& o) noexcept {
    if (this != &o) {
      reset();
      metrics_ = std::exchange(o.metrics_, nullptr);
      base_ = std::exchange(o.base_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  ~Snapshot() { reset(); }

  /// Non-throwing: `server` may be NULL (registry only).
  static Snapshot take(INFERMETRICS_Server* server, Error& err) {
    Snapshot s;
    INFERMETRICS_Metrics* m = nullptr;
    if (!detail::take(INFERMETRICS_ServerMetrics(server, &m), err)) return s;
    const char* base = nullptr;
    std::size_t size = 0;
    if (!detail::take(INFERMETRICS_MetricsFormatted(m, INFERMETRICS_METRIC_PROMETHEUS, &base, &size), err)) {
      INFERMETRICS_ErrorDelete(INFERMETRICS_MetricsDelete(m));
      return s;
    }
    s.metrics_ = m;
    s.base_ = base;
    s.size_ = size;
    return s;
  }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  static Snapshot take(INFERMETRICS_Server* server = nullptr) {
    Error err;
    Snapshot s = take(server, err);
    detail::throw_if(err);
    return s;
  }
#endif

  bool valid() const noexcept { return metrics_ != nullptr; }
  /// Prometheus text format 0.0.4; valid while this Snapshot lives.
  std::string_view text() const noexcept { return std::string_view(base_ ? base_ : "", size_); }
  void reset() noexcept {
    if (metrics_ != nullptr) INFERMETRICS_ErrorDelete(INFERMETRICS_MetricsDelete(metrics_));
    metrics_ = nullptr;
    base_ = nullptr;
    size_ = 0;
  }

 private:
  INFERMETRICS_Metrics* metrics_ = nullptr;
  const char* base_ = nullptr;
  std::size_t size_ = 0;
};

/// The registry's text (Prometheus format), copied.
inline std::string text(Error& err) { return std::string(Snapshot::take(nullptr, err).text()); }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline std::string text() { return std::string(Snapshot::take(nullptr).text()); }
#endif

/// Options of the metrics HTTP server. Defaults (and the INFERMETRICS_ADDRESS / _PORT /
/// _INTERVAL_MS environment overrides) are applied when the options are created.
class ServerOptions {
 public:
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  ServerOptions() {
    Error err;
    init(err);
    detail::throw_if(err);
  }
#endif
  /// Non-throwing: returns an invalid object and sets err on failure.
  static ServerOptions create(Error& err) {
    ServerOptions o(Empty{});
    o.init(err);
    return o;
  }

  bool valid() const noexcept { return opts_.get() != nullptr; }
  INFERMETRICS_ServerOptions* get() const noexcept { return opts_.get(); }
  void reset() noexcept { opts_.reset(); }

  // Non-throwing setters: return true on success.
  bool address(const std::string& a, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetAddress(opts_.get(), a.c_str()), err);
  }
  bool port(std::uint16_t p, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetPort(opts_.get(), p), err);
  }
  bool metrics_interval_ms(std::uint64_t ms, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetMetricsInterval(opts_.get(), ms), err);
  }
  bool gpu_metrics(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetGpuMetrics(opts_.get(), on), err);
  }
  bool cpu_metrics(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetCpuMetrics(opts_.get(), on), err);
  }
  bool pinned_memory_metrics(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(opts_.get(), on), err);
  }
  /// Path of libnvidia-ml.so.1 for drivers in unusual places.
  bool nvml_library(const std::string& path, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetNvmlLibrary(opts_.get(), path.c_str()), err);
  }

#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  // Throwing, chainable setters: ServerOptions().address("127.0.0.1").port(0)
  ServerOptions& address(const std::string& a) { return chain(INFERMETRICS_ServerOptionsSetAddress(opts_.get(), a.c_str())); }
  ServerOptions& port(std::uint16_t p) { return chain(INFERMETRICS_ServerOptionsSetPort(opts_.get(), p)); }
  ServerOptions& metrics_interval_ms(std::uint64_t ms) {
    return chain(INFERMETRICS_ServerOptionsSetMetricsInterval(opts_.get(), ms));
  }
  ServerOptions& gpu_metrics(bool on) { return chain(INFERMETRICS_ServerOptionsSetGpuMetrics(opts_.get(), on)); }
  ServerOptions& cpu_metrics(bool on) { return chain(INFERMETRICS_ServerOptionsSetCpuMetrics(opts_.get(), on)); }
  ServerOptions& pinned_memory_metrics(bool on) {
    return chain(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(opts_.get(), on));
  }
  ServerOptions& nvml_library(const std::string& path) {
    return chain(INFERMETRICS_ServerOptionsSetNvmlLibrary(opts_.get(), path.c_str()));
  }
#endif

 private:
  struct Empty {};
  explicit ServerOptions(Empty) noexcept {}
  void init(Error& err) {
    INFERMETRICS_ServerOptions* o = nullptr;
    if (detail::take(INFERMETRICS_ServerOptionsNew(&o), err)) opts_.adopt(o);
  }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  ServerOptions& chain(INFERMETRICS_Error* c_err) {
    detail::throw_if(Error::adopt(c_err));
    return *this;
  }
#endif
  detail::Owned<INFERMETRICS_ServerOptions, INFERMETRICS_ServerOptionsDelete> opts_;
};

/// The embedded /metrics HTTP server (bound when constructed; stopped and joined when destroyed).
class Server {
 public:
  Server() = default;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  explicit Server(const ServerOptions& options) {
    Error err;
    init(options, err);
    detail::throw_if(err);
  }
#endif
  /// Non-throwing: returns an invalid (!valid()) Server and sets err on failure.
  static Server create(const ServerOptions& options, Error& err) {
    Server s;
    s.init(options, err);
    return s;
  }

  bool valid() const noexcept { return server_.get() != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  INFERMETRICS_Server* get() const noexcept { return server_.get(); }
  /// Stops the server and joins its thread.
  void reset() noexcept { server_.reset(); }

  /// The bound port (0 on error).
  std::uint16_t port(Error& err) const noexcept {
    std::uint16_t p = 0;
    return detail::take(INFERMETRICS_ServerPort(server_.get(), &p), err) ? p : 0;
  }
  /// Registry plus this server's collector series.
  Snapshot snapshot(Error& err) const { return Snapshot::take(server_.get(), err); }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  std::uint16_t port() const {
    Error err;
    std::uint16_t p = port(err);
    detail::throw_if(err);
    return p;
  }
  Snapshot snapshot() const { return Snapshot::take(server_.get()); }
#endif

 private:
  void init(const ServerOptions& options, Error& err) {
    INFERMETRICS_Server* s = nullptr;
    if (detail::take(INFERMETRICS_ServerNew(&s, options.get()), err)) server_.adopt(s);
  }
  detail::Owned<INFERMETRICS_Server, INFERMETRICS_ServerDelete> server_;
};

/// Reports the pinned memory pool's size for the nv_pinned_memory_pool_* gauges.
inline bool pinned_memory_pool_report(std::uint64_t total_bytes, std::uint64_t used_bytes, Error& err) noexcept {
  return detail::take(INFERMETRICS_PinnedMemoryPoolReport(total_bytes, used_bytes), err);
}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline void pinned_memory_pool_report(std::uint64_t total_bytes, std::uint64_t used_bytes) {
  detail::throw_if(Error::adopt(INFERMETRICS_PinnedMemoryPoolReport(total_bytes, used_bytes)));
}
#endif

/// Log levels, one-to-one with INFERMETRICS_LogLevel.
enum class LogLevel : int { Error = INFERMETRICS_LOG_ERROR, Warn = INFERMETRICS_LOG_WARN, Info = INFERMETRICS_LOG_INFO };

/// Routes the library's log lines to `fn(level, message, userp)` (called from any thread);
/// nullptr restores the default (stderr, prefixed "infermetrics:").
inline bool set_log_callback(INFERMETRICS_LogFn fn, void* userp, Error& err) noexcept {
  return detail::take(INFERMETRICS_SetLogCallback(fn, userp), err);
}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline void set_log_callback(INFERMETRICS_LogFn fn, void* userp = nullptr) {
  detail::throw_if(Error::adopt(INFERMETRICS_SetLogCallback(fn, userp)));
}
#endif

/// The C API version (major, minor).
inline std::pair<std::uint32_t, std::uint32_t> api_version(Error& err) noexcept {
  std::uint32_t major = 0, minor = 0;
  detail::take(INFERMETRICS_ApiVersion(&major, &minor), err);
  return {major, minor};
}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline std::pair<std::uint32_t, std::uint32_t> api_version() {
  Error err;
  auto v = api_version(err);
  detail::throw_if(err);
  return v;
}
#endif

}  // namespace infermetrics

// =============================================================================================
// Summaries and Triton's inference statistics (issue 13): SummaryArgs / summary(),
// ModelReporter, set_metrics_config(). Kept apart from the classes above.
// =============================================================================================
#include <chrono>

namespace infermetrics {

/// Summary quantiles, each with its allowed rank error, over a sliding window
/// (INFERMETRICS_MetricArgsSetSummary; 0 for max_age_ms / age_buckets takes 60000 ms / 5).
class SummaryArgs {
 public:
  using Quantiles = std::vector<std::pair<double, double>>;  // (quantile, error)
  SummaryArgs() = default;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  explicit SummaryArgs(const Quantiles& quantiles, std::uint64_t max_age_ms = 0, std::uint64_t age_buckets = 0) {
    Error err;
    init(quantiles, max_age_ms, age_buckets, err);
    detail::throw_if(err);
  }
#endif
  /// Non-throwing: returns an empty (!valid()) object and sets err on failure.
  static SummaryArgs create(const Quantiles& quantiles, std::uint64_t max_age_ms, std::uint64_t age_buckets,
                            Error& err) {
    SummaryArgs a;
    a.init(quantiles, max_age_ms, age_buckets, err);
    return a;
  }
  bool valid() const noexcept { return args_.valid(); }
  /// The C args, usable wherever Family::metric takes args.
  const HistogramArgs& args() const noexcept { return args_; }

 private:
  void init(const Quantiles& quantiles, std::uint64_t max_age_ms, std::uint64_t age_buckets, Error& err) {
    // an INFERMETRICS_MetricArgs of no particular kind yet, then set to summary
    HistogramArgs a = HistogramArgs::create({}, err);
    if (err.failed()) return;
    std::vector<double> q, e;
    for (const auto& p : quantiles) {
      q.push_back(p.first);
      e.push_back(p.second);
    }
    if (!detail::take(INFERMETRICS_MetricArgsSetSummary(a.get(), q.empty() ? nullptr : q.data(),
                                                        e.empty() ? nullptr : e.data(),
                                                        static_cast<std::uint64_t>(q.size()), max_age_ms, age_buckets),
                      err))
      return;
    args_ = std::move(a);
  }
  HistogramArgs args_;
};

/// The series of a summary family with these labels: `family.metric(labels, args.args())`.
inline Metric summary(const Family& family, const Labels& labels, const SummaryArgs& args, Error& err) {
  return family.metric(labels, args.args(), err);
}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline Metric summary(const Family& family, const Labels& labels, const SummaryArgs& args) {
  return family.metric(labels, args.args());
}
#endif

/// Triton's `--metrics-config` for reporters created afterwards (INFERMETRICS_SetMetricsConfig),
/// e.g. "histogram_latencies=true;summary_latencies=true". INFERMETRICS_METRICS_CONFIG wins.
inline bool set_metrics_config(const std::string& config, Error& err) noexcept {
  return detail::take(INFERMETRICS_SetMetricsConfig(config.c_str()), err);
}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline void set_metrics_config(const std::string& config) {
  detail::throw_if(Error::adopt(INFERMETRICS_SetMetricsConfig(config.c_str())));
}
#endif

/// Nanoseconds on the monotonic clock the reporter's timestamps should come from.
inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

/// The timestamps of one request (ns, one monotonic clock, in this order).
struct RequestTimes {
  std::uint64_t request_start_ns = 0;
  std::uint64_t queue_start_ns = 0;
  std::uint64_t exec_start_ns = 0;
  std::uint64_t compute_start_ns = 0;
  std::uint64_t compute_end_ns = 0;
  std::uint64_t exec_end_ns = 0;
  std::uint64_t request_end_ns = 0;
};

/// Triton's per-model inference statistics (INFERMETRICS_ModelReporter): the nv_inference_*
/// series of a model version, fed with each request's timestamps. Move-only; thread-safe.
class ModelReporter {
 public:
  ModelReporter() = default;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  ModelReporter(const std::string& model, const std::string& version, const Labels& tags = Labels()) {
    Error err;
    init(model, version, tags, err);
    detail::throw_if(err);
  }
#endif
  /// Non-throwing: returns an invalid reporter and sets err on failure.
  static ModelReporter create(const std::string& model, const std::string& version, const Labels& tags,
                              Error& err) {
    ModelReporter r;
    r.init(model, version, tags, err);
    return r;
  }
  bool valid() const noexcept { return r_.get() != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  INFERMETRICS_ModelReporter* get() const noexcept { return r_.get(); }
  void reset() noexcept { r_.reset(); }

  // Non-throwing API: true on success.
  bool report_success(std::uint64_t batch_size, const RequestTimes& t, Error& err) noexcept {
    return detail::take(INFERMETRICS_ModelReporterReportRequest(r_.get(), true, nullptr, batch_size,
                                                               t.request_start_ns, t.queue_start_ns, t.exec_start_ns,
                                                               t.compute_start_ns, t.compute_end_ns, t.exec_end_ns,
                                                               t.request_end_ns),
                        err);
  }
  /// reason: nullptr (BACKEND), "REJECTED", "CANCELED", "BACKEND" or "OTHER".
  bool report_failure(const char* reason, std::uint64_t request_start_ns, std::uint64_t request_end_ns,
                      Error& err) noexcept {
    return detail::take(INFERMETRICS_ModelReporterReportRequest(r_.get(), false, reason, 1, request_start_ns, 0, 0, 0,
                                                               0, 0, request_end_ns),
                        err);
  }
  bool report_batch(std::uint64_t batch_size, std::uint64_t exec_start_ns, std::uint64_t compute_start_ns,
                    std::uint64_t compute_end_ns, std::uint64_t exec_end_ns, Error& err) noexcept {
    return detail::take(INFERMETRICS_ModelReporterReportBatch(r_.get(), batch_size, exec_start_ns, compute_start_ns,
                                                             compute_end_ns, exec_end_ns),
                        err);
  }
  bool report_cache_hit(std::uint64_t request_start_ns, std::uint64_t queue_start_ns, std::uint64_t request_end_ns,
                        std::uint64_t lookup_ns, Error& err) noexcept {
    return detail::take(
        INFERMETRICS_ModelReporterReportCacheHit(r_.get(), request_start_ns, queue_start_ns, request_end_ns, lookup_ns),
        err);
  }
  bool first_response(std::uint64_t request_start_ns, std::uint64_t first_response_ns, Error& err) noexcept {
    return detail::take(INFERMETRICS_ModelReporterFirstResponse(r_.get(), request_start_ns, first_response_ns), err);
  }
  bool pending_add(std::int64_t delta, Error& err) noexcept {
    return detail::take(INFERMETRICS_ModelReporterPendingAdd(r_.get(), delta), err);
  }
  bool set_histogram_buckets(const std::string& family, const std::vector<double>& buckets, Error& err) noexcept {
    return detail::take(INFERMETRICS_ModelReporterSetHistogramBuckets(r_.get(), family.c_str(),
                                                                     buckets.empty() ? nullptr : buckets.data(),
                                                                     static_cast<std::uint64_t>(buckets.size())),
                        err);
  }

#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  void report_success(std::uint64_t batch_size, const RequestTimes& t) {
    Error err;
    report_success(batch_size, t, err);
    detail::throw_if(err);
  }
  void report_failure(const char* reason, std::uint64_t request_start_ns, std::uint64_t request_end_ns) {
    Error err;
    report_failure(reason, request_start_ns, request_end_ns, err);
    detail::throw_if(err);
  }
  void report_batch(std::uint64_t batch_size, std::uint64_t exec_start_ns, std::uint64_t compute_start_ns,
                    std::uint64_t compute_end_ns, std::uint64_t exec_end_ns) {
    Error err;
    report_batch(batch_size, exec_start_ns, compute_start_ns, compute_end_ns, exec_end_ns, err);
    detail::throw_if(err);
  }
  void report_cache_hit(std::uint64_t request_start_ns, std::uint64_t queue_start_ns, std::uint64_t request_end_ns,
                        std::uint64_t lookup_ns) {
    Error err;
    report_cache_hit(request_start_ns, queue_start_ns, request_end_ns, lookup_ns, err);
    detail::throw_if(err);
  }
  void first_response(std::uint64_t request_start_ns, std::uint64_t first_response_ns) {
    Error err;
    first_response(request_start_ns, first_response_ns, err);
    detail::throw_if(err);
  }
  void pending_add(std::int64_t delta) {
    Error err;
    pending_add(delta, err);
    detail::throw_if(err);
  }
  void set_histogram_buckets(const std::string& family, const std::vector<double>& buckets) {
    Error err;
    set_histogram_buckets(family, buckets, err);
    detail::throw_if(err);
  }
#endif

 private:
  void init(const std::string& model, const std::string& version, const Labels& tags, Error& err) {
    err.clear();
    detail::CLabels c;
    if (!c.build(tags, err)) return;
    INFERMETRICS_ModelReporter* r = nullptr;
    if (detail::take(INFERMETRICS_ModelReporterNew(&r, model.c_str(), version.c_str(), c.data(), c.count()), err))
      r_.adopt(r);
  }
  detail::Owned<INFERMETRICS_ModelReporter, INFERMETRICS_ModelReporterDelete> r_;
};

}  // namespace infermetrics

#endif  // INFERMETRICS_HPP

// infermetrics.hpp: header-only C++17 wrapper over the infermetrics C API (infermetrics.h).
//
//   #include <infermetrics.hpp>
//   infermetrics::CounterFamily requests("app_requests_total", "Requests");
//   requests.Add({{"model", "resnet"}}).Increment();           // the family keeps the series
//   infermetrics::Counter ok = requests.metric({{"model", "bert"}});  // a handle we own
//   ok.Increment();                                             // ok.Observe(1) does not compile
//
// Typed API: Counter, Gauge, Histogram handles (only their kind's operations), TypedFamily<T>
// (Add/Remove/Has keep series in the family, metric() gives RAII handles), Registry and the
// Build*() builders, Exposer; infermetrics::prometheus has prometheus-cpp's names for ports.
// Untyped API (kind chosen at run time): Family, Metric.
//
// Ownership: every class is move-only and releases its C object in its destructor. A handle keeps
// its family's C handle alive, so handles and families may be destroyed in any order: the C
// family handle is deleted after the last handle made through it. Recording calls are
// &-qualified: recording through a temporary handle (the last owner of its series) does not
// compile.
//
// Errors: by default every failing call throws infermetrics::Error (code() + message()).
// Every call also has a non-throwing overload taking `Error& err` as its last argument; it never
// throws, sets `err` (err.ok() on success) and returns an empty object / 0 on failure. When the code
// is compiled without exceptions (-fno-exceptions, detected through __cpp_exceptions / __EXCEPTIONS),
// or with INFERMETRICS_NO_EXCEPTIONS defined, only the non-throwing overloads are declared.
#ifndef INFERMETRICS_HPP
#define INFERMETRICS_HPP

#include "infermetrics.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
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

namespace detail {
/// One C series handle plus a share of its family's C handle (so families and series may be
/// destroyed in any order). Move-only; deleting the last handle of a series removes it from
/// the output. Base of Metric, Counter, Gauge and Histogram.
class Series {
 public:
  Series() = default;
  Series(Series&& o) noexcept : family_(std::move(o.family_)), metric_(std::exchange(o.metric_, nullptr)) {}
  Series& operator=(Series&& o) noexcept {
    if (this != &o) {
      reset();
      family_ = std::move(o.family_);
      metric_ = std::exchange(o.metric_, nullptr);
    }
    return *this;
  }
  Series(const Series&) = delete;
  Series& operator=(const Series&) = delete;
  ~Series() { reset(); }

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

 protected:
  Series(std::shared_ptr<FamilyHandle> family, INFERMETRICS_Metric* metric) noexcept
      : family_(std::move(family)), metric_(metric) {}
  bool call(INFERMETRICS_Error* c_err, Error& err) const noexcept { return detail::take(c_err, err); }
  /// A recording call with exemplar labels (IncrementWithExemplar / ObserveWithExemplar).
  using ExemplarCall = INFERMETRICS_Error* (*)(INFERMETRICS_Metric*, double, const INFERMETRICS_Parameter**,
                                               std::uint64_t);
  bool exemplar(ExemplarCall fn, double v, const Labels& labels, Error& err) const {
    err.clear();
    CLabels c;
    if (!c.build(labels, err)) return false;
    return call(fn(metric_, v, c.data(), c.count()), err);
  }
  double read(Error& err) const noexcept {
    double v = 0;
    return detail::take(INFERMETRICS_MetricValue(metric_, &v), err) ? v : 0.0;
  }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  static void call(INFERMETRICS_Error* c_err) {
    if (c_err != nullptr) throw Error::adopt(c_err);
  }
  double read() const {
    double v = 0;
    call(INFERMETRICS_MetricValue(metric_, &v));
    return v;
  }
  void exemplar(ExemplarCall fn, double v, const Labels& labels) const {
    CLabels c;
    Error err;
    if (!c.build(labels, err)) throw err;
    call(fn(metric_, v, c.data(), c.count()));
  }
#endif
  // Declared first so it is destroyed last; reset() deletes metric_ before releasing it anyway.
  std::shared_ptr<FamilyHandle> family_;
  INFERMETRICS_Metric* metric_ = nullptr;
};
}  // namespace detail

// Recording calls below are &-qualified, and their && overloads deleted: a handle returned by
// value is the last owner of its series, so `family.metric(labels).increment()` would record into
// a series that disappears at the semicolon. Keep the handle (`auto m = family.metric(...)`), or
// let a family keep it: `family.Add(labels).Increment()` (TypedFamily) records as expected.
/// One labelled series of any kind (the kind is checked at run time; prefer Counter, Gauge and
/// Histogram, which are checked at compile time). Recording calls go straight to the C API.
class Metric : public detail::Series {
 public:
  Metric() = default;

  // Non-throwing API: returns true on success, sets err.
  bool increment(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricIncrement(metric_, v), err); }
  bool set(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricSet(metric_, v), err); }
  bool observe(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricObserve(metric_, v), err); }
  bool increment(double, Error&) && = delete;
  bool set(double, Error&) && = delete;
  bool observe(double, Error&) && = delete;
  /// Increments a counter and keeps `exemplar` (e.g. `{{"trace_id", id}}`, at most 128
  /// characters) as its latest exemplar, shown in OpenMetrics output only. Our extension of
  /// Triton's API (INFERMETRICS_MetricIncrementWithExemplar).
  bool increment(double v, const Labels& exemplar, Error& err) & {
    return this->exemplar(INFERMETRICS_MetricIncrementWithExemplar, v, exemplar, err);
  }
  /// Observes in a histogram and keeps `exemplar` as the latest of the value's bucket
  /// (INFERMETRICS_MetricObserveWithExemplar; summaries refuse exemplars).
  bool observe(double v, const Labels& exemplar, Error& err) & {
    return this->exemplar(INFERMETRICS_MetricObserveWithExemplar, v, exemplar, err);
  }
  bool increment(double, const Labels&, Error&) && = delete;
  bool observe(double, const Labels&, Error&) && = delete;
  /// The current value (0 on error).
  double value(Error& err) const noexcept { return read(err); }
  /// The kind (Counter on error).
  Kind kind(Error& err) const noexcept {
    INFERMETRICS_MetricKind k = INFERMETRICS_METRIC_KIND_COUNTER;
    detail::take(INFERMETRICS_GetMetricKind(metric_, &k), err);
    return static_cast<Kind>(k);
  }

#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  void increment(double v = 1.0) & { call(INFERMETRICS_MetricIncrement(metric_, v)); }
  void set(double v) & { call(INFERMETRICS_MetricSet(metric_, v)); }
  void observe(double v) & { call(INFERMETRICS_MetricObserve(metric_, v)); }
  void increment(double = 1.0) && = delete;
  void set(double) && = delete;
  void observe(double) && = delete;
  void increment(double v, const Labels& exemplar) & {
    this->exemplar(INFERMETRICS_MetricIncrementWithExemplar, v, exemplar);
  }
  void observe(double v, const Labels& exemplar) & {
    this->exemplar(INFERMETRICS_MetricObserveWithExemplar, v, exemplar);
  }
  void increment(double, const Labels&) && = delete;
  void observe(double, const Labels&) && = delete;
  double value() const { return read(); }
  Kind kind() const {
    INFERMETRICS_MetricKind k = INFERMETRICS_METRIC_KIND_COUNTER;
    call(INFERMETRICS_GetMetricKind(metric_, &k));
    return static_cast<Kind>(k);
  }
#endif

 private:
  friend class Family;
  using detail::Series::Series;
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

// ---------------------------------------------------------------------------------------------
// Typed series and families. Counter, Gauge and Histogram have only the operations of their kind,
// so `counter.Observe(1)` does not compile. Method names follow prometheus-cpp (Increment, Set,
// Observe, Value, ...), with this header's lower-case spellings as aliases. A TypedFamily keeps
// the series it hands out by reference (Add/Remove/Has, as prometheus-cpp's Family<T>), or hands
// out RAII handles by value (metric()).

/// A counter series: only goes up.
class Counter : public detail::Series {
 public:
  Counter() = default;
  bool Increment(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricIncrement(metric_, v), err); }
  bool increment(double v, Error& err) & noexcept { return Increment(v, err); }
  bool Increment(double, Error&) && = delete;  // a temporary handle: see Metric
  bool increment(double, Error&) && = delete;
  /// Adds `v` and keeps `exemplar` (e.g. `{{"trace_id", id}}`, names and values at most 128
  /// characters in all) as this counter's latest exemplar, shown in OpenMetrics output only.
  /// Our extension (INFERMETRICS_MetricIncrementWithExemplar); slower than Increment(v).
  bool Increment(double v, const Labels& exemplar, Error& err) & {
    return this->exemplar(INFERMETRICS_MetricIncrementWithExemplar, v, exemplar, err);
  }
  bool increment(double v, const Labels& exemplar, Error& err) & { return Increment(v, exemplar, err); }
  bool Increment(double, const Labels&, Error&) && = delete;
  bool increment(double, const Labels&, Error&) && = delete;
  double Value(Error& err) const noexcept { return read(err); }
  double value(Error& err) const noexcept { return read(err); }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  /// Adds `v` (>= 0: a negative or NaN increment throws InvalidArg; prometheus-cpp ignores it).
  void Increment(double v = 1.0) & { call(INFERMETRICS_MetricIncrement(metric_, v)); }
  void increment(double v = 1.0) & { Increment(v); }
  void Increment(double = 1.0) && = delete;  // a temporary handle: see Metric
  void increment(double = 1.0) && = delete;
  /// As Increment(v), with an exemplar (throws InvalidArg for bad exemplar labels).
  void Increment(double v, const Labels& exemplar) & {
    this->exemplar(INFERMETRICS_MetricIncrementWithExemplar, v, exemplar);
  }
  void increment(double v, const Labels& exemplar) & { Increment(v, exemplar); }
  void Increment(double, const Labels&) && = delete;
  void increment(double, const Labels&) && = delete;
  double Value() const { return read(); }
  double value() const { return read(); }
#endif
 private:
  template <class>
  friend class TypedFamily;
  using detail::Series::Series;
};

/// A gauge series: goes up and down.
class Gauge : public detail::Series {
 public:
  Gauge() = default;
  bool Increment(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricIncrement(metric_, v), err); }
  bool Decrement(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricIncrement(metric_, -v), err); }
  bool Set(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricSet(metric_, v), err); }
  bool increment(double v, Error& err) & noexcept { return Increment(v, err); }
  bool set(double v, Error& err) & noexcept { return Set(v, err); }
  bool Increment(double, Error&) && = delete;  // a temporary handle: see Metric
  bool Decrement(double, Error&) && = delete;
  bool Set(double, Error&) && = delete;
  bool increment(double, Error&) && = delete;
  bool set(double, Error&) && = delete;
  double Value(Error& err) const noexcept { return read(err); }
  double value(Error& err) const noexcept { return read(err); }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  void Increment(double v = 1.0) & { call(INFERMETRICS_MetricIncrement(metric_, v)); }
  void Decrement(double v = 1.0) & { call(INFERMETRICS_MetricIncrement(metric_, -v)); }
  void Set(double v) & { call(INFERMETRICS_MetricSet(metric_, v)); }
  /// Sets the gauge to the current Unix time in seconds.
  void SetToCurrentTime() & {
    Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  void increment(double v = 1.0) & { Increment(v); }
  void set(double v) & { Set(v); }
  void Increment(double = 1.0) && = delete;  // a temporary handle: see Metric
  void Decrement(double = 1.0) && = delete;
  void Set(double) && = delete;
  void SetToCurrentTime() && = delete;
  void increment(double = 1.0) && = delete;
  void set(double) && = delete;
  double Value() const { return read(); }
  double value() const { return read(); }
#endif
 private:
  template <class>
  friend class TypedFamily;
  using detail::Series::Series;
};

/// A histogram series: observations counted into fixed buckets, plus their sum and count.
class Histogram : public detail::Series {
 public:
  /// Upper bounds, strictly increasing and finite; +Inf is implicit (prometheus-cpp's name).
  using BucketBoundaries = std::vector<double>;
  Histogram() = default;
  bool Observe(double v, Error& err) & noexcept { return call(INFERMETRICS_MetricObserve(metric_, v), err); }
  bool observe(double v, Error& err) & noexcept { return Observe(v, err); }
  bool Observe(double, Error&) && = delete;  // a temporary handle: see Metric
  bool observe(double, Error&) && = delete;
  /// Records `v` and keeps `exemplar` (e.g. `{{"trace_id", id}}`, at most 128 characters in
  /// all) as the latest exemplar of the bucket `v` falls in, shown in OpenMetrics output only.
  /// Our extension (INFERMETRICS_MetricObserveWithExemplar); slower than Observe(v).
  bool Observe(double v, const Labels& exemplar, Error& err) & {
    return this->exemplar(INFERMETRICS_MetricObserveWithExemplar, v, exemplar, err);
  }
  bool observe(double v, const Labels& exemplar, Error& err) & { return Observe(v, exemplar, err); }
  bool Observe(double, const Labels&, Error&) && = delete;
  bool observe(double, const Labels&, Error&) && = delete;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  /// Records `v` (NaN throws InvalidArg).
  void Observe(double v) & { call(INFERMETRICS_MetricObserve(metric_, v)); }
  void observe(double v) & { Observe(v); }
  void Observe(double) && = delete;  // a temporary handle: see Metric
  void observe(double) && = delete;
  /// As Observe(v), with an exemplar (throws InvalidArg for bad exemplar labels).
  void Observe(double v, const Labels& exemplar) & {
    this->exemplar(INFERMETRICS_MetricObserveWithExemplar, v, exemplar);
  }
  void observe(double v, const Labels& exemplar) & { Observe(v, exemplar); }
  void Observe(double, const Labels&) && = delete;
  void observe(double, const Labels&) && = delete;
#endif
 private:
  template <class>
  friend class TypedFamily;
  using detail::Series::Series;
};

namespace detail {
template <class T>
struct KindOf;
template <>
struct KindOf<Counter> {
  static constexpr Kind value = Kind::Counter;
};
template <>
struct KindOf<Gauge> {
  static constexpr Kind value = Kind::Gauge;
};
template <>
struct KindOf<Histogram> {
  static constexpr Kind value = Kind::Histogram;
};

/// Prometheus label name rules (the library checks series labels itself; constant labels are
/// checked here, when the family is made, as prometheus-cpp does).
inline bool valid_label_name(const std::string& n) noexcept {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9') || n.compare(0, 2, "__") == 0) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

/// What a Registry keeps of any family.
class RegisteredFamily {
 public:
  virtual ~RegisteredFamily() = default;
  virtual Kind kind() const noexcept = 0;
  virtual const std::string& help() const noexcept = 0;
  virtual const std::map<std::string, std::string>& constant_labels() const noexcept = 0;
  virtual const std::string& name() const noexcept = 0;
};
}  // namespace detail

/// A typed metric family: one name, help text and kind (T = Counter, Gauge or Histogram), plus
/// constant labels every series carries. Families are process-wide in the library: two objects
/// of one name share it, and series of the same labels are one series.
///
/// `Add(labels)` returns a reference to the series with these labels, made on first use and kept
/// by the family until `Remove(&series)` or the family's destruction, so
/// `family.Add({{"model", "a"}}).Increment();` in a loop records (prometheus-cpp's Family<T>).
/// `metric(labels)` instead returns an RAII handle the caller owns. Thread-safe.
template <class T>
class TypedFamily : public detail::RegisteredFamily {
  static constexpr Kind kKind = detail::KindOf<T>::value;

 public:
  using Labels = std::map<std::string, std::string>;

  TypedFamily() = default;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  /// Throws InvalidArg for a bad name or constant label, or a name taken by another kind.
  TypedFamily(const std::string& name, const std::string& help, const Labels& constant_labels = {}) {
    Error err;
    init(name, help, constant_labels, err);
    detail::throw_if(err);
  }
#endif
  /// Non-throwing: an empty (!valid()) family and `err` set on failure.
  static TypedFamily create(const std::string& name, const std::string& help, const Labels& constant_labels,
                            Error& err) {
    TypedFamily f;
    f.init(name, help, constant_labels, err);
    return f;
  }
  TypedFamily(TypedFamily&&) noexcept = default;
  TypedFamily& operator=(TypedFamily&&) noexcept = default;
  TypedFamily(const TypedFamily&) = delete;
  TypedFamily& operator=(const TypedFamily&) = delete;
  /// Deletes the series Add() made (references to them dangle), then this share of the family.
  ~TypedFamily() override = default;

  bool valid() const noexcept { return state_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  const std::string& GetName() const noexcept { return state_ ? state_->name : empty_string(); }
  const Labels& GetConstantLabels() const noexcept { return state_ ? state_->constant_labels : empty_labels(); }

  // --- series kept by the family ---
  /// The series with these labels (plus the constant ones), made on first use. Throws InvalidArg
  /// for a bad label, a label given twice or also constant, or `le` on a histogram.
  /// Counters and gauges only; histograms: Add(labels, buckets).
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  T& Add(const infermetrics::Labels& labels) {
    static_assert(kKind != Kind::Histogram,
                  "a histogram series needs bucket boundaries: Add(labels, Histogram::BucketBoundaries{...})");
    Error err;
    T* t = add(labels, nullptr, err);
    detail::throw_if(err);
    return *t;
  }
  /// Histograms: the series with these labels and buckets (buckets only count when the series is
  /// made; an existing series keeps its own).
  T& Add(const infermetrics::Labels& labels, const std::vector<double>& buckets) {
    static_assert(kKind == Kind::Histogram, "only histograms take bucket boundaries");
    Error err;
    T* t = add(labels, &buckets, err);
    detail::throw_if(err);
    return *t;
  }
#endif
  /// Non-throwing Add: nullptr and `err` set on failure.
  T* Add(const infermetrics::Labels& labels, Error& err) {
    static_assert(kKind != Kind::Histogram, "a histogram series needs bucket boundaries");
    return add(labels, nullptr, err);
  }
  T* Add(const infermetrics::Labels& labels, const std::vector<double>& buckets, Error& err) {
    static_assert(kKind == Kind::Histogram, "only histograms take bucket boundaries");
    return add(labels, &buckets, err);
  }
  /// Deletes a series Add() returned (the reference dangles); nullptr or an unknown one: nothing.
  void Remove(T* metric) noexcept {
    if (!state_ || metric == nullptr) return;
    std::unique_ptr<T> gone;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (auto it = state_->metrics.begin(); it != state_->metrics.end(); ++it) {
      if (it->second.get() == metric) {
        gone = std::move(it->second);
        state_->metrics.erase(it);
        return;
      }
    }
  }
  /// Whether Add() has a series with these labels.
  bool Has(const infermetrics::Labels& labels) const {
    if (!state_) return false;
    Error err;
    Key key;
    if (!make_key(labels, key, err)) return false;
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->metrics.count(key) != 0;
  }

  // --- RAII handles owned by the caller ---
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  /// A handle on the series with these labels; the series lives while some handle (or Add) holds it.
  T metric(const infermetrics::Labels& labels = infermetrics::Labels()) const {
    static_assert(kKind != Kind::Histogram, "a histogram series needs bucket boundaries: metric(labels, buckets)");
    Error err;
    T t = make(labels, nullptr, err);
    detail::throw_if(err);
    return t;
  }
  T metric(const infermetrics::Labels& labels, const std::vector<double>& buckets) const {
    static_assert(kKind == Kind::Histogram, "only histograms take bucket boundaries");
    Error err;
    T t = make(labels, &buckets, err);
    detail::throw_if(err);
    return t;
  }
#endif
  T metric(const infermetrics::Labels& labels, Error& err) const {
    static_assert(kKind != Kind::Histogram, "a histogram series needs bucket boundaries");
    return make(labels, nullptr, err);
  }
  T metric(const infermetrics::Labels& labels, const std::vector<double>& buckets, Error& err) const {
    static_assert(kKind == Kind::Histogram, "only histograms take bucket boundaries");
    return make(labels, &buckets, err);
  }

  INFERMETRICS_MetricFamily* get() const noexcept { return state_ ? state_->handle->ptr : nullptr; }
  // detail::RegisteredFamily
  Kind kind() const noexcept override { return kKind; }
  const std::string& help() const noexcept override { return state_ ? state_->help : empty_string(); }
  const Labels& constant_labels() const noexcept override { return GetConstantLabels(); }
  const std::string& name() const noexcept override { return GetName(); }

 private:
  using Key = std::vector<std::pair<std::string, std::string>>;  // sorted, no empty values
  struct State {
    std::string name, help;
    Labels constant_labels;
    std::shared_ptr<detail::FamilyHandle> handle;
    std::mutex mutex;
    std::map<Key, std::unique_ptr<T>> metrics;
    ~State() { metrics.clear(); }  // series before the family handle
  };

  static const std::string& empty_string() noexcept {
    static const std::string s;
    return s;
  }
  static const Labels& empty_labels() noexcept {
    static const Labels l;
    return l;
  }

  void init(const std::string& name, const std::string& help, const Labels& constant_labels, Error& err) {
    err.clear();
    for (const auto& kv : constant_labels) {
      if (!detail::valid_label_name(kv.first) || (kKind == Kind::Histogram && kv.first == "le")) {
        err = Error(ErrorCode::InvalidArg, "Invalid constant label name '" + kv.first + "' for metric family '" +
                                               name + "'");
        return;
      }
    }
    INFERMETRICS_MetricFamily* f = nullptr;
    if (!detail::take(INFERMETRICS_MetricFamilyNew(&f, static_cast<INFERMETRICS_MetricKind>(kKind), name.c_str(),
                                                   help.c_str()),
                      err)) {
      return;
    }
    auto st = std::make_unique<State>();
    st->handle = std::make_shared<detail::FamilyHandle>(f);
    st->name = name;
    st->help = help;
    st->constant_labels = constant_labels;
    state_ = std::move(st);
  }

  /// The full label set (constant + given): a label given twice, or also constant, is refused.
  bool make_key(const infermetrics::Labels& labels, Key& key, Error& err) const {
    std::map<std::string, std::string> all(state_->constant_labels.begin(), state_->constant_labels.end());
    for (const auto& kv : labels.pairs()) {
      if (!all.emplace(kv.first, kv.second).second) {
        err = Error(ErrorCode::InvalidArg, "label '" + kv.first + "' given twice (or also a constant label) for '" +
                                               state_->name + "'");
        return false;
      }
    }
    key.clear();
    for (auto& kv : all) {
      if (!kv.second.empty()) key.emplace_back(kv.first, kv.second);  // an empty value is no label
    }
    return true;
  }

  T make_from_key(const Key& key, const std::vector<double>* buckets, Error& err) const {
    detail::CLabels c;
    if (!c.build(infermetrics::Labels(key), err)) return T();
    INFERMETRICS_Metric* m = nullptr;
    INFERMETRICS_Error* e = nullptr;
    if (buckets != nullptr) {
      HistogramArgs args = HistogramArgs::create(*buckets, err);
      if (err.failed()) return T();
      e = INFERMETRICS_MetricNewWithArgs(&m, state_->handle->ptr, c.data(), c.count(), args.get());
    } else {
      e = INFERMETRICS_MetricNew(&m, state_->handle->ptr, c.data(), c.count());
    }
    if (!detail::take(e, err)) return T();
    return T(state_->handle, m);
  }

  T make(const infermetrics::Labels& labels, const std::vector<double>* buckets, Error& err) const {
    err.clear();
    if (!state_) {
      err = Error(ErrorCode::InvalidArg, "empty TypedFamily (default-constructed, moved from or failed)");
      return T();
    }
    Key key;
    if (!make_key(labels, key, err)) return T();
    return make_from_key(key, buckets, err);
  }

  T* add(const infermetrics::Labels& labels, const std::vector<double>* buckets, Error& err) {
    err.clear();
    if (!state_) {
      err = Error(ErrorCode::InvalidArg, "empty TypedFamily (default-constructed, moved from or failed)");
      return nullptr;
    }
    Key key;
    if (!make_key(labels, key, err)) return nullptr;
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->metrics.find(key);
    if (it != state_->metrics.end()) return it->second.get();
    T t = make_from_key(key, buckets, err);
    if (err.failed()) return nullptr;
    auto owned = std::make_unique<T>(std::move(t));
    T* p = owned.get();
    state_->metrics.emplace(std::move(key), std::move(owned));
    return p;
  }

  std::unique_ptr<State> state_;
};

using CounterFamily = TypedFamily<Counter>;
using GaugeFamily = TypedFamily<Gauge>;
using HistogramFamily = TypedFamily<Histogram>;

#if !defined(INFERMETRICS_NO_EXCEPTIONS)
/// Owns families by name, as prometheus-cpp's Registry: registering a name again gives the same
/// family when kind, help and constant labels match (InsertBehavior::Merge, the default) and
/// throws otherwise (or always, with InsertBehavior::Throw). The output does not depend on
/// registries: the library serves every family of the process.
class Registry {
 public:
  enum class InsertBehavior { Merge, Throw };
  explicit Registry(InsertBehavior insert_behavior = InsertBehavior::Merge) : insert_behavior_(insert_behavior) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The family `name` of kind T (what the Build*() builders call).
  template <class T>
  TypedFamily<T>& Add(const std::string& name, const std::string& help,
                      const std::map<std::string, std::string>& constant_labels) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& f : families_) {
      if (f->name() != name) continue;
      if (insert_behavior_ == InsertBehavior::Throw) {
        throw Error(ErrorCode::AlreadyExists, "metric family '" + name + "' is already registered");
      }
      if (f->kind() != detail::KindOf<T>::value || f->help() != help || f->constant_labels() != constant_labels) {
        throw Error(ErrorCode::InvalidArg, "metric family '" + name +
                                               "' is already registered with another kind, help or constant labels");
      }
      return static_cast<TypedFamily<T>&>(*f);
    }
    auto family = std::make_unique<TypedFamily<T>>(name, help, constant_labels);
    TypedFamily<T>& ref = *family;
    families_.push_back(std::move(family));
    return ref;
  }
  /// Deletes a family this registry holds (its series too); false if it holds none such.
  template <class T>
  bool Remove(const TypedFamily<T>& family) {
    std::unique_ptr<detail::RegisteredFamily> gone;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = families_.begin(); it != families_.end(); ++it) {
      if (it->get() == &family) {
        gone = std::move(*it);
        families_.erase(it);
        return true;
      }
    }
    return false;
  }

 private:
  InsertBehavior insert_behavior_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<detail::RegisteredFamily>> families_;
};

namespace detail {
/// prometheus-cpp's builder: BuildCounter().Name("x").Help("...").Labels({...}).Register(registry).
template <class T>
class Builder {
 public:
  Builder& Name(const std::string& name) {
    name_ = name;
    return *this;
  }
  Builder& Help(const std::string& help) {
    help_ = help;
    return *this;
  }
  Builder& Labels(const std::map<std::string, std::string>& labels) {
    labels_ = labels;
    return *this;
  }
  TypedFamily<T>& Register(Registry& registry) { return registry.Add<T>(name_, help_, labels_); }

 private:
  std::string name_, help_;
  std::map<std::string, std::string> labels_;
};
}  // namespace detail

inline detail::Builder<Counter> BuildCounter() { return {}; }
inline detail::Builder<Gauge> BuildGauge() { return {}; }
inline detail::Builder<Histogram> BuildHistogram() { return {}; }
#endif

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

/// Exposition formats (INFERMETRICS_MetricFormat).
enum class Format : int {
  Prometheus = INFERMETRICS_METRIC_PROMETHEUS,    ///< text 0.0.4 (INFERMETRICS_CONTENT_TYPE_PROMETHEUS)
  OpenMetrics = INFERMETRICS_METRIC_OPENMETRICS,  ///< OpenMetrics 1.0.0 (INFERMETRICS_CONTENT_TYPE_OPENMETRICS)
};

/// A body rendered for a host's own HTTP server (Server::render, infermetrics::render): send it with
/// `Content-Type: content_type` and, when content_encoding is not empty, `Content-Encoding:
/// content_encoding` (and `Vary: Accept-Encoding` when the choice came from the request).
struct Rendered {
  std::string body;              ///< the bytes to send (gzip-compressed when content_encoding == "gzip")
  std::string content_type;      ///< e.g. INFERMETRICS_CONTENT_TYPE_PROMETHEUS
  std::string content_encoding;  ///< "gzip", or empty for identity
};

/// What one request asked for (infermetrics::negotiate).
struct Negotiated {
  Format format = Format::Prometheus;
  bool gzip = false;
};

namespace detail {
inline Rendered render(INFERMETRICS_Server* server, Format format, bool gzip, Error& err) {
  Rendered r;
  INFERMETRICS_Metrics* m = nullptr;
  if (!take(INFERMETRICS_ServerMetrics(server, &m), err)) return r;
  const void* body = nullptr;
  std::size_t size = 0;
  const char* type = nullptr;
  if (take(INFERMETRICS_MetricsRender(m, static_cast<INFERMETRICS_MetricFormat>(format), gzip, &body, &size, &type),
           err)) {
    r.body.assign(static_cast<const char*>(body), size);
    r.content_type = type;
    if (gzip) r.content_encoding = "gzip";
  }
  INFERMETRICS_ErrorDelete(INFERMETRICS_MetricsDelete(m));
  return r;
}
}  // namespace detail

/// The registry alone (no collector series) rendered in `format`, gzipped if asked. Non-throwing.
inline Rendered render(Format format, bool gzip, Error& err) { return detail::render(nullptr, format, gzip, err); }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline Rendered render(Format format = Format::Prometheus, bool gzip = false) {
  Error err;
  Rendered r = render(format, gzip, err);
  detail::throw_if(err);
  return r;
}
#endif

/// The format and gzip the library's own server would choose for a request with these `Accept`
/// and `Accept-Encoding` header values (nullptr: header absent); OpenMetrics only when
/// `openmetrics` is true and asked for (INFERMETRICS_MetricsNegotiate).
inline Negotiated negotiate(const char* accept, const char* accept_encoding, bool openmetrics, Error& err) noexcept {
  Negotiated n;
  INFERMETRICS_MetricFormat f = INFERMETRICS_METRIC_PROMETHEUS;
  bool gz = false;
  if (detail::take(INFERMETRICS_MetricsNegotiate(accept, accept_encoding, openmetrics, &f, &gz), err)) {
    n.format = static_cast<Format>(f);
    n.gzip = gz;
  }
  return n;
}
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
inline Negotiated negotiate(const char* accept, const char* accept_encoding, bool openmetrics = false) {
  Error err;
  Negotiated n = negotiate(accept, accept_encoding, openmetrics, err);
  detail::throw_if(err);
  return n;
}
#endif

/// Options of the metrics HTTP server: one setter per INFERMETRICS_ServerOptionsSet* call of the C
/// API (see its doc in infermetrics.h for defaults and limits). Defaults and the environment
/// overrides (INFERMETRICS_ADDRESS, _PORT, _INTERVAL_MS, _MAX_CONNECTIONS, _OPENMETRICS,
/// _WEB_CONFIG, _COLLECTORS, ...) are read when the options are created; an environment value
/// wins over a setter. Each setter comes twice: `bool name(..., Error&) noexcept` and, with
/// exceptions, a throwing chainable `ServerOptions& name(...)`.
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
  /// false: no listener of its own (collectors only); serve Server::render() from your HTTP server.
  bool listen(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetListen(opts_.get(), on), err);
  }
  /// Path of libnvidia-ml.so.1 for drivers in unusual places.
  bool nvml_library(const std::string& path, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetNvmlLibrary(opts_.get(), path.c_str()), err);
  }
  /// Most connections held open at once, 1 to 65536 (default 256).
  bool max_connections(std::uint32_t n, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetMaxConnections(opts_.get(), n), err);
  }
  /// Offer OpenMetrics 1.0 to scrapes that ask for it (default off: see the README for why).
  bool openmetrics(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetOpenMetrics(opts_.get(), on), err);
  }
  /// An exporter-toolkit web-config.yml (TLS, basic auth, headers); read by the Server, which
  /// fails (InvalidArg) on a file that does not load.
  bool web_config(const std::string& path, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetWebConfig(opts_.get(), path.c_str()), err);
  }
  /// process_* series (default on).
  bool process_metrics(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetProcessMetrics(opts_.get(), on), err);
  }
  /// nv_container_* series of this process's cgroup (default on).
  bool container_metrics(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetContainerMetrics(opts_.get(), on), err);
  }
  /// node_exporter-style host series (default off).
  bool host_metrics(bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetHostMetrics(opts_.get(), on), err);
  }
  /// One collector by name: "pinned", "cpu", "gpu", "process", "container" or "host".
  bool collector(const std::string& name, bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetCollector(opts_.get(), name.c_str(), on), err);
  }
  /// One GPU vendor: "nvidia", "amd" or "intel" (default all on).
  bool gpu_vendor(const std::string& vendor, bool on, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetGpuVendor(opts_.get(), vendor.c_str(), on), err);
  }
  /// Paths whose filesystems the host collectors report, comma-separated ("/,/models").
  bool disk_paths(const std::string& paths, Error& err) noexcept {
    return detail::take(INFERMETRICS_ServerOptionsSetDiskPaths(opts_.get(), paths.c_str()), err);
  }
  /// The same, one absolute path per element (a path holding a comma is refused: InvalidArg).
  bool disk_paths(const std::vector<std::string>& paths, Error& err) {  // allocates: not noexcept
    std::string joined;
    for (const std::string& p : paths) {
      if (p.find(',') != std::string::npos) {
        return detail::take(INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_INVALID_ARG,
                                                  "ServerOptions::disk_paths: a path holds a comma, which "
                                                  "separates paths; mount or link it under a name without one"),
                            err);
      }
      if (!joined.empty()) joined += ',';
      joined += p;
    }
    return disk_paths(joined, err);
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
  ServerOptions& listen(bool on) { return chain(INFERMETRICS_ServerOptionsSetListen(opts_.get(), on)); }
  ServerOptions& max_connections(std::uint32_t n) {
    return chain(INFERMETRICS_ServerOptionsSetMaxConnections(opts_.get(), n));
  }
  ServerOptions& openmetrics(bool on) { return chain(INFERMETRICS_ServerOptionsSetOpenMetrics(opts_.get(), on)); }
  ServerOptions& web_config(const std::string& path) {
    return chain(INFERMETRICS_ServerOptionsSetWebConfig(opts_.get(), path.c_str()));
  }
  ServerOptions& process_metrics(bool on) {
    return chain(INFERMETRICS_ServerOptionsSetProcessMetrics(opts_.get(), on));
  }
  ServerOptions& container_metrics(bool on) {
    return chain(INFERMETRICS_ServerOptionsSetContainerMetrics(opts_.get(), on));
  }
  ServerOptions& host_metrics(bool on) { return chain(INFERMETRICS_ServerOptionsSetHostMetrics(opts_.get(), on)); }
  ServerOptions& collector(const std::string& name, bool on) {
    return chain(INFERMETRICS_ServerOptionsSetCollector(opts_.get(), name.c_str(), on));
  }
  ServerOptions& gpu_vendor(const std::string& vendor, bool on) {
    return chain(INFERMETRICS_ServerOptionsSetGpuVendor(opts_.get(), vendor.c_str(), on));
  }
  ServerOptions& disk_paths(const std::string& paths) {
    return chain(INFERMETRICS_ServerOptionsSetDiskPaths(opts_.get(), paths.c_str()));
  }
  ServerOptions& disk_paths(const std::vector<std::string>& paths) {
    Error err;
    disk_paths(paths, err);
    detail::throw_if(err);
    return *this;
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

  /// The bound port (0 on error; UNAVAILABLE for a server without a listener).
  std::uint16_t port(Error& err) const noexcept {
    std::uint16_t p = 0;
    return detail::take(INFERMETRICS_ServerPort(server_.get(), &p), err) ? p : 0;
  }
  /// Registry plus this server's collector series.
  Snapshot snapshot(Error& err) const { return Snapshot::take(server_.get(), err); }
  /// Registry plus this server's collector series, rendered now as an HTTP body in `format`,
  /// gzipped if asked, for a host's own HTTP server (see negotiate()). Non-throwing.
  Rendered render(Format format, bool gzip, Error& err) const {
    if (!valid()) {
      detail::take(INFERMETRICS_ErrorNew(INFERMETRICS_ERROR_INVALID_ARG,
                                         "Server::render on an empty Server (moved from, reset, or failed to start)"),
                   err);
      return Rendered{};
    }
    return detail::render(server_.get(), format, gzip, err);
  }
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
  std::uint16_t port() const {
    Error err;
    std::uint16_t p = port(err);
    detail::throw_if(err);
    return p;
  }
  Snapshot snapshot() const { return Snapshot::take(server_.get()); }
  Rendered render(Format format = Format::Prometheus, bool gzip = false) const {
    Error err;
    Rendered r = render(format, gzip, err);
    detail::throw_if(err);
    return r;
  }
#endif

 private:
  void init(const ServerOptions& options, Error& err) {
    INFERMETRICS_Server* s = nullptr;
    if (detail::take(INFERMETRICS_ServerNew(&s, options.get()), err)) server_.adopt(s);
  }
  detail::Owned<INFERMETRICS_Server, INFERMETRICS_ServerDelete> server_;
};

#if !defined(INFERMETRICS_NO_EXCEPTIONS)
/// prometheus-cpp's Exposer over Server: `Exposer exposer{"127.0.0.1:8080"};` serves GET /metrics
/// there ("8080" alone binds every interface, "[::1]:8080" IPv6). The library serves every family
/// of the process, so RegisterCollectable() only checks its arguments (uri must be "/metrics").
/// The GPU/CPU/pinned-memory collectors run too (ServerOptions says how to turn them off).
class Exposer {
 public:
  explicit Exposer(const std::string& bind_address, std::size_t /*num_threads*/ = 2)
      : server_(parse(bind_address)) {}
  explicit Exposer(const ServerOptions& options) : server_(options) {}
  void RegisterCollectable(const std::weak_ptr<Registry>& /*registry*/, const std::string& uri = "/metrics") {
    if (uri != "/metrics" && uri != "/metrics/") {
      throw Error(ErrorCode::Unsupported, "the infermetrics server serves /metrics only, not '" + uri + "'");
    }
  }
  void RemoveCollectable(const std::weak_ptr<Registry>& /*registry*/, const std::string& /*uri*/ = "/metrics") {}
  std::vector<int> GetListeningPorts() const { return {static_cast<int>(server_.port())}; }
  const Server& server() const noexcept { return server_; }

 private:
  static ServerOptions parse(const std::string& bind) {
    ServerOptions o;
    std::string host = "0.0.0.0", port = bind;
    std::size_t colon = bind.rfind(':');
    if (colon != std::string::npos) {
      host = bind.substr(0, colon);
      port = bind.substr(colon + 1);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    }
    unsigned long p = 0;
    bool digits = !port.empty() && port.size() <= 5;
    for (char c : port) digits = digits && c >= '0' && c <= '9';
    if (digits) p = std::stoul(port);
    if (!digits || p > 65535) throw Error(ErrorCode::InvalidArg, "bind address '" + bind + "' has no port (HOST:PORT)");
    o.address(host).port(static_cast<std::uint16_t>(p));
    return o;
  }
  Server server_;
};
#endif

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


/// prometheus-cpp's names, for porting code line for line: replace the prometheus/*.h includes
/// with <infermetrics.hpp> and add `namespace prometheus = infermetrics::prometheus;` (or
/// `using namespace infermetrics::prometheus;`). What differs: docs/cmake-cpp-python.md.
namespace prometheus {
template <class T>
using Family = TypedFamily<T>;
using Labels = std::map<std::string, std::string>;
using infermetrics::Counter;
using infermetrics::Gauge;
using infermetrics::Histogram;
#if !defined(INFERMETRICS_NO_EXCEPTIONS)
using infermetrics::BuildCounter;
using infermetrics::BuildGauge;
using infermetrics::BuildHistogram;
using infermetrics::Exposer;
using infermetrics::Registry;
#endif
}  // namespace prometheus

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

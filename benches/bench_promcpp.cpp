// bench_promcpp: the same operations as bench_record / bench_http on prometheus-cpp (the C++
// client library Triton uses; Debian's prometheus-cpp-dev 1.0.1), against a raw atomic
// compare-and-swap add on a double measured in the same run, so the ratios compare.
//
//   bench_promcpp record   Counter::Increment, Gauge::Set, Histogram::Observe (10 buckets),
//                          2-thread counter, TextSerializer on 1k / 10k series
//   bench_promcpp http     Exposer (civetweb) scrape latency and scrapes/s at 100 series
//   bench_promcpp scrape   Exposer scrape of 10k series (half histograms), identity and gzip
//                          (Debian builds prometheus-cpp with compression), as bench_scrape
//
// Reported, never pass/fail. BENCH_N / BENCH_REPS as in bench_record; BENCH_HTTP_SECONDS.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sched.h>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

using namespace prometheus;

static uint64_t N;
static uint64_t REPS;

static std::atomic<uint64_t> raw_bits{0};

static inline void raw_cas_add(std::atomic<uint64_t>& a, double v) {
  uint64_t old = a.load(std::memory_order_relaxed);
  for (;;) {
    double d;
    std::memcpy(&d, &old, sizeof d);
    d += v;
    uint64_t nw;
    std::memcpy(&nw, &d, sizeof nw);
    if (a.compare_exchange_weak(old, nw)) return;
  }
}

static const std::vector<double> BOUNDS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
static double VALS[64];

enum op_kind { OP_RAW, OP_COUNTER, OP_GAUGE, OP_HIST, OP_SUMMARY };
static Counter* g_counter;
static Gauge* g_gauge;
static Histogram* g_hist;
static Summary* g_summary;

static double run_ops(op_kind op, uint64_t n) {
  double t0 = bench_now_s();
  switch (op) {
    case OP_RAW:
      for (uint64_t i = 0; i < n; i++) raw_cas_add(raw_bits, 1.0);
      break;
    case OP_COUNTER:
      for (uint64_t i = 0; i < n; i++) g_counter->Increment(1.0);
      break;
    case OP_GAUGE:
      for (uint64_t i = 0; i < n; i++) g_gauge->Set(static_cast<double>(i));
      break;
    case OP_HIST:
      for (uint64_t i = 0; i < n; i++) g_hist->Observe(VALS[i & 63]);
      break;
    case OP_SUMMARY:
      for (uint64_t i = 0; i < n; i++) g_summary->Observe(VALS[i & 63] * 1000.0);
      break;
  }
  return bench_now_s() - t0;
}

static double best_ns(op_kind op, uint64_t n) {
  double best = 1e30;
  for (uint64_t r = 0; r < REPS; r++) best = std::min(best, run_ops(op, n));
  return best * 1e9 / static_cast<double>(n);
}

static double thread_cpu_s() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// As in bench_record: 2 threads pinned to CPUs 0/1, n/2 ops each, median of 5 runs of wall ns
// per operation; *overlap = median of (CPU time of both threads / wall), 2.0 = fully parallel.
static double two_threads_ns(op_kind op, uint64_t n, double* overlap) {
  const int runs = 5;
  std::vector<double> ns, ov;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  for (int r = 0; r < runs; r++) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    double cpu[2] = {0, 0};
    std::vector<std::thread> th;
    for (int i = 0; i < 2; i++)
      th.emplace_back([&, i] {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(static_cast<int>(i % (ncpu > 0 ? ncpu : 1)), &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        ready++;
        while (!go.load()) {
        }
        double c0 = thread_cpu_s();
        run_ops(op, n / 2);
        cpu[i] = thread_cpu_s() - c0;
      });
    while (ready.load() < 2) {
    }
    double t0 = bench_now_s();
    go = true;
    for (auto& t : th) t.join();
    double s = bench_now_s() - t0;
    ns.push_back(s * 1e9 / static_cast<double>(n / 2 * 2));
    ov.push_back((cpu[0] + cpu[1]) / s);
  }
  *overlap = bench_quantile(ov.data(), ov.size(), 0.5);
  return bench_quantile(ns.data(), ns.size(), 0.5);
}

// n series: n/2 counters + n/2 10-bucket histograms (all counters if !mixed), labels {model, id}.
static void fill_registry(Registry& reg, size_t n, const std::string& tag, bool mixed = true) {
  auto& cf = BuildCounter().Name("bench_render_" + tag + "_requests_total").Help("Benchmark counter family").Register(reg);
  auto& hf = BuildHistogram().Name("bench_render_" + tag + "_latency_seconds").Help("Benchmark histogram family").Register(reg);
  for (size_t i = 0; i < n; i++) {
    Labels l{{"model", "resnet50"}, {"id", std::to_string(mixed ? i / 2 : i)}};
    if (!mixed || i % 2 == 0) {
      cf.Add(l).Increment(static_cast<double>(i + 1));
    } else {
      auto& h = hf.Add(l, BOUNDS);
      for (size_t k = 0; k < 5; k++) h.Observe(VALS[(i + k * 7) & 63]);
    }
  }
}

static double serialize_ms(const Registry& reg, int runs, size_t* bytes) {
  std::vector<double> t;
  TextSerializer ser;
  for (int r = 0; r < runs; r++) {
    double t0 = bench_now_s();
    std::string s = ser.Serialize(reg.Collect());
    *bytes = s.size();
    t.push_back((bench_now_s() - t0) * 1e3);
  }
  return bench_quantile(t.data(), t.size(), 0.5);
}

static int record_main() {
  bench_print_machine(stdout, "bench_promcpp record (prometheus-cpp 1.0.1 core)", "g++ " __VERSION__);
  std::printf("# N=%llu calls per measurement, best of %llu repetitions; 2 threads: N calls in all, pinned to CPUs"
              " 0/1, median of 5\n",
              (unsigned long long)N, (unsigned long long)REPS);
  Registry reg;
  g_counter = &BuildCounter().Name("bench_counter_total").Help("c").Register(reg).Add({});
  g_gauge = &BuildGauge().Name("bench_gauge").Help("g").Register(reg).Add({});
  g_hist = &BuildHistogram().Name("bench_hist_seconds").Help("h").Register(reg).Add({}, BOUNDS);
  // Triton's default summary quantiles; prometheus-cpp's default window (60 s, 5 age buckets)
  g_summary = &BuildSummary().Name("bench_summary_us").Help("s").Register(reg).Add(
      {}, Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.95, 0.001}, {0.99, 0.001}, {0.999, 0.001}});

  run_ops(OP_RAW, N / 10);
  run_ops(OP_COUNTER, N / 10);
  double raw = best_ns(OP_RAW, N);
  double ctr = best_ns(OP_COUNTER, N);
  double gau = best_ns(OP_GAUGE, N);
  double his = best_ns(OP_HIST, N);
  run_ops(OP_SUMMARY, N / 40);
  double sum = best_ns(OP_SUMMARY, N / 4);
  double ov_raw = 0, ov_ctr = 0;
  double raw2 = two_threads_ns(OP_RAW, N, &ov_raw);
  double ctr2 = two_threads_ns(OP_COUNTER, N, &ov_ctr);
  double expect = static_cast<double>(N / 10 + REPS * N + 5 * (N / 2 * 2));
  std::printf("# sanity: counter value %.0f (expected %.0f) %s\n", g_counter->Value(), expect,
              g_counter->Value() == expect ? "ok" : "WRONG");

  std::printf("\n%-40s %10s %14s\n", "operation", "ns/op", "x raw CAS");
  std::printf("%-40s %10.2f %14s\n", "raw atomic CAS add (1 thread)", raw, "1.00");
  std::printf("%-40s %10.2f %14.2f\n", "Counter::Increment", ctr, ctr / raw);
  std::printf("%-40s %10.2f %14.2f\n", "Gauge::Set", gau, gau / raw);
  std::printf("%-40s %10.2f %14.2f\n", "Histogram::Observe (10 buckets)", his, his / raw);
  std::printf("%-40s %10.2f %14.2f\n", "Summary::Observe (5 quantiles)", sum, sum / raw);
  std::printf("%-40s %10.2f %14s   overlap %.2f of 2.00\n", "raw atomic CAS add (2 threads, 1 var)", raw2, "1.00",
              ov_raw);
  std::printf("%-40s %10.2f %14.2f   overlap %.2f of 2.00\n", "Counter::Increment (2 threads)", ctr2, ctr2 / raw2,
              ov_ctr);
  std::printf("RESULT\tpromcpp\traw\t%.3f\n", raw);
  std::printf("RESULT\tpromcpp\tcounter\t%.3f\n", ctr);
  std::printf("RESULT\tpromcpp\tgauge\t%.3f\n", gau);
  std::printf("RESULT\tpromcpp\thistogram\t%.3f\n", his);
  std::printf("RESULT\tpromcpp\tsummary\t%.3f\n", sum);
  std::printf("RESULT\tpromcpp\traw2\t%.3f\n", raw2);
  std::printf("RESULT\tpromcpp\tcounter2\t%.3f\n", ctr2);
  std::printf("RESULT\tpromcpp\toverlap_raw2\t%.3f\n", ov_raw);
  std::printf("RESULT\tpromcpp\toverlap_counter2\t%.3f\n", ov_ctr);

  std::printf("\n%-40s %10s %14s\n", "serialize (Collect+TextSerializer)", "median ms", "bytes");
  const size_t sizes[2] = {1000, 10000};
  const char* tags[2] = {"1k", "10k"};
  const int runs[2] = {31, 15};
  for (int k = 0; k < 2; k++) {
    Registry r;
    fill_registry(r, sizes[k], tags[k]);
    size_t bytes = 0;
    serialize_ms(r, 2, &bytes);
    double ms = serialize_ms(r, runs[k], &bytes);
    std::printf("%-40s %10.3f %14zu\n", (std::string(tags[k]) + " series (half counters, half histograms)").c_str(),
                ms, bytes);
    std::printf("RESULT\tpromcpp\trender_%s_ms\t%.3f\n", tags[k], ms);
    std::printf("RESULT\tpromcpp\trender_%s_bytes\t%zu\n", tags[k], bytes);
  }
  return 0;
}

// An Exposer on 127.0.0.1, any free port, serving `reg`; null (and a '#' line saying why) if it
// cannot start.
static std::unique_ptr<Exposer> start_exposer(const std::shared_ptr<Registry>& reg, uint16_t* port) {
  std::unique_ptr<Exposer> ex;
  try {
    ex.reset(new Exposer("127.0.0.1:0"));
  } catch (const std::exception& e) {
    std::printf("# Exposer could not start: %s\n", e.what());
    return nullptr;
  }
  ex->RegisterCollectable(reg);
  auto ports = ex->GetListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    std::printf("# Exposer reports no listening port\n");
    return nullptr;
  }
  *port = static_cast<uint16_t>(ports[0]);
  return ex;
}

static int http_main() {
  double secs = static_cast<double>(bench_env_u64("BENCH_HTTP_SECONDS", 3));
  bench_print_machine(stdout, "bench_promcpp http (prometheus-cpp 1.0.1 pull: Exposer on civetweb)",
                      "g++ " __VERSION__);
  std::printf("\n%-44s %10s %10s %10s %8s %10s\n", "Exposer (civetweb), keep-alive asked", "scrapes/s", "seconds",
              "reconnects", "failed", "bytes");
  for (int mix = 1; mix >= 0; mix--) {
    auto reg = std::make_shared<Registry>();
    fill_registry(*reg, 100, "http", mix == 1);
    uint16_t port = 0;
    auto ex = start_exposer(reg, &port);
    if (!ex) return 0;
    const std::string what = mix ? "100 series (50 hist)" : "100 counters only";
    const std::string key = mix ? "100" : "100c";
    double med, p99;
    size_t body;
    int done = 0;
    int lat_failed = bench_http_latency(port, 200, 10.0, &med, &p99, &body, &done);
    std::printf("%-44s median %.3f ms, p99 %.3f ms over %d scrapes, %d failed\n", (what + ", latency").c_str(), med,
                p99, done, lat_failed);
    std::printf("RESULT\tpromcpp\thttp_lat_%s_med_ms\t%.3f\n", key.c_str(), med);
    std::printf("RESULT\tpromcpp\thttp_lat_%s_p99_ms\t%.3f\n", key.c_str(), p99);
    for (int conns = 1; conns <= 2; conns++) {
      uint64_t failed = 0, rec = 0;
      double rps = bench_http_throughput(port, conns, secs, &failed, &rec);
      std::printf("%-44s %10.0f %10.1f %10llu %8llu %10zu\n", (what + ", " + std::to_string(conns) + " conn").c_str(),
                  rps, secs, (unsigned long long)rec, (unsigned long long)failed, body);
      std::printf("RESULT\tpromcpp\thttp_rps_%s_%dc\t%.0f\n", key.c_str(), conns, rps);
      std::printf("RESULT\tpromcpp\thttp_reconnects_%s_%dc\t%llu\n", key.c_str(), conns, (unsigned long long)rec);
    }
  }
  return 0;
}

// "bench_promcpp scrape": bench_scrape's 0.0.4 identity and gzip cases on prometheus-cpp's
// Exposer with the same series and the same client (bench_http_latency_on in bench_util.h).
static int scrape_main() {
  size_t n = static_cast<size_t>(bench_env_u64("BENCH_SCRAPE_SERIES", 10000));
  int reps = static_cast<int>(bench_env_u64("BENCH_SCRAPE_N", 100));
  bench_print_machine(stdout, "bench_promcpp scrape (prometheus-cpp 1.0.1 Exposer, 10k series)", "g++ " __VERSION__);
  auto reg = std::make_shared<Registry>();
  fill_registry(*reg, n, "10k", true);
  uint16_t port = 0;
  auto ex = start_exposer(reg, &port);
  if (!ex) return 0;
  struct {
    const char* what;
    const char* key;
    const char* headers;
    int want_gzip;
  } cases[] = {
      {"0.0.4, identity", "text", "Accept: text/plain;version=0.0.4\r\n", 0},
      {"0.0.4, gzip", "text_gzip", "Accept: text/plain;version=0.0.4\r\nAccept-Encoding: gzip\r\n", 1},
  };
  std::printf("\n%zu series (%zu counters, %zu 10-bucket histograms), %d keep-alive scrapes per case\n", n,
              (n + 1) / 2, n / 2, reps);
  std::printf("%-26s %10s %10s %12s  %s\n", "form", "median ms", "p99 ms", "wire bytes", "served as");
  for (const auto& k : cases) {
    bench_http_conn c;
    if (bench_http_open_ex(&c, port, k.headers, nullptr, nullptr) != 0) {
      std::printf("%-26s could not connect\n", k.what);
      continue;
    }
    double med = 0, p99 = 0;
    size_t body = 0;
    int done = 0;
    int failed = bench_http_latency_on(&c, reps, 10.0, &med, &p99, &body, &done);
    std::printf("%-26s %10.3f %10.3f %12zu  %s%s%s\n", k.what, med, p99, body, c.last_type,
                c.last_gzip ? ", gzip" : "", c.last_gzip == k.want_gzip ? "" : "   <- NOT AS ASKED");
    if (failed > 0) std::printf("   (%d of %d scrapes failed)\n", failed, done + failed);
    std::printf("RESULT\tpromcpp\tscrape_%s_med_ms\t%.3f\n", k.key, med);
    std::printf("RESULT\tpromcpp\tscrape_%s_p99_ms\t%.3f\n", k.key, p99);
    std::printf("RESULT\tpromcpp\tscrape_%s_bytes\t%zu\n", k.key, body);
    bench_http_close(&c);
  }
  return 0;
}

static long rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) kb = std::atol(line + 6);
  if (f) std::fclose(f);
  return kb * 1024;
}

// "bench_promcpp series": what one series costs, as bench_series measures ours: BENCH_SERIES
// (100000) counters (then, in a second process, 10-bucket histograms) with labels {model, id}
// in one family: VmRSS growth per series, Family::Add and Family::Remove time.
static int series_one(bool hist, size_t n) {
  Registry reg;
  std::vector<void*> made(n);
  long before = rss_bytes();
  double t0 = bench_now_s();
  if (hist) {
    auto& f = BuildHistogram().Name("bench_series_histogram10").Help("series cost").Register(reg);
    for (size_t i = 0; i < n; i++) made[i] = &f.Add({{"model", "resnet50"}, {"id", std::to_string(i)}}, BOUNDS);
    double t_add = bench_now_s() - t0;
    long after = rss_bytes();
    for (size_t i = 0; i < n; i++) static_cast<Histogram*>(made[i])->Observe(0.3);
    // Family::Remove is a linear scan: time a sample of 1000 removals from the full family
    size_t k = n < 1000 ? n : 1000;
    t0 = bench_now_s();
    for (size_t i = 0; i < k; i++) f.Remove(static_cast<Histogram*>(made[n - 1 - i]));
    double t_rm = bench_now_s() - t0;
    std::printf("%-34s %12.0f %12.0f %12.0f\n", "histogram10", double(after - before) / double(n),
                t_add * 1e9 / double(n), t_rm * 1e9 / double(k));
    std::printf("RESULT\tpromcpp\tseries_histogram10_bytes\t%.0f\n", double(after - before) / double(n));
    std::printf("RESULT\tpromcpp\tseries_histogram10_new_ns\t%.0f\n", t_add * 1e9 / double(n));
    std::printf("RESULT\tpromcpp\tseries_histogram10_delete_ns\t%.0f\n", t_rm * 1e9 / double(k));
  } else {
    auto& f = BuildCounter().Name("bench_series_counter").Help("series cost").Register(reg);
    for (size_t i = 0; i < n; i++) made[i] = &f.Add({{"model", "resnet50"}, {"id", std::to_string(i)}});
    double t_add = bench_now_s() - t0;
    long after = rss_bytes();
    for (size_t i = 0; i < n; i++) static_cast<Counter*>(made[i])->Increment();
    size_t k = n < 1000 ? n : 1000;
    t0 = bench_now_s();
    for (size_t i = 0; i < k; i++) f.Remove(static_cast<Counter*>(made[n - 1 - i]));
    double t_rm = bench_now_s() - t0;
    std::printf("%-34s %12.0f %12.0f %12.0f\n", "counter", double(after - before) / double(n),
                t_add * 1e9 / double(n), t_rm * 1e9 / double(k));
    std::printf("RESULT\tpromcpp\tseries_counter_bytes\t%.0f\n", double(after - before) / double(n));
    std::printf("RESULT\tpromcpp\tseries_counter_new_ns\t%.0f\n", t_add * 1e9 / double(n));
    std::printf("RESULT\tpromcpp\tseries_counter_delete_ns\t%.0f\n", t_rm * 1e9 / double(k));
  }
  std::fflush(stdout);
  return 0;
}

static int series_main() {
  size_t n = bench_env_u64("BENCH_SERIES", 100000);
  std::printf("# prometheus-cpp: %zu series per family, labels {model, id}; VmRSS delta per series;\n"
              "# Family::Add with the Labels map built per call; Family::Remove timed on 1000 of them\n", n);
  std::printf("%-34s %12s %12s %12s\n", "series", "bytes/series", "new ns", "delete ns");
  std::fflush(stdout);
  for (int k = 0; k < 2; k++) {
    pid_t pid = fork();
    if (pid == 0) _exit(series_one(k == 1, n));
    int st = 0;
    waitpid(pid, &st, 0);
  }
  return 0;
}

// "bench_promcpp serve SECONDS": Exposer with 100 series, prints "PORT <n>", sleeps, exits.
static int serve_main(unsigned seconds) {
  auto reg = std::make_shared<Registry>();
  fill_registry(*reg, 100, "http");
  Exposer ex("127.0.0.1:0");
  ex.RegisterCollectable(reg);
  auto ports = ex.GetListeningPorts();
  std::printf("PORT %d\n", ports.empty() ? 0 : ports[0]);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  return 0;
}

int main(int argc, char** argv) {
  N = bench_env_u64("BENCH_N", 20000000);
  REPS = bench_env_u64("BENCH_REPS", 5);
  for (int k = 0; k < 64; k++) {
    int b = k % 11;
    VALS[k] = b < 10 ? BOUNDS[static_cast<size_t>(b)] * 0.9 : 7.5;
  }
  std::string mode = argc > 1 ? argv[1] : "record";
  if (mode == "record") return record_main();
  if (mode == "http") return http_main();
  if (mode == "series") return series_main();
  if (mode == "scrape") return scrape_main();
  if (mode == "serve" && argc > 2) return serve_main(static_cast<unsigned>(std::atoi(argv[2])));
  std::fprintf(stderr, "usage: %s record|http|series|scrape\n", argv[0]);
  return 2;
}

// Snippets that must NOT compile (tests/cpp/compile_fail.cmake compiles each CASE_* alone and
// checks the compiler's reason); CASE_ok must compile, so a broken include path cannot pass.
#include <infermetrics.hpp>

namespace im = infermetrics;

void snippet(im::CounterFamily& counters, im::GaugeFamily& gauges, im::HistogramFamily& histograms,
             im::Family& untyped) {
  im::Counter& c = counters.Add({{"model", "a"}});
  im::Gauge& g = gauges.Add({});
  im::Histogram& h = histograms.Add({}, {1, 2});
  (void)c;
  (void)g;
  (void)h;
  (void)untyped;
#if defined(CASE_ok)
  c.Increment();
  g.Set(1);
  h.Observe(1);
  counters.Add({{"model", "b"}}).Increment();  // a reference kept by the family: fine
  im::Counter kept = counters.metric({{"model", "c"}});
  kept.Increment();
  im::Metric m = untyped.metric();
  m.increment();
#elif defined(CASE_counter_observe)
  c.Observe(1);
#elif defined(CASE_counter_set)
  c.Set(1);
#elif defined(CASE_counter_decrement)
  c.Decrement();
#elif defined(CASE_gauge_observe)
  g.Observe(1);
#elif defined(CASE_histogram_increment)
  h.Increment();
#elif defined(CASE_histogram_set)
  h.Set(1);
#elif defined(CASE_histogram_add_without_buckets)
  histograms.Add({{"model", "a"}});
#elif defined(CASE_counter_add_with_buckets)
  counters.Add({{"model", "a"}}, {1, 2});
#elif defined(CASE_temporary_counter)
  counters.metric({{"model", "a"}}).Increment();  // the handle dies at the semicolon
#elif defined(CASE_temporary_metric)
  untyped.metric({{"model", "a"}}).increment();  // the trap, with the untyped API
#elif defined(CASE_temporary_histogram)
  histograms.metric({}, {1}).observe(2);
#else
#error "define one CASE_*"
#endif
}

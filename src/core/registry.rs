//! The process-wide registry of families (Triton's static `Metrics` singleton).
//!
//! Families are never unregistered (as in Triton): a name's kind and first description are
//! fixed for the life of the process; a family with no series is simply not printed.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};

use super::error::{Error, Result};
use super::family::{Family, FamilyHandle};
use super::fork;
use super::log;
use super::names::check_metric_name;
use super::text;
use super::Kind;

/// The environment variable that sets (and overrides) the per-family series limit.
pub const MAX_SERIES_ENV: &str = "INFERMETRICS_MAX_SERIES_PER_FAMILY";

static MAX_SERIES: AtomicU64 = AtomicU64::new(0);
/// Set when the limit came from the environment, which then wins over the C call.
static MAX_SERIES_FROM_ENV: AtomicU64 = AtomicU64::new(0);
static MAX_SERIES_ENV_READ: Once = Once::new();

fn read_max_series_env() {
    MAX_SERIES_ENV_READ.call_once(|| {
        let Ok(v) = std::env::var(MAX_SERIES_ENV) else {
            return;
        };
        match v.trim().parse::<u64>() {
            Ok(n) => {
                MAX_SERIES.store(n, Ordering::Relaxed);
                MAX_SERIES_FROM_ENV.store(1, Ordering::Relaxed);
                log::info(&format!(
                    "{}={}: at most {} series per metric family{}",
                    MAX_SERIES_ENV,
                    v,
                    n,
                    if n == 0 { " (0: no limit)" } else { "" }
                ));
            }
            Err(_) => log::warn(&format!(
                "{}='{}' is not a number of series; ignored (no limit unless set by code)",
                MAX_SERIES_ENV, v
            )),
        }
    });
}

/// The per-family series limit in force (0: none, the default, as in Triton).
#[inline]
pub fn max_series_per_family() -> u64 {
    read_max_series_env();
    MAX_SERIES.load(Ordering::Relaxed)
}

/// Sets the per-family series limit (0: none). The environment variable, when set, wins:
/// then this call changes nothing and logs so.
pub fn set_max_series_per_family(limit: u64) {
    read_max_series_env();
    if MAX_SERIES_FROM_ENV.load(Ordering::Relaxed) != 0 {
        log::info(&format!(
            "series limit {} from code ignored: {} is set and wins ({} series)",
            limit,
            MAX_SERIES_ENV,
            MAX_SERIES.load(Ordering::Relaxed)
        ));
        return;
    }
    MAX_SERIES.store(limit, Ordering::Relaxed);
}

/// Name of the self-metric counting creations refused by the series limit.
pub const REJECTED_FAMILY: &str = "nv_metric_series_rejected_total";

#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

/// Fork hook: the global registry's lock, then each family's locks.
fn hold_global() -> Box<dyn std::any::Any> {
    let inner = fork::lock(&Registry::global().inner);
    let families: Vec<Box<dyn std::any::Any>> = inner
        .order
        .iter()
        .map(|f| {
            // SAFETY: the global registry never drops a family, so it lives as long as the
            // process
            let f: &'static Family = unsafe { &*Arc::as_ptr(f) };
            f.hold_locks()
        })
        .collect();
    Box::new((inner, families))
}

#[derive(Default)]
struct Inner {
    by_name: HashMap<String, Arc<Family>>,
    order: Vec<Arc<Family>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The registry every C call uses.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            fork::hold_during_fork(hold_global);
            Registry::new()
        })
    }

    /// Opens (creating on first use) the family `name` of `kind` and returns a new handle on it.
    pub fn family(&self, kind: Kind, name: &str, help: &str) -> Result<FamilyHandle> {
        check_metric_name(name)?;
        if name == "_" && matches!(kind, Kind::Histogram | Kind::Summary) {
            // its samples would be `__bucket`, `__sum`, `__count`: names Prometheus reserves
            return Err(Error::invalid_arg(format!(
                "Invalid metric name '_' for a {}: its samples would be named __sum and __count, \
                 and names starting with '__' are reserved",
                kind.type_name()
            )));
        }
        let mut inner = fork::lock(&self.inner);
        if let Some(f) = inner.by_name.get(name) {
            if f.kind() != kind {
                return Err(Error::invalid_arg(format!(
                    "Family name already exists with different type: '{}' is a {}, not a {}",
                    name,
                    f.kind().type_name(),
                    kind.type_name()
                )));
            }
            return Ok(FamilyHandle::new(Arc::clone(f)));
        }
        let f = Arc::new(Family::new(kind, name, help));
        inner.by_name.insert(name.to_owned(), Arc::clone(&f));
        inner.order.push(Arc::clone(&f));
        Ok(FamilyHandle::new(f))
    }

    /// Looks a family up by name (not for hot paths).
    pub fn get(&self, name: &str) -> Option<Arc<Family>> {
        fork::lock(&self.inner).by_name.get(name).cloned()
    }

    /// Renders every non-empty family: counters, then gauges, then histograms, then
    /// summaries (Triton's order), each kind in registration order; then, once the series limit has refused a
    /// creation, `nv_metric_series_rejected_total{family}`. Recording never waits on this,
    /// and creation or deletion waits at most for one chunk of a family (see `Family::render`).
    pub fn render(&self, out: &mut String) {
        self.render_as(out, text::Format::Prometheus)
    }

    /// As [`Registry::render`], in `format`. The OpenMetrics `# EOF` line is not written
    /// here: it ends a whole exposition (see `Exposition::render_as`, which a registry-only
    /// exposition also goes through).
    pub fn render_as(&self, out: &mut String, format: text::Format) {
        self.render_into(&mut text::Writer::new(out, format));
    }

    /// As [`Registry::render_as`], into an exposition being written.
    pub fn render_into(&self, w: &mut text::Writer<'_>) {
        let families: Vec<Arc<Family>> = fork::lock(&self.inner).order.clone();
        for kind in [Kind::Counter, Kind::Gauge, Kind::Histogram, Kind::Summary] {
            for f in families.iter().filter(|f| f.kind() == kind) {
                f.render_into(w);
            }
        }
        // a user family of the same name wins: a family is never printed twice
        if families
            .iter()
            .any(|f| f.name() == REJECTED_FAMILY && f.series_count() > 0)
        {
            return;
        }
        let mut header = false;
        for f in families.iter().filter(|f| f.rejected() > 0) {
            if !header {
                if !w.family(
                    REJECTED_FAMILY,
                    "Metric creations refused because the family was at its series limit",
                    "counter",
                ) {
                    return;
                }
                header = true;
            }
            let (stem, suffix) = w.counter_sample(REJECTED_FAMILY);
            let body = text::render_label_body(&[("family", f.name())]);
            text::push_sample_prefix(w.out, stem, suffix, &body, None);
            text::push_f64(w.out, f.rejected() as f64);
            w.out.push('\n');
        }
    }

    pub fn render_to_string(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::family::MetricArgs;

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn exact_identity_no_collisions() {
        let r = Registry::new();
        let f = r.family(Kind::Counter, "c", "help").unwrap();
        let m1 = f.new_metric(&l(&[("a", "ab"), ("b", "c")]), None).unwrap();
        let m2 = f.new_metric(&l(&[("a", "a"), ("b", "bc")]), None).unwrap();
        m1.series().increment(1.0).unwrap();
        assert_eq!(m2.series().value().unwrap(), 0.0);
        assert_eq!(f.family().series_count(), 2);
    }

    #[test]
    fn shared_series_refcounted_across_handles() {
        let r = Registry::new();
        let f1 = r.family(Kind::Gauge, "g", "first").unwrap();
        let f2 = r.family(Kind::Gauge, "g", "second").unwrap();
        assert_eq!(f2.family().help(), "first");
        let m1 = f1.new_metric(&l(&[("x", "1")]), None).unwrap();
        let m2 = f2.new_metric(&l(&[("x", "1")]), None).unwrap();
        m1.series().set(7.5).unwrap();
        assert_eq!(m2.series().value().unwrap(), 7.5);
        drop(m1);
        assert!(r.render_to_string().contains("g{x=\"1\"} 7.5\n"));
        drop(m2);
        assert_eq!(r.render_to_string(), "");
        assert!(r.family(Kind::Counter, "g", "").is_err());
    }

    #[test]
    fn histogram_text() {
        let r = Registry::new();
        let f = r.family(Kind::Histogram, "h", "lat").unwrap();
        let args = MetricArgs::histogram(&[0.1, 1.0, 2.5, 5.0, 10.0]);
        let m = f
            .new_metric(&l(&[("example2", "l2"), ("example1", "l1")]), Some(&args))
            .unwrap();
        for v in [0.05, 1.5, 6.0] {
            m.series().observe(v).unwrap();
        }
        let t = r.render_to_string();
        let expect = "# HELP h lat\n# TYPE h histogram\n\
h_bucket{example1=\"l1\",example2=\"l2\",le=\"0.1\"} 1\n\
h_bucket{example1=\"l1\",example2=\"l2\",le=\"1\"} 1\n\
h_bucket{example1=\"l1\",example2=\"l2\",le=\"2.5\"} 2\n\
h_bucket{example1=\"l1\",example2=\"l2\",le=\"5\"} 2\n\
h_bucket{example1=\"l1\",example2=\"l2\",le=\"10\"} 3\n\
h_bucket{example1=\"l1\",example2=\"l2\",le=\"+Inf\"} 3\n\
h_sum{example1=\"l1\",example2=\"l2\"} 7.55\n\
h_count{example1=\"l1\",example2=\"l2\"} 3\n";
        assert_eq!(t, expect);
        assert!(f.new_metric(&l(&[("le", "1")]), Some(&args)).is_err());
        assert!(f
            .new_metric(&l(&[("a", "1"), ("a", "2")]), Some(&args))
            .is_err());
        assert!(f.check_can_delete().is_err());
        drop(m);
        assert!(f.check_can_delete().is_ok());
    }

    #[test]
    fn summary_text() {
        use crate::core::SummaryArgs;
        let r = Registry::new();
        let f = r.family(Kind::Summary, "s_us", "lat").unwrap();
        assert!(f.new_metric(&l(&[("m", "a")]), None).is_err());
        assert!(f
            .new_metric(&l(&[("m", "a")]), Some(&MetricArgs::histogram(&[1.0])))
            .is_err());
        let args = MetricArgs::summary(SummaryArgs::new(&[0.5, 0.9], &[0.05, 0.01], 0, 0).unwrap());
        assert!(f.new_metric(&l(&[("quantile", "1")]), Some(&args)).is_err());
        let m = f.new_metric(&l(&[("m", "a")]), Some(&args)).unwrap();
        assert!(m.series().value().is_err());
        assert!(m.series().increment(1.0).is_err());
        assert!(m.series().set(1.0).is_err());
        assert!(m.series().observe(f64::NAN).is_err());
        let t = r.render_to_string();
        assert_eq!(
            t,
            "# HELP s_us lat\n# TYPE s_us summary\n\
s_us{m=\"a\",quantile=\"0.5\"} NaN\ns_us{m=\"a\",quantile=\"0.9\"} NaN\n\
s_us_sum{m=\"a\"} 0\ns_us_count{m=\"a\"} 0\n"
        );
        for v in 1..=10 {
            m.series().observe(v as f64).unwrap();
        }
        let t = r.render_to_string();
        assert!(t.contains("s_us{m=\"a\",quantile=\"0.5\"} 5\n"), "{}", t);
        assert!(t.contains("s_us{m=\"a\",quantile=\"0.9\"} 9\n"), "{}", t);
        assert!(
            t.contains("s_us_sum{m=\"a\"} 55\ns_us_count{m=\"a\"} 10\n"),
            "{}",
            t
        );
        drop(m);
        assert_eq!(r.render_to_string(), "");
    }

    #[test]
    fn empty_label_value_is_absent() {
        let r = Registry::new();
        let f = r.family(Kind::Gauge, "el", "h").unwrap();
        let a = f.new_metric(&l(&[("a", "")]), None).unwrap();
        let b = f.new_metric(&[] as &[(&str, &str)], None).unwrap();
        let c = f.new_metric(&l(&[("a", ""), ("b", "x")]), None).unwrap();
        let d = f.new_metric(&l(&[("b", "x")]), None).unwrap();
        a.series().set(3.0).unwrap();
        assert_eq!(b.series().value().unwrap(), 3.0);
        c.series().set(4.0).unwrap();
        assert_eq!(d.series().value().unwrap(), 4.0);
        assert_eq!(f.family().series_count(), 2);
        assert_eq!(
            r.render_to_string(),
            "# HELP el h\n# TYPE el gauge\nel 3\nel{b=\"x\"} 4\n"
        );
        // a name given twice is still an error, even when one value is empty
        assert!(f.new_metric(&l(&[("a", ""), ("a", "y")]), None).is_err());
    }

    #[test]
    fn chunked_render_prints_every_series_once_in_order() {
        let r = Registry::new();
        let f = r.family(Kind::Counter, "many", "").unwrap();
        let n = crate::core::family::RENDER_CHUNK * 3 + 7;
        let ms: Vec<_> = (0..n)
            .map(|i| {
                f.new_metric(&l(&[("id", &format!("{:06}", i))]), None)
                    .unwrap()
            })
            .collect();
        let t = r.render_to_string();
        let lines: Vec<&str> = t.lines().filter(|x| !x.starts_with('#')).collect();
        assert_eq!(lines.len(), n);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(*line, format!("many{{id=\"{:06}\"}} 0", i));
        }
        assert_eq!(t.matches("# TYPE many counter").count(), 1);
        drop(ms);
        assert_eq!(r.render_to_string(), "");
    }

    #[test]
    fn underscore_histogram_would_print_reserved_names() {
        let r = Registry::new();
        assert!(r.family(Kind::Histogram, "_", "").is_err());
        assert!(r.family(Kind::Summary, "_", "").is_err());
        assert!(r.family(Kind::Counter, "_", "").is_ok());
        assert!(r.family(Kind::Histogram, "_x", "").is_ok());
    }

    fn om(r: &Registry) -> String {
        let mut s = String::new();
        let mut w = text::Writer::new(&mut s, text::Format::OpenMetrics);
        r.render_into(&mut w);
        w.finish();
        s
    }

    #[test]
    fn openmetrics_text_every_kind() {
        use crate::core::{Exemplar, SummaryArgs};
        let r = Registry::new();
        let c = r
            .family(Kind::Counter, "req", "Requests \"served\"\\n")
            .unwrap();
        let c = c.new_metric(&l(&[("m", "a\"b")]), None).unwrap();
        c.series().increment(3.0).unwrap();
        let ct = r.family(Kind::Counter, "cpu_seconds_total", "").unwrap();
        let ct = ct.new_metric(&[] as &[(&str, &str)], None).unwrap();
        ct.series().increment(1.5).unwrap();
        let g = r.family(Kind::Gauge, "temp_celsius", "t").unwrap();
        let g = g.new_metric(&[] as &[(&str, &str)], None).unwrap();
        g.series().set(-4.0).unwrap();
        let h = r.family(Kind::Histogram, "lat_seconds", "").unwrap();
        let h = h
            .new_metric(&l(&[("m", "x")]), Some(&MetricArgs::histogram(&[0.1, 1.0])))
            .unwrap();
        h.series().observe(0.5).unwrap();
        let s = r.family(Kind::Summary, "sz_bytes", "").unwrap();
        let args = MetricArgs::summary(SummaryArgs::new(&[0.5], &[0.05], 0, 0).unwrap());
        let s = s.new_metric(&[] as &[(&str, &str)], Some(&args)).unwrap();
        s.series().observe(7.0).unwrap();
        let before = r.render_to_string();
        let t = om(&r);
        assert_eq!(
            t,
            "# HELP req Requests \\\"served\\\"\\\\n\n# TYPE req counter\n\
req_total{m=\"a\\\"b\"} 3\n\
# TYPE cpu_seconds counter\n# UNIT cpu_seconds seconds\ncpu_seconds_total 1.5\n\
# HELP temp_celsius t\n# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\ntemp_celsius -4\n\
# TYPE lat_seconds histogram\n# UNIT lat_seconds seconds\n\
lat_seconds_bucket{m=\"x\",le=\"0.1\"} 0\nlat_seconds_bucket{m=\"x\",le=\"1\"} 1\n\
lat_seconds_bucket{m=\"x\",le=\"+Inf\"} 1\nlat_seconds_sum{m=\"x\"} 0.5\nlat_seconds_count{m=\"x\"} 1\n\
# TYPE sz_bytes summary\n# UNIT sz_bytes bytes\n\
sz_bytes{quantile=\"0.5\"} 7\nsz_bytes_sum 7\nsz_bytes_count 1\n# EOF\n"
        );
        // exemplars: OpenMetrics only, on the counter and on the bucket the value fell in
        let e = |v| Exemplar::new(&mut [("trace_id", "abc")], v).unwrap();
        c.series().increment_with_exemplar(2.0, e(2.0)).unwrap();
        h.series().observe_with_exemplar(3.0, e(3.0)).unwrap();
        let t = om(&r);
        let line = t.lines().find(|x| x.starts_with("req_total")).unwrap();
        assert!(
            line.starts_with("req_total{m=\"a\\\"b\"} 5 # {trace_id=\"abc\"} 2 1"),
            "{}",
            line
        );
        let line = t.lines().find(|x| x.contains("le=\"+Inf\"")).unwrap();
        assert!(
            line.starts_with("lat_seconds_bucket{m=\"x\",le=\"+Inf\"} 2 # {trace_id=\"abc\"} 3 ")
        );
        assert_eq!(t.matches(" # {").count(), 2, "{}", t);
        let plain = r.render_to_string();
        assert!(!plain.contains('#') || !plain.contains(" # {"), "{}", plain);
        assert!(!plain.contains("trace_id"));
        // 0.0.4 differs from before only by the new values
        assert_eq!(plain.lines().count(), before.lines().count());
        // errors record nothing
        assert!(c.series().increment_with_exemplar(-1.0, e(-1.0)).is_err());
        assert!(g.series().increment_with_exemplar(1.0, e(1.0)).is_err());
        assert!(h.series().increment_with_exemplar(1.0, e(1.0)).is_err());
        assert!(c.series().observe_with_exemplar(1.0, e(1.0)).is_err());
        let err = s.series().observe_with_exemplar(1.0, e(1.0)).unwrap_err();
        assert!(err.message.contains("summaries"), "{}", err.message);
        assert!(h.series().observe_with_exemplar(f64::NAN, e(1.0)).is_err());
        assert_eq!(c.series().value().unwrap(), 5.0);
        assert_eq!(h.series().snapshot().count(), 2);
        assert_eq!(g.series().value().unwrap(), -4.0);
    }

    #[test]
    fn openmetrics_negative_sums_and_clashes() {
        let r = Registry::new();
        let h = r.family(Kind::Histogram, "neg", "").unwrap();
        let h = h
            .new_metric(
                &[] as &[(&str, &str)],
                Some(&MetricArgs::histogram(&[-1.0, 1.0])),
            )
            .unwrap();
        h.series().observe(-3.0).unwrap();
        let a = r.family(Kind::Counter, "dup", "").unwrap();
        let a = a.new_metric(&[] as &[(&str, &str)], None).unwrap();
        let b = r.family(Kind::Counter, "dup_total", "").unwrap();
        let b = b.new_metric(&[] as &[(&str, &str)], None).unwrap();
        a.series().increment(1.0).unwrap();
        b.series().increment(2.0).unwrap();
        let t = om(&r);
        assert!(!t.contains("neg_sum") && !t.contains("neg_count"), "{}", t);
        assert!(t.contains("neg_bucket{le=\"+Inf\"} 1\n"));
        // the first of the clashing counters is written, the second left out
        assert_eq!(t.matches("# TYPE dup counter").count(), 1, "{}", t);
        assert!(
            t.contains("dup_total 1\n") && !t.contains("dup_total 2"),
            "{}",
            t
        );
        let plain = r.render_to_string();
        assert!(plain.contains("neg_sum -3\n") && plain.contains("dup_total 2\n"));
        drop((a, b, h));
    }

    #[test]
    fn deleting_a_series_frees_its_exemplars() {
        use crate::core::Exemplar;
        let r = Registry::new();
        let f = r.family(Kind::Histogram, "hx", "").unwrap();
        let args = MetricArgs::histogram(&[1.0, 2.0]);
        let m = f.new_metric(&[] as &[(&str, &str)], Some(&args)).unwrap();
        let bytes = m.series().allocated_bytes();
        assert!(!m.series().has_exemplars());
        let e = Exemplar::new(&mut [("t", "1")], 1.5).unwrap();
        m.series().observe_with_exemplar(1.5, e).unwrap();
        assert!(m.series().has_exemplars());
        assert!(m.series().allocated_bytes() > bytes);
        assert_eq!(m.series().with_exemplar(1, |e| e.value), Some(1.5));
        assert_eq!(m.series().with_exemplar(0, |e| e.value), None);
        drop(m); // frees the slots and the exemplar (checked under the sanitizers / Miri)
        assert_eq!(r.render_to_string(), "");
    }
}

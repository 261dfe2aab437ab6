//! One time series' value cell: the only thing the recording hot path touches.
//!
//! The cells are built on `prometheus::core::AtomicF64` / `AtomicU64` (lock-free CAS on the
//! bit pattern of a double). The `prometheus` crate's higher-level types are deliberately not
//! used, because of three pitfalls our contract forbids:
//!  - `MetricVec::with_label_values` identifies a series by a hash of the values without
//!    comparing them, so `["ab","c"]` and `["a","bc"]` can collide; our families key series by
//!    the exact sorted label pairs (`family.rs`).
//!  - a float `Counter::inc_by` silently accepts negative values; `Series::increment` rejects
//!    negative and NaN increments of a counter.
//!  - `TextEncoder` writes `inf` rather than `+Inf`; `text.rs` writes canonical 0.0.4 text.
use prometheus::core::{Atomic, AtomicF64, AtomicU64};

use super::error::{Error, Result};
use super::Kind;

/// A histogram cell: one atomic counter per bucket (not cumulative), plus the sum.
///
/// `_count` is not stored: a snapshot derives it from the bucket counts it read, so the `+Inf`
/// bucket always equals `_count` in every snapshot, and `observe` costs two atomic operations.
pub struct Histogram {
    bounds: Box<[f64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
}

/// A consistent read of a histogram.
pub struct HistogramSnapshot<'a> {
    pub bounds: &'a [f64],
    /// Per-bucket counts (not cumulative); the last is the implicit `+Inf` bucket.
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl HistogramSnapshot<'_> {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl Histogram {
    /// `bounds` must already be validated (`validate_buckets`).
    pub fn new(bounds: Vec<f64>) -> Histogram {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            bounds: bounds.into_boxed_slice(),
            counts,
            sum: AtomicF64::new(0.0),
        }
    }

    #[inline]
    pub fn observe(&self, v: f64) {
        // first bucket whose upper bound is >= v; values above every bound go to +Inf. With
        // sorted bounds that is the number of bounds below v: a branch-free count (no
        // mispredicted exit from a scan) for the usual short lists
        let i = if self.bounds.len() <= 16 {
            self.bounds.iter().map(|b| usize::from(*b < v)).sum()
        } else {
            self.bounds.partition_point(|b| *b < v)
        };
        self.counts[i].inc_by(1);
        self.sum.inc_by(v);
    }

    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    pub fn snapshot(&self) -> HistogramSnapshot<'_> {
        HistogramSnapshot {
            bounds: &self.bounds,
            counts: self.counts.iter().map(|c| c.get()).collect(),
            sum: self.sum.get(),
        }
    }
}

/// Checks histogram bucket boundaries: finite (NaN and -Inf rejected) and strictly
/// increasing; a trailing `+Inf` is the implicit bucket and is dropped; empty is allowed.
pub fn validate_buckets(buckets: &[f64]) -> Result<Vec<f64>> {
    let mut b = buckets.to_vec();
    if b.last() == Some(&f64::INFINITY) {
        b.pop();
    }
    for (i, v) in b.iter().enumerate() {
        if !v.is_finite() {
            return Err(Error::invalid_arg(format!(
                "Bucket boundary {} at index {} is not a finite number (only a trailing +Inf is allowed)",
                v, i
            )));
        }
        if i > 0 && b[i - 1] >= *v {
            return Err(Error::invalid_arg(format!(
                "Bucket Boundaries must be strictly sorted: boundary {} at index {} is not greater than {} at index {}",
                v,
                i,
                b[i - 1],
                i - 1
            )));
        }
    }
    Ok(b)
}

/// The value cell of one series.
pub enum Series {
    Counter(AtomicF64),
    Gauge(AtomicF64),
    Histogram(Histogram),
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "INFERMETRICS_METRIC_KIND_COUNTER",
        Kind::Gauge => "INFERMETRICS_METRIC_KIND_GAUGE",
        Kind::Histogram => "INFERMETRICS_METRIC_KIND_HISTOGRAM",
    }
}

#[cold]
fn not_supported(kind: Kind, op: &str) -> Error {
    Error::unsupported(format!("{} does not support {}", kind_name(kind), op))
}

impl Series {
    pub fn new(kind: Kind, buckets: Option<Vec<f64>>) -> Series {
        match kind {
            Kind::Counter => Series::Counter(AtomicF64::new(0.0)),
            Kind::Gauge => Series::Gauge(AtomicF64::new(0.0)),
            Kind::Histogram => Series::Histogram(Histogram::new(buckets.unwrap_or_default())),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Series::Counter(_) => Kind::Counter,
            Series::Gauge(_) => Kind::Gauge,
            Series::Histogram(_) => Kind::Histogram,
        }
    }

    #[inline]
    pub fn increment(&self, v: f64) -> Result<()> {
        match self {
            // `!(v >= 0.0)` is true for negatives and NaN alike
            Series::Counter(c) if v >= 0.0 => Ok(c.inc_by(v)),
            Series::Counter(_) => Err(Error::invalid_arg(format!(
                "INFERMETRICS_METRIC_KIND_COUNTER can only be incremented monotonically by non-negative values (got {})",
                v
            ))),
            Series::Gauge(g) => Ok(g.inc_by(v)),
            Series::Histogram(_) => Err(not_supported(self.kind(), "Increment")),
        }
    }

    #[inline]
    pub fn set(&self, v: f64) -> Result<()> {
        match self {
            Series::Gauge(g) => Ok(g.set(v)),
            _ => Err(not_supported(self.kind(), "Set")),
        }
    }

    #[inline]
    pub fn observe(&self, v: f64) -> Result<()> {
        match self {
            Series::Histogram(h) if !v.is_nan() => Ok(h.observe(v)),
            Series::Histogram(_) => Err(Error::invalid_arg(
                "INFERMETRICS_METRIC_KIND_HISTOGRAM cannot observe NaN (it would turn _sum into NaN for good)",
            )),
            _ => Err(not_supported(self.kind(), "Observe")),
        }
    }

    pub fn value(&self) -> Result<f64> {
        match self {
            Series::Counter(c) | Series::Gauge(c) => Ok(c.get()),
            Series::Histogram(_) => Err(not_supported(self.kind(), "Value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn buckets() {
        assert_eq!(validate_buckets(&[]).unwrap(), Vec::<f64>::new());
        assert_eq!(
            validate_buckets(&[1.0, 2.0, f64::INFINITY]).unwrap(),
            vec![1.0, 2.0]
        );
        assert!(validate_buckets(&[2.5, 0.1]).is_err());
        assert!(validate_buckets(&[1.0, 1.0]).is_err());
        assert!(validate_buckets(&[f64::NAN]).is_err());
        assert!(validate_buckets(&[f64::NEG_INFINITY, 1.0]).is_err());
        assert!(validate_buckets(&[-1.0, 0.0, 1.0, 2.5]).is_ok());
    }
    #[test]
    fn histogram_observe() {
        let h = Histogram::new(vec![0.1, 1.0, 2.5, 5.0, 10.0]);
        for v in [0.05, 1.5, 6.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.counts, vec![1, 0, 1, 0, 1, 0]);
        assert_eq!(s.count(), 3);
        assert!((s.sum - 7.55).abs() < 1e-12);
        // boundary value goes in its own bucket (v <= bound)
        h.observe(1.0);
        assert_eq!(h.snapshot().counts[1], 1);
    }
    #[test]
    fn counter_rules() {
        let c = Series::new(Kind::Counter, None);
        assert!(c.increment(-1.0).is_err());
        assert!(c.increment(f64::NAN).is_err());
        c.increment(1729.0).unwrap();
        assert_eq!(c.value().unwrap(), 1729.0);
        assert_eq!(
            c.set(1.0).unwrap_err().code,
            super::super::Code::Unsupported
        );
    }
}

//! One time series in one allocation: a small header, the value cells, and the label body.
//!
//! ```text
//!  counter / gauge:  [Header 16][value 8][stripes 8][exemplars 8][label body ...]
//!  histogram:        [Header 16][sum 8][stripes 8][exemplars 8][bounds Arc 16][count × buckets+1][label body ...]
//!  summary:          [Header 16][state Arc 8][label body ...]
//! ```
//! A summary's buffer and window live in its [`SummaryState`](super::summary) (allocated
//! apart because the summary thread shares it).
//! The label body is the pre-rendered inside of `{...}` (`id="7",model="resnet50"`): it is
//! the series' identity in its family (labels sorted by name, values escaped, so two label
//! sets have the same body exactly when they are the same set) and the text a scrape prints.
//! A counter series with labels `{model, id}` costs one allocation of ~88 bytes.
//! `exemplars` is null until the first exemplar call; then it points to the series' exemplar
//! slots (see [`super::exemplar`]), which only the exemplar calls and the renders touch.
//!
//! **Recording** touches only the cells: a counter is one compare-and-swap on the bits of a
//! double. When that CAS fails because another thread got there first (contention), the
//! series grows a set of cache-line-padded stripes, one per CPU (rounded up to a power of
//! two), and from then on each thread adds to its own stripe (the idea of Java's
//! `LongAdder`, which the Java Prometheus client uses); a read sums the cells. A series
//! nobody contends never grows. Gauges stay one atomic (a `Set` cannot be striped).
//! Histograms count with `fetch_add` on the bucket and CAS-add the sum; a failed sum CAS
//! grows stripes (each a padded copy of sum and counts) the same way.
//!
//! The cells are the `prometheus` crate's idea (an f64 in an `AtomicU64`) written out here,
//! because of three pitfalls of its higher-level types our contract forbids:
//!  - `MetricVec::with_label_values` identifies a series by a hash of the values without
//!    comparing them, so `["ab","c"]` and `["a","bc"]` can collide; our bodies are exact;
//!  - a float `Counter::inc_by` silently accepts negative values; we refuse negative and NaN;
//!  - `TextEncoder` writes `inf` rather than `+Inf`; `text.rs` writes canonical 0.0.4 text.
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::mem::{size_of, ManuallyDrop};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::error::{Error, Result};
use super::exemplar::{self, Exemplar};
use super::summary::{SummaryArgs, SummarySnapshot, SummaryState};
use super::Kind;

#[repr(C)]
struct Header {
    /// Handles on this series; changed only under the family's lock.
    refs: AtomicU32,
    body_len: u32,
    kind: u8,
    _pad: [u8; 3],
    /// Histogram: number of count cells (bounds + 1, the last is +Inf); else 0.
    cells: u32,
}

#[repr(C)]
struct Scalar {
    hdr: Header,
    value: AtomicU64,
    stripes: AtomicPtr<AtomicU64>,
    /// A counter's exemplar slot (one), allocated by the first exemplar call.
    exemplars: AtomicPtr<exemplar::Slot>,
}

#[repr(C)]
struct Hist {
    hdr: Header,
    sum: AtomicU64,
    stripes: AtomicPtr<AtomicU64>,
    /// One exemplar slot per bucket (`cells`), allocated by the first exemplar call.
    exemplars: AtomicPtr<exemplar::Slot>,
    bounds: ManuallyDrop<Arc<[f64]>>,
    // then `cells` AtomicU64 counts, then the body
}

#[repr(C)]
struct Summ {
    hdr: Header,
    state: ManuallyDrop<Arc<SummaryState>>,
}

/// Bytes between stripes: two cache lines, so adjacent-line prefetch does not pair them.
const STRIPE_ALIGN: usize = 128;

pub(crate) fn stripe_count() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    match N.load(Ordering::Relaxed) {
        0 => {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            let n = cpus.next_power_of_two().clamp(2, 64);
            N.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// This thread's stripe (threads are numbered in the order they first record under
/// contention, so two busy threads get different stripes).
#[inline]
pub(crate) fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    let i = INDEX.with(|c| match c.get() {
        usize::MAX => {
            let v = NEXT.fetch_add(1, Ordering::Relaxed);
            c.set(v);
            v
        }
        v => v,
    });
    i & (stripe_count() - 1)
}

#[inline]
fn cas_add(a: &AtomicU64, v: f64) {
    let mut cur = a.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(cur) + v).to_bits();
        match a.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => cur = now,
        }
    }
}

/// Words per stripe for `words` cells, a multiple of STRIPE_ALIGN bytes.
fn stripe_words(words: usize) -> usize {
    (words * 8).div_ceil(STRIPE_ALIGN) * STRIPE_ALIGN / 8
}

fn stripes_layout(words: usize) -> Layout {
    Layout::from_size_align(stripe_count() * stripe_words(words) * 8, STRIPE_ALIGN)
        .expect("stripe layout")
}

/// Installs the stripes of a series (zeroed), or returns the ones another thread installed.
#[cold]
fn grow(slot: &AtomicPtr<AtomicU64>, words: usize) -> *mut AtomicU64 {
    // SAFETY: all-zero bits are valid AtomicU64s (0.0 and 0)
    unsafe { install_zeroed(slot, stripes_layout(words)) }
}

/// Allocates a zeroed block of `layout` and publishes it in `slot` if the slot is still
/// null; returns the block in the slot (ours, or the one another thread published first),
/// or null when the allocation failed.
///
/// # Safety
/// All-zero bytes must be a valid `T` block, and every block ever published in `slot` must
/// have this `layout` (a losing block is freed with it).
pub(crate) unsafe fn install_zeroed<T>(slot: &AtomicPtr<T>, layout: Layout) -> *mut T {
    let fresh = alloc_zeroed(layout) as *mut T;
    if fresh.is_null() {
        return fresh;
    }
    match slot.compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => fresh,
        Err(theirs) => {
            // allocated above with `layout`, never published
            dealloc(fresh as *mut u8, layout);
            theirs
        }
    }
}

/// The words of one stripe.
///
/// # Safety
/// `base` is a stripes block for `words` cells.
unsafe fn stripe<'a>(base: *mut AtomicU64, words: usize, index: usize) -> &'a [AtomicU64] {
    std::slice::from_raw_parts(base.add(index * stripe_words(words)), words)
}

/// Checks histogram bucket boundaries: finite (NaN and -Inf rejected) and strictly
/// increasing; a trailing `+Inf` is the implicit bucket and is dropped; empty is allowed.
/// Returns the bounds to use, borrowed (no allocation).
pub fn validate_buckets(buckets: &[f64]) -> Result<&[f64]> {
    let b = match buckets.last() {
        Some(&f64::INFINITY) => &buckets[..buckets.len() - 1],
        _ => buckets,
    };
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

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "INFERMETRICS_METRIC_KIND_COUNTER",
        Kind::Gauge => "INFERMETRICS_METRIC_KIND_GAUGE",
        Kind::Histogram => "INFERMETRICS_METRIC_KIND_HISTOGRAM",
        Kind::Summary => "INFERMETRICS_METRIC_KIND_SUMMARY",
    }
}

#[cold]
#[inline(never)]
fn not_supported(kind: Kind, op: &str) -> Error {
    Error::unsupported(format!("{} does not support {}", kind_name(kind), op))
}

#[cold]
#[inline(never)]
fn negative_increment(v: f64) -> Error {
    Error::invalid_arg(format!(
        "INFERMETRICS_METRIC_KIND_COUNTER can only be incremented monotonically by non-negative values (got {})",
        v
    ))
}

#[cold]
#[inline(never)]
fn nan_observation(kind: Kind) -> Error {
    Error::invalid_arg(format!(
        "{} cannot observe NaN (it would turn _sum into NaN for good)",
        kind_name(kind)
    ))
}

/// The bucket `v` falls in: the first whose upper bound is >= v (+Inf when none). With
/// sorted bounds that is the number of bounds below v; a branch-free count for the usual
/// short lists.
#[inline(always)]
fn bucket_of(bounds: &[f64], v: f64) -> usize {
    if bounds.len() <= 16 {
        bounds.iter().map(|b| usize::from(*b < v)).sum()
    } else {
        bounds.partition_point(|b| *b < v)
    }
}

#[cold]
#[inline(never)]
fn no_exemplars(kind: Kind, op: &str) -> Error {
    let why = match kind {
        Kind::Summary => {
            "OpenMetrics has no exemplars on summaries: use a histogram, or \
             INFERMETRICS_MetricObserve without an exemplar"
        }
        Kind::Gauge => "exemplars belong to counters and histograms only",
        _ => {
            "exemplars are recorded with IncrementWithExemplar on counters and \
              ObserveWithExemplar on histograms"
        }
    };
    Error::unsupported(format!(
        "{} does not support {}: {}",
        kind_name(kind),
        op,
        why
    ))
}

fn kind_of(k: u8) -> Kind {
    match k {
        0 => Kind::Counter,
        1 => Kind::Gauge,
        2 => Kind::Histogram,
        _ => Kind::Summary,
    }
}

/// A series: a pointer to its allocation. Copy; the family's map and each handle refer to
/// it; it is freed by [`Series::free`] when the family drops its last handle.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Series(NonNull<Header>);

// SAFETY: every mutable field is atomic; the body, kind and bounds never change
unsafe impl Send for Series {}
unsafe impl Sync for Series {}

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

impl Series {
    fn layout(kind: Kind, cells: usize, body_len: usize) -> (Layout, usize) {
        let fixed = match kind {
            Kind::Histogram => size_of::<Hist>() + cells * 8,
            Kind::Summary => size_of::<Summ>(),
            _ => size_of::<Scalar>(),
        };
        let layout = Layout::from_size_align(fixed + body_len, 8).expect("series layout");
        (layout, fixed)
    }

    /// A new summary series (empty window) with one reference.
    pub fn new_summary(body: &str, args: Arc<SummaryArgs>) -> Series {
        let series = Series::new(Kind::Summary, body, None);
        // SAFETY: a fresh summary allocation; its state field is written once, before use
        unsafe {
            std::ptr::write(
                std::ptr::addr_of_mut!((*(series.0.as_ptr() as *mut Summ)).state),
                ManuallyDrop::new(SummaryState::new(args)),
            );
        }
        series
    }

    /// A new series at 0 with one reference; `bounds` for histograms (validated). A summary
    /// is made with [`Series::new_summary`].
    pub fn new(kind: Kind, body: &str, bounds: Option<Arc<[f64]>>) -> Series {
        let cells = match (&bounds, kind) {
            (Some(b), Kind::Histogram) => b.len() + 1,
            (None, Kind::Histogram) => 1,
            _ => 0,
        };
        let (layout, body_at) = Series::layout(kind, cells, body.len());
        // SAFETY: the layout is non-zero; every field is written below before use (the
        // zeroed cells are valid atomics at 0 / 0.0)
        unsafe {
            let p = alloc_zeroed(layout);
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            let hdr = p as *mut Header;
            (*hdr).refs = AtomicU32::new(1);
            (*hdr).body_len = body.len() as u32;
            (*hdr).kind = kind as u8;
            (*hdr).cells = cells as u32;
            if kind == Kind::Histogram {
                let bounds = bounds.unwrap_or_else(|| Arc::from(Vec::new()));
                std::ptr::write(
                    std::ptr::addr_of_mut!((*(p as *mut Hist)).bounds),
                    ManuallyDrop::new(bounds),
                );
            }
            std::ptr::copy_nonoverlapping(body.as_ptr(), p.add(body_at), body.len());
            Series(NonNull::new_unchecked(hdr))
        }
    }

    /// Frees the series.
    ///
    /// # Safety
    /// Nothing refers to it any more (its family removed it, its last handle is gone).
    pub unsafe fn free(self) {
        let kind = self.kind();
        let cells = self.hdr().cells as usize;
        let (layout, _) = Series::layout(kind, cells, self.hdr().body_len as usize);
        let p = self.0.as_ptr() as *mut u8;
        match kind {
            Kind::Histogram => {
                let h = &mut *(p as *mut Hist);
                let s = *h.stripes.get_mut();
                if !s.is_null() {
                    dealloc(s as *mut u8, stripes_layout(cells + 1));
                }
                let e = *h.exemplars.get_mut();
                if !e.is_null() {
                    exemplar::free_slots(e, cells);
                }
                ManuallyDrop::drop(&mut h.bounds);
            }
            Kind::Summary => ManuallyDrop::drop(&mut (*(p as *mut Summ)).state),
            _ => {
                let sc = &mut *(p as *mut Scalar);
                let s = *sc.stripes.get_mut();
                if !s.is_null() {
                    dealloc(s as *mut u8, stripes_layout(1));
                }
                let e = *sc.exemplars.get_mut();
                if !e.is_null() {
                    exemplar::free_slots(e, 1);
                }
            }
        }
        dealloc(p, layout);
    }

    #[inline(always)]
    fn hdr(&self) -> &Header {
        // SAFETY: a live series (the caller holds a reference or the family lock)
        unsafe { self.0.as_ref() }
    }

    #[inline(always)]
    fn scalar(&self) -> &Scalar {
        // SAFETY: only called for counters and gauges, whose allocation starts with Scalar
        unsafe { &*(self.0.as_ptr() as *const Scalar) }
    }

    #[inline(always)]
    fn hist(&self) -> &Hist {
        // SAFETY: only called for histograms, whose allocation starts with Hist
        unsafe { &*(self.0.as_ptr() as *const Hist) }
    }

    #[inline(always)]
    fn summary(&self) -> &SummaryState {
        // SAFETY: only called for summaries, whose allocation starts with Summ
        unsafe { &(*(self.0.as_ptr() as *const Summ)).state }
    }

    #[inline(always)]
    fn counts(&self) -> &[AtomicU64] {
        // SAFETY: a histogram's `cells` counts follow its fixed part
        unsafe {
            std::slice::from_raw_parts(
                (self.0.as_ptr() as *const u8).add(size_of::<Hist>()) as *const AtomicU64,
                self.hdr().cells as usize,
            )
        }
    }

    #[inline(always)]
    pub fn kind(&self) -> Kind {
        kind_of(self.hdr().kind)
    }

    /// The label body, e.g. `id="7",model="resnet50"` (empty for no labels).
    pub fn body(&self) -> &str {
        let kind = self.kind();
        let (_, at) = Series::layout(kind, self.hdr().cells as usize, 0);
        // SAFETY: `body_len` UTF-8 bytes (copied from a &str) follow the cells
        unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                (self.0.as_ptr() as *const u8).add(at),
                self.hdr().body_len as usize,
            ))
        }
    }

    pub(crate) fn refs(&self) -> &AtomicU32 {
        &self.hdr().refs
    }

    /// The histogram's upper bounds (empty for other kinds).
    pub fn bounds(&self) -> &[f64] {
        match self.kind() {
            Kind::Histogram => &self.hist().bounds,
            _ => &[],
        }
    }

    #[inline]
    pub fn increment(&self, v: f64) -> Result<()> {
        match self.kind() {
            // `!(v >= 0.0)` is true for negatives and NaN alike
            Kind::Counter if v >= 0.0 => {
                self.add_striped(v);
                Ok(())
            }
            Kind::Counter => Err(negative_increment(v)),
            Kind::Gauge => {
                cas_add(&self.scalar().value, v);
                Ok(())
            }
            k => Err(not_supported(k, "Increment")),
        }
    }

    #[inline(always)]
    fn add_striped(&self, v: f64) {
        let s = self.scalar();
        let mut stripes = s.stripes.load(Ordering::Acquire);
        if stripes.is_null() {
            let cur = s.value.load(Ordering::Relaxed);
            let new = (f64::from_bits(cur) + v).to_bits();
            if s.value
                .compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            // another thread changed it between our load and CAS: contended, grow
            stripes = grow(&s.stripes, 1);
            if stripes.is_null() {
                cas_add(&s.value, v);
                return;
            }
        }
        // SAFETY: `stripes` is this series' stripes block for one word
        cas_add(&unsafe { stripe(stripes, 1, stripe_index()) }[0], v);
    }

    #[inline]
    pub fn set(&self, v: f64) -> Result<()> {
        match self.kind() {
            Kind::Gauge => {
                self.scalar().value.store(v.to_bits(), Ordering::Relaxed);
                Ok(())
            }
            k => Err(not_supported(k, "Set")),
        }
    }

    #[inline]
    pub fn observe(&self, v: f64) -> Result<()> {
        match self.kind() {
            Kind::Histogram => {}
            Kind::Summary if !v.is_nan() => {
                self.summary().observe(v);
                return Ok(());
            }
            Kind::Summary => return Err(nan_observation(Kind::Summary)),
            k => return Err(not_supported(k, "Observe")),
        }
        if v.is_nan() {
            return Err(nan_observation(Kind::Histogram));
        }
        let h = self.hist();
        let i = bucket_of(&h.bounds, v);
        let counts = self.counts();
        let mut stripes = h.stripes.load(Ordering::Acquire);
        if stripes.is_null() {
            counts[i].fetch_add(1, Ordering::Relaxed);
            let cur = h.sum.load(Ordering::Relaxed);
            let new = (f64::from_bits(cur) + v).to_bits();
            if h.sum
                .compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
            stripes = grow(&h.stripes, counts.len() + 1);
            if stripes.is_null() {
                cas_add(&h.sum, v);
                return Ok(());
            }
            // the count is in; the sum goes to this thread's stripe
            // SAFETY: the stripes block of this histogram
            cas_add(
                &unsafe { stripe(stripes, counts.len() + 1, stripe_index()) }[0],
                v,
            );
            return Ok(());
        }
        // SAFETY: the stripes block of this histogram: word 0 the sum, then the counts
        let st = unsafe { stripe(stripes, counts.len() + 1, stripe_index()) };
        st[1 + i].fetch_add(1, Ordering::Relaxed);
        cas_add(&st[0], v);
        Ok(())
    }

    /// Where this series keeps its exemplar block, and how many slots the block has (one for
    /// a counter or gauge, one per bucket for a histogram); None for a summary.
    fn exemplar_field(&self) -> Option<(&AtomicPtr<exemplar::Slot>, usize)> {
        match self.kind() {
            Kind::Counter | Kind::Gauge => Some((&self.scalar().exemplars, 1)),
            Kind::Histogram => Some((&self.hist().exemplars, self.hdr().cells as usize)),
            Kind::Summary => None,
        }
    }

    /// The exemplar slots of a counter or histogram, allocated on first use (None when the
    /// allocation failed: the exemplar is then dropped, the value is recorded anyway).
    #[cold]
    fn exemplar_slots(&self) -> Option<&[exemplar::Slot]> {
        let (ptr, n) = self.exemplar_field()?;
        let mut p = ptr.load(Ordering::Acquire);
        if p.is_null() {
            // SAFETY: null pointers are valid empty slots; every block in this field has
            // this layout
            p = unsafe { install_zeroed(ptr, exemplar::slots_layout(n)) };
        }
        // SAFETY: a block of `n` slots that lives as long as the series
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// The slots if any exemplar was ever recorded (renders never allocate them).
    fn existing_exemplar_slots(&self) -> Option<&[exemplar::Slot]> {
        let (ptr, n) = self.exemplar_field()?;
        let p = ptr.load(Ordering::Acquire);
        // SAFETY: as in `exemplar_slots`
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// Increments a counter exactly as [`Series::increment`] would and keeps `e` as its
    /// latest exemplar. UNSUPPORTED for any other kind; on any error nothing is recorded.
    pub fn increment_with_exemplar(&self, v: f64, e: Exemplar) -> Result<()> {
        match self.kind() {
            Kind::Counter => {}
            k => return Err(no_exemplars(k, "IncrementWithExemplar")),
        }
        self.increment(v)?;
        if let Some(slots) = self.exemplar_slots() {
            exemplar::store(&slots[0], e);
        }
        Ok(())
    }

    /// Observes in a histogram exactly as [`Series::observe`] would and keeps `e` as the
    /// latest exemplar of the bucket `v` falls in. UNSUPPORTED for any other kind (summaries
    /// included: OpenMetrics has no exemplars there); on any error nothing is recorded.
    pub fn observe_with_exemplar(&self, v: f64, e: Exemplar) -> Result<()> {
        match self.kind() {
            Kind::Histogram => {}
            k => return Err(no_exemplars(k, "ObserveWithExemplar")),
        }
        self.observe(v)?;
        let i = bucket_of(&self.hist().bounds, v);
        if let Some(slots) = self.exemplar_slots() {
            exemplar::store(&slots[i], e);
        }
        Ok(())
    }

    /// Calls `f` with the latest exemplar of a counter (`i` = 0) or of histogram bucket `i`,
    /// if one was recorded. Never blocks a recording call.
    pub fn with_exemplar<R>(&self, i: usize, f: impl FnOnce(&Exemplar) -> R) -> Option<R> {
        self.existing_exemplar_slots()?
            .get(i)
            .and_then(|s| exemplar::read(s, f))
    }

    /// Whether any exemplar was ever recorded on this series (its slots exist).
    pub fn has_exemplars(&self) -> bool {
        self.existing_exemplar_slots().is_some()
    }

    /// The value of a counter or gauge (a counter's stripes summed).
    pub fn value(&self) -> Result<f64> {
        match self.kind() {
            k @ (Kind::Histogram | Kind::Summary) => Err(not_supported(k, "Value")),
            _ => {
                let s = self.scalar();
                let mut v = f64::from_bits(s.value.load(Ordering::Relaxed));
                let stripes = s.stripes.load(Ordering::Acquire);
                if !stripes.is_null() {
                    for k in 0..stripe_count() {
                        // SAFETY: the stripes block for one word
                        v += f64::from_bits(
                            unsafe { stripe(stripes, 1, k) }[0].load(Ordering::Relaxed),
                        );
                    }
                }
                Ok(v)
            }
        }
    }

    /// Reads a histogram (stripes summed); `_count` is the sum of the counts read.
    pub fn snapshot(&self) -> HistogramSnapshot<'_> {
        let h = self.hist();
        let counts = self.counts();
        let mut out: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let mut sum = f64::from_bits(h.sum.load(Ordering::Relaxed));
        let stripes = h.stripes.load(Ordering::Acquire);
        if !stripes.is_null() {
            for k in 0..stripe_count() {
                // SAFETY: the stripes block of this histogram
                let st = unsafe { stripe(stripes, counts.len() + 1, k) };
                sum += f64::from_bits(st[0].load(Ordering::Relaxed));
                for (o, c) in out.iter_mut().zip(&st[1..]) {
                    *o += c.load(Ordering::Relaxed);
                }
            }
        }
        HistogramSnapshot {
            bounds: &h.bounds,
            counts: out,
            sum,
        }
    }

    /// Reads a summary: drains its buffer, then its quantiles, `_sum` and `_count`.
    pub fn summary_snapshot(&self) -> SummarySnapshot {
        self.summary().snapshot()
    }

    /// A summary's quantiles and window (None for other kinds).
    pub fn summary_args(&self) -> Option<&SummaryArgs> {
        match self.kind() {
            Kind::Summary => Some(self.summary().args()),
            _ => None,
        }
    }

    /// Whether the series has grown stripes (for tests and benchmarks).
    pub fn is_striped(&self) -> bool {
        let p = match self.kind() {
            Kind::Histogram => &self.hist().stripes,
            Kind::Summary => return false,
            _ => &self.scalar().stripes,
        };
        !p.load(Ordering::Acquire).is_null()
    }

    /// Bytes this series occupies (its allocation and stripes, not the map entry).
    pub fn allocated_bytes(&self) -> usize {
        let cells = self.hdr().cells as usize;
        let (layout, _) = Series::layout(self.kind(), cells, self.hdr().body_len as usize);
        if self.kind() == Kind::Summary {
            return layout.size() + self.summary().allocated_bytes();
        }
        let words = if self.kind() == Kind::Histogram {
            cells + 1
        } else {
            1
        };
        let exemplars = match self.existing_exemplar_slots() {
            Some(slots) => exemplar::slots_layout(slots.len()).size(),
            None => 0,
        };
        layout.size()
            + exemplars
            + if self.is_striped() {
                stripes_layout(words).size()
            } else {
                0
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn buckets() {
        assert_eq!(validate_buckets(&[]).unwrap(), &[] as &[f64]);
        assert_eq!(
            validate_buckets(&[1.0, 2.0, f64::INFINITY]).unwrap(),
            &[1.0, 2.0]
        );
        assert!(validate_buckets(&[2.5, 0.1]).is_err());
        assert!(validate_buckets(&[1.0, 1.0]).is_err());
        assert!(validate_buckets(&[f64::NAN]).is_err());
        assert!(validate_buckets(&[f64::NEG_INFINITY, 1.0]).is_err());
        assert!(validate_buckets(&[-1.0, 0.0, 1.0, 2.5]).is_ok());
    }

    #[test]
    fn histogram_observe() {
        let h = Series::new(
            Kind::Histogram,
            "a=\"1\"",
            Some(Arc::from(vec![0.1, 1.0, 2.5, 5.0, 10.0])),
        );
        for v in [0.05, 1.5, 6.0] {
            h.observe(v).unwrap();
        }
        let s = h.snapshot();
        assert_eq!(s.counts, vec![1, 0, 1, 0, 1, 0]);
        assert_eq!(s.count(), 3);
        assert!((s.sum - 7.55).abs() < 1e-12);
        // boundary value goes in its own bucket (v <= bound)
        h.observe(1.0).unwrap();
        assert_eq!(h.snapshot().counts[1], 1);
        assert_eq!(h.body(), "a=\"1\"");
        assert!(h.observe(f64::NAN).is_err());
        unsafe { h.free() };
    }

    #[test]
    fn counter_rules() {
        let c = Series::new(Kind::Counter, "", None);
        assert!(c.increment(-1.0).is_err());
        assert!(c.increment(f64::NAN).is_err());
        c.increment(1729.0).unwrap();
        assert_eq!(c.value().unwrap(), 1729.0);
        assert_eq!(
            c.set(1.0).unwrap_err().code,
            super::super::Code::Unsupported
        );
        assert_eq!(c.body(), "");
        unsafe { c.free() };
    }

    /// Many threads on one counter and one histogram: exact totals, counter reads taken while
    /// the writers run never go down, and the stripes grow only under contention.
    #[test]
    fn striped_totals_are_exact_and_reads_monotonic() {
        let c = Series::new(Kind::Counter, "x=\"y\"", None);
        let h = Series::new(Kind::Histogram, "", Some(Arc::from(vec![1.0, 2.0])));
        let idle = Series::new(Kind::Counter, "", None);
        for _ in 0..1000 {
            idle.increment(1.0).unwrap();
        }
        assert!(!idle.is_striped(), "a series nobody contends must not grow");
        let threads = 8;
        let per = 200_000u64;
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut last = 0.0;
                while !done.load(Ordering::Relaxed) {
                    let v = c.value().unwrap();
                    assert!(v >= last, "counter read went down: {} after {}", v, last);
                    last = v;
                    let snap = h.snapshot();
                    assert_eq!(snap.count(), snap.counts.iter().sum::<u64>());
                }
            });
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        for i in 0..per {
                            c.increment(1.0).unwrap();
                            h.observe(((i + t) % 3) as f64 + 0.5).unwrap();
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        let n = threads * per;
        assert_eq!(c.value().unwrap(), n as f64);
        let snap = h.snapshot();
        assert_eq!(snap.count(), n);
        // values 0.5, 1.5, 2.5 in equal thirds (+/- the remainder)
        let expect_sum: f64 = (0..threads)
            .flat_map(|t| (0..per).map(move |i| ((i + t) % 3) as f64 + 0.5))
            .sum();
        assert_eq!(snap.sum, expect_sum);
        unsafe {
            c.free();
            h.free();
            idle.free();
        }
    }
}

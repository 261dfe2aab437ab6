//! Summaries: quantiles over a sliding time window (prometheus-cpp's `Summary`), recorded
//! without a lock; the thread that renders (or the summary thread) pays for the quantiles.
//!
//! **Recording** (`observe`) is two atomic operations on a per-series buffer: a `fetch_add`
//! on the head of this thread's stripe claims an index, a compare-and-swap puts the value
//! in that slot if the slot is empty. No lock, no allocation (the buffer is allocated at the
//! first observation, as the counters' stripes are at the first contention). A slot still
//! full from the previous lap means nobody drained the buffer for [`SLOTS`] observations of
//! this stripe (a burst faster than the summary thread): then, and only then, the recorder
//! drains the buffer itself if the window's lock is free (`try_lock`, never a wait), so a
//! burst costs it the sketch work once per [`SLOTS`] values instead of losing them; if
//! another thread is draining at that moment it tries two more slots, and only if those are
//! full too is the value added to `_sum` and `_count` but left out of the quantiles (counted,
//! and logged once per series).
//!
//! **Draining** moves buffered values into the window, under the series' window lock: the
//! library's summary thread does it every few milliseconds (sooner when buffers fill), and a
//! render does it before it reads the quantiles. So the recorder never runs the sketch.
//!
//! **The window** is prometheus-cpp's `TimeWindowQuantiles`: `age_buckets` sketches, each
//! value inserted into all of them, the oldest one reset every `max_age / age_buckets` and
//! the quantiles read from the oldest one still running, so they cover between
//! `max_age × (age_buckets−1)/age_buckets` and `max_age` of history (defaults 60 s and 5).
//! `_sum` and `_count` cover the whole life of the series, as in Prometheus.
//!
//! **The sketch** is CKMS with targeted quantiles (Cormode, Korn, Muthukrishnan, Srivastava,
//! "Effective computation of biased quantiles over data streams", ICDE 2005): the algorithm
//! prometheus-cpp and the Go client use, and the only one of the usual ones whose error is
//! what Triton's `summary_quantiles=0.99:0.001` means: the *rank* of the returned value is
//! within `0.99 ± 0.001` of the window's count, per quantile. It is written out here (about
//! 150 lines) rather than taken from a crate because none fits: the `quantiles` crate's CKMS
//! has one error for all quantiles (so the tightest error costs memory at every rank) and has
//! not been released since 2019; DDSketch (`sketches-ddsketch`) and t-digest bound the
//! *value* error relative to the value, not the rank error a summary's configuration states.
//! Two details differ from the paper and from prometheus-cpp, both on the safe side: a value
//! inserted before a kept sample `s` gets `Δ = g(s) + Δ(s) − 1`, the exact uncertainty of its
//! rank (the paper's `⌊f(r, n)⌋ − 1` can understate it), and a query returns the sample whose
//! rank interval is closest to the target rank on both sides.
use std::alloc::{dealloc, Layout};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use super::error::{Error, Result};
use super::fork;
use super::log;
use super::series::{install_zeroed, stripe_count, stripe_index};

/// prometheus-cpp's (and Triton's) window: 60 s in 5 age buckets.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
pub const DEFAULT_AGE_BUCKETS: u32 = 5;
/// Slots per stripe of the recording buffer (a power of two).
pub const SLOTS: usize = 1024;
const MASK: u64 = SLOTS as u64 - 1;
/// At most this many stripes per summary series.
const MAX_STRIPES: usize = 4;
/// Values gathered before they are merged into the sketches (prometheus-cpp's buffer size).
const PENDING: usize = 500;
const MAX_QUANTILES: usize = 64;
const MAX_AGE_BUCKETS: u64 = 1000;
/// An empty slot. A stored value is `!bits`, which is 0 only for one NaN pattern, and NaN
/// is never recorded; so zeroed memory is an empty buffer.
const EMPTY: u64 = 0;

/// The quantiles and window of a summary (`INFERMETRICS_MetricArgsSetSummary`).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryArgs {
    /// (quantile, allowed rank error), sorted by quantile.
    pub quantiles: Vec<(f64, f64)>,
    pub max_age: Duration,
    pub age_buckets: u32,
}

impl Default for SummaryArgs {
    /// Triton's default quantiles (`--metrics-config summary_quantiles` unset) and window.
    fn default() -> Self {
        SummaryArgs {
            quantiles: vec![
                (0.5, 0.05),
                (0.9, 0.01),
                (0.95, 0.001),
                (0.99, 0.001),
                (0.999, 0.001),
            ],
            max_age: DEFAULT_MAX_AGE,
            age_buckets: DEFAULT_AGE_BUCKETS,
        }
    }
}

impl SummaryArgs {
    /// Checks and builds summary args: each quantile and error finite and within [0, 1], no
    /// quantile twice (their sample lines would be indistinguishable); `max_age_ms` 0 and
    /// `age_buckets` 0 take the defaults (60000 ms, 5).
    pub fn new(
        quantiles: &[f64],
        errors: &[f64],
        max_age_ms: u64,
        age_buckets: u64,
    ) -> Result<SummaryArgs> {
        if quantiles.len() != errors.len() {
            return Err(Error::invalid_arg(format!(
                "{} quantiles but {} errors: give one allowed error per quantile",
                quantiles.len(),
                errors.len()
            )));
        }
        if quantiles.len() > MAX_QUANTILES {
            return Err(Error::invalid_arg(format!(
                "{} quantiles: a summary takes at most {}",
                quantiles.len(),
                MAX_QUANTILES
            )));
        }
        let mut pairs = Vec::with_capacity(quantiles.len());
        for (i, (&q, &e)) in quantiles.iter().zip(errors).enumerate() {
            if !(0.0..=1.0).contains(&q) {
                return Err(Error::invalid_arg(format!(
                    "quantile {} at index {} is not within [0, 1]",
                    q, i
                )));
            }
            if !(0.0..=1.0).contains(&e) {
                return Err(Error::invalid_arg(format!(
                    "allowed error {} of quantile {} (index {}) is not within [0, 1]",
                    e, q, i
                )));
            }
            pairs.push((q, e));
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::invalid_arg(format!(
                "quantile {} given twice: each quantile may appear once",
                w[0].0
            )));
        }
        if age_buckets > MAX_AGE_BUCKETS {
            return Err(Error::invalid_arg(format!(
                "age_buckets {} is more than {} (0 takes the default, {})",
                age_buckets, MAX_AGE_BUCKETS, DEFAULT_AGE_BUCKETS
            )));
        }
        Ok(SummaryArgs {
            quantiles: pairs,
            max_age: match max_age_ms {
                0 => DEFAULT_MAX_AGE,
                ms => Duration::from_millis(ms),
            },
            age_buckets: match age_buckets {
                0 => DEFAULT_AGE_BUCKETS,
                n => n as u32,
            },
        })
    }
}

// ------------------------------------------------------------------------------- CKMS ---

#[derive(Clone, Copy, Debug)]
struct Sample {
    v: f64,
    /// r_min(i) − r_min(i−1)
    g: u64,
    /// r_max(i) − r_min(i)
    d: u64,
}

/// One targeted-quantile CKMS sketch.
#[derive(Default)]
struct Ckms {
    samples: Vec<Sample>,
    n: u64,
}

/// The invariant f(r, n): how much rank uncertainty a sample at rank `r` may carry.
fn allowed(r: f64, n: f64, targets: &[(f64, f64)]) -> f64 {
    let mut m = f64::MAX;
    for &(q, e) in targets {
        let f = if q <= 0.0 {
            2.0 * e * (n - r)
        } else if q >= 1.0 {
            2.0 * e * r
        } else if r >= q * n {
            2.0 * e * r / q
        } else {
            2.0 * e * (n - r) / (1.0 - q)
        };
        m = m.min(f);
    }
    m
}

impl Ckms {
    fn reset(&mut self) {
        self.samples.clear();
        self.n = 0;
    }

    /// Merges sorted values in. A value goes after the samples it is not below; its rank is
    /// uncertain up to its successor's (Δ = g + Δ − 1 of the successor), and exact at the end.
    fn insert_sorted(&mut self, batch: &[f64], targets: &[(f64, f64)]) {
        if batch.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.samples);
        let mut out = Vec::with_capacity(old.len() + batch.len());
        let mut i = 0;
        for &v in batch {
            while i < old.len() && old[i].v <= v {
                out.push(old[i]);
                i += 1;
            }
            let d = old.get(i).map_or(0, |s| s.g + s.d - 1);
            out.push(Sample { v, g: 1, d });
        }
        out.extend_from_slice(&old[i..]);
        self.samples = out;
        self.n += batch.len() as u64;
        self.compress(targets);
    }

    /// Merges each sample into its successor where the invariant allows; the first and last
    /// samples (the minimum and maximum) are kept.
    fn compress(&mut self, targets: &[(f64, f64)]) {
        let len = self.samples.len();
        if len < 3 {
            return;
        }
        let n = self.n as f64;
        let s = &mut self.samples;
        // walk backwards, writing kept samples from the end of the vector down
        let mut w = len - 1; // where the current merge target sits
        let mut after = s[len - 1].g; // sum of g of the samples after the one looked at
        for i in (1..len - 1).rev() {
            let c = s[i];
            let r_min = n - after as f64;
            let x = s[w];
            after += c.g;
            if (c.g + x.g + x.d) as f64 <= allowed(r_min, n, targets) {
                s[w].g += c.g;
            } else {
                w -= 1;
                s[w] = c;
            }
        }
        w -= 1;
        s[w] = s[0];
        s.drain(..w);
    }

    /// The value whose rank interval is closest to `q × n` on both sides; NaN when empty.
    fn query(&self, q: f64) -> f64 {
        let t = q * self.n as f64;
        let mut best = f64::NAN;
        let mut best_err = f64::MAX;
        let mut r_min = 0u64;
        for s in &self.samples {
            r_min += s.g;
            let lo = r_min as f64;
            let hi = (r_min + s.d) as f64;
            let err = (t - lo).max(hi - t);
            if err < best_err {
                best_err = err;
                best = s.v;
            }
        }
        best
    }
}

// ----------------------------------------------------------------------------- window ---

/// The cold part of a summary, behind its lock: the window of sketches and the totals.
pub(crate) struct Window {
    buckets: Vec<Ckms>,
    current: usize,
    last_rotation: Instant,
    pending: Vec<f64>,
    count: u64,
    sum: f64,
    /// Per stripe: the lowest buffer index not yet known to be drained.
    tails: Vec<u64>,
    /// Overflowed observations already reported in the log.
    overflow_logged: bool,
}

/// What a render prints for one summary series.
pub struct SummarySnapshot {
    /// (quantile, value); NaN when the window holds no observation.
    pub quantiles: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: u64,
}

impl Window {
    fn new(args: &SummaryArgs, stripes: usize) -> Window {
        Window {
            buckets: if args.quantiles.is_empty() {
                Vec::new()
            } else {
                (0..args.age_buckets).map(|_| Ckms::default()).collect()
            },
            current: 0,
            last_rotation: Instant::now(),
            pending: Vec::new(),
            count: 0,
            sum: 0.0,
            tails: vec![0; stripes],
            overflow_logged: false,
        }
    }

    fn flush(&mut self, targets: &[(f64, f64)]) {
        if self.pending.is_empty() {
            return;
        }
        self.pending.sort_unstable_by(|a, b| a.total_cmp(b));
        for b in &mut self.buckets {
            b.insert_sorted(&self.pending, targets);
        }
        self.pending.clear();
    }

    /// Resets the age buckets whose time is up (prometheus-cpp's `rotate`), after merging
    /// the values gathered before.
    fn rotate(&mut self, args: &SummaryArgs, now: Instant) {
        let slice = args.max_age / args.age_buckets;
        let elapsed = now.saturating_duration_since(self.last_rotation);
        if elapsed <= slice {
            return;
        }
        self.flush(&args.quantiles);
        if elapsed > args.max_age + slice {
            for b in &mut self.buckets {
                b.reset();
            }
            self.last_rotation = now;
            return;
        }
        while now.saturating_duration_since(self.last_rotation) > slice {
            if let Some(b) = self.buckets.get_mut(self.current) {
                b.reset();
            }
            self.current = (self.current + 1) % (args.age_buckets as usize);
            self.last_rotation += slice;
        }
    }

    fn push(&mut self, v: f64, targets: &[(f64, f64)]) {
        self.gather(v);
        if self.pending.len() >= PENDING {
            self.flush(targets);
        }
    }

    /// Counts `v` and keeps it for the sketches (merged by the next flush).
    #[inline]
    fn gather(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        if !self.buckets.is_empty() {
            self.pending.push(v);
        }
    }
}

// ------------------------------------------------------------------ the recording side ---

#[repr(C, align(128))]
struct Stripe {
    head: AtomicU64,
    _pad: [u64; 15],
    slots: [AtomicU64; SLOTS],
}

/// A summary series' state: the lock-free buffer and the window. Shared (`Arc`) between the
/// series and the summary thread's list.
pub(crate) struct SummaryState {
    args: Arc<SummaryArgs>,
    stripes: AtomicPtr<Stripe>,
    /// Stripes in the buffer (a power of two).
    n_stripes: usize,
    /// Observations that found their slot full: in `_sum`/`_count`, not in the quantiles.
    overflow_count: AtomicU64,
    overflow_sum: AtomicU64,
    window: Mutex<Window>,
}

fn buffer_layout(n: usize) -> Layout {
    Layout::array::<Stripe>(n).expect("summary buffer layout")
}

impl Drop for SummaryState {
    fn drop(&mut self) {
        let p = *self.stripes.get_mut();
        if !p.is_null() {
            // SAFETY: allocated by `grow` with this layout; nothing else refers to it now
            unsafe { dealloc(p as *mut u8, buffer_layout(self.n_stripes)) };
        }
    }
}

impl SummaryState {
    /// A new state, registered with the summary thread.
    pub(crate) fn new(args: Arc<SummaryArgs>) -> Arc<SummaryState> {
        let n_stripes = stripe_count().min(MAX_STRIPES);
        let s = Arc::new(SummaryState {
            window: Mutex::new(Window::new(&args, n_stripes)),
            args,
            stripes: AtomicPtr::new(std::ptr::null_mut()),
            n_stripes,
            overflow_count: AtomicU64::new(0),
            overflow_sum: AtomicU64::new(0),
        });
        register(&s);
        s
    }

    pub(crate) fn args(&self) -> &SummaryArgs {
        &self.args
    }

    /// Records one value (not NaN: the caller checked). Lock-free, allocation-free but for
    /// the buffer at the first call.
    #[inline]
    pub(crate) fn observe(&self, v: f64) {
        let mut base = self.stripes.load(Ordering::Acquire);
        if base.is_null() {
            base = self.grow();
            if base.is_null() {
                return self.overflow(v);
            }
        }
        if !Self::put(base, self.n_stripes, v) {
            self.overflow(v);
        }
    }

    /// Claims the next slot of this thread's stripe and stores `v` there if it is empty.
    #[inline(always)]
    fn put(base: *mut Stripe, n_stripes: usize, v: f64) -> bool {
        // SAFETY: `base` is a state's buffer of `n_stripes` stripes
        let s = unsafe { &*base.add(stripe_index() & (n_stripes - 1)) };
        let i = s.head.fetch_add(1, Ordering::Relaxed);
        s.slots[(i & MASK) as usize]
            .compare_exchange(EMPTY, !v.to_bits(), Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    #[inline(never)]
    fn grow(&self) -> *mut Stripe {
        // SAFETY: zeroed stripes are empty buffers (EMPTY is 0, heads at 0); every buffer of
        // this state has `buffer_layout(self.n_stripes)`
        unsafe { install_zeroed(&self.stripes, buffer_layout(self.n_stripes)) }
    }

    #[cold]
    #[inline(never)]
    fn overflow(&self, v: f64) {
        // a forked child has no summary thread until something starts one
        ensure_thread();
        let guard = match self.window.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(mut w) = guard {
            self.drain(&mut w, Instant::now());
            w.push(v, &self.args.quantiles);
            return;
        }
        // another thread is draining this buffer right now, oldest slots first: the next slots
        // are likely free already
        let base = self.stripes.load(Ordering::Acquire);
        if !base.is_null() && (0..2).any(|_| Self::put(base, self.n_stripes, v)) {
            return;
        }
        self.overflow_count.fetch_add(1, Ordering::Relaxed);
        let mut cur = self.overflow_sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + v).to_bits();
            match self.overflow_sum.compare_exchange_weak(
                cur,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
    }

    /// Moves the buffered values into the window (the caller holds the window lock).
    /// Returns the fullest stripe's fill before draining, 0..=1.
    fn drain(&self, w: &mut Window, now: Instant) -> f64 {
        w.rotate(&self.args, now);
        let base = self.stripes.load(Ordering::Acquire);
        if base.is_null() {
            return 0.0;
        }
        let targets = &self.args.quantiles;
        let mut fullest = 0.0f64;
        for k in 0..self.n_stripes {
            // SAFETY: `base` is this state's buffer of `n_stripes` stripes
            let s = unsafe { &*base.add(k) };
            let head = s.head.load(Ordering::Acquire);
            // at most one lap: an index a lap behind shares its slot with a later one
            let from = w.tails[k].max(head.saturating_sub(SLOTS as u64));
            fullest = fullest.max((head - from) as f64 / SLOTS as f64);
            let mut tail = head;
            for i in from..head {
                let slot = &s.slots[(i & MASK) as usize];
                let x = slot.load(Ordering::Acquire);
                if x == EMPTY {
                    // claimed but not written yet (or its writer found the slot full): look
                    // again next time
                    tail = tail.min(i);
                    continue;
                }
                // only a writer that finds EMPTY writes a slot: nobody races this store
                slot.store(EMPTY, Ordering::Relaxed);
                w.gather(f64::from_bits(!x));
            }
            w.tails[k] = tail;
        }
        // the sketches are updated once the slots are free again for the recorders
        if w.pending.len() >= PENDING {
            w.flush(targets);
        }
        fullest
    }

    /// Drains, then reads the quantiles, `_sum` and `_count` (what a render prints).
    pub(crate) fn snapshot(&self) -> SummarySnapshot {
        let now = Instant::now();
        let mut w = self.lock();
        self.drain(&mut w, now);
        w.flush(&self.args.quantiles);
        let current = w.current;
        let quantiles = self
            .args
            .quantiles
            .iter()
            .map(|&(q, _)| (q, w.buckets.get(current).map_or(f64::NAN, |b| b.query(q))))
            .collect();
        SummarySnapshot {
            quantiles,
            sum: w.sum + f64::from_bits(self.overflow_sum.load(Ordering::Relaxed)),
            count: w.count + self.overflow_count.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        // held by the summaries' fork hook across a fork; poison is ignored (a panic inside
        // leaves at worst a sketch missing a batch)
        fork::lock(&self.window)
    }

    /// Bytes of the buffer and sketches (for memory figures).
    pub(crate) fn allocated_bytes(&self) -> usize {
        let buffer = if self.stripes.load(Ordering::Acquire).is_null() {
            0
        } else {
            buffer_layout(self.n_stripes).size()
        };
        let w = self.lock();
        let sketches: usize = w
            .buckets
            .iter()
            .map(|b| b.samples.capacity() * std::mem::size_of::<Sample>())
            .sum();
        std::mem::size_of::<SummaryState>()
            + buffer
            + sketches
            + w.pending.capacity() * 8
            + w.tails.capacity() * 8
    }
}

// ------------------------------------------------------------------- the summary thread ---

/// Every live summary state (the thread drops those whose series are gone).
static LIST: Mutex<Vec<Arc<SummaryState>>> = Mutex::new(Vec::new());
/// The fork epoch the summary thread was started in (u64::MAX: none yet).
static THREAD_EPOCH: AtomicU64 = AtomicU64::new(u64::MAX);
/// Drain passes so far (tests wait on it).
static PASSES: AtomicUsize = AtomicUsize::new(0);

/// Fork hook: the list, then every summary's window (the registry's hook runs first: a
/// render holds a family's lock while it takes a window lock).
fn hold_all() -> Box<dyn std::any::Any> {
    let list = fork::lock(&LIST);
    let windows: Vec<MutexGuard<'static, Window>> = list
        .iter()
        .map(|s| {
            // SAFETY: the state stays in the list, so alive, while the list's guard (dropped
            // after these guards: the tuple drops its fields in order) is held
            let s: &'static SummaryState = unsafe { &*Arc::as_ptr(s) };
            s.lock()
        })
        .collect();
    Box::new((windows, list))
}

fn register(s: &Arc<SummaryState>) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // the registry's hook must be registered (so run) before ours
        let _ = super::registry::Registry::global();
        fork::hold_during_fork(hold_all);
    });
    fork::lock(&LIST).push(Arc::clone(s));
    ensure_thread();
}

/// Starts the summary thread if this process (this fork generation) has none.
fn ensure_thread() {
    let epoch = fork::epoch();
    let seen = THREAD_EPOCH.load(Ordering::Acquire);
    if seen == epoch
        || THREAD_EPOCH
            .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return;
    }
    let started = std::thread::Builder::new()
        .name("infermetrics-summary".into())
        .spawn(summary_thread);
    if let Err(e) = started {
        THREAD_EPOCH.store(u64::MAX, Ordering::Release);
        log::error(&format!(
            "cannot start the summary thread ({}): summaries are drained only when rendered",
            e
        ));
    }
}

/// Drains every summary, then sleeps: 1 ms when a buffer was over a quarter full, 10 ms when
/// anything was drained, 50 ms when idle.
fn summary_thread() {
    loop {
        let states: Vec<Arc<SummaryState>> = {
            let mut list = fork::lock(&LIST);
            list.retain(|s| Arc::strong_count(s) > 1);
            list.clone()
        };
        let now = Instant::now();
        let mut fullest = 0.0f64;
        let mut overflowed = Vec::new();
        for s in &states {
            if s.stripes.load(Ordering::Acquire).is_null() {
                continue;
            }
            let mut w = s.lock();
            fullest = fullest.max(s.drain(&mut w, now));
            if !w.overflow_logged && s.overflow_count.load(Ordering::Relaxed) > 0 {
                w.overflow_logged = true;
                overflowed.push(s.overflow_count.load(Ordering::Relaxed));
            }
        }
        drop(states);
        PASSES.fetch_add(1, Ordering::Relaxed);
        for n in overflowed {
            // logged outside every window lock (the log sink has a lock of its own)
            log::warn(&format!(
                "a summary's recording buffer was full {} time(s): those observations are in \
                 _sum and _count but not in the quantiles (more than {} per stripe between two \
                 drains while another thread was draining; logged once per series)",
                n, SLOTS
            ));
        }
        let pause = if fullest > 0.25 {
            Duration::from_millis(1)
        } else if fullest > 0.0 {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(50)
        };
        std::thread::sleep(pause);
    }
}

/// Drain passes of the summary thread so far.
pub fn drain_passes() -> usize {
    PASSES.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rank interval [lo, hi] (1-based) of `v` in sorted `data`.
    fn rank_range(data: &[f64], v: f64) -> (usize, usize) {
        let lo = data.partition_point(|x| *x < v) + 1;
        let hi = data.partition_point(|x| *x <= v);
        (lo, hi)
    }

    fn check_sketch(data: &[f64], targets: &[(f64, f64)], batch: usize) -> usize {
        let mut c = Ckms::default();
        let mut buf = Vec::new();
        for chunk in data.chunks(batch) {
            buf.clear();
            buf.extend_from_slice(chunk);
            buf.sort_unstable_by(|a, b| a.total_cmp(b));
            c.insert_sorted(&buf, targets);
        }
        let mut sorted = data.to_vec();
        sorted.sort_unstable_by(|a, b| a.total_cmp(b));
        let n = sorted.len() as f64;
        for &(q, e) in targets {
            let v = c.query(q);
            let (lo, hi) = rank_range(&sorted, v);
            let want_lo = ((q - e) * n).floor();
            let want_hi = ((q + e) * n).ceil();
            assert!(
                (hi as f64) >= want_lo && (lo as f64) <= want_hi,
                "q={} e={} n={} got {} with ranks {}..{}, want within {}..{}",
                q,
                e,
                n,
                v,
                lo,
                hi,
                want_lo,
                want_hi
            );
        }
        c.samples.len()
    }

    /// A small deterministic generator (xorshift), so the tests need no crate.
    fn rng(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn ckms_rank_error_within_targets() {
        let triton = SummaryArgs::default().quantiles;
        let mut r = rng(7);
        let uniform: Vec<f64> = (0..200_000).map(|_| r()).collect();
        let exp: Vec<f64> = (0..200_000).map(|_| -(1.0 - r()).ln() * 1000.0).collect();
        let ascending: Vec<f64> = (0..100_000).map(|i| i as f64).collect();
        let descending: Vec<f64> = (0..100_000).rev().map(|i| i as f64).collect();
        let few: Vec<f64> = (0..100_000).map(|i| (i % 7) as f64).collect();
        let micros: Vec<f64> = (0..100_000).map(|_| (r() * 5000.0).floor()).collect();
        for data in [&uniform, &exp, &ascending, &descending, &few, &micros] {
            for batch in [1, 37, 500] {
                let kept = check_sketch(data, &triton, batch);
                assert!(kept < data.len() / 10, "kept {} of {}", kept, data.len());
            }
            check_sketch(data, &[(0.0, 0.01), (0.25, 0.02), (1.0, 0.01)], 500);
        }
        // tiny inputs are exact
        check_sketch(&[5.0], &triton, 1);
        check_sketch(&[3.0, 1.0, 2.0], &triton, 2);
        assert!(Ckms::default().query(0.5).is_nan());
    }

    #[test]
    fn args_validation() {
        assert!(SummaryArgs::new(&[0.5], &[0.05], 0, 0).is_ok());
        let a = SummaryArgs::new(&[0.9, 0.5], &[0.01, 0.05], 0, 0).unwrap();
        assert_eq!(a.quantiles, vec![(0.5, 0.05), (0.9, 0.01)]);
        assert_eq!(a.max_age, DEFAULT_MAX_AGE);
        assert_eq!(a.age_buckets, DEFAULT_AGE_BUCKETS);
        assert!(SummaryArgs::new(&[1.5], &[0.05], 0, 0).is_err());
        assert!(SummaryArgs::new(&[f64::NAN], &[0.05], 0, 0).is_err());
        assert!(SummaryArgs::new(&[0.5], &[-0.1], 0, 0).is_err());
        assert!(SummaryArgs::new(&[0.5, 0.5], &[0.1, 0.1], 0, 0).is_err());
        assert!(SummaryArgs::new(&[], &[], 10, 2).is_ok());
        assert!(SummaryArgs::new(&[0.5], &[], 0, 0).is_err());
    }

    #[test]
    fn state_counts_sums_and_window_expiry() {
        let args = Arc::new(SummaryArgs::new(&[0.5, 0.9], &[0.05, 0.01], 300, 3).unwrap());
        let s = SummaryState::new(args);
        for i in 1..=1000 {
            s.observe(i as f64);
        }
        let snap = s.snapshot();
        assert_eq!(snap.count, 1000);
        assert_eq!(snap.sum, 500_500.0);
        let med = snap.quantiles[0].1;
        assert!((450.0..=551.0).contains(&med), "median {}", med);
        let p90 = snap.quantiles[1].1;
        assert!((889.0..=911.0).contains(&p90), "p90 {}", p90);
        std::thread::sleep(Duration::from_millis(450));
        let snap = s.snapshot();
        assert!(
            snap.quantiles[0].1.is_nan(),
            "window expired: {:?}",
            snap.quantiles
        );
        assert_eq!(snap.count, 1000);
    }

    #[test]
    fn concurrent_recording_loses_nothing() {
        let args = Arc::new(SummaryArgs::new(&[0.5], &[0.05], 0, 0).unwrap());
        let s = SummaryState::new(args);
        let threads = 4;
        let per = 200_000u64;
        std::thread::scope(|sc| {
            for _ in 0..threads {
                sc.spawn(|| {
                    for _ in 0..per {
                        s.observe(2.0);
                    }
                });
            }
            sc.spawn(|| {
                for _ in 0..50 {
                    let _ = s.snapshot();
                }
            });
        });
        let snap = s.snapshot();
        assert_eq!(snap.count, threads * per);
        assert_eq!(snap.sum, 2.0 * (threads * per) as f64);
        assert_eq!(snap.quantiles[0].1, 2.0);
    }
}

//! Families (name, help, kind, their series) and the handles users hold on them.
//!
//! Series identity is the exact set of label pairs, as the rendered label body (labels
//! sorted by name, values escaped): no hashing shortcut. A label whose value is empty is
//! absent (Prometheus's rule), so `{a=""}` and `{}` are one series. A series is
//! reference-counted per series (not per handle as Triton does, which could free a series
//! still in use) and disappears from the output when its last metric handle goes.
//!
//! `MetricNew` for a series that exists allocates nothing: the labels are borrowed from the
//! caller, sorted and rendered into a stack buffer, and looked up by that text. A new series
//! is one allocation (see `series.rs`).
//!
//! A family keeps its series in a slab (a vector whose slots keep their place; freed slots
//! are reused) plus a hash table from label body to slot: one hash and one comparison to
//! find a series. Creation and deletion never wait for a whole render: a render walks the
//! slab in chunks of [`RENDER_CHUNK`] slots, taking the family's lock for one chunk at a
//! time (tens of microseconds). A series that lives through a render keeps its slot, so it
//! is printed exactly once; series appear in slab order (creation order, but for reused
//! slots), which Prometheus does not mind.
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::{DefaultHashBuilder, HashTable};

use super::error::{Error, Result};
use super::fork;
use super::log;
use super::names::check_label_name;
use super::series::{validate_buckets, Series};
use super::summary::SummaryArgs;
use super::text;
use super::Kind;

/// The series of a family: slots, free slots, and the index by label body.
#[derive(Default)]
struct SeriesSet {
    slots: Vec<Option<Series>>,
    free: Vec<u32>,
    /// (32 bits of the body's hash, slot): growing the table rehashes from the stored bits,
    /// without reading every series' body.
    index: HashTable<(u32, u32)>,
    hasher: DefaultHashBuilder,
}

/// The table's 64-bit hash, spread from the 32 stored bits.
#[inline]
fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl SeriesSet {
    fn len(&self) -> usize {
        self.index.len()
    }

    #[inline]
    fn hash(&self, body: &str) -> u32 {
        self.hasher.hash_one(body) as u32
    }

    fn find(&self, h: u32, body: &str) -> Option<Series> {
        let slots = &self.slots;
        self.index
            .find(spread(h), |&(eh, i)| {
                eh == h && slots[i as usize].is_some_and(|s| s.body() == body)
            })
            .and_then(|&(_, i)| slots[i as usize])
    }

    fn insert(&mut self, h: u32, series: Series) {
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(series);
                i
            }
            None => {
                self.slots.push(Some(series));
                (self.slots.len() - 1) as u32
            }
        };
        self.index
            .insert_unique(spread(h), (h, i), |&(eh, _)| spread(eh));
    }

    fn remove(&mut self, series: Series) {
        let h = self.hash(series.body());
        let slots = &self.slots;
        if let Ok(e) = self.index.find_entry(spread(h), |&(eh, i)| {
            eh == h && slots[i as usize] == Some(series)
        }) {
            let ((_, i), _) = e.remove();
            self.slots[i as usize] = None;
            self.free.push(i);
        }
    }
}

pub struct Family {
    name: String,
    help: String,
    kind: Kind,
    series: Mutex<SeriesSet>,
    /// Distinct histogram bucket lists of this family, shared by its series.
    bounds: Mutex<Vec<Arc<[f64]>>>,
    /// Creations refused by the series limit (served as nv_metric_series_rejected_total).
    rejected: AtomicU64,
    warned: AtomicBool,
}

/// Series printed per hold of a family's lock while rendering.
pub const RENDER_CHUNK: usize = 256;
/// Distinct bucket lists a family shares among its series (more are simply not shared).
const MAX_SHARED_BOUNDS: usize = 64;

/// Metric arguments, as `INFERMETRICS_MetricArgs` holds them: unset, histogram buckets
/// exactly as given (they are validated when a metric is created, as in Triton), or summary
/// quantiles and window (validated when set). Setting one kind clears the other.
#[derive(Clone, Debug, Default)]
pub struct MetricArgs {
    pub histogram_buckets: Option<Vec<f64>>,
    pub summary: Option<SummaryArgs>,
}

impl MetricArgs {
    /// Args set to histogram kind with these buckets.
    pub fn histogram(buckets: &[f64]) -> MetricArgs {
        MetricArgs {
            histogram_buckets: Some(buckets.to_vec()),
            summary: None,
        }
    }
    /// Args set to summary kind.
    pub fn summary(args: SummaryArgs) -> MetricArgs {
        MetricArgs {
            histogram_buckets: None,
            summary: Some(args),
        }
    }
}

/// What `acquire` creates a new series with.
enum NewSeries<'a> {
    Plain,
    Histogram(&'a [f64]),
    Summary(&'a SummaryArgs),
}

/// Room for the usual label sets without touching the heap.
const STACK_LABELS: usize = 16;
const STACK_BODY: usize = 512;

/// A small buffer on the stack that spills to the heap when full.
struct StackText {
    buf: [std::mem::MaybeUninit<u8>; STACK_BODY],
    len: usize,
    heap: Option<String>,
}

impl StackText {
    fn new() -> StackText {
        StackText {
            buf: [std::mem::MaybeUninit::uninit(); STACK_BODY],
            len: 0,
            heap: None,
        }
    }
    #[inline]
    fn push(&mut self, s: &str) {
        if let Some(h) = &mut self.heap {
            h.push_str(s);
        } else if self.len + s.len() <= STACK_BODY {
            // SAFETY: in bounds (checked above); u8 has no invalid bit patterns
            unsafe {
                std::ptr::copy_nonoverlapping(
                    s.as_ptr(),
                    self.buf.as_mut_ptr().add(self.len) as *mut u8,
                    s.len(),
                )
            };
            self.len += s.len();
        } else {
            let mut h = String::with_capacity(self.len + s.len() + 64);
            h.push_str(self.as_str());
            h.push_str(s);
            self.heap = Some(h);
        }
    }
    fn as_str(&self) -> &str {
        match &self.heap {
            Some(h) => h,
            // SAFETY: the first `len` bytes were written, only whole &str pieces
            None => unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    self.buf.as_ptr() as *const u8,
                    self.len,
                ))
            },
        }
    }
}

/// Renders sorted, non-empty label pairs as a label body, escaping values.
fn render_body(labels: &[(&str, &str)], out: &mut StackText) {
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(",");
        }
        out.push(k);
        out.push("=\"");
        let mut start = 0;
        for (j, c) in v.char_indices() {
            let esc = match c {
                '\\' => "\\\\",
                '"' => "\\\"",
                '\n' => "\\n",
                _ => continue,
            };
            out.push(&v[start..j]);
            out.push(esc);
            start = j + 1;
        }
        out.push(&v[start..]);
        out.push("\"");
    }
}

impl Family {
    pub(super) fn new(kind: Kind, name: &str, help: &str) -> Family {
        Family {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            series: Mutex::new(SeriesSet::default()),
            bounds: Mutex::new(Vec::new()),
            rejected: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn help(&self) -> &str {
        &self.help
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Takes this family's locks in the order normal code does (series, then bucket lists)
    /// and returns the guards: for the fork prepare handler.
    pub(super) fn hold_locks(&'static self) -> Box<dyn std::any::Any> {
        let series = fork::lock(&self.series);
        let bounds = fork::lock(&self.bounds);
        Box::new((series, bounds))
    }

    /// Creations refused so far because the family was at its series limit.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, SeriesSet> {
        // inside the fork gate; a poisoned lock is still usable (every update is a single
        // insert or remove, so a panic cannot leave the set inconsistent)
        fork::lock(&self.series)
    }

    /// Number of live series.
    pub fn series_count(&self) -> usize {
        self.lock().len()
    }

    /// The shared copy of a validated bucket list (allocates only for a list not seen before).
    fn shared_bounds(&self, b: &[f64]) -> Arc<[f64]> {
        let mut list = fork::lock(&self.bounds);
        if let Some(a) = list.iter().find(|a| ***a == *b) {
            return Arc::clone(a);
        }
        let a: Arc<[f64]> = Arc::from(b);
        if list.len() < MAX_SHARED_BOUNDS {
            list.push(Arc::clone(&a));
        }
        a
    }

    /// Checks labels and args in Triton's order, then returns the series for those labels
    /// (creating it at 0 if needed) with its reference count raised by one.
    fn acquire(&self, key: &mut [(&str, &str)], args: Option<&MetricArgs>) -> Result<Series> {
        let make = match (self.kind, args) {
            (Kind::Counter, Some(_)) => {
                return Err(Error::invalid_arg(
                    "Unexpected args found in counter Metric constructor.",
                ))
            }
            (Kind::Gauge, Some(_)) => {
                return Err(Error::invalid_arg(
                    "Unexpected args found in gauge Metric constructor.",
                ))
            }
            (Kind::Histogram, None) => {
                return Err(Error::invalid_arg(
                    "Bucket boundaries not found in Metric args.",
                ))
            }
            (
                Kind::Histogram,
                Some(MetricArgs {
                    histogram_buckets: None,
                    ..
                }),
            ) => return Err(Error::invalid_arg("Metric args not set to histogram kind.")),
            (
                Kind::Histogram,
                Some(MetricArgs {
                    histogram_buckets: Some(b),
                    ..
                }),
            ) => NewSeries::Histogram(validate_buckets(b)?),
            (Kind::Summary, None) => {
                return Err(Error::invalid_arg(
                    "Quantiles not found in Metric args (set them with INFERMETRICS_MetricArgsSetSummary).",
                ))
            }
            (Kind::Summary, Some(MetricArgs { summary: None, .. })) => {
                return Err(Error::invalid_arg("Metric args not set to summary kind."))
            }
            (
                Kind::Summary,
                Some(MetricArgs {
                    summary: Some(a), ..
                }),
            ) => NewSeries::Summary(a),
            _ => NewSeries::Plain,
        };
        let reserved = match self.kind {
            Kind::Histogram => Some(("le", "histogram", "bucket bounds")),
            Kind::Summary => Some(("quantile", "summary", "quantiles")),
            _ => None,
        };
        for (name, _) in key.iter() {
            check_label_name(name)?;
            if let Some((word, kind, what)) = reserved {
                if *name == word {
                    return Err(Error::invalid_arg(format!(
                        "Invalid label name '{}' for {} '{}': '{}' is reserved for {}",
                        word, kind, self.name, word, what
                    )));
                }
            }
        }
        key.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = key.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::invalid_arg(format!(
                "Label '{}' given twice for metric '{}' (values \"{}\" and \"{}\"): each label name may appear once",
                w[0].0,
                self.name,
                w[0].1.escape_debug(),
                w[1].1.escape_debug()
            )));
        }
        // an empty value is an absent label: {a=""} is the series {}
        let mut n = 0;
        for i in 0..key.len() {
            if !key[i].1.is_empty() {
                key[n] = key[i];
                n += 1;
            }
        }
        let mut body = StackText::new();
        render_body(&key[..n], &mut body);
        let body = body.as_str();

        let limit = super::registry::max_series_per_family();
        let mut set = self.lock();
        let hash = set.hash(body);
        if let Some(found) = set.find(hash, body) {
            found.refs().fetch_add(1, Ordering::Relaxed);
            return Ok(found);
        }
        if limit != 0 && set.len() as u64 >= limit {
            drop(set);
            return Err(self.refuse(limit));
        }
        let series = match make {
            NewSeries::Plain => Series::new(self.kind, body, None),
            NewSeries::Histogram(b) => Series::new(self.kind, body, Some(self.shared_bounds(b))),
            NewSeries::Summary(a) => Series::new_summary(body, Arc::new(a.clone())),
        };
        set.insert(hash, series);
        Ok(series)
    }

    /// Counts a creation refused by the series limit, logs the first one, and says why.
    #[cold]
    fn refuse(&self, limit: u64) -> Error {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let why = format!(
            "metric family '{}' has reached its limit of {} series (INFERMETRICS_MAX_SERIES_PER_FAMILY \
             or INFERMETRICS_SetMaxSeriesPerFamily): no new series created; delete unused metrics, \
             or check the labels for unbounded values such as request ids",
            self.name, limit
        );
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn(&format!(
                "{} (logged once per family; refusals are counted in nv_metric_series_rejected_total)",
                why
            ));
        }
        Error::unavailable(why)
    }

    fn release(&self, series: Series) {
        let mut set = self.lock();
        if series.refs().fetch_sub(1, Ordering::Relaxed) == 1 {
            set.remove(series);
            drop(set);
            // SAFETY: removed from the set and no handle is left: nothing refers to it
            unsafe { series.free() };
        }
    }

    /// Appends this family in 0.0.4 text; nothing at all when it has no series.
    pub fn render(&self, out: &mut String) {
        self.render_into(&mut text::Writer::new(out, text::Format::Prometheus));
    }

    /// Appends this family in the writer's format; nothing at all when it has no series (or,
    /// in OpenMetrics, when its names clash with a family written before it).
    ///
    /// Walks the slab in chunks, releasing the lock between them, so creating or deleting a
    /// series never waits for more than one chunk. A series created or deleted during the
    /// walk may or may not appear; one that lives through it appears exactly once.
    ///
    /// OpenMetrics only: the latest exemplar of each counter and histogram bucket follows its
    /// sample; a histogram's `_sum` and `_count` are left out when a bucket bound or the sum
    /// is negative (the spec allows no sum then), a summary's `_sum` when it is negative,
    /// and a summary quantile whose value is negative (the spec's counters and quantiles
    /// are never negative). The 0.0.4 text keeps all of them.
    pub fn render_into(&self, w: &mut text::Writer<'_>) {
        let mut at = 0;
        let mut header = false;
        loop {
            let set = self.lock();
            let end = (at + RENDER_CHUNK).min(set.slots.len());
            for s in set.slots[at.min(end)..end].iter().flatten() {
                if !header {
                    if !w.family(&self.name, &self.help, self.kind.type_name()) {
                        return;
                    }
                    header = true;
                }
                self.render_series(w, *s);
            }
            if end >= set.slots.len() {
                return;
            }
            at = end;
        }
    }

    fn render_series(&self, w: &mut text::Writer<'_>, s: Series) {
        let body = s.body();
        let om = w.is_openmetrics();
        let out = &mut *w.out;
        let exemplar = |out: &mut String, i: usize| {
            if om {
                s.with_exemplar(i, |e| {
                    text::push_exemplar(out, &e.labels, e.value, e.timestamp)
                });
            }
        };
        match self.kind {
            Kind::Counter => {
                let (stem, suffix) = w.counter_sample(&self.name);
                let out = &mut *w.out;
                text::push_sample_prefix(out, stem, suffix, body, None);
                text::push_f64(out, s.value().unwrap_or(0.0));
                exemplar(out, 0);
                out.push('\n');
            }
            Kind::Gauge => {
                text::push_sample(out, &self.name, body, s.value().unwrap_or(0.0));
            }
            Kind::Histogram => {
                let snap = s.snapshot();
                let mut cumulative = 0u64;
                for (i, c) in snap.counts.iter().enumerate() {
                    cumulative += c;
                    let le = snap.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                    text::push_sample_prefix(out, &self.name, "_bucket", body, Some(le));
                    text::push_u64(out, cumulative);
                    exemplar(out, i);
                    out.push('\n');
                }
                let negative = snap.bounds.first().is_some_and(|b| *b < 0.0)
                    || snap.sum < 0.0
                    || snap.sum.is_nan();
                if om && negative {
                    return;
                }
                text::push_sample_prefix(out, &self.name, "_sum", body, None);
                text::push_f64(out, snap.sum);
                out.push('\n');
                text::push_sample_prefix(out, &self.name, "_count", body, None);
                text::push_u64(out, cumulative);
                out.push('\n');
            }
            Kind::Summary => {
                let snap = s.summary_snapshot();
                for (q, v) in &snap.quantiles {
                    if om && *v < 0.0 {
                        continue;
                    }
                    text::push_sample_prefix_with(
                        out,
                        &self.name,
                        "",
                        body,
                        Some(("quantile", *q)),
                    );
                    text::push_f64(out, *v);
                    out.push('\n');
                }
                if !om || snap.sum >= 0.0 {
                    text::push_sample_prefix(out, &self.name, "_sum", body, None);
                    text::push_f64(out, snap.sum);
                    out.push('\n');
                }
                text::push_sample_prefix(out, &self.name, "_count", body, None);
                text::push_u64(out, snap.count);
                out.push('\n');
            }
        }
    }
}

/// What a family handle and the metrics made through it share: the family. The metrics
/// made through a handle (Triton counts children per family handle) are the other owners of
/// this `Arc`: its strong count minus the handle's own.
pub struct HandleShared {
    family: Arc<Family>,
}

/// A user's handle on a family (`INFERMETRICS_MetricFamily`). Several handles may share one
/// family; each counts the metrics created through it, as Triton does.
pub struct FamilyHandle {
    shared: Arc<HandleShared>,
}

/// A user's handle on one series (`INFERMETRICS_Metric`): the series itself and the family
/// handle it was made through; two words. Dropping it releases the series.
pub struct MetricHandle {
    series: Series,
    parent: Arc<HandleShared>,
}

impl FamilyHandle {
    pub(super) fn new(family: Arc<Family>) -> FamilyHandle {
        FamilyHandle {
            shared: Arc::new(HandleShared { family }),
        }
    }

    pub fn family(&self) -> &Arc<Family> {
        &self.shared.family
    }

    pub fn kind(&self) -> Kind {
        self.shared.family.kind
    }

    /// Live metrics created through this handle.
    pub fn children(&self) -> usize {
        Arc::strong_count(&self.shared) - 1
    }

    /// Opens the series with these labels (name, value pairs in any order).
    pub fn new_metric<K: AsRef<str>, V: AsRef<str>>(
        &self,
        labels: &[(K, V)],
        args: Option<&MetricArgs>,
    ) -> Result<MetricHandle> {
        let mut on_stack: [(&str, &str); STACK_LABELS] = [("", ""); STACK_LABELS];
        let mut on_heap: Vec<(&str, &str)> = Vec::new();
        let key: &mut [(&str, &str)] = if labels.len() <= STACK_LABELS {
            for (slot, (k, v)) in on_stack.iter_mut().zip(labels) {
                *slot = (k.as_ref(), v.as_ref());
            }
            &mut on_stack[..labels.len()]
        } else {
            on_heap.extend(labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
            &mut on_heap
        };
        self.new_metric_in_place(key, args)
    }

    /// As [`FamilyHandle::new_metric`], with borrowed pairs it may reorder.
    pub fn new_metric_in_place(
        &self,
        labels: &mut [(&str, &str)],
        args: Option<&MetricArgs>,
    ) -> Result<MetricHandle> {
        let series = self.shared.family.acquire(labels, args)?;
        Ok(MetricHandle {
            series,
            parent: Arc::clone(&self.shared),
        })
    }

    /// Succeeds only when every metric made through this handle has been deleted.
    pub fn check_can_delete(&self) -> Result<()> {
        let n = self.children();
        if n == 0 {
            Ok(())
        } else {
            Err(Error::internal(format!(
                "Must call MetricDelete on all dependent metrics before calling MetricFamilyDelete. \
                 ({} metric(s) of family '{}' created through this handle are still alive)",
                n, self.shared.family.name
            )))
        }
    }
}

impl MetricHandle {
    /// The series (recording calls, value).
    #[inline(always)]
    pub fn series(&self) -> &Series {
        &self.series
    }
    pub fn kind(&self) -> Kind {
        self.series.kind()
    }
    pub fn family(&self) -> &Arc<Family> {
        &self.parent.family
    }
    /// The label body of the series, e.g. `id="7",model="resnet50"`.
    pub fn labels(&self) -> &str {
        self.series.body()
    }
}

impl Drop for MetricHandle {
    fn drop(&mut self) {
        self.parent.family.release(self.series);
    }
}

//! Families (name, help, kind, their series) and the handles users hold on them.
//!
//! Series identity is the exact, sorted list of label pairs: no hashing shortcut. A label
//! whose value is empty is absent (Prometheus's rule), so `{a=""}` and `{}` are one series.
//! A series is reference-counted at the family level (not per handle as Triton does, which
//! could free a series still in use) and disappears from the output when its last metric
//! handle goes.
//!
//! Creation and deletion never wait for a whole render: a render walks the series map in
//! chunks of [`RENDER_CHUNK`] entries, taking the family's lock for one chunk at a time
//! (tens of microseconds) and resuming after the last key it printed.
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::{Error, Result};
use super::fork::{self, Locked};
use super::log;
use super::names::check_label_name;
use super::series::{validate_buckets, Series};
use super::text;
use super::Kind;

/// Exact identity of a series inside its family: label pairs sorted by name.
pub type LabelKey = Vec<(String, String)>;

struct Entry {
    series: Arc<Series>,
    /// The label pairs pre-rendered as `a="x",b="y"`, so a scrape does no escaping.
    body: String,
    refs: usize,
}

pub struct Family {
    name: String,
    help: String,
    kind: Kind,
    series: Mutex<BTreeMap<LabelKey, Entry>>,
    /// Creations refused by the series limit (served as nv_metric_series_rejected_total).
    rejected: AtomicU64,
    warned: AtomicBool,
}

/// Series printed per hold of a family's lock while rendering.
pub const RENDER_CHUNK: usize = 256;

/// Histogram arguments, as `INFERMETRICS_MetricArgs` holds them: unset, or histogram buckets
/// exactly as given (they are validated when a metric is created, as in Triton).
#[derive(Clone, Debug, Default)]
pub struct MetricArgs {
    pub histogram_buckets: Option<Vec<f64>>,
}

impl Family {
    pub(super) fn new(kind: Kind, name: &str, help: &str) -> Family {
        Family {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            series: Mutex::new(BTreeMap::new()),
            rejected: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Creations refused so far because the family was at its series limit.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
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

    fn lock(&self) -> Locked<MutexGuard<'_, BTreeMap<LabelKey, Entry>>> {
        // inside the fork gate; a poisoned lock is still usable (every update is a single
        // insert or remove, so a panic cannot leave the map inconsistent)
        fork::lock(&self.series)
    }

    /// Number of live series.
    pub fn series_count(&self) -> usize {
        self.lock().len()
    }

    /// Checks labels and args in Triton's order, then returns the shared series for those
    /// labels (creating it at 0 if needed) with its reference count raised by one.
    fn acquire(
        &self,
        labels: Vec<(String, String)>,
        args: Option<&MetricArgs>,
    ) -> Result<(LabelKey, Arc<Series>)> {
        let buckets = match (self.kind, args) {
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
                }),
            ) => return Err(Error::invalid_arg("Metric args not set to histogram kind.")),
            (
                Kind::Histogram,
                Some(MetricArgs {
                    histogram_buckets: Some(b),
                }),
            ) => Some(validate_buckets(b)?),
            _ => None,
        };
        let mut key = labels;
        for (name, _) in &key {
            check_label_name(name)?;
            if self.kind == Kind::Histogram && name == "le" {
                return Err(Error::invalid_arg(format!(
                    "Invalid label name 'le' for histogram '{}': 'le' is reserved for bucket bounds",
                    self.name
                )));
            }
        }
        key.sort_by(|a, b| a.0.cmp(&b.0));
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
        key.retain(|(_, v)| !v.is_empty());
        let limit = super::registry::max_series_per_family();
        let series = {
            let mut map = self.lock();
            let count = map.len() as u64;
            match map.get_mut(&key) {
                Some(entry) => {
                    entry.refs += 1;
                    Arc::clone(&entry.series)
                }
                None if limit != 0 && count >= limit => {
                    drop(map);
                    return Err(self.refuse(limit));
                }
                None => {
                    let series = Arc::new(Series::new(self.kind, buckets));
                    map.insert(
                        key.clone(),
                        Entry {
                            series: Arc::clone(&series),
                            body: text::render_label_body(&key),
                            refs: 1,
                        },
                    );
                    series
                }
            }
        };
        Ok((key, series))
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

    fn release(&self, key: &LabelKey) {
        let mut map = self.lock();
        if let Some(e) = map.get_mut(key) {
            e.refs -= 1;
            if e.refs == 0 {
                map.remove(key);
            }
        }
    }

    /// Appends this family in text format; nothing at all when it has no series.
    ///
    /// Walks the series in chunks, releasing the lock between them, so creating or deleting
    /// a series never waits for more than one chunk. A series created or deleted during the
    /// walk may or may not appear; every series appears at most once (keys are ordered).
    pub fn render(&self, out: &mut String) {
        let mut after: Option<LabelKey> = None;
        let mut header = false;
        loop {
            let map = self.lock();
            let mut iter = match &after {
                None => map.range::<LabelKey, _>(..),
                Some(k) => map.range::<LabelKey, _>((Bound::Excluded(k), Bound::Unbounded)),
            };
            let mut last = None;
            for _ in 0..RENDER_CHUNK {
                let Some((k, e)) = iter.next() else { break };
                if !header {
                    text::push_family_header(out, &self.name, &self.help, self.kind.type_name());
                    header = true;
                }
                self.render_entry(out, e);
                last = Some(k);
            }
            let more = last.is_some() && iter.next().is_some();
            match (more, last) {
                (true, Some(k)) => after = Some(k.clone()),
                _ => return,
            }
        }
    }

    fn render_entry(&self, out: &mut String, e: &Entry) {
        match &*e.series {
            Series::Counter(_) | Series::Gauge(_) => {
                text::push_sample(out, &self.name, &e.body, e.series.value().unwrap_or(0.0));
            }
            Series::Histogram(h) => {
                let snap = h.snapshot();
                let mut cumulative = 0u64;
                for (i, c) in snap.counts.iter().enumerate() {
                    cumulative += c;
                    let le = snap.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                    text::push_sample_prefix(out, &self.name, "_bucket", &e.body, Some(le));
                    text::push_u64(out, cumulative);
                    out.push('\n');
                }
                text::push_sample_prefix(out, &self.name, "_sum", &e.body, None);
                text::push_f64(out, snap.sum);
                out.push('\n');
                text::push_sample_prefix(out, &self.name, "_count", &e.body, None);
                text::push_u64(out, cumulative);
                out.push('\n');
            }
        }
    }
}

/// A user's handle on a family (`INFERMETRICS_MetricFamily`). Several handles may share one
/// family; each counts the metrics created through it, as Triton does.
pub struct FamilyHandle {
    family: Arc<Family>,
    children: Arc<AtomicUsize>,
}

/// A user's handle on one series (`INFERMETRICS_Metric`). Dropping it releases the series.
pub struct MetricHandle {
    series: Arc<Series>,
    family: Arc<Family>,
    key: LabelKey,
    parent_children: Arc<AtomicUsize>,
}

impl FamilyHandle {
    pub(super) fn new(family: Arc<Family>) -> FamilyHandle {
        FamilyHandle {
            family,
            children: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn family(&self) -> &Arc<Family> {
        &self.family
    }

    pub fn kind(&self) -> Kind {
        self.family.kind
    }

    /// Live metrics created through this handle.
    pub fn children(&self) -> usize {
        self.children.load(Ordering::Acquire)
    }

    pub fn new_metric(
        &self,
        labels: Vec<(String, String)>,
        args: Option<&MetricArgs>,
    ) -> Result<MetricHandle> {
        let (key, series) = self.family.acquire(labels, args)?;
        self.children.fetch_add(1, Ordering::AcqRel);
        Ok(MetricHandle {
            series,
            family: Arc::clone(&self.family),
            key,
            parent_children: Arc::clone(&self.children),
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
                n, self.family.name
            )))
        }
    }
}

impl MetricHandle {
    #[inline]
    pub fn series(&self) -> &Series {
        &self.series
    }
    pub fn kind(&self) -> Kind {
        self.family.kind
    }
    pub fn family(&self) -> &Arc<Family> {
        &self.family
    }
    pub fn labels(&self) -> &LabelKey {
        &self.key
    }
}

impl Drop for MetricHandle {
    fn drop(&mut self) {
        self.family.release(&self.key);
        self.parent_children.fetch_sub(1, Ordering::AcqRel);
    }
}

//! Triton's per-model inference statistics for any server: the `nv_inference_*` series with
//! Triton's names, labels, HELP texts and arithmetic (core `src/infer_stats.cc`,
//! `src/metric_model_reporter.cc`), driven by a [`ModelReporter`] that a server feeds with the
//! timestamps of each request, plus the `--metrics-config` switches ([`MetricsConfig`]).
//!
//! Arithmetic, as Triton's: every duration is a difference of nanosecond timestamps divided
//! by 1000 with integer division (µs) before it is added or observed; queue = exec_start −
//! queue_start, compute input = compute_start − exec_start, compute infer = compute_end −
//! compute_start, compute output = exec_end − compute_end (Triton's backend API names its
//! timestamps exec/compute this way), request = request_end − request_start.
//!
//! Differences from Triton, all deliberate: `counter_latencies=false` turns off only the
//! latency counters (Triton's gate also freezes success, failure, count and exec count,
//! issue #8125); `histogram_latencies=true` adds per-model duration histograms Triton lacks
//! (`nv_inference_*_duration_histogram_us`, buckets settable per reporter) besides the
//! first-response histogram; the cache-hit series appear with a model's first cache hit and
//! the first-response histogram with its first response (Triton creates them from the model
//! configuration, which a reporter does not have); the request summary is never suppressed
//! for models with a cache (Triton's DLIS-4762), though, as in Triton, cache hits are not
//! observed in it.
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::error::{Error, Result};
use super::family::{MetricArgs, MetricHandle};
use super::fork;
use super::log;
use super::names::check_label_name;
use super::registry::Registry;
use super::series::validate_buckets;
use super::summary::SummaryArgs;
use super::Kind;

/// The environment variable that sets (and overrides) the metrics configuration.
pub const CONFIG_ENV: &str = "INFERMETRICS_METRICS_CONFIG";

/// Triton's failure reasons, in the order of its `FailureReason` enum.
pub const FAILURE_REASONS: [&str; 4] = ["REJECTED", "CANCELED", "BACKEND", "OTHER"];

/// The five latencies of a request, in Triton's order.
const LATENCIES: [&str; 5] = [
    "request",
    "queue",
    "compute_input",
    "compute_infer",
    "compute_output",
];

const COUNTER_HELP: [&str; 5] = [
    "Cumulative inference request duration in microseconds (includes cached requests)",
    "Cumulative inference queuing duration in microseconds (includes cached requests)",
    "Cumulative compute input duration in microseconds (does not include cached requests)",
    "Cumulative compute inference duration in microseconds (does not include cached requests)",
    "Cumulative inference compute output duration in microseconds (does not include cached requests)",
];

const SUMMARY_HELP: [&str; 5] = [
    "Summary of inference request duration in microseconds (includes cached requests)",
    "Summary of inference queuing duration in microseconds (includes cached requests)",
    COUNTER_HELP[2],
    COUNTER_HELP[3],
    COUNTER_HELP[4],
];

const HISTOGRAM_HELP: [&str; 5] = [
    "Histogram of inference request duration in microseconds (includes cached requests)",
    "Histogram of inference queuing duration in microseconds (includes cached requests)",
    "Histogram of compute input duration in microseconds (does not include cached requests)",
    "Histogram of compute inference duration in microseconds (does not include cached requests)",
    "Histogram of inference compute output duration in microseconds (does not include cached requests)",
];

/// Default buckets of the duration histograms, in µs: 100 µs to 10 s.
pub const DEFAULT_DURATION_BUCKETS_US: [f64; 16] = [
    100.0, 250.0, 500.0, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7,
];
/// Triton's default buckets of `nv_inference_first_response_histogram_ms`.
pub const DEFAULT_FIRST_RESPONSE_BUCKETS_MS: [f64; 4] = [100.0, 500.0, 2000.0, 5000.0];
pub const FIRST_RESPONSE_FAMILY: &str = "nv_inference_first_response_histogram_ms";

fn counter_name(i: usize) -> String {
    format!("nv_inference_{}_duration_us", LATENCIES[i])
}
fn summary_name(i: usize) -> String {
    format!("nv_inference_{}_summary_us", LATENCIES[i])
}
fn histogram_name(i: usize) -> String {
    format!("nv_inference_{}_duration_histogram_us", LATENCIES[i])
}

// --------------------------------------------------------------------------- config ---

/// Triton's `--metrics-config` settings that shape the inference series.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsConfig {
    /// `counter_latencies` (default true): the five `*_duration_us` counters and the cache counters.
    pub counter_latencies: bool,
    /// `histogram_latencies` (default false): the duration histograms and the first-response histogram.
    pub histogram_latencies: bool,
    /// `summary_latencies` (default false): the `*_summary_us` summaries.
    pub summary_latencies: bool,
    /// `summary_quantiles`: (quantile, error) pairs (default Triton's five).
    pub summary_quantiles: Vec<(f64, f64)>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            counter_latencies: true,
            histogram_latencies: false,
            summary_latencies: false,
            summary_quantiles: SummaryArgs::default().quantiles,
        }
    }
}

/// The longest prefix of `s` that C's `strtod` (so `std::stod`) reads as a number, after
/// leading whitespace: `0.0.1` reads as 0.0, `5abc` as 5; None when nothing is read.
fn strtod_prefix(s: &str) -> Option<f64> {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let rest = t[i..].to_ascii_lowercase();
    for word in ["infinity", "inf", "nan"] {
        if rest.starts_with(word) {
            let v = if word == "nan" {
                f64::NAN
            } else {
                f64::INFINITY
            };
            return Some(if b.first() == Some(&b'-') { -v } else { v });
        }
    }
    let digits_from = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa = i - digits_from;
    if i < b.len() && b[i] == b'.' {
        let dot = i;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mantissa += i - dot - 1;
    }
    if mantissa == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_digits = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_digits {
            i = j;
        }
    }
    t[..i].parse().ok()
}

/// Triton's `summary_quantiles` value: `<quantile>:<error>` pairs separated by commas, each
/// number read as `std::stod` reads it; a pair without ':' or with a number that does not
/// read (or, our addition, outside [0, 1]) is logged and skipped. A quantile given twice keeps
/// its last error. Returns None when no pair is valid (Triton then keeps the defaults).
pub fn parse_quantiles(value: &str) -> Option<Vec<(f64, f64)>> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for pair in value.split(',') {
        let Some((q, e)) = pair.split_once(':') else {
            log::warn(&format!(
                "summary_quantiles: invalid option [{}]: no ':' delimiter found; expected format is <quantile>:<error>",
                pair
            ));
            continue;
        };
        match (strtod_prefix(q), strtod_prefix(e)) {
            (Some(q), Some(e)) if (0.0..=1.0).contains(&q) && (0.0..=1.0).contains(&e) => {
                out.retain(|p| p.0 != q);
                out.push((q, e));
            }
            _ => log::warn(&format!(
                "summary_quantiles: invalid option [{}]: quantile and error must be numbers within [0, 1]; skipped",
                pair
            )),
        }
    }
    if out.is_empty() {
        None
    } else {
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(out)
    }
}

impl MetricsConfig {
    /// Parses `key=value` settings separated by `;` (Triton's `--metrics-config` arguments, one
    /// per `;`). Values are compared as Triton does: only the exact word `false` turns
    /// `counter_latencies` off and only `true` turns the others on, and a repeated key never
    /// moves a switch back to its default. Unknown keys are logged and ignored. A setting that
    /// is not `<setting>=<value>` is an error (nothing is applied).
    pub fn parse(text: &str) -> Result<MetricsConfig> {
        let mut c = MetricsConfig::default();
        for item in text.split(';') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let bad = || {
                Error::invalid_arg(format!(
                    "--metrics-config option format is <setting>=<value>. Got {}",
                    item
                ))
            };
            let (key, value) = item.split_once('=').ok_or_else(bad)?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || value.is_empty() || key.contains(',') {
                return Err(bad());
            }
            match key {
                "counter_latencies" => c.counter_latencies &= value != "false",
                "histogram_latencies" => c.histogram_latencies |= value == "true",
                "summary_latencies" => c.summary_latencies |= value == "true",
                "summary_quantiles" => {
                    if let Some(q) = parse_quantiles(value) {
                        c.summary_quantiles = q;
                    }
                }
                _ => log::info(&format!(
                    "metrics config: setting '{}' is not one of counter_latencies, histogram_latencies, \
                     summary_latencies, summary_quantiles; ignored",
                    key
                )),
            }
        }
        Ok(c)
    }
}

/// The configuration set by code (`INFERMETRICS_SetMetricsConfig`).
static CODE_CONFIG: RwLock<Option<Arc<MetricsConfig>>> = RwLock::new(None);

fn env_config() -> Result<Option<(String, MetricsConfig)>> {
    match std::env::var(CONFIG_ENV) {
        Ok(v) => MetricsConfig::parse(&v).map(|c| Some((v, c))).map_err(|e| {
            Error::invalid_arg(format!(
                "environment variable {}: {}",
                CONFIG_ENV, e.message
            ))
        }),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::invalid_arg(format!(
            "environment variable {} is not valid UTF-8: {:?}",
            CONFIG_ENV, v
        ))),
    }
}

/// Sets the process-wide configuration from `--metrics-config`-style text; reporters created
/// afterwards use it. When `INFERMETRICS_METRICS_CONFIG` is set it wins: the text is still
/// checked and kept, and a log line says it is not in force.
pub fn set_metrics_config(text: &str) -> Result<()> {
    let c = MetricsConfig::parse(text)?;
    if let Some((env, _)) = env_config()? {
        log::info(&format!(
            "metrics config \"{}\" from code is not in force: {}=\"{}\" is set and wins",
            text, CONFIG_ENV, env
        ));
    }
    *fork::gated_write(&CODE_CONFIG) = Some(Arc::new(c));
    Ok(())
}

/// The configuration in force: the environment variable's, else the code's, else defaults.
pub fn metrics_config() -> Result<Arc<MetricsConfig>> {
    if let Some((env, c)) = env_config()? {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            log::info(&format!(
                "metrics config from {}=\"{}\" (wins over INFERMETRICS_SetMetricsConfig)",
                CONFIG_ENV, env
            ))
        });
        return Ok(Arc::new(c));
    }
    Ok(fork::gated_read(&CODE_CONFIG)
        .clone()
        .unwrap_or_else(|| Arc::new(MetricsConfig::default())))
}

// ------------------------------------------------------------------------- reporter ---

/// Opens the series `name` (a built-in family) for these labels.
fn open(
    kind: Kind,
    name: &str,
    help: &str,
    labels: &[(String, String)],
    args: Option<&MetricArgs>,
) -> Result<MetricHandle> {
    Registry::global()
        .family(kind, name, help)?
        .new_metric(labels, args)
}

fn open5(
    kind: Kind,
    name: fn(usize) -> String,
    help: &[&str; 5],
    labels: &[(String, String)],
    args: impl Fn(usize) -> Option<MetricArgs>,
) -> Result<[MetricHandle; 5]> {
    let mut v = Vec::with_capacity(5);
    for i in 0..5 {
        v.push(open(kind, &name(i), help[i], labels, args(i).as_ref())?);
    }
    Ok(v.try_into()
        .unwrap_or_else(|_| unreachable!("five handles")))
}

/// A set of series created at first use and then read without a lock.
struct Lazy<T> {
    p: AtomicPtr<T>,
}

impl<T> Lazy<T> {
    fn new() -> Lazy<T> {
        Lazy {
            p: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
    #[inline(always)]
    fn get(&self) -> Option<&T> {
        // SAFETY: set once (under the reporter's setup lock) to a leaked box freed in Drop
        unsafe { self.p.load(Ordering::Acquire).as_ref() }
    }
    /// Publishes `v`; call under the reporter's setup lock, once.
    fn set(&self, v: T) -> &T {
        let b = Box::into_raw(Box::new(v));
        self.p.store(b, Ordering::Release);
        // SAFETY: just published; lives until Drop
        unsafe { &*b }
    }
}

impl<T> Drop for Lazy<T> {
    fn drop(&mut self) {
        let p = *self.p.get_mut();
        if !p.is_null() {
            // SAFETY: a box leaked by `set`, freed once
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

struct CacheSeries {
    /// nv_cache_num_hits_per_model, nv_cache_hit_duration_per_model (counter_latencies).
    counters: Option<[MetricHandle; 2]>,
    /// nv_cache_hit_summary_per_model (summary_latencies).
    summary: Option<MetricHandle>,
}

/// Bucket overrides set before the histograms exist.
#[derive(Default)]
struct Setup {
    duration: [Option<Vec<f64>>; 5],
    first_response: Option<Vec<f64>>,
}

/// One model's (model, version, tags) inference statistics.
pub struct ModelReporter {
    config: Arc<MetricsConfig>,
    labels: Vec<(String, String)>,
    success: MetricHandle,
    failure: [MetricHandle; 4],
    count: MetricHandle,
    exec_count: MetricHandle,
    pending: MetricHandle,
    counters: Option<[MetricHandle; 5]>,
    summaries: Option<[MetricHandle; 5]>,
    histograms: Lazy<[MetricHandle; 5]>,
    first_response: Lazy<MetricHandle>,
    cache: Lazy<CacheSeries>,
    setup: Mutex<Setup>,
}

/// Timestamps of one successful request, in ns.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimes {
    pub request_start: u64,
    pub queue_start: u64,
    pub exec_start: u64,
    pub compute_start: u64,
    pub compute_end: u64,
    pub exec_end: u64,
    pub request_end: u64,
}

/// Checks that the named timestamps are non-zero and in order (equal is fine).
fn check_order(what: &str, stamps: &[(&str, u64)]) -> Result<()> {
    for (name, v) in stamps {
        if *v == 0 {
            return Err(Error::invalid_arg(format!(
                "{}: timestamp {} is 0 (timestamps are nanoseconds from a monotonic clock, never 0); nothing recorded",
                what, name
            )));
        }
    }
    for w in stamps.windows(2) {
        if w[0].1 > w[1].1 {
            return Err(Error::invalid_arg(format!(
                "{}: timestamps out of order: {} ({}) is after {} ({}); expected {}; nothing recorded",
                what,
                w[0].0,
                w[0].1,
                w[1].0,
                w[1].1,
                stamps.iter().map(|s| s.0).collect::<Vec<_>>().join(" <= ")
            )));
        }
    }
    Ok(())
}

#[inline(always)]
fn add(m: &MetricHandle, v: f64) {
    // counters of our own making: never negative, never NaN, so this cannot fail
    let _ = m.series().increment(v);
}
#[inline(always)]
fn observe(m: &MetricHandle, v: f64) {
    let _ = m.series().observe(v);
}

impl ModelReporter {
    /// A reporter for `model` and `version` with extra labels `_<key>` for each tag (Triton's
    /// `metric_tags`), under the metrics configuration in force now. Reporters with the same
    /// labels share their series; a series goes when its last reporter is dropped.
    pub fn new(model: &str, version: &str, tags: &[(&str, &str)]) -> Result<ModelReporter> {
        let config = metrics_config()?;
        if model.is_empty() {
            return Err(Error::invalid_arg("model name is empty"));
        }
        let mut labels = vec![
            ("model".to_owned(), model.to_owned()),
            ("version".to_owned(), version.to_owned()),
        ];
        for (k, v) in tags {
            let name = format!("_{}", k);
            check_label_name(&name).map_err(|e| {
                Error::invalid_arg(format!("tag '{}' (label '{}'): {}", k, name, e.message))
            })?;
            if labels.iter().any(|(n, _)| *n == name) {
                return Err(Error::invalid_arg(format!(
                    "tag '{}' given twice: each tag may appear once",
                    k
                )));
            }
            labels.push((name, (*v).to_owned()));
        }
        let open_l = |kind, name: &str, help: &str| open(kind, name, help, &labels, None);
        let success = open_l(
            Kind::Counter,
            "nv_inference_request_success",
            "Number of successful inference requests, all batch sizes",
        )?;
        let mut failure = Vec::with_capacity(4);
        for reason in FAILURE_REASONS {
            let mut l = labels.clone();
            l.push(("reason".to_owned(), reason.to_owned()));
            failure.push(open(
                Kind::Counter,
                "nv_inference_request_failure",
                "Number of failed inference requests, all batch sizes",
                &l,
                None,
            )?);
        }
        let count = open_l(
            Kind::Counter,
            "nv_inference_count",
            "Number of inferences performed (does not include cached requests)",
        )?;
        let exec_count = open_l(
            Kind::Counter,
            "nv_inference_exec_count",
            "Number of model executions performed (does not include cached requests)",
        )?;
        let counters = if config.counter_latencies {
            Some(open5(
                Kind::Counter,
                counter_name,
                &COUNTER_HELP,
                &labels,
                |_| None,
            )?)
        } else {
            None
        };
        let pending = open_l(
            Kind::Gauge,
            "nv_inference_pending_request_count",
            "Instantaneous number of pending requests awaiting execution per-model.",
        )?;
        let summaries = if config.summary_latencies {
            let args = summary_args(&config)?;
            Some(open5(
                Kind::Summary,
                summary_name,
                &SUMMARY_HELP,
                &labels,
                |_| Some(args.clone()),
            )?)
        } else {
            None
        };
        Ok(ModelReporter {
            success,
            failure: failure
                .try_into()
                .unwrap_or_else(|_| unreachable!("four reasons")),
            count,
            exec_count,
            pending,
            counters,
            summaries,
            histograms: Lazy::new(),
            first_response: Lazy::new(),
            cache: Lazy::new(),
            setup: Mutex::new(Setup::default()),
            config,
            labels,
        })
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The label pairs of this reporter's series (model, version, `_tag`...).
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// One successful request (Triton's `UpdateSuccess`); `batch_size` 0 counts as 1, as
    /// Triton counts `max(1, batch size)`.
    pub fn report_success(&self, batch_size: u64, t: &RequestTimes) -> Result<()> {
        check_order(
            "INFERMETRICS_ModelReporterReportRequest",
            &[
                ("request_start_ns", t.request_start),
                ("queue_start_ns", t.queue_start),
                ("exec_start_ns", t.exec_start),
                ("compute_start_ns", t.compute_start),
                ("compute_end_ns", t.compute_end),
                ("exec_end_ns", t.exec_end),
                ("request_end_ns", t.request_end),
            ],
        )?;
        let us = [
            (t.request_end - t.request_start) / 1000,
            (t.exec_start - t.queue_start) / 1000,
            (t.compute_start - t.exec_start) / 1000,
            (t.compute_end - t.compute_start) / 1000,
            (t.exec_end - t.compute_end) / 1000,
        ];
        add(&self.success, 1.0);
        add(&self.count, batch_size.max(1) as f64);
        if let Some(c) = &self.counters {
            for (m, v) in c.iter().zip(us) {
                add(m, v as f64);
            }
        }
        if let Some(s) = &self.summaries {
            for (m, v) in s.iter().zip(us) {
                observe(m, v as f64);
            }
        }
        if self.config.histogram_latencies {
            for (m, v) in self.histograms()?.iter().zip(us) {
                observe(m, v as f64);
            }
        }
        Ok(())
    }

    /// One failed request (Triton's `UpdateFailure`): `reason` one of [`FAILURE_REASONS`].
    pub fn report_failure(&self, reason: &str, request_start: u64, request_end: u64) -> Result<()> {
        let i = FAILURE_REASONS.iter().position(|r| *r == reason).ok_or_else(|| {
            Error::invalid_arg(format!(
                "unknown failure_reason \"{}\": expected NULL (BACKEND) or one of REJECTED, CANCELED, BACKEND, OTHER",
                reason.escape_debug()
            ))
        })?;
        check_order(
            "INFERMETRICS_ModelReporterReportRequest",
            &[
                ("request_start_ns", request_start),
                ("request_end_ns", request_end),
            ],
        )?;
        add(&self.failure[i], 1.0);
        Ok(())
    }

    /// One model execution (Triton's `UpdateInferBatchStats`): `nv_inference_exec_count` + 1.
    pub fn report_batch(
        &self,
        exec_start: u64,
        compute_start: u64,
        compute_end: u64,
        exec_end: u64,
    ) -> Result<()> {
        check_order(
            "INFERMETRICS_ModelReporterReportBatch",
            &[
                ("exec_start_ns", exec_start),
                ("compute_start_ns", compute_start),
                ("compute_end_ns", compute_end),
                ("exec_end_ns", exec_end),
            ],
        )?;
        add(&self.exec_count, 1.0);
        Ok(())
    }

    /// A request answered from the response cache (Triton's `UpdateSuccessCacheHit`): the
    /// lookup took `lookup_ns` and ended the request, so it started at `request_end −
    /// lookup_ns`, which is where queueing ended.
    pub fn report_cache_hit(
        &self,
        request_start: u64,
        queue_start: u64,
        request_end: u64,
        lookup_ns: u64,
    ) -> Result<()> {
        const WHAT: &str = "INFERMETRICS_ModelReporterReportCacheHit";
        check_order(
            WHAT,
            &[
                ("request_start_ns", request_start),
                ("queue_start_ns", queue_start),
                ("request_end_ns", request_end),
            ],
        )?;
        if lookup_ns > request_end - queue_start {
            return Err(Error::invalid_arg(format!(
                "{}: lookup_ns ({}) is longer than request_end_ns − queue_start_ns ({}): the lookup \
                 ends the request and starts after queueing; nothing recorded",
                WHAT,
                lookup_ns,
                request_end - queue_start
            )));
        }
        let request_us = ((request_end - request_start) / 1000) as f64;
        let queue_us = ((request_end - lookup_ns - queue_start) / 1000) as f64;
        let lookup_us = (lookup_ns / 1000) as f64;
        let cache = self.cache_series()?;
        add(&self.success, 1.0);
        if let Some(c) = &self.counters {
            add(&c[0], request_us);
            add(&c[1], queue_us);
        }
        if let Some([hits, duration]) = &cache.counters {
            add(hits, 1.0);
            add(duration, lookup_us);
        }
        if let Some(s) = &self.summaries {
            observe(&s[1], queue_us);
        }
        if let Some(s) = &cache.summary {
            observe(s, lookup_us);
        }
        if self.config.histogram_latencies {
            let h = self.histograms()?;
            observe(&h[0], request_us);
            observe(&h[1], queue_us);
        }
        Ok(())
    }

    /// The first response of a request (Triton's first-response histogram): observes
    /// `(first_response − request_start) / 1e6` ms (integer division) when
    /// `histogram_latencies` is on.
    pub fn report_first_response(&self, request_start: u64, first_response: u64) -> Result<()> {
        check_order(
            "INFERMETRICS_ModelReporterFirstResponse",
            &[
                ("request_start_ns", request_start),
                ("first_response_ns", first_response),
            ],
        )?;
        if !self.config.histogram_latencies {
            return Ok(());
        }
        let m = match self.first_response.get() {
            Some(m) => m,
            None => self.init_first_response()?,
        };
        observe(m, ((first_response - request_start) / 1_000_000) as f64);
        Ok(())
    }

    /// `nv_inference_pending_request_count` += `delta`.
    pub fn pending_add(&self, delta: i64) {
        add(&self.pending, delta as f64);
    }

    /// Sets the buckets of one of this reporter's histograms before it exists (it is created
    /// by the first report that observes in it). `family` is a duration histogram's name or
    /// `nv_inference_first_response_histogram_ms`. Another reporter with the same labels that
    /// created the series first decides its buckets (a series keeps its first buckets).
    pub fn set_histogram_buckets(&self, family: &str, buckets: &[f64]) -> Result<()> {
        if buckets.is_empty() {
            return Err(Error::invalid_arg(format!(
                "histogram options must specify non-empty 'buckets' (family '{}')",
                family
            )));
        }
        let b = validate_buckets(buckets)?.to_vec();
        let mut setup = fork::gated_lock(&self.setup);
        let exists = |created: bool| -> Result<()> {
            if created {
                Err(Error::already_exists(format!(
                    "the histogram '{}' of this reporter already exists (created by the first report): \
                     set its buckets before reporting",
                    family
                )))
            } else {
                Ok(())
            }
        };
        if family == FIRST_RESPONSE_FAMILY {
            exists(self.first_response.get().is_some())?;
            setup.first_response = Some(b);
            return Ok(());
        }
        match (0..5).find(|&i| histogram_name(i) == family) {
            Some(i) => {
                exists(self.histograms.get().is_some())?;
                setup.duration[i] = Some(b);
                Ok(())
            }
            None => Err(Error::invalid_arg(format!(
                "Metric family '{}' is not a customizable histogram: expected one of {}, {}",
                family,
                (0..5).map(histogram_name).collect::<Vec<_>>().join(", "),
                FIRST_RESPONSE_FAMILY
            ))),
        }
    }

    #[inline(always)]
    fn histograms(&self) -> Result<&[MetricHandle; 5]> {
        match self.histograms.get() {
            Some(h) => Ok(h),
            None => self.init_histograms(),
        }
    }

    #[cold]
    fn init_histograms(&self) -> Result<&[MetricHandle; 5]> {
        let setup = fork::gated_lock(&self.setup);
        if let Some(h) = self.histograms.get() {
            return Ok(h);
        }
        let h = open5(
            Kind::Histogram,
            histogram_name,
            &HISTOGRAM_HELP,
            &self.labels,
            |i| {
                Some(MetricArgs::histogram(
                    setup.duration[i]
                        .as_deref()
                        .unwrap_or(&DEFAULT_DURATION_BUCKETS_US),
                ))
            },
        )?;
        Ok(self.histograms.set(h))
    }

    #[cold]
    fn init_first_response(&self) -> Result<&MetricHandle> {
        let setup = fork::gated_lock(&self.setup);
        if let Some(m) = self.first_response.get() {
            return Ok(m);
        }
        let args = MetricArgs::histogram(
            setup
                .first_response
                .as_deref()
                .unwrap_or(&DEFAULT_FIRST_RESPONSE_BUCKETS_MS),
        );
        let m = open(
            Kind::Histogram,
            FIRST_RESPONSE_FAMILY,
            "Duration from request to first response in milliseconds",
            &self.labels,
            Some(&args),
        )?;
        Ok(self.first_response.set(m))
    }

    #[inline(always)]
    fn cache_series(&self) -> Result<&CacheSeries> {
        match self.cache.get() {
            Some(c) => Ok(c),
            None => self.init_cache(),
        }
    }

    #[cold]
    fn init_cache(&self) -> Result<&CacheSeries> {
        let _setup = fork::gated_lock(&self.setup);
        if let Some(c) = self.cache.get() {
            return Ok(c);
        }
        let counters = if self.config.counter_latencies {
            Some([
                open(
                    Kind::Counter,
                    "nv_cache_num_hits_per_model",
                    "Number of cache hits per model",
                    &self.labels,
                    None,
                )?,
                open(
                    Kind::Counter,
                    "nv_cache_hit_duration_per_model",
                    "Total cache hit duration per model, in microseconds",
                    &self.labels,
                    None,
                )?,
            ])
        } else {
            None
        };
        let summary = if self.config.summary_latencies {
            Some(open(
                Kind::Summary,
                "nv_cache_hit_summary_per_model",
                "Summary of cache hit counts/durations per model, in microseconds.",
                &self.labels,
                Some(&summary_args(&self.config)?),
            )?)
        } else {
            None
        };
        Ok(self.cache.set(CacheSeries { counters, summary }))
    }
}

fn summary_args(config: &MetricsConfig) -> Result<MetricArgs> {
    let (q, e): (Vec<f64>, Vec<f64>) = config.summary_quantiles.iter().copied().unzip();
    Ok(MetricArgs::summary(SummaryArgs::new(&q, &e, 0, 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_prefixes() {
        assert_eq!(strtod_prefix("0.0.1"), Some(0.0));
        assert_eq!(strtod_prefix(" 0.5"), Some(0.5));
        assert_eq!(strtod_prefix("5abc"), Some(5.0));
        assert_eq!(strtod_prefix("1e-3x"), Some(0.001));
        assert_eq!(strtod_prefix("1e"), Some(1.0));
        assert_eq!(strtod_prefix(".5"), Some(0.5));
        assert_eq!(strtod_prefix("abc"), None);
        assert_eq!(strtod_prefix(""), None);
        assert_eq!(strtod_prefix("."), None);
        assert!(strtod_prefix("nan").unwrap().is_nan());
    }

    #[test]
    fn config_parsing() {
        let c = MetricsConfig::parse("").unwrap();
        assert_eq!(c, MetricsConfig::default());
        let c = MetricsConfig::parse(
            "counter_latencies=false;histogram_latencies=true;summary_latencies=true;summary_quantiles=0.5:0.05,0.99:0.001",
        )
        .unwrap();
        assert!(!c.counter_latencies && c.histogram_latencies && c.summary_latencies);
        assert_eq!(c.summary_quantiles, vec![(0.5, 0.05), (0.99, 0.001)]);
        // Triton's L0 case: 0.0.1 reads as 0.0
        let c = MetricsConfig::parse("summary_quantiles=0.1:0.0.1,0.7:0.01,0.75:0.01").unwrap();
        assert_eq!(
            c.summary_quantiles,
            vec![(0.1, 0.0), (0.7, 0.01), (0.75, 0.01)]
        );
        // only the exact words switch; a repeated key never switches back
        let c = MetricsConfig::parse("counter_latencies=False;summary_latencies=TRUE").unwrap();
        assert!(c.counter_latencies && !c.summary_latencies);
        let c = MetricsConfig::parse("counter_latencies=false; counter_latencies=true").unwrap();
        assert!(!c.counter_latencies);
        // nothing valid: defaults stay
        let c = MetricsConfig::parse("summary_quantiles=abc,0.5").unwrap();
        assert_eq!(
            c.summary_quantiles,
            MetricsConfig::default().summary_quantiles
        );
        // a valid pair among bad ones is kept; out of range is skipped
        let c = MetricsConfig::parse("summary_quantiles=x:1,0.9:0.01,2:0.1").unwrap();
        assert_eq!(c.summary_quantiles, vec![(0.9, 0.01)]);
        assert!(MetricsConfig::parse("unknown_key=1").is_ok());
        for bad in ["counter_latencies", "=true", "counter_latencies=", "a,b=c"] {
            assert!(MetricsConfig::parse(bad).is_err(), "{}", bad);
        }
    }
}

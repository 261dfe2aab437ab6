//! `api_ops`: the C API as a sequence of operations on a table of handles, checked against a
//! model.
//!
//! Each input is a list of operations: create/delete parameters, families (all three kinds,
//! fuzzed names and HELP, sometimes invalid), metric args with fuzzed buckets, metrics with
//! fuzzed labels; increment/set/observe/value with fuzzed doubles; increment/observe with an
//! exemplar whose labels come from the same parameter table (live, deleted, non-STRING, NULL
//! entries, a NULL array, counts past the array); renders (MetricsFormatted with no server) in
//! Prometheus 0.0.4, parsed by the strict text parser, and in OpenMetrics, parsed by the
//! strict OpenMetrics parser (`imfuzz::om`); and deliberate misuse: any handle the table has
//! deleted is used again (use after delete, double delete), handles are passed as another
//! type, forged handle values, and NULL for every pointer argument.
//!
//! The model predicts, for every call, success or the error code (INVALID_ARG for misuse and
//! bad input, UNSUPPORTED for an operation of the wrong kind, INTERNAL for deleting a family
//! with live metrics), and the exact value of every series: MetricValue and the rendered text
//! must both match it. An exemplar call records its value exactly as the plain call would and
//! keeps its labels (`imfuzz::rules::exemplar_labels`) as the series' (counter) or bucket's
//! (histogram) latest exemplar, which OpenMetrics must show after that `_total` / `_bucket`
//! sample with the value and a timestamp taken during the call, and 0.0.4 never shows; on
//! any error nothing is recorded. Summaries refuse exemplars (UNSUPPORTED). At the end of each input everything is deleted and the rendered text
//! must be empty again (nothing leaked into the registry).
//!
//! Families are never unregistered, so family names come from a fixed set of 12 (`fz_0` ..
//! `fz_11`) plus names that are invalid by construction: the registry stays bounded however
//! long the fuzzer runs. Their kind and first HELP persist across inputs and are tracked in
//! `imfuzz::Registered`.
//!
//! `IM_FUZZ_LEGACY=1` leaves out the misuse of deleted, mistyped and forged handles (for
//! library versions whose handles are plain pointers, where that misuse reads freed memory).
#![no_main]

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use imfuzz::api::{self, expect, fails, ok, INTERNAL, INVALID_ARG, UNKNOWN, UNSUPPORTED};
use imfuzz::rules::{self, Key};
use imfuzz::{cstring, prom, same_f64, Registered, COUNTER, GAUGE, HISTOGRAM};
use infermetrics::ffi::args::*;
use infermetrics::ffi::error::*;
use infermetrics::ffi::family::*;
use infermetrics::ffi::metric::*;
use infermetrics::ffi::metrics::*;
use infermetrics::ffi::parameter::*;
use infermetrics::ffi::server::*;

const NAMES: usize = 12;
/// The library's own family for refused creations; a user may register the same name.
const REJECTED: &str = "nv_metric_series_rejected_total";
const LABEL_NAMES: [&[u8]; 9] = [b"a", b"b", b"model", b"le", b"_x", b"", b"__r", b"9x", b"trace_id"];
/// The last: 63 two-byte characters, 126 bytes; with a one-character name 64 characters, so
/// two of them exceed the exemplar limit of 128 characters and one does not (bytes would).
const LABEL_VALUES: [&[u8]; 8] = [
    b"",
    b"x",
    b"y",
    b"\"\\\n",
    b"le",
    "\u{e9}\u{2603}".as_bytes(),
    b"4bf92f3577b34da6a3ce929d0e0e4736",
    "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé".as_bytes(),
];

#[derive(Arbitrary, Debug)]
enum Bytes {
    Pick(u8),
    Fuzz(Vec<u8>),
}

impl Bytes {
    fn get(&self, picks: &[&[u8]]) -> Vec<u8> {
        let v = match self {
            Bytes::Pick(i) => picks[*i as usize % picks.len()].to_vec(),
            Bytes::Fuzz(v) => v.iter().copied().take(64).collect(),
        };
        // a C string ends at its NUL
        cstring(&v).into_bytes()
    }
}

/// A double: a special value, a small integer, or any bit pattern.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Pick(u8),
    Int(i16),
    Bits(u64),
}

impl Num {
    fn get(self) -> f64 {
        const PICKS: [f64; 12] = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e300,
            f64::MIN_POSITIVE,
            f64::MAX,
            1e-7,
        ];
        match self {
            Num::Pick(i) => PICKS[i as usize % PICKS.len()],
            Num::Int(i) => i as f64,
            Num::Bits(b) => f64::from_bits(b),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum FamName {
    /// `fz_<i % 13>`, or the library's own `nv_metric_series_rejected_total` for 12
    Index(u8),
    /// fuzzed bytes, made invalid if they happen to form a valid name
    Invalid(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Type {
    Param,
    Family,
    Args,
    Metric,
    Error,
}

/// The handle type a call expects, where no table of the target holds that type.
const OTHER: Option<Type> = None;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Call {
    MetricIncrement,
    MetricSet,
    MetricObserve,
    MetricValue,
    MetricKind,
    MetricDelete,
    FamilyKind,
    FamilyDelete,
    MetricNewFamily,
    MetricNewLabel,
    MetricNewArgs,
    ArgsSet,
    ArgsDelete,
    ParamDelete,
    MetricsFormatted,
    MetricsDelete,
    ServerPort,
    ServerDelete,
    ServerOptionsSetPort,
    ServerOptionsDelete,
    ErrorCode,
    ErrorMessage,
    ErrorCodeString,
    ErrorDelete,
    IncrementWithExemplar,
    ObserveWithExemplar,
    /// the handle as an entry of a counter's exemplar labels
    ExemplarLabel,
}

/// One entry of an exemplar's label array.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum ExLabel {
    /// an entry of the parameter table (live or deleted, any type)
    Param(u8),
    Null,
}

/// The exemplar label array passed to an exemplar call.
#[derive(Arbitrary, Debug)]
enum ExArray {
    List(Vec<ExLabel>),
    /// a NULL array with a count of `count % 4` (0 is allowed)
    Null { count: u8 },
    /// a one-entry array with a count far past it (must be refused before any read)
    Huge(ExLabel, bool),
}

#[derive(Arbitrary, Debug)]
enum Op {
    ParamNew { name: Bytes, ty: u8, value: Bytes, scalar: u64 },
    ParamDelete(u8),
    FamilyNew { kind: u8, name: FamName, help: Bytes },
    FamilyDelete(u8),
    FamilyKind(u8),
    ArgsNew,
    ArgsSet { args: u8, buckets: Vec<Num> },
    ArgsDelete(u8),
    MetricNew { family: u8, labels: Vec<u8>, args: Option<u8> },
    MetricDelete(u8),
    Increment(u8, Num),
    Set(u8, Num),
    Observe(u8, Num),
    Value(u8),
    MetricKind(u8),
    Render,
    WrongType { from: Type, index: u8, call: Call },
    Forged { bits: u64, call: Call },
    Null(u8),
    ErrorNew { code: u32, msg: Option<Bytes> },
    /// INFERMETRICS_SetMaxSeriesPerFamily(i % 4): 0 (no limit), 1, 2 or 3 series per family
    SetMaxSeries(u8),
    IncrementWithExemplar(u8, Num, ExArray),
    ObserveWithExemplar(u8, Num, ExArray),
    /// MetricsFormatted in OpenMetrics, checked against the model
    RenderOpenMetrics,
    /// a summary series (created and deleted in the op) refuses both exemplar calls
    SummaryExemplar { observe: bool, value: Num, labels: ExArray },
}

/// An exemplar the model expects: labels (sorted), value, and the wall-clock time (seconds,
/// truncated to milliseconds) just before the call that recorded it.
#[derive(Debug, Clone)]
struct ExemplarModel {
    labels: Key,
    value: f64,
    not_before: f64,
}

struct ParamSlot {
    h: *mut INFERMETRICS_Parameter,
    live: bool,
    /// Some((name, value)) for STRING parameters
    label: Option<(Vec<u8>, Vec<u8>)>,
}
struct FamSlot {
    h: *mut INFERMETRICS_MetricFamily,
    live: bool,
    name: String,
    kind: u32,
    children: usize,
}
struct ArgsSlot {
    h: *mut INFERMETRICS_MetricArgs,
    live: bool,
    buckets: Option<Vec<f64>>,
}
struct MetricSlot {
    h: *mut INFERMETRICS_Metric,
    live: bool,
    family: String,
    kind: u32,
    key: Key,
    /// the family slot it was created through (whose child count it raises)
    parent: usize,
}

#[derive(Debug)]
struct SeriesModel {
    refs: usize,
    value: f64,
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    /// the latest exemplar: one slot for a counter, one per bucket (`+Inf` last) for a histogram
    exemplars: Vec<Option<ExemplarModel>>,
}

#[derive(Default)]
struct State {
    stale: bool,
    params: Vec<ParamSlot>,
    families: Vec<FamSlot>,
    args: Vec<ArgsSlot>,
    metrics: Vec<MetricSlot>,
    series: HashMap<(String, Key), SeriesModel>,
    /// the per-family series limit in force (0: none)
    limit: u64,
}

/// Creations refused by the series limit, per family, since the process started (the
/// library serves them as nv_metric_series_rejected_total{family}).
static REJECTIONS: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn stale_enabled() -> bool {
    !rules::legacy()
}

/// Index into a table: None when empty, or when it hits a deleted slot and stale use is off.
fn pick<T>(v: &[T], i: u8, live: impl Fn(&T) -> bool, stale: bool) -> Option<usize> {
    if v.is_empty() {
        return None;
    }
    let i = i as usize % v.len();
    if !stale && !live(&v[i]) {
        return None;
    }
    Some(i)
}

impl State {
    fn all_handles(&self) -> Vec<usize> {
        let mut v: Vec<usize> = Vec::new();
        v.extend(self.params.iter().map(|s| s.h as usize));
        v.extend(self.families.iter().map(|s| s.h as usize));
        v.extend(self.args.iter().map(|s| s.h as usize));
        v.extend(self.metrics.iter().map(|s| s.h as usize));
        v
    }

    unsafe fn param_new(&mut self, name: &Bytes, ty: u8, value: &Bytes, scalar: u64) {
        let n = name.get(&LABEL_NAMES);
        let cn = cstring(&n);
        let ty = match ty % 6 {
            5 => 0x8000_0000u32 | ty as u32,
            t => t as u32,
        };
        let v = value.get(&LABEL_VALUES);
        let cv = cstring(&v);
        let p: *const c_void = match ty {
            0 => cv.as_ptr() as *const c_void,
            _ => &scalar as *const u64 as *const c_void,
        };
        let h = INFERMETRICS_ParameterNew(cn.as_ptr(), RawParameterType(ty), p);
        if ty >= 4 {
            assert!(h.is_null(), "ParameterNew accepted type {ty}");
            return;
        }
        assert!(!h.is_null(), "ParameterNew refused type {ty}");
        self.params.push(ParamSlot {
            h,
            live: true,
            label: (ty == 0).then_some((n, v)),
        });
    }

    unsafe fn family_new(&mut self, kind: u8, name: &FamName, help: &Bytes) {
        let k = kind % 4;
        // 3 is the summary kind, not fuzzed here: an invalid kind instead
        let raw = if k == 3 { 4 + kind as u32 * 7919 } else { k as u32 };
        let name = match name {
            FamName::Index(i) if *i as usize % (NAMES + 1) == NAMES => REJECTED.as_bytes().to_vec(),
            FamName::Index(i) => format!("fz_{}", *i as usize % (NAMES + 1)).into_bytes(),
            FamName::Invalid(b) => {
                let b = cstring(b).into_bytes();
                if rules::valid_metric_name(&b) {
                    [b"9".as_slice(), &b].concat()
                } else {
                    b
                }
            }
        };
        let help = help.get(&[b"", b"help", b"a\\b\nc\"d", "\u{2603}".as_bytes()]);
        let (cn, ch) = (cstring(&name), cstring(&help));
        let mut h = null_mut();
        let e = INFERMETRICS_MetricFamilyNew(&mut h, RawMetricKind(raw), cn.as_ptr(), ch.as_ptr());
        let valid = raw < 3
            && rules::valid_family_name(&name, raw as u32)
            && std::str::from_utf8(&help).is_ok();
        let name = String::from_utf8(name).unwrap_or_default();
        let clash = valid
            && Registered::global()
                .get(&name)
                .map_or(false, |r| r.kind != raw);
        if !valid || clash {
            fails("MetricFamilyNew", INVALID_ARG, e);
            assert!(h.is_null(), "MetricFamilyNew wrote its out-parameter on error");
            return;
        }
        if name == REJECTED && Registered::global().get(&name).is_none() {
            // the library may reserve its own family's name; if it accepts it, the name is
            // an ordinary family and the output must still be valid
            if let Err(f) = api::take(e) {
                assert_eq!(f.code, INVALID_ARG, "MetricFamilyNew({REJECTED}): {}", f.message);
                return;
            }
        } else {
            ok("MetricFamilyNew", e);
        }
        assert!(!h.is_null());
        Registered::global().record(&name, raw, std::str::from_utf8(&help).unwrap());
        self.families.push(FamSlot {
            h,
            live: true,
            name,
            kind: raw,
            children: 0,
        });
    }

    unsafe fn family_delete(&mut self, i: usize) {
        let f = &mut self.families[i];
        let e = INFERMETRICS_MetricFamilyDelete(f.h);
        if !f.live {
            fails("MetricFamilyDelete of a deleted family", INVALID_ARG, e);
        } else if f.children > 0 {
            fails("MetricFamilyDelete with live metrics", INTERNAL, e);
        } else {
            ok("MetricFamilyDelete", e);
            f.live = false;
        }
    }

    unsafe fn family_kind(&mut self, i: usize) {
        let f = &self.families[i];
        let mut k = RawMetricKind(99);
        let e = INFERMETRICS_GetMetricFamilyKind(f.h, &mut k);
        if f.live {
            ok("GetMetricFamilyKind", e);
            assert_eq!(k.0, f.kind);
        } else {
            fails("GetMetricFamilyKind of a deleted family", INVALID_ARG, e);
        }
    }

    unsafe fn args_new(&mut self) {
        let mut h = null_mut();
        ok("MetricArgsNew", INFERMETRICS_MetricArgsNew(&mut h));
        self.args.push(ArgsSlot {
            h,
            live: true,
            buckets: None,
        });
    }

    unsafe fn args_set(&mut self, i: usize, buckets: &[Num]) {
        let b: Vec<f64> = buckets.iter().map(|n| n.get()).collect();
        let a = &mut self.args[i];
        // an empty list sometimes as a NULL pointer (allowed with count 0)
        let p = if b.is_empty() && i % 2 == 0 { null() } else { b.as_ptr() };
        let e = INFERMETRICS_MetricArgsSetHistogram(a.h, p, b.len() as u64);
        if a.live {
            ok("MetricArgsSetHistogram", e);
            a.buckets = Some(b);
        } else {
            fails("MetricArgsSetHistogram of deleted args", INVALID_ARG, e);
        }
    }

    unsafe fn args_delete(&mut self, i: usize) {
        let a = &mut self.args[i];
        let e = INFERMETRICS_MetricArgsDelete(a.h);
        expect("MetricArgsDelete", a.live, INVALID_ARG, e);
        a.live = false;
    }

    unsafe fn param_delete(&mut self, i: usize) {
        let p = &mut self.params[i];
        INFERMETRICS_ParameterDelete(p.h);
        p.live = false;
    }

    unsafe fn metric_new(&mut self, fi: usize, labels: &[u8], args: Option<u8>) {
        let stale = self.stale;
        let mut label_ptrs: Vec<*const INFERMETRICS_Parameter> = Vec::new();
        let mut label_vals: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut labels_ok = true;
        for &l in labels.iter().take(6) {
            let Some(pi) = pick(&self.params, l, |p| p.live, stale) else {
                continue;
            };
            let p = &self.params[pi];
            label_ptrs.push(p.h);
            match (&p.label, p.live) {
                (Some(lv), true) => label_vals.push(lv.clone()),
                _ => labels_ok = false,
            }
        }
        let (args_ptr, args_state): (*const INFERMETRICS_MetricArgs, Option<(bool, Option<Vec<f64>>)>) =
            match args.and_then(|a| pick(&self.args, a, |x| x.live, stale)) {
                None => (null(), None),
                Some(ai) => {
                    let a = &self.args[ai];
                    (a.h, Some((a.live, a.buckets.clone())))
                }
            };
        let f = &self.families[fi];
        let mut h = null_mut();
        let e = INFERMETRICS_MetricNewWithArgs(
            &mut h,
            f.h,
            label_ptrs.as_mut_ptr(),
            label_ptrs.len() as u64,
            args_ptr,
        );
        let histogram = f.kind == HISTOGRAM;
        let key = if labels_ok { rules::series_key(&label_vals, histogram) } else { None };
        let bounds = match (&args_state, histogram) {
            (None, false) => Some(vec![]),
            (Some((true, Some(b))), true) => rules::checked_buckets(b),
            _ => None,
        };
        let (Some(key), Some(bounds), true) = (key, bounds, f.live) else {
            fails("MetricNewWithArgs", INVALID_ARG, e);
            assert!(h.is_null(), "MetricNew wrote its out-parameter on error");
            return;
        };
        let in_family = self.series.keys().filter(|(n, _)| *n == f.name).count() as u64;
        if self.limit != 0 && !self.series.contains_key(&(f.name.clone(), key.clone())) && in_family >= self.limit {
            fails("MetricNewWithArgs over the series limit", api::UNAVAILABLE, e);
            assert!(h.is_null(), "MetricNew wrote its out-parameter on error");
            *REJECTIONS.lock().unwrap().entry(f.name.clone()).or_default() += 1;
            return;
        }
        ok("MetricNewWithArgs", e);
        assert!(!h.is_null());
        let (family, kind) = (f.name.clone(), f.kind);
        self.families[fi].children += 1;
        let s = self
            .series
            .entry((family.clone(), key.clone()))
            .or_insert_with(|| SeriesModel {
                refs: 0,
                value: 0.0,
                counts: vec![0; bounds.len() + 1],
                exemplars: vec![None; bounds.len() + 1],
                bounds,
                sum: 0.0,
            });
        s.refs += 1;
        self.metrics.push(MetricSlot {
            h,
            live: true,
            family,
            kind,
            key,
            parent: fi,
        });
    }

    unsafe fn metric_delete(&mut self, i: usize) {
        let m = &mut self.metrics[i];
        let e = INFERMETRICS_MetricDelete(m.h);
        if !m.live {
            fails("MetricDelete of a deleted metric", INVALID_ARG, e);
            return;
        }
        ok("MetricDelete", e);
        m.live = false;
        let fi = m.parent;
        self.families[fi].children -= 1;
        let id = (m.family.clone(), m.key.clone());
        let s = self.series.get_mut(&id).unwrap();
        s.refs -= 1;
        if s.refs == 0 {
            self.series.remove(&id);
        }
    }

    unsafe fn record(&mut self, i: usize, op: u8, n: Num) {
        let v = n.get();
        let m = &self.metrics[i];
        let h = m.h;
        if !m.live {
            let e = match op {
                0 => INFERMETRICS_MetricIncrement(h, v),
                1 => INFERMETRICS_MetricSet(h, v),
                _ => INFERMETRICS_MetricObserve(h, v),
            };
            fails("recording on a deleted metric", INVALID_ARG, e);
            return;
        }
        let kind = m.kind;
        let s = self.series.get_mut(&(m.family.clone(), m.key.clone())).unwrap();
        match op {
            0 => {
                let e = INFERMETRICS_MetricIncrement(h, v);
                match kind {
                    COUNTER if v >= 0.0 => {
                        ok("counter MetricIncrement", e);
                        s.value += v;
                    }
                    COUNTER => {
                        fails("counter MetricIncrement by a negative or NaN value", INVALID_ARG, e);
                    }
                    GAUGE => {
                        ok("gauge MetricIncrement", e);
                        s.value += v;
                    }
                    _ => {
                        fails("histogram MetricIncrement", UNSUPPORTED, e);
                    }
                }
            }
            1 => {
                let e = INFERMETRICS_MetricSet(h, v);
                if kind == GAUGE {
                    ok("gauge MetricSet", e);
                    s.value = v;
                } else {
                    fails("MetricSet of a counter or histogram", UNSUPPORTED, e);
                }
            }
            _ => {
                let e = INFERMETRICS_MetricObserve(h, v);
                match kind {
                    HISTOGRAM if v.is_nan() => {
                        fails("MetricObserve of NaN", INVALID_ARG, e);
                    }
                    HISTOGRAM => {
                        ok("MetricObserve", e);
                        let b = s.bounds.iter().position(|b| v <= *b).unwrap_or(s.bounds.len());
                        s.counts[b] += 1;
                        s.sum += v;
                    }
                    _ => {
                        fails("MetricObserve of a counter or gauge", UNSUPPORTED, e);
                    }
                }
            }
        }
    }

    unsafe fn value(&mut self, i: usize) {
        let m = &self.metrics[i];
        let mut v = -12345.0;
        let e = INFERMETRICS_MetricValue(m.h, &mut v);
        if !m.live {
            fails("MetricValue of a deleted metric", INVALID_ARG, e);
            return;
        }
        if m.kind == HISTOGRAM {
            fails("MetricValue of a histogram", UNSUPPORTED, e);
            return;
        }
        ok("MetricValue", e);
        let s = &self.series[&(m.family.clone(), m.key.clone())];
        assert!(
            same_f64(v, s.value),
            "MetricValue of {} {:?}: library {v:?}, model {:?}",
            m.family,
            m.key,
            s.value
        );
    }

    unsafe fn metric_kind(&mut self, i: usize) {
        let m = &self.metrics[i];
        let mut k = RawMetricKind(99);
        let e = INFERMETRICS_GetMetricKind(m.h, &mut k);
        if m.live {
            ok("GetMetricKind", e);
            assert_eq!(k.0, m.kind);
        } else {
            fails("GetMetricKind of a deleted metric", INVALID_ARG, e);
        }
    }

    /// Builds an exemplar label array from the parameter table: the pointers (kept alive by
    /// the returned Vec), the array pointer and count to pass, and the (name, value) pairs
    /// when every entry is a live STRING parameter and the count is the array's (None: the
    /// call must refuse the array).
    fn exemplar_array(
        &self,
        a: &ExArray,
    ) -> (Vec<*const INFERMETRICS_Parameter>, bool, u64, Option<Vec<(Vec<u8>, Vec<u8>)>>) {
        let entry = |l: &ExLabel| -> (*const INFERMETRICS_Parameter, Option<(Vec<u8>, Vec<u8>)>) {
            match *l {
                ExLabel::Null => (null(), None),
                ExLabel::Param(i) => match pick(&self.params, i, |p| p.live, self.stale) {
                    // an empty table: a NULL entry
                    None => (null(), None),
                    Some(i) => {
                        let p = &self.params[i];
                        (p.h, if p.live { p.label.clone() } else { None })
                    }
                },
            }
        };
        match a {
            ExArray::List(v) => {
                let mut ptrs = Vec::new();
                let mut pairs = Some(Vec::new());
                for l in v.iter().take(8) {
                    let (p, pair) = entry(l);
                    ptrs.push(p);
                    match (pair, pairs.as_mut()) {
                        (Some(pair), Some(all)) => all.push(pair),
                        _ => pairs = None,
                    }
                }
                let n = ptrs.len() as u64;
                (ptrs, false, n, pairs)
            }
            ExArray::Null { count } => {
                let n = (*count % 4) as u64;
                (Vec::new(), true, n, (n == 0).then(Vec::new))
            }
            ExArray::Huge(l, max) => {
                let (p, _) = entry(l);
                (vec![p], false, if *max { u64::MAX } else { 4097 }, None)
            }
        }
    }

    /// IncrementWithExemplar (`observe` false) or ObserveWithExemplar on metric `i`.
    unsafe fn record_exemplar(&mut self, i: usize, observe: bool, n: Num, a: &ExArray) {
        let v = n.get();
        let (mut ptrs, null_array, count, pairs) = self.exemplar_array(a);
        let arr = if null_array { null_mut() } else { ptrs.as_mut_ptr() };
        let m = &self.metrics[i];
        let not_before = now_ms();
        let e = if observe {
            INFERMETRICS_MetricObserveWithExemplar(m.h, v, arr, count)
        } else {
            INFERMETRICS_MetricIncrementWithExemplar(m.h, v, arr, count)
        };
        let what = format!(
            "{} on a {} ({v:?}, {a:?})",
            if observe { "MetricObserveWithExemplar" } else { "MetricIncrementWithExemplar" },
            imfuzz::type_name(m.kind)
        );
        if !m.live {
            fails(&format!("{what} of a deleted metric"), INVALID_ARG, e);
            return;
        }
        let labels = pairs.and_then(|p| rules::exemplar_labels(&p));
        let right_kind = m.kind == if observe { HISTOGRAM } else { COUNTER };
        let Some(labels) = labels else {
            // bad labels: INVALID_ARG; on the wrong kind either error is right (the header
            // gives no order between the two checks)
            let f = api::take(e).err().unwrap_or_else(|| panic!("{what}: bad exemplar labels accepted"));
            assert!(
                f.code == INVALID_ARG || (!right_kind && f.code == UNSUPPORTED),
                "{what}: bad exemplar labels: code {}: {}",
                f.code,
                f.message
            );
            return;
        };
        if !right_kind {
            fails(&what, UNSUPPORTED, e);
            return;
        }
        let value_ok = if observe { !v.is_nan() } else { v >= 0.0 };
        if !value_ok {
            fails(&what, INVALID_ARG, e);
            return;
        }
        ok(&what, e);
        let s = self.series.get_mut(&(m.family.clone(), m.key.clone())).unwrap();
        let slot = if observe {
            let b = s.bounds.iter().position(|b| v <= *b).unwrap_or(s.bounds.len());
            s.counts[b] += 1;
            s.sum += v;
            b
        } else {
            s.value += v;
            0
        };
        s.exemplars[slot] = Some(ExemplarModel {
            labels,
            value: v,
            not_before,
        });
    }

    /// A summary refuses both exemplar calls (UNSUPPORTED, or INVALID_ARG for labels that are
    /// bad anyway); its family and metric live only during this op.
    unsafe fn summary_exemplar(&mut self, observe: bool, n: Num, a: &ExArray) {
        const NAME: &str = "fz_summary";
        if Registered::global().get(NAME).is_none() {
            Registered::global().record(NAME, 3, "");
        }
        let mut f = null_mut();
        ok(
            "MetricFamilyNew(summary)",
            INFERMETRICS_MetricFamilyNew(&mut f, RawMetricKind(3), c"fz_summary".as_ptr(), c"".as_ptr()),
        );
        let mut args = null_mut();
        ok("MetricArgsNew", INFERMETRICS_MetricArgsNew(&mut args));
        let (q, err) = ([0.5], [0.05]);
        ok(
            "MetricArgsSetSummary",
            INFERMETRICS_MetricArgsSetSummary(args, q.as_ptr(), err.as_ptr(), 1, 0, 0),
        );
        let mut m = null_mut();
        // the family never has a series outside this op, so the series limit never refuses it
        ok("MetricNewWithArgs(summary)", INFERMETRICS_MetricNewWithArgs(&mut m, f, null_mut(), 0, args));
        ok("MetricArgsDelete", INFERMETRICS_MetricArgsDelete(args));
        let (mut ptrs, null_array, count, pairs) = self.exemplar_array(a);
        let arr = if null_array { null_mut() } else { ptrs.as_mut_ptr() };
        let v = n.get();
        let e = if observe {
            INFERMETRICS_MetricObserveWithExemplar(m, v, arr, count)
        } else {
            INFERMETRICS_MetricIncrementWithExemplar(m, v, arr, count)
        };
        let f2 = api::take(e).err().expect("an exemplar call on a summary succeeded");
        let labels_ok = pairs.and_then(|p| rules::exemplar_labels(&p)).is_some();
        assert!(
            f2.code == UNSUPPORTED || (!labels_ok && f2.code == INVALID_ARG),
            "exemplar call on a summary ({a:?}): code {}: {}",
            f2.code,
            f2.message
        );
        ok("MetricDelete(summary)", INFERMETRICS_MetricDelete(m));
        ok("MetricFamilyDelete(summary)", INFERMETRICS_MetricFamilyDelete(f));
    }

    /// Renders the registry in OpenMetrics and checks it against the model: the families and
    /// values of the 0.0.4 check (counters as `<family>_total` samples of the family without
    /// `_total`), and every exemplar the model holds, nothing else.
    unsafe fn render_openmetrics(&mut self) {
        let text = render_text_as(1);
        let fams = imfuzz::om::parse(&text).unwrap_or_else(|e| {
            panic!("rendered text is not strict OpenMetrics: {e}\n{}", String::from_utf8_lossy(&text))
        });
        let now = now_ms() + 0.001;
        let mut expected: HashMap<&str, Vec<(&Key, &SeriesModel)>> = HashMap::new();
        for ((fam, key), s) in &self.series {
            // the user's family of the library's own name: its 0.0.4 check covers it (in
            // OpenMetrics the two may clash, and then one is left out)
            if fam != REJECTED {
                expected.entry(fam.as_str()).or_default().push((key, s));
            }
        }
        let check_exemplar = |what: &str, got: &Option<imfuzz::om::Exemplar>, want: &Option<ExemplarModel>| {
            match (got, want) {
                (None, None) => {}
                (Some(g), Some(w)) => {
                    assert_eq!(prom::sorted(&g.labels), w.labels, "exemplar labels of {what}");
                    assert!(same_f64(g.value, w.value), "exemplar value of {what}: {} vs {}", g.value, w.value);
                    assert!(
                        g.timestamp >= w.not_before && g.timestamp <= now,
                        "exemplar timestamp of {what}: {} not in [{}, {now}]",
                        g.timestamp,
                        w.not_before
                    );
                }
                _ => panic!("exemplar of {what}: text {got:?}, model {want:?}"),
            }
        };
        for f in &fams {
            let name = match f.kind.as_str() {
                "counter" => {
                    let total = format!("{}_total", f.name);
                    if Registered::global().get(&total).is_some_and(|r| r.kind == COUNTER) {
                        total
                    } else {
                        f.name.clone()
                    }
                }
                _ => f.name.clone(),
            };
            if name == REJECTED || f.name == rules::openmetrics_counter_family(REJECTED) {
                continue;
            }
            let rec = Registered::global()
                .get(&name)
                .unwrap_or_else(|| panic!("rendered family {} was never registered", f.name));
            let want = expected
                .remove(name.as_str())
                .unwrap_or_else(|| panic!("family {} rendered with no live series", f.name));
            assert_eq!(f.kind, imfuzz::type_name(rec.kind), "TYPE of {}", f.name);
            let help = (!rec.help.is_empty()).then_some(rec.help.clone());
            assert_eq!(f.help, help, "HELP of {}", f.name);
            if rec.kind == COUNTER {
                assert_eq!(f.name, rules::openmetrics_counter_family(&name), "family of counter {name}");
            }
            let p = f.as_prom();
            if rec.kind == HISTOGRAM {
                let got = p.histograms();
                assert_eq!(got.len(), want.len(), "series of {}: {:?}", f.name, got);
                for (key, s) in want {
                    let h = got.get(key).unwrap_or_else(|| panic!("series {} {:?} missing", f.name, key));
                    check_histogram(&f.name, key, h, s);
                    for smp in f.samples.iter().filter(|x| x.name.ends_with("_bucket")) {
                        let mut l = smp.labels.clone();
                        let le = l.iter().position(|(n, _)| n == "le").unwrap();
                        let le = prom::parse_value(&l.remove(le).1).unwrap();
                        if prom::sorted(&l) != *key {
                            continue;
                        }
                        let b = s.bounds.iter().position(|b| *b == le).unwrap_or(s.bounds.len());
                        check_exemplar(&format!("{} {key:?} le={le}", f.name), &smp.exemplar, &s.exemplars[b]);
                    }
                }
            } else {
                let got = p.scalars();
                assert_eq!(got.len(), want.len(), "series of {}: {:?}", f.name, got);
                for (key, s) in want {
                    let v = got
                        .get(key)
                        .unwrap_or_else(|| panic!("series {} {:?} missing from {:?}", f.name, key, got));
                    assert!(same_f64(*v, s.value), "{} {:?}: text {v}, model {}", f.name, key, s.value);
                    let smp = f.samples.iter().find(|x| prom::sorted(&x.labels) == *key).unwrap();
                    let want_ex = if rec.kind == COUNTER { s.exemplars[0].clone() } else { None };
                    check_exemplar(&format!("{} {key:?}", f.name), &smp.exemplar, &want_ex);
                }
            }
        }
        assert!(expected.is_empty(), "live series not rendered in OpenMetrics: {:?}", expected.keys());
    }

    /// Renders the registry and checks it against the model, exactly.
    unsafe fn render(&mut self) {
        let text = render_text();
        let fams = prom::parse(&text).unwrap_or_else(|e| {
            panic!("rendered text is not strict 0.0.4: {e}\n{}", String::from_utf8_lossy(&text))
        });
        let mut expected: HashMap<&str, Vec<(&Key, &SeriesModel)>> = HashMap::new();
        for ((fam, key), s) in &self.series {
            expected.entry(fam.as_str()).or_default().push((key, s));
        }
        let rejections = REJECTIONS.lock().unwrap().clone();
        let mut self_metric_seen = false;
        for f in &fams {
            if f.name == REJECTED && !expected.contains_key(REJECTED) {
                // the library's own family: one counter per family that had a creation refused
                assert!(!self_metric_seen, "{REJECTED} printed twice");
                self_metric_seen = true;
                assert_eq!(f.kind, "counter");
                let got: Vec<(Key, f64)> = f.scalars().into_iter().collect();
                let want: Vec<(Key, f64)> = rejections
                    .iter()
                    .map(|(n, c)| (vec![("family".to_owned(), n.clone())], *c as f64))
                    .collect();
                assert_eq!(got, want, "{REJECTED}");
                continue;
            }
            let rec = Registered::global()
                .get(&f.name)
                .unwrap_or_else(|| panic!("rendered family {} was never registered", f.name));
            let want = expected
                .remove(f.name.as_str())
                .unwrap_or_else(|| panic!("family {} rendered with no live series", f.name));
            assert_eq!(f.kind, imfuzz::type_name(rec.kind), "TYPE of {}", f.name);
            let help = (!rec.help.is_empty()).then_some(rec.help.clone());
            assert_eq!(f.help, help, "HELP of {}", f.name);
            if rec.kind == HISTOGRAM {
                let got = f.histograms();
                assert_eq!(got.len(), want.len(), "series of {}: {:?}", f.name, got);
                for (key, s) in want {
                    let h = got
                        .get(key)
                        .unwrap_or_else(|| panic!("series {} {:?} missing", f.name, key));
                    check_histogram(&f.name, key, h, s);
                }
            } else {
                let got = f.scalars();
                assert_eq!(got.len(), want.len(), "series of {}: {:?}", f.name, got);
                for (key, s) in want {
                    let v = got
                        .get(key)
                        .unwrap_or_else(|| panic!("series {} {:?} missing from {:?}", f.name, key, got));
                    assert!(same_f64(*v, s.value), "{} {:?}: text {v}, model {}", f.name, key, s.value);
                }
            }
        }
        assert!(expected.is_empty(), "live series not rendered: {:?}", expected.keys());
        let user_owns_name = self.series.keys().any(|(n, _)| n == REJECTED);
        assert!(
            self_metric_seen || rejections.is_empty() || user_owns_name,
            "creations were refused but {REJECTED} is not served"
        );
    }

    /// A handle of type `from` passed where `call` expects another type.
    unsafe fn wrong_type(&mut self, from: Type, index: u8, call: Call) {
        let (raw, error_obj): (usize, bool) = match from {
            Type::Param => match pick(&self.params, index, |_| true, true) {
                Some(i) => (self.params[i].h as usize, false),
                None => return,
            },
            Type::Family => match pick(&self.families, index, |_| true, true) {
                Some(i) => (self.families[i].h as usize, false),
                None => return,
            },
            Type::Args => match pick(&self.args, index, |_| true, true) {
                Some(i) => (self.args[i].h as usize, false),
                None => return,
            },
            Type::Metric => match pick(&self.metrics, index, |_| true, true) {
                Some(i) => (self.metrics[i].h as usize, false),
                None => return,
            },
            Type::Error => (INFERMETRICS_ErrorNew(RawErrorCode(index as u32), c"x".as_ptr()) as usize, true),
        };
        let same = matches!(
            (from, call_type(call)),
            (Type::Param, Some(Type::Param))
                | (Type::Family, Some(Type::Family))
                | (Type::Args, Some(Type::Args))
                | (Type::Metric, Some(Type::Metric))
                | (Type::Error, Some(Type::Error))
        );
        // the same type is not a wrong type: the ordinary operations cover it
        if !same {
            self.bad_handle_call(raw, call);
        }
        if error_obj {
            INFERMETRICS_ErrorDelete(raw as *mut INFERMETRICS_Error);
        }
    }

    /// Calls `call` with `raw` as its handle, which is not a live handle of that type: the
    /// call must refuse it with INVALID_ARG (or do nothing, for the calls with no result).
    unsafe fn bad_handle_call(&mut self, raw: usize, call: Call) {
        let what = format!("{call:?} on a bad handle {raw:#x}");
        let mut out_kind = RawMetricKind(99);
        let mut v = 0.0f64;
        let e = match call {
            Call::MetricIncrement => INFERMETRICS_MetricIncrement(raw as _, 1.0),
            Call::MetricSet => INFERMETRICS_MetricSet(raw as _, 1.0),
            Call::MetricObserve => INFERMETRICS_MetricObserve(raw as _, 1.0),
            Call::MetricValue => INFERMETRICS_MetricValue(raw as _, &mut v),
            Call::MetricKind => INFERMETRICS_GetMetricKind(raw as _, &mut out_kind),
            Call::MetricDelete => INFERMETRICS_MetricDelete(raw as _),
            Call::FamilyKind => INFERMETRICS_GetMetricFamilyKind(raw as _, &mut out_kind),
            Call::FamilyDelete => INFERMETRICS_MetricFamilyDelete(raw as _),
            Call::MetricNewFamily => {
                let mut m = null_mut();
                let e = INFERMETRICS_MetricNew(&mut m, raw as _, null_mut(), 0);
                assert!(m.is_null());
                e
            }
            Call::MetricNewLabel | Call::MetricNewArgs => {
                // needs a live family of the right kind to reach the label / args check
                let want = if matches!(call, Call::MetricNewArgs) { HISTOGRAM } else { COUNTER };
                let Some(f) = self.families.iter().find(|f| f.live && f.kind == want) else {
                    return;
                };
                let mut m = null_mut();
                let e = if matches!(call, Call::MetricNewLabel) {
                    let mut l = [raw as *const INFERMETRICS_Parameter];
                    INFERMETRICS_MetricNew(&mut m, f.h, l.as_mut_ptr(), 1)
                } else {
                    INFERMETRICS_MetricNewWithArgs(&mut m, f.h, null_mut(), 0, raw as _)
                };
                assert!(m.is_null(), "{what}: created a metric");
                e
            }
            Call::IncrementWithExemplar => INFERMETRICS_MetricIncrementWithExemplar(raw as _, 1.0, null_mut(), 0),
            Call::ObserveWithExemplar => INFERMETRICS_MetricObserveWithExemplar(raw as _, 1.0, null_mut(), 0),
            Call::ExemplarLabel => {
                // on a live counter, so that only the label can be wrong (nothing is recorded)
                let Some(m) = self.metrics.iter().find(|m| m.live && m.kind == COUNTER) else {
                    return;
                };
                let mut l = [raw as *const INFERMETRICS_Parameter];
                INFERMETRICS_MetricIncrementWithExemplar(m.h, 1.0, l.as_mut_ptr(), 1)
            }
            Call::ArgsSet => INFERMETRICS_MetricArgsSetHistogram(raw as _, null(), 0),
            Call::ArgsDelete => INFERMETRICS_MetricArgsDelete(raw as _),
            Call::ParamDelete => {
                INFERMETRICS_ParameterDelete(raw as _);
                return;
            }
            Call::MetricsFormatted => {
                let (mut base, mut size) = (null::<c_char>(), 0usize);
                INFERMETRICS_MetricsFormatted(raw as _, RawMetricFormat(0), &mut base, &mut size)
            }
            Call::MetricsDelete => INFERMETRICS_MetricsDelete(raw as _),
            Call::ServerPort => {
                let mut port = 0u16;
                INFERMETRICS_ServerPort(raw as _, &mut port)
            }
            Call::ServerDelete => INFERMETRICS_ServerDelete(raw as _),
            Call::ServerOptionsSetPort => INFERMETRICS_ServerOptionsSetPort(raw as _, 1),
            Call::ServerOptionsDelete => INFERMETRICS_ServerOptionsDelete(raw as _),
            Call::ErrorCode => {
                assert_eq!(INFERMETRICS_ErrorCode(raw as _).0, UNKNOWN, "{what}");
                return;
            }
            Call::ErrorMessage => {
                assert_eq!(CStr::from_ptr(INFERMETRICS_ErrorMessage(raw as _)).to_bytes(), b"", "{what}");
                return;
            }
            Call::ErrorCodeString => {
                assert_eq!(CStr::from_ptr(INFERMETRICS_ErrorCodeString(raw as _)).to_bytes(), b"Unknown", "{what}");
                return;
            }
            Call::ErrorDelete => {
                // must not delete the object behind it (later operations would notice)
                INFERMETRICS_ErrorDelete(raw as _);
                return;
            }
        };
        fails(&what, INVALID_ARG, e);
    }

    unsafe fn forged(&mut self, bits: u64, call: Call) {
        // a value the library handed out is not forged; NULL is covered by the Null cases
        if bits == 0 || self.all_handles().contains(&(bits as usize)) {
            return;
        }
        self.bad_handle_call(bits as usize, call);
    }

    /// One NULL argument (or a count that does not match a NULL array) per case.
    unsafe fn null_case(&mut self, case: u8) {
        let fam = self.families.iter().find(|f| f.live).map(|f| (f.h, f.kind));
        let metric = self.metrics.iter().find(|m| m.live).map(|m| m.h);
        let args = self.args.iter().find(|a| a.live).map(|a| a.h);
        let mut out_kind = RawMetricKind(99);
        let mut v = 0.0;
        let c = case % 28;
        let what = format!("NULL case {c}");
        let e = match c {
            0 => INFERMETRICS_MetricFamilyNew(null_mut(), RawMetricKind(0), c"fz_0".as_ptr(), c"".as_ptr()),
            1 => {
                let mut f = null_mut();
                INFERMETRICS_MetricFamilyNew(&mut f, RawMetricKind(0), null(), c"".as_ptr())
            }
            2 => {
                let mut f = null_mut();
                INFERMETRICS_MetricFamilyNew(&mut f, RawMetricKind(0), c"fz_0".as_ptr(), null())
            }
            3 => INFERMETRICS_MetricFamilyDelete(null_mut()),
            4 => INFERMETRICS_GetMetricFamilyKind(null_mut(), &mut out_kind),
            5 => match fam {
                Some((f, _)) => INFERMETRICS_GetMetricFamilyKind(f, null_mut()),
                None => return,
            },
            6 => match fam {
                Some((f, _)) => INFERMETRICS_MetricNew(null_mut(), f, null_mut(), 0),
                None => return,
            },
            7 => {
                let mut m = null_mut();
                INFERMETRICS_MetricNew(&mut m, null_mut(), null_mut(), 0)
            }
            8 => match fam {
                // NULL labels array with a non-zero count
                Some((f, _)) => {
                    let mut m = null_mut();
                    INFERMETRICS_MetricNew(&mut m, f, null_mut(), 3)
                }
                None => return,
            },
            9 => match fam {
                // a NULL entry in the labels array
                Some((f, _)) => {
                    let mut m = null_mut();
                    let mut l = [null::<INFERMETRICS_Parameter>()];
                    INFERMETRICS_MetricNew(&mut m, f, l.as_mut_ptr(), 1)
                }
                None => return,
            },
            10 => match fam {
                // a count far beyond the array: refused before any read
                Some((f, _)) => {
                    let mut m = null_mut();
                    let mut l = [null::<INFERMETRICS_Parameter>()];
                    INFERMETRICS_MetricNew(&mut m, f, l.as_mut_ptr(), u64::MAX)
                }
                None => return,
            },
            11 => INFERMETRICS_MetricDelete(null_mut()),
            12 => INFERMETRICS_MetricIncrement(null_mut(), 1.0),
            13 => INFERMETRICS_MetricSet(null_mut(), 1.0),
            14 => INFERMETRICS_MetricObserve(null_mut(), 1.0),
            15 => INFERMETRICS_MetricValue(null_mut(), &mut v),
            16 => match metric {
                Some(m) => INFERMETRICS_MetricValue(m, null_mut()),
                None => return,
            },
            17 => match metric {
                Some(m) => INFERMETRICS_GetMetricKind(m, null_mut()),
                None => return,
            },
            18 => INFERMETRICS_MetricArgsNew(null_mut()),
            19 => INFERMETRICS_MetricArgsSetHistogram(null_mut(), null(), 0),
            20 => match args {
                Some(a) => INFERMETRICS_MetricArgsSetHistogram(a, null(), 2),
                None => return,
            },
            21 => match args {
                Some(a) => {
                    let b = [1.0];
                    INFERMETRICS_MetricArgsSetHistogram(a, b.as_ptr(), u64::MAX)
                }
                None => return,
            },
            22 => {
                // ParameterNew with a NULL name or value: NULL back, no error object
                let p = INFERMETRICS_ParameterNew(null(), RawParameterType(0), c"v".as_ptr() as _);
                assert!(p.is_null());
                let p = INFERMETRICS_ParameterNew(c"a".as_ptr(), RawParameterType(0), null());
                assert!(p.is_null());
                // NULL deletes are no-ops
                INFERMETRICS_ParameterDelete(null_mut());
                INFERMETRICS_ErrorDelete(null_mut());
                ok("MetricArgsDelete(NULL)", INFERMETRICS_MetricArgsDelete(null_mut()));
                assert_eq!(INFERMETRICS_ErrorCode(null_mut()).0, UNKNOWN);
                assert_eq!(CStr::from_ptr(INFERMETRICS_ErrorMessage(null_mut())).to_bytes(), b"");
                assert_eq!(CStr::from_ptr(INFERMETRICS_ErrorCodeString(null_mut())).to_bytes(), b"Unknown");
                return;
            }
            24 => INFERMETRICS_MetricIncrementWithExemplar(null_mut(), 1.0, null_mut(), 0),
            25 => INFERMETRICS_MetricObserveWithExemplar(null_mut(), 1.0, null_mut(), 0),
            26 => match self.metrics.iter().find(|m| m.live && m.kind == COUNTER) {
                // a NULL exemplar array with a non-zero count: refused, nothing recorded
                Some(m) => INFERMETRICS_MetricIncrementWithExemplar(m.h, 1.0, null_mut(), 2),
                None => return,
            },
            27 => match self.metrics.iter().find(|m| m.live && m.kind == HISTOGRAM) {
                // a NULL entry in the exemplar array: refused, nothing recorded
                Some(m) => {
                    let mut l = [null::<INFERMETRICS_Parameter>()];
                    INFERMETRICS_MetricObserveWithExemplar(m.h, 1.0, l.as_mut_ptr(), 1)
                }
                None => return,
            },
            _ => {
                let mut m = null_mut();
                ok("ServerMetrics", INFERMETRICS_ServerMetrics(null_mut(), &mut m));
                let (mut base, mut size) = (null::<c_char>(), 0usize);
                let e1 = INFERMETRICS_MetricsFormatted(m, RawMetricFormat(0), null_mut(), &mut size);
                let e2 = INFERMETRICS_MetricsFormatted(m, RawMetricFormat(0), &mut base, null_mut());
                let e3 = INFERMETRICS_MetricsFormatted(m, RawMetricFormat(2), &mut base, &mut size);
                let e4 = INFERMETRICS_ServerMetrics(null_mut(), null_mut());
                ok("MetricsDelete", INFERMETRICS_MetricsDelete(m));
                fails("MetricsFormatted(NULL base)", INVALID_ARG, e1);
                fails("MetricsFormatted(NULL byte_size)", INVALID_ARG, e2);
                fails("MetricsFormatted(unknown format 2)", INVALID_ARG, e3);
                fails("ServerMetrics(NULL out)", INVALID_ARG, e4);
                fails("MetricsDelete(NULL)", INVALID_ARG, INFERMETRICS_MetricsDelete(null_mut()));
                if self.stale {
                    fails("MetricsDelete of a deleted holder", INVALID_ARG, INFERMETRICS_MetricsDelete(m));
                    fails(
                        "MetricsFormatted of a deleted holder",
                        INVALID_ARG,
                        INFERMETRICS_MetricsFormatted(m, RawMetricFormat(0), &mut base, &mut size),
                    );
                }
                return;
            }
        };
        fails(&what, INVALID_ARG, e);
    }

    unsafe fn error_new(&mut self, code: u32, msg: &Option<Bytes>) {
        let m = msg.as_ref().map(|b| cstring(&b.get(&[b"", b"boom"])));
        let e = INFERMETRICS_ErrorNew(RawErrorCode(code), m.as_ref().map_or(null(), |c| c.as_ptr()));
        assert!(!e.is_null());
        let want = if code < 8 { code } else { UNKNOWN };
        assert_eq!(INFERMETRICS_ErrorCode(e).0, want);
        let got = CStr::from_ptr(INFERMETRICS_ErrorMessage(e)).to_bytes().to_vec();
        let expected = m.as_ref().map(|c| String::from_utf8_lossy(c.to_bytes()).into_owned()).unwrap_or_default();
        assert_eq!(got, expected.as_bytes());
        INFERMETRICS_ErrorDelete(e);
    }

    /// Deletes every live handle (metrics before families) and checks nothing is left.
    unsafe fn finish(&mut self) {
        for i in 0..self.metrics.len() {
            if self.metrics[i].live {
                self.metric_delete(i);
            }
        }
        assert!(self.series.is_empty());
        for i in 0..self.families.len() {
            if self.families[i].live {
                assert_eq!(self.families[i].children, 0);
                self.family_delete(i);
            }
        }
        for i in 0..self.args.len() {
            if self.args[i].live {
                self.args_delete(i);
            }
        }
        for i in 0..self.params.len() {
            if self.params[i].live {
                self.param_delete(i);
            }
        }
        ok("SetMaxSeriesPerFamily(0)", INFERMETRICS_SetMaxSeriesPerFamily(0));
        self.limit = 0;
        // every series is gone: only the library's own family may remain
        self.render();
        let text = render_text();
        let fams = prom::parse(&text).unwrap();
        assert!(
            fams.iter().all(|f| f.name == REJECTED),
            "registry not empty after every metric was deleted:\n{}",
            String::from_utf8_lossy(&text)
        );
    }
}

/// Which handle type a call expects (None: a type no table holds, metrics holders, servers
/// and server options).
fn call_type(c: Call) -> Option<Type> {
    match c {
        Call::MetricIncrement
        | Call::MetricSet
        | Call::MetricObserve
        | Call::MetricValue
        | Call::MetricKind
        | Call::MetricDelete
        | Call::IncrementWithExemplar
        | Call::ObserveWithExemplar => Some(Type::Metric),
        Call::FamilyKind | Call::FamilyDelete | Call::MetricNewFamily => Some(Type::Family),
        Call::MetricNewLabel | Call::ParamDelete | Call::ExemplarLabel => Some(Type::Param),
        Call::MetricNewArgs | Call::ArgsSet | Call::ArgsDelete => Some(Type::Args),
        Call::ErrorCode | Call::ErrorMessage | Call::ErrorCodeString | Call::ErrorDelete => Some(Type::Error),
        _ => OTHER,
    }
}

/// A histogram series read back against the model: bounds, cumulative counts, sum.
fn check_histogram(name: &str, key: &Key, h: &prom::HistogramSeries, s: &SeriesModel) {
    let mut bounds = s.bounds.clone();
    bounds.push(f64::INFINITY);
    assert_eq!(h.bounds, bounds, "buckets of {name} {key:?}");
    let cum: Vec<u64> = s
        .counts
        .iter()
        .scan(0u64, |acc, c| {
            *acc += c;
            Some(*acc)
        })
        .collect();
    assert_eq!(h.cumulative, cum, "bucket counts of {name} {key:?}");
    assert!(same_f64(h.sum, s.sum), "_sum of {name} {key:?}: {} vs {}", h.sum, s.sum);
}

/// Wall-clock seconds since the Unix epoch, truncated to milliseconds.
fn now_ms() -> f64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    d.as_millis() as f64 / 1000.0
}

/// Renders the registry alone (ServerMetrics with no server) in Prometheus 0.0.4.
unsafe fn render_text() -> Vec<u8> {
    render_text_as(0)
}

/// Renders the registry alone (ServerMetrics with no server) in `format` (0: Prometheus
/// 0.0.4, 1: OpenMetrics) and returns the text.
unsafe fn render_text_as(format: u32) -> Vec<u8> {
    let mut m = null_mut();
    ok("ServerMetrics", INFERMETRICS_ServerMetrics(null_mut(), &mut m));
    let (mut base, mut size) = (null::<c_char>(), usize::MAX);
    ok(
        "MetricsFormatted",
        INFERMETRICS_MetricsFormatted(m, RawMetricFormat(format), &mut base, &mut size),
    );
    assert!(!base.is_null());
    let text = std::slice::from_raw_parts(base as *const u8, size).to_vec();
    assert_eq!(*base.add(size), 0, "text not NUL-terminated");
    ok("MetricsDelete", INFERMETRICS_MetricsDelete(m));
    text
}

fuzz_target!(|ops: Vec<Op>| {
    imfuzz::silence_log();
    let mut s = State {
        stale: stale_enabled(),
        ..Default::default()
    };
    let stale = s.stale;
    unsafe {
        for op in ops.iter().take(200) {
            match op {
                Op::ParamNew { name, ty, value, scalar } => s.param_new(name, *ty, value, *scalar),
                Op::ParamDelete(i) => {
                    if let Some(i) = pick(&s.params, *i, |p| p.live, stale) {
                        s.param_delete(i)
                    }
                }
                Op::FamilyNew { kind, name, help } => s.family_new(*kind, name, help),
                Op::FamilyDelete(i) => {
                    if let Some(i) = pick(&s.families, *i, |f| f.live, stale) {
                        s.family_delete(i)
                    }
                }
                Op::FamilyKind(i) => {
                    if let Some(i) = pick(&s.families, *i, |f| f.live, stale) {
                        s.family_kind(i)
                    }
                }
                Op::ArgsNew => s.args_new(),
                Op::ArgsSet { args, buckets } => {
                    if let Some(i) = pick(&s.args, *args, |a| a.live, stale) {
                        s.args_set(i, buckets)
                    }
                }
                Op::ArgsDelete(i) => {
                    if let Some(i) = pick(&s.args, *i, |a| a.live, stale) {
                        s.args_delete(i)
                    }
                }
                Op::MetricNew { family, labels, args } => {
                    if let Some(i) = pick(&s.families, *family, |f| f.live, stale) {
                        s.metric_new(i, labels, *args)
                    }
                }
                Op::MetricDelete(i) => {
                    if let Some(i) = pick(&s.metrics, *i, |m| m.live, stale) {
                        s.metric_delete(i)
                    }
                }
                Op::Increment(i, n) | Op::Set(i, n) | Op::Observe(i, n) => {
                    let which = match op {
                        Op::Increment(..) => 0,
                        Op::Set(..) => 1,
                        _ => 2,
                    };
                    if let Some(i) = pick(&s.metrics, *i, |m| m.live, stale) {
                        s.record(i, which, *n)
                    }
                }
                Op::Value(i) => {
                    if let Some(i) = pick(&s.metrics, *i, |m| m.live, stale) {
                        s.value(i)
                    }
                }
                Op::MetricKind(i) => {
                    if let Some(i) = pick(&s.metrics, *i, |m| m.live, stale) {
                        s.metric_kind(i)
                    }
                }
                Op::Render => s.render(),
                Op::WrongType { from, index, call } => {
                    if stale {
                        s.wrong_type(*from, *index, *call)
                    }
                }
                Op::Forged { bits, call } => {
                    if stale {
                        s.forged(*bits, *call)
                    }
                }
                Op::Null(c) => s.null_case(*c),
                Op::ErrorNew { code, msg } => s.error_new(*code, msg),
                Op::SetMaxSeries(i) => {
                    s.limit = [0, 1, 2, 3][*i as usize % 4];
                    ok("SetMaxSeriesPerFamily", INFERMETRICS_SetMaxSeriesPerFamily(s.limit));
                }
                Op::IncrementWithExemplar(i, n, a) | Op::ObserveWithExemplar(i, n, a) => {
                    let observe = matches!(op, Op::ObserveWithExemplar(..));
                    if let Some(i) = pick(&s.metrics, *i, |m| m.live, stale) {
                        s.record_exemplar(i, observe, *n, a)
                    }
                }
                Op::RenderOpenMetrics => s.render_openmetrics(),
                Op::SummaryExemplar { observe, value, labels } => s.summary_exemplar(*observe, *value, labels),
            }
        }
        s.render();
        s.render_openmetrics();
        s.finish();
    }
});

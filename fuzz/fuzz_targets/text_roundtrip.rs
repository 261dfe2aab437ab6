//! `text_roundtrip`: whatever names, HELP texts, label names and label values go in (any
//! UTF-8, any bytes), the rendered text parses back, with a strict 0.0.4 parser
//! (`imfuzz::prom`), to exactly what was put in: the same families, HELP (the first one given
//! for the name), TYPE, label sets and values, histogram bounds, counts and sums; nothing
//! else. Invalid names and non-UTF-8 strings must be refused by the API and then not appear.
//! A label with an empty value is the same as no label (see `imfuzz::rules::series_key`).
//!
//! Families are never unregistered, so once this process has registered 2000 distinct names
//! a new valid name is swapped for one already registered: memory stays bounded.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_char;
use std::ptr::{null, null_mut};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use imfuzz::api::{fails, ok, INVALID_ARG, UNSUPPORTED};
use imfuzz::rules::{self, Key};
use imfuzz::{cstring, prom, same_f64, Registered, COUNTER, GAUGE, HISTOGRAM};
use infermetrics::ffi::args::*;
use infermetrics::ffi::family::*;
use infermetrics::ffi::metric::*;
use infermetrics::ffi::metrics::*;
use infermetrics::ffi::parameter::*;

const MAX_NAMES: usize = 2000;

/// Text: sometimes guaranteed UTF-8, sometimes any bytes.
#[derive(Arbitrary, Debug)]
enum Text {
    Utf8(String),
    Bytes(Vec<u8>),
}

impl Text {
    fn bytes(&self) -> Vec<u8> {
        let b = match self {
            Text::Utf8(s) => s.as_bytes(),
            Text::Bytes(b) => b.as_slice(),
        };
        cstring(&b[..b.len().min(200)]).into_bytes()
    }
}

#[derive(Arbitrary, Debug)]
struct MetricSpec {
    labels: Vec<(Text, Text)>,
    values: Vec<u64>,
}

#[derive(Arbitrary, Debug)]
struct FamilySpec {
    kind: u8,
    name: Text,
    help: Text,
    buckets: Vec<u64>,
    metrics: Vec<MetricSpec>,
}

#[derive(Default, Debug)]
struct SeriesModel {
    value: f64,
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
}

fn num(bits: u64) -> f64 {
    // mostly readable numbers, sometimes any bit pattern (NaN, infinities, subnormals)
    match bits & 3 {
        0 => f64::from_bits(bits),
        1 => ((bits >> 2) as i32) as f64,
        2 => ((bits >> 2) as i32) as f64 / 1000.0,
        _ => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e-300, 1e300, 0.1][(bits >> 2) as usize % 7],
    }
}

fuzz_target!(|spec: Vec<FamilySpec>| {
    imfuzz::silence_log();
    unsafe { run(&spec) }
});

unsafe fn run(spec: &[FamilySpec]) {
    let mut families = Vec::new();
    let mut metrics = Vec::new();
    let mut params = Vec::new();
    // (family name, key) -> model
    let mut series: HashMap<(String, Key), SeriesModel> = HashMap::new();
    let mut kinds: HashMap<String, u32> = HashMap::new();

    for f in spec.iter().take(4) {
        // 3 is the summary kind (not modelled here): it stands for an invalid kind, 4
        let kind = match f.kind % 4 {
            3 => 4,
            k => k as u32,
        };
        let mut name = f.name.bytes();
        if rules::valid_metric_name(&name) {
            let reg = Registered::global();
            let s = String::from_utf8(name.clone()).unwrap();
            if reg.get(&s).is_none() && reg.len() >= MAX_NAMES {
                name = reg.nth(name.len() * 31 + name[0] as usize).unwrap().into_bytes();
            }
        }
        let help = f.help.bytes();
        let (cn, ch) = (cstring(&name), cstring(&help));
        let mut fh = null_mut();
        let e = INFERMETRICS_MetricFamilyNew(&mut fh, RawMetricKind(kind), cn.as_ptr(), ch.as_ptr());
        let valid = kind < 3
            && rules::valid_family_name(&name, kind as u32)
            && std::str::from_utf8(&help).is_ok();
        let name = String::from_utf8_lossy(&name).into_owned();
        let clash = valid && Registered::global().get(&name).is_some_and(|r| r.kind != kind);
        if !valid || clash {
            fails("MetricFamilyNew", INVALID_ARG, e);
            continue;
        }
        ok("MetricFamilyNew", e);
        Registered::global().record(&name, kind, std::str::from_utf8(&help).unwrap());
        families.push(fh);
        kinds.insert(name.clone(), kind);

        let buckets: Vec<f64> = f.buckets.iter().take(12).map(|b| num(*b)).collect();
        let mut args = null_mut();
        if kind == HISTOGRAM {
            ok("MetricArgsNew", INFERMETRICS_MetricArgsNew(&mut args));
            ok(
                "MetricArgsSetHistogram",
                INFERMETRICS_MetricArgsSetHistogram(args, buckets.as_ptr(), buckets.len() as u64),
            );
        }
        for m in f.metrics.iter().take(4) {
            let mut ps: Vec<*const INFERMETRICS_Parameter> = Vec::new();
            let mut pairs = Vec::new();
            for (n, v) in m.labels.iter().take(5) {
                let (n, v) = (n.bytes(), v.bytes());
                let (cn, cv) = (cstring(&n), cstring(&v));
                let p = INFERMETRICS_ParameterNew(cn.as_ptr(), RawParameterType(0), cv.as_ptr() as _);
                assert!(!p.is_null());
                params.push(p);
                ps.push(p);
                pairs.push((n, v));
            }
            let mut mh = null_mut();
            let e = INFERMETRICS_MetricNewWithArgs(&mut mh, fh, ps.as_mut_ptr(), ps.len() as u64, args);
            let key = rules::series_key(&pairs, kind == HISTOGRAM);
            let bounds = if kind == HISTOGRAM { rules::checked_buckets(&buckets) } else { Some(vec![]) };
            let (Some(key), Some(bounds)) = (key, bounds) else {
                fails("MetricNewWithArgs", INVALID_ARG, e);
                assert!(mh.is_null());
                continue;
            };
            ok("MetricNewWithArgs", e);
            metrics.push(mh);
            let s = series.entry((name.clone(), key)).or_insert_with(|| SeriesModel {
                counts: vec![0; bounds.len() + 1],
                bounds,
                ..Default::default()
            });
            for &bits in m.values.iter().take(8) {
                let v = num(bits);
                match kind {
                    COUNTER => {
                        let e = INFERMETRICS_MetricIncrement(mh, v);
                        if v >= 0.0 {
                            ok("MetricIncrement", e);
                            s.value += v;
                        } else {
                            fails("MetricIncrement", INVALID_ARG, e);
                        }
                    }
                    GAUGE if bits & 4 == 0 => {
                        ok("MetricSet", INFERMETRICS_MetricSet(mh, v));
                        s.value = v;
                    }
                    GAUGE => {
                        ok("MetricIncrement", INFERMETRICS_MetricIncrement(mh, v));
                        s.value += v;
                    }
                    _ => {
                        let e = INFERMETRICS_MetricObserve(mh, v);
                        if v.is_nan() {
                            fails("MetricObserve", INVALID_ARG, e);
                        } else {
                            ok("MetricObserve", e);
                            let i = s.bounds.iter().position(|b| v <= *b).unwrap_or(s.bounds.len());
                            s.counts[i] += 1;
                            s.sum += v;
                        }
                        fails("MetricIncrement of a histogram", UNSUPPORTED, INFERMETRICS_MetricIncrement(mh, 1.0));
                    }
                }
            }
        }
        ok("MetricArgsDelete", INFERMETRICS_MetricArgsDelete(args));
    }

    check(&render(), &series, &kinds);

    for m in metrics {
        ok("MetricDelete", INFERMETRICS_MetricDelete(m));
    }
    for f in families {
        ok("MetricFamilyDelete", INFERMETRICS_MetricFamilyDelete(f));
    }
    for p in params {
        INFERMETRICS_ParameterDelete(p);
    }
    let t = render();
    assert!(t.is_empty(), "series left after every metric was deleted:\n{}", String::from_utf8_lossy(&t));
}

unsafe fn render() -> Vec<u8> {
    let mut m = null_mut();
    ok("ServerMetrics", INFERMETRICS_ServerMetrics(null_mut(), &mut m));
    let (mut base, mut size) = (null::<c_char>(), 0usize);
    ok("MetricsFormatted", INFERMETRICS_MetricsFormatted(m, RawMetricFormat(0), &mut base, &mut size));
    let t = std::slice::from_raw_parts(base as *const u8, size).to_vec();
    ok("MetricsDelete", INFERMETRICS_MetricsDelete(m));
    t
}

fn check(text: &[u8], series: &HashMap<(String, Key), SeriesModel>, kinds: &HashMap<String, u32>) {
    let show = || String::from_utf8_lossy(text).into_owned();
    let fams = prom::parse(text).unwrap_or_else(|e| panic!("not strict 0.0.4: {e}\n{}", show()));
    let mut want: BTreeMap<&str, Vec<(&Key, &SeriesModel)>> = BTreeMap::new();
    for ((f, k), s) in series {
        want.entry(f.as_str()).or_default().push((k, s));
    }
    let got: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
    let mut names: Vec<&str> = want.keys().copied().collect();
    let mut g = got.clone();
    g.sort();
    names.sort();
    assert_eq!(g, names, "families rendered vs. families with series\n{}", show());
    for f in &fams {
        let rec = Registered::global().get(&f.name).unwrap();
        assert_eq!(kinds[&f.name], rec.kind);
        assert_eq!(f.kind, imfuzz::type_name(rec.kind), "TYPE of {}", f.name);
        let help = (!rec.help.is_empty()).then(|| rec.help.clone());
        assert_eq!(f.help, help, "HELP of {}\n{}", f.name, show());
        let w = &want[f.name.as_str()];
        if rec.kind == HISTOGRAM {
            let h = f.histograms();
            assert_eq!(h.len(), w.len(), "series of {}\n{}", f.name, show());
            for (key, s) in w {
                let r = h.get(*key).unwrap_or_else(|| panic!("{} {:?} missing\n{}", f.name, key, show()));
                let mut b = s.bounds.clone();
                b.push(f64::INFINITY);
                assert_eq!(r.bounds, b, "le of {} {:?}\n{}", f.name, key, show());
                let mut acc = 0;
                let cum: Vec<u64> = s.counts.iter().map(|c| {
                    acc += c;
                    acc
                }).collect();
                assert_eq!(r.cumulative, cum, "buckets of {} {:?}\n{}", f.name, key, show());
                assert_eq!(r.count, acc);
                assert!(same_f64(r.sum, s.sum), "_sum of {} {:?}: {} vs {}\n{}", f.name, key, r.sum, s.sum, show());
            }
        } else {
            let sc = f.scalars();
            assert_eq!(sc.len(), w.len(), "series of {}\n{}", f.name, show());
            for (key, s) in w {
                let v = sc.get(*key).unwrap_or_else(|| panic!("{} {:?} missing\n{}", f.name, key, show()));
                assert!(same_f64(*v, s.value), "{} {:?}: text {} vs model {}\n{}", f.name, key, v, s.value, show());
            }
        }
    }
}

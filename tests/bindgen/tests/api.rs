//! The C API through bindgen's view of include/infermetrics.h: Triton's behaviours and our
//! fixes. Every test uses its own family names (the registry is process-wide).
use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use infermetrics_bindgen_tests::*;

fn kind_of(m: *mut INFERMETRICS_Metric) -> u32 {
    let mut k = 99;
    ok(unsafe { INFERMETRICS_GetMetricKind(m, &mut k) });
    k as u32
}

fn value(m: *mut INFERMETRICS_Metric) -> f64 {
    let mut v = -1.0;
    ok(unsafe { INFERMETRICS_MetricValue(m, &mut v) });
    v
}

#[test]
fn counter_end_to_end() {
    unsafe {
        let f = family(
            INFERMETRICS_METRIC_KIND_COUNTER,
            "bg_counter_e2e",
            "bg counter description",
        );
        let m = metric(
            f,
            &[
                ("example1", "counter_label1"),
                ("example2", "counter_label2"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(value(m), 0.0);
        ok(INFERMETRICS_MetricIncrement(m, 1729.0));
        assert_eq!(value(m), 1729.0);
        let e = check(INFERMETRICS_MetricIncrement(m, -3.14)).unwrap_err();
        assert_eq!(e.0, INFERMETRICS_ERROR_INVALID_ARG as u32);
        assert!(e.1.contains("non-negative"), "{}", e.1);
        assert_eq!(
            check(INFERMETRICS_MetricIncrement(m, f64::NAN))
                .unwrap_err()
                .0,
            INFERMETRICS_ERROR_INVALID_ARG as u32
        );
        assert_eq!(value(m), 1729.0);
        let e = check(INFERMETRICS_MetricSet(m, 42.0)).unwrap_err();
        assert_eq!(
            (e.0, e.1.as_str()),
            (
                INFERMETRICS_ERROR_UNSUPPORTED as u32,
                "INFERMETRICS_METRIC_KIND_COUNTER does not support Set"
            )
        );
        assert_eq!(
            check(INFERMETRICS_MetricObserve(m, 1.0)).unwrap_err().0,
            INFERMETRICS_ERROR_UNSUPPORTED as u32
        );
        assert_eq!(kind_of(m), INFERMETRICS_METRIC_KIND_COUNTER as u32);
        let text = snapshot();
        assert_eq!(text.matches("bg counter description").count(), 1);
        assert!(
            text.contains(
                "bg_counter_e2e{example1=\"counter_label1\",example2=\"counter_label2\"} 1729\n"
            ),
            "{}",
            text
        );
        ok(INFERMETRICS_MetricDelete(m));
        ok(INFERMETRICS_MetricFamilyDelete(f));
        assert_eq!(snapshot().matches("bg counter description").count(), 0);
    }
}

#[test]
fn gauge_end_to_end() {
    unsafe {
        let f = family(INFERMETRICS_METRIC_KIND_GAUGE, "bg_gauge_e2e", "bg gauge");
        let m = metric(f, &[], None).unwrap();
        ok(INFERMETRICS_MetricIncrement(m, 1729.0));
        ok(INFERMETRICS_MetricIncrement(m, -3.14));
        assert_eq!(value(m), 1729.0 - 3.14);
        ok(INFERMETRICS_MetricSet(m, 42.0));
        assert_eq!(value(m), 42.0);
        assert!(snapshot().contains("\nbg_gauge_e2e 42\n"));
        for (v, s) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1e-7, "1e-7"),
        ] {
            ok(INFERMETRICS_MetricSet(m, v));
            assert!(
                snapshot().contains(&format!("\nbg_gauge_e2e {}\n", s)),
                "{}",
                s
            );
        }
        assert_eq!(
            check(INFERMETRICS_MetricObserve(m, 1.0)).unwrap_err().1,
            "INFERMETRICS_METRIC_KIND_GAUGE does not support Observe"
        );
        ok(INFERMETRICS_MetricDelete(m));
        ok(INFERMETRICS_MetricFamilyDelete(f));
    }
}

#[test]
fn histogram_end_to_end_and_validation() {
    unsafe {
        let f = family(
            INFERMETRICS_METRIC_KIND_HISTOGRAM,
            "bg_hist",
            "bg histogram",
        );
        let labels = [
            ("example1", "histogram_label1"),
            ("example2", "histogram_label2"),
        ];
        let m = metric(f, &labels, Some(&[0.1, 1.0, 2.5, 5.0, 10.0])).unwrap();
        let t = snapshot();
        assert_eq!(lines_with(&t, "bg_hist_bucket{").len(), 6);
        assert!(t.contains(
            "bg_hist_count{example1=\"histogram_label1\",example2=\"histogram_label2\"} 0\n"
        ));
        for v in [0.05, 1.5, 6.0] {
            ok(INFERMETRICS_MetricObserve(m, v));
        }
        let t = snapshot();
        let counts: Vec<&str> = lines_with(&t, "bg_hist_bucket{")
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(counts, ["1", "1", "2", "2", "3", "3"]);
        let les: Vec<&str> = lines_with(&t, "bg_hist_bucket{")
            .iter()
            .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
            .collect();
        assert_eq!(les, ["0.1", "1", "2.5", "5", "10", "+Inf"]);
        assert_eq!(
            lines_with(&t, "bg_hist_sum{"),
            ["bg_hist_sum{example1=\"histogram_label1\",example2=\"histogram_label2\"} 7.55"]
        );
        assert_eq!(
            lines_with(&t, "bg_hist_count{"),
            ["bg_hist_count{example1=\"histogram_label1\",example2=\"histogram_label2\"} 3"]
        );
        // order: buckets, then _sum, then _count
        let pos = |s: &str| t.find(s).unwrap();
        assert!(
            pos("bg_hist_bucket{") < pos("bg_hist_sum{")
                && pos("bg_hist_sum{") < pos("bg_hist_count{")
        );
        for bad in [
            &[2.5, 0.1, 1.0][..],
            &[1.0, 1.0, 2.0],
            &[f64::NAN],
            &[f64::NEG_INFINITY, 0.0],
            &[1.0, f64::INFINITY, 2.0],
        ] {
            let e = metric(f, &[("b", "x")], Some(bad)).unwrap_err();
            assert_eq!(e.0, INFERMETRICS_ERROR_INVALID_ARG as u32, "{:?}", bad);
        }
        // empty is fine (only +Inf); a trailing +Inf is the implicit bucket
        let e1 = metric(f, &[("b", "empty")], Some(&[])).unwrap();
        let e2 = metric(f, &[("b", "inf")], Some(&[1.0, f64::INFINITY])).unwrap();
        let t = snapshot();
        assert_eq!(lines_with(&t, "bg_hist_bucket{b=\"empty\"").len(), 1);
        assert_eq!(lines_with(&t, "bg_hist_bucket{b=\"inf\"").len(), 2);
        // re-creating keeps the first buckets
        let again = metric(f, &labels, Some(&[7.0])).unwrap();
        assert_eq!(lines_with(&snapshot(), "bg_hist_bucket{example1=").len(), 6);
        assert_eq!(
            check(INFERMETRICS_MetricObserve(m, f64::NAN))
                .unwrap_err()
                .0,
            INFERMETRICS_ERROR_INVALID_ARG as u32
        );
        assert_eq!(
            check(INFERMETRICS_MetricIncrement(m, 1.0)).unwrap_err().0,
            INFERMETRICS_ERROR_UNSUPPORTED as u32
        );
        let mut v = 0.0;
        assert_eq!(
            check(INFERMETRICS_MetricValue(m, &mut v)).unwrap_err().1,
            "INFERMETRICS_METRIC_KIND_HISTOGRAM does not support Value"
        );
        let e = metric(f, &[("le", "1")], Some(&[1.0])).unwrap_err();
        assert!(e.1.contains("'le'"), "{}", e.1);
        // args errors, in Triton's words
        assert_eq!(
            metric(f, &[], None).unwrap_err().1,
            "Bucket boundaries not found in Metric args."
        );
        let mut args = null_mut();
        ok(INFERMETRICS_MetricArgsNew(&mut args));
        let mut mm = null_mut();
        assert_eq!(
            check(INFERMETRICS_MetricNewWithArgs(
                &mut mm,
                f,
                null_mut(),
                0,
                args
            ))
            .unwrap_err()
            .1,
            "Metric args not set to histogram kind."
        );
        let c = family(INFERMETRICS_METRIC_KIND_COUNTER, "bg_hist_ctr", "");
        ok(INFERMETRICS_MetricArgsSetHistogram(args, [1.0].as_ptr(), 1));
        assert_eq!(
            check(INFERMETRICS_MetricNewWithArgs(
                &mut mm,
                c,
                null_mut(),
                0,
                args
            ))
            .unwrap_err()
            .1,
            "Unexpected args found in counter Metric constructor."
        );
        assert!(mm.is_null());
        ok(INFERMETRICS_MetricArgsDelete(args));
        ok(INFERMETRICS_MetricArgsDelete(null_mut()));
        for x in [m, e1, e2, again] {
            ok(INFERMETRICS_MetricDelete(x));
        }
        ok(INFERMETRICS_MetricFamilyDelete(f));
        ok(INFERMETRICS_MetricFamilyDelete(c));
        assert!(!snapshot().contains("bg_hist"));
    }
}

#[test]
fn families_dedup_and_kind_mismatch() {
    unsafe {
        let f1 = family(
            INFERMETRICS_METRIC_KIND_COUNTER,
            "bg_dup",
            "first description",
        );
        let f2 = family(
            INFERMETRICS_METRIC_KIND_COUNTER,
            "bg_dup",
            "second description",
        );
        let mut f3 = null_mut();
        let n = CString::new("bg_dup").unwrap();
        let e = check(INFERMETRICS_MetricFamilyNew(
            &mut f3,
            INFERMETRICS_METRIC_KIND_GAUGE,
            n.as_ptr(),
            n.as_ptr(),
        ))
        .unwrap_err();
        assert_eq!(e.0, INFERMETRICS_ERROR_INVALID_ARG as u32);
        assert!(
            e.1.starts_with("Family name already exists with different type"),
            "{}",
            e.1
        );
        assert!(f3.is_null());
        assert!(
            !snapshot().contains("description"),
            "empty family must not print"
        );
        let a = metric(f2, &[("custom_metric_key", "label1")], None).unwrap();
        let b = metric(f1, &[("custom_metric_key", "label2")], None).unwrap();
        let t = snapshot();
        assert_eq!(t.matches("# HELP bg_dup first description\n").count(), 1);
        assert!(!t.contains("second description"));
        assert!(t.contains("# TYPE bg_dup counter\n"));
        assert!(
            t.contains("bg_dup{custom_metric_key=\"label1\"} 0\n")
                && t.contains("bg_dup{custom_metric_key=\"label2\"} 0\n")
        );
        ok(INFERMETRICS_MetricDelete(a));
        ok(INFERMETRICS_MetricFamilyDelete(f2));
        assert_eq!(snapshot().matches("custom_metric_key").count(), 1);
        ok(INFERMETRICS_MetricDelete(b));
        ok(INFERMETRICS_MetricFamilyDelete(f1));
        assert!(!snapshot().contains("bg_dup"));
    }
}

#[test]
fn shared_series_counted_per_series_not_per_handle() {
    unsafe {
        // Triton counts per family handle and frees a live series here; we count per series.
        let f1 = family(INFERMETRICS_METRIC_KIND_GAUGE, "bg_shared", "");
        let f2 = family(INFERMETRICS_METRIC_KIND_GAUGE, "bg_shared", "");
        let a = metric(f1, &[("x", "1")], None).unwrap();
        let b = metric(f2, &[("x", "1")], None).unwrap();
        ok(INFERMETRICS_MetricSet(a, 7.5));
        assert_eq!(value(b), 7.5);
        ok(INFERMETRICS_MetricDelete(a));
        ok(INFERMETRICS_MetricFamilyDelete(f1));
        ok(INFERMETRICS_MetricIncrement(b, 1.0));
        assert!(snapshot().contains("bg_shared{x=\"1\"} 8.5\n"));
        // zero labels dedup too, and label order does not matter
        let z1 = metric(f2, &[], None).unwrap();
        let z2 = metric(f2, &[], None).unwrap();
        ok(INFERMETRICS_MetricSet(z1, 3.0));
        assert_eq!(value(z2), 3.0);
        let o1 = metric(f2, &[("a", "1"), ("b", "2")], None).unwrap();
        let o2 = metric(f2, &[("b", "2"), ("a", "1")], None).unwrap();
        ok(INFERMETRICS_MetricSet(o1, 4.0));
        assert_eq!(value(o2), 4.0);
        // exact identity: values that would collide under a naive join/hash stay apart
        let c1 = metric(f2, &[("a", "ab"), ("b", "c")], None).unwrap();
        let c2 = metric(f2, &[("a", "a"), ("b", "bc")], None).unwrap();
        ok(INFERMETRICS_MetricSet(c1, 1.0));
        assert_eq!(value(c2), 0.0);
        let e = check(INFERMETRICS_MetricFamilyDelete(f2)).unwrap_err();
        assert_eq!(e.0, INFERMETRICS_ERROR_INTERNAL as u32);
        assert!(e.1.starts_with(
            "Must call MetricDelete on all dependent metrics before calling MetricFamilyDelete."
        ));
        for m in [b, z1, z2, o1, o2, c1, c2] {
            ok(INFERMETRICS_MetricDelete(m));
        }
        ok(INFERMETRICS_MetricFamilyDelete(f2));
        assert!(!snapshot().contains("bg_shared"));
    }
}

#[test]
fn bad_input_gets_errors_naming_the_culprit() {
    unsafe {
        let invalid = INFERMETRICS_ERROR_INVALID_ARG as u32;
        let mut f = null_mut();
        let name = CString::new("bg_bad").unwrap();
        let e = check(INFERMETRICS_MetricFamilyNew(
            null_mut(),
            INFERMETRICS_METRIC_KIND_COUNTER,
            name.as_ptr(),
            name.as_ptr(),
        ))
        .unwrap_err();
        assert_eq!((e.0, e.1.as_str()), (invalid, "argument 'family' is NULL"));
        let e = check(INFERMETRICS_MetricFamilyNew(
            &mut f,
            INFERMETRICS_METRIC_KIND_COUNTER,
            null(),
            name.as_ptr(),
        ))
        .unwrap_err();
        assert!(e.1.contains("'name'"));
        let e = check(INFERMETRICS_MetricFamilyNew(
            &mut f,
            INFERMETRICS_METRIC_KIND_COUNTER,
            name.as_ptr(),
            null(),
        ))
        .unwrap_err();
        assert!(e.1.contains("'description'"));
        let e = check(INFERMETRICS_MetricFamilyNew(
            &mut f,
            7,
            name.as_ptr(),
            name.as_ptr(),
        ))
        .unwrap_err();
        assert!(e.1.contains("Unsupported kind"), "{}", e.1);
        for bad in ["", "__x", "9x", "a-b", "a b"] {
            let n = CString::new(bad).unwrap();
            let e = check(INFERMETRICS_MetricFamilyNew(
                &mut f,
                INFERMETRICS_METRIC_KIND_COUNTER,
                n.as_ptr(),
                n.as_ptr(),
            ))
            .unwrap_err();
            assert_eq!(e.0, invalid);
            assert!(e.1.contains(&format!("'{}'", bad)), "{}", e.1);
        }
        let utf = b"bg_\xff\0";
        let e = check(INFERMETRICS_MetricFamilyNew(
            &mut f,
            INFERMETRICS_METRIC_KIND_COUNTER,
            utf.as_ptr() as *const _,
            name.as_ptr(),
        ))
        .unwrap_err();
        assert!(e.1.contains("UTF-8"), "{}", e.1);
        assert!(f.is_null(), "out-pointer untouched on error");

        let f = family(INFERMETRICS_METRIC_KIND_COUNTER, "bg_bad", "");
        for bad in ["", "__x", "a:b", "1a"] {
            let e = metric(f, &[(bad, "v")], None).unwrap_err();
            assert!(
                e.1.starts_with("Invalid label name") && e.1.contains(&format!("'{}'", bad)),
                "{}",
                e.1
            );
        }
        let e = metric(f, &[("m", "1"), ("m", "2")], None).unwrap_err();
        assert!(e.1.contains("'m' given twice"), "{}", e.1);
        // a non-STRING label
        let (k, v) = (CString::new("num").unwrap(), 5i64);
        let p = INFERMETRICS_ParameterNew(
            k.as_ptr(),
            INFERMETRICS_PARAMETER_INT,
            &v as *const i64 as *const _,
        );
        let mut labels = [p as *const INFERMETRICS_Parameter];
        let mut m = null_mut();
        let e = check(INFERMETRICS_MetricNew(&mut m, f, labels.as_mut_ptr(), 1)).unwrap_err();
        assert_eq!(e.1, "Parameter [num] must have a type of INFERMETRICS_PARAMETER_STRING to be added as a label.");
        // a NULL entry, a NULL array with a count, an absurd count
        labels[0] = null();
        assert!(
            check(INFERMETRICS_MetricNew(&mut m, f, labels.as_mut_ptr(), 1))
                .unwrap_err()
                .1
                .contains("labels[0]")
        );
        assert!(check(INFERMETRICS_MetricNew(&mut m, f, null_mut(), 1))
            .unwrap_err()
            .1
            .contains("'labels'"));
        assert!(check(INFERMETRICS_MetricNew(
            &mut m,
            f,
            labels.as_mut_ptr(),
            u64::MAX
        ))
        .unwrap_err()
        .1
        .contains("limit"));
        assert!(check(INFERMETRICS_MetricNew(null_mut(), f, null_mut(), 0))
            .unwrap_err()
            .1
            .contains("'metric'"));
        assert!(
            check(INFERMETRICS_MetricNew(&mut m, null_mut(), null_mut(), 0))
                .unwrap_err()
                .1
                .contains("'family'")
        );
        assert!(m.is_null());
        INFERMETRICS_ParameterDelete(p);
        // ParameterNew refusals return NULL
        assert!(INFERMETRICS_ParameterNew(
            null(),
            INFERMETRICS_PARAMETER_STRING,
            k.as_ptr() as *const _
        )
        .is_null());
        assert!(
            INFERMETRICS_ParameterNew(k.as_ptr(), INFERMETRICS_PARAMETER_STRING, null()).is_null()
        );
        assert!(INFERMETRICS_ParameterNew(
            k.as_ptr(),
            INFERMETRICS_PARAMETER_BYTES,
            k.as_ptr() as *const _
        )
        .is_null());
        // bad UTF-8 in a label value
        let bad = b"\xc3\x28\0";
        let p = INFERMETRICS_ParameterNew(
            k.as_ptr(),
            INFERMETRICS_PARAMETER_STRING,
            bad.as_ptr() as *const _,
        );
        let mut labels = [p as *const INFERMETRICS_Parameter];
        assert!(
            check(INFERMETRICS_MetricNew(&mut m, f, labels.as_mut_ptr(), 1))
                .unwrap_err()
                .1
                .contains("value of label 'num' is not valid UTF-8")
        );
        INFERMETRICS_ParameterDelete(p);
        // other NULLs
        let mut d = 0.0;
        let mut k2 = 0;
        assert!(check(INFERMETRICS_MetricValue(null_mut(), &mut d))
            .unwrap_err()
            .1
            .contains("'metric'"));
        assert!(check(INFERMETRICS_MetricSet(null_mut(), 1.0))
            .unwrap_err()
            .1
            .contains("'metric'"));
        assert!(check(INFERMETRICS_MetricObserve(null_mut(), 1.0))
            .unwrap_err()
            .1
            .contains("'metric'"));
        assert!(check(INFERMETRICS_MetricDelete(null_mut()))
            .unwrap_err()
            .1
            .contains("'metric'"));
        assert!(check(INFERMETRICS_GetMetricKind(null_mut(), &mut k2))
            .unwrap_err()
            .1
            .contains("'metric'"));
        assert!(check(INFERMETRICS_GetMetricFamilyKind(f, null_mut()))
            .unwrap_err()
            .1
            .contains("'kind'"));
        assert!(check(INFERMETRICS_MetricFamilyDelete(null_mut()))
            .unwrap_err()
            .1
            .contains("'family'"));
        assert!(check(INFERMETRICS_MetricArgsNew(null_mut()))
            .unwrap_err()
            .1
            .contains("'args'"));
        assert!(
            check(INFERMETRICS_MetricArgsSetHistogram(null_mut(), null(), 0))
                .unwrap_err()
                .1
                .contains("'args'")
        );
        let mut snap = null_mut();
        assert!(check(INFERMETRICS_ServerMetrics(null_mut(), null_mut()))
            .unwrap_err()
            .1
            .contains("'metrics'"));
        ok(INFERMETRICS_ServerMetrics(null_mut(), &mut snap));
        let (mut base, mut size) = (null(), 0usize);
        let e = check(INFERMETRICS_MetricsFormatted(snap, 3, &mut base, &mut size)).unwrap_err();
        assert!(
            e.1.starts_with("unknown metrics format 3: expected"),
            "{}",
            e.1
        );
        assert!(check(INFERMETRICS_MetricsFormatted(
            snap,
            0,
            null_mut(),
            &mut size
        ))
        .unwrap_err()
        .1
        .contains("'base'"));
        assert!(check(INFERMETRICS_MetricsFormatted(
            snap,
            0,
            &mut base,
            null_mut()
        ))
        .unwrap_err()
        .1
        .contains("'byte_size'"));
        ok(INFERMETRICS_MetricsDelete(snap));
        assert!(check(INFERMETRICS_MetricsDelete(null_mut()))
            .unwrap_err()
            .1
            .contains("'metrics'"));
        // a handle of another type is refused, not misused
        assert!(check(INFERMETRICS_MetricIncrement(
            f as *mut INFERMETRICS_Metric,
            1.0
        ))
        .unwrap_err()
        .1
        .contains("not a live INFERMETRICS_Metric"));
        ok(INFERMETRICS_MetricFamilyDelete(f));
    }
}

#[test]
fn errors_log_and_version() {
    unsafe {
        let names = [
            "Unknown",
            "Internal",
            "Not found",
            "Invalid argument",
            "Unavailable",
            "Unsupported",
            "Already exists",
            "Cancelled",
        ];
        for (i, n) in names.iter().enumerate() {
            let msg = CString::new(format!("m{}", i)).unwrap();
            let e = INFERMETRICS_ErrorNew(i as _, msg.as_ptr());
            assert_eq!(INFERMETRICS_ErrorCode(e) as usize, i);
            assert_eq!(
                CStr::from_ptr(INFERMETRICS_ErrorCodeString(e))
                    .to_str()
                    .unwrap(),
                *n
            );
            assert_eq!(
                CStr::from_ptr(INFERMETRICS_ErrorMessage(e))
                    .to_str()
                    .unwrap(),
                format!("m{}", i)
            );
            INFERMETRICS_ErrorDelete(e);
        }
        let e = INFERMETRICS_ErrorNew(42, null());
        assert_eq!(INFERMETRICS_ErrorCode(e), INFERMETRICS_ERROR_UNKNOWN);
        INFERMETRICS_ErrorDelete(e);
        INFERMETRICS_ErrorDelete(null_mut());
        assert_eq!(
            CStr::from_ptr(INFERMETRICS_ErrorMessage(null_mut()))
                .to_str()
                .unwrap(),
            ""
        );
        let (mut ma, mut mi) = (0, 0);
        ok(INFERMETRICS_ApiVersion(&mut ma, &mut mi));
        assert_eq!(
            (ma, mi),
            (
                INFERMETRICS_API_VERSION_MAJOR,
                INFERMETRICS_API_VERSION_MINOR
            )
        );
        assert!(check(INFERMETRICS_ApiVersion(null_mut(), &mut mi)).is_err());
    }
}

static LOG_LINES: std::sync::Mutex<Vec<(u32, String)>> = std::sync::Mutex::new(Vec::new());

unsafe extern "C" fn sink(
    level: INFERMETRICS_LogLevel,
    msg: *const std::os::raw::c_char,
    userp: *mut std::ffi::c_void,
) {
    assert_eq!(userp as usize, 0x1234);
    LOG_LINES.lock().unwrap().push((
        level as u32,
        CStr::from_ptr(msg).to_string_lossy().into_owned(),
    ));
}

#[test]
fn log_callback_gets_lines() {
    unsafe {
        ok(INFERMETRICS_SetLogCallback(Some(sink), 0x1234 as *mut _));
        let k = CString::new("x").unwrap();
        assert!(INFERMETRICS_ParameterNew(k.as_ptr(), 99, k.as_ptr() as *const _).is_null());
        ok(INFERMETRICS_SetLogCallback(None, null_mut()));
        let lines = LOG_LINES.lock().unwrap();
        assert!(
            lines.iter().any(|(l, m)| *l == INFERMETRICS_LOG_WARN as u32
                && m.contains("unknown parameter type 99")),
            "{:?}",
            lines
        );
    }
}

/// The registry as OpenMetrics text through the generated bindings.
fn openmetrics_snapshot() -> String {
    unsafe {
        let mut m = std::ptr::null_mut();
        ok(INFERMETRICS_ServerMetrics(std::ptr::null_mut(), &mut m));
        let (mut base, mut size) = (std::ptr::null(), 0usize);
        ok(INFERMETRICS_MetricsFormatted(
            m,
            INFERMETRICS_METRIC_OPENMETRICS,
            &mut base,
            &mut size,
        ));
        let s = std::str::from_utf8(std::slice::from_raw_parts(base as *const u8, size))
            .unwrap()
            .to_owned();
        ok(INFERMETRICS_MetricsDelete(m));
        s
    }
}

#[test]
fn exemplars_through_the_bindings() {
    unsafe {
        let (k, v) = (
            std::ffi::CString::new("trace_id").unwrap(),
            std::ffi::CString::new("bg-abc").unwrap(),
        );
        let p = INFERMETRICS_ParameterNew(
            k.as_ptr(),
            INFERMETRICS_PARAMETER_STRING,
            v.as_ptr() as *const _,
        );
        let mut labels = [p as *const INFERMETRICS_Parameter];
        let cf = family(INFERMETRICS_METRIC_KIND_COUNTER, "bg_ex_counter", "");
        let c = metric(cf, &[], None).unwrap();
        let hf = family(INFERMETRICS_METRIC_KIND_HISTOGRAM, "bg_ex_hist", "");
        let h = metric(hf, &[], Some(&[1.0])).unwrap();
        ok(INFERMETRICS_MetricIncrementWithExemplar(
            c,
            2.0,
            labels.as_mut_ptr(),
            1,
        ));
        ok(INFERMETRICS_MetricObserveWithExemplar(
            h,
            0.5,
            labels.as_mut_ptr(),
            1,
        ));
        ok(INFERMETRICS_MetricObserveWithExemplar(
            h,
            3.0,
            std::ptr::null_mut(),
            0,
        ));
        // wrong kinds and refused values: errors, nothing recorded
        let e = check(INFERMETRICS_MetricIncrementWithExemplar(
            h,
            1.0,
            labels.as_mut_ptr(),
            1,
        ))
        .unwrap_err();
        assert_eq!(e.0, INFERMETRICS_ERROR_UNSUPPORTED as u32, "{}", e.1);
        let e = check(INFERMETRICS_MetricObserveWithExemplar(
            c,
            1.0,
            labels.as_mut_ptr(),
            1,
        ))
        .unwrap_err();
        assert_eq!(e.0, INFERMETRICS_ERROR_UNSUPPORTED as u32, "{}", e.1);
        let e = check(INFERMETRICS_MetricIncrementWithExemplar(
            c,
            -1.0,
            labels.as_mut_ptr(),
            1,
        ))
        .unwrap_err();
        assert_eq!(e.0, INFERMETRICS_ERROR_INVALID_ARG as u32, "{}", e.1);
        let e = check(INFERMETRICS_MetricIncrementWithExemplar(
            c,
            1.0,
            std::ptr::null_mut(),
            1,
        ))
        .unwrap_err();
        assert_eq!(e.0, INFERMETRICS_ERROR_INVALID_ARG as u32, "{}", e.1);
        assert_eq!(value(c), 2.0);

        let t = openmetrics_snapshot();
        assert!(t.ends_with("# EOF\n"), "{}", t);
        assert!(
            t.contains("bg_ex_counter_total 2 # {trace_id=\"bg-abc\"} 2 "),
            "{}",
            t
        );
        assert!(
            t.contains("bg_ex_hist_bucket{le=\"1\"} 1 # {trace_id=\"bg-abc\"} 0.5 "),
            "{}",
            t
        );
        assert!(
            t.contains("bg_ex_hist_bucket{le=\"+Inf\"} 2 # {} 3 "),
            "{}",
            t
        );
        assert!(
            !snapshot().contains("bg-abc"),
            "0.0.4 never shows exemplars"
        );

        INFERMETRICS_ParameterDelete(p);
        ok(INFERMETRICS_MetricDelete(c));
        ok(INFERMETRICS_MetricDelete(h));
        ok(INFERMETRICS_MetricFamilyDelete(cf));
        ok(INFERMETRICS_MetricFamilyDelete(hf));
    }
}

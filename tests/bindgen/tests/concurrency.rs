//! Issue 2, test 4: 8 threads record into one counter, one gauge and one histogram while one
//! thread snapshots in a loop and two others create and delete series. Totals are exact, every
//! snapshot parses, and every histogram's +Inf bucket equals its _count in every snapshot.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use infermetrics_bindgen_tests::*;

struct P<T>(*mut T);
unsafe impl<T> Send for P<T> {}
unsafe impl<T> Sync for P<T> {}
impl<T> Clone for P<T> {
    fn clone(&self) -> Self {
        P(self.0)
    }
}
impl<T> Copy for P<T> {}
impl<T> P<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

const THREADS: usize = 8;
const PER_THREAD: usize = 50_000;

#[test]
fn recording_snapshots_and_churn_together() {
    let fc = family(INFERMETRICS_METRIC_KIND_COUNTER, "cc_counter", "c");
    let fg = family(INFERMETRICS_METRIC_KIND_GAUGE, "cc_gauge", "g");
    let fh = family(INFERMETRICS_METRIC_KIND_HISTOGRAM, "cc_hist", "h");
    let c = P(metric(fc, &[("t", "all")], None).unwrap());
    let g = P(metric(fg, &[("t", "all")], None).unwrap());
    let h = P(metric(fh, &[("t", "all")], Some(&[0.5, 1.5, 2.5, 3.5])).unwrap());
    let (pc, ph) = (P(fc), P(fh));
    let done = Arc::new(AtomicBool::new(false));

    let mut churn = Vec::new();
    for i in 0..2 {
        let done = Arc::clone(&done);
        churn.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                let m1 =
                    metric(pc.get(), &[("churn", &format!("{}-{}", i, n % 50))], None).unwrap();
                let m2 = metric(
                    ph.get(),
                    &[("churn", &format!("{}-{}", i, n % 50))],
                    Some(&[1.0, 2.0]),
                )
                .unwrap();
                ok(unsafe { INFERMETRICS_MetricIncrement(m1, 1.0) });
                ok(unsafe { INFERMETRICS_MetricObserve(m2, 1.5) });
                ok(unsafe { INFERMETRICS_MetricDelete(m1) });
                ok(unsafe { INFERMETRICS_MetricDelete(m2) });
                n += 1;
            }
            n
        }));
    }
    let snapper = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                let t = snapshot();
                parse_exposition(&t)
                    .unwrap_or_else(|e| panic!("snapshot {} does not parse: {}\n{}", n, e, t));
                n += 1;
            }
            n
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|i| {
            std::thread::spawn(move || {
                for k in 0..PER_THREAD {
                    ok(unsafe { INFERMETRICS_MetricIncrement(c.get(), 1.0) });
                    ok(unsafe {
                        INFERMETRICS_MetricIncrement(g.get(), if k % 2 == 0 { 2.0 } else { -1.0 })
                    });
                    ok(unsafe { INFERMETRICS_MetricObserve(h.get(), ((i + k) % 4) as f64) });
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let snaps = snapper.join().unwrap();
    let churned: u64 = churn.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(
        snaps > 0 && churned > 0,
        "snapshots {} churn {}",
        snaps,
        churned
    );

    let total = (THREADS * PER_THREAD) as f64;
    let mut v = 0.0;
    ok(unsafe { INFERMETRICS_MetricValue(c.get(), &mut v) });
    assert_eq!(v, total);
    ok(unsafe { INFERMETRICS_MetricValue(g.get(), &mut v) });
    assert_eq!(v, total / 2.0);
    let t = snapshot();
    assert!(
        t.contains(&format!(
            "cc_hist_count{{t=\"all\"}} {}\n",
            THREADS * PER_THREAD
        )),
        "{}",
        t
    );
    // values 0,1,2,3 equally often: sum = 1.5 per observation
    assert!(t.contains(&format!("cc_hist_sum{{t=\"all\"}} {}\n", total * 1.5)));
    let q = THREADS * PER_THREAD / 4;
    for (le, n) in [
        ("0.5", q),
        ("1.5", 2 * q),
        ("2.5", 3 * q),
        ("3.5", 4 * q),
        ("+Inf", 4 * q),
    ] {
        assert!(
            t.contains(&format!(
                "cc_hist_bucket{{t=\"all\",le=\"{}\"}} {}\n",
                le, n
            )),
            "le {}",
            le
        );
    }
    assert!(!t.contains("churn="), "churned series must be gone: {}", t);
    for m in [c, g, h] {
        ok(unsafe { INFERMETRICS_MetricDelete(m.get()) });
    }
    for f in [fc, fg, fh] {
        ok(unsafe { INFERMETRICS_MetricFamilyDelete(f) });
    }
    eprintln!(
        "{} snapshots and {} churn cycles ran alongside {} recordings",
        snaps,
        churned,
        3.0 * total
    );
}

//! The one rule for every ratio computed from two readings of a counter (`nv_cpu_utilization`,
//! `nv_cpu_core_utilization`, `nv_container_cpu_utilization`): a value is produced only once
//! its window is meaningful, i.e. it covers at least [`MIN_WINDOW`] of wall time and, for
//! `/proc/stat` tick counters, at least [`MIN_TICKS`] ticks.
//!
//! Without it the first collection after start divides over a window of a tick or two (the
//! baseline is taken microseconds earlier), and a single busy tick reads as 1.0. Until a
//! window is meaningful the baseline is kept, so with a metrics interval under 100 ms a value
//! spans several intervals; a counter that went backwards restarts the baseline.
use std::time::{Duration, Instant};

/// The shortest window a ratio is computed over.
pub const MIN_WINDOW: Duration = Duration::from_millis(100);
/// The fewest `/proc/stat` ticks (summed over the CPUs the line covers) a ratio is computed over.
pub const MIN_TICKS: u64 = 10;

/// Busy and idle ticks of one `/proc/stat` cpu line, with Triton's definitions:
/// busy = user+nice+system+irq+softirq+steal, idle = idle+iowait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticks {
    pub busy: u64,
    pub idle: u64,
}

/// Busy share of the ticks between a baseline and now, under the window rule.
#[derive(Clone, Debug, Default)]
pub struct TickWindow {
    base: Option<(Instant, Ticks)>,
}

impl TickWindow {
    /// A window whose baseline is `now`, taken at `at`.
    pub fn starting(at: Instant, now: Ticks) -> TickWindow {
        TickWindow {
            base: Some((at, now)),
        }
    }

    /// Feeds a reading; returns the busy share (0..=1) since the baseline when that window is
    /// meaningful (and makes this reading the next baseline), else `None`.
    pub fn next(&mut self, at: Instant, now: Ticks) -> Option<f64> {
        let Some((t0, base)) = self.base else {
            self.base = Some((at, now));
            return None;
        };
        if now.busy < base.busy || now.idle < base.idle {
            // counters went backwards (CPU hot-unplugged and back, or a bogus reading)
            self.base = Some((at, now));
            return None;
        }
        let busy = now.busy - base.busy;
        let total = busy + (now.idle - base.idle);
        if at.saturating_duration_since(t0) < MIN_WINDOW || total < MIN_TICKS {
            return None;
        }
        self.base = Some((at, now));
        Some(busy as f64 / total as f64)
    }
}

/// CPU time used per second of wall time per core, from a cumulative usage counter in
/// nanoseconds (a cgroup's), under the window rule (wall time only: the counter is not in ticks).
#[derive(Clone, Debug, Default)]
pub struct UsageWindow {
    base: Option<(Instant, u64)>,
}

impl UsageWindow {
    /// Feeds a reading of `usage_ns`; returns Δusage / (Δt × `cores`), clamped to 0..=1, when
    /// the window is meaningful (and makes this reading the next baseline), else `None`.
    pub fn next(&mut self, at: Instant, usage_ns: u64, cores: f64) -> Option<f64> {
        let Some((t0, base)) = self.base else {
            self.base = Some((at, usage_ns));
            return None;
        };
        if usage_ns < base {
            self.base = Some((at, usage_ns));
            return None;
        }
        let dt = at.saturating_duration_since(t0);
        if dt < MIN_WINDOW || cores <= 0.0 {
            return None;
        }
        self.base = Some((at, usage_ns));
        let u = (usage_ns - base) as f64 / (dt.as_nanos() as f64 * cores);
        Some(u.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(busy: u64, idle: u64) -> Ticks {
        Ticks { busy, idle }
    }

    #[test]
    fn first_value_needs_100ms_and_10_ticks() {
        let t0 = Instant::now();
        let mut w = TickWindow::starting(t0, t(100, 300));
        // one busy tick right after start: the spike this rule exists for
        assert_eq!(w.next(t0 + Duration::from_millis(1), t(101, 300)), None);
        // enough time, too few ticks
        assert_eq!(w.next(t0 + Duration::from_millis(150), t(103, 305)), None);
        // enough ticks, too little time (measured from the baseline, which was kept)
        let mut w2 = TickWindow::starting(t0, t(0, 0));
        assert_eq!(w2.next(t0 + Duration::from_millis(50), t(20, 20)), None);
        assert_eq!(
            w2.next(t0 + Duration::from_millis(100), t(20, 30)),
            Some(0.4)
        );
        // both: the value covers the whole kept window
        assert_eq!(
            w.next(t0 + Duration::from_millis(200), t(110, 310)),
            Some(0.5)
        );
        // and the next window starts there
        assert_eq!(w.next(t0 + Duration::from_millis(250), t(120, 310)), None);
        assert_eq!(
            w.next(t0 + Duration::from_millis(300), t(120, 330)),
            Some(1.0 / 3.0)
        );
    }

    #[test]
    fn no_baseline_and_backwards() {
        let t0 = Instant::now();
        let mut w = TickWindow::default();
        assert_eq!(w.next(t0, t(10, 10)), None);
        assert_eq!(w.next(t0 + Duration::from_secs(1), t(5, 100)), None); // busy went back
        assert_eq!(w.next(t0 + Duration::from_secs(2), t(55, 100)), Some(1.0));
    }

    #[test]
    fn usage_window() {
        let t0 = Instant::now();
        let mut w = UsageWindow::default();
        assert_eq!(w.next(t0, 1_000_000_000, 2.0), None);
        assert_eq!(
            w.next(t0 + Duration::from_millis(10), 1_010_000_000, 2.0),
            None
        );
        // 1 s of CPU over 1 s on 2 cores
        assert_eq!(
            w.next(t0 + Duration::from_secs(1), 2_000_000_000, 2.0),
            Some(0.5)
        );
        // more than the limit (burst) is clamped to 1
        assert_eq!(
            w.next(t0 + Duration::from_secs(2), 5_000_000_000, 2.0),
            Some(1.0)
        );
        assert_eq!(w.next(t0 + Duration::from_secs(3), 1, 2.0), None);
    }
}

//! Pinned-memory pool collector: serves what the host last reported with
//! `INFERMETRICS_PinnedMemoryPoolReport` (0 and 0 before any report).
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Collector, FamilyText};
use crate::core::Error;

static TOTAL: AtomicU64 = AtomicU64::new(0);
static USED: AtomicU64 = AtomicU64::new(0);

/// Records the host's pinned pool size and use (process-wide; every server serves it).
pub fn report(total_bytes: u64, used_bytes: u64) -> Result<(), Error> {
    if used_bytes > total_bytes {
        return Err(Error::invalid_arg(format!(
            "pinned memory used_bytes ({}) is larger than total_bytes ({})",
            used_bytes, total_bytes
        )));
    }
    // two stores: a collector may read one report's total with the previous used; both are
    // gauges refreshed each interval, so the next tick is consistent again
    TOTAL.store(total_bytes, Ordering::Relaxed);
    USED.store(used_bytes, Ordering::Relaxed);
    Ok(())
}

pub fn current() -> (u64, u64) {
    (TOTAL.load(Ordering::Relaxed), USED.load(Ordering::Relaxed))
}

pub struct PinnedCollector;

impl Collector for PinnedCollector {
    fn name(&self) -> &'static str {
        "pinned"
    }
    fn collect(&mut self) -> Vec<FamilyText> {
        let (total, used) = current();
        [
            FamilyText::new(
                "nv_pinned_memory_pool_total_bytes",
                "Pinned memory pool total memory size, in bytes",
                "gauge",
                &[("", total as f64)],
            ),
            FamilyText::new(
                "nv_pinned_memory_pool_used_bytes",
                "Pinned memory pool used memory size, in bytes",
                "gauge",
                &[("", used as f64)],
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

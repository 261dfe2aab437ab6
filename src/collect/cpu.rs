//! CPU utilisation and host memory from `/proc/stat` and `/proc/meminfo` (via procfs),
//! with Triton's definitions: busy = user+nice+system+irq+softirq+steal, idle = idle+iowait,
//! utilisation over the last interval; memory used = MemTotal - MemAvailable.
use procfs::{Current, CurrentSI, KernelStats, Meminfo, ProcResult, SystemInfoInterface};

use super::{Collector, FamilyText};
use crate::core::log;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticks {
    pub busy: u64,
    pub idle: u64,
}

/// What procfs needs to know about the system, read through libc: procfs's own
/// `ticks_per_second` goes through rustix's auxv code, which crashes under valgrind (no
/// vDSO there), and no host using us could then run valgrind.
struct LibcSystemInfo;

impl SystemInfoInterface for LibcSystemInfo {
    fn boot_time_secs(&self) -> ProcResult<u64> {
        procfs::boot_time_secs()
    }
    fn ticks_per_second(&self) -> u64 {
        // SAFETY: sysconf has no preconditions
        match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            t if t > 0 => t as u64,
            _ => 100,
        }
    }
    fn page_size(&self) -> u64 {
        // SAFETY: sysconf has no preconditions
        match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as u64,
            _ => 4096,
        }
    }
    fn is_little_endian(&self) -> bool {
        cfg!(target_endian = "little")
    }
}

pub fn read_ticks() -> Result<Ticks, String> {
    let t = KernelStats::current_with_system_info(&LibcSystemInfo)
        .map_err(|e| format!("cannot read /proc/stat: {}", e))?
        .total;
    Ok(Ticks {
        busy: t.user
            + t.nice
            + t.system
            + t.irq.unwrap_or(0)
            + t.softirq.unwrap_or(0)
            + t.steal.unwrap_or(0),
        idle: t.idle + t.iowait.unwrap_or(0),
    })
}

/// Utilisation between two readings, in 0..=1. A counter that went backwards counts as 0;
/// no ticks elapsed gives `None` (Triton would print NaN; we keep the previous value).
pub fn utilization(prev: Ticks, now: Ticks) -> Option<f64> {
    let busy = now.busy.saturating_sub(prev.busy);
    let idle = now.idle.saturating_sub(prev.idle);
    if busy + idle == 0 {
        None
    } else {
        Some(busy as f64 / (busy + idle) as f64)
    }
}

/// (MemTotal, MemTotal - MemAvailable) in bytes.
pub fn read_memory() -> Result<(u64, u64), String> {
    let m = Meminfo::current().map_err(|e| format!("cannot read /proc/meminfo: {}", e))?;
    let avail = m.mem_available.ok_or("/proc/meminfo has no MemAvailable")?;
    if avail > m.mem_total {
        return Err(format!(
            "/proc/meminfo MemAvailable ({}) > MemTotal ({})",
            avail, m.mem_total
        ));
    }
    Ok((m.mem_total, m.mem_total - avail))
}

pub struct CpuCollector {
    prev: Option<Ticks>,
    util: f64,
    failing: bool,
}

impl CpuCollector {
    /// Takes the utilisation baseline now, so the first value covers start-up to first tick.
    pub fn new() -> CpuCollector {
        CpuCollector {
            prev: read_ticks().ok(),
            util: 0.0,
            failing: false,
        }
    }

    fn note(&mut self, result: Result<(), String>) {
        match result {
            Err(e) if !self.failing => {
                self.failing = true;
                log::warn(&format!(
                    "CPU metrics unavailable, no nv_cpu_* series until this clears: {}",
                    e
                ));
            }
            Ok(()) if self.failing => {
                self.failing = false;
                log::info("CPU metrics available again");
            }
            _ => {}
        }
    }
}

impl Default for CpuCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let mut out = Vec::new();
        let ticks = read_ticks();
        let mem = read_memory();
        let status = ticks
            .as_ref()
            .map(|_| ())
            .and(mem.as_ref().map(|_| ()))
            .map_err(|e| e.clone());
        self.note(status);
        if let Ok(now) = ticks {
            if let Some(u) = self.prev.and_then(|p| utilization(p, now)) {
                self.util = u;
            }
            self.prev = Some(now);
            out.extend(FamilyText::new(
                "nv_cpu_utilization",
                "CPU utilization rate [0.0 - 1.0]",
                "gauge",
                &[("", self.util)],
            ));
        }
        if let Ok((total, used)) = mem {
            out.extend(FamilyText::new(
                "nv_cpu_memory_total_bytes",
                "CPU total memory (RAM), in bytes",
                "gauge",
                &[("", total as f64)],
            ));
            out.extend(FamilyText::new(
                "nv_cpu_memory_used_bytes",
                "CPU used memory (RAM), in bytes",
                "gauge",
                &[("", used as f64)],
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn util_math() {
        let a = Ticks {
            busy: 100,
            idle: 300,
        };
        assert_eq!(
            utilization(
                a,
                Ticks {
                    busy: 150,
                    idle: 350
                }
            ),
            Some(0.5)
        );
        assert_eq!(utilization(a, a), None);
        assert_eq!(
            utilization(
                a,
                Ticks {
                    busy: 50,
                    idle: 400
                }
            ),
            Some(0.0)
        );
    }
    #[test]
    fn reads_proc() {
        let (total, used) = read_memory().unwrap();
        assert!(total > 0 && used <= total);
        assert!(read_ticks().unwrap().idle > 0);
    }
}

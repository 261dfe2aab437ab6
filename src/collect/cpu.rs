//! CPU utilisation and host memory from `/proc/stat` and `/proc/meminfo`, with Triton's
//! definitions: busy = user+nice+system+irq+softirq+steal, idle = idle+iowait, utilisation
//! over the last window (see [`super::window`] for when a first value is served); memory used =
//! MemTotal - MemAvailable.
//!
//! `/proc/stat` is parsed here (one pass gives the aggregate line, the per-CPU lines the host
//! collector uses, and the process counts); `/proc/meminfo` through procfs.
use std::time::Instant;

use procfs::{Current, Meminfo};

use super::window::{TickWindow, Ticks};
use super::{Collector, FamilyText};
use crate::core::log;

/// What one read of `/proc/stat` gives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stat {
    /// The aggregate `cpu` line.
    pub total: Option<Ticks>,
    /// `cpuN` lines: (N, ticks), online CPUs only (the kernel omits offline ones).
    pub cores: Vec<(u32, Ticks)>,
    pub procs_running: Option<u64>,
    pub procs_blocked: Option<u64>,
    /// `btime`: boot time, seconds since the epoch.
    pub btime: Option<u64>,
}

fn parse_ticks(fields: &str) -> Option<Ticks> {
    let mut v = [0u64; 8];
    let mut n = 0;
    for (i, f) in fields.split_ascii_whitespace().take(8).enumerate() {
        v[i] = f.parse().ok()?;
        n = i + 1;
    }
    if n < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest, guest_nice are inside user, nice)
    Some(Ticks {
        busy: v[0] + v[1] + v[2] + v[5] + v[6] + v[7],
        idle: v[3] + v[4],
    })
}

/// Parses the text of `/proc/stat`; lines it does not know are skipped.
pub fn parse_stat(text: &str) -> Stat {
    let mut s = Stat::default();
    for line in text.lines() {
        let (key, rest) = line
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((line, ""));
        if key == "cpu" {
            s.total = parse_ticks(rest);
        } else if let Some(n) = key.strip_prefix("cpu") {
            if let (Ok(n), Some(t)) = (n.parse::<u32>(), parse_ticks(rest)) {
                s.cores.push((n, t));
            }
        } else {
            let v = rest.trim().parse::<u64>().ok();
            match key {
                "procs_running" => s.procs_running = v,
                "procs_blocked" => s.procs_blocked = v,
                "btime" => s.btime = v,
                _ => {}
            }
        }
    }
    s
}

/// Reads and parses `/proc/stat` into `buf`'s reused allocation.
pub fn read_stat(buf: &mut String) -> Result<Stat, String> {
    super::sysfs::read_into(std::path::Path::new("/proc/stat"), buf)
        .map_err(|e| format!("cannot read /proc/stat: {}", e))?;
    Ok(parse_stat(buf))
}

pub fn read_ticks() -> Result<Ticks, String> {
    read_stat(&mut String::new())?
        .total
        .ok_or_else(|| "/proc/stat has no aggregate cpu line".to_string())
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
    window: TickWindow,
    /// 0 (Triton's series exists from the start) until the first meaningful window.
    util: f64,
    failing: bool,
    buf: String,
}

impl CpuCollector {
    /// Takes the utilisation baseline now; the first value is served once the window from
    /// here is meaningful (until then the series reads 0).
    pub fn new() -> CpuCollector {
        let window = match read_ticks() {
            Ok(t) => TickWindow::starting(Instant::now(), t),
            Err(_) => TickWindow::default(),
        };
        CpuCollector {
            window,
            util: 0.0,
            failing: false,
            buf: String::new(),
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

    fn success(&self) -> bool {
        !self.failing
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let mut out = Vec::new();
        let ticks = read_stat(&mut self.buf).and_then(|s| {
            s.total
                .ok_or_else(|| "/proc/stat has no aggregate cpu line".to_string())
        });
        let mem = read_memory();
        let status = ticks
            .as_ref()
            .map(|_| ())
            .and(mem.as_ref().map(|_| ()))
            .map_err(|e| e.clone());
        self.note(status);
        if let Ok(now) = ticks {
            if let Some(u) = self.window.next(Instant::now(), now) {
                self.util = u;
            }
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
    fn parses_stat() {
        let s = parse_stat(
            "cpu  109199 8217 15638 68589 382 0 246 35 0 0\n\
             cpu0 53925 4452 7782 34817 115 0 66 18 0 0\n\
             cpu2 1 2 3 4\n\
             cpuX 1 2 3 4\n\
             intr 1 2 3\n\
             btime 1795792574\n\
             processes 63204\n\
             procs_running 5\n\
             procs_blocked 1\n",
        );
        assert_eq!(
            s.total,
            Some(Ticks {
                busy: 109199 + 8217 + 15638 + 246 + 35,
                idle: 68589 + 382
            })
        );
        assert_eq!(s.cores.len(), 2);
        assert_eq!(s.cores[0].0, 0);
        assert_eq!(s.cores[1], (2, Ticks { busy: 6, idle: 4 }));
        assert_eq!(s.procs_running, Some(5));
        assert_eq!(s.procs_blocked, Some(1));
        assert_eq!(s.btime, Some(1795792574));
        assert_eq!(parse_stat("cpu 1 2\n").total, None);
    }

    #[test]
    fn reads_proc() {
        let (total, used) = read_memory().unwrap();
        assert!(total > 0 && used <= total);
        assert!(read_ticks().unwrap().idle > 0);
        let s = read_stat(&mut String::new()).unwrap();
        assert!(!s.cores.is_empty() && s.btime.is_some() && s.procs_running.is_some());
    }

    #[test]
    fn no_spike_right_after_start() {
        let mut c = CpuCollector::new();
        // the first collection runs microseconds after the baseline: no ratio yet, 0 is served
        let f = c.collect();
        let util = f.iter().find(|f| f.name == "nv_cpu_utilization").unwrap();
        assert!(
            util.text.ends_with("\nnv_cpu_utilization 0\n"),
            "{}",
            util.text
        );
    }
}

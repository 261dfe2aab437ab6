//! Host-wide series with node_exporter's names, for hosts without a node_exporter (opt in:
//! `INFERMETRICS_HOST_METRICS=1`; next to a node_exporter they would be counted twice):
//! memory (`/proc/meminfo`), load (`/proc/loadavg`), process counts (`/proc/stat`, `/proc`) and
//! the per-core CPU utilisation `nv_cpu_core_utilization{cpu}` (`/proc/stat`, computed as
//! `nv_cpu_utilization` is). The filesystem series of the same group are in `filesystem.rs`.
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use super::cpu;
use super::sysfs;
use super::window::TickWindow;
use super::{label_body, Collector, FamilyText, Health};

/// The `/proc/meminfo` fields served, as `node_memory_<field>_bytes`.
pub const MEMINFO_FIELDS: [(&str, &str); 7] = [
    ("MemTotal", "node_memory_MemTotal_bytes"),
    ("MemFree", "node_memory_MemFree_bytes"),
    ("MemAvailable", "node_memory_MemAvailable_bytes"),
    ("Buffers", "node_memory_Buffers_bytes"),
    ("Cached", "node_memory_Cached_bytes"),
    ("SwapTotal", "node_memory_SwapTotal_bytes"),
    ("SwapFree", "node_memory_SwapFree_bytes"),
];

/// The value of `field` in `/proc/meminfo` text, in bytes (`kB` × 1024).
pub fn meminfo_bytes(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k != field {
            return None;
        }
        let mut it = v.split_ascii_whitespace();
        let n: u64 = it.next()?.parse().ok()?;
        Some(match it.next() {
            Some("kB") => n.saturating_mul(1024),
            _ => n,
        })
    })
}

/// The three load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_ascii_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// How many processes exist: the numeric entries of `/proc`.
pub fn count_pids() -> std::io::Result<u64> {
    Ok(std::fs::read_dir("/proc")?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let b = n.as_encoded_bytes();
            !b.is_empty() && b.iter().all(u8::is_ascii_digit)
        })
        .count() as u64)
}

pub struct HostCollector {
    /// Per online CPU: its window and its last value (none before its first window).
    cores: HashMap<u32, (TickWindow, Option<f64>)>,
    health: Health,
    buf: String,
}

impl HostCollector {
    /// Takes the per-core utilisation baselines now.
    pub fn new() -> HostCollector {
        let mut h = HostCollector {
            cores: HashMap::new(),
            health: Health::default(),
            buf: String::new(),
        };
        if let Ok(s) = cpu::read_stat(&mut h.buf) {
            let at = Instant::now();
            for (n, t) in s.cores {
                h.cores.insert(n, (TickWindow::starting(at, t), None));
            }
        }
        h
    }
}

impl Default for HostCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for HostCollector {
    fn name(&self) -> &'static str {
        "host"
    }

    fn success(&self) -> bool {
        self.health.ok()
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let mut out = Vec::with_capacity(16);
        let mut problems = Vec::new();

        match sysfs::read_into(Path::new("/proc/meminfo"), &mut self.buf) {
            Ok(()) => {
                for (field, name) in MEMINFO_FIELDS {
                    out.extend(FamilyText::gauge(
                        name,
                        &format!("Memory information field {}_bytes.", field),
                        meminfo_bytes(&self.buf, field).map(|v| v as f64),
                    ));
                }
            }
            Err(e) => problems.push(format!("/proc/meminfo: {}", e)),
        }

        match sysfs::read_into(Path::new("/proc/loadavg"), &mut self.buf) {
            Ok(()) => match parse_loadavg(&self.buf) {
                Some([l1, l5, l15]) => {
                    out.extend(FamilyText::gauge(
                        "node_load1",
                        "1m load average.",
                        Some(l1),
                    ));
                    out.extend(FamilyText::gauge(
                        "node_load5",
                        "5m load average.",
                        Some(l5),
                    ));
                    out.extend(FamilyText::gauge(
                        "node_load15",
                        "15m load average.",
                        Some(l15),
                    ));
                }
                None => problems.push("/proc/loadavg does not parse".into()),
            },
            Err(e) => problems.push(format!("/proc/loadavg: {}", e)),
        }

        match cpu::read_stat(&mut self.buf) {
            Ok(stat) => {
                out.extend(FamilyText::gauge(
                    "node_procs_running",
                    "Number of processes in runnable state.",
                    stat.procs_running.map(|v| v as f64),
                ));
                out.extend(FamilyText::gauge(
                    "node_procs_blocked",
                    "Number of processes blocked waiting for I/O to complete.",
                    stat.procs_blocked.map(|v| v as f64),
                ));
                let at = Instant::now();
                // CPUs that went offline lose their series and their baseline
                self.cores
                    .retain(|n, _| stat.cores.iter().any(|(m, _)| m == n));
                let mut samples: Vec<(u32, f64)> = Vec::with_capacity(stat.cores.len());
                for (n, t) in &stat.cores {
                    let (w, last) = self
                        .cores
                        .entry(*n)
                        .or_insert_with(|| (TickWindow::default(), None));
                    if let Some(u) = w.next(at, *t) {
                        *last = Some(u);
                    }
                    if let Some(u) = *last {
                        samples.push((*n, u));
                    }
                }
                samples.sort_by_key(|(n, _)| *n);
                let bodies: Vec<(String, f64)> = samples
                    .iter()
                    .map(|(n, u)| (label_body(&[("cpu", &n.to_string())]), *u))
                    .collect();
                let refs: Vec<(&str, f64)> = bodies.iter().map(|(b, u)| (b.as_str(), *u)).collect();
                out.extend(FamilyText::new(
                    "nv_cpu_core_utilization",
                    "CPU utilization rate of one core [0.0 - 1.0]",
                    "gauge",
                    &refs,
                ));
            }
            Err(e) => problems.push(e),
        }

        match count_pids() {
            Ok(n) => out.extend(FamilyText::gauge(
                "node_processes_pids",
                "Number of PIDs",
                Some(n as f64),
            )),
            Err(e) => problems.push(format!("cannot list /proc: {}", e)),
        }

        self.health.note(
            "host metrics",
            (!problems.is_empty()).then(|| problems.join("; ")),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        let m = "MemTotal:       24684084 kB\nMemFree:        20360600 kB\nHugePages_Total:       0\nSwapFree:              0 kB\n";
        assert_eq!(meminfo_bytes(m, "MemTotal"), Some(24684084 * 1024));
        assert_eq!(meminfo_bytes(m, "SwapFree"), Some(0));
        assert_eq!(meminfo_bytes(m, "HugePages_Total"), Some(0));
        assert_eq!(meminfo_bytes(m, "Mem"), None);
        assert_eq!(
            parse_loadavg("2.06 2.67 1.60 5/399 30747\n"),
            Some([2.06, 2.67, 1.60])
        );
        assert_eq!(parse_loadavg("2.06 x"), None);
    }

    #[test]
    fn reads_this_host() {
        assert!(count_pids().unwrap() >= 1);
        let mut h = HostCollector::new();
        let f = h.collect();
        assert!(h.success());
        let names: Vec<&str> = f.iter().map(|f| f.name).collect();
        for want in [
            "node_memory_MemTotal_bytes",
            "node_load15",
            "node_procs_running",
            "node_processes_pids",
        ] {
            assert!(names.contains(&want), "{} missing from {:?}", want, names);
        }
        // per-core values only once a window of 100 ms has passed
        assert!(!names.contains(&"nv_cpu_core_utilization"));
        std::thread::sleep(std::time::Duration::from_millis(150));
        let f = h.collect();
        let core = f
            .iter()
            .find(|f| f.name == "nv_cpu_core_utilization")
            .unwrap();
        assert!(
            core.text.contains("nv_cpu_core_utilization{cpu=\"0\"} "),
            "{}",
            core.text
        );
    }
}

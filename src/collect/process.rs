//! The standard `process_*` series of the Prometheus client libraries, for this process, with
//! the names, types, units and meanings of client_golang and prometheus_client (Python):
//! `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_start_time_seconds`, `process_open_fds`, `process_max_fds`, plus `process_threads`
//! (as the Rust `prometheus` crate serves it).
//!
//! Sources: `/proc/self/stat` (utime+stime in clock ticks, num_threads, starttime, vsize, rss
//! in pages), `btime` of `/proc/stat` (read once), the entries of `/proc/self/fd`, and
//! `getrlimit(RLIMIT_NOFILE)`'s soft limit.
//!
//! **Why our own and not the `prometheus` crate's `process` feature** (measured on
//! 2026-11-27 against prometheus 0.14.0, the version this crate depends on, in a scratch
//! crate that was not committed):
//! - **valgrind**: its `ProcessCollector::new` calls `procfs::boot_time_secs()`, which reads
//!   `/proc/stat` through `KernelStats::current()` and so through rustix's auxv-based
//!   `clock_ticks_per_second`. Inside our cdylib under valgrind that call segfaults
//!   (`rustix::backend::param::auxv::check_elf_base`; reproduced by calling
//!   `procfs::boot_time_secs()` from this collector and running `groups_once` under valgrind:
//!   exit 139), the same crash the CPU collector had. Valgrind-cleanliness is a requirement.
//! - **dependencies**: the feature pulls `procfs 0.17`, `procfs-core 0.17` and `rustix 0.38`,
//!   second copies beside the `procfs 0.18` / `rustix 1` we already build.
//! - **precision**: it computes `process_cpu_seconds_total` as `(utime + stime) / CLK_TCK` in
//!   integer arithmetic: a process that had used 0.84 s of CPU was served 0 (the Go and Python
//!   clients serve 0.84), and `process_start_time_seconds` is whole seconds too.
//! - it returns protobuf-shaped `MetricFamily`s for its `TextEncoder`, which this crate does
//!   not use (every byte we serve comes from `core::text`).
//!
//! Ours is plain parsing of those files with `sysconf` for the constants (`sysfs.rs`), and
//! `btime` from our own `/proc/stat` parser (`cpu.rs`).
use std::path::Path;

use super::sysfs;
use super::{Collector, FamilyText, Health};

/// The fields of `/proc/<pid>/stat` the series need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStat {
    pub utime: u64,
    pub stime: u64,
    pub num_threads: u64,
    pub starttime: u64,
    pub vsize: u64,
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // f[0] is field 3 (state): field N is f[N - 3]
    let get = |n: usize| f.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        utime: get(14)?,
        stime: get(15)?,
        num_threads: get(20)?,
        starttime: get(22)?,
        vsize: get(23)?,
        // rss is signed in the kernel's format; a negative value never happens in practice
        rss_pages: get(24).unwrap_or(0),
    })
}

/// Entries of `/proc/self/fd` (the descriptor used to list it included, as in the Go and
/// Python clients).
pub fn open_fds() -> std::io::Result<u64> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count() as u64)
}

/// The soft limit on open files.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
pub fn max_fds() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0).then_some(rl.rlim_cur as u64)
}

pub struct ProcessCollector {
    ticks: f64,
    page: f64,
    btime: Option<u64>,
    health: Health,
    buf: String,
}

impl ProcessCollector {
    pub fn new() -> ProcessCollector {
        let btime = super::cpu::read_stat(&mut String::new())
            .ok()
            .and_then(|s| s.btime);
        ProcessCollector {
            ticks: sysfs::clock_ticks() as f64,
            page: sysfs::page_size() as f64,
            btime,
            health: Health::default(),
            buf: String::new(),
        }
    }
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for ProcessCollector {
    fn name(&self) -> &'static str {
        "process"
    }

    fn success(&self) -> bool {
        self.health.ok()
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let stat = sysfs::read_into(Path::new("/proc/self/stat"), &mut self.buf)
            .map_err(|e| format!("cannot read /proc/self/stat: {}", e))
            .and_then(|_| {
                parse_stat(&self.buf).ok_or_else(|| "cannot parse /proc/self/stat".to_string())
            });
        let fds = open_fds();
        self.health.note(
            "process metrics",
            match (&stat, &fds) {
                (Err(e), _) => Some(e.clone()),
                (_, Err(e)) => Some(format!("cannot list /proc/self/fd: {}", e)),
                _ => None,
            },
        );
        let stat = stat.ok();
        let mut out = Vec::with_capacity(7);
        out.extend(FamilyText::counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            stat.map(|s| (s.utime + s.stime) as f64 / self.ticks),
        ));
        out.extend(FamilyText::gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            fds.ok().map(|n| n as f64),
        ));
        out.extend(FamilyText::gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max_fds().map(|n| n as f64),
        ));
        out.extend(FamilyText::gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            stat.map(|s| s.vsize as f64),
        ));
        out.extend(FamilyText::gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            stat.map(|s| s.rss_pages as f64 * self.page),
        ));
        out.extend(FamilyText::gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            stat.and_then(|s| Some(self.btime? as f64 + s.starttime as f64 / self.ticks)),
        ));
        out.extend(FamilyText::gauge(
            "process_threads",
            "Number of OS threads in the process.",
            stat.map(|s| s.num_threads as f64),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line =
            "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 7 0 123456 \
                    104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            ProcStat {
                utime: 250,
                stime: 75,
                num_threads: 7,
                starttime: 123456,
                vsize: 104857600,
                rss_pages: 2560
            }
        );
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
        assert_eq!(parse_stat("no paren"), None);
    }

    #[test]
    fn reads_self() {
        let s = parse_stat(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        assert!(s.num_threads >= 1 && s.vsize > 0 && s.rss_pages > 0);
        assert!(open_fds().unwrap() >= 3);
        assert!(max_fds().unwrap() >= 3);
        let mut c = ProcessCollector::new();
        let names: Vec<&str> = c.collect().iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds_total",
                "process_open_fds",
                "process_max_fds",
                "process_virtual_memory_bytes",
                "process_resident_memory_bytes",
                "process_start_time_seconds",
                "process_threads"
            ]
        );
        assert!(c.success());
    }
}

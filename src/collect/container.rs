//! This process's container limits and usage from its cgroup (cgroup v2, v1 as fallback),
//! with cAdvisor's meanings under our `nv_container_` prefix.
//!
//! **Which cgroup.** `/proc/self/cgroup` names it (under `INFERMETRICS_PROC_ROOT`, a test
//! seam), and its files are read under `/sys/fs/cgroup` (under `INFERMETRICS_SYSFS_ROOT`):
//! - **v2** when `fs/cgroup/cgroup.controllers` exists: the `0::<path>` line gives the path,
//!   read at `fs/cgroup/<path>`.
//! - **v1** otherwise: for each of the `cpu`, `cpuacct` and `memory` controllers the line whose
//!   controller list holds it gives the path, read under the controller's hierarchy, which is
//!   the first of `fs/cgroup/<the line's controller list>`, `fs/cgroup/<controller>`,
//!   `fs/cgroup/cpu,cpuacct`, `fs/cgroup/cpuacct,cpu` that exists. (A machine with v1
//!   hierarchies and a v2 one beside them at `fs/cgroup/unified`, as many are, is read as v1.)
//! - Inside a container without a cgroup namespace `/proc/self/cgroup` shows the host's path
//!   while `/sys/fs/cgroup` is mounted at the container's own cgroup: when `<hierarchy>/<path>`
//!   does not exist, leading components of the path are dropped until it does (at worst the
//!   hierarchy's root, which is then the container's cgroup).
//!
//! **Limits are effective**: the smallest along the path from the cgroup up to the root of its
//! hierarchy (a pod's limit applies to each of its containers), read at every collection
//! (`docker update` changes them at run time). A limit that is absent everywhere is not served.
//!
//! **No cgroup found** (no `/proc/self/cgroup`, no hierarchy): no `nv_container_*` series and
//! one log line at server start. A file that is absent (a controller not enabled) leaves its
//! series out; the collector fails (`nv_collector_success` 0, one log line) only when it can
//! read nothing at all, e.g. when the cgroup was removed.
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::sysfs::{self, Roots};
use super::window::UsageWindow;
use super::{Collector, FamilyText, Health};
use crate::core::log;

/// v1's "no limit" is LONG_MAX rounded down to a page (9223372036854771712); anything this
/// large is taken as none.
const V1_UNLIMITED: u64 = 1 << 62;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// One cgroup directory and its ancestors up to the hierarchy's root (leaf first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain(pub Vec<PathBuf>);

impl Chain {
    fn new(root: &Path, path: &str) -> Chain {
        let leaf = resolve(root, path);
        let mut v = vec![leaf.clone()];
        let mut d = leaf.as_path();
        while d != root {
            match d.parent() {
                Some(p) if p.starts_with(root) => {
                    v.push(p.to_path_buf());
                    d = p;
                }
                _ => break,
            }
        }
        Chain(v)
    }
    fn leaf(&self) -> &Path {
        &self.0[0]
    }
}

/// `<root>/<path>`, or with leading components of `path` dropped until it exists.
fn resolve(root: &Path, path: &str) -> PathBuf {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for skip in 0..parts.len() {
        let d = parts[skip..]
            .iter()
            .fold(root.to_path_buf(), |d, p| d.join(p));
        if d.is_dir() {
            return d;
        }
    }
    root.to_path_buf()
}

/// Where this process's cgroup files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    pub version: Version,
    /// v2: the cgroup; v1: the `cpu` controller's.
    pub cpu: Option<Chain>,
    /// v1 only: the `cpuacct` controller's (usage).
    pub cpuacct: Option<Chain>,
    pub memory: Option<Chain>,
}

/// `(hierarchy id, controllers, path)` of each line of `/proc/self/cgroup`.
pub fn parse_proc_cgroup(text: &str) -> Vec<(&str, Vec<&str>, &str)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (id, ctl, path) = (it.next()?, it.next()?, it.next()?);
            Some((id, ctl.split(',').filter(|c| !c.is_empty()).collect(), path))
        })
        .collect()
}

impl Cgroup {
    /// Finds this process's cgroup under `roots`; `Err` says why none was found.
    pub fn find(roots: &Roots) -> Result<Cgroup, String> {
        let proc_cgroup = roots.proc("self/cgroup");
        let text = sysfs::read(&proc_cgroup)
            .map_err(|e| format!("cannot read {}: {}", proc_cgroup.display(), e))?;
        let lines = parse_proc_cgroup(&text);
        let base = roots.sys("fs/cgroup");
        if base.join("cgroup.controllers").is_file() {
            let (_, _, path) = lines
                .iter()
                .find(|(id, ctl, _)| *id == "0" && ctl.is_empty())
                .ok_or_else(|| {
                    format!(
                        "{} is a cgroup v2 hierarchy but {} has no '0::' line",
                        base.display(),
                        proc_cgroup.display()
                    )
                })?;
            let chain = Chain::new(&base, path);
            return Ok(Cgroup {
                version: Version::V2,
                cpu: Some(chain.clone()),
                cpuacct: None,
                memory: Some(chain),
            });
        }
        let v1 = |controller: &str| -> Option<Chain> {
            let (_, ctl, path) = lines.iter().find(|(_, c, _)| c.contains(&controller))?;
            let joined = ctl.join(",");
            [joined.as_str(), controller, "cpu,cpuacct", "cpuacct,cpu"]
                .iter()
                .map(|m| base.join(m))
                .find(|m| m.is_dir())
                .map(|m| Chain::new(&m, path))
        };
        let cg = Cgroup {
            version: Version::V1,
            cpu: v1("cpu"),
            cpuacct: v1("cpuacct"),
            memory: v1("memory"),
        };
        if cg.cpu.is_none() && cg.cpuacct.is_none() && cg.memory.is_none() {
            return Err(format!(
                "no cgroup v2 hierarchy ({} missing) and no v1 cpu, cpuacct or memory hierarchy under {} for {}",
                base.join("cgroup.controllers").display(),
                base.display(),
                proc_cgroup.display()
            ));
        }
        Ok(cg)
    }

    fn describe(&self) -> String {
        let d = |c: &Option<Chain>| {
            c.as_ref()
                .map(|c| c.leaf().display().to_string())
                .unwrap_or_else(|| "-".into())
        };
        match self.version {
            Version::V2 => format!("cgroup v2 {}", d(&self.cpu)),
            Version::V1 => format!(
                "cgroup v1 cpu {}, cpuacct {}, memory {}",
                d(&self.cpu),
                d(&self.cpuacct),
                d(&self.memory)
            ),
        }
    }
}

/// The value of `key` in a flat-keyed file (`cpu.stat`, `memory.stat`, `memory.events`, ...).
pub fn key_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `cpu.max` (v2): `Some(cores)` for "QUOTA PERIOD", `None` for "max PERIOD" or garbage.
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_ascii_whitespace();
    let (q, p) = (it.next()?, it.next().unwrap_or("100000"));
    let (q, p) = (q.parse::<f64>().ok()?, p.parse::<f64>().ok()?);
    (q > 0.0 && p > 0.0).then(|| q / p)
}

/// The smaller of two limits, where `None` is no limit.
fn min_opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// One reading of every source (each `None` when its file is absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    pub usage_ns: Option<u64>,
    pub limit_cores: Option<f64>,
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ns: Option<u64>,
    pub memory_usage: Option<u64>,
    pub working_set: Option<u64>,
    pub memory_limit: Option<u64>,
    pub oom_kills: Option<u64>,
}

impl Reading {
    fn anything(&self) -> bool {
        *self != Reading::default()
    }
}

/// Reads everything from `cg` (small files; `buf` is reused).
pub fn read(cg: &Cgroup, buf: &mut String) -> Reading {
    let mut file = |dir: &Path, name: &str| -> Option<String> {
        sysfs::read_into(&dir.join(name), buf).ok()?;
        Some(buf.clone())
    };
    let mut r = Reading::default();
    match cg.version {
        Version::V2 => {
            if let Some(c) = &cg.cpu {
                if let Some(s) = file(c.leaf(), "cpu.stat") {
                    r.usage_ns = key_value(&s, "usage_usec").map(|u| u.saturating_mul(1000));
                    r.periods = key_value(&s, "nr_periods");
                    r.throttled_periods = key_value(&s, "nr_throttled");
                    r.throttled_ns =
                        key_value(&s, "throttled_usec").map(|u| u.saturating_mul(1000));
                }
                for d in &c.0 {
                    let l = file(d, "cpu.max").and_then(|s| parse_cpu_max(&s));
                    r.limit_cores = min_opt(r.limit_cores, l);
                }
            }
            if let Some(m) = &cg.memory {
                r.memory_usage =
                    file(m.leaf(), "memory.current").and_then(|s| s.trim().parse().ok());
                if let (Some(u), Some(s)) = (r.memory_usage, file(m.leaf(), "memory.stat")) {
                    r.working_set =
                        Some(u.saturating_sub(key_value(&s, "inactive_file").unwrap_or(0)));
                }
                for d in &m.0 {
                    // "max" does not parse: no limit at that level
                    let l = file(d, "memory.max").and_then(|s| s.trim().parse::<u64>().ok());
                    r.memory_limit = min_opt(r.memory_limit, l);
                }
                r.oom_kills =
                    file(m.leaf(), "memory.events").and_then(|s| key_value(&s, "oom_kill"));
            }
        }
        Version::V1 => {
            if let Some(a) = &cg.cpuacct {
                r.usage_ns = file(a.leaf(), "cpuacct.usage").and_then(|s| s.trim().parse().ok());
            }
            if let Some(c) = &cg.cpu {
                if let Some(s) = file(c.leaf(), "cpu.stat") {
                    r.periods = key_value(&s, "nr_periods");
                    r.throttled_periods = key_value(&s, "nr_throttled");
                    r.throttled_ns = key_value(&s, "throttled_time");
                }
                for d in &c.0 {
                    let q = file(d, "cpu.cfs_quota_us").and_then(|s| s.trim().parse::<i64>().ok());
                    let p = file(d, "cpu.cfs_period_us").and_then(|s| s.trim().parse::<i64>().ok());
                    let l = match (q, p) {
                        (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
                        _ => None, // -1: unlimited
                    };
                    r.limit_cores = min_opt(r.limit_cores, l);
                }
            }
            if let Some(m) = &cg.memory {
                r.memory_usage =
                    file(m.leaf(), "memory.usage_in_bytes").and_then(|s| s.trim().parse().ok());
                if let (Some(u), Some(s)) = (r.memory_usage, file(m.leaf(), "memory.stat")) {
                    r.working_set =
                        Some(u.saturating_sub(key_value(&s, "total_inactive_file").unwrap_or(0)));
                }
                for d in &m.0 {
                    let l = file(d, "memory.limit_in_bytes")
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .filter(|&l| l < V1_UNLIMITED);
                    r.memory_limit = min_opt(r.memory_limit, l);
                }
                r.oom_kills =
                    file(m.leaf(), "memory.oom_control").and_then(|s| key_value(&s, "oom_kill"));
            }
        }
    }
    r
}

pub struct ContainerCollector {
    cgroup: Cgroup,
    roots: Roots,
    window: UsageWindow,
    health: Health,
    buf: String,
}

impl ContainerCollector {
    /// The collector of this process's cgroup, or `None` (logged) when no cgroup is found.
    pub fn find(roots: &Roots) -> Option<ContainerCollector> {
        match Cgroup::find(roots) {
            Ok(cgroup) => {
                log::info(&format!("container metrics from {}", cgroup.describe()));
                Some(ContainerCollector::new(cgroup, roots.clone()))
            }
            Err(why) => {
                log::info(&format!("no container metrics: {}", why));
                None
            }
        }
    }

    pub fn new(cgroup: Cgroup, roots: Roots) -> ContainerCollector {
        let mut c = ContainerCollector {
            cgroup,
            roots,
            window: UsageWindow::default(),
            health: Health::default(),
            buf: String::new(),
        };
        // the utilisation baseline, taken now
        if let Some(u) = read(&c.cgroup, &mut c.buf).usage_ns {
            c.window.next(Instant::now(), u, 1.0);
        }
        c
    }
}

impl Collector for ContainerCollector {
    fn name(&self) -> &'static str {
        "container"
    }

    fn success(&self) -> bool {
        self.health.ok()
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let r = read(&self.cgroup, &mut self.buf);
        let at = Instant::now();
        self.health.note(
            "container metrics",
            (!r.anything()).then(|| format!("nothing readable in {}", self.cgroup.describe())),
        );
        let cores = r
            .limit_cores
            .unwrap_or_else(|| sysfs::online_cpus(&self.roots) as f64);
        let util = r.usage_ns.and_then(|u| self.window.next(at, u, cores));
        let f = |v: Option<u64>| v.map(|v| v as f64);
        let secs = |v: Option<u64>| v.map(|v| v as f64 / 1e9);
        [
            FamilyText::counter(
                "nv_container_cpu_usage_seconds_total",
                "Cumulative CPU time consumed by the container (cgroup), in seconds",
                secs(r.usage_ns),
            ),
            FamilyText::gauge(
                "nv_container_cpu_limit_cores",
                "CPU limit of the container (cgroup CFS quota / period), in cores",
                r.limit_cores,
            ),
            FamilyText::gauge(
                "nv_container_cpu_utilization",
                "CPU used by the container over the last interval, as a fraction of its CPU limit (or of the online CPUs when unlimited) [0.0 - 1.0]",
                util,
            ),
            FamilyText::counter(
                "nv_container_cpu_cfs_periods_total",
                "Number of elapsed CFS enforcement period intervals",
                f(r.periods),
            ),
            FamilyText::counter(
                "nv_container_cpu_cfs_throttled_periods_total",
                "Number of throttled CFS period intervals",
                f(r.throttled_periods),
            ),
            FamilyText::counter(
                "nv_container_cpu_cfs_throttled_seconds_total",
                "Total time the container has been throttled, in seconds",
                secs(r.throttled_ns),
            ),
            FamilyText::gauge(
                "nv_container_memory_usage_bytes",
                "Current memory usage of the container, including all memory regardless of when it was accessed, in bytes",
                f(r.memory_usage),
            ),
            FamilyText::gauge(
                "nv_container_memory_working_set_bytes",
                "Current working set of the container (usage minus inactive file cache), in bytes",
                f(r.working_set),
            ),
            FamilyText::gauge(
                "nv_container_memory_limit_bytes",
                "Memory limit of the container, in bytes",
                f(r.memory_limit),
            ),
            FamilyText::counter(
                "nv_container_oom_kills_total",
                "Number of processes of the container killed by the OOM killer",
                f(r.oom_kills),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fixture tree: `files` are (path under the root, content).
    fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "infermetrics-cgroup-{}-{}",
            name,
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&root);
        for (p, content) in files {
            let p = root.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        root
    }

    fn roots(root: &Path) -> Roots {
        Roots {
            sys: root.join("sys"),
            proc: root.join("proc"),
        }
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("50000\n"), Some(0.5));
        assert_eq!(
            key_value("usage_usec 12\nnr_periods 3\n", "nr_periods"),
            Some(3)
        );
        assert_eq!(key_value("usage_usec 12\n", "nr_periods"), None);
        let l = parse_proc_cgroup("12:cpu,cpuacct:/a/b\n0::/x\n1:name=systemd:/\n");
        assert_eq!(l[0], ("12", vec!["cpu", "cpuacct"], "/a/b"));
        assert_eq!(l[1], ("0", vec![], "/x"));
        assert_eq!(l[2].1, vec!["name=systemd"]);
    }

    #[test]
    fn v2_limits_are_the_smallest_on_the_path() {
        let root = tree(
            "v2",
            &[
                ("proc/self/cgroup", "0::/kubepods/pod1/ctr\n"),
                ("sys/fs/cgroup/cgroup.controllers", "cpu memory\n"),
                ("sys/fs/cgroup/kubepods/cpu.max", "max 100000\n"),
                ("sys/fs/cgroup/kubepods/memory.max", "max\n"),
                ("sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n"),
                ("sys/fs/cgroup/kubepods/pod1/memory.max", "1073741824\n"),
                ("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "200000 100000\n"),
                ("sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "2147483648\n"),
                (
                    "sys/fs/cgroup/kubepods/pod1/ctr/cpu.stat",
                    "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 4\nthrottled_usec 300000\n",
                ),
                ("sys/fs/cgroup/kubepods/pod1/ctr/memory.current", "104857600\n"),
                ("sys/fs/cgroup/kubepods/pod1/ctr/memory.stat", "anon 1\ninactive_file 4857600\nactive_file 9\n"),
                ("sys/fs/cgroup/kubepods/pod1/ctr/memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"),
            ],
        );
        let cg = Cgroup::find(&roots(&root)).unwrap();
        assert_eq!(cg.version, Version::V2);
        assert_eq!(cg.cpu.as_ref().unwrap().0.len(), 4); // ctr, pod1, kubepods, root
        let r = read(&cg, &mut String::new());
        assert_eq!(
            r,
            Reading {
                usage_ns: Some(2_500_000_000),
                limit_cores: Some(1.5),
                periods: Some(40),
                throttled_periods: Some(4),
                throttled_ns: Some(300_000_000),
                memory_usage: Some(104857600),
                working_set: Some(100_000_000),
                memory_limit: Some(1073741824),
                oom_kills: Some(1),
            }
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v2_no_cpu_controller_and_no_limits() {
        let root = tree(
            "v2b",
            &[
                ("proc/self/cgroup", "0::/user.slice/app\n"),
                ("sys/fs/cgroup/cgroup.controllers", "memory\n"),
                (
                    "sys/fs/cgroup/user.slice/app/cpu.stat",
                    "usage_usec 10\nuser_usec 5\nsystem_usec 5\n",
                ),
                ("sys/fs/cgroup/user.slice/app/memory.current", "4096\n"),
                ("sys/fs/cgroup/user.slice/app/memory.max", "max\n"),
            ],
        );
        let cg = Cgroup::find(&roots(&root)).unwrap();
        let r = read(&cg, &mut String::new());
        assert_eq!(
            r,
            Reading {
                usage_ns: Some(10_000),
                memory_usage: Some(4096),
                ..Reading::default()
            }
        );
        let mut c = ContainerCollector::new(cg, roots(&root));
        let names: Vec<&str> = c.collect().iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "nv_container_cpu_usage_seconds_total",
                "nv_container_memory_usage_bytes"
            ]
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v2_host_path_inside_a_container() {
        // /proc/self/cgroup shows the host's path; the mount is the container's own cgroup
        let root = tree(
            "v2c",
            &[
                ("proc/self/cgroup", "0::/system.slice/docker-abc.scope\n"),
                ("sys/fs/cgroup/cgroup.controllers", "cpu memory\n"),
                ("sys/fs/cgroup/cpu.max", "50000 100000\n"),
                ("sys/fs/cgroup/cpu.stat", "usage_usec 1\n"),
            ],
        );
        let cg = Cgroup::find(&roots(&root)).unwrap();
        assert_eq!(cg.cpu.as_ref().unwrap().0, vec![root.join("sys/fs/cgroup")]);
        assert_eq!(read(&cg, &mut String::new()).limit_cores, Some(0.5));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn v1_limits_and_unlimited() {
        let root = tree(
            "v1",
            &[
                (
                    "proc/self/cgroup",
                    "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n",
                ),
                ("sys/fs/cgroup/unified/cgroup.controllers", ""),
                ("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage", "5000000000\n"),
                (
                    "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.stat",
                    "nr_periods 10\nnr_throttled 2\nthrottled_time 7000000\n",
                ),
                ("sys/fs/cgroup/memory/docker/memory.limit_in_bytes", "9223372036854771712\n"),
                ("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "536870912\n"),
                ("sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", "300000000\n"),
                ("sys/fs/cgroup/memory/docker/abc/memory.stat", "cache 5\ninactive_file 1\ntotal_inactive_file 100000000\n"),
                ("sys/fs/cgroup/memory/docker/abc/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            ],
        );
        let cg = Cgroup::find(&roots(&root)).unwrap();
        assert_eq!(cg.version, Version::V1);
        let r = read(&cg, &mut String::new());
        assert_eq!(
            r,
            Reading {
                usage_ns: Some(5_000_000_000),
                limit_cores: Some(2.5),
                periods: Some(10),
                throttled_periods: Some(2),
                throttled_ns: Some(7_000_000),
                memory_usage: Some(300_000_000),
                working_set: Some(200_000_000),
                memory_limit: Some(536870912),
                oom_kills: Some(3),
            }
        );
        // unlimited everywhere: no limits
        fs::write(
            root.join("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us"),
            "-1\n",
        )
        .unwrap();
        fs::write(
            root.join("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        let r = read(&cg, &mut String::new());
        assert_eq!((r.limit_cores, r.memory_limit), (None, None));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn none_found() {
        let root = tree("none", &[("proc/self/cgroup", "0::/\n")]);
        assert!(Cgroup::find(&roots(&root)).is_err());
        assert!(ContainerCollector::find(&roots(&root)).is_none());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn this_machine() {
        // whatever this machine has: if a cgroup is found, something is readable
        if let Ok(cg) = Cgroup::find(&Roots::default()) {
            assert!(read(&cg, &mut String::new()).anything(), "{:?}", cg);
        }
    }
}

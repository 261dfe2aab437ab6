//! Collectors: one file per source, all behind [`Collector`], all named in one table,
//! [`COLLECTORS`] (node_exporter's shape: a name, a default, a thread, a constructor).
//!
//! | name | default | thread | file | series |
//! |---|---|---|---|---|
//! | `pinned` | on | shared | `pinned.rs` | `nv_pinned_memory_pool_*` (what the host reports) |
//! | `cpu` | on | shared | `cpu.rs` | `nv_cpu_utilization`, `nv_cpu_memory_*` |
//! | `gpu` | on | own (two: fast fields, energy; plus NVIDIA's XID waiter) | `gpu.rs`, `gpu/` | `nv_gpu_*`, `nv_mig_*`, `nv_energy_consumption` (NVIDIA, AMD, Intel) |
//! | `process` | on | shared | `process.rs` | `process_*` (the Go and Python clients' names) |
//! | `container` | on where a cgroup is found | shared | `container.rs` | `nv_container_*` |
//! | `host` | off | shared (statfs on helper threads) | `host.rs`, `filesystem.rs` | `node_*` (node_exporter's), `nv_cpu_core_utilization` |
//!
//! Every collector runs on a thread of the server that owns it, once at start and then every
//! interval, and returns the text of its families, which the server caches; a scrape only
//! reads that cache, so a slow collector never delays a scrape nor a recording call. The
//! *shared* collectors take turns on one thread (each reads a few small `/proc` or `/sys`
//! files: microseconds); the GPU collectors, whose driver calls can take milliseconds to
//! seconds, have their own threads. The server serves, per collector,
//! `nv_collector_duration_seconds{collector}` and `nv_collector_success{collector}`.
//!
//! Switches, all derived from the table: each collector's own options setter
//! (`INFERMETRICS_ServerOptionsSetHostMetrics`, ...) or `INFERMETRICS_ServerOptionsSetCollector(options,
//! name, on)`; in the environment, which wins over code (one log line says so), the uniform
//! list `INFERMETRICS_COLLECTORS=host,-gpu` (`name` or `+name` on, `-name` off, `all`/`none`
//! for every collector; applied left to right) and then each collector's own variable
//! (`INFERMETRICS_HOST_METRICS=1`, ...), which wins over the list.
pub mod container;
pub mod cpu;
pub mod filesystem;
pub mod gpu;
pub mod host;
pub mod pinned;
pub mod process;
pub mod sysfs;
pub mod window;

use crate::core::{log, text, Error, Result};
use crate::exporter::ServerConfig;

/// One family's complete text (HELP, TYPE, samples), as a collector renders it.
#[derive(Clone, Debug)]
pub struct FamilyText {
    pub name: &'static str,
    pub text: String,
}

impl FamilyText {
    /// A family of one kind with one sample per `(label body, value)`; `None` if there is no sample.
    pub fn new(
        name: &'static str,
        help: &str,
        type_name: &str,
        samples: &[(&str, f64)],
    ) -> Option<FamilyText> {
        if samples.is_empty() {
            return None;
        }
        let mut t = String::with_capacity(128);
        text::push_family_header(&mut t, name, help, type_name);
        for (body, v) in samples {
            text::push_sample(&mut t, name, body, *v);
        }
        Some(FamilyText { name, text: t })
    }

    /// A family with one unlabelled sample, or none when `value` is `None`.
    pub fn single(
        name: &'static str,
        help: &str,
        type_name: &str,
        value: Option<f64>,
    ) -> Option<FamilyText> {
        value.and_then(|v| FamilyText::new(name, help, type_name, &[("", v)]))
    }

    /// A gauge with one unlabelled sample, or none.
    pub fn gauge(name: &'static str, help: &str, value: Option<f64>) -> Option<FamilyText> {
        Self::single(name, help, "gauge", value)
    }

    /// A counter with one unlabelled sample, or none.
    pub fn counter(name: &'static str, help: &str, value: Option<f64>) -> Option<FamilyText> {
        Self::single(name, help, "counter", value)
    }
}

/// The inside of `{...}` for `pairs`, sorted by label name, values escaped.
pub fn label_body(pairs: &[(&str, &str)]) -> String {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    text::render_label_body(&v)
}

/// A source of metrics refreshed on the server's own thread.
pub trait Collector: Send + 'static {
    /// Short name for log lines, thread names and the `collector` label, e.g. "gpu".
    fn name(&self) -> &'static str;
    /// Reads the source and returns the families to serve until the next call. Must not panic
    /// on a failing source: return no families and log once instead.
    fn collect(&mut self) -> Vec<FamilyText>;
    /// Whether the last [`collect`](Collector::collect) read everything it should have
    /// (`nv_collector_success`). A source that is simply absent is not a failure.
    fn success(&self) -> bool {
        true
    }
}

/// A collector's health: logs once when a source starts failing and once when it recovers.
#[derive(Debug, Default)]
pub struct Health {
    failing: bool,
}

impl Health {
    /// Records the outcome of one collection of `what` ("container metrics"): `Some(why)` is
    /// a failure (logged as a warning the first time), `None` a success (logged when it ends a
    /// failure).
    pub fn note(&mut self, what: &str, problem: Option<String>) {
        match problem {
            Some(why) if !self.failing => {
                self.failing = true;
                log::warn(&format!("{} incomplete until this clears: {}", what, why));
            }
            None if self.failing => {
                self.failing = false;
                log::info(&format!("{} complete again", what));
            }
            _ => {}
        }
    }

    /// False while failing.
    pub fn ok(&self) -> bool {
        !self.failing
    }
}

/// Which thread a collector runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Thread {
    /// Takes turns with the other shared collectors on one thread (cheap file reads).
    Shared,
    /// Its own thread per collector it builds (driver calls that may be slow).
    Own,
}

/// What a constructor gets.
pub struct Build<'a> {
    pub config: &'a ServerConfig,
    pub roots: sysfs::Roots,
}

/// One row of the collector table.
pub struct Spec {
    /// The name in `INFERMETRICS_COLLECTORS` and `INFERMETRICS_ServerOptionsSetCollector`.
    pub name: &'static str,
    /// Its own environment switch (`0`/`1`, `false`/`true`, `off`/`on`, `no`/`yes`).
    pub env: &'static str,
    /// Whether it is on in a fresh `ServerConfig`.
    pub default: bool,
    pub thread: Thread,
    /// Its switch in the config.
    pub switch: fn(&mut ServerConfig) -> &mut bool,
    /// Builds its collectors at server start (none when its source is absent; that is logged).
    pub build: fn(&Build) -> Vec<Box<dyn Collector>>,
}

/// Every collector, in the order their series are served.
pub static COLLECTORS: &[Spec] = &[
    Spec {
        name: "pinned",
        env: "INFERMETRICS_PINNED_MEMORY_METRICS",
        default: true,
        thread: Thread::Shared,
        switch: |c| &mut c.pinned,
        build: |_| vec![Box::new(pinned::PinnedCollector)],
    },
    Spec {
        name: "cpu",
        env: "INFERMETRICS_CPU_METRICS",
        default: true,
        thread: Thread::Shared,
        switch: |c| &mut c.cpu,
        build: |_| vec![Box::new(cpu::CpuCollector::new())],
    },
    Spec {
        name: "gpu",
        env: "INFERMETRICS_GPU_METRICS",
        default: true,
        thread: Thread::Own,
        switch: |c| &mut c.gpu,
        build: |b| gpu::collectors(b.config, &b.roots),
    },
    Spec {
        name: "process",
        env: "INFERMETRICS_PROCESS_METRICS",
        default: true,
        thread: Thread::Shared,
        switch: |c| &mut c.process,
        build: |_| vec![Box::new(process::ProcessCollector::new())],
    },
    Spec {
        name: "container",
        env: "INFERMETRICS_CONTAINER_METRICS",
        default: true,
        thread: Thread::Shared,
        switch: |c| &mut c.container,
        build: |b| {
            container::ContainerCollector::find(&b.roots)
                .map(|c| Box::new(c) as Box<dyn Collector>)
                .into_iter()
                .collect()
        },
    },
    Spec {
        name: "host",
        env: "INFERMETRICS_HOST_METRICS",
        default: false,
        thread: Thread::Shared,
        switch: |c| &mut c.host,
        build: |b| {
            vec![
                Box::new(host::HostCollector::new()),
                Box::new(filesystem::FilesystemCollector::new(
                    &b.config.disk_paths,
                    &b.roots,
                    b.config.interval,
                )),
            ]
        },
    },
];

/// The row named `name`.
pub fn spec(name: &str) -> Option<&'static Spec> {
    COLLECTORS.iter().find(|s| s.name == name)
}

fn known_names() -> String {
    COLLECTORS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Switches the collector `name` on or off in `config`; INVALID_ARG naming the known
/// collectors for an unknown name.
pub fn set_enabled(config: &mut ServerConfig, name: &str, on: bool) -> Result<()> {
    let s = spec(name).ok_or_else(|| {
        Error::invalid_arg(format!(
            "unknown collector '{}' (known: {})",
            name,
            known_names()
        ))
    })?;
    *(s.switch)(config) = on;
    Ok(())
}

/// Whether the collector `name` is on in `config`.
pub fn enabled(config: &ServerConfig, name: &str) -> bool {
    let mut c = config.clone();
    spec(name).is_some_and(|s| *(s.switch)(&mut c))
}

/// The default disk paths of the host group's filesystem series.
pub fn default_disk_paths() -> Vec<String> {
    vec!["/".to_string()]
}

/// Parses a comma-separated list of disk paths: each absolute, none empty after trimming.
pub fn parse_disk_paths(list: &str, what: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !p.starts_with('/') {
            return Err(Error::invalid_arg(format!(
                "{}: disk path '{}' is not absolute",
                what, p
            )));
        }
        if !out.iter().any(|q| q == p) {
            out.push(p.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::invalid_arg(format!(
            "{}: no disk path in '{}'",
            what, list
        )));
    }
    Ok(out)
}

/// Parses a switch value: `1`/`true`/`on`/`yes` or `0`/`false`/`off`/`no` (any case).
pub fn parse_switch(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// The environment variable of the uniform switch list.
pub const COLLECTORS_ENV: &str = "INFERMETRICS_COLLECTORS";
/// The environment variable of the disk paths.
pub const DISK_PATHS_ENV: &str = "INFERMETRICS_DISK_PATHS";

/// What the environment says about collectors (read by `ServerOptionsNew`; wins over code).
#[derive(Clone, Debug, Default)]
pub struct CollectorEnv {
    /// (collector, on, the variable and value that said so), in the order to apply.
    switches: Vec<(&'static str, bool, String)>,
    disk_paths: Option<(Vec<String>, String)>,
}

impl CollectorEnv {
    /// Parses `INFERMETRICS_COLLECTORS`, each collector's own variable and
    /// `INFERMETRICS_DISK_PATHS`; a value that does not parse is an error naming the variable.
    pub fn from_env() -> Result<CollectorEnv> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), with the variables from `var` (tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<CollectorEnv> {
        let mut env = CollectorEnv::default();
        if let Some(list) = var(COLLECTORS_ENV) {
            for tok in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let (on, name) = match tok.as_bytes()[0] {
                    b'-' => (false, &tok[1..]),
                    b'+' => (true, &tok[1..]),
                    _ => (true, tok),
                };
                let said = format!("{}={}", COLLECTORS_ENV, list);
                match name {
                    "all" | "none" => {
                        let on = on && name == "all";
                        for s in COLLECTORS {
                            env.switches.push((s.name, on, said.clone()));
                        }
                    }
                    _ => match spec(name) {
                        Some(s) => env.switches.push((s.name, on, said)),
                        None => {
                            return Err(Error::invalid_arg(format!(
                                "environment variable {}='{}': unknown collector '{}' (known: {}, all, none)",
                                COLLECTORS_ENV,
                                list,
                                name,
                                known_names()
                            )))
                        }
                    },
                }
            }
        }
        for s in COLLECTORS {
            if let Some(v) = var(s.env) {
                let on = parse_switch(&v).ok_or_else(|| {
                    Error::invalid_arg(format!(
                        "environment variable {}='{}' is not a switch (0/1, false/true, off/on, no/yes)",
                        s.env, v
                    ))
                })?;
                env.switches.push((s.name, on, format!("{}={}", s.env, v)));
            }
        }
        if let Some(v) = var(DISK_PATHS_ENV) {
            let what = format!("environment variable {}='{}'", DISK_PATHS_ENV, v);
            env.disk_paths = Some((
                parse_disk_paths(&v, &what)?,
                format!("{}={}", DISK_PATHS_ENV, v),
            ));
        }
        Ok(env)
    }

    /// Applies the environment to `config`; one log line for each setting the environment
    /// changes from what code (or the default) set.
    pub fn apply(&self, config: &mut ServerConfig) {
        let before = config.clone();
        for (name, on, _) in &self.switches {
            let _ = set_enabled(config, name, *on);
        }
        for s in COLLECTORS {
            let (was, now) = (enabled(&before, s.name), enabled(config, s.name));
            if was != now {
                // the last variable that set it is the one that decided
                let said = self
                    .switches
                    .iter()
                    .rev()
                    .find(|(n, _, _)| *n == s.name)
                    .map(|(_, _, said)| said.as_str())
                    .unwrap_or("");
                let default = enabled(&ServerConfig::default(), s.name);
                crate::exporter::log_override(
                    said,
                    &format!("{} collector setting", s.name),
                    if was { "on" } else { "off" },
                    was == default,
                );
            }
        }
        if let Some((paths, said)) = &self.disk_paths {
            if *paths != config.disk_paths {
                crate::exporter::log_override(
                    said,
                    "disk paths",
                    &config.disk_paths.join(","),
                    config.disk_paths == ServerConfig::default().disk_paths,
                );
            }
            config.disk_paths = paths.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<CollectorEnv> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CollectorEnv::from_vars(move |n| owned.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
    }

    #[test]
    fn table_defaults_match_config_defaults() {
        let c = ServerConfig::default();
        for s in COLLECTORS {
            assert_eq!(enabled(&c, s.name), s.default, "{}", s.name);
        }
        assert!(!enabled(&c, "host") && enabled(&c, "process") && enabled(&c, "container"));
    }

    #[test]
    fn uniform_list_then_own_variables() {
        let mut c = ServerConfig::default();
        env(&[("INFERMETRICS_COLLECTORS", "host, -gpu,+cpu")])
            .unwrap()
            .apply(&mut c);
        assert!(c.host && !c.gpu && c.cpu);
        let mut c = ServerConfig::default();
        env(&[
            ("INFERMETRICS_COLLECTORS", "none,process"),
            ("INFERMETRICS_PINNED_MEMORY_METRICS", "on"),
        ])
        .unwrap()
        .apply(&mut c);
        assert!(c.process && c.pinned && !c.cpu && !c.gpu && !c.container && !c.host);
        // the collector's own variable wins over the list
        let mut c = ServerConfig::default();
        env(&[
            ("INFERMETRICS_COLLECTORS", "host"),
            ("INFERMETRICS_HOST_METRICS", "0"),
        ])
        .unwrap()
        .apply(&mut c);
        assert!(!c.host);
        // env wins over code
        let mut c = ServerConfig::default();
        c.process = false;
        env(&[("INFERMETRICS_PROCESS_METRICS", "yes")])
            .unwrap()
            .apply(&mut c);
        assert!(c.process);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = env(&[("INFERMETRICS_COLLECTORS", "host,bogus")]).unwrap_err();
        assert!(e.message.contains("INFERMETRICS_COLLECTORS") && e.message.contains("'bogus'"));
        let e = env(&[("INFERMETRICS_HOST_METRICS", "maybe")]).unwrap_err();
        assert!(e.message.contains("INFERMETRICS_HOST_METRICS='maybe'"));
        let e = env(&[("INFERMETRICS_DISK_PATHS", "relative/x")]).unwrap_err();
        assert!(e.message.contains("INFERMETRICS_DISK_PATHS"));
        let e = env(&[("INFERMETRICS_DISK_PATHS", " , ")]).unwrap_err();
        assert!(e.message.contains("no disk path"));
    }

    #[test]
    fn disk_paths_and_switches() {
        assert_eq!(
            parse_disk_paths("/, /data ,/,", "x").unwrap(),
            vec!["/".to_string(), "/data".to_string()]
        );
        let mut c = ServerConfig::default();
        env(&[("INFERMETRICS_DISK_PATHS", "/tmp")])
            .unwrap()
            .apply(&mut c);
        assert_eq!(c.disk_paths, vec!["/tmp".to_string()]);
        assert_eq!(parse_switch(" On "), Some(true));
        assert_eq!(parse_switch("0"), Some(false));
        assert_eq!(parse_switch(""), None);
        let mut c = ServerConfig::default();
        assert!(set_enabled(&mut c, "host", true).is_ok() && c.host);
        assert!(set_enabled(&mut c, "nope", true)
            .unwrap_err()
            .message
            .contains("known: pinned, cpu, gpu, process, container, host"));
    }

    #[test]
    fn labels_sorted_and_escaped() {
        assert_eq!(
            label_body(&[("mountpoint", "/a\"b"), ("device", "x")]),
            "device=\"x\",mountpoint=\"/a\\\"b\""
        );
    }
}

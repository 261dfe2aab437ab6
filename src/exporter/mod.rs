//! The metrics server: an HTTP thread serving `GET /metrics`, a render thread, and the
//! collector threads.
//!
//! What a scrape serves is an [`Exposition`]: the process-wide registry rendered at that
//! moment, plus the families each collector last published. Collectors run on their own
//! threads every interval; a scrape never runs one and never waits for one. The HTTP side
//! (hyper, its bounds and deadlines) is described in `http.rs`.
//!
//! Fork safety: every lock taken here is taken inside [`fork::gate`], and a server inherited
//! by a forked child (whose threads do not exist there) is forgotten, never joined, when it
//! is dropped (see `crate::core::fork`).
pub mod encoding;
mod http;
pub mod webconfig;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::collect::{self, Collector, FamilyText};
use crate::core::{fork, log, text, Error, Registry, Result};

pub use http::{DEFAULT_MAX_CONNECTIONS, MAX_CONNECTIONS_LIMIT};

/// Checks a bind address without binding (for the options setter).
pub fn check_address(address: &str) -> Result<()> {
    http::parse_ip(address).map(|_| ())
}

/// Checks a connection cap (for the options setter and the environment): 1 to
/// [`MAX_CONNECTIONS_LIMIT`].
pub fn check_max_connections(n: u64) -> Result<u32> {
    match u32::try_from(n) {
        Ok(v) if (1..=MAX_CONNECTIONS_LIMIT).contains(&v) => Ok(v),
        _ => Err(Error::invalid_arg(format!(
            "max connections {} is out of range: expected 1 to {}",
            n, MAX_CONNECTIONS_LIMIT
        ))),
    }
}

/// Feeds `input` as the bytes a client sends on one connection (then half-closes it)
/// through the very connection setup and service the server uses, with the same limits,
/// and returns every byte the server wrote (at most 1 MiB; at most 2 s). Renders the
/// process-wide registry on the calling thread. For fuzzing: it never panics on any input
/// and never hangs; called from a thread that runs a tokio runtime, it runs the exchange on
/// a thread of its own.
#[doc(hidden)]
pub fn fuzz_http_exchange(input: &[u8]) -> Vec<u8> {
    http::fuzz_exchange(input)
}

/// What a server is asked to do (`INFERMETRICS_ServerOptions`). Defaults are Triton's.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub address: String,
    pub port: u16,
    pub interval: Duration,
    pub gpu: bool,
    pub cpu: bool,
    pub pinned: bool,
    /// NVML library to load; None = the default `libnvidia-ml.so.1`.
    pub nvml_library: Option<PathBuf>,
    /// The `process_*` series (collector "process").
    pub process: bool,
    /// The `nv_container_*` series, where a cgroup is found (collector "container").
    pub container: bool,
    /// The host group: `node_*` series and `nv_cpu_core_utilization` (collector "host").
    pub host: bool,
    /// The paths whose filesystems the host group reports (default `/`).
    pub disk_paths: Vec<String>,
    /// Which vendors' GPUs the `gpu` collector reads (all by default).
    pub gpu_vendors: collect::gpu::Vendors,
    /// Most connections served at once (1 to [`MAX_CONNECTIONS_LIMIT`]).
    pub max_connections: u32,
    /// Whether to bind and serve HTTP. False: collectors only, for a host that serves the
    /// [`Exposition`] from its own HTTP server (no socket, no HTTP thread).
    pub listen: bool,
    /// Serve OpenMetrics 1.0 to scrapes that prefer it (opt-in: it renames counters that
    /// lack `_total`, see the README).
    pub openmetrics: bool,
    /// exporter-toolkit `web-config.yml` (TLS, basic auth, headers); None: plain HTTP.
    pub web_config: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            address: "0.0.0.0".into(),
            port: 8002,
            interval: Duration::from_millis(2000),
            gpu: true,
            cpu: true,
            pinned: true,
            nvml_library: None,
            process: true,
            container: true,
            host: false,
            disk_paths: collect::default_disk_paths(),
            gpu_vendors: collect::gpu::Vendors::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            listen: true,
            openmetrics: false,
            web_config: None,
        }
    }
}

/// The one line logged when an environment variable changes what the server was set to:
/// `INFERMETRICS_PORT=9100 overrides the port 8002 set by the host` (or `... overrides the
/// default port 8002` when code left it at its default). `said` is `NAME=value`.
pub(crate) fn log_override(said: &str, what: &str, before: &str, was_default: bool) {
    if was_default {
        log::info(&format!(
            "{} overrides the default {} {}",
            said, what, before
        ));
    } else {
        log::info(&format!(
            "{} overrides the {} {} set by the host",
            said, what, before
        ));
    }
}

/// Applies one environment value to one field: logs [`log_override`] when it changes it.
fn override_field<T: PartialEq>(
    var: &str,
    what: &str,
    field: &mut T,
    default: &T,
    value: T,
    show: impl Fn(&T) -> String,
) {
    if *field != value {
        log_override(
            &format!("{}={}", var, show(&value)),
            what,
            &show(field),
            field == default,
        );
        *field = value;
    }
}

fn show_path(p: &Option<PathBuf>) -> String {
    match p {
        Some(p) => p.display().to_string(),
        None => "(none)".to_string(),
    }
}

/// Parses a switch from the environment: 1/0/true/false (case-insensitive).
fn parse_switch(name: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(Error::invalid_arg(format!(
            "environment variable {}='{}' is not a switch: expected 1, 0, true or false",
            name, v
        ))),
    }
}

/// Environment variables read by `ServerOptionsNew` (they override what code sets).
#[derive(Clone, Debug, Default)]
pub struct EnvOverrides {
    pub address: Option<String>,
    pub port: Option<u16>,
    pub interval: Option<Duration>,
    pub nvml_library: Option<PathBuf>,
    /// Collector switches and disk paths (`INFERMETRICS_COLLECTORS`, `INFERMETRICS_HOST_METRICS`, ...).
    pub collectors: collect::CollectorEnv,
    /// `INFERMETRICS_GPU_VENDORS`, e.g. `-amd,-intel`.
    pub gpu_vendors: Option<String>,
    pub max_connections: Option<u32>,
    /// `INFERMETRICS_OPENMETRICS`: 1/0/true/false.
    pub openmetrics: Option<bool>,
    /// `INFERMETRICS_WEB_CONFIG`: the web-config.yml path.
    pub web_config: Option<PathBuf>,
}

impl EnvOverrides {
    /// Reads `INFERMETRICS_ADDRESS`, `INFERMETRICS_PORT`, `INFERMETRICS_INTERVAL_MS`,
    /// `INFERMETRICS_NVML_LIBRARY`, `INFERMETRICS_MAX_CONNECTIONS`, `INFERMETRICS_OPENMETRICS`
    /// and `INFERMETRICS_WEB_CONFIG`; a value that does not parse is an error naming the
    /// variable.
    pub fn from_env() -> Result<EnvOverrides> {
        fn var(name: &str) -> Result<Option<String>> {
            match std::env::var(name) {
                Ok(v) => Ok(Some(v)),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(v)) => Err(Error::invalid_arg(format!(
                    "environment variable {} is not valid UTF-8: {:?}",
                    name, v
                ))),
            }
        }
        let address = match var("INFERMETRICS_ADDRESS")? {
            Some(a) => {
                http::parse_ip(&a).map_err(|e| {
                    Error::invalid_arg(format!(
                        "environment variable INFERMETRICS_ADDRESS: {}",
                        e.message
                    ))
                })?;
                Some(a)
            }
            None => None,
        };
        let port = match var("INFERMETRICS_PORT")? {
            Some(p) => Some(p.trim().parse::<u16>().map_err(|_| {
                Error::invalid_arg(format!(
                    "environment variable INFERMETRICS_PORT='{}' is not a port number (0..65535)",
                    p
                ))
            })?),
            None => None,
        };
        let interval = match var("INFERMETRICS_INTERVAL_MS")? {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
                _ => {
                    return Err(Error::invalid_arg(format!(
                        "environment variable INFERMETRICS_INTERVAL_MS='{}' is not a positive number of milliseconds",
                        v
                    )))
                }
            },
            None => None,
        };
        let nvml_library = match var("INFERMETRICS_NVML_LIBRARY")? {
            Some(p) if p.is_empty() => {
                return Err(Error::invalid_arg(
                    "environment variable INFERMETRICS_NVML_LIBRARY is set but empty",
                ))
            }
            p => p.map(PathBuf::from),
        };
        let gpu_vendors = var(collect::gpu::VENDORS_ENV)?;
        if let Some(list) = &gpu_vendors {
            collect::gpu::Vendors::default()
                .apply_list(list)
                .map_err(|why| {
                    Error::invalid_arg(format!(
                        "environment variable {}='{}': {}",
                        collect::gpu::VENDORS_ENV,
                        list,
                        why
                    ))
                })?;
        }
        let max_connections = match var("INFERMETRICS_MAX_CONNECTIONS")? {
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| check_max_connections(n).ok())
                    .ok_or_else(|| {
                        Error::invalid_arg(format!(
                            "environment variable INFERMETRICS_MAX_CONNECTIONS='{}' is not a number of connections (1..{})",
                            v, MAX_CONNECTIONS_LIMIT
                        ))
                    })?,
            ),
            None => None,
        };
        let openmetrics = match var("INFERMETRICS_OPENMETRICS")? {
            Some(v) => Some(parse_switch("INFERMETRICS_OPENMETRICS", &v)?),
            None => None,
        };
        let web_config = match var("INFERMETRICS_WEB_CONFIG")? {
            Some(p) if p.is_empty() => {
                return Err(Error::invalid_arg(
                    "environment variable INFERMETRICS_WEB_CONFIG is set but empty",
                ))
            }
            p => p.map(PathBuf::from),
        };
        Ok(EnvOverrides {
            address,
            port,
            interval,
            nvml_library,
            collectors: collect::CollectorEnv::from_env()?,
            gpu_vendors,
            max_connections,
            openmetrics,
            web_config,
        })
    }

    /// Applies the variables that are set to `c`; each one that changes what `c` held logs
    /// one line ([`log_override`]).
    pub fn apply(&self, c: &mut ServerConfig) {
        let d = ServerConfig::default();
        if let Some(a) = &self.address {
            override_field(
                "INFERMETRICS_ADDRESS",
                "address",
                &mut c.address,
                &d.address,
                a.clone(),
                |v| v.clone(),
            );
        }
        if let Some(p) = self.port {
            override_field("INFERMETRICS_PORT", "port", &mut c.port, &d.port, p, |v| {
                v.to_string()
            });
        }
        if let Some(i) = self.interval {
            override_field(
                "INFERMETRICS_INTERVAL_MS",
                "interval",
                &mut c.interval,
                &d.interval,
                i,
                |v| format!("{} ms", v.as_millis()),
            );
        }
        if let Some(n) = &self.nvml_library {
            override_field(
                "INFERMETRICS_NVML_LIBRARY",
                "NVML library",
                &mut c.nvml_library,
                &d.nvml_library,
                Some(n.clone()),
                show_path,
            );
        }
        self.collectors.apply(c);
        if let Some(list) = &self.gpu_vendors {
            let mut after = c.gpu_vendors;
            let _ = after.apply_list(list);
            if after != c.gpu_vendors {
                log_override(
                    &format!("{}={}", collect::gpu::VENDORS_ENV, list),
                    "GPU vendors",
                    &c.gpu_vendors.describe(),
                    c.gpu_vendors == d.gpu_vendors,
                );
                c.gpu_vendors = after;
            }
        }
        if let Some(m) = self.max_connections {
            override_field(
                "INFERMETRICS_MAX_CONNECTIONS",
                "max connections",
                &mut c.max_connections,
                &d.max_connections,
                m,
                |v| v.to_string(),
            );
        }
        if let Some(on) = self.openmetrics {
            override_field(
                "INFERMETRICS_OPENMETRICS",
                "OpenMetrics setting",
                &mut c.openmetrics,
                &d.openmetrics,
                on,
                |v| (if *v { "1" } else { "0" }).to_string(),
            );
        }
        if let Some(p) = &self.web_config {
            override_field(
                "INFERMETRICS_WEB_CONFIG",
                "web config",
                &mut c.web_config,
                &d.web_config,
                Some(p.clone()),
                show_path,
            );
        }
    }
}

/// The latest families of one collector, and how its last run went.
struct Slot {
    name: &'static str,
    families: RwLock<Arc<Vec<FamilyText>>>,
    published: AtomicBool,
    /// f64 bits of the last run's wall time, in seconds.
    duration: AtomicU64,
    success: AtomicBool,
}

impl Slot {
    fn new(name: &'static str) -> Slot {
        Slot {
            name,
            families: RwLock::new(Arc::new(Vec::new())),
            published: AtomicBool::new(false),
            duration: AtomicU64::new(0),
            success: AtomicBool::new(false),
        }
    }

    fn publish(&self, families: Vec<FamilyText>, took: Duration, success: bool) {
        *fork::gated_write(&self.families) = Arc::new(families);
        self.duration
            .store(took.as_secs_f64().to_bits(), Ordering::Relaxed);
        self.success.store(success, Ordering::Relaxed);
        self.published.store(true, Ordering::Release);
    }
}

/// The self-metrics of the collectors (node_exporter's `node_scrape_collector_*`).
const DURATION_FAMILY: &str = "nv_collector_duration_seconds";
const SUCCESS_FAMILY: &str = "nv_collector_success";

/// What a scrape of one server serves: the registry plus its collectors' cached families.
#[derive(Default)]
pub struct Exposition {
    slots: Vec<Arc<Slot>>,
}

impl Exposition {
    /// Renders the registry, then every collector family whose name the registry does not
    /// already print (a user family of the same name wins, so no family appears twice), then
    /// `nv_collector_duration_seconds{collector}` and `nv_collector_success{collector}`.
    pub fn render(&self, out: &mut String) {
        self.render_as(out, text::Format::Prometheus)
    }

    /// As [`Exposition::render`], in `format`: the one place an exposition is finished (in
    /// OpenMetrics, with `# EOF`). `Exposition::default()` renders the registry alone.
    pub fn render_as(&self, out: &mut String, format: text::Format) {
        let mut w = text::Writer::new(out, format);
        self.render_into(&mut w);
        w.finish();
    }

    fn render_into(&self, w: &mut text::Writer<'_>) {
        let registry = Registry::global();
        registry.render_into(w);
        let taken = |name: &str| registry.get(name).is_some_and(|r| r.series_count() > 0);
        for slot in &self.slots {
            let families = Arc::clone(&fork::gated_read(&slot.families));
            for f in families.iter() {
                if taken(f.name) {
                    continue;
                }
                w.push_family_text(&f.text);
            }
        }
        let published: Vec<&Arc<Slot>> = self
            .slots
            .iter()
            .filter(|s| s.published.load(Ordering::Acquire))
            .collect();
        if published.is_empty() {
            return;
        }
        let bodies: Vec<String> = published
            .iter()
            .map(|s| collect::label_body(&[("collector", s.name)]))
            .collect();
        let mut family = |name: &'static str, help: &str, value: &dyn Fn(&Slot) -> f64| {
            if taken(name) || !w.family(name, help, "gauge") {
                return;
            }
            for (s, body) in published.iter().zip(&bodies) {
                text::push_sample(w.out, name, body, value(s));
            }
        };
        family(
            DURATION_FAMILY,
            "How long the collector's last run took, in seconds",
            &|s| f64::from_bits(s.duration.load(Ordering::Relaxed)),
        );
        family(
            SUCCESS_FAMILY,
            "Whether the collector's last run read all of its sources (1) or not (0)",
            &|s| s.success.load(Ordering::Relaxed) as u8 as f64,
        );
    }
}

/// Polls `done` every millisecond until it holds or `limit` has passed; returns `done()`.
/// For short, bounded waits on other threads (start-up values, shutdown grace periods).
pub(crate) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Wakes sleeping server threads at once when the server stops.
///
/// A flag plus thread parking rather than a Condvar: a Condvar re-takes its mutex when the
/// wait ends, outside any fork gate; here the only lock (the list of sleepers) is taken
/// inside the gate, briefly, and never held while sleeping.
#[derive(Default)]
pub(crate) struct StopSignal {
    stopped: AtomicBool,
    sleepers: Mutex<Vec<std::thread::Thread>>,
}

impl StopSignal {
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let sleepers = {
            let _g = fork::gate();
            self.sleepers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        for t in sleepers {
            t.unpark();
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`; returns true when stopped.
    pub(crate) fn wait(&self, d: Duration) -> bool {
        let me = std::thread::current();
        {
            let _g = fork::gate();
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|p| p.into_inner());
            if !sleepers.iter().any(|t| t.id() == me.id()) {
                sleepers.push(me);
            }
        }
        let deadline = std::time::Instant::now() + d;
        loop {
            // registered before this check, so a stop() after it unparks us
            if self.is_stopped() {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::park_timeout(deadline - now);
        }
    }
}

/// A running metrics server. Dropping it stops and joins its threads (in the process that
/// started it; a forked child that inherited it only forgets them).
pub struct Server {
    exposition: Arc<Exposition>,
    /// The bound address; None for a server without a listener (collectors only).
    addr: Option<SocketAddr>,
    stop: Arc<StopSignal>,
    http: Option<http::HttpServer>,
    collectors: Vec<(&'static str, JoinHandle<()>)>,
    /// The fork generation that started it ([`fork::epoch`]).
    epoch: u64,
}

/// Runs `members` one after the other on one thread: at once, then every interval.
fn spawn_collectors(
    name: &'static str,
    mut members: Vec<(Box<dyn Collector>, Arc<Slot>)>,
    stop: Arc<StopSignal>,
    interval: Duration,
) -> Result<(&'static str, JoinHandle<()>)> {
    let h = std::thread::Builder::new()
        .name(format!("infermetrics-{}", name))
        .spawn(move || loop {
            for (c, slot) in members.iter_mut() {
                let t0 = Instant::now();
                let fresh =
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.collect())) {
                        Ok(f) => Some(f),
                        Err(_) => {
                            log::error(&format!(
                            "the {} collector panicked; its series are dropped until it recovers",
                            c.name()
                        ));
                            None
                        }
                    };
                let ok = fresh.is_some() && c.success();
                slot.publish(fresh.unwrap_or_default(), t0.elapsed(), ok);
            }
            if stop.wait(interval) {
                break;
            }
        })
        .map_err(|e| {
            Error::internal(format!("cannot start the {} collector thread: {}", name, e))
        })?;
    Ok((name, h))
}

/// How long `ServerNew` waits for the collectors' first values (they run on their own
/// threads; a slow source, such as NVML initialising, is not waited for beyond this).
const FIRST_COLLECTION_WAIT: Duration = Duration::from_millis(200);

impl Server {
    /// Binds (before returning), starts the HTTP and collector threads; with
    /// `config.listen` false, starts only the collector threads.
    pub fn start(config: &ServerConfig) -> Result<Server> {
        let interval = if config.interval.is_zero() {
            log::warn("metrics interval 0 ms would busy-poll; using 1 ms");
            Duration::from_millis(1)
        } else {
            config.interval
        };
        let max_connections = check_max_connections(u64::from(config.max_connections))?;
        // a bad web config fails here, before anything is bound or started
        let web = match &config.web_config {
            Some(p) => Some(webconfig::Watch::load(p)?),
            None => None,
        };
        let tls = web.as_ref().is_some_and(|w| w.tls());
        // registered for the fork handler; the guard unregisters it on the error paths
        let listener = if config.listen {
            Some(http::ListenerGuard::new(http::bind(
                &config.address,
                config.port,
            )?))
        } else {
            None
        };
        let addr = match &listener {
            Some(l) => Some(
                l.local_addr()
                    .map_err(|e| Error::internal(format!("local_addr: {}", e)))?,
            ),
            None => None,
        };

        // every collector of the table that is on; the shared ones take turns on one thread
        let build = collect::Build {
            config,
            roots: collect::sysfs::Roots::from_env(),
        };
        let mut members = Vec::new();
        for spec in collect::COLLECTORS {
            if !collect::enabled(config, spec.name) {
                continue;
            }
            for c in (spec.build)(&build) {
                let slot = Arc::new(Slot::new(c.name()));
                members.push((spec.thread, c, slot));
            }
        }
        // slots in table order: the order their families are served
        let slots: Vec<Arc<Slot>> = members.iter().map(|(_, _, s)| Arc::clone(s)).collect();
        let (shared, own): (Vec<_>, Vec<_>) = members
            .into_iter()
            .partition(|(t, _, _)| *t == collect::Thread::Shared);
        let strip = |v: Vec<(collect::Thread, Box<dyn Collector>, Arc<Slot>)>| -> Vec<_> {
            v.into_iter().map(|(_, c, s)| (c, s)).collect()
        };
        let (shared, own) = (strip(shared), strip(own));
        let exposition = Arc::new(Exposition {
            slots: slots.clone(),
        });
        let stop = Arc::new(StopSignal::default());

        let mut server = Server {
            exposition: Arc::clone(&exposition),
            addr,
            stop: Arc::clone(&stop),
            http: None,
            collectors: Vec::new(),
            epoch: fork::epoch(),
        };
        if !shared.is_empty() {
            server.collectors.push(spawn_collectors(
                "collectors",
                shared,
                Arc::clone(&stop),
                interval,
            )?);
        }
        for member in own {
            let name = member.0.name();
            server.collectors.push(spawn_collectors(
                name,
                vec![member],
                Arc::clone(&stop),
                interval,
            )?);
        }
        wait_until(FIRST_COLLECTION_WAIT, || {
            slots.iter().all(|s| s.published.load(Ordering::Acquire))
        });
        let (Some(listener), Some(addr)) = (listener, addr) else {
            log::info(&format!(
                "Started metrics collectors only (no listener): {} collector(s); serve them with INFERMETRICS_MetricsRender",
                slots.len()
            ));
            return Ok(server);
        };
        let listener = listener
            .into_inner()
            .ok_or_else(|| Error::internal("the listening socket was lost"))?;
        server.http = Some(http::HttpServer::start(
            listener,
            exposition,
            max_connections,
            http::Serving {
                openmetrics: config.openmetrics,
                web,
            },
        )?);
        log::info(&format!(
            "Started metrics service at {} (GET /metrics{})",
            addr,
            if tls { ", HTTPS" } else { "" }
        ));
        Ok(server)
    }

    /// The bound port; None for a server without a listener.
    pub fn port(&self) -> Option<u16> {
        self.addr.map(|a| a.port())
    }

    /// The bound address; None for a server without a listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    pub fn exposition(&self) -> Arc<Exposition> {
        Arc::clone(&self.exposition)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if fork::epoch() != self.epoch {
            // inherited by a forked child: its threads do not exist here, so there is
            // nothing to signal or join (fork's child handler closed its sockets)
            std::mem::forget(self.http.take());
            for c in self.collectors.drain(..) {
                std::mem::forget(c);
            }
            return;
        }
        self.stop.stop();
        if let Some(h) = self.http.take() {
            h.shutdown();
        }
        // a collector stuck in a slow NVML call is not waited for beyond a short grace
        // period: it holds only its own state and exits as soon as the call returns
        wait_until(Duration::from_millis(300), || {
            self.collectors.iter().all(|(_, h)| h.is_finished())
        });
        for (name, h) in self.collectors.drain(..) {
            if h.is_finished() {
                let _ = h.join();
            } else {
                log::warn(&format!(
                    "the {} collector is inside a slow call; it will exit when the call returns",
                    name
                ));
            }
        }
    }
}

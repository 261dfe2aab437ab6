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
mod http;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::collect::{self, Collector, FamilyText};
use crate::core::fork;
use crate::core::{log, Error, Registry, Result};

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
    /// Most connections served at once (1 to [`MAX_CONNECTIONS_LIMIT`]).
    pub max_connections: u32,
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
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Environment variables read by `ServerOptionsNew` (they override what code sets).
#[derive(Clone, Debug, Default)]
pub struct EnvOverrides {
    pub address: Option<String>,
    pub port: Option<u16>,
    pub interval: Option<Duration>,
    pub nvml_library: Option<PathBuf>,
    pub max_connections: Option<u32>,
}

impl EnvOverrides {
    /// Reads `INFERMETRICS_ADDRESS`, `INFERMETRICS_PORT`, `INFERMETRICS_INTERVAL_MS`,
    /// `INFERMETRICS_NVML_LIBRARY` and `INFERMETRICS_MAX_CONNECTIONS`; a value that does not
    /// parse is an error naming the variable.
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
        Ok(EnvOverrides {
            address,
            port,
            interval,
            nvml_library,
            max_connections,
        })
    }

    pub fn apply(&self, c: &mut ServerConfig) {
        if let Some(a) = &self.address {
            c.address = a.clone();
        }
        if let Some(p) = self.port {
            c.port = p;
        }
        if let Some(i) = self.interval {
            c.interval = i;
        }
        if let Some(n) = &self.nvml_library {
            c.nvml_library = Some(n.clone());
        }
        if let Some(m) = self.max_connections {
            c.max_connections = m;
        }
    }
}

/// The latest families of one collector.
#[derive(Default)]
struct Slot {
    families: RwLock<Arc<Vec<FamilyText>>>,
    published: std::sync::atomic::AtomicBool,
}

/// What a scrape of one server serves: the registry plus its collectors' cached families.
#[derive(Default)]
pub struct Exposition {
    slots: Vec<Arc<Slot>>,
}

impl Exposition {
    /// Renders the registry, then every collector family whose name the registry does not
    /// already print (a user family of the same name wins, so no family appears twice).
    pub fn render(&self, out: &mut String) {
        let registry = Registry::global();
        registry.render(out);
        for slot in &self.slots {
            let families = {
                let _g = fork::gate();
                Arc::clone(&slot.families.read().unwrap_or_else(|p| p.into_inner()))
            };
            for f in families.iter() {
                if registry.get(f.name).is_some_and(|r| r.series_count() > 0) {
                    continue;
                }
                out.push_str(&f.text);
            }
        }
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
    addr: SocketAddr,
    stop: Arc<StopSignal>,
    http: Option<http::HttpServer>,
    collectors: Vec<(&'static str, JoinHandle<()>)>,
    /// The fork generation that started it ([`fork::epoch`]).
    epoch: u64,
}

fn spawn_collector(
    mut c: Box<dyn Collector>,
    slot: Arc<Slot>,
    stop: Arc<StopSignal>,
    interval: Duration,
) -> Result<(&'static str, JoinHandle<()>)> {
    let name = c.name();
    let h = std::thread::Builder::new()
        .name(format!("infermetrics-{}", name))
        .spawn(move || loop {
            // collect at once, then every interval, always on this thread
            let fresh = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.collect()))
            {
                Ok(f) => f,
                Err(_) => {
                    log::error(&format!(
                        "the {} collector panicked; its series are dropped until it recovers",
                        name
                    ));
                    Vec::new()
                }
            };
            let fresh = Arc::new(fresh);
            let old = {
                let _g = fork::gate();
                std::mem::replace(
                    &mut *slot.families.write().unwrap_or_else(|p| p.into_inner()),
                    fresh,
                )
            };
            drop(old); // freed outside the gate
            slot.published
                .store(true, std::sync::atomic::Ordering::Release);
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
    /// Binds (before returning), starts the HTTP and collector threads.
    pub fn start(config: &ServerConfig) -> Result<Server> {
        let interval = if config.interval.is_zero() {
            log::warn("metrics interval 0 ms would busy-poll; using 1 ms");
            Duration::from_millis(1)
        } else {
            config.interval
        };
        let max_connections = check_max_connections(u64::from(config.max_connections))?;
        // registered for the fork handler; the guard unregisters it on the error paths
        let listener = http::ListenerGuard::new(http::bind(&config.address, config.port)?);
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("local_addr: {}", e)))?;

        let mut list: Vec<Box<dyn Collector>> = Vec::new();
        if config.pinned {
            list.push(Box::new(collect::pinned::PinnedCollector));
        }
        if config.cpu {
            list.push(Box::new(collect::cpu::CpuCollector::new()));
        }
        if config.gpu {
            let (fast, slow) = collect::gpu::collectors(config.nvml_library.clone());
            list.push(Box::new(fast));
            list.push(Box::new(slow));
        }
        let slots: Vec<Arc<Slot>> = list.iter().map(|_| Arc::new(Slot::default())).collect();
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
        for (c, slot) in list.into_iter().zip(slots.iter().cloned()) {
            server
                .collectors
                .push(spawn_collector(c, slot, Arc::clone(&stop), interval)?);
        }
        wait_until(FIRST_COLLECTION_WAIT, || {
            slots
                .iter()
                .all(|s| s.published.load(std::sync::atomic::Ordering::Acquire))
        });
        let listener = listener
            .into_inner()
            .ok_or_else(|| Error::internal("the listening socket was lost"))?;
        server.http = Some(http::HttpServer::start(
            listener,
            exposition,
            max_connections,
        )?);
        log::info(&format!(
            "Started metrics service at {} (GET /metrics)",
            addr
        ));
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
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

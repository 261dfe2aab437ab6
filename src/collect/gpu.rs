//! GPU metrics through NVML (`nvml-wrapper`, which loads the library at run time).
//!
//! - NVML is initialised once per library path and shared by every server in the process
//!   (init costs 10-16 ms on an H100); the path comes from the server options or
//!   `INFERMETRICS_NVML_LIBRARY`, else the default `libnvidia-ml.so.1`.
//! - Fast fields (utilisation, memory, power, power limit, temperature: microseconds each) and
//!   the slow energy counter (~3 ms per GPU) are two collectors on two threads, so a slow
//!   field never holds up the fast ones.
//! - A field answering NOT_SUPPORTED is asked once and then skipped for that GPU.
//! - No library, no GPU, or NVML failing: no GPU series and one log line; NVML is asked again
//!   every [`RETRY`] and GPU series come back when it answers.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use super::{Collector, FamilyText};
use crate::core::{fork, log, text};

/// How long after a failure NVML is asked again.
pub const RETRY: Duration = Duration::from_secs(5);

type Shared = Arc<Nvml>;

/// Process-wide NVML instances, one per library path (None = default).
///
/// NVML is initialised outside the cache's lock (init can take seconds when a driver is
/// slow), and the cache belongs to one fork epoch: a forked child does not reuse the parent's
/// NVML state (nor shut it down), it initialises its own.
fn nvml(path: &Option<PathBuf>) -> Result<Shared, NvmlError> {
    type Cache = Option<(u64, HashMap<Option<PathBuf>, Shared>)>;
    static CACHE: Mutex<Cache> = Mutex::new(None);
    fn lookup(path: &Option<PathBuf>) -> Option<Shared> {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| fork::hold_during_fork(|| Box::new(fork::lock(&CACHE))));
        let mut c = fork::lock(&CACHE);
        let epoch = fork::epoch();
        if c.as_ref().map(|(e, _)| *e) != Some(epoch) {
            // inherited from the parent: leave its NVML alone
            std::mem::forget(c.take());
            *c = Some((epoch, HashMap::new()));
        }
        c.as_ref().and_then(|(_, m)| m.get(path).cloned())
    }
    if let Some(n) = lookup(path) {
        return Ok(n);
    }
    let mut b = Nvml::builder();
    if let Some(p) = path {
        b.lib_path(p.as_os_str());
    }
    let fresh = Arc::new(b.init()?);
    let mut c = fork::lock(&CACHE);
    match c.as_mut() {
        Some((_, m)) => Ok(Arc::clone(m.entry(path.clone()).or_insert(fresh))),
        None => Ok(fresh),
    }
}

fn describe(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("NVML library '{}'", p.display()),
        None => "NVML (libnvidia-ml.so.1)".to_string(),
    }
}

/// The fields one collector reads, each with its own "not supported" flag per GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Field {
    Util,
    Memory,
    Power,
    Limit,
    Temp,
    Energy,
}

#[derive(Default)]
struct Gpu {
    uuid_body: String,
    unsupported: Vec<Field>,
    energy_base_mj: Option<u64>,
    energy_j: f64,
}

/// Connection state shared by the fast and the slow collector of a server.
struct Session {
    path: Option<PathBuf>,
    nvml: Option<Shared>,
    retry_at: Option<Instant>,
    failing: bool,
    announced: bool,
}

impl Session {
    /// NVML, initialising it if due; `None` means no GPU series this tick.
    fn get(&mut self) -> Option<Shared> {
        if let Some(n) = &self.nvml {
            return Some(Arc::clone(n));
        }
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return None;
        }
        match nvml(&self.path) {
            Ok(n) => {
                self.nvml = Some(Arc::clone(&n));
                self.retry_at = None;
                Some(n)
            }
            Err(e) => {
                self.fail(&format!(
                    "{} could not be loaded or initialised: {}",
                    describe(&self.path),
                    e
                ));
                None
            }
        }
    }

    fn fail(&mut self, why: &str) {
        if !self.failing {
            log::warn(&format!(
                "no GPU metrics: {} (retrying every {} s; the server keeps running)",
                why,
                RETRY.as_secs()
            ));
            self.failing = true;
        }
        self.nvml = None;
        self.retry_at = Some(Instant::now() + RETRY);
    }

    fn ok(&mut self, gpus: usize) {
        if self.failing || !self.announced {
            log::info(&format!(
                "GPU metrics available: {} GPU(s) through {}",
                gpus,
                describe(&self.path)
            ));
        }
        self.failing = false;
        self.announced = true;
    }
}

/// Reads one field, remembering NOT_SUPPORTED; `None` when no value this tick.
fn read<T>(gpu: &mut Gpu, field: Field, f: impl FnOnce() -> Result<T, NvmlError>) -> Option<T> {
    if gpu.unsupported.contains(&field) {
        return None;
    }
    match f() {
        Ok(v) => Some(v),
        Err(NvmlError::NotSupported) => {
            gpu.unsupported.push(field);
            None
        }
        Err(_) => None,
    }
}

/// Shared part of both collectors: enumerate GPUs and keep per-UUID state.
struct Devices {
    session: Arc<Mutex<Session>>,
    gpus: HashMap<String, Gpu>,
}

impl Devices {
    /// Calls `each` for every GPU that answers; returns false when NVML itself failed.
    fn for_each(&mut self, mut each: impl FnMut(&nvml_wrapper::Device, &mut Gpu)) -> bool {
        let Some(n) = self.session.lock().unwrap_or_else(|p| p.into_inner()).get() else {
            return false;
        };
        let count = match n.device_count() {
            Ok(c) => c,
            Err(e) => {
                self.session
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .fail(&format!("nvmlDeviceGetCount failed: {}", e));
                return false;
            }
        };
        let mut answered = 0;
        let mut last_err = None;
        for i in 0..count {
            let dev = match n.device_by_index(i) {
                Ok(d) => d,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let uuid = match dev.uuid() {
                Ok(u) => u,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let gpu = self.gpus.entry(uuid.clone()).or_insert_with(|| Gpu {
                uuid_body: text::render_label_body(&[("gpu_uuid".to_string(), uuid)]),
                ..Gpu::default()
            });
            each(&dev, gpu);
            answered += 1;
        }
        let mut s = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if count > 0 && answered == 0 {
            let why = last_err.map(|e| e.to_string()).unwrap_or_default();
            s.fail(&format!("none of {} GPU(s) answered: {}", count, why));
            return false;
        }
        if count == 0 && !s.failing {
            log::warn(&format!(
                "no GPU metrics: {} reports 0 GPUs",
                describe(&s.path)
            ));
            s.failing = true;
        } else if count > 0 {
            s.ok(count as usize);
        }
        true
    }
}

/// Utilisation, memory, power, power limit and temperature of every GPU.
pub struct GpuCollector {
    devices: Devices,
    /// Whether NVML answered at the last collection (`nv_collector_success`).
    ok: bool,
}

/// The energy counter of every GPU (a slow NVML call), on its own thread.
pub struct GpuEnergyCollector {
    devices: Devices,
    ok: bool,
}

/// The fast and slow GPU collectors of one server, sharing one NVML session.
pub fn collectors(library: Option<PathBuf>) -> (GpuCollector, GpuEnergyCollector) {
    let session = Arc::new(Mutex::new(Session {
        path: library,
        nvml: None,
        retry_at: None,
        failing: false,
        announced: false,
    }));
    (
        GpuCollector {
            devices: Devices {
                session: Arc::clone(&session),
                gpus: HashMap::new(),
            },
            ok: false,
        },
        GpuEnergyCollector {
            devices: Devices {
                session,
                gpus: HashMap::new(),
            },
            ok: false,
        },
    )
}

impl Collector for GpuCollector {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn success(&self) -> bool {
        self.ok
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        // (label body, value) per family, in GPU order
        let mut util = Vec::new();
        let mut total = Vec::new();
        let mut used = Vec::new();
        let mut power = Vec::new();
        let mut limit = Vec::new();
        let mut temp = Vec::new();
        self.ok = self.devices.for_each(|dev, gpu| {
            if let Some(u) = read(gpu, Field::Util, || dev.utilization_rates()) {
                util.push((gpu.uuid_body.clone(), u.gpu as f64 * 0.01));
            }
            if let Some(m) = read(gpu, Field::Memory, || dev.memory_info()) {
                total.push((gpu.uuid_body.clone(), m.total as f64));
                used.push((gpu.uuid_body.clone(), m.used as f64));
            }
            if let Some(p) = read(gpu, Field::Power, || dev.power_usage()) {
                power.push((gpu.uuid_body.clone(), p as f64 / 1000.0));
            }
            if let Some(l) = read(gpu, Field::Limit, || dev.enforced_power_limit()) {
                limit.push((gpu.uuid_body.clone(), l as f64 / 1000.0));
            }
            if let Some(t) = read(gpu, Field::Temp, || dev.temperature(TemperatureSensor::Gpu)) {
                temp.push((gpu.uuid_body.clone(), t as f64));
            }
        });
        let fam = |name, help, s: &Vec<(String, f64)>| {
            let v: Vec<(&str, f64)> = s.iter().map(|(b, v)| (b.as_str(), *v)).collect();
            FamilyText::new(name, help, "gauge", &v)
        };
        [
            fam(
                "nv_gpu_utilization",
                "GPU utilization rate [0.0 - 1.0)",
                &util,
            ),
            fam(
                "nv_gpu_memory_total_bytes",
                "GPU total memory, in bytes",
                &total,
            ),
            fam(
                "nv_gpu_memory_used_bytes",
                "GPU used memory, in bytes",
                &used,
            ),
            fam("nv_gpu_power_usage", "GPU power usage in watts", &power),
            fam(
                "nv_gpu_power_limit",
                "GPU power management limit in watts",
                &limit,
            ),
            fam(
                "nv_gpu_temperature",
                "GPU temperature in degrees Celsius",
                &temp,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl Collector for GpuEnergyCollector {
    fn name(&self) -> &'static str {
        "gpu-energy"
    }

    fn success(&self) -> bool {
        self.ok
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let mut samples = Vec::new();
        self.ok = self.devices.for_each(|dev, gpu| {
            if let Some(mj) = read(gpu, Field::Energy, || dev.total_energy_consumption()) {
                match gpu.energy_base_mj {
                    // a counter that went backwards (driver reload) restarts the baseline
                    Some(prev) if mj >= prev => gpu.energy_j += (mj - prev) as f64 * 0.001,
                    _ => {}
                }
                gpu.energy_base_mj = Some(mj);
                samples.push((gpu.uuid_body.clone(), gpu.energy_j));
            }
        });
        let v: Vec<(&str, f64)> = samples.iter().map(|(b, v)| (b.as_str(), *v)).collect();
        FamilyText::new(
            "nv_energy_consumption",
            "GPU energy consumption in joules since the metrics server started",
            "counter",
            &v,
        )
        .into_iter()
        .collect()
    }
}

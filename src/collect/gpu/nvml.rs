//! NVIDIA GPUs through NVML (`nvml-wrapper`, which loads the library at run time).
//!
//! - NVML is initialised once per library path and shared by every server in the process
//!   (init costs 10-16 ms on an H100); the path comes from the server options or
//!   `INFERMETRICS_NVML_LIBRARY`, else the default `libnvidia-ml.so.1`.
//! - The fast back end reads, per GPU and tick, about 27 calls of a few microseconds each
//!   (utilisation, memory, power, limit, temperature, clocks, fans, clock-event reasons, six
//!   violation counters, ECC, one batched field-value call for row remapping and PCIe bytes,
//!   PCIe replays, codecs, processes, MIG mode, and per MIG device its memory and GPM
//!   activity). The energy back end (~3 ms a GPU) runs on the energy thread. A thread of its
//!   own waits for critical XID events. Never called: `nvmlDeviceGetPcieThroughput` (it
//!   samples for ~20 ms inside the driver).
//! - What is constant (name, PCI bus id, index, driver version, fan count, supported
//!   clock-event reasons, GPM support) is read once per GPU.
//! - A field answering NOT_SUPPORTED, or whose symbol the loaded NVML lacks, is asked once and
//!   then skipped for that GPU (a NOT_SUPPORTED call costs ~150 µs on an H100).
//! - No library, no GPU, or NVML failing: no NVIDIA series and one log line; NVML is asked
//!   again every [`RETRY`] and the series come back when it answers.
//!
//! What nvml-wrapper 0.13 does not do for us, reached through the loaded symbol table
//! ([`Nvml::lib`], tolerating a missing symbol): `nvmlDeviceGetGpuInstanceId`,
//! `nvmlDeviceGetRemappedRows` and the `...ClocksEventReasons` names (its
//! `current_throttle_reasons()` calls the deprecated `...ClocksThrottleReasons` and drops
//! unknown bits). `mig_device_count()` is the maximum, so MIG devices are found by trying every
//! index and skipping NOT_FOUND.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enum_wrappers::device::{
    Clock, EccCounter, MemoryError, PerformancePolicy, TemperatureSensor,
};
use nvml_wrapper::enums::device::{SampleValue, UsedGpuMemory};
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::enums::gpm::GpmMetricId;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::gpm::{gpm_metrics_get, GpmSample};
use nvml_wrapper::struct_wrappers::device::ProcessInfo;
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::{Device, Nvml};
use nvml_wrapper_sys::bindings::{nvmlGpmSample_t, nvmlReturn_t};

use super::{labels, uuid_body, Backend, Energy, Fam, Info, Samples, Vendor};
use crate::core::{fork, log};

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

/// Connection state shared by the fast and the energy back end of a server.
struct Session {
    path: Option<PathBuf>,
    nvml: Option<Shared>,
    retry_at: Option<Instant>,
    failing: bool,
    announced: bool,
}

impl Session {
    /// NVML, initialising it if due; `None` means no NVIDIA series this tick.
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
                "no NVIDIA GPU metrics: {} (retrying every {} s; the server keeps running)",
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
                "NVIDIA GPU metrics available: {} GPU(s) through {}",
                gpus,
                describe(&self.path)
            ));
        }
        self.failing = false;
        self.announced = true;
    }
}

/// The fields of one GPU, each with its own "not supported" flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Field {
    Util,
    Memory,
    Power,
    Limit,
    Temp,
    Energy,
    SmClock,
    MemClock,
    Fan,
    Reasons,
    EccCorrected,
    EccUncorrected,
    /// The batched `nvmlDeviceGetFieldValues` call (row remapping, PCIe bytes).
    Batched,
    RemapRaw,
    Replays,
    Encoder,
    Decoder,
    ComputeProcs,
    GraphicsProcs,
    Mig,
    /// Violation status, one flag per policy of [`VIOLATIONS`].
    Violation0,
    Violation1,
    Violation2,
    Violation3,
    Violation4,
    Violation5,
}

/// The flags of the six violation policies, in [`VIOLATIONS`] order.
const VIOLATION_FIELDS: [Field; 6] = [
    Field::Violation0,
    Field::Violation1,
    Field::Violation2,
    Field::Violation3,
    Field::Violation4,
    Field::Violation5,
];

/// Violation-status policies and their `reason` label (`nv_gpu_clock_event_seconds_total`).
const VIOLATIONS: [(PerformancePolicy, &str); 6] = [
    (PerformancePolicy::Power, "power"),
    (PerformancePolicy::Thermal, "thermal"),
    (PerformancePolicy::SyncBoost, "sync_boost"),
    (PerformancePolicy::BoardLimit, "board_limit"),
    (PerformancePolicy::LowUtilization, "low_utilization"),
    (PerformancePolicy::Reliability, "reliability"),
];

/// Clock-event reason bits (`nvmlClocksEventReason*`) and dcgm-exporter's words for them.
const REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "clocks_setting"),
    (0x4, "power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal"),
    (0x40, "hw_thermal"),
    (0x80, "hw_power_brake"),
    (0x100, "display_clocks"),
];

/// Field values read in one batched call: row remapping (142-145) and PCIe bytes (197, 198).
const FI_REMAP_COR: u32 = 142;
const FI_REMAP_UNC: u32 = 143;
const FI_REMAP_PENDING: u32 = 144;
const FI_REMAP_FAILURE: u32 = 145;
const FI_PCIE_TX: u32 = 197;
const FI_PCIE_RX: u32 = 198;
const FIELD_IDS: [u32; 6] = [
    FI_REMAP_COR,
    FI_REMAP_UNC,
    FI_REMAP_PENDING,
    FI_REMAP_FAILURE,
    FI_PCIE_TX,
    FI_PCIE_RX,
];

const NVML_SUCCESS: nvmlReturn_t = 0;

/// The distinct `xid` values counted per GPU; later new codes count under `xid="other"`.
pub const MAX_XIDS: usize = 32;
/// How long one wait of the XID thread lasts (and so how soon it notices a stop).
const XID_WAIT_MS: u32 = 200;

/// A GPM sample kept from one tick to the next (its NVML handle, freed on drop).
struct GpmPrev {
    nvml: Shared,
    sample: nvmlGpmSample_t,
}

// SAFETY: a GPM sample is a heap object of NVML's, used by one thread at a time (the owner)
unsafe impl Send for GpmPrev {}

impl Drop for GpmPrev {
    fn drop(&mut self) {
        // SAFETY: the sample came from `into_handle` of a sample of this NVML and is freed once
        drop(unsafe { GpmSample::from_handle(&self.nvml, self.sample) });
    }
}

/// One MIG device, as last seen.
struct Mig {
    /// `gpu_instance_id`, `gpu_uuid` (the parent's) and `mig_uuid`.
    body: String,
    gpu_instance_id: Option<u32>,
    prev: Option<GpmPrev>,
    seen: bool,
}

/// Per-GPU state of one back end.
struct Gpu {
    uuid: String,
    body: String,
    info: Option<String>,
    unsupported: u64,
    fans: Vec<(u32, String)>,
    reasons: Vec<(u64, String)>,
    violations: Vec<String>,
    ecc: [String; 2],
    remapped: [String; 2],
    fields: Vec<FieldId>,
    gpm: Option<bool>,
    migs: HashMap<String, Mig>,
}

impl Gpu {
    fn new(uuid: String) -> Gpu {
        let l = |k: &str, v: &str| labels(&uuid, &[(k, v)]);
        Gpu {
            body: uuid_body(&uuid),
            info: None,
            unsupported: 0,
            fans: Vec::new(),
            reasons: Vec::new(),
            violations: VIOLATIONS.iter().map(|(_, r)| l("reason", r)).collect(),
            ecc: [l("type", "corrected"), l("type", "uncorrected")],
            remapped: [l("type", "correctable"), l("type", "uncorrectable")],
            fields: FIELD_IDS.iter().map(|id| FieldId(*id)).collect(),
            gpm: None,
            migs: HashMap::new(),
            uuid,
        }
    }

    fn skip(&self, f: Field) -> bool {
        self.unsupported & (1u64 << f as u8) != 0
    }

    fn never_again(&mut self, f: Field) {
        self.unsupported |= 1u64 << f as u8;
    }

    /// Reads one field, remembering NOT_SUPPORTED (and a symbol this NVML lacks); `None`
    /// when no value this tick.
    fn read<T>(&mut self, field: Field, f: impl FnOnce() -> Result<T, NvmlError>) -> Option<T> {
        if self.skip(field) {
            return None;
        }
        match f() {
            Ok(v) => Some(v),
            Err(NvmlError::NotSupported) | Err(NvmlError::FailedToLoadSymbol(_)) => {
                self.never_again(field);
                None
            }
            Err(_) => None,
        }
    }
}

/// Calls a raw NVML symbol that may be absent; `Err(NotSupported)`-like `None` when absent.
macro_rules! raw {
    ($nvml:expr, $sym:ident ( $($arg:expr),* )) => {
        match $nvml.lib().$sym.as_ref() {
            // SAFETY: the arguments are a live device handle of this NVML and pointers to
            // locals of the types nvml.h declares
            Ok(f) => Some(unsafe { f($($arg),*) }),
            Err(_) => None,
        }
    };
}

/// Which PID NVML reports for this process, or `None` inside a PID namespace other than the
/// host's (a container without `--pid=host`): NVML's process lists are not in this process's
/// PID namespace, so a PID matched there could be another process's; its memory is then not
/// served rather than served wrong.
fn own_host_pid() -> Option<u32> {
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    host_pid(&ns, &status, std::process::id())
}

/// The inode of the host's (initial) PID namespace, fixed by the kernel (`PROC_PID_INIT_INO`).
const INIT_PID_NS: &str = "pid:[4026531836]";

/// `pid`, unless `ns` (the `/proc/self/ns/pid` link, `pid:[inode]`) names a PID namespace other
/// than the initial one, or the `NSpid:` line of `status` (`/proc/self/status`) lists more than
/// one PID. Either unknown (no `/proc`, kernels before 4.1): `pid`.
fn host_pid(ns: &str, status: &str, pid: u32) -> Option<u32> {
    if !ns.is_empty() && ns != INIT_PID_NS {
        return None;
    }
    match status.lines().find_map(|l| l.strip_prefix("NSpid:")) {
        Some(ids) if ids.split_whitespace().count() > 1 => None,
        _ => Some(pid),
    }
}

/// This process's GPU memory in the compute and graphics lists: the sum of its entries; an
/// entry of both lists (nvidia-smi's "C+G": same GPU and compute instance, same bytes) counts
/// once. `None` when it has no entry or its entries have no memory figure.
fn own_memory(pid: u32, compute: &[ProcessInfo], graphics: &[ProcessInfo]) -> Option<f64> {
    let mut sum = 0u64;
    let mut any = false;
    let mut counted: Vec<(Option<u32>, Option<u32>, u64)> = Vec::new();
    for p in compute.iter().chain(graphics) {
        if p.pid != pid {
            continue;
        }
        if let UsedGpuMemory::Used(b) = p.used_gpu_memory {
            let key = (p.gpu_instance_id, p.compute_instance_id, b);
            if counted.contains(&key) {
                continue;
            }
            counted.push(key);
            sum += b;
            any = true;
        }
    }
    any.then_some(sum as f64)
}

fn sample_value(v: &SampleValue) -> f64 {
    match v {
        SampleValue::F64(x) => *x,
        SampleValue::U32(x) => *x as f64,
        SampleValue::U64(x) => *x as f64,
        SampleValue::I64(x) => *x as f64,
    }
}

/// The NVML back end of one collector (the fast one also owns the XID thread).
pub struct NvmlBackend {
    session: Arc<Mutex<Session>>,
    gpus: HashMap<String, Gpu>,
    driver_version: Option<String>,
    own_pid: Option<u32>,
    xid: Option<XidWatcher>,
}

/// The fast and the energy NVML back ends of one server, sharing one NVML session.
pub fn backends(library: Option<PathBuf>) -> (NvmlBackend, NvmlBackend) {
    let session = Arc::new(Mutex::new(Session {
        path: library,
        nvml: None,
        retry_at: None,
        failing: false,
        announced: false,
    }));
    let own_pid = own_host_pid();
    let make = |session| NvmlBackend {
        session,
        gpus: HashMap::new(),
        driver_version: None,
        own_pid,
        xid: None,
    };
    (make(Arc::clone(&session)), make(session))
}

impl NvmlBackend {
    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `each` for every GPU that answers; returns NVML and false when NVML itself failed.
    fn for_each(&mut self, mut each: impl FnMut(&Shared, &Device, &mut Gpu)) -> Option<Shared> {
        let n = self.session().get()?;
        let count = match n.device_count() {
            Ok(c) => c,
            Err(e) => {
                self.session()
                    .fail(&format!("nvmlDeviceGetCount failed: {}", e));
                return None;
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
            let gpu = self
                .gpus
                .entry(uuid.clone())
                .or_insert_with(|| Gpu::new(uuid));
            each(&n, &dev, gpu);
            answered += 1;
        }
        let mut s = self.session();
        if count > 0 && answered == 0 {
            let why = last_err.map(|e| e.to_string()).unwrap_or_default();
            s.fail(&format!("none of {} GPU(s) answered: {}", count, why));
            return None;
        }
        if count == 0 && !s.failing {
            log::warn(&format!(
                "no NVIDIA GPU metrics: {} reports 0 GPUs",
                describe(&s.path)
            ));
            s.failing = true;
        } else if count > 0 {
            s.ok(count as usize);
        }
        drop(s);
        Some(n)
    }
}

impl Backend for NvmlBackend {
    fn vendor(&self) -> Vendor {
        Vendor::Nvidia
    }

    fn sample(&mut self, out: &mut Samples) -> bool {
        let own_pid = self.own_pid;
        let mut driver = self.driver_version.take();
        let n = self.for_each(|n, dev, gpu| {
            if driver.is_none() {
                driver = Some(n.sys_driver_version().unwrap_or_default());
            }
            if gpu.info.is_none() {
                discover(dev, gpu, driver.as_deref().unwrap_or(""));
            }
            sample_gpu(n, dev, gpu, own_pid, out);
        });
        self.driver_version = driver;
        let Some(n) = n else {
            return false;
        };
        if self.xid.is_none() {
            self.xid = XidWatcher::start(Arc::clone(&n));
        }
        if let Some(x) = &self.xid {
            x.render(&self.gpus, out);
        }
        true
    }

    fn energy(&mut self, out: &mut Vec<Energy>) -> bool {
        self.for_each(|_, dev, gpu| {
            if let Some(mj) = gpu.read(Field::Energy, || dev.total_energy_consumption()) {
                out.push(Energy {
                    body: gpu.body.clone(),
                    raw: mj,
                    per_joule: 1000.0,
                });
            }
        })
        .is_some()
    }
}

/// Reads what does not change while NVML stays up: identity, fans, supported clock-event
/// reasons, GPM support.
fn discover(dev: &Device, gpu: &mut Gpu, driver: &str) {
    // a transient error (not NOT_SUPPORTED) leaves `gpu.info` unset: discovery runs again
    let mut transient = false;
    let mut text = |r: Result<String, NvmlError>| match r {
        Ok(v) => v,
        Err(NvmlError::NotSupported) | Err(NvmlError::FailedToLoadSymbol(_)) => String::new(),
        Err(_) => {
            transient = true;
            String::new()
        }
    };
    let name = text(dev.name());
    let pci = text(dev.pci_info().map(|p| p.bus_id));
    let index = text(dev.index().map(|i| i.to_string()));
    // fans: a board without any (SXM) answers NOT_SUPPORTED (or 0 fans)
    let fans = match dev.num_fans() {
        Ok(n) => n,
        Err(NvmlError::NotSupported) | Err(NvmlError::FailedToLoadSymbol(_)) => {
            // an older driver without nvmlDeviceGetNumFans: is there a fan 0?
            u32::from(dev.fan_speed(0).is_ok())
        }
        Err(_) => {
            transient = true;
            0
        }
    };
    gpu.fans = (0..fans)
        .map(|f| (f, labels(&gpu.uuid, &[("fan", &f.to_string())])))
        .collect();
    if fans == 0 && !transient {
        gpu.never_again(Field::Fan);
    }
    gpu.info = (!transient).then(|| {
        Info {
            uuid: &gpu.uuid,
            index,
            name: &name,
            pci_bus_id: &pci,
            driver_version: driver,
            vendor: Vendor::Nvidia,
        }
        .body()
    });
    // clock-event reasons the GPU can report (all nine when it cannot say)
    // SAFETY (raw!): a live handle of this NVML
    let h = unsafe { dev.handle() };
    let mut mask = 0u64;
    let rc = raw!(
        dev.nvml(),
        nvmlDeviceGetSupportedClocksEventReasons(h, &mut mask)
    )
    .or_else(|| {
        raw!(
            dev.nvml(),
            nvmlDeviceGetSupportedClocksThrottleReasons(h, &mut mask)
        )
    });
    if rc != Some(NVML_SUCCESS) {
        mask = u64::MAX;
    }
    gpu.reasons = REASONS
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(bit, word)| (*bit, labels(&gpu.uuid, &[("reason", word)])))
        .collect();
}

/// One tick of one GPU.
fn sample_gpu(n: &Shared, dev: &Device, gpu: &mut Gpu, own_pid: Option<u32>, out: &mut Samples) {
    let body = gpu.body.clone();
    let b = body.as_str();
    if let Some(info) = &gpu.info {
        out.push(Fam::Info, info, 1.0);
    }
    if let Some(u) = gpu.read(Field::Util, || dev.utilization_rates()) {
        out.push(Fam::Util, b, u.gpu as f64 * 0.01);
        out.push(Fam::MemUtil, b, u.memory as f64 * 0.01);
    }
    if let Some(m) = gpu.read(Field::Memory, || dev.memory_info()) {
        out.push(Fam::MemTotal, b, m.total as f64);
        out.push(Fam::MemUsed, b, m.used as f64);
        out.push(Fam::MemFree, b, m.free as f64);
    }
    if let Some(p) = gpu.read(Field::Power, || dev.power_usage()) {
        out.push(Fam::Power, b, p as f64 / 1000.0);
    }
    if let Some(l) = gpu.read(Field::Limit, || dev.enforced_power_limit()) {
        out.push(Fam::Limit, b, l as f64 / 1000.0);
    }
    if let Some(t) = gpu.read(Field::Temp, || dev.temperature(TemperatureSensor::Gpu)) {
        out.push(Fam::Temp, b, t as f64);
    }
    if let Some(c) = gpu.read(Field::SmClock, || dev.clock_info(Clock::SM)) {
        out.push(Fam::SmClock, b, c as f64 * 1e6);
    }
    if let Some(c) = gpu.read(Field::MemClock, || dev.clock_info(Clock::Memory)) {
        out.push(Fam::MemClock, b, c as f64 * 1e6);
    }
    for i in 0..gpu.fans.len() {
        let fan = gpu.fans[i].0;
        match gpu.read(Field::Fan, || dev.fan_speed(fan)) {
            Some(pct) => out.push(Fam::Fan, &gpu.fans[i].1, pct as f64 * 0.01),
            None => break,
        }
    }
    sample_reasons(n, dev, gpu, out);
    for (k, (policy, _)) in VIOLATIONS.iter().enumerate() {
        if let Some(v) = gpu.read(VIOLATION_FIELDS[k], || dev.violation_status(*policy)) {
            out.push(
                Fam::ClockEventSeconds,
                &gpu.violations[k],
                v.violation_time as f64 * 1e-9,
            );
        }
    }
    if let Some(c) = gpu.read(Field::EccCorrected, || {
        dev.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile)
    }) {
        out.push(Fam::Ecc, &gpu.ecc[0], c as f64);
    }
    if let Some(c) = gpu.read(Field::EccUncorrected, || {
        dev.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
    }) {
        out.push(Fam::Ecc, &gpu.ecc[1], c as f64);
    }
    sample_fields(n, dev, gpu, out);
    if let Some(r) = gpu.read(Field::Replays, || dev.pcie_replay_counter()) {
        out.push(Fam::PcieReplays, b, r as f64);
    }
    if let Some(u) = gpu.read(Field::Encoder, || dev.encoder_utilization()) {
        out.push(Fam::EncUtil, b, u.utilization as f64 * 0.01);
    }
    if let Some(u) = gpu.read(Field::Decoder, || dev.decoder_utilization()) {
        out.push(Fam::DecUtil, b, u.utilization as f64 * 0.01);
    }
    let compute = gpu.read(Field::ComputeProcs, || dev.running_compute_processes());
    if let Some(c) = &compute {
        out.push(Fam::Processes, b, c.len() as f64);
    }
    if let Some(pid) = own_pid {
        let graphics = gpu.read(Field::GraphicsProcs, || dev.running_graphics_processes());
        if compute.is_some() || graphics.is_some() {
            let m = own_memory(
                pid,
                compute.as_deref().unwrap_or(&[]),
                graphics.as_deref().unwrap_or(&[]),
            );
            out.push(Fam::ProcessMemory, b, m.unwrap_or(0.0));
        }
    }
    sample_mig(n, dev, gpu, out);
}

/// `nv_gpu_clock_event_active{reason}`: the current reasons, through the R535 name when the
/// driver has it, else the deprecated `...ClocksThrottleReasons` (same bits).
fn sample_reasons(n: &Nvml, dev: &Device, gpu: &mut Gpu, out: &mut Samples) {
    if gpu.skip(Field::Reasons) || gpu.reasons.is_empty() {
        return;
    }
    // SAFETY (raw!): a live handle of this NVML
    let h = unsafe { dev.handle() };
    let mut bits = 0u64;
    let rc = raw!(n, nvmlDeviceGetCurrentClocksEventReasons(h, &mut bits))
        .or_else(|| raw!(n, nvmlDeviceGetCurrentClocksThrottleReasons(h, &mut bits)));
    match rc.map(nvml_wrapper::error::nvml_try) {
        Some(Ok(())) => {
            for (bit, body) in &gpu.reasons {
                out.push(
                    Fam::ClockEventActive,
                    body,
                    if bits & bit != 0 { 1.0 } else { 0.0 },
                );
            }
        }
        None | Some(Err(NvmlError::NotSupported)) => gpu.never_again(Field::Reasons),
        Some(Err(_)) => {}
    }
}

/// Row remapping (142-145) and PCIe bytes (197, 198) in one `nvmlDeviceGetFieldValues` call;
/// each field has its own return code, and a field that is not supported is dropped from the
/// request. Row remapping falls back to `nvmlDeviceGetRemappedRows` where the field values do
/// not give it.
fn sample_fields(n: &Nvml, dev: &Device, gpu: &mut Gpu, out: &mut Samples) {
    let mut remap: [Option<f64>; 4] = [None; 4];
    if !gpu.fields.is_empty() {
        let ids = gpu.fields.clone();
        match gpu.read(Field::Batched, || dev.field_values_for(&ids)) {
            Some(results) => {
                for (id, r) in ids.iter().zip(results) {
                    let v = match r.map(|s| s.value) {
                        Ok(Ok(v)) => sample_value(&v),
                        Ok(Err(NvmlError::NotSupported)) => {
                            gpu.fields.retain(|f| f != id);
                            continue;
                        }
                        _ => continue,
                    };
                    match id.0 {
                        FI_REMAP_COR => remap[0] = Some(v),
                        FI_REMAP_UNC => remap[1] = Some(v),
                        FI_REMAP_PENDING => remap[2] = Some(v),
                        FI_REMAP_FAILURE => remap[3] = Some(v),
                        FI_PCIE_TX => out.push(Fam::PcieTx, &gpu.body, v),
                        FI_PCIE_RX => out.push(Fam::PcieRx, &gpu.body, v),
                        _ => {}
                    }
                }
            }
            None if gpu.skip(Field::Batched) => gpu.fields.clear(),
            None => {}
        }
    }
    let remap_fields_gone = !gpu
        .fields
        .iter()
        .any(|f| (FI_REMAP_COR..=FI_REMAP_FAILURE).contains(&f.0));
    if remap_fields_gone && !gpu.skip(Field::RemapRaw) {
        // SAFETY (raw!): a live handle of this NVML
        let h = unsafe { dev.handle() };
        let (mut c, mut u, mut p, mut f) = (0u32, 0u32, 0u32, 0u32);
        match raw!(
            n,
            nvmlDeviceGetRemappedRows(h, &mut c, &mut u, &mut p, &mut f)
        ) {
            Some(NVML_SUCCESS) => {
                remap = [
                    Some(c as f64),
                    Some(u as f64),
                    Some(p as f64),
                    Some(f as f64),
                ]
            }
            Some(rc)
                if nvml_wrapper::error::nvml_try(rc)
                    .is_err_and(|e| !matches!(e, NvmlError::NotSupported)) => {}
            _ => gpu.never_again(Field::RemapRaw),
        }
    }
    if let Some(v) = remap[0] {
        out.push(Fam::RemappedRows, &gpu.remapped[0], v);
    }
    if let Some(v) = remap[1] {
        out.push(Fam::RemappedRows, &gpu.remapped[1], v);
    }
    if let Some(v) = remap[2] {
        out.push(Fam::RemapPending, &gpu.body, v);
    }
    if let Some(v) = remap[3] {
        out.push(Fam::RemapFailure, &gpu.body, v);
    }
}

/// `nv_gpu_mig_mode`, and with MIG on, each MIG device's memory and (Hopper+) GPM graphics
/// activity over the last interval.
fn sample_mig(n: &Shared, dev: &Device, gpu: &mut Gpu, out: &mut Samples) {
    let Some(mode) = gpu.read(Field::Mig, || dev.mig_mode()) else {
        return;
    };
    let on = mode.current == 1;
    out.push(Fam::MigMode, &gpu.body, if on { 1.0 } else { 0.0 });
    if !on {
        gpu.migs.clear();
        return;
    }
    if gpu.gpm.is_none() {
        gpu.gpm = Some(dev.gpm_support().unwrap_or(false));
    }
    let gpm = gpu.gpm == Some(true);
    // the maximum number of MIG devices, not how many exist: try every index
    let max = dev.mig_device_count().unwrap_or(0);
    for m in gpu.migs.values_mut() {
        m.seen = false;
    }
    for i in 0..max {
        let mig = match dev.mig_device_by_index(i) {
            Ok(m) => m,
            Err(_) => continue, // NOT_FOUND: no MIG device at this index
        };
        let Ok(mig_uuid) = mig.uuid() else { continue };
        let parent = &gpu.uuid;
        let state = gpu.migs.entry(mig_uuid.clone()).or_insert_with(|| {
            // SAFETY (raw!): a live MIG device handle of this NVML
            let h = unsafe { mig.handle() };
            let mut id = 0u32;
            let gi = match raw!(n, nvmlDeviceGetGpuInstanceId(h, &mut id)) {
                Some(NVML_SUCCESS) => Some(id),
                _ => None,
            };
            // an older driver without nvmlDeviceGetGpuInstanceId: no such label
            let gi_text = gi.map(|g| g.to_string());
            let mut pairs = vec![("gpu_uuid", parent.as_str()), ("mig_uuid", &mig_uuid)];
            if let Some(g) = &gi_text {
                pairs.push(("gpu_instance_id", g));
            }
            Mig {
                body: super::label_body(&pairs),
                gpu_instance_id: gi,
                prev: None,
                seen: false,
            }
        });
        state.seen = true;
        if let Ok(m) = mig.memory_info() {
            out.push(Fam::MigMemTotal, &state.body, m.total as f64);
            out.push(Fam::MigMemUsed, &state.body, m.used as f64);
        }
        let (true, Some(gi)) = (gpm, state.gpu_instance_id) else {
            continue;
        };
        let Ok(now) = dev.gpm_mig_sample(gi) else {
            state.prev = None;
            continue;
        };
        if let Some(prev) = &state.prev {
            // SAFETY: a sample of this NVML kept by `into_handle`; ownership stays with `prev`
            let before =
                std::mem::ManuallyDrop::new(unsafe { GpmSample::from_handle(n, prev.sample) });
            if let Ok(r) = gpm_metrics_get(n, &before, &now, &[GpmMetricId::GraphicsUtil]) {
                if let Some(Ok(v)) = r.into_iter().next() {
                    out.push(Fam::MigGrActive, &state.body, v.value * 0.01);
                }
            }
        }
        state.prev = Some(GpmPrev {
            nvml: Arc::clone(n),
            sample: now.into_handle(),
        });
    }
    gpu.migs.retain(|_, m| m.seen);
}

/// Critical XID events, counted per GPU and code by a thread of their own that waits on an
/// NVML event set (the set borrows `Nvml` and is not `Sync`, so the thread owns an `Arc<Nvml>`
/// and makes its own set).
struct XidWatcher {
    shared: Arc<XidShared>,
    thread: Option<JoinHandle<()>>,
}

/// Per GPU UUID: (code, count) for up to [`MAX_XIDS`] codes, then the count of the others.
type XidCounts = HashMap<String, (Vec<(u64, u64)>, u64)>;

/// Shared by the XID thread and the fast collector's thread only: no API thread takes its lock,
/// and a forked child has neither thread, so no fork hook is needed (`fork::lock` for poison).
#[derive(Default)]
struct XidShared {
    stop: AtomicBool,
    counts: Mutex<XidCounts>,
}

impl XidShared {
    fn count(&self, uuid: &str, code: u64) {
        let mut c = fork::lock(&self.counts);
        let (codes, other) = c.entry(uuid.to_string()).or_default();
        if let Some(e) = codes.iter_mut().find(|(x, _)| *x == code) {
            e.1 += 1;
        } else if codes.len() < MAX_XIDS {
            codes.push((code, 1));
            codes.sort_unstable();
        } else {
            *other += 1;
        }
    }
}

impl XidWatcher {
    fn start(nvml: Shared) -> Option<XidWatcher> {
        let shared = Arc::new(XidShared::default());
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("infermetrics-xid".into())
            .spawn(move || watch_xids(nvml, s));
        match thread {
            Ok(t) => Some(XidWatcher {
                shared,
                thread: Some(t),
            }),
            Err(e) => {
                log::warn(&format!(
                    "no nv_gpu_xid_errors_total: cannot start the XID thread: {}",
                    e
                ));
                None
            }
        }
    }

    /// `nv_gpu_xid_errors_total{gpu_uuid,xid}` of the GPUs of this tick.
    fn render(&self, gpus: &HashMap<String, Gpu>, out: &mut Samples) {
        let c = fork::lock(&self.shared.counts);
        for (uuid, (codes, other)) in c.iter() {
            if !gpus.contains_key(uuid) {
                continue;
            }
            for (code, n) in codes {
                out.push(
                    Fam::Xid,
                    &labels(uuid, &[("xid", &code.to_string())]),
                    *n as f64,
                );
            }
            if *other > 0 {
                out.push(Fam::Xid, &labels(uuid, &[("xid", "other")]), *other as f64);
            }
        }
    }
}

impl Drop for XidWatcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            // it notices within one wait; a driver stuck in the wait is not waited for
            let done = crate::exporter::wait_until(
                Duration::from_millis(XID_WAIT_MS as u64 + 300),
                || t.is_finished(),
            );
            if done {
                let _ = t.join();
            }
        }
    }
}

/// The XID thread: registers every GPU that supports critical XID events (and only that type:
/// NVML refuses the whole registration if one type is unsupported), then waits.
fn watch_xids(nvml: Shared, shared: Arc<XidShared>) {
    let count = nvml.device_count().unwrap_or(0);
    // (device index, handle, uuid) of the GPUs registered so far
    let mut registered: Vec<(u32, usize, String)> = Vec::new();
    let Ok(mut set) = nvml.create_event_set() else {
        return;
    };
    for i in 0..count {
        let Ok(dev) = nvml.device_by_index(i) else {
            continue;
        };
        let Ok(uuid) = dev.uuid() else { continue };
        if !dev
            .supported_event_types()
            .is_ok_and(|t| t.contains(EventTypes::CRITICAL_XID_ERROR))
        {
            continue;
        }
        match dev.register_events(EventTypes::CRITICAL_XID_ERROR, set) {
            Ok(s) => {
                set = s;
                // SAFETY: a live handle; only compared with event handles below
                registered.push((i, unsafe { dev.handle() } as usize, uuid));
            }
            Err(e) => {
                // the failed call consumed (freed) the set: a new one with the others again
                log::warn(&format!(
                    "no XID events from GPU {}: registration failed: {}",
                    uuid, e.error
                ));
                let Ok(mut fresh) = nvml.create_event_set() else {
                    return;
                };
                let mut kept = Vec::new();
                for (j, h, u) in registered.drain(..) {
                    let Ok(d) = nvml.device_by_index(j) else {
                        continue;
                    };
                    match d.register_events(EventTypes::CRITICAL_XID_ERROR, fresh) {
                        Ok(s) => {
                            fresh = s;
                            kept.push((j, h, u));
                        }
                        Err(_) => match nvml.create_event_set() {
                            Ok(s) => fresh = s,
                            Err(_) => return,
                        },
                    }
                }
                registered = kept;
                set = fresh;
            }
        }
    }
    if registered.is_empty() {
        return;
    }
    let mut errors = 0u32;
    while !shared.stop.load(Ordering::Acquire) {
        match set.wait(XID_WAIT_MS) {
            Ok(ev) => {
                errors = 0;
                // SAFETY: only compared with the registered handles
                let h = unsafe { ev.device.handle() } as usize;
                let code = match ev.event_data {
                    Some(XidError::Value(x)) => x,
                    Some(XidError::Unknown) => 999,
                    None => continue,
                };
                if let Some((_, _, uuid)) = registered.iter().find(|(_, rh, _)| *rh == h) {
                    shared.count(uuid, code);
                }
            }
            Err(NvmlError::Timeout) => errors = 0,
            Err(e) => {
                // a GPU off the bus and such: do not spin on an error
                errors += 1;
                if errors == 1 {
                    log::warn(&format!("waiting for XID events failed: {}", e));
                }
                std::thread::sleep(Duration::from_millis(XID_WAIT_MS as u64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_namespace_means_no_own_pid() {
        let host = "pid:[4026531836]";
        assert_eq!(host_pid(host, "Name:\tx\nNSpid:\t4242\n", 4242), Some(4242));
        assert_eq!(host_pid(host, "NSpid:\t98765\t12\n", 12), None);
        assert_eq!(host_pid("pid:[4026532201]", "NSpid:\t1\n", 1), None);
        assert_eq!(host_pid("", "Name:\told kernel\n", 7), Some(7));
        // this test process runs in the host's namespace unless the CI runs in a container
        let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
        assert_eq!(
            own_host_pid().is_some(),
            ns.to_string_lossy() == INIT_PID_NS
        );
    }

    #[test]
    fn own_memory_sums_this_pid_once_per_entry() {
        let p = |pid, mem: Option<u64>, gi: Option<u32>| ProcessInfo {
            pid,
            used_gpu_memory: match mem {
                Some(b) => UsedGpuMemory::Used(b),
                None => UsedGpuMemory::Unavailable,
            },
            gpu_instance_id: gi,
            compute_instance_id: gi.map(|_| 0),
        };
        let compute = [
            p(7, Some(100), None),
            p(8, Some(1000), None),
            p(7, Some(5), Some(1)),
        ];
        let graphics = [p(7, Some(100), None), p(7, Some(20), None)];
        // 100 (C+G, once) + 5 (MIG entry) + 20 (graphics only)
        assert_eq!(own_memory(7, &compute, &graphics), Some(125.0));
        assert_eq!(own_memory(9, &compute, &graphics), None);
        assert_eq!(own_memory(7, &[p(7, None, None)], &[]), None);
        let x = XidShared::default();
        for code in 0..(MAX_XIDS as u64 + 3) {
            x.count("G", code);
        }
        x.count("G", 0);
        let c = fork::lock(&x.counts);
        let (codes, other) = &c["G"];
        assert_eq!((codes.len(), codes[0], *other), (MAX_XIDS, (0, 2), 3));
    }
}

//! GPU metrics: one set of families for every vendor, so one dashboard works on NVIDIA, AMD and
//! Intel machines alike.
//!
//! - **Back ends** ([`Backend`]): [`nvml`] (NVIDIA, through nvml-wrapper) and [`drm`] (AMD
//!   `amdgpu`, Intel `xe` and `i915`, from sysfs; no vendor library). Each one writes the
//!   samples of its GPUs into one shared [`Samples`] table under the family names of
//!   [`FAMILIES`] (Triton's `nv_gpu_*` names for every vendor), with label `gpu_uuid` on every
//!   series; a series a GPU cannot give is simply absent.
//! - **Threads**: the fast fields of every back end are read by one collector ([`GpuCollector`],
//!   thread `infermetrics-gpu`); the cumulative energy counters, slow on NVIDIA (~3 ms a GPU),
//!   by a second ([`GpuEnergyCollector`], thread `infermetrics-gpu-energy`); NVIDIA's critical
//!   XID events are waited for by a third thread of the NVML back end. A scrape only reads what
//!   they published: it never calls NVML nor reads sysfs.
//! - **Switches**: the `gpu` collector switch turns every back end off; each vendor can be
//!   switched off on its own ([`Vendors`]: `INFERMETRICS_ServerOptionsSetGpuVendor` and
//!   `INFERMETRICS_GPU_VENDORS`).
pub mod drm;
pub mod nvml;

use std::collections::HashMap;

use super::{label_body, sysfs::Roots, Collector, FamilyText};
use crate::core::{text, Error, Result};
use crate::exporter::ServerConfig;

/// How long after a failure NVML is asked again.
pub use nvml::RETRY;

/// A GPU vendor (the `vendor` label of `nv_gpu_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Nvidia,
    Amd,
    Intel,
}

/// Every vendor, in the order they are read.
const ALL_VENDORS: [Vendor; 3] = [Vendor::Nvidia, Vendor::Amd, Vendor::Intel];

impl Vendor {
    /// `nvidia`, `amd` or `intel`.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Intel => "intel",
        }
    }

    fn by_name(name: &str) -> Option<Vendor> {
        ALL_VENDORS.into_iter().find(|v| v.name() == name)
    }
}

/// The environment variable that switches vendors: `INFERMETRICS_GPU_VENDORS=-amd,-intel`.
pub const VENDORS_ENV: &str = "INFERMETRICS_GPU_VENDORS";

/// Which vendors' GPUs are read (all by default; the `gpu` collector switch overrides them all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vendors {
    pub nvidia: bool,
    pub amd: bool,
    pub intel: bool,
}

impl Default for Vendors {
    fn default() -> Self {
        Vendors {
            nvidia: true,
            amd: true,
            intel: true,
        }
    }
}

impl Vendors {
    fn slot(&mut self, v: Vendor) -> &mut bool {
        match v {
            Vendor::Nvidia => &mut self.nvidia,
            Vendor::Amd => &mut self.amd,
            Vendor::Intel => &mut self.intel,
        }
    }

    /// Whether `v` is on.
    pub fn get(&self, v: Vendor) -> bool {
        *self.clone().slot(v)
    }

    /// Switches the vendor `name` (`nvidia`, `amd`, `intel`); INVALID_ARG naming the known
    /// vendors for another name.
    pub fn set(&mut self, name: &str, on: bool) -> Result<()> {
        let v = Vendor::by_name(name).ok_or_else(|| {
            Error::invalid_arg(format!(
                "unknown GPU vendor '{}' (known: nvidia, amd, intel)",
                name
            ))
        })?;
        *self.slot(v) = on;
        Ok(())
    }

    /// Applies a list such as `-amd,-intel` or `none,amd`, left to right: `name` or `+name`
    /// switches on, `-name` off, `all` / `none` every vendor. The error names the bad token.
    pub fn apply_list(&mut self, list: &str) -> std::result::Result<(), String> {
        for tok in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (on, name) = match tok.as_bytes()[0] {
                b'-' => (false, &tok[1..]),
                b'+' => (true, &tok[1..]),
                _ => (true, tok),
            };
            match name {
                "all" | "none" => {
                    let on = on && name == "all";
                    *self = Vendors {
                        nvidia: on,
                        amd: on,
                        intel: on,
                    };
                }
                _ => match Vendor::by_name(name) {
                    Some(v) => *self.slot(v) = on,
                    None => {
                        return Err(format!(
                            "unknown GPU vendor '{}' (known: nvidia, amd, intel, all, none)",
                            name
                        ))
                    }
                },
            }
        }
        Ok(())
    }

    /// `nvidia,amd,intel` minus the vendors that are off (for log lines).
    pub fn describe(&self) -> String {
        let on: Vec<&str> = ALL_VENDORS
            .into_iter()
            .filter(|v| self.get(*v))
            .map(Vendor::name)
            .collect();
        if on.is_empty() {
            "none".into()
        } else {
            on.join(",")
        }
    }
}

/// One GPU family: name, HELP, TYPE.
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
}

macro_rules! families {
    ($( $id:ident => $name:literal, $kind:literal, $help:literal; )*) => {
        /// A GPU family, by its index in [`FAMILIES`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub enum Fam { $( $id, )* }
        /// Every GPU family the fast collector serves, in the order they are served.
        pub static FAMILIES: &[Family] = &[ $( Family { name: $name, help: $help, kind: $kind }, )* ];
    };
}

families! {
    Util => "nv_gpu_utilization", "gauge", "GPU utilization rate [0.0 - 1.0)";
    MemTotal => "nv_gpu_memory_total_bytes", "gauge", "GPU total memory, in bytes";
    MemUsed => "nv_gpu_memory_used_bytes", "gauge", "GPU used memory, in bytes";
    Power => "nv_gpu_power_usage", "gauge", "GPU power usage in watts";
    Limit => "nv_gpu_power_limit", "gauge", "GPU power management limit in watts";
    Temp => "nv_gpu_temperature", "gauge", "GPU temperature in degrees Celsius";
    Info => "nv_gpu_info", "gauge", "GPU identity: name, index, PCI bus id, driver version and vendor in the labels; always 1";
    MemFree => "nv_gpu_memory_free_bytes", "gauge", "GPU free memory, in bytes";
    MemUtil => "nv_gpu_memory_utilization", "gauge", "Fraction of the last sample period in which GPU memory was being read or written [0.0 - 1.0]";
    SmClock => "nv_gpu_sm_clock_hertz", "gauge", "GPU SM (shader) clock, in hertz";
    MemClock => "nv_gpu_memory_clock_hertz", "gauge", "GPU memory clock, in hertz";
    Fan => "nv_gpu_fan_speed_ratio", "gauge", "GPU fan speed as a fraction of its maximum [0.0 - 1.0], per fan";
    ClockEventActive => "nv_gpu_clock_event_active", "gauge", "Whether a reason is holding the GPU clocks down now (1) or not (0), per reason (NVML clock event reasons)";
    ClockEventSeconds => "nv_gpu_clock_event_seconds_total", "counter", "Time the GPU clocks were held down, in seconds, per reason (NVML violation status)";
    Ecc => "nv_gpu_ecc_errors_total", "counter", "GPU memory ECC errors since the driver loaded (volatile), by type";
    RemappedRows => "nv_gpu_remapped_rows_total", "counter", "GPU memory rows remapped, by type of the error that caused it";
    RemapPending => "nv_gpu_row_remap_pending", "gauge", "Whether a row remapping is pending until the GPU is reset (1) or not (0)";
    RemapFailure => "nv_gpu_row_remap_failure", "gauge", "Whether a row remapping has failed (1) or not (0)";
    PcieTx => "nv_gpu_pcie_transmit_bytes_total", "counter", "Bytes the GPU sent over PCIe";
    PcieRx => "nv_gpu_pcie_receive_bytes_total", "counter", "Bytes the GPU received over PCIe";
    PcieReplays => "nv_gpu_pcie_replays_total", "counter", "PCIe replays (link-level retransmissions) of the GPU";
    EncUtil => "nv_gpu_encoder_utilization", "gauge", "GPU video encoder utilization [0.0 - 1.0]";
    DecUtil => "nv_gpu_decoder_utilization", "gauge", "GPU video decoder utilization [0.0 - 1.0]";
    Xid => "nv_gpu_xid_errors_total", "counter", "Critical XID errors the GPU reported since the metrics server started, per XID code";
    ProcessMemory => "nv_gpu_process_memory_used_bytes", "gauge", "GPU memory used by this process, in bytes";
    Processes => "nv_gpu_processes", "gauge", "Number of compute processes running on the GPU";
    MigMode => "nv_gpu_mig_mode", "gauge", "Whether MIG (Multi-Instance GPU) mode is on (1) or off (0)";
    MigMemTotal => "nv_mig_memory_total_bytes", "gauge", "MIG device total memory, in bytes";
    MigMemUsed => "nv_mig_memory_used_bytes", "gauge", "MIG device used memory, in bytes";
    MigGrActive => "nv_mig_gr_engine_active", "gauge", "Fraction of the last interval in which the MIG device's graphics engine was active [0.0 - 1.0] (NVML GPM)";
}

/// The energy family, served by the energy collector.
pub const ENERGY: Family = Family {
    name: "nv_energy_consumption",
    help: "GPU energy consumption in joules since the metrics server started",
    kind: "counter",
};

/// The samples of one collection, family by family, already in the text format.
pub struct Samples {
    lines: Vec<String>,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            lines: vec![String::new(); FAMILIES.len()],
        }
    }
}

impl Samples {
    /// Adds the sample `family{body} value`; `body` is a label body with `gpu_uuid` (see
    /// [`uuid_body`] and [`labels`]).
    pub fn push(&mut self, family: Fam, body: &str, value: f64) {
        let f = family as usize;
        text::push_sample(&mut self.lines[f], FAMILIES[f].name, body, value);
    }

    /// Whether no sample of `family` was added.
    pub fn is_empty(&self, family: Fam) -> bool {
        self.lines[family as usize].is_empty()
    }

    /// The families that have samples, in [`FAMILIES`] order; leaves the table empty.
    pub fn take(&mut self) -> Vec<FamilyText> {
        let mut out = Vec::new();
        for (f, lines) in FAMILIES.iter().zip(self.lines.iter_mut()) {
            if lines.is_empty() {
                continue;
            }
            let mut t = String::with_capacity(lines.len() + 160);
            text::push_family_header(&mut t, f.name, f.help, f.kind);
            t.push_str(lines);
            lines.clear();
            out.push(FamilyText {
                name: f.name,
                text: t,
            });
        }
        out
    }
}

/// `gpu_uuid="..."`.
pub fn uuid_body(uuid: &str) -> String {
    label_body(&[("gpu_uuid", uuid)])
}

/// The label body of `gpu_uuid` plus `pairs`, sorted by label name.
pub fn labels(uuid: &str, pairs: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(pairs.len() + 1);
    all.push(("gpu_uuid", uuid));
    all.extend_from_slice(pairs);
    label_body(&all)
}

/// What `nv_gpu_info` says about one GPU.
pub struct Info<'a> {
    pub uuid: &'a str,
    pub index: String,
    pub name: &'a str,
    pub pci_bus_id: &'a str,
    pub driver_version: &'a str,
    pub vendor: Vendor,
}

impl Info<'_> {
    /// The label body of its `nv_gpu_info` sample.
    pub fn body(&self) -> String {
        labels(
            self.uuid,
            &[
                ("gpu_index", &self.index),
                ("name", self.name),
                ("pci_bus_id", self.pci_bus_id),
                ("driver_version", self.driver_version),
                ("vendor", self.vendor.name()),
            ],
        )
    }
}

/// One vendor's way of reading its GPUs. A back end is built twice per server: once for the
/// fast collector (only [`sample`](Backend::sample) is called) and once for the energy
/// collector (only [`energy`](Backend::energy)); each keeps its own per-GPU state.
pub trait Backend: Send {
    fn vendor(&self) -> Vendor;
    /// Adds the samples of every GPU's fast fields to `out`. False when the source failed as
    /// a whole (`nv_collector_success`); a source that is simply absent is not a failure.
    fn sample(&mut self, out: &mut Samples) -> bool;
    /// Adds one [`Energy`] reading for every GPU with an energy counter.
    fn energy(&mut self, out: &mut Vec<Energy>) -> bool;
}

/// One reading of a GPU's cumulative energy counter, in the counter's own integer unit and from
/// any origin: the collector serves the increases since the server started, in joules.
pub struct Energy {
    /// `gpu_uuid="..."`.
    pub body: String,
    /// The counter (mJ for NVML, µJ for hwmon).
    pub raw: u64,
    /// Counter units per joule (1000 for mJ, 1e6 for µJ).
    pub per_joule: f64,
}

/// The fast fields of every GPU of every vendor that is on.
pub struct GpuCollector {
    backends: Vec<Box<dyn Backend>>,
    samples: Samples,
    ok: bool,
}

/// The energy counter of every GPU (a slow NVML call), on its own thread.
pub struct GpuEnergyCollector {
    backends: Vec<Box<dyn Backend>>,
    readings: Vec<Energy>,
    /// Per label body: (last raw reading, raw units counted since the server started).
    counters: HashMap<String, (u64, u64)>,
    ok: bool,
}

/// The GPU collectors of a server: none when every vendor is off.
pub fn collectors(config: &ServerConfig, roots: &Roots) -> Vec<Box<dyn Collector>> {
    let v = config.gpu_vendors;
    let mut fast: Vec<Box<dyn Backend>> = Vec::new();
    let mut slow: Vec<Box<dyn Backend>> = Vec::new();
    if v.nvidia {
        let (f, s) = nvml::backends(config.nvml_library.clone());
        fast.push(Box::new(f));
        slow.push(Box::new(s));
    }
    for vendor in [Vendor::Amd, Vendor::Intel] {
        if v.get(vendor) {
            fast.push(Box::new(drm::Drm::new(vendor, roots.clone())));
            slow.push(Box::new(drm::Drm::new(vendor, roots.clone())));
        }
    }
    if fast.is_empty() {
        return Vec::new();
    }
    vec![
        Box::new(GpuCollector {
            backends: fast,
            samples: Samples::default(),
            ok: false,
        }),
        Box::new(GpuEnergyCollector {
            backends: slow,
            readings: Vec::new(),
            counters: HashMap::new(),
            ok: false,
        }),
    ]
}

impl Collector for GpuCollector {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn success(&self) -> bool {
        self.ok
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let mut ok = true;
        for b in self.backends.iter_mut() {
            ok &= b.sample(&mut self.samples);
        }
        self.ok = ok;
        self.samples.take()
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
        self.readings.clear();
        let mut ok = true;
        for b in self.backends.iter_mut() {
            ok &= b.energy(&mut self.readings);
        }
        self.ok = ok;
        let mut t = String::new();
        for e in &self.readings {
            let (last, total) = self.counters.entry(e.body.clone()).or_insert((e.raw, 0));
            // a counter that went backwards (driver reload) restarts the baseline
            if e.raw >= *last {
                *total += e.raw - *last;
            }
            *last = e.raw;
            // integer units divided once: 250000000 µJ is exactly 250 J
            text::push_sample(&mut t, ENERGY.name, &e.body, *total as f64 / e.per_joule);
        }
        if t.is_empty() {
            return Vec::new();
        }
        let mut out = String::with_capacity(t.len() + 128);
        text::push_family_header(&mut out, ENERGY.name, ENERGY.help, ENERGY.kind);
        out.push_str(&t);
        vec![FamilyText {
            name: ENERGY.name,
            text: out,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_lists() {
        let mut v = Vendors::default();
        v.apply_list("-amd, -intel").unwrap();
        assert_eq!(
            v,
            Vendors {
                nvidia: true,
                amd: false,
                intel: false
            }
        );
        v.apply_list("none,+amd").unwrap();
        assert_eq!(v.describe(), "amd");
        v.apply_list("all").unwrap();
        assert_eq!(v, Vendors::default());
        assert!(v
            .apply_list("nvidia,matrox")
            .unwrap_err()
            .contains("'matrox'"));
        assert!(v
            .set("ati", false)
            .unwrap_err()
            .message
            .contains("known: nvidia, amd, intel"));
        v.set("intel", false).unwrap();
        assert!(!v.get(Vendor::Intel) && v.get(Vendor::Amd));
    }

    #[test]
    fn samples_render_families_in_table_order() {
        let mut s = Samples::default();
        let b = uuid_body("GPU-1");
        s.push(Fam::Temp, &b, 45.0);
        s.push(Fam::Util, &b, 0.5);
        s.push(Fam::Fan, &labels("GPU-1", &[("fan", "0")]), 0.3);
        let f = s.take();
        assert_eq!(
            f.iter().map(|f| f.name).collect::<Vec<_>>(),
            [
                "nv_gpu_utilization",
                "nv_gpu_temperature",
                "nv_gpu_fan_speed_ratio"
            ]
        );
        assert!(f[2]
            .text
            .contains("nv_gpu_fan_speed_ratio{fan=\"0\",gpu_uuid=\"GPU-1\"} 0.3\n"));
        assert!(s.take().is_empty(), "take leaves the table empty");
        assert_eq!(FAMILIES.len(), Fam::MigGrActive as usize + 1);
        let info = Info {
            uuid: "GPU-1",
            index: "0".into(),
            name: "N",
            pci_bus_id: "00000000:1B:00.0",
            driver_version: "1",
            vendor: Vendor::Nvidia,
        };
        assert_eq!(
            info.body(),
            "driver_version=\"1\",gpu_index=\"0\",gpu_uuid=\"GPU-1\",name=\"N\",pci_bus_id=\"00000000:1B:00.0\",vendor=\"nvidia\""
        );
    }

    #[test]
    fn energy_counts_increases_from_the_first_reading() {
        struct Fixed(Vec<u64>);
        impl Backend for Fixed {
            fn vendor(&self) -> Vendor {
                Vendor::Intel
            }
            fn sample(&mut self, _: &mut Samples) -> bool {
                true
            }
            fn energy(&mut self, out: &mut Vec<Energy>) -> bool {
                out.push(Energy {
                    body: uuid_body("X"),
                    raw: self.0.remove(0),
                    per_joule: 1e6,
                });
                true
            }
        }
        let mut c = GpuEnergyCollector {
            backends: vec![Box::new(Fixed(vec![123456789, 173956789, 10, 2000010]))],
            readings: Vec::new(),
            counters: HashMap::new(),
            ok: false,
        };
        let values: Vec<String> = (0..4)
            .map(|_| c.collect()[0].text.lines().last().unwrap().to_string())
            .collect();
        assert_eq!(
            values,
            [
                "nv_energy_consumption{gpu_uuid=\"X\"} 0",
                "nv_energy_consumption{gpu_uuid=\"X\"} 50.5",
                "nv_energy_consumption{gpu_uuid=\"X\"} 50.5",
                "nv_energy_consumption{gpu_uuid=\"X\"} 52.5"
            ]
        );
    }
}

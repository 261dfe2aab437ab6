//! AMD (`amdgpu`) and Intel (`xe`, `i915`) GPUs from sysfs, under the same family names as
//! NVIDIA's; no vendor library.
//!
//! GPUs are the `class/drm/cardN` entries (digits only after `card`: connectors such as
//! `card0-DP-1` and render nodes `renderD128` are not GPUs) whose `device/driver` is `amdgpu`
//! (AMD) or `xe` / `i915` (Intel). Every path is under the sysfs root (`INFERMETRICS_SYSFS_ROOT`,
//! default `/sys`). Which files a card has is looked up once; then each tick reads only those.
//!
//! | series | AMD (`device/`, hwmon) | Intel (hwmon, `device/`) |
//! |---|---|---|
//! | `nv_gpu_utilization` | `gpu_busy_percent` / 100 | - |
//! | `nv_gpu_memory_utilization` | `mem_busy_percent` / 100 | - |
//! | `nv_gpu_memory_{total,used,free}_bytes` | `mem_info_vram_total`, `_used`, their difference | - |
//! | `nv_gpu_power_usage` (W) | `power1_average`, else `power1_input` (µW) | `power1_average` / `power1_input` (µW), else the rise of `energy1_input` over the tick |
//! | `nv_gpu_power_limit` (W) | `power1_cap` (µW) | `power1_max` (µW) |
//! | `nv_gpu_temperature` (°C) | `temp*_input` labelled `edge`, else `temp1_input` (m°C) | `temp*_input` labelled `pkg`, else the first (m°C) |
//! | `nv_gpu_fan_speed_ratio{fan="0"}` | `pwm1` / 255 | - |
//! | `nv_gpu_sm_clock_hertz` | `freq1_input` (Hz, sclk) | xe `device/tile*/gt*/freq0/act_freq`, i915 `gt_act_freq_mhz` (MHz) |
//! | `nv_gpu_memory_clock_hertz` | `freq2_input` (Hz, mclk) | - |
//! | `nv_energy_consumption` (J) | `energy1_input` (µJ) where present | `energy1_input` (µJ) |
//!
//! `gpu_uuid` is `AMD-` + `device/unique_id` where the card has one, else `PCI-` + its PCI
//! address (the basename of the `device` link, e.g. `PCI-0000:03:00.0`). Never read:
//! `pcie_bw` (amdgpu sleeps a second inside it).
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{labels, uuid_body, Backend, Energy, Fam, Info, Samples, Vendor};
use crate::collect::sysfs::{read_into, Roots};
use crate::core::log;

/// How often the cards are looked for again while none was found.
const RESCAN: Duration = Duration::from_secs(30);

/// One file and what its number is multiplied by to get the served unit.
#[derive(Clone, Debug)]
struct Src {
    path: PathBuf,
    scale: f64,
}

/// One card and the files it has.
struct Card {
    body: String,
    info: String,
    fan_body: String,
    util: Option<Src>,
    mem_util: Option<Src>,
    vram_total: Option<Src>,
    vram_used: Option<Src>,
    power: Option<Src>,
    limit: Option<Src>,
    temp: Option<Src>,
    fan: Option<Src>,
    sm_clock: Option<Src>,
    mem_clock: Option<Src>,
    energy: Option<Src>,
    /// Last energy reading (joules) and when, for power from the energy rise.
    last_energy: Option<(f64, Instant)>,
}

/// The sysfs back end of one vendor.
pub struct Drm {
    vendor: Vendor,
    roots: Roots,
    cards: Vec<Card>,
    scanned: Option<Instant>,
    buf: String,
}

impl Drm {
    pub fn new(vendor: Vendor, roots: Roots) -> Drm {
        Drm {
            vendor,
            roots,
            cards: Vec::new(),
            scanned: None,
            buf: String::new(),
        }
    }

    /// Looks for the cards at the first tick, then again every [`RESCAN`] while none is found.
    fn scan_if_due(&mut self) {
        let due = match self.scanned {
            None => true,
            Some(t) => self.cards.is_empty() && t.elapsed() >= RESCAN,
        };
        if !due {
            return;
        }
        let first = self.scanned.is_none();
        self.scanned = Some(Instant::now());
        self.cards = find_cards(&self.roots, self.vendor);
        if !self.cards.is_empty() {
            log::info(&format!(
                "{} GPU metrics available: {} GPU(s) through sysfs under {}",
                match self.vendor {
                    Vendor::Amd => "AMD",
                    _ => "Intel",
                },
                self.cards.len(),
                self.roots.sys.display()
            ));
        } else if first {
            // most machines have no such GPU: nothing to say
        }
    }
}

/// A number from a sysfs file (the first token), times the source's scale.
fn read_num(src: &Option<Src>, buf: &mut String) -> Option<f64> {
    let s = src.as_ref()?;
    read_into(&s.path, buf).ok()?;
    let v: f64 = buf.split_whitespace().next()?.parse().ok()?;
    v.is_finite().then_some(v * s.scale)
}

impl Backend for Drm {
    fn vendor(&self) -> Vendor {
        self.vendor
    }

    fn sample(&mut self, out: &mut Samples) -> bool {
        self.scan_if_due();
        let buf = &mut self.buf;
        for c in self.cards.iter_mut() {
            let b = c.body.as_str();
            out.push(Fam::Info, &c.info, 1.0);
            if let Some(v) = read_num(&c.util, buf) {
                out.push(Fam::Util, b, v);
            }
            if let Some(v) = read_num(&c.mem_util, buf) {
                out.push(Fam::MemUtil, b, v);
            }
            let total = read_num(&c.vram_total, buf);
            let used = read_num(&c.vram_used, buf);
            if let Some(t) = total {
                out.push(Fam::MemTotal, b, t);
            }
            if let Some(u) = used {
                out.push(Fam::MemUsed, b, u);
            }
            if let (Some(t), Some(u)) = (total, used) {
                out.push(Fam::MemFree, b, (t - u).max(0.0));
            }
            match read_num(&c.power, buf) {
                Some(w) => out.push(Fam::Power, b, w),
                None if c.power.is_none() => {
                    // power from the rise of the energy counter over this tick
                    if let Some(j) = read_num(&c.energy, buf) {
                        let now = Instant::now();
                        if let Some((j0, t0)) = c.last_energy {
                            let dt = now.duration_since(t0).as_secs_f64();
                            if dt > 0.0 && j >= j0 {
                                out.push(Fam::Power, b, (j - j0) / dt);
                            }
                        }
                        c.last_energy = Some((j, now));
                    }
                }
                None => {}
            }
            // 0 means "no limit" to some hwmon drivers: not a 0 W limit
            if let Some(v) = read_num(&c.limit, buf).filter(|v| *v > 0.0) {
                out.push(Fam::Limit, b, v);
            }
            if let Some(v) = read_num(&c.temp, buf) {
                out.push(Fam::Temp, b, v);
            }
            if let Some(v) = read_num(&c.fan, buf) {
                out.push(Fam::Fan, &c.fan_body, v.clamp(0.0, 1.0));
            }
            if let Some(v) = read_num(&c.sm_clock, buf) {
                out.push(Fam::SmClock, b, v);
            }
            if let Some(v) = read_num(&c.mem_clock, buf) {
                out.push(Fam::MemClock, b, v);
            }
        }
        true
    }

    fn energy(&mut self, out: &mut Vec<Energy>) -> bool {
        self.scan_if_due();
        for c in &self.cards {
            let Some(src) = &c.energy else { continue };
            if read_into(&src.path, &mut self.buf).is_err() {
                continue;
            }
            if let Ok(uj) = self.buf.trim().parse::<u64>() {
                out.push(Energy {
                    body: c.body.clone(),
                    raw: uj,
                    per_joule: 1e6,
                });
            }
        }
        true
    }
}

/// The cards of `vendor` under `class/drm`, in card-number order.
fn find_cards(roots: &Roots, vendor: Vendor) -> Vec<Card> {
    let Ok(entries) = std::fs::read_dir(roots.sys("class/drm")) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("card")?;
            // `card0-DP-1` (a connector) is not a GPU, nor is renderD128
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| (n.parse().ok(), e.path()))
                .and_then(|(n, p)| Some((n?, p)))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .filter_map(|(n, dir)| card(roots, vendor, n, &dir))
        .collect()
}

/// The driver bound to a DRM device: the basename of `device/driver`, else `DRIVER=` of
/// `device/uevent`.
fn driver(dev: &Path) -> Option<String> {
    if let Ok(target) = std::fs::read_link(dev.join("driver")) {
        if let Some(name) = target.file_name() {
            return Some(name.to_string_lossy().into_owned());
        }
    }
    uevent(dev, "DRIVER")
}

fn uevent(dev: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(dev.join("uevent")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
}

/// The PCI address of a DRM device: the basename of the `device` link, else `PCI_SLOT_NAME=`.
fn pci_address(card_dir: &Path, dev: &Path) -> String {
    std::fs::read_link(card_dir.join("device"))
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| uevent(dev, "PCI_SLOT_NAME"))
        .unwrap_or_default()
}

fn text(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn src(path: PathBuf, scale: f64) -> Option<Src> {
    path.is_file().then_some(Src { path, scale })
}

/// The first `hwmon*` directory of a device.
fn hwmon(dev: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dev.join("hwmon"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hwmon"))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

/// The `temp*_input` whose `temp*_label` is one of `prefer` (in that order), else the
/// lowest-numbered one.
fn temperature(hw: &Path, prefer: &[&str]) -> Option<Src> {
    let mut inputs: Vec<(u32, PathBuf)> = std::fs::read_dir(hw)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("temp")?.strip_suffix("_input")?;
            Some((n.parse().ok()?, e.path()))
        })
        .collect();
    inputs.sort();
    let label = |n: u32| text(&hw.join(format!("temp{}_label", n))).map(|l| l.to_lowercase());
    let chosen = prefer
        .iter()
        .find_map(|want| {
            inputs
                .iter()
                .find(|(n, _)| label(*n).as_deref() == Some(*want))
        })
        .or(inputs.first())?;
    src(chosen.1.clone(), 0.001)
}

/// Kernel release, the version of an in-tree driver without `module/<driver>/version`.
fn kernel_release() -> String {
    // SAFETY: uname fills the struct it is given
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    // SAFETY: uname NUL-terminates release
    unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// xe's act_freq of the first GT (`device/tile0/gt0/freq0/act_freq`, MHz).
fn xe_clock(dev: &Path) -> Option<Src> {
    let mut tiles: Vec<PathBuf> = std::fs::read_dir(dev)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("tile"))
        })
        .collect();
    tiles.sort();
    for tile in tiles {
        let mut gts: Vec<PathBuf> = std::fs::read_dir(&tile)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("gt"))
            })
            .collect();
        gts.sort();
        for gt in gts {
            if let Some(s) = src(gt.join("freq0/act_freq"), 1e6) {
                return Some(s);
            }
        }
    }
    None
}

/// The files of card `n` if it is a GPU of `vendor`.
fn card(roots: &Roots, vendor: Vendor, n: u32, dir: &Path) -> Option<Card> {
    let dev = dir.join("device");
    let drv = driver(&dev)?;
    let is = match drv.as_str() {
        "amdgpu" => Vendor::Amd,
        "xe" | "i915" => Vendor::Intel,
        _ => return None,
    };
    if is != vendor {
        return None;
    }
    let pci = pci_address(dir, &dev);
    let uuid = match (vendor, text(&dev.join("unique_id"))) {
        (Vendor::Amd, Some(id)) => format!("AMD-{}", id),
        _ => format!("PCI-{}", pci),
    };
    let device_id = text(&dev.join("device")).unwrap_or_default();
    let name = text(&dev.join("product_name")).unwrap_or_else(|| {
        format!(
            "{} GPU {}",
            if vendor == Vendor::Amd {
                "AMD"
            } else {
                "Intel"
            },
            device_id
        )
    });
    let version =
        text(&roots.sys(&format!("module/{}/version", drv))).unwrap_or_else(kernel_release);
    let info = Info {
        uuid: &uuid,
        index: n.to_string(),
        name: &name,
        pci_bus_id: &pci,
        driver_version: &version,
        vendor,
    }
    .body();
    let hw = hwmon(&dev);
    let h = |f: &str, scale: f64| hw.as_ref().and_then(|hw| src(hw.join(f), scale));
    let mut c = Card {
        body: uuid_body(&uuid),
        info,
        fan_body: labels(&uuid, &[("fan", "0")]),
        util: None,
        mem_util: None,
        vram_total: None,
        vram_used: None,
        power: h("power1_average", 1e-6).or_else(|| h("power1_input", 1e-6)),
        limit: None,
        temp: None,
        fan: None,
        sm_clock: None,
        mem_clock: None,
        energy: h("energy1_input", 1e-6),
        last_energy: None,
    };
    match vendor {
        Vendor::Amd => {
            c.util = src(dev.join("gpu_busy_percent"), 0.01);
            c.mem_util = src(dev.join("mem_busy_percent"), 0.01);
            c.vram_total = src(dev.join("mem_info_vram_total"), 1.0);
            c.vram_used = src(dev.join("mem_info_vram_used"), 1.0);
            c.limit = h("power1_cap", 1e-6);
            c.temp = hw.as_ref().and_then(|hw| temperature(hw, &["edge"]));
            c.fan = h("pwm1", 1.0 / 255.0);
            c.sm_clock = h("freq1_input", 1.0);
            c.mem_clock = h("freq2_input", 1.0);
        }
        _ => {
            c.limit = h("power1_max", 1e-6);
            c.temp = hw
                .as_ref()
                .and_then(|hw| temperature(hw, &["pkg", "gpu", "gt"]));
            c.sm_clock = if drv == "xe" {
                xe_clock(&dev)
            } else {
                src(dir.join("gt_act_freq_mhz"), 1e6)
            };
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_scale_and_bad_files_give_nothing() {
        let dir = std::env::temp_dir().join(format!("im-drm-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), "45000\n").unwrap();
        std::fs::write(dir.join("b"), "garbage\n").unwrap();
        let mut buf = String::new();
        assert_eq!(read_num(&src(dir.join("a"), 0.001), &mut buf), Some(45.0));
        assert_eq!(read_num(&src(dir.join("b"), 1.0), &mut buf), None);
        assert_eq!(read_num(&src(dir.join("missing"), 1.0), &mut buf), None);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!kernel_release().is_empty());
    }
}

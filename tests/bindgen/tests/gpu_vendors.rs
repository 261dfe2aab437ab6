//! AMD and Intel GPUs from sysfs fixture trees (an AMD dGPU on amdgpu, an Intel card on xe and
//! one on i915), read through `INFERMETRICS_SYSFS_ROOT`, under the same family names as
//! NVIDIA's: values after unit conversion, connectors and render nodes skipped, a `pcie_bw`
//! that would block if read (a FIFO) never read, power from the energy rise, vendor switches;
//! then `promtool check metrics` on a scrape with everything on (the fake NVML, both sysfs
//! vendors and every collector). One #[test]: the environment is process-wide.
use std::ffi::CString;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use infermetrics_bindgen_tests::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn link(target: &str, at: &Path) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    symlink(target, at).unwrap();
}

fn fifo(at: &Path) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {}", at.display());
}

const AMD: &str = "devices/pci0000:00/0000:03:00.0";
const XE: &str = "devices/pci0000:00/0000:04:00.0";
const I915: &str = "devices/pci0000:00/0000:00:02.0";

/// The sysfs tree of three GPUs, as the kernel lays it out (class/drm entries are links into
/// devices/, drivers are links into bus/pci/drivers/).
fn build_sysfs(root: &Path) {
    for d in ["amdgpu", "xe", "i915"] {
        std::fs::create_dir_all(root.join("bus/pci/drivers").join(d)).unwrap();
    }
    // AMD Radeon on amdgpu
    let a = root.join(AMD);
    link("../../../bus/pci/drivers/amdgpu", &a.join("driver"));
    for (f, v) in [
        ("vendor", "0x1002"),
        ("device", "0x744c"),
        ("unique_id", "4f2a9c1e0b7d3a21"),
        ("product_name", "AMD Radeon RX 7900 XTX"),
        ("gpu_busy_percent", "37"),
        ("mem_busy_percent", "12"),
        ("mem_info_vram_total", "25753026560"),
        ("mem_info_vram_used", "1073741824"),
        ("hwmon/hwmon3/name", "amdgpu"),
        ("hwmon/hwmon3/power1_average", "85000000"),
        ("hwmon/hwmon3/power1_cap", "327000000"),
        ("hwmon/hwmon3/temp1_input", "52000"),
        ("hwmon/hwmon3/temp1_label", "edge"),
        ("hwmon/hwmon3/temp2_input", "61000"),
        ("hwmon/hwmon3/temp2_label", "junction"),
        ("hwmon/hwmon3/temp3_input", "58000"),
        ("hwmon/hwmon3/temp3_label", "mem"),
        ("hwmon/hwmon3/pwm1", "102"),
        ("hwmon/hwmon3/freq1_input", "2498000000"),
        ("hwmon/hwmon3/freq1_label", "sclk"),
        ("hwmon/hwmon3/freq2_input", "1249000000"),
        ("hwmon/hwmon3/freq2_label", "mclk"),
    ] {
        write(&a.join(f), &format!("{}\n", v));
    }
    // amdgpu sleeps a second inside pcie_bw: here reading it would block forever
    fifo(&a.join("pcie_bw"));
    link(
        &format!("../../../{}", AMD),
        &root.join("class/drm/card0/device"),
    );
    // a connector and a render node of the same card are not GPUs
    link(
        &format!("../../../{}", AMD),
        &root.join("class/drm/card0-DP-1/device"),
    );
    link(
        &format!("../../../{}", AMD),
        &root.join("class/drm/renderD128/device"),
    );
    // Intel Arc on xe: energy but no power file, clock under tile0/gt0
    let x = root.join(XE);
    link("../../../bus/pci/drivers/xe", &x.join("driver"));
    for (f, v) in [
        ("vendor", "0x8086"),
        ("device", "0xe20b"),
        ("hwmon/hwmon5/name", "xe"),
        ("hwmon/hwmon5/energy1_input", "123456789"),
        ("hwmon/hwmon5/power1_max", "150000000"),
        ("hwmon/hwmon5/temp2_input", "48000"),
        ("hwmon/hwmon5/temp2_label", "pkg"),
        ("hwmon/hwmon5/temp3_input", "55000"),
        ("hwmon/hwmon5/temp3_label", "vram"),
        ("tile0/gt0/freq0/act_freq", "2050"),
        ("tile0/gt1/freq0/act_freq", "900"),
    ] {
        write(&x.join(f), &format!("{}\n", v));
    }
    link(
        &format!("../../../{}", XE),
        &root.join("class/drm/card1/device"),
    );
    write(&root.join("module/xe/version"), "9.9.9\n");
    // Intel integrated on i915: gt_act_freq_mhz in the card directory
    let i = root.join(I915);
    link("../../../bus/pci/drivers/i915", &i.join("driver"));
    for (f, v) in [
        ("vendor", "0x8086"),
        ("device", "0x46a6"),
        ("hwmon/hwmon6/name", "i915"),
        ("hwmon/hwmon6/energy1_input", "5000000"),
        ("hwmon/hwmon6/power1_max", "55000000"),
        ("hwmon/hwmon6/power1_input", "12500000"),
    ] {
        write(&i.join(f), &format!("{}\n", v));
    }
    link(
        &format!("../../../{}", I915),
        &root.join("class/drm/card2/device"),
    );
    write(&root.join("class/drm/card2/gt_act_freq_mhz"), "1300\n");
    link(
        &format!("../../../{}", I915),
        &root.join("class/drm/renderD129/device"),
    );
}

#[track_caller]
fn expect(t: &str, series: &str, want: f64) {
    match sample(t, series) {
        Some(v) => assert!(
            (v - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{}: expected {}, got {}",
            series,
            want,
            v
        ),
        None => panic!("{}: no such sample in\n{}", series, t),
    }
}

fn server_with(
    interval_ms: u64,
    nvml: &Path,
    vendors: &[(&str, bool)],
    everything: bool,
) -> (*mut INFERMETRICS_Server, u16) {
    unsafe {
        let mut o = std::ptr::null_mut();
        ok(INFERMETRICS_ServerOptionsNew(&mut o));
        let addr = CString::new("127.0.0.1").unwrap();
        ok(INFERMETRICS_ServerOptionsSetAddress(o, addr.as_ptr()));
        ok(INFERMETRICS_ServerOptionsSetPort(o, 0));
        ok(INFERMETRICS_ServerOptionsSetMetricsInterval(o, interval_ms));
        if !everything {
            ok(INFERMETRICS_ServerOptionsSetCpuMetrics(o, false));
            ok(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(o, false));
            ok(INFERMETRICS_ServerOptionsSetProcessMetrics(o, false));
            ok(INFERMETRICS_ServerOptionsSetContainerMetrics(o, false));
        } else {
            ok(INFERMETRICS_ServerOptionsSetHostMetrics(o, true));
        }
        let p = CString::new(nvml.to_str().unwrap()).unwrap();
        ok(INFERMETRICS_ServerOptionsSetNvmlLibrary(o, p.as_ptr()));
        for (v, on) in vendors {
            let v = CString::new(*v).unwrap();
            ok(INFERMETRICS_ServerOptionsSetGpuVendor(o, v.as_ptr(), *on));
        }
        let mut s = std::ptr::null_mut();
        ok(INFERMETRICS_ServerNew(&mut s, o));
        ok(INFERMETRICS_ServerOptionsDelete(o));
        let mut port = 0;
        ok(INFERMETRICS_ServerPort(s, &mut port));
        (s, port)
    }
}

fn delete(s: *mut INFERMETRICS_Server) {
    let t = Instant::now();
    ok(unsafe { INFERMETRICS_ServerDelete(s) });
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "ServerDelete took {:?}",
        t.elapsed()
    );
}

const U_AMD: &str = "AMD-4f2a9c1e0b7d3a21";
const U_XE: &str = "PCI-0000:04:00.0";
const U_I915: &str = "PCI-0000:00:02.0";

fn b(uuid: &str) -> String {
    format!("{{gpu_uuid=\"{}\"}}", uuid)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn amd_and_intel_from_sysfs_fixtures() {
    let dir = std::env::temp_dir().join(format!("infermetrics-gpu-vendors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sys = dir.join("sys");
    build_sysfs(&sys);
    std::env::set_var("INFERMETRICS_SYSFS_ROOT", &sys);
    let no_nvml = dir.join("no-libnvidia-ml.so.1");

    // 1. the three cards, NVIDIA off
    let (s, port) = server_with(100, &no_nvml, &[("nvidia", false)], false);
    let t = scrape_until(port, "three GPUs and a power from energy", |t| {
        t.matches("nv_gpu_info{").count() == 3
            && t.contains(&format!("nv_gpu_power_usage{}", b(U_XE)))
    });
    assert!(parse_exposition(&t).is_ok(), "{:?}", parse_exposition(&t));
    let kr = kernel_release();
    expect(
        &t,
        &format!(
            "nv_gpu_info{{driver_version=\"{}\",gpu_index=\"0\",gpu_uuid=\"{}\",name=\"AMD Radeon RX 7900 XTX\",pci_bus_id=\"0000:03:00.0\",vendor=\"amd\"}}",
            kr, U_AMD
        ),
        1.0,
    );
    expect(
        &t,
        &format!(
            "nv_gpu_info{{driver_version=\"9.9.9\",gpu_index=\"1\",gpu_uuid=\"{}\",name=\"Intel GPU 0xe20b\",pci_bus_id=\"0000:04:00.0\",vendor=\"intel\"}}",
            U_XE
        ),
        1.0,
    );
    expect(
        &t,
        &format!(
            "nv_gpu_info{{driver_version=\"{}\",gpu_index=\"2\",gpu_uuid=\"{}\",name=\"Intel GPU 0x46a6\",pci_bus_id=\"0000:00:02.0\",vendor=\"intel\"}}",
            kr, U_I915
        ),
        1.0,
    );
    // AMD: percent -> ratio, µW -> W, m°C -> °C (the edge sensor), pwm 0-255 -> ratio, Hz
    let a = b(U_AMD);
    expect(&t, &format!("nv_gpu_utilization{}", a), 0.37);
    expect(&t, &format!("nv_gpu_memory_utilization{}", a), 0.12);
    expect(
        &t,
        &format!("nv_gpu_memory_total_bytes{}", a),
        25753026560.0,
    );
    expect(&t, &format!("nv_gpu_memory_used_bytes{}", a), 1073741824.0);
    expect(
        &t,
        &format!("nv_gpu_memory_free_bytes{}", a),
        25753026560.0 - 1073741824.0,
    );
    expect(&t, &format!("nv_gpu_power_usage{}", a), 85.0);
    expect(&t, &format!("nv_gpu_power_limit{}", a), 327.0);
    expect(&t, &format!("nv_gpu_temperature{}", a), 52.0);
    expect(
        &t,
        &format!("nv_gpu_fan_speed_ratio{{fan=\"0\",gpu_uuid=\"{}\"}}", U_AMD),
        102.0 / 255.0,
    );
    expect(&t, &format!("nv_gpu_sm_clock_hertz{}", a), 2498e6);
    expect(&t, &format!("nv_gpu_memory_clock_hertz{}", a), 1249e6);
    assert!(
        !t.contains(&format!("nv_energy_consumption{}", a)),
        "no energy1_input on this AMD card"
    );
    // Intel xe: power1_max -> limit, the pkg sensor, MHz -> Hz, power from the energy rise
    let x = b(U_XE);
    expect(&t, &format!("nv_gpu_power_limit{}", x), 150.0);
    expect(&t, &format!("nv_gpu_temperature{}", x), 48.0);
    expect(&t, &format!("nv_gpu_sm_clock_hertz{}", x), 2050e6);
    expect(&t, &format!("nv_energy_consumption{}", x), 0.0);
    expect(&t, &format!("nv_gpu_power_usage{}", x), 0.0); // the counter has not moved
                                                          // Intel i915: power1_input, gt_act_freq_mhz of the card, no temperature file
    let i = b(U_I915);
    expect(&t, &format!("nv_gpu_power_usage{}", i), 12.5);
    expect(&t, &format!("nv_gpu_power_limit{}", i), 55.0);
    expect(&t, &format!("nv_gpu_sm_clock_hertz{}", i), 1300e6);
    expect(&t, &format!("nv_energy_consumption{}", i), 0.0);
    assert!(!t.contains(&format!("nv_gpu_temperature{}", i)));
    for absent in ["nv_gpu_utilization", "nv_gpu_memory_total_bytes"] {
        assert!(!t.contains(&format!("{}{}", absent, x)));
    }
    // energy: µJ -> J counted from server start; power = rise / time
    write(
        &sys.join(XE).join("hwmon/hwmon5/energy1_input"),
        &format!("{}\n", 123456789u64 + 250_000_000),
    );
    scrape_until(port, "xe energy +250 J", |t| {
        sample(t, &format!("nv_energy_consumption{}", x)) == Some(250.0)
    });
    // a writer adding 2 J every 20 ms: 100 W
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, path) = (
            stop.clone(),
            sys.join(XE).join("hwmon/hwmon5/energy1_input"),
        );
        std::thread::spawn(move || {
            let mut uj = 123456789u64 + 250_000_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                uj += 2_000_000;
                write(&path, &format!("{}\n", uj));
            }
        })
    };
    let mut watts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while watts.len() < 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(120));
        if let Some(w) = sample(
            &http_get(port, "/metrics").2,
            &format!("nv_gpu_power_usage{}", x),
        ) {
            if w > 0.0 {
                watts.push(w);
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    watts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = watts[watts.len() / 2];
    assert!(
        (40.0..=250.0).contains(&median),
        "power from a 100 W energy rise: readings {:?}",
        watts
    );
    // the pcie_bw FIFO was never opened: the collector keeps ticking
    write(&sys.join(AMD).join("gpu_busy_percent"), "88\n");
    scrape_until(port, "a new AMD utilisation", |t| {
        sample(t, &format!("nv_gpu_utilization{}", a)) == Some(0.88)
    });
    delete(s);

    // 2. vendor switches: AMD off in code; then Intel off by the environment
    let (s, port) = server_with(100, &no_nvml, &[("nvidia", false), ("amd", false)], false);
    let t = scrape_until(port, "Intel only", |t| {
        t.matches("nv_gpu_info{").count() == 2
    });
    assert!(!t.contains(U_AMD));
    delete(s);
    std::env::set_var("INFERMETRICS_GPU_VENDORS", "-intel");
    let (s, port) = server_with(100, &no_nvml, &[("nvidia", false)], false);
    let t = scrape_until(port, "AMD only", |t| t.matches("nv_gpu_info{").count() == 1);
    assert!(t.contains(U_AMD) && !t.contains(U_XE));
    delete(s);
    std::env::remove_var("INFERMETRICS_GPU_VENDORS");

    // 3. everything on (fake NVML with MIG, XID, processes; both sysfs vendors; host group):
    //    promtool check metrics accepts the scrape
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/fake_nvml/build.sh"))
        .arg(dir.join("fake"))
        .output()
        .expect("build the fake NVML");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let conf = dir.join("fake.conf");
    write(
        &conf,
        "count = 2\ngpu0.procs = self:1048576, 77:2048\ngpu0.xid_total = 1\ngpu0.reasons = 0x4\n\
         gpu0.pcie_step = 100\ngpu1.fans = 0\ngpu1.mig = 1\ngpu1.mig_count = 2\ngpu1.gpm = 1\n\
         gpu1.util.error = not_supported\n",
    );
    std::env::set_var("FAKE_NVML_CONFIG", &conf);
    let (s, port) = server_with(100, &lib, &[], true);
    let t = scrape_until(port, "every vendor and family", |t| {
        t.contains("nv_gpu_xid_errors_total{")
            && t.contains("nv_mig_gr_engine_active{")
            && t.matches("nv_gpu_info{").count() == 5
            && t.contains("node_memory_MemTotal_bytes")
    });
    delete(s);
    let body = dir.join("scrape.txt");
    std::fs::write(&body, &t).unwrap();
    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&body).unwrap())
        .output()
    {
        Err(_) => eprintln!("SKIPPED promtool check: promtool is not installed"),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            // exit 3 = lint findings only; tolerated: Triton's counter name nv_energy_consumption
            // without "_total", and node_exporter's own node_memory_MemTotal_bytes-style names
            let other: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter(|l| {
                    !(l.starts_with("nv_energy_consumption ")
                        && l.contains("counter metrics should have \"_total\" suffix"))
                })
                .filter(|l| !(l.starts_with("node_memory_") && l.contains("'camelCase'")))
                .collect();
            assert!(
                (o.status.code() == Some(0) || o.status.code() == Some(3)) && other.is_empty(),
                "promtool check metrics (exit {:?}):\n{}\nscrape:\n{}",
                o.status.code(),
                text,
                t
            );
            for l in text.lines() {
                assert!(
                    !l.contains("nv_gpu_") && !l.contains("nv_mig_"),
                    "a new GPU family draws a lint: {}",
                    l
                );
            }
            eprintln!(
                "promtool check metrics: exit {:?}; {}",
                o.status.code(),
                text.trim()
            );
        }
    }
    std::env::remove_var("INFERMETRICS_SYSFS_ROOT");
    let _ = std::fs::remove_dir_all(&dir);
}

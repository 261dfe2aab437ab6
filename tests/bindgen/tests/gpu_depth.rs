//! The GPU-depth series (issue 8) through the real nvml-wrapper path against the fake NVML
//! (tests/fake_nvml): every series, its unit and labels; NOT_SUPPORTED asked once per field; a
//! fan-less board; MIG with two instances and GPM; an XID event; this process among the compute
//! processes beside another PID; throttle bits; growing PCIe counters; an older driver without
//! the R535 names; vendor switches; no process memory inside a PID namespace.
//! One #[test] runs the scenarios in order: the fake's control file is process-wide.
use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use infermetrics_bindgen_tests::*;

fn build_fake(dir: &Path, old: bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(root.join("tests/fake_nvml/build.sh")).arg(dir);
    if old {
        cmd.arg("--old-driver");
    }
    let out = cmd.output().expect("run tests/fake_nvml/build.sh");
    assert!(
        out.status.success(),
        "fake NVML build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn write_config(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn stats(path: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap_or(0)))
        })
        .collect()
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

/// `series value` must be in the scrape.
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

#[track_caller]
fn type_of(t: &str, family: &str, kind: &str) {
    let line = format!("# TYPE {} {}\n", family, kind);
    assert!(t.contains(&line), "expected '{}'", line.trim());
}

const G0: &str = "GPU-depth-0";
const G1: &str = "GPU-depth-1";
const M0: &str = "MIG-depth-a";
const M1: &str = "MIG-depth-b";

fn rich_config(xid_total: u32, xid: u32) -> String {
    format!(
        "count = 2\n\
         driver_version = 580.95.05\n\
         gpu0.uuid = {G0}\n\
         gpu0.name = NVIDIA H100 80GB HBM3\n\
         gpu0.pci_bus = 0x1b\n\
         gpu0.util = 73\n\
         gpu0.mem_util = 21\n\
         gpu0.mem_total = 85899345920\n\
         gpu0.mem_used = 10737418240\n\
         gpu0.mem_reserved = 536870912\n\
         gpu0.power_mw = 312345\n\
         gpu0.limit_mw = 700000\n\
         gpu0.temp_c = 61\n\
         gpu0.sm_clock_mhz = 1755\n\
         gpu0.mem_clock_mhz = 2619\n\
         gpu0.fans = 2\n\
         gpu0.fan0 = 30\n\
         gpu0.fan1 = 64\n\
         gpu0.reasons = 0x44\n\
         gpu0.violation.power = 2500000000\n\
         gpu0.violation.thermal = 1000000000\n\
         gpu0.violation.reliability = 5000000\n\
         gpu0.ecc_corrected = 7\n\
         gpu0.ecc_uncorrected = 1\n\
         gpu0.remap_cor = 3\n\
         gpu0.remap_unc = 2\n\
         gpu0.remap_pending = 1\n\
         gpu0.remap_failure = 0\n\
         gpu0.pcie_tx = 1000000\n\
         gpu0.pcie_rx = 2000000\n\
         gpu0.pcie_step = 4096\n\
         gpu0.pcie_replays = 4\n\
         gpu0.enc_util = 25\n\
         gpu0.dec_util = 10\n\
         gpu0.procs = self:1073741824, 4242:2147483648\n\
         gpu0.gprocs = self:536870912\n\
         gpu0.xid_total = {xid_total}\n\
         gpu0.xid = {xid}\n\
         gpu1.uuid = {G1}\n\
         gpu1.pci_bus = 0x9a\n\
         gpu1.fans = 0\n\
         gpu1.mig = 1\n\
         gpu1.mig_count = 2\n\
         gpu1.mig_sparse = 1\n\
         gpu1.gpm = 1\n\
         gpu1.mig0.uuid = {M0}\n\
         gpu1.mig0.gi = 3\n\
         gpu1.mig0.mem_total = 21474836480\n\
         gpu1.mig0.mem_used = 1073741824\n\
         gpu1.mig0.gr_active = 35\n\
         gpu1.mig1.uuid = {M1}\n\
         gpu1.mig1.gi = 5\n\
         gpu1.mig1.gr_active = 80\n\
         gpu1.util.error = not_supported\n\
         gpu1.ecc.error = not_supported\n\
         gpu1.remap.error = not_supported\n\
         gpu1.pcie.error = not_supported\n\
         gpu1.clock.error = not_supported\n\
         gpu1.enc.error = not_supported\n\
         gpu1.violation.error = not_supported\n\
         gpu1.event_types = 0x7\n"
    )
}

fn server_with(
    interval_ms: u64,
    nvml: &Path,
    vendors: &[(&str, bool)],
) -> (*mut INFERMETRICS_Server, u16) {
    unsafe {
        let mut o = std::ptr::null_mut();
        ok(INFERMETRICS_ServerOptionsNew(&mut o));
        let addr = CString::new("127.0.0.1").unwrap();
        ok(INFERMETRICS_ServerOptionsSetAddress(o, addr.as_ptr()));
        ok(INFERMETRICS_ServerOptionsSetPort(o, 0));
        ok(INFERMETRICS_ServerOptionsSetMetricsInterval(o, interval_ms));
        ok(INFERMETRICS_ServerOptionsSetCpuMetrics(o, false));
        ok(INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(o, false));
        ok(INFERMETRICS_ServerOptionsSetProcessMetrics(o, false));
        ok(INFERMETRICS_ServerOptionsSetContainerMetrics(o, false));
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

fn b(uuid: &str) -> String {
    format!("{{gpu_uuid=\"{}\"}}", uuid)
}

#[test]
fn gpu_depth_against_fake_nvml() {
    if std::env::var_os("GPU_DEPTH_CHILD").is_some() {
        return; // the PID-namespace child runs only pid_namespace_child
    }
    let dir = std::env::temp_dir().join(format!("infermetrics-gpu-depth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lib = build_fake(&dir.join("new"), false);
    let old = build_fake(&dir.join("old"), true);
    let conf = dir.join("fake.conf");
    let stat = dir.join("fake.stats");
    std::env::set_var("FAKE_NVML_CONFIG", &conf);
    std::env::set_var("FAKE_NVML_STATS", &stat);
    // no AMD/Intel GPUs from this machine's /sys in these scenarios
    std::env::set_var("INFERMETRICS_SYSFS_ROOT", dir.join("no-sys"));

    // 1. two GPUs: a PCIe board with fans, and an SXM board in MIG mode with GPM
    write_config(&conf, &rich_config(2, 79));
    let (s, port) = server_with(50, &lib, &[]);
    let t = scrape_until(port, "XID events and GPM values", |t| {
        t.contains("nv_gpu_xid_errors_total{gpu_uuid=\"GPU-depth-0\",xid=\"79\"} 2")
            && t.contains("nv_mig_gr_engine_active{")
    });
    assert!(parse_exposition(&t).is_ok(), "{:?}", parse_exposition(&t));
    let (b0, b1) = (b(G0), b(G1));
    expect(
        &t,
        "nv_gpu_info{driver_version=\"580.95.05\",gpu_index=\"0\",gpu_uuid=\"GPU-depth-0\",name=\"NVIDIA H100 80GB HBM3\",pci_bus_id=\"00000000:1B:00.0\",vendor=\"nvidia\"}",
        1.0,
    );
    expect(
        &t,
        "nv_gpu_info{driver_version=\"580.95.05\",gpu_index=\"1\",gpu_uuid=\"GPU-depth-1\",name=\"NVIDIA Fake GPU 80GB\",pci_bus_id=\"00000000:9A:00.0\",vendor=\"nvidia\"}",
        1.0,
    );
    // Triton's six and the temperature still there, in the same units
    expect(&t, &format!("nv_gpu_utilization{}", b0), 0.73);
    expect(
        &t,
        &format!("nv_gpu_memory_total_bytes{}", b0),
        85899345920.0,
    );
    expect(
        &t,
        &format!("nv_gpu_memory_used_bytes{}", b0),
        10737418240.0,
    );
    expect(&t, &format!("nv_gpu_power_usage{}", b0), 312.345);
    expect(&t, &format!("nv_gpu_power_limit{}", b0), 700.0);
    expect(&t, &format!("nv_gpu_temperature{}", b0), 61.0);
    // free = total - used - reserved (NVML v2)
    expect(
        &t,
        &format!("nv_gpu_memory_free_bytes{}", b0),
        85899345920.0 - 10737418240.0 - 536870912.0,
    );
    expect(&t, &format!("nv_gpu_memory_utilization{}", b0), 0.21);
    expect(&t, &format!("nv_gpu_sm_clock_hertz{}", b0), 1755e6);
    expect(&t, &format!("nv_gpu_memory_clock_hertz{}", b0), 2619e6);
    expect(
        &t,
        "nv_gpu_fan_speed_ratio{fan=\"0\",gpu_uuid=\"GPU-depth-0\"}",
        0.30,
    );
    expect(
        &t,
        "nv_gpu_fan_speed_ratio{fan=\"1\",gpu_uuid=\"GPU-depth-0\"}",
        0.64,
    );
    assert!(
        !t.contains("nv_gpu_fan_speed_ratio{fan=\"0\",gpu_uuid=\"GPU-depth-1\"}"),
        "a fan-less board has no fan series"
    );
    // throttle bits 0x44: power_cap and hw_thermal, the other seven reasons 0
    let words = [
        ("gpu_idle", 0.0),
        ("clocks_setting", 0.0),
        ("power_cap", 1.0),
        ("hw_slowdown", 0.0),
        ("sync_boost", 0.0),
        ("sw_thermal", 0.0),
        ("hw_thermal", 1.0),
        ("hw_power_brake", 0.0),
        ("display_clocks", 0.0),
    ];
    for (w, v) in words {
        expect(
            &t,
            &format!(
                "nv_gpu_clock_event_active{{gpu_uuid=\"GPU-depth-0\",reason=\"{}\"}}",
                w
            ),
            v,
        );
    }
    assert_eq!(
        lines_with(&t, "nv_gpu_clock_event_active{").len(),
        18,
        "nine reasons per GPU"
    );
    for (w, v) in [
        ("power", 2.5),
        ("thermal", 1.0),
        ("sync_boost", 0.0),
        ("board_limit", 0.0),
        ("low_utilization", 0.0),
        ("reliability", 0.005),
    ] {
        expect(
            &t,
            &format!(
                "nv_gpu_clock_event_seconds_total{{gpu_uuid=\"GPU-depth-0\",reason=\"{}\"}}",
                w
            ),
            v,
        );
    }
    assert!(!t.contains("nv_gpu_clock_event_seconds_total{gpu_uuid=\"GPU-depth-1\""));
    expect(
        &t,
        "nv_gpu_ecc_errors_total{gpu_uuid=\"GPU-depth-0\",type=\"corrected\"}",
        7.0,
    );
    expect(
        &t,
        "nv_gpu_ecc_errors_total{gpu_uuid=\"GPU-depth-0\",type=\"uncorrected\"}",
        1.0,
    );
    expect(
        &t,
        "nv_gpu_remapped_rows_total{gpu_uuid=\"GPU-depth-0\",type=\"correctable\"}",
        3.0,
    );
    expect(
        &t,
        "nv_gpu_remapped_rows_total{gpu_uuid=\"GPU-depth-0\",type=\"uncorrectable\"}",
        2.0,
    );
    expect(&t, &format!("nv_gpu_row_remap_pending{}", b0), 1.0);
    expect(&t, &format!("nv_gpu_row_remap_failure{}", b0), 0.0);
    expect(&t, &format!("nv_gpu_pcie_replays_total{}", b0), 4.0);
    expect(&t, &format!("nv_gpu_encoder_utilization{}", b0), 0.25);
    expect(&t, &format!("nv_gpu_decoder_utilization{}", b0), 0.10);
    // this process: 1 GiB compute + 512 MiB graphics; the other PID's 2 GiB is not ours
    expect(
        &t,
        &format!("nv_gpu_process_memory_used_bytes{}", b0),
        1610612736.0,
    );
    expect(&t, &format!("nv_gpu_processes{}", b0), 2.0);
    expect(&t, &format!("nv_gpu_process_memory_used_bytes{}", b1), 0.0);
    expect(&t, &format!("nv_gpu_processes{}", b1), 0.0);
    assert!(!t.contains("pid="), "never a pid label");
    // MIG: two instances at indices 0 and 2 (NOT_FOUND between), GPM graphics activity
    expect(&t, &format!("nv_gpu_mig_mode{}", b0), 0.0);
    expect(&t, &format!("nv_gpu_mig_mode{}", b1), 1.0);
    let mig = |m: &str, gi: u32| {
        format!(
            "{{gpu_instance_id=\"{}\",gpu_uuid=\"GPU-depth-1\",mig_uuid=\"{}\"}}",
            gi, m
        )
    };
    expect(
        &t,
        &format!("nv_mig_memory_total_bytes{}", mig(M0, 3)),
        21474836480.0,
    );
    expect(
        &t,
        &format!("nv_mig_memory_used_bytes{}", mig(M0, 3)),
        1073741824.0,
    );
    expect(
        &t,
        &format!("nv_mig_memory_total_bytes{}", mig(M1, 5)),
        10737418240.0,
    );
    expect(
        &t,
        &format!("nv_mig_memory_used_bytes{}", mig(M1, 5)),
        536870912.0,
    );
    expect(&t, &format!("nv_mig_gr_engine_active{}", mig(M0, 3)), 0.35);
    expect(&t, &format!("nv_mig_gr_engine_active{}", mig(M1, 5)), 0.80);
    assert_eq!(lines_with(&t, "nv_mig_memory_total_bytes{").len(), 2);
    // MIG-enabled GPU: no utilization (NVML gives none), and nothing it does not support
    for absent in [
        "nv_gpu_utilization",
        "nv_gpu_sm_clock_hertz",
        "nv_gpu_memory_clock_hertz",
        "nv_gpu_pcie_transmit_bytes_total",
        "nv_gpu_row_remap_pending",
        "nv_gpu_encoder_utilization",
    ] {
        assert!(
            !t.contains(&format!("{}{}", absent, b1)),
            "{} must be absent for GPU 1",
            absent
        );
    }
    assert!(!t.contains("nv_gpu_ecc_errors_total{gpu_uuid=\"GPU-depth-1\""));
    assert!(!t.contains("nv_gpu_remapped_rows_total{gpu_uuid=\"GPU-depth-1\""));
    expect(&t, &format!("nv_gpu_temperature{}", b1), 45.0);
    // types
    for (f, k) in [
        ("nv_gpu_info", "gauge"),
        ("nv_gpu_clock_event_seconds_total", "counter"),
        ("nv_gpu_ecc_errors_total", "counter"),
        ("nv_gpu_remapped_rows_total", "counter"),
        ("nv_gpu_row_remap_pending", "gauge"),
        ("nv_gpu_pcie_transmit_bytes_total", "counter"),
        ("nv_gpu_pcie_receive_bytes_total", "counter"),
        ("nv_gpu_pcie_replays_total", "counter"),
        ("nv_gpu_xid_errors_total", "counter"),
        ("nv_gpu_fan_speed_ratio", "gauge"),
        ("nv_mig_gr_engine_active", "gauge"),
        ("nv_energy_consumption", "counter"),
    ] {
        type_of(&t, f, k);
    }
    // growing PCIe counters: the fake adds 4096 bytes to tx (2048 to rx) per read
    let tx = |t: &str| sample(t, &format!("nv_gpu_pcie_transmit_bytes_total{}", b0)).unwrap();
    let rx = |t: &str| sample(t, &format!("nv_gpu_pcie_receive_bytes_total{}", b0)).unwrap();
    let (tx0, rx0) = (tx(&t), rx(&t));
    assert!(
        tx0 > 1000000.0 && (tx0 - 1000000.0) % 4096.0 == 0.0,
        "tx {}",
        tx0
    );
    let t2 = scrape_until(port, "PCIe bytes grow", |t| tx(t) >= tx0 + 2.0 * 4096.0);
    assert!(rx(&t2) > rx0 && rx(&t2) - 2000000.0 == (tx(&t2) - 1000000.0) / 2.0);
    // a new XID code: 79 stays at 2, 48 counts 1
    write_config(&conf, &rich_config(3, 48));
    let t = scrape_until(port, "XID 48", |t| {
        t.contains("nv_gpu_xid_errors_total{gpu_uuid=\"GPU-depth-0\",xid=\"48\"} 1")
    });
    expect(
        &t,
        "nv_gpu_xid_errors_total{gpu_uuid=\"GPU-depth-0\",xid=\"79\"}",
        2.0,
    );
    assert!(!t.contains("nv_gpu_xid_errors_total{gpu_uuid=\"GPU-depth-1\""));
    // a scrape makes no NVML call: 200 scrapes within one interval of a slow server are
    // checked by benches/bench_gpu.c; here, the counts after ServerDelete
    delete(s);
    std::thread::sleep(Duration::from_millis(400)); // the XID thread frees its set
    let c = stats(&stat);
    // ticks: GPU 0 reads utilisation every tick, GPU 1 (MIG) was asked once
    let ticks = c["nvmlDeviceGetUtilizationRates"] - 1;
    assert!(ticks >= 4, "{} ticks", ticks);
    let asked_once = [
        ("nvmlDeviceGetTotalEccErrors", 2 * ticks + 2), // corrected, uncorrected
        ("nvmlDeviceGetClockInfo", 2 * ticks + 2),      // SM, memory
        ("nvmlDeviceGetEncoderUtilization", ticks + 1),
        ("nvmlDeviceGetViolationStatus", 6 * ticks + 6), // six policies
        ("nvmlDeviceGetFanSpeed_v2", 2 * ticks + 1),     // GPU 1: one probe
        ("nvmlDeviceGetNumFans", 2),
        ("nvmlDeviceGetFieldValues", ticks + 1), // GPU 1: every field dropped after one call
        ("nvmlDeviceGetRemappedRows", 1),        // GPU 1's fallback, NOT_SUPPORTED too
        ("nvmlDeviceGetPciInfo_v3", 2),          // once per GPU
        ("nvmlDeviceGetName", 2),
        ("nvmlDeviceGetSupportedClocksEventReasons", 2),
        ("nvmlDeviceGetPcieThroughput", 0), // ~20 ms in a real driver: never
    ];
    for (sym, want) in asked_once {
        assert_eq!(c[sym], want, "{} over {} ticks: {:?}", sym, ticks, c);
    }
    // every GPM sample and event set freed; the R535 name used, not the deprecated one
    assert_eq!(c["nvmlGpmSampleAlloc"], c["nvmlGpmSampleFree"], "{:?}", c);
    assert!(c["nvmlGpmSampleAlloc"] > 0);
    assert_eq!(c["nvmlEventSetCreate"], c["nvmlEventSetFree"], "{:?}", c);
    assert!(c["nvmlDeviceGetCurrentClocksEventReasons"] > 0);
    assert_eq!(c["nvmlDeviceGetCurrentClocksThrottleReasons"], 0);
    // XID registered only where supported: GPU 1 (types 0x7) is never registered
    assert_eq!(c["nvmlDeviceRegisterEvents"], 1, "{:?}", c);

    // 2. an older driver: no ...ClocksEventReasons, GetGpuInstanceId, GetRemappedRows
    write_config(
        &conf,
        &format!(
            "count = 2\ngpu0.uuid = {G0}\ngpu0.reasons = 0x4\ngpu0.remap_cor = 9\n\
             gpu1.uuid = {G1}\ngpu1.mig = 1\ngpu1.mig_count = 2\ngpu1.gpm = 1\n\
             gpu1.mig0.uuid = {M0}\ngpu1.mig1.uuid = {M1}\ngpu1.fields.error = not_supported\n"
        ),
    );
    let (s, port) = server_with(50, &old, &[]);
    let t = scrape_until(port, "old driver", |t| {
        t.contains("nv_mig_memory_used_bytes")
    });
    expect(
        &t,
        "nv_gpu_clock_event_active{gpu_uuid=\"GPU-depth-0\",reason=\"power_cap\"}",
        1.0,
    );
    expect(
        &t,
        "nv_gpu_remapped_rows_total{gpu_uuid=\"GPU-depth-0\",type=\"correctable\"}",
        9.0,
    );
    // no GPU instance id: the label is absent, and without it no GPM value
    expect(
        &t,
        &format!(
            "nv_mig_memory_total_bytes{{gpu_uuid=\"GPU-depth-1\",mig_uuid=\"{}\"}}",
            M0
        ),
        10737418240.0,
    );
    assert!(!t.contains("nv_mig_gr_engine_active"));
    assert!(!t.contains("nv_gpu_remapped_rows_total{gpu_uuid=\"GPU-depth-1\""));
    delete(s);
    let c = stats(&stat);
    assert!(
        c["nvmlDeviceGetCurrentClocksThrottleReasons"] > 0,
        "{:?}",
        c
    );
    assert_eq!(c["nvmlDeviceGetCurrentClocksEventReasons"], 0);

    // 3. vendor switches: NVIDIA off in code, then every vendor off by the environment
    let inits = stats(&stat).get("nvmlInit_v2").copied().unwrap_or(0);
    let (s, port) = server_with(50, &lib, &[("nvidia", false)]);
    std::thread::sleep(Duration::from_millis(150));
    let t = http_get(port, "/metrics").2;
    assert!(!t.contains("nv_gpu_") && !t.contains("nv_energy"), "{}", t);
    delete(s);
    assert_eq!(stats(&stat).get("nvmlInit_v2").copied().unwrap_or(0), inits);
    unsafe {
        let mut o = std::ptr::null_mut();
        ok(INFERMETRICS_ServerOptionsNew(&mut o));
        let bogus = CString::new("matrox").unwrap();
        let (code, msg) = check(INFERMETRICS_ServerOptionsSetGpuVendor(
            o,
            bogus.as_ptr(),
            true,
        ))
        .unwrap_err();
        assert_eq!(code, INFERMETRICS_ERROR_INVALID_ARG);
        assert!(
            msg.contains("'matrox'") && msg.contains("nvidia, amd, intel"),
            "{}",
            msg
        );
        let (code, msg) = check(INFERMETRICS_ServerOptionsSetGpuVendor(
            o,
            std::ptr::null(),
            true,
        ))
        .unwrap_err();
        assert_eq!(code, INFERMETRICS_ERROR_INVALID_ARG);
        assert!(msg.contains("'vendor'"), "{}", msg);
        let nv = CString::new("nvidia").unwrap();
        let (code, _) = check(INFERMETRICS_ServerOptionsSetGpuVendor(
            std::ptr::null_mut(),
            nv.as_ptr(),
            true,
        ))
        .unwrap_err();
        assert_eq!(code, INFERMETRICS_ERROR_INVALID_ARG);
        ok(INFERMETRICS_ServerOptionsDelete(o));
        std::env::set_var("INFERMETRICS_GPU_VENDORS", "nvidia,voodoo");
        let mut o = std::ptr::null_mut();
        let (code, msg) = check(INFERMETRICS_ServerOptionsNew(&mut o)).unwrap_err();
        assert_eq!(code, INFERMETRICS_ERROR_INVALID_ARG);
        assert!(
            msg.contains("INFERMETRICS_GPU_VENDORS") && msg.contains("'voodoo'"),
            "{}",
            msg
        );
    }
    std::env::set_var("INFERMETRICS_GPU_VENDORS", "none");
    let (s, port) = server_with(50, &lib, &[("nvidia", true)]);
    std::thread::sleep(Duration::from_millis(150));
    assert!(!http_get(port, "/metrics").2.contains("nv_gpu_"));
    delete(s);
    std::env::remove_var("INFERMETRICS_GPU_VENDORS");
    assert_eq!(stats(&stat).get("nvmlInit_v2").copied().unwrap_or(0), inits);

    // 4. inside a PID namespace: the processes are counted, this process's memory is not served
    write_config(&conf, &rich_config(0, 79));
    let probe = std::process::Command::new("unshare")
        .args(["-Urp", "--fork", "true"])
        .output();
    if probe.is_ok_and(|o| o.status.success()) {
        let out = std::process::Command::new("unshare")
            .args(["-Urp", "--fork"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "pid_namespace_child", "--ignored", "--nocapture"])
            .env("GPU_DEPTH_CHILD", &lib)
            .output()
            .expect("run the PID-namespace child");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "PID-namespace child failed:\n{}",
            text
        );
    } else {
        eprintln!("SKIPPED the PID-namespace case: unshare -Urp does not work here");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run by `gpu_depth_against_fake_nvml` inside `unshare -Urp --fork` (this process is PID 1
/// of a new PID namespace; the fake lists `getpid()`, i.e. 1, as "self").
#[test]
#[ignore]
fn pid_namespace_child() {
    let lib = PathBuf::from(std::env::var_os("GPU_DEPTH_CHILD").expect("run by the parent test"));
    let (s, port) = server_with(50, &lib, &[]);
    let t = scrape_until(port, "processes", |t| t.contains("nv_gpu_processes{"));
    expect(&t, &format!("nv_gpu_processes{}", b(G0)), 2.0);
    assert!(
        !t.contains("nv_gpu_process_memory_used_bytes"),
        "no process memory inside a PID namespace:\n{}",
        t
    );
    delete(s);
}

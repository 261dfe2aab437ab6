//! The GPU collector against the fake NVML (tests/fake_nvml): values and units, labels,
//! NOT_SUPPORTED asked once, a slow call that delays neither scrapes nor fast fields nor
//! ServerDelete, a GPU that disappears and comes back, NVML missing or failing to init.
//! One #[test] runs the scenarios in order: the fake's control file is process-wide.
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use infermetrics_bindgen_tests::*;

fn build_fake(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/fake_nvml/build.sh"))
        .arg(dir)
        .output()
        .expect("run tests/fake_nvml/build.sh");
    assert!(
        out.status.success(),
        "fake NVML build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .lines()
            .last()
            .unwrap(),
    )
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

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
unsafe extern "C" fn log_sink(_level: INFERMETRICS_LogLevel, msg: *const c_char, _u: *mut c_void) {
    LOG.lock()
        .unwrap()
        .push(CStr::from_ptr(msg).to_string_lossy().into_owned());
}
fn log_count(needle: &str) -> usize {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

fn delete(s: *mut INFERMETRICS_Server) -> Duration {
    let t = Instant::now();
    ok(unsafe { INFERMETRICS_ServerDelete(s) });
    t.elapsed()
}

#[test]
fn gpu_collector_against_fake_nvml() {
    let dir = std::env::temp_dir().join(format!("infermetrics-gpu-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lib = build_fake(&dir);
    let conf = dir.join("fake.conf");
    let stat = dir.join("fake.stats");
    std::env::set_var("FAKE_NVML_CONFIG", &conf);
    std::env::set_var("FAKE_NVML_STATS", &stat);
    ok(unsafe { INFERMETRICS_SetLogCallback(Some(log_sink), std::ptr::null_mut()) });

    // 1. two healthy GPUs: every series, its unit conversion and its label
    write_config(
        &conf,
        "count = 2\ngpu0.uuid = GPU-aaaa\ngpu0.util = 73\ngpu0.mem_total = 85899345920\ngpu0.mem_used = 10737418240\n\
         gpu0.power_mw = 123456\ngpu0.limit_mw = 700000\ngpu0.energy_mj = 1000000\ngpu0.temp_c = 61\n\
         gpu1.uuid = GPU-bbbb\ngpu1.temp.error = not_supported\n",
    );
    let (s, port) = server(50, true, false, false, Some(lib.to_str().unwrap()));
    let t = scrape_until(port, "both GPUs", |t| {
        t.matches("nv_gpu_utilization{").count() == 2
    });
    assert_eq!(
        sample(&t, "nv_gpu_utilization{gpu_uuid=\"GPU-aaaa\"}"),
        Some(0.73)
    );
    assert_eq!(
        sample(&t, "nv_gpu_memory_total_bytes{gpu_uuid=\"GPU-aaaa\"}"),
        Some(85899345920.0)
    );
    assert_eq!(
        sample(&t, "nv_gpu_memory_used_bytes{gpu_uuid=\"GPU-aaaa\"}"),
        Some(10737418240.0)
    );
    assert_eq!(
        sample(&t, "nv_gpu_power_usage{gpu_uuid=\"GPU-aaaa\"}"),
        Some(123.456)
    );
    assert_eq!(
        sample(&t, "nv_gpu_power_limit{gpu_uuid=\"GPU-aaaa\"}"),
        Some(700.0)
    );
    assert_eq!(
        sample(&t, "nv_gpu_temperature{gpu_uuid=\"GPU-aaaa\"}"),
        Some(61.0)
    );
    assert_eq!(
        sample(&t, "nv_gpu_temperature{gpu_uuid=\"GPU-bbbb\"}"),
        None,
        "unsupported field has no series"
    );
    assert_eq!(
        sample(&t, "nv_energy_consumption{gpu_uuid=\"GPU-aaaa\"}"),
        Some(0.0),
        "energy counts from server start"
    );
    assert!(
        t.contains("# TYPE nv_energy_consumption counter\n")
            && t.contains("# TYPE nv_gpu_utilization gauge\n")
    );
    assert!(parse_exposition(&t).is_ok());
    // energy: 2500 J more on the GPU is 2500 J more on the counter
    write_config(
        &conf,
        &std::fs::read_to_string(&conf)
            .unwrap()
            .replace("gpu0.energy_mj = 1000000", "gpu0.energy_mj = 3500000"),
    );
    scrape_until(port, "energy +2500 J", |t| {
        sample(t, "nv_energy_consumption{gpu_uuid=\"GPU-aaaa\"}") == Some(2500.0)
    });
    // NOT_SUPPORTED is asked once per GPU, then skipped, while other fields keep being read.
    // Counted once the server is gone, so no tick is half-way through a snapshot: each tick
    // asks both GPUs for utilisation and GPU 0 for its temperature; GPU 1 was asked once.
    std::thread::sleep(Duration::from_millis(300));
    assert!(delete(s) < Duration::from_secs(1));
    let calls = stats(&stat);
    let util = calls["nvmlDeviceGetUtilizationRates"];
    assert!(
        util >= 2 * 4,
        "utilisation read on every tick: {} calls",
        util
    );
    assert_eq!(util % 2, 0, "every tick reads both GPUs");
    assert_eq!(
        calls["nvmlDeviceGetTemperature"],
        util / 2 + 1,
        "GPU 1's unsupported temperature asked once"
    );

    // 2. a slow energy call (1.5 s) delays neither scrapes, nor fast fields, nor ServerDelete
    write_config(
        &conf,
        "count = 1\ngpu0.uuid = GPU-slow\ngpu0.util = 10\ngpu0.energy.delay_ms = 1500\n",
    );
    let (s, port) = server(50, true, false, false, Some(lib.to_str().unwrap()));
    // ServerNew ran the collectors once (energy took 1.5 s there); now they tick
    write_config(
        &conf,
        "count = 1\ngpu0.uuid = GPU-slow\ngpu0.util = 20\ngpu0.energy.delay_ms = 1500\n",
    );
    let t0 = Instant::now();
    let t = scrape_until(port, "util 0.2 while energy is slow", |t| {
        sample(t, "nv_gpu_utilization{gpu_uuid=\"GPU-slow\"}") == Some(0.2)
    });
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "fast field waited for the slow one: {:?}",
        t0.elapsed()
    );
    assert!(t.contains("nv_gpu_utilization"));
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(http_get(port, "/metrics").0, 200);
        worst = worst.max(t.elapsed());
    }
    assert!(
        worst < Duration::from_millis(500),
        "a scrape waited for NVML: {:?}",
        worst
    );
    std::thread::sleep(Duration::from_millis(100)); // the energy thread is now inside its slow call
    let d = delete(s);
    assert!(
        d < Duration::from_secs(1),
        "ServerDelete took {:?} while NVML was slow",
        d
    );

    // 3. a GPU that disappears (NVML failing at run time), then comes back
    write_config(&conf, "count = 1\ngpu0.uuid = GPU-flaky\n");
    let (s, port) = server(50, true, false, false, Some(lib.to_str().unwrap()));
    scrape_until(port, "GPU present", |t| t.contains("GPU-flaky"));
    let logged = log_count("no NVIDIA GPU metrics");
    write_config(&conf, "count = 1\ngpu0.uuid = GPU-flaky\ngone = 1\n");
    scrape_until(port, "GPU series gone", |t| {
        !t.contains("nv_gpu_") && !t.contains("nv_energy")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        log_count("no NVIDIA GPU metrics") - logged,
        1,
        "one log line, not one per tick: {:?}",
        LOG.lock().unwrap()
    );
    write_config(&conf, "count = 1\ngpu0.uuid = GPU-flaky\n");
    // NVML is asked again every 5 s
    scrape_until(port, "GPU back", |t| {
        t.contains("nv_gpu_utilization{gpu_uuid=\"GPU-flaky\"}")
    });
    assert!(log_count("GPU metrics available") >= 1);
    assert!(delete(s) < Duration::from_secs(1));

    // 4. NVML that fails to initialise, then starts working (another path: its own NVML instance)
    let lib2 = dir.join("libnvidia-ml-copy.so.1");
    std::fs::copy(&lib, &lib2).unwrap();
    write_config(&conf, "init = fail\n");
    let logged = log_count("could not be loaded or initialised");
    let (s, port) = server(50, true, true, false, Some(lib2.to_str().unwrap()));
    let t = scrape_until(port, "CPU series while NVML fails", |t| {
        t.contains("nv_cpu_utilization")
    });
    assert!(!t.contains("nv_gpu_"), "{}", t);
    assert_eq!(log_count("could not be loaded or initialised") - logged, 1);
    write_config(&conf, "count = 1\ngpu0.uuid = GPU-late\n");
    scrape_until(port, "GPU after init recovers", |t| t.contains("GPU-late"));
    assert!(delete(s) < Duration::from_secs(1));

    // 5. no library at that path: no GPU series, one log line naming the path, server serves
    let missing = dir.join("no-such-libnvidia-ml.so.1");
    let (s, port) = server(50, true, false, true, Some(missing.to_str().unwrap()));
    let t = scrape_until(port, "pinned series without NVML", |t| {
        t.contains("nv_pinned_memory_pool_total_bytes")
    });
    assert!(!t.contains("nv_gpu_"));
    assert!(log_count(missing.to_str().unwrap()) >= 1);
    // 6. GPU metrics switched off: NVML is not even loaded
    let calls = stats(&stat).get("nvmlInit_v2").copied().unwrap_or(0);
    let (s2, port2) = server(50, false, false, false, Some(lib.to_str().unwrap()));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!http_get(port2, "/metrics").2.contains("nv_gpu_"));
    assert_eq!(stats(&stat).get("nvmlInit_v2").copied().unwrap_or(0), calls);
    delete(s2);
    delete(s);
    ok(unsafe { INFERMETRICS_SetLogCallback(None, std::ptr::null_mut()) });
    let _ = std::fs::remove_dir_all(&dir);
}

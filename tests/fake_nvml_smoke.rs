//! Smoke test of the fake NVML (tests/fake_nvml/fake_nvml.c) through nvml-wrapper, the crate the
//! GPU collector uses: builds the fake with gcc, points nvml-wrapper at it and checks that every
//! control knob (values, per-field errors, delays, `gone`, `init=fail`, call statistics) comes
//! through the real NVML ABI as expected.
//!
//! The fake is steered through process-global env vars, so every test takes `LOCK` first.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

static LOCK: Mutex<()> = Mutex::new(());

struct Fake {
    lib: PathBuf,
    config: PathBuf,
    stats: PathBuf,
}

/// Builds the fake once (into a per-process temp dir) and sets FAKE_NVML_CONFIG / FAKE_NVML_STATS.
fn fake() -> &'static Fake {
    static FAKE: OnceLock<Fake> = OnceLock::new();
    FAKE.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_nvml/fake_nvml.c");
        // Under target/tmp (cargo clean removes it); per process, as two runs may overlap.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("fake_nvml_smoke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let lib = dir.join("libnvidia-ml.so.1");
        let out = Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
            .args([
                "-shared",
                "-fPIC",
                "-O2",
                "-Wl,-soname,libnvidia-ml.so.1",
                "-o",
            ])
            .arg(&lib)
            .arg(&src)
            .arg("-lpthread")
            .output()
            .expect("could not run gcc (install gcc to build tests/fake_nvml)");
        assert!(
            out.status.success(),
            "gcc failed to build {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.join("fake_nvml.conf");
        let stats = dir.join("fake_nvml.stats");
        std::env::set_var("FAKE_NVML_CONFIG", &config);
        std::env::set_var("FAKE_NVML_STATS", &stats);
        Fake { lib, config, stats }
    })
}

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fake {
    /// Replaces the config atomically (the fake re-reads it on every call).
    fn configure(&self, text: &str) {
        let tmp = self.config.with_extension("conf.tmp");
        std::fs::write(&tmp, text).expect("write config");
        std::fs::rename(&tmp, &self.config).expect("rename config");
    }

    fn init(&self) -> Result<Nvml, NvmlError> {
        Nvml::builder().lib_path(OsStr::new(&self.lib)).init()
    }

    fn stats(&self) -> HashMap<String, u64> {
        let text = std::fs::read_to_string(&self.stats)
            .unwrap_or_else(|e| panic!("stats file {} not readable: {e}", self.stats.display()));
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let n = v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad stats line '{k}={v}'"));
                (k.to_string(), n)
            })
            .collect()
    }

    fn calls(&self, symbol: &str) -> u64 {
        *self
            .stats()
            .get(symbol)
            .unwrap_or_else(|| panic!("stats file has no line for {symbol}"))
    }
}

#[test]
fn configured_values_come_through_the_nvml_abi() {
    let _g = lock();
    let f = fake();
    f.configure(
        "# two GPUs\n\
         count = 2\n\
         gpu0.uuid = GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n\
         gpu0.name = NVIDIA H100 80GB HBM3\n\
         gpu0.util = 73\n\
         gpu0.mem_util = 21\n\
         gpu0.mem_total = 85899345920\n\
         gpu0.mem_used = 10737418240   # 10 GiB\n\
         gpu0.mem_reserved = 536870912\n\
         gpu0.power_mw = 312345\n\
         gpu0.limit_mw = 650000\n\
         gpu0.energy_mj = 123456789012\n\
         gpu0.temp_c = 61\n\
         gpu1.util = 5\n",
    );
    let nvml = f.init().expect("init of the fake NVML");
    assert_eq!(nvml.device_count().unwrap(), 2, "device_count");
    assert_eq!(
        nvml.sys_driver_version().unwrap(),
        "580.95.05",
        "default driver version"
    );

    let d0 = nvml.device_by_index(0).expect("device 0");
    assert_eq!(
        d0.uuid().unwrap(),
        "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    );
    assert_eq!(d0.name().unwrap(), "NVIDIA H100 80GB HBM3");
    let u = d0.utilization_rates().unwrap();
    assert_eq!((u.gpu, u.memory), (73, 21), "utilization (gpu, memory)");
    let m = d0.memory_info().unwrap();
    assert_eq!(m.total, 85899345920, "memory total");
    assert_eq!(m.used, 10737418240, "memory used");
    assert_eq!(m.reserved, 536870912, "memory reserved");
    assert_eq!(m.free, 85899345920 - 10737418240 - 536870912, "memory free");
    assert_eq!(d0.power_usage().unwrap(), 312345, "power usage (mW)");
    assert_eq!(
        d0.power_management_limit().unwrap(),
        650000,
        "power limit (mW)"
    );
    assert_eq!(
        d0.enforced_power_limit().unwrap(),
        650000,
        "enforced power limit (mW)"
    );
    assert_eq!(
        d0.total_energy_consumption().unwrap(),
        123456789012,
        "energy (mJ)"
    );
    assert_eq!(
        d0.temperature(TemperatureSensor::Gpu).unwrap(),
        61,
        "temperature (C)"
    );
    assert_eq!(d0.index().unwrap(), 0);

    // Device 1: defaults except util; handles are distinct and stable.
    let d1 = nvml.device_by_index(1).expect("device 1");
    assert_eq!(
        d1.uuid().unwrap(),
        "GPU-00000000-0000-0000-0000-000000000001"
    );
    assert_eq!(d1.utilization_rates().unwrap().gpu, 5);
    assert_eq!(
        d1.memory_info().unwrap().total,
        80 << 30,
        "default memory total"
    );
    assert_eq!(
        d1.power_management_limit().unwrap(),
        700000,
        "default limit"
    );
    let (h0, h1, h0_again) = unsafe {
        (
            d0.handle(),
            d1.handle(),
            nvml.device_by_index(0).unwrap().handle(),
        )
    };
    assert_ne!(h0, h1, "handles of two devices must differ");
    assert_eq!(h0, h0_again, "handle of device 0 must be stable");
    assert!(
        matches!(nvml.device_by_index(2), Err(NvmlError::InvalidArg)),
        "index past count must be InvalidArg"
    );
    let by_uuid = nvml
        .device_by_uuid("GPU-00000000-0000-0000-0000-000000000001")
        .unwrap();
    assert_eq!(
        unsafe { by_uuid.handle() },
        h1,
        "device_by_uuid gives device 1's handle"
    );

    // Raw ABI checks: v1 memory info (used includes reserved), v2 version field is checked.
    unsafe {
        let lib = nvml.lib();
        let mut v1 = std::mem::zeroed();
        assert_eq!(
            lib.nvmlDeviceGetMemoryInfo(h0, &mut v1),
            0,
            "nvmlDeviceGetMemoryInfo"
        );
        assert_eq!(
            (v1.total, v1.used),
            (85899345920, 10737418240 + 536870912),
            "v1 memory"
        );
        let mut v2 = std::mem::zeroed(); // version 0: real NVML refuses it
        assert_eq!(
            lib.nvmlDeviceGetMemoryInfo_v2(h0, &mut v2),
            25,
            "nvmlDeviceGetMemoryInfo_v2 with version 0 must give ARGUMENT_VERSION_MISMATCH"
        );
    }

    // A symbol the fake does not export fails only its own call.
    assert!(
        matches!(d0.serial(), Err(NvmlError::FailedToLoadSymbol(_))),
        "serial is not in the fake: expected FailedToLoadSymbol, got {:?}",
        d0.serial()
    );
    assert_eq!(d0.power_usage().unwrap(), 312345, "other calls still work");

    // The config is re-read on every call: a change shows up without re-init.
    f.configure("count = 2\ngpu0.power_mw = 99000\ngpu0.energy_mj = 5\n");
    assert_eq!(
        d0.power_usage().unwrap(),
        99000,
        "power after config change"
    );
    assert_eq!(
        d0.total_energy_consumption().unwrap(),
        5,
        "energy after config change"
    );
    assert_eq!(
        d0.uuid().unwrap(),
        "GPU-00000000-0000-0000-0000-000000000000",
        "uuid back to default"
    );
}

#[test]
fn field_errors_map_to_nvml_errors() {
    let _g = lock();
    let f = fake();
    f.configure(
        "gpu0.energy.error = not_supported\n\
         gpu0.temp.error = unknown\n\
         gpu0.power.error = no_permission\n\
         gpu0.util.error = gpu_is_lost\n\
         gpu0.limit.error = not_supported\n",
    );
    let nvml = f.init().expect("init");
    let d = nvml.device_by_index(0).unwrap();
    let e = d.total_energy_consumption();
    assert!(
        matches!(e, Err(NvmlError::NotSupported)),
        "energy: expected NotSupported, got {e:?}"
    );
    let t = d.temperature(TemperatureSensor::Gpu);
    assert!(
        matches!(t, Err(NvmlError::Unknown)),
        "temp: expected Unknown, got {t:?}"
    );
    let p = d.power_usage();
    assert!(
        matches!(p, Err(NvmlError::NoPermission)),
        "power: expected NoPermission, got {p:?}"
    );
    let u = d.utilization_rates();
    assert!(
        matches!(u, Err(NvmlError::GpuLost)),
        "util: expected GpuLost, got {u:?}"
    );
    let l = d.enforced_power_limit();
    assert!(
        matches!(l, Err(NvmlError::NotSupported)),
        "limit: expected NotSupported, got {l:?}"
    );
    // Fields without an error still answer.
    assert_eq!(d.memory_info().unwrap().total, 80 << 30);
    assert_eq!(
        d.uuid().unwrap(),
        "GPU-00000000-0000-0000-0000-000000000000"
    );
}

#[test]
fn init_fail_gives_an_error() {
    let _g = lock();
    let f = fake();
    f.configure("init = fail\n");
    let r = f.init();
    assert!(
        matches!(r, Err(NvmlError::DriverNotLoaded)),
        "init=fail: expected Err(DriverNotLoaded), got {:?}",
        r.as_ref().map(|_| "Ok(Nvml)")
    );
    f.configure("init = ok\n");
    assert!(f.init().is_ok(), "init=ok after a failed init must succeed");
}

#[test]
fn delay_ms_delays_the_call() {
    let _g = lock();
    let f = fake();
    f.configure("gpu0.power.delay_ms = 300\n");
    let nvml = f.init().expect("init");
    let d = nvml.device_by_index(0).unwrap();
    let t0 = Instant::now();
    assert_eq!(
        d.power_usage().unwrap(),
        150000,
        "default power after the delay"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "power_usage with delay_ms=300 took only {took:?}"
    );
}

#[test]
fn gone_makes_every_device_call_gpu_lost() {
    let _g = lock();
    let f = fake();
    f.configure("count = 3\n");
    let nvml = f.init().expect("init");
    let d = nvml.device_by_index(0).unwrap();
    assert!(d.uuid().is_ok());
    f.configure("count = 3\ngone = 1\n");
    assert_eq!(
        nvml.device_count().unwrap(),
        3,
        "count stays as configured when gone"
    );
    let checks: Vec<(&str, Result<(), NvmlError>)> = vec![
        ("uuid", d.uuid().map(drop)),
        ("utilization_rates", d.utilization_rates().map(drop)),
        ("memory_info", d.memory_info().map(drop)),
        ("power_usage", d.power_usage().map(drop)),
        (
            "power_management_limit",
            d.power_management_limit().map(drop),
        ),
        (
            "total_energy_consumption",
            d.total_energy_consumption().map(drop),
        ),
        (
            "temperature",
            d.temperature(TemperatureSensor::Gpu).map(drop),
        ),
        ("device_by_index(1)", nvml.device_by_index(1).map(drop)),
    ];
    for (what, r) in checks {
        assert!(
            matches!(r, Err(NvmlError::GpuLost)),
            "{what} with gone=1: expected GpuLost, got {r:?}"
        );
    }
    // Per-device variant: only GPU 1 is lost.
    f.configure("count = 2\ngpu1.gone = 1\n");
    assert!(d.uuid().is_ok(), "gpu0 still answers");
    let r = nvml.device_by_index(1).map(drop);
    assert!(
        matches!(r, Err(NvmlError::GpuLost)),
        "gpu1.gone=1: expected GpuLost, got {r:?}"
    );
}

#[test]
fn stats_count_calls_per_symbol() {
    let _g = lock();
    let f = fake();
    f.configure("gpu0.energy.error = not_supported\n");
    let nvml = f.init().expect("init");
    let inits = f.calls("nvmlInit_v2");
    assert!(inits >= 1, "nvmlInit_v2 must be counted, stats say {inits}");
    let d = nvml.device_by_index(0).unwrap();
    let energy0 = f.calls("nvmlDeviceGetTotalEnergyConsumption");
    let power0 = f.calls("nvmlDeviceGetPowerUsage");
    for _ in 0..3 {
        assert!(d.total_energy_consumption().is_err());
    }
    d.power_usage().unwrap();
    assert_eq!(
        f.calls("nvmlDeviceGetTotalEnergyConsumption"),
        energy0 + 3,
        "energy calls counted"
    );
    assert_eq!(
        f.calls("nvmlDeviceGetPowerUsage"),
        power0 + 1,
        "power calls counted"
    );
    // Thread-safe counting: 4 threads x 250 calls are all counted.
    let temp0 = f.calls("nvmlDeviceGetTemperature");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..250 {
                    assert_eq!(d.temperature(TemperatureSensor::Gpu).unwrap(), 45);
                }
            });
        }
    });
    assert_eq!(
        f.calls("nvmlDeviceGetTemperature"),
        temp0 + 1000,
        "concurrent temperature calls counted"
    );
    let shutdowns = f.calls("nvmlShutdown");
    nvml.shutdown()
        .expect("nvmlShutdown after a successful init");
    assert_eq!(
        f.calls("nvmlShutdown"),
        shutdowns + 1,
        "nvmlShutdown counted"
    );
}

#[test]
fn no_config_means_one_healthy_gpu_with_defaults() {
    let _g = lock();
    let f = fake();
    std::env::remove_var("FAKE_NVML_CONFIG");
    let result = (|| -> Result<(), NvmlError> {
        let nvml = f.init()?;
        assert_eq!(nvml.device_count()?, 1, "default count");
        let d = nvml.device_by_index(0)?;
        assert_eq!(d.uuid()?, "GPU-00000000-0000-0000-0000-000000000000");
        assert_eq!(d.utilization_rates()?.gpu, 42);
        assert_eq!(d.memory_info()?.total, 80 << 30);
        assert_eq!(d.power_usage()?, 150000);
        assert_eq!(d.enforced_power_limit()?, 700000);
        assert_eq!(d.total_energy_consumption()?, 1_000_000);
        assert_eq!(d.temperature(TemperatureSensor::Gpu)?, 45);
        Ok(())
    })();
    std::env::set_var("FAKE_NVML_CONFIG", &f.config);
    result.expect("defaults without FAKE_NVML_CONFIG");
}

#[test]
fn gpu_depth_symbols_come_through_nvml_wrapper() {
    use nvml_wrapper::bitmasks::event::EventTypes;
    use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, PerformancePolicy};
    use nvml_wrapper::enums::device::{SampleValue, UsedGpuMemory};
    use nvml_wrapper::enums::event::XidError;
    use nvml_wrapper::enums::gpm::GpmMetricId;
    use nvml_wrapper::structs::device::FieldId;

    let _g = lock();
    let f = fake();
    f.configure(
        "count = 2\n\
         gpu0.pci_bus = 0x1b\n\
         gpu0.sm_clock_mhz = 1755\n\
         gpu0.mem_clock_mhz = 2619\n\
         gpu0.fans = 2\n\
         gpu0.fan1 = 64\n\
         gpu0.reasons = 0x1044\n\
         gpu0.violation.thermal = 1500000000\n\
         gpu0.ecc_corrected = 7\n\
         gpu0.ecc_uncorrected = 1\n\
         gpu0.remap_cor = 3\n\
         gpu0.remap_pending = 1\n\
         gpu0.pcie_tx = 1000\n\
         gpu0.pcie_step = 10\n\
         gpu0.pcie_replays = 4\n\
         gpu0.enc_util = 25\n\
         gpu0.procs = self:1048576, 4242:2097152\n\
         gpu0.xid_total = 1\n\
         gpu0.xid = 48\n\
         gpu1.fans = 0\n\
         gpu1.mig = 1\n\
         gpu1.mig_count = 2\n\
         gpu1.mig_sparse = 1\n\
         gpu1.gpm = 1\n\
         gpu1.mig1.gr_active = 55\n\
         gpu1.pcie.error = not_supported\n\
         gpu1.event_types = 0x7\n",
    );
    let nvml = f.init().expect("init");
    let d0 = nvml.device_by_index(0).unwrap();
    let d1 = nvml.device_by_index(1).unwrap();
    assert_eq!(d0.pci_info().unwrap().bus_id, "00000000:1B:00.0");
    assert_eq!(d0.clock_info(Clock::SM).unwrap(), 1755);
    assert_eq!(d0.clock_info(Clock::Memory).unwrap(), 2619);
    assert_eq!(d0.num_fans().unwrap(), 2);
    assert_eq!(d0.fan_speed(1).unwrap(), 64);
    assert!(matches!(d1.num_fans(), Err(NvmlError::NotSupported)));
    assert!(matches!(d1.fan_speed(0), Err(NvmlError::NotSupported)));
    // the wrapper's deprecated-name call drops unknown bits (0x1000 here)
    assert_eq!(d0.current_throttle_reasons().unwrap().bits(), 0x44);
    unsafe {
        let mut bits = 0u64;
        let f = nvml
            .lib()
            .nvmlDeviceGetCurrentClocksEventReasons
            .as_ref()
            .unwrap();
        assert_eq!(f(d0.handle(), &mut bits), 0);
        assert_eq!(bits, 0x44, "masked by the supported reasons (0x1ff)");
    }
    assert_eq!(
        d0.violation_status(PerformancePolicy::Thermal)
            .unwrap()
            .violation_time,
        1_500_000_000
    );
    assert_eq!(
        d0.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile)
            .unwrap(),
        7
    );
    assert_eq!(
        d0.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
            .unwrap(),
        1
    );
    // field values: one result per field, each with its own return code; PCIe bytes grow
    let ids = [142, 144, 197, 198, 1].map(FieldId);
    let v: Vec<_> = d0
        .field_values_for(&ids)
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().value)
        .collect();
    assert!(matches!(v[0], Ok(SampleValue::U32(3))), "{:?}", v[0]);
    assert!(matches!(v[1], Ok(SampleValue::U32(1))), "{:?}", v[1]);
    assert!(matches!(v[2], Ok(SampleValue::U64(1010))), "{:?}", v[2]);
    assert!(matches!(v[4], Err(NvmlError::NotSupported)), "{:?}", v[4]);
    let again = d0.field_values_for(&[FieldId(197)]).unwrap();
    assert!(matches!(
        again[0].as_ref().unwrap().value,
        Ok(SampleValue::U64(1020))
    ));
    let v1 = d1.field_values_for(&[FieldId(143), FieldId(198)]).unwrap();
    assert!(v1[0].as_ref().unwrap().value.is_ok());
    assert!(matches!(
        v1[1].as_ref().unwrap().value,
        Err(NvmlError::NotSupported)
    ));
    assert_eq!(d0.pcie_replay_counter().unwrap(), 4);
    assert_eq!(d0.encoder_utilization().unwrap().utilization, 25);
    // processes: this process beside another PID
    let procs = d0.running_compute_processes().unwrap();
    assert_eq!(procs.len(), 2);
    assert_eq!(procs[0].pid, std::process::id());
    assert_eq!(procs[0].used_gpu_memory, UsedGpuMemory::Used(1048576));
    assert_eq!(procs[1].pid, 4242);
    assert!(d0.running_graphics_processes().unwrap().is_empty());
    // MIG: the maximum is 7, two devices at indices 0 and 2, NOT_FOUND between
    assert_eq!(d1.mig_mode().unwrap().current, 1);
    assert_eq!(d1.mig_device_count().unwrap(), 7);
    let m0 = d1.mig_device_by_index(0).unwrap();
    assert!(matches!(
        d1.mig_device_by_index(1),
        Err(NvmlError::NotFound)
    ));
    let m1 = d1.mig_device_by_index(2).unwrap();
    assert!(matches!(
        d1.mig_device_by_index(4),
        Err(NvmlError::NotFound)
    ));
    assert_eq!(
        m1.uuid().unwrap(),
        "MIG-00000001-0000-0000-0000-000000000001"
    );
    assert_eq!(m0.memory_info().unwrap().total, 10 << 30);
    unsafe {
        let mut gi = 0u32;
        let f = nvml.lib().nvmlDeviceGetGpuInstanceId.as_ref().unwrap();
        assert_eq!(f(m1.handle(), &mut gi), 0);
        assert_eq!(gi, 2);
    }
    // GPM on a MIG instance
    assert!(d1.gpm_support().unwrap());
    assert!(!d0.gpm_support().unwrap());
    let s1 = d1.gpm_mig_sample(2).unwrap();
    let s2 = d1.gpm_mig_sample(2).unwrap();
    let r = nvml_wrapper::gpm::gpm_metrics_get(
        &nvml,
        &s1,
        &s2,
        &[GpmMetricId::GraphicsUtil, GpmMetricId::SmUtil],
    )
    .unwrap();
    assert_eq!(r[0].as_ref().unwrap().value, 55.0);
    assert!(matches!(r[1], Err(NvmlError::NotSupported)));
    drop((s1, s2));
    // events: registering an unsupported type fails the whole call and frees the set
    assert!(d1
        .supported_event_types()
        .is_ok_and(|t| !t.contains(EventTypes::CRITICAL_XID_ERROR)));
    let set = nvml.create_event_set().unwrap();
    let e = d1
        .register_events(EventTypes::CRITICAL_XID_ERROR, set)
        .unwrap_err();
    assert!(matches!(e.error, NvmlError::NotSupported));
    let set = nvml.create_event_set().unwrap();
    let set = d0
        .register_events(EventTypes::CRITICAL_XID_ERROR, set)
        .unwrap();
    let ev = set.wait(1000).expect("the configured XID event");
    assert!(matches!(ev.event_data, Some(XidError::Value(48))));
    assert_eq!(unsafe { ev.device.handle() }, unsafe { d0.handle() });
    assert!(matches!(set.wait(20), Err(NvmlError::Timeout)));
    drop(set);
    let calls = f.stats();
    assert_eq!(
        calls["nvmlEventSetCreate"], calls["nvmlEventSetFree"],
        "every set freed"
    );
    assert_eq!(calls["nvmlGpmSampleAlloc"], calls["nvmlGpmSampleFree"]);
}

//! Shared code of the infermetrics fuzz targets:
//! - [`api`]: thin wrappers over the C API that take every returned error apart and free it;
//! - [`prom`]: a strict parser of Prometheus text exposition format 0.0.4;
//! - [`rules`]: the metric/label name rules and bucket rules, restated independently of the
//!   library so the targets can predict whether a call must succeed;
//! - [`Registered`]: the process-wide memory of family names the targets have registered
//!   (families are never unregistered, so a name's kind and first HELP text persist across
//!   fuzz inputs in one process).
pub mod api;
pub mod om;
pub mod prom;
pub mod rules;

use std::collections::HashMap;
use std::sync::Mutex;

use infermetrics::ffi::family::RawMetricKind;

/// What the library must remember about a family name: its kind and its first HELP text.
#[derive(Clone, Debug)]
pub struct FamilyRecord {
    pub kind: u32,
    pub help: String,
}

/// Family names this process has registered, mirroring the library's global registry.
pub struct Registered {
    map: Mutex<HashMap<String, FamilyRecord>>,
    order: Mutex<Vec<String>>,
}

impl Registered {
    pub fn global() -> &'static Registered {
        static R: std::sync::OnceLock<Registered> = std::sync::OnceLock::new();
        R.get_or_init(|| Registered {
            map: Mutex::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
        })
    }

    pub fn get(&self, name: &str) -> Option<FamilyRecord> {
        self.map.lock().unwrap().get(name).cloned()
    }

    pub fn len(&self) -> usize {
        self.order.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i % len`-th registered name (to reuse a name once the cap is reached).
    pub fn nth(&self, i: usize) -> Option<String> {
        let o = self.order.lock().unwrap();
        if o.is_empty() {
            None
        } else {
            Some(o[i % o.len()].clone())
        }
    }

    /// Records a successful FamilyNew. Returns the record the library must now hold.
    pub fn record(&self, name: &str, kind: u32, help: &str) -> FamilyRecord {
        let mut m = self.map.lock().unwrap();
        if let Some(r) = m.get(name) {
            return r.clone();
        }
        let r = FamilyRecord {
            kind,
            help: help.to_owned(),
        };
        m.insert(name.to_owned(), r.clone());
        self.order.lock().unwrap().push(name.to_owned());
        r
    }
}

pub const COUNTER: u32 = 0;
pub const GAUGE: u32 = 1;
pub const HISTOGRAM: u32 = 2;

pub fn kind(k: u32) -> RawMetricKind {
    RawMetricKind(k)
}

pub fn type_name(k: u32) -> &'static str {
    match k {
        COUNTER => "counter",
        GAUGE => "gauge",
        HISTOGRAM => "histogram",
        _ => "?",
    }
}

/// Bytes as a C string: cut at the first NUL (a C caller cannot pass one inside).
pub fn cstring(b: &[u8]) -> std::ffi::CString {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::ffi::CString::new(&b[..end]).unwrap()
}

/// Equality of doubles as values: NaN equals NaN, -0 equals 0.
pub fn same_f64(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

/// Swallows the library's log lines (ParameterNew refusals, ignored deletes) so a fuzz run's
/// output is libFuzzer's own; counts them so a target can check a refusal was logged.
pub fn silence_log() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        unsafe extern "C" fn sink(
            _level: infermetrics::ffi::log::RawLogLevel,
            msg: *const std::ffi::c_char,
            _user: *mut std::ffi::c_void,
        ) {
            assert!(!msg.is_null());
            let _ = std::ffi::CStr::from_ptr(msg).to_bytes().len();
        }
        let e = infermetrics::ffi::log::INFERMETRICS_SetLogCallback(Some(sink), std::ptr::null_mut());
        assert!(e.is_null());
    });
}

//! Collectors: GPU (NVML), CPU and memory (procfs), pinned memory (host reports).
//!
//! Each collector implements [`Collector`] and runs on a thread of the server that owns it,
//! once per interval; it returns the text of its families, which the server caches. A scrape
//! only reads that cache, so a slow collector never delays a scrape nor a recording call.
pub mod cpu;
pub mod gpu;
pub mod pinned;

use crate::core::text;

/// One family's complete text (HELP, TYPE, samples), as a collector renders it.
#[derive(Clone, Debug)]
pub struct FamilyText {
    pub name: &'static str,
    pub text: String,
}

impl FamilyText {
    /// A family of one kind with one sample per `(label body, value)`; `None` if there is no sample.
    pub fn new(
        name: &'static str,
        help: &str,
        type_name: &str,
        samples: &[(&str, f64)],
    ) -> Option<FamilyText> {
        if samples.is_empty() {
            return None;
        }
        let mut t = String::with_capacity(128);
        text::push_family_header(&mut t, name, help, type_name);
        for (body, v) in samples {
            text::push_sample(&mut t, name, body, *v);
        }
        Some(FamilyText { name, text: t })
    }
}

/// A source of metrics refreshed on the server's own thread.
pub trait Collector: Send + 'static {
    /// Short name for log lines and thread names, e.g. "gpu".
    fn name(&self) -> &'static str;
    /// Reads the source and returns the families to serve until the next call. Must not panic
    /// on a failing source: return no families and log once instead.
    fn collect(&mut self) -> Vec<FamilyText>;
}

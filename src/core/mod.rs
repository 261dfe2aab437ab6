//! The pure-Rust core: registry, families, series, name rules and the text format.
//! Nothing in here knows about C: `src/ffi` converts arguments and delegates to it.
pub mod error;
pub mod exemplar;
pub mod family;
pub mod fork;
pub mod log;
pub mod names;
pub mod registry;
pub mod series;
pub mod summary;
pub mod text;
pub mod triton;

pub use error::{Code, Error, Result};
pub use exemplar::Exemplar;
pub use family::{Family, FamilyHandle, MetricArgs, MetricHandle};
pub use registry::Registry;
pub use series::Series;
pub use summary::{SummaryArgs, SummarySnapshot};
pub use text::Format;

/// The metric kinds of the C API, in its numeric order (Triton's three, then our summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
    /// Quantiles over a sliding window, `_sum`, `_count` (not in Triton's C API).
    Summary = 3,
}

impl Kind {
    pub fn from_u32(v: u32) -> Option<Kind> {
        match v {
            0 => Some(Kind::Counter),
            1 => Some(Kind::Gauge),
            2 => Some(Kind::Histogram),
            3 => Some(Kind::Summary),
            _ => None,
        }
    }
    /// The word used on `# TYPE` lines.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

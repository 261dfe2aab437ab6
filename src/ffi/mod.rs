//! The C API: a thin layer over [`crate::core`], [`crate::exporter`] and [`crate::collect`].
//!
//! One file per C object; each exported function is a plain `#[no_mangle] extern "C" fn`
//! (so cbindgen reads it as is) whose body runs inside [`boundary::guard`]: panics become
//! INTERNAL errors, every pointer and string is checked by a `boundary::try_*` helper, and
//! core errors map to `INFERMETRICS_Error` objects.
//!
//! | C object                      | file           |
//! |-------------------------------|----------------|
//! | `INFERMETRICS_Error`          | `error.rs`     |
//! | `INFERMETRICS_Parameter`      | `parameter.rs` |
//! | `INFERMETRICS_MetricFamily`   | `family.rs`    |
//! | `INFERMETRICS_MetricArgs`     | `args.rs`      |
//! | `INFERMETRICS_Metric`         | `metric.rs`    |
//! | `INFERMETRICS_Metrics`        | `metrics.rs`   |
//! | `INFERMETRICS_ServerOptions`, `INFERMETRICS_Server`, pinned report | `server.rs` |
//! | `INFERMETRICS_ModelReporter`, `INFERMETRICS_SetMetricsConfig` (Triton's inference statistics) | `reporter.rs` |
//! | logging, version              | `log.rs`       |
#![allow(non_camel_case_types, non_snake_case, clippy::missing_safety_doc)]

pub mod args;
mod boundary;
pub mod error;
pub mod family;
mod handle;
pub mod log;
pub mod metric;
pub mod metrics;
pub mod parameter;
pub mod reporter;
pub mod server;

//! infermetrics: a Triton-style metrics C API with an embedded Prometheus exporter.
//!
//! Layout (each folder says what it is):
//! - [`core`]: pure Rust registry, families, series, name rules, text format; knows no C.
//! - [`collect`]: GPU (NVML), CPU and pinned-memory collectors behind one small trait.
//! - [`exporter`]: the HTTP `/metrics` server thread that runs the collectors.
//! - [`ffi`]: the thin C layer (argument checks, panic boundary, error mapping), one file per
//!   C object; `include/infermetrics.h` is generated from it by `build.rs`.
pub mod collect;
pub mod core;
pub mod exporter;
pub mod ffi;

/// For fuzz targets: one client connection's bytes through the server's HTTP stack
/// (see [`exporter::fuzz_http_exchange`]).
#[doc(hidden)]
pub use exporter::fuzz_http_exchange;

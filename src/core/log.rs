//! The library's log: lines go to stderr prefixed `infermetrics:` unless the host installed
//! a sink (the C API's `INFERMETRICS_SetLogCallback`). Never stdout.
use std::io::Write;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
        }
    }
}

pub type Sink = Box<dyn Fn(Level, &str) + Send + Sync>;

static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);

/// Replaces the sink; `None` goes back to stderr.
pub fn set_sink(sink: Option<Sink>) {
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = sink.map(Arc::new);
}

pub fn log(level: Level, message: &str) {
    // clone the sink out of the lock, so a sink may log or replace the sink itself
    let sink = SINK.read().unwrap_or_else(|p| p.into_inner()).clone();
    match sink {
        Some(sink) => sink(level, message),
        None => {
            // a closed or broken stderr must not take the host down: ignore write errors
            let _ = writeln!(
                std::io::stderr().lock(),
                "infermetrics: {}: {}",
                level.as_str(),
                message
            );
        }
    }
}

pub fn error(message: &str) {
    log(Level::Error, message)
}
pub fn warn(message: &str) {
    log(Level::Warn, message)
}
pub fn info(message: &str) {
    log(Level::Info, message)
}

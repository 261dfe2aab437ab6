//! The library's log: lines go to stderr prefixed `infermetrics:` unless the host installed
//! a sink (the C API's `INFERMETRICS_SetLogCallback`). Never stdout.
//!
//! A line goes to fd 2 in one `write(2)`, not through Rust's `stderr()`, whose lock a forked
//! child could inherit held; the sink's lock is held by the fork handler across a fork.
use std::sync::{Arc, RwLock};

use super::fork;

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
fn hook() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    if !HOOK.is_completed() {
        HOOK.call_once(|| fork::hold_during_fork(|| Box::new(fork::write(&SINK))));
    }
}

pub fn set_sink(sink: Option<Sink>) {
    hook();
    *fork::write(&SINK) = sink.map(Arc::new);
}

pub fn log(level: Level, message: &str) {
    hook();
    // clone the sink out of the lock, so a sink may log or replace the sink itself
    let sink = fork::read(&SINK).clone();
    match sink {
        Some(sink) => sink(level, message),
        None => {
            let line = format!("infermetrics: {}: {}\n", level.as_str(), message);
            let mut rest = line.as_bytes();
            // a closed or broken stderr must not take the host down: give up on any error
            while !rest.is_empty() {
                // SAFETY: writes `rest.len()` bytes from a live buffer to fd 2
                let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
                if n <= 0 {
                    if n < 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                        continue;
                    }
                    break;
                }
                rest = &rest[n as usize..];
            }
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

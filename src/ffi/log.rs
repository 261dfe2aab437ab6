//! Logging and version calls.
use std::ffi::{c_char, c_void, CString};

use super::boundary::{guard, try_out};
use super::error::INFERMETRICS_Error;
use crate::core::log::{self, Level};

/// Log levels passed to an INFERMETRICS_LogFn.
#[repr(C)]
#[allow(non_camel_case_types, dead_code)]
pub enum INFERMETRICS_LogLevel {
    /// Something failed (e.g. a collector source went away).
    INFERMETRICS_LOG_ERROR = 0,
    /// Something is off but the library carries on (e.g. no NVML: no GPU series).
    INFERMETRICS_LOG_WARN = 1,
    /// Informational (e.g. server started).
    INFERMETRICS_LOG_INFO = 2,
}

#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct RawLogLevel(pub u32);

/// A log sink. Called from whichever thread logs (including the server's own thread);
/// `message` is valid only during the call. It may call any infermetrics function.
pub type INFERMETRICS_LogFn =
    Option<unsafe extern "C" fn(level: RawLogLevel, message: *const c_char, userp: *mut c_void)>;

struct UserPtr(*mut c_void);

impl UserPtr {
    fn get(&self) -> *mut c_void {
        self.0
    }
}
// SAFETY: the pointer is only handed back to the host's callback, which the host documents
// as safe to call from any thread by installing it.
unsafe impl Send for UserPtr {}
unsafe impl Sync for UserPtr {}

/// Sends the library's log lines to `fn` instead of stderr.
///
/// By default each line goes to stderr prefixed `infermetrics:`; the library never writes
/// to stdout.
///
/// @param fn the callback, or NULL to go back to stderr.
/// @param userp passed back to every call of `fn`.
/// @return NULL (always succeeds).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_SetLogCallback(
    r#fn: INFERMETRICS_LogFn,
    userp: *mut c_void,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_SetLogCallback", || {
        match r#fn {
            None => log::set_sink(None),
            Some(f) => {
                let user = UserPtr(userp);
                log::set_sink(Some(Box::new(move |level: Level, msg: &str| {
                    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
                    // SAFETY: the host gave us this function for exactly this call shape
                    unsafe { f(RawLogLevel(level as u32), c.as_ptr(), user.get()) };
                })));
            }
        }
        Ok(())
    })
}

/// The version of this C API: INFERMETRICS_API_VERSION_MAJOR / _MINOR (1.34, Triton's
/// metrics API version that it mirrors).
///
/// @param major out: the major version.
/// @param minor out: the minor version.
/// @return NULL on success; INVALID_ARG if either is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ApiVersion(
    major: *mut u32,
    minor: *mut u32,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ApiVersion", || {
        let (ma, mi) = (try_out(major, "major")?, try_out(minor, "minor")?);
        *ma = 1;
        *mi = 34;
        Ok(())
    })
}

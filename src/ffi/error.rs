//! `INFERMETRICS_Error`: the error object every fallible call returns.
use std::ffi::{c_char, CStr, CString};
use std::sync::OnceLock;

use super::boundary::{castable, guard_or, to_raw, try_ref, try_take};
use crate::core::{fork, Code, Error};

/// Error codes (Triton's `TRITONSERVER_Error_Code`, same values 0..7).
#[repr(C)]
#[allow(non_camel_case_types, dead_code)]
pub enum INFERMETRICS_Error_Code {
    /// Unknown error ("Unknown").
    INFERMETRICS_ERROR_UNKNOWN = 0,
    /// A bug or broken invariant inside the library, or a call refused in the current state ("Internal").
    INFERMETRICS_ERROR_INTERNAL = 1,
    /// Something asked for does not exist ("Not found").
    INFERMETRICS_ERROR_NOT_FOUND = 2,
    /// An argument is NULL, malformed or not allowed ("Invalid argument").
    INFERMETRICS_ERROR_INVALID_ARG = 3,
    /// A resource, such as a socket, is not available ("Unavailable").
    INFERMETRICS_ERROR_UNAVAILABLE = 4,
    /// The operation does not apply to this kind of metric ("Unsupported").
    INFERMETRICS_ERROR_UNSUPPORTED = 5,
    /// Already exists ("Already exists").
    INFERMETRICS_ERROR_ALREADY_EXISTS = 6,
    /// Cancelled ("Cancelled").
    INFERMETRICS_ERROR_CANCELLED = 7,
}

/// An error code as it crosses the boundary (C may pass any integer).
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct RawErrorCode(pub u32);

/// An error: a code and a message. Returned by fallible calls; owned by the caller, who
/// releases it with INFERMETRICS_ErrorDelete. Its strings live as long as the object.
pub struct INFERMETRICS_Error {
    _private: [u8; 0],
}

pub(crate) struct ErrorObject {
    code: Code,
    message: CString,
}

castable!(INFERMETRICS_Error => ErrorObject, 1);

impl INFERMETRICS_Error {
    pub(crate) fn into_raw(e: Error) -> *mut INFERMETRICS_Error {
        let exhausted = table_full_error();
        let message = CString::new(e.message.replace('\0', "\\0")).unwrap_or_default();
        to_raw::<INFERMETRICS_Error>(ErrorObject {
            code: e.code,
            message,
        })
        .unwrap_or(exhausted)
    }
}

/// The error returned when no handle is left for a new error object: one permanent object,
/// created on first use (before the table can be full), that INFERMETRICS_ErrorDelete keeps.
fn table_full_error() -> *mut INFERMETRICS_Error {
    static ERR: OnceLock<usize> = OnceLock::new();
    if let Some(p) = ERR.get() {
        return *p as *mut INFERMETRICS_Error;
    }
    let _g = fork::gate();
    *ERR.get_or_init(|| {
        to_raw::<INFERMETRICS_Error>(ErrorObject {
            code: Code::Unavailable,
            message: CString::from(c"no handle left for an error object: too many objects of this library are alive (delete some)"),
        })
        .map(|p| p as usize)
        .unwrap_or(0)
    }) as *mut INFERMETRICS_Error
}

/// Creates an error object, as a host or a test may need to hand one around.
///
/// @param code the error code; a value outside 0..7 is stored as INFERMETRICS_ERROR_UNKNOWN.
/// @param msg the message, copied; NULL gives an empty message; invalid UTF-8 is replaced.
/// @return a new error owned by the caller (free with INFERMETRICS_ErrorDelete); never NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ErrorNew(
    code: RawErrorCode,
    msg: *const c_char,
) -> *mut INFERMETRICS_Error {
    guard_or(std::ptr::null_mut(), || {
        let message = if msg.is_null() {
            String::new()
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        };
        INFERMETRICS_Error::into_raw(Error::new(
            Code::from_u32(code.0).unwrap_or(Code::Unknown),
            message,
        ))
    })
}

/// Frees an error object. NULL is a no-op.
///
/// @param error an error returned by any call, or NULL; dangling afterwards.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ErrorDelete(error: *mut INFERMETRICS_Error) {
    guard_or((), || {
        if !error.is_null() && error != table_full_error() {
            let _ = try_take(error, "error");
        }
    })
}

/// The code of an error.
///
/// @param error an error object; NULL (success) or a deleted object gives INFERMETRICS_ERROR_UNKNOWN.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ErrorCode(error: *mut INFERMETRICS_Error) -> RawErrorCode {
    guard_or(RawErrorCode(Code::Unknown as u32), || {
        RawErrorCode(
            try_ref(error, "error")
                .map(|e| e.code)
                .unwrap_or(Code::Unknown) as u32,
        )
    })
}

/// The name of an error's code: "Unknown", "Internal", "Not found", "Invalid argument",
/// "Unavailable", "Unsupported", "Already exists" or "Cancelled".
///
/// @param error an error object; NULL gives "Unknown".
/// @return a static string; never NULL; do not free.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ErrorCodeString(
    error: *mut INFERMETRICS_Error,
) -> *const c_char {
    const TEXTS: [&CStr; 8] = [
        c"Unknown",
        c"Internal",
        c"Not found",
        c"Invalid argument",
        c"Unavailable",
        c"Unsupported",
        c"Already exists",
        c"Cancelled",
    ];
    guard_or(TEXTS[0].as_ptr(), || {
        let code = try_ref(error, "error")
            .map(|e| e.code)
            .unwrap_or(Code::Unknown);
        debug_assert_eq!(TEXTS[code as usize].to_str().unwrap(), code.as_str());
        TEXTS[code as usize].as_ptr()
    })
}

/// The message of an error: says what went wrong and names the argument, metric or label
/// at fault.
///
/// @param error an error object; NULL gives "".
/// @return a NUL-terminated UTF-8 string owned by the error, valid until it is deleted.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ErrorMessage(
    error: *mut INFERMETRICS_Error,
) -> *const c_char {
    guard_or(c"".as_ptr(), || match try_ref(error, "error") {
        Ok(e) => e.message.as_ptr(),
        Err(_) => c"".as_ptr(),
    })
}

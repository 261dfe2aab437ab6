//! Error handling for calls into the C API: every returned error is read and freed here.
use std::ffi::CStr;

use infermetrics::ffi::error::{
    INFERMETRICS_Error, INFERMETRICS_ErrorCode, INFERMETRICS_ErrorCodeString,
    INFERMETRICS_ErrorDelete, INFERMETRICS_ErrorMessage,
};

pub const UNKNOWN: u32 = 0;
pub const INTERNAL: u32 = 1;
pub const INVALID_ARG: u32 = 3;
pub const UNAVAILABLE: u32 = 4;
pub const UNSUPPORTED: u32 = 5;

const CODE_TEXTS: [&str; 8] = [
    "Unknown",
    "Internal",
    "Not found",
    "Invalid argument",
    "Unavailable",
    "Unsupported",
    "Already exists",
    "Cancelled",
];

/// A returned error, already freed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: u32,
    pub message: String,
}

/// Takes a returned error apart, checks it is well formed, and frees it.
///
/// # Safety
/// `e` is what a C API call returned.
pub unsafe fn take(e: *mut INFERMETRICS_Error) -> Result<(), Failure> {
    if e.is_null() {
        return Ok(());
    }
    let code = INFERMETRICS_ErrorCode(e).0;
    assert!(code < 8, "error code {code} out of range");
    let text = INFERMETRICS_ErrorCodeString(e);
    assert!(!text.is_null());
    assert_eq!(CStr::from_ptr(text).to_str().unwrap(), CODE_TEXTS[code as usize]);
    let m = INFERMETRICS_ErrorMessage(e);
    assert!(!m.is_null());
    let message = CStr::from_ptr(m)
        .to_str()
        .expect("error message is not UTF-8")
        .to_owned();
    assert!(!message.is_empty(), "empty error message (code {code})");
    INFERMETRICS_ErrorDelete(e);
    Err(Failure { code, message })
}

/// The call must have succeeded.
///
/// # Safety
/// As [`take`].
#[track_caller]
pub unsafe fn ok(what: &str, e: *mut INFERMETRICS_Error) {
    if let Err(f) = take(e) {
        panic!("{what}: expected success, got code {}: {}", f.code, f.message);
    }
}

/// The call must have failed with `code`.
///
/// # Safety
/// As [`take`].
#[track_caller]
pub unsafe fn fails(what: &str, code: u32, e: *mut INFERMETRICS_Error) -> Failure {
    match take(e) {
        Ok(()) => panic!("{what}: expected error code {code}, got success"),
        Err(f) => {
            assert_eq!(
                f.code, code,
                "{what}: expected error code {code}, got {}: {}",
                f.code, f.message
            );
            f
        }
    }
}

/// The call must succeed when `expect_ok`, else fail with `code`.
///
/// # Safety
/// As [`take`].
#[track_caller]
pub unsafe fn expect(what: &str, expect_ok: bool, code: u32, e: *mut INFERMETRICS_Error) {
    if expect_ok {
        ok(what, e)
    } else {
        fails(what, code, e);
    }
}

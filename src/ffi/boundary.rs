//! The one panic boundary, the pointer and string checks, and handle ownership.
//!
//! Every exported function's body runs inside [`guard`] (or [`guard_or`] for the few calls
//! that return no error object), so a panic becomes an INTERNAL error and never unwinds into
//! C. Every pointer goes through one of the `try_*` helpers below before it is used; nothing
//! else in `src/ffi` dereferences a raw pointer. Object handles are checked by
//! [`super::handle`] (generation-checked slots, never raw addresses), re-exported here.
use std::any::Any;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::core::{Error, Result};

use super::error::INFERMETRICS_Error;

fn panic_text(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(|s| s.as_str()))
        .unwrap_or("(no message)")
}

/// Runs `f` behind the panic boundary and maps its result to the C convention: NULL on
/// success, else a new error object owned by the caller.
#[inline(always)]
pub(crate) fn guard(func: &'static str, f: impl FnOnce() -> Result<()>) -> *mut INFERMETRICS_Error {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(e)) => INFERMETRICS_Error::into_raw(e),
        Err(p) => INFERMETRICS_Error::into_raw(Error::internal(format!(
            "internal error in {}: {} (please report this as a bug)",
            func,
            panic_text(&*p)
        ))),
    }
}

/// Panic boundary for the calls that return a plain value: a panic yields `fallback`.
pub(crate) fn guard_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

#[cold]
pub(crate) fn null_arg(arg: &str) -> Error {
    Error::invalid_arg(format!("argument '{}' is NULL", arg))
}

pub(crate) use super::handle::{castable, to_raw, try_mut, try_ref, try_take};

/// Checks an out-parameter; write through it only once the call has succeeded.
///
/// # Safety
/// `p` is NULL or valid for writes of a `T`.
#[inline(always)]
pub(crate) unsafe fn try_out<'a, T>(p: *mut T, arg: &str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| null_arg(arg))
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn try_str<'a>(p: *const c_char, arg: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null_arg(arg));
    }
    bytes_to_str(CStr::from_ptr(p).to_bytes(), arg)
}

pub(crate) fn bytes_to_str<'a>(b: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(b).map_err(|e| {
        Error::invalid_arg(format!(
            "{} is not valid UTF-8 (bad byte at offset {}): {:?}",
            what,
            e.valid_up_to(),
            String::from_utf8_lossy(b)
        ))
    })
}

/// Borrows `count` elements; `p` may be NULL only when `count` is 0.
///
/// # Safety
/// `p` is NULL or valid for reads of `count` elements.
pub(crate) unsafe fn try_slice<'a, T>(
    p: *const T,
    count: u64,
    arg: &str,
    max: u64,
) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid_arg(format!(
            "argument '{}' is NULL but its count is {}",
            arg, count
        )));
    }
    if count > max {
        return Err(Error::invalid_arg(format!(
            "count {} for argument '{}' is larger than the limit of {} (a negative number cast to uint64_t?)",
            count, arg, max
        )));
    }
    Ok(std::slice::from_raw_parts(p, count as usize))
}

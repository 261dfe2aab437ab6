//! The one panic boundary, the pointer and string checks, and handle ownership.
//!
//! Every exported function's body runs inside [`guard`] (or [`guard_or`] for the few calls
//! that return no error object), so a panic becomes an INTERNAL error and never unwinds into
//! C. Every pointer goes through one of the `try_*` helpers below before it is used; nothing
//! else in `src/ffi` dereferences a raw pointer or calls `Box::from_raw`.
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

/// A C-visible opaque type backed by a Rust value in a tagged box.
///
/// The tag is checked on every use and cleared on delete, so passing a deleted handle, or a
/// handle of another type, usually gives INVALID_ARG instead of undefined behaviour (usually:
/// reading freed memory cannot be made fully safe; the tag catches the common mistakes).
pub(crate) trait Castable {
    type Rust;
    const TAG: u64;
    /// What the object is called in messages, e.g. "INFERMETRICS_Metric".
    const WHAT: &'static str;
}

/// Ties an opaque C type to the Rust value behind it: `castable!(CType => RustType, tag)`.
macro_rules! castable {
    ($c:ident => $rust:ty, $tag:expr) => {
        impl $crate::ffi::boundary::Castable for $c {
            type Rust = $rust;
            const TAG: u64 = $tag;
            const WHAT: &'static str = stringify!($c);
        }
    };
}
pub(crate) use castable;

#[repr(C)]
struct Tagged<T> {
    tag: u64,
    value: T,
}

/// Moves `value` to the heap and returns it as an owned C handle.
pub(crate) fn to_raw<C: Castable>(value: C::Rust) -> *mut C {
    Box::into_raw(Box::new(Tagged { tag: C::TAG, value })) as *mut C
}

unsafe fn tagged<'a, C: Castable>(p: *const C, arg: &str) -> Result<&'a mut Tagged<C::Rust>> {
    if p.is_null() {
        return Err(null_arg(arg));
    }
    let t = &mut *(p as *mut Tagged<C::Rust>);
    if std::ptr::read_volatile(&t.tag) != C::TAG {
        return Err(Error::invalid_arg(format!(
            "argument '{}' is not a live {} (was it deleted already, or is it another kind of object?)",
            arg,
            C::WHAT
        )));
    }
    Ok(t)
}

/// Borrows the Rust value behind a handle.
///
/// # Safety
/// `p` is NULL or a pointer obtained from [`to_raw`] for the same `C`.
#[inline(always)]
pub(crate) unsafe fn try_ref<'a, C: Castable>(p: *const C, arg: &str) -> Result<&'a C::Rust> {
    tagged(p, arg).map(|t| &t.value)
}

/// Mutably borrows the Rust value behind a handle (the caller has exclusive use of it).
///
/// # Safety
/// As [`try_ref`].
pub(crate) unsafe fn try_mut<'a, C: Castable>(p: *mut C, arg: &str) -> Result<&'a mut C::Rust> {
    tagged(p, arg).map(|t| &mut t.value)
}

/// Takes ownership back from C: clears the tag and frees the box, returning the value.
///
/// # Safety
/// As [`try_ref`]; after this the handle is dangling.
pub(crate) unsafe fn try_take<C: Castable>(p: *mut C, arg: &str) -> Result<C::Rust> {
    let t = tagged(p, arg)?;
    std::ptr::write_volatile(&mut t.tag, 0);
    let b = Box::from_raw(t as *mut Tagged<C::Rust>);
    Ok(b.value)
}

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

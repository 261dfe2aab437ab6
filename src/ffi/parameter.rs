//! `INFERMETRICS_Parameter`: a named value; the STRING ones are metric labels.
use std::ffi::{c_char, c_void, CStr};

use super::boundary::{bytes_to_str, castable, guard_or, to_raw, try_ref, try_take};
use crate::core::{log, Error, Result};

/// Parameter types (Triton's `TRITONSERVER_ParameterType`). Only STRING can be a label.
#[repr(C)]
#[allow(non_camel_case_types, dead_code)]
pub enum INFERMETRICS_ParameterType {
    /// `value` points to a NUL-terminated string.
    INFERMETRICS_PARAMETER_STRING = 0,
    /// `value` points to an int64_t.
    INFERMETRICS_PARAMETER_INT = 1,
    /// `value` points to a bool.
    INFERMETRICS_PARAMETER_BOOL = 2,
    /// `value` points to a double.
    INFERMETRICS_PARAMETER_DOUBLE = 3,
    /// Bytes: not constructible with INFERMETRICS_ParameterNew (as in Triton).
    INFERMETRICS_PARAMETER_BYTES = 4,
}

#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct RawParameterType(pub u32);

/// A named, typed value. Used as a metric label when its type is STRING. Owned by the
/// caller; free with INFERMETRICS_ParameterDelete (labels are copied by MetricNew, so a
/// parameter may be deleted right after use).
pub struct INFERMETRICS_Parameter {
    _private: [u8; 0],
}

/// A parameter in one allocation: `[type][flags][name length, 4 bytes][name][value]`, where the
/// value is the string's bytes for STRING and the 8 bytes of the number otherwise. Only
/// STRING values are read (as labels); the others are kept, as Triton keeps them, so a
/// non-STRING label can be reported by name. Two words, so the handle table keeps it in the
/// slot itself: ParameterNew costs one allocation.
pub(crate) struct Parameter {
    bytes: Box<[u8]>,
}

castable!(INFERMETRICS_Parameter => Parameter, 2);

const TYPE_STRING: u8 = 0;
/// Flag: name and value are valid UTF-8 (checked once, at creation).
const UTF8: u8 = 1;
const HEAD: usize = 6;

impl Parameter {
    fn new(kind: u8, name: &[u8], value: &[u8]) -> Parameter {
        let utf8 = std::str::from_utf8(name).is_ok()
            && (kind != TYPE_STRING || std::str::from_utf8(value).is_ok());
        let mut b = Vec::with_capacity(HEAD + name.len() + value.len());
        b.push(kind);
        b.push(if utf8 { UTF8 } else { 0 });
        b.extend_from_slice(&(name.len() as u32).to_le_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(value);
        Parameter {
            bytes: b.into_boxed_slice(),
        }
    }

    #[inline]
    fn parts(&self) -> (u8, u8, &[u8], &[u8]) {
        let b = &self.bytes;
        let n = u32::from_le_bytes([b[2], b[3], b[4], b[5]]) as usize;
        (b[0], b[1], &b[HEAD..HEAD + n], &b[HEAD + n..])
    }

    /// The (name, value) label pair, or the error naming why this parameter is no label.
    #[inline]
    pub(crate) fn as_label(&self) -> Result<(&str, &str)> {
        let (kind, flags, name, value) = self.parts();
        if kind == TYPE_STRING && flags & UTF8 != 0 {
            // SAFETY: both were checked to be UTF-8 when the parameter was made
            unsafe {
                return Ok((
                    std::str::from_utf8_unchecked(name),
                    std::str::from_utf8_unchecked(value),
                ));
            }
        }
        self.label_error(kind, name, value)
    }

    #[cold]
    fn label_error<'a>(
        &self,
        kind: u8,
        name: &'a [u8],
        value: &'a [u8],
    ) -> Result<(&'a str, &'a str)> {
        let name = bytes_to_str(name, "label name")?;
        if kind != TYPE_STRING {
            return Err(Error::invalid_arg(format!(
                "Parameter [{}] must have a type of INFERMETRICS_PARAMETER_STRING to be added as a label.",
                name
            )));
        }
        let value = match std::str::from_utf8(value) {
            Ok(value) => value,
            Err(_) => bytes_to_str(value, &format!("value of label '{}'", name))?,
        };
        Ok((name, value))
    }
}

/// Creates a parameter (a label when `type` is INFERMETRICS_PARAMETER_STRING).
///
/// @param name the parameter's (label's) name, copied. Checked when the label is used.
/// @param type one of INFERMETRICS_ParameterType; BYTES is refused, as in Triton.
/// @param value points to the value for `type` (a `const char*` string for STRING, an
///        `int64_t`, a `bool` or a `double`); the value is copied.
/// @return a new parameter owned by the caller (free with INFERMETRICS_ParameterDelete), or
///         NULL when `name` or `value` is NULL, or `type` is BYTES or unknown; the reason is
///         then written to the log.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ParameterNew(
    name: *const c_char,
    r#type: RawParameterType,
    value: *const c_void,
) -> *mut INFERMETRICS_Parameter {
    guard_or(std::ptr::null_mut(), || {
        let refuse = |why: &str| {
            log::warn(&format!("INFERMETRICS_ParameterNew returned NULL: {}", why));
            std::ptr::null_mut()
        };
        if name.is_null() {
            return refuse("argument 'name' is NULL");
        }
        let name = CStr::from_ptr(name).to_bytes();
        if value.is_null() {
            return refuse(&format!(
                "argument 'value' of parameter '{}' is NULL",
                String::from_utf8_lossy(name)
            ));
        }
        let number: [u8; 8];
        let value: &[u8] = match r#type.0 {
            0 => CStr::from_ptr(value as *const c_char).to_bytes(),
            1 => {
                number = (value as *const i64).read_unaligned().to_le_bytes();
                &number
            }
            2 => {
                number = u64::from(*(value as *const u8) != 0).to_le_bytes();
                &number
            }
            3 => {
                number = (value as *const f64).read_unaligned().to_le_bytes();
                &number
            }
            4 => {
                return refuse(
                    "type INFERMETRICS_PARAMETER_BYTES cannot be created with ParameterNew",
                )
            }
            t => return refuse(&format!("unknown parameter type {}", t)),
        };
        let param = Parameter::new(r#type.0 as u8, name, value);
        match to_raw::<INFERMETRICS_Parameter>(param) {
            Ok(p) => p,
            Err(e) => refuse(&e.message),
        }
    })
}

/// Frees a parameter. NULL is a no-op.
///
/// @param parameter a parameter from INFERMETRICS_ParameterNew, or NULL; dangling afterwards.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ParameterDelete(parameter: *mut INFERMETRICS_Parameter) {
    guard_or((), || {
        if !parameter.is_null() {
            if let Err(e) = try_take(parameter, "parameter") {
                log::warn(&format!(
                    "INFERMETRICS_ParameterDelete ignored its argument: {}",
                    e.message
                ));
            }
        }
    })
}

/// Reads the labels array of MetricNew (`labels` may be NULL when `count` is 0) and calls
/// `f` with the (name, value) pairs borrowed from the parameters (to sort in place): no
/// copy, and no allocation for up to 8 labels.
pub(crate) unsafe fn with_labels<R>(
    labels: *const *const INFERMETRICS_Parameter,
    count: u64,
    f: impl FnOnce(&mut [(&str, &str)]) -> Result<R>,
) -> Result<R> {
    with_params(labels, count, "labels", f)
}

/// As [`with_labels`] for an array argument named `arg` in messages.
pub(crate) unsafe fn with_params<R>(
    labels: *const *const INFERMETRICS_Parameter,
    count: u64,
    arg: &str,
    f: impl FnOnce(&mut [(&str, &str)]) -> Result<R>,
) -> Result<R> {
    const ON_STACK: usize = 8;
    let ptrs = super::boundary::try_slice(labels, count, arg, 4096)?;
    let mut stack: [(&str, &str); ON_STACK] = [("", ""); ON_STACK];
    let mut heap: Vec<(&str, &str)> = Vec::new();
    let out: &mut [(&str, &str)] = if ptrs.len() <= ON_STACK {
        &mut stack[..ptrs.len()]
    } else {
        heap.resize(ptrs.len(), ("", ""));
        &mut heap
    };
    for (i, (&p, slot)) in ptrs.iter().zip(out.iter_mut()).enumerate() {
        let param = match try_ref(p, "labels[i]") {
            Ok(param) => param,
            Err(_) => try_ref(p, &format!("{}[{}]", arg, i))?,
        };
        *slot = param.as_label()?;
    }
    f(out)
}

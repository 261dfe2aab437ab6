//! Metric and label name rules (Prometheus legacy charset, as Triton and prometheus-cpp check).
use super::error::{Error, Result};

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, not empty, not starting with `__`.
#[inline]
pub fn check_metric_name(name: &str) -> Result<()> {
    if is_name(name, true) {
        return Ok(());
    }
    Err(bad(name, "metric", "[a-zA-Z_:][a-zA-Z0-9_:]*"))
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not empty, not starting with `__`.
#[inline]
pub fn check_label_name(name: &str) -> Result<()> {
    if is_name(name, false) {
        return Ok(());
    }
    Err(bad(name, "label", "[a-zA-Z_][a-zA-Z0-9_]*"))
}

#[cold]
#[inline(never)]
fn bad(name: &str, what: &str, pattern: &str) -> Error {
    Error::invalid_arg(format!(
        "Invalid {what} name '{}': a {what} name must match {pattern} and must not start with '__'",
        name.escape_debug()
    ))
}

#[inline]
fn is_name(name: &str, colon_ok: bool) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || name.starts_with("__") {
        return false;
    }
    let ok = |c: u8, first: bool| {
        c.is_ascii_alphabetic()
            || c == b'_'
            || (colon_ok && c == b':')
            || (!first && c.is_ascii_digit())
    };
    ok(b[0], true) && b[1..].iter().all(|&c| ok(c, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn metric_names() {
        for good in ["a", "_a", ":a", "a:b_c9", "nv_gpu_utilization", "A"] {
            assert!(check_metric_name(good).is_ok(), "{good}");
        }
        for bad in ["", "__a", "9a", "a-b", "a b", "é", "a\n"] {
            assert!(check_metric_name(bad).is_err(), "{bad}");
        }
    }
    #[test]
    fn label_names() {
        assert!(check_label_name("model").is_ok());
        assert!(check_label_name("_x1").is_ok());
        for bad in ["", "__x", "a:b", "1a", "a.b"] {
            assert!(check_label_name(bad).is_err(), "{bad}");
        }
        let e = check_label_name("a.b").unwrap_err();
        assert!(e.message.contains("'a.b'"));
    }
}

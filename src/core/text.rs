//! Prometheus text exposition format 0.0.4: numbers, escaping, HELP/TYPE lines and samples.
//!
//! Used by the registry and by the collectors, so every byte the library serves comes from here.
use std::fmt::Write;

/// The exposition formats the library writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (what Triton serves; the default everywhere).
    #[default]
    Prometheus,
    /// OpenMetrics 1.0.0 text: counters as `name_total`, `# UNIT`, exemplars, `# EOF`.
    OpenMetrics,
}

impl Format {
    pub const PROMETHEUS_CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";
    pub const OPENMETRICS_CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// The `Content-Type` a body in this format is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => Self::PROMETHEUS_CONTENT_TYPE,
            Format::OpenMetrics => Self::OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Appends `v` in canonical Prometheus spelling: `+Inf`, `-Inf`, `NaN`, integers without a
/// fraction, otherwise the shortest text that parses back to the same double.
pub fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == v.trunc() && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let a = v.abs();
        if !(1e-4..1e16).contains(&a) {
            let _ = write!(out, "{:e}", v);
        } else {
            let _ = write!(out, "{}", v);
        }
    }
}

pub fn push_u64(out: &mut String, v: u64) {
    let _ = write!(out, "{}", v);
}

/// Label value escaping: `\` `"` and newline.
pub fn push_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP escaping: `\` and newline.
pub fn push_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `# HELP` (only when help is non-empty, as Triton does) and `# TYPE` lines.
pub fn push_family_header(out: &mut String, name: &str, help: &str, type_name: &str) {
    if !help.is_empty() {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        push_help(out, help);
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(type_name);
    out.push('\n');
}

/// Renders sorted `(name, value)` pairs as the inside of `{...}`: `a="x",b="y"`.
pub fn render_label_body(pairs: &[(String, String)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        push_label_value(&mut s, v);
        s.push('"');
    }
    s
}

/// The start of a sample line: `name[suffix][{body[,le="bound"]}] ` (trailing space included).
pub fn push_sample_prefix(out: &mut String, name: &str, suffix: &str, body: &str, le: Option<f64>) {
    push_sample_prefix_with(out, name, suffix, body, le.map(|b| ("le", b)));
}

/// As [`push_sample_prefix`] with any numeric label appended last (`le`, `quantile`).
pub fn push_sample_prefix_with(
    out: &mut String,
    name: &str,
    suffix: &str,
    body: &str,
    extra: Option<(&str, f64)>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !body.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(body);
        if let Some((label, v)) = extra {
            if !body.is_empty() {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            push_f64(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// One whole `name{body} value` line.
pub fn push_sample(out: &mut String, name: &str, body: &str, value: f64) {
    push_sample_prefix(out, name, "", body, None);
    push_f64(out, value);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    fn f(v: f64) -> String {
        let mut s = String::new();
        push_f64(&mut s, v);
        s
    }
    #[test]
    fn numbers() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(1729.0), "1729");
        assert_eq!(f(7.55), "7.55");
        assert_eq!(f(1729.0 - 3.14), "1725.86");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(-1.0), "-1");
        assert_eq!(f(1e17), "1e17");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        for v in [0.1 + 0.2, 1.0 / 3.0, 123456.789, 9.99e15, 2.5e-5] {
            assert_eq!(f(v).parse::<f64>().unwrap(), v);
        }
    }
    #[test]
    fn escaping() {
        let mut s = String::new();
        push_label_value(&mut s, "a\\b\"c\nd");
        assert_eq!(s, "a\\\\b\\\"c\\nd");
        let mut h = String::new();
        push_help(&mut h, "a\\b\"c\nd");
        assert_eq!(h, "a\\\\b\"c\\nd");
    }
    #[test]
    fn sample_prefix() {
        let mut s = String::new();
        push_sample_prefix(&mut s, "x", "_bucket", "a=\"1\"", Some(f64::INFINITY));
        assert_eq!(s, "x_bucket{a=\"1\",le=\"+Inf\"} ");
        let mut s = String::new();
        push_sample_prefix(&mut s, "x", "_bucket", "", Some(0.5));
        assert_eq!(s, "x_bucket{le=\"0.5\"} ");
        let mut s = String::new();
        push_sample(&mut s, "x", "", 2.0);
        assert_eq!(s, "x 2\n");
    }
}

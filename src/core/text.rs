//! The text exposition formats: numbers, escaping, HELP/TYPE/UNIT lines and samples, in
//! Prometheus 0.0.4 and OpenMetrics 1.0.
//!
//! Used by the registry and by the collectors, so every byte the library serves comes from here.
//! The two formats differ only where [`Writer`] decides: a family's header (OpenMetrics
//! escapes `"` in HELP, writes `unknown` for `untyped`, adds `# UNIT`, and names a counter
//! family without its `_total`), counter sample names (`name_total` in OpenMetrics),
//! exemplars, and the final `# EOF`. Collectors publish 0.0.4 text per family;
//! [`Writer::push_family_text`] rewrites it through the same header and sample-name rules.
use std::collections::HashSet;
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

/// HELP escaping in `format`: `\` and newline, and in OpenMetrics also `"`.
pub fn push_help_as(out: &mut String, v: &str, format: Format) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Reverses 0.0.4 HELP escaping (`\\` and `\n`; any other backslash is kept as written).
fn unescape_help(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            s.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => s.push('\\'),
            Some('n') => s.push('\n'),
            Some(o) => {
                s.push('\\');
                s.push(o);
            }
            None => s.push('\\'),
        }
    }
    s
}

/// `# HELP` (only when help is non-empty, as Triton does) and `# TYPE` lines.
pub fn push_family_header(out: &mut String, name: &str, help: &str, type_name: &str) {
    push_family_header_as(out, name, help, type_name, Format::Prometheus)
}

/// As [`push_family_header`], with HELP escaped for `format`.
fn push_family_header_as(
    out: &mut String,
    name: &str,
    help: &str,
    type_name: &str,
    format: Format,
) {
    if !help.is_empty() {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        push_help_as(out, help, format);
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(type_name);
    out.push('\n');
}

/// Unit suffixes written as `# UNIT` in OpenMetrics when a family name ends in `_<unit>`
/// (OpenMetrics' base units, and the ratio and temperature units Prometheus' naming guide uses).
const UNITS: &[&str] = &[
    "seconds", "bytes", "joules", "celsius", "watts", "ratio", "hertz", "volts", "amperes",
    "meters", "grams", "kelvin",
];

/// The unit `name` ends in (`_seconds` ...), if any; a name that is only the unit has none.
fn unit_of(name: &str) -> Option<&'static str> {
    UNITS.iter().copied().find(|u| {
        name.len() > u.len() + 1
            && name.ends_with(u)
            && name.as_bytes()[name.len() - u.len() - 1] == b'_'
    })
}

/// The OpenMetrics family name of a counter: without its `_total` (never empty).
fn counter_family(name: &str) -> &str {
    match name.strip_suffix("_total") {
        Some(base) if !base.is_empty() => base,
        _ => name,
    }
}

/// The sample-name suffixes OpenMetrics reserves for a family of each type (what the strict
/// parser checks for clashes).
fn reserved_suffixes(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "counter" => &["", "_total", "_created"],
        "histogram" => &["", "_bucket", "_count", "_sum", "_created"],
        "summary" => &["", "_count", "_sum", "_created"],
        _ => &[""],
    }
}

/// Names whose clash has been logged (once per name for the life of the process).
static CLASH_LOGGED: std::sync::Mutex<Option<HashSet<String>>> = std::sync::Mutex::new(None);
const CLASH_LOG_MAX: usize = 1024;

#[cold]
fn log_clash(name: &str, type_name: &str) {
    {
        let mut seen = super::fork::gated_lock(&CLASH_LOGGED);
        let seen = seen.get_or_insert_with(HashSet::new);
        if seen.len() >= CLASH_LOG_MAX || !seen.insert(name.to_owned()) {
            return;
        }
    }
    super::log::warn(&format!(
        "OpenMetrics output leaves out the {} family '{}': its sample names clash with a family \
         written before it (in OpenMetrics a counter 'x' and a counter 'x_total' are both family \
         'x' with samples 'x_total'); the Prometheus 0.0.4 output still has both; rename one \
         (logged once per name)",
        type_name, name
    ));
}

/// One exposition being written in one format: the output, and in OpenMetrics the sample
/// names written so far, so that a family whose names clash with an earlier family's is left
/// out (logged once) instead of making the whole scrape invalid. [`Writer::finish`] ends it.
pub struct Writer<'a> {
    pub out: &'a mut String,
    pub format: Format,
    claimed: HashSet<String>,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut String, format: Format) -> Writer<'a> {
        Writer {
            out,
            format,
            claimed: HashSet::new(),
        }
    }

    #[inline]
    pub fn is_openmetrics(&self) -> bool {
        self.format == Format::OpenMetrics
    }

    /// Starts a family: writes its `# HELP` (when help is non-empty), `# TYPE` and, in
    /// OpenMetrics, `# UNIT` lines. Returns false, writing nothing, when in OpenMetrics its
    /// names clash with a family already written: then leave the family out.
    pub fn family(&mut self, name: &str, help: &str, type_name: &str) -> bool {
        if !self.is_openmetrics() {
            push_family_header(self.out, name, help, type_name);
            return true;
        }
        let (family, type_name) = match type_name {
            "counter" => (counter_family(name), "counter"),
            "untyped" => (name, "unknown"),
            t => (name, t),
        };
        let suffixes = reserved_suffixes(type_name);
        if suffixes
            .iter()
            .any(|s| self.claimed.contains(&format!("{}{}", family, s)))
        {
            log_clash(name, type_name);
            return false;
        }
        for s in suffixes {
            self.claimed.insert(format!("{}{}", family, s));
        }
        push_family_header_as(self.out, family, help, type_name, self.format);
        if let Some(unit) = unit_of(family) {
            self.out.push_str("# UNIT ");
            self.out.push_str(family);
            self.out.push(' ');
            self.out.push_str(unit);
            self.out.push('\n');
        }
        true
    }

    /// The name and suffix of a counter family's samples: `(name, "")` in 0.0.4, `(family,
    /// "_total")` in OpenMetrics.
    pub fn counter_sample<'n>(&self, name: &'n str) -> (&'n str, &'static str) {
        if self.is_openmetrics() {
            (counter_family(name), "_total")
        } else {
            (name, "")
        }
    }

    /// Appends one family's complete 0.0.4 text (a collector's `# HELP`, `# TYPE`, samples):
    /// as it is in 0.0.4; in OpenMetrics through [`Writer::family`] and with counter samples
    /// renamed `family_total`. Label bodies and numbers are spelled alike in both formats.
    pub fn push_family_text(&mut self, text: &str) {
        if !self.is_openmetrics() {
            self.out.push_str(text);
            return;
        }
        let mut help = None;
        let mut header: Option<(&str, &str)> = None;
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.peek() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                help = rest.split_once(' ').map(|(_, h)| unescape_help(h));
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                header = rest.split_once(' ');
            } else if !line.starts_with('#') {
                break;
            }
            lines.next();
        }
        let Some((name, type_name)) = header else {
            // no TYPE line: not a family this library writes
            return;
        };
        if !self.family(name, help.as_deref().unwrap_or(""), type_name) {
            return;
        }
        let (stem, suffix) = match type_name {
            "counter" => self.counter_sample(name),
            _ => (name, ""),
        };
        for line in lines {
            match line.strip_prefix(name) {
                Some(rest) if type_name == "counter" && rest.starts_with(['{', ' ']) => {
                    self.out.push_str(stem);
                    self.out.push_str(suffix);
                    self.out.push_str(rest);
                }
                _ => self.out.push_str(line),
            }
            self.out.push('\n');
        }
    }

    /// Ends the exposition: `# EOF` in OpenMetrics, nothing in 0.0.4.
    pub fn finish(self) {
        if self.is_openmetrics() {
            self.out.push_str("# EOF\n");
        }
    }
}

/// Renders sorted `(name, value)` pairs as the inside of `{...}`: `a="x",b="y"`.
pub fn render_label_body<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    // `k="v",` per pair: exact unless a value needs escaping
    let len = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 4)
        .sum();
    let mut s = String::with_capacity(len);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k.as_ref());
        s.push_str("=\"");
        push_label_value(&mut s, v.as_ref());
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

/// An OpenMetrics exemplar, appended after a sample's value: ` # {labels} value timestamp`.
pub fn push_exemplar(out: &mut String, labels: &str, value: f64, timestamp: f64) {
    out.push_str(" # {");
    out.push_str(labels);
    out.push_str("} ");
    push_f64(out, value);
    out.push(' ');
    push_f64(out, timestamp);
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
        push_help_as(&mut h, "a\\b\"c\nd", Format::Prometheus);
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

    #[test]
    fn units_only_as_true_suffixes() {
        assert_eq!(unit_of("a_seconds"), Some("seconds"));
        assert_eq!(unit_of("seconds"), None);
        assert_eq!(unit_of("_seconds"), None);
        assert_eq!(unit_of("nanoseconds"), None);
        assert_eq!(unit_of("x_bytes_total"), None);
        assert_eq!(counter_family("x_bytes_total"), "x_bytes");
        assert_eq!(counter_family("_total"), "_total");
        assert_eq!(counter_family("x"), "x");
    }

    #[test]
    fn family_text_converted_to_openmetrics() {
        let mut t = String::new();
        push_family_header(
            &mut t,
            "nv_energy_consumption",
            "Energy \"used\", in J\\x",
            "counter",
        );
        push_sample(&mut t, "nv_energy_consumption", "gpu_uuid=\"G\"", 12.5);
        let mut p = String::new();
        push_family_header(&mut p, "process_cpu_seconds_total", "", "counter");
        push_sample(&mut p, "process_cpu_seconds_total", "", 3.0);
        let mut g = String::new();
        push_family_header(&mut g, "nv_gpu_utilization", "a\nb", "gauge");
        push_sample(&mut g, "nv_gpu_utilization", "", 0.5);
        let mut u = String::new();
        push_family_header(&mut u, "odd", "", "untyped");
        push_sample(&mut u, "odd", "", 1.0);
        // 0.0.4 copies the text as it is
        let mut out = String::new();
        let mut w = Writer::new(&mut out, Format::Prometheus);
        for x in [&t, &p, &g, &u] {
            w.push_family_text(x);
        }
        w.finish();
        assert_eq!(out, format!("{}{}{}{}", t, p, g, u));
        let mut out = String::new();
        let mut w = Writer::new(&mut out, Format::OpenMetrics);
        for x in [&t, &p, &g, &u, &t] {
            w.push_family_text(x);
        }
        w.finish();
        assert_eq!(
            out,
            "# HELP nv_energy_consumption Energy \\\"used\\\", in J\\\\x\n\
# TYPE nv_energy_consumption counter\n\
nv_energy_consumption_total{gpu_uuid=\"G\"} 12.5\n\
# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n\
process_cpu_seconds_total 3\n\
# HELP nv_gpu_utilization a\\nb\n# TYPE nv_gpu_utilization gauge\nnv_gpu_utilization 0.5\n\
# TYPE odd unknown\nodd 1\n# EOF\n"
        );
    }

    #[test]
    fn help_unescape_round_trips() {
        for h in ["a\\b\nc", "plain", "\\n", "end\\"] {
            let mut s = String::new();
            push_help_as(&mut s, h, Format::Prometheus);
            assert_eq!(unescape_help(&s), h);
        }
    }
}

//! A strict parser of Prometheus text exposition format 0.0.4, as the library must write it.
//!
//! Stricter than Prometheus (which is lenient about blank lines, comments, spaces, trailing
//! commas and unknown escapes): anything the library has no reason to write is an error, so
//! a sloppy byte in the output fails the fuzz target. Accepted:
//! - `# HELP <name> <text>` with `\\` and `\n` escapes only, directly followed by the family's
//!   `# TYPE <name> <counter|gauge|histogram|summary|untyped>`, or a `# TYPE` line alone;
//! - sample lines `name value` or `name{l="v",...} value` (no timestamp), label values with
//!   `\\`, `\"` and `\n` escapes only, values `+Inf`, `-Inf`, `NaN` or
//!   `-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?`;
//! - every line ends with `\n`; no blank lines; each family appears once, has at least one
//!   sample, and its samples follow its TYPE line; no series twice in a family;
//! - histograms: per series, `_bucket` lines with strictly increasing `le` ending at `+Inf`,
//!   cumulative counts that never decrease, a `_sum`, and a `_count` equal to the `+Inf` bucket;
//! - counters are never negative or NaN.
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone)]
pub struct Sample {
    /// Full sample name (`x`, `x_bucket`, `x_sum`, `x_count`).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub help: Option<String>,
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// One histogram series read back: labels (without `le`), bounds, cumulative counts, sum, count.
#[derive(Debug, Clone)]
pub struct HistogramSeries {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Family {
    /// Counter/gauge series: sorted labels -> value.
    pub fn scalars(&self) -> BTreeMap<Vec<(String, String)>, f64> {
        self.samples
            .iter()
            .map(|s| (sorted(&s.labels), s.value))
            .collect()
    }

    /// Histogram series keyed by sorted labels without `le`.
    pub fn histograms(&self) -> BTreeMap<Vec<(String, String)>, HistogramSeries> {
        let mut out: BTreeMap<Vec<(String, String)>, HistogramSeries> = BTreeMap::new();
        for s in &self.samples {
            let key = sorted(
                &s.labels
                    .iter()
                    .filter(|(n, _)| !(n == "le" && s.name.ends_with("_bucket")))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let h = out.entry(key).or_insert_with(|| HistogramSeries {
                bounds: vec![],
                cumulative: vec![],
                sum: f64::NAN,
                count: u64::MAX,
            });
            let suffix = &s.name[self.name.len()..];
            match suffix {
                "_bucket" => {
                    let le = s.labels.iter().find(|(n, _)| n == "le").unwrap();
                    h.bounds.push(parse_value(&le.1).unwrap());
                    h.cumulative.push(s.value as u64);
                }
                "_sum" => h.sum = s.value,
                "_count" => h.count = s.value as u64,
                _ => unreachable!(),
            }
        }
        out
    }
}

pub fn sorted(l: &[(String, String)]) -> Vec<(String, String)> {
    let mut v = l.to_vec();
    v.sort();
    v
}

fn valid_name(s: &str, colon: bool) -> bool {
    crate::rules::valid_name_str(s, colon)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the text format's metric name.
pub(crate) fn format_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..].iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Parses a sample value or an `le` bound in canonical spelling.
pub fn parse_value(t: &str) -> Result<f64, String> {
    match t {
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        "NaN" => return Ok(f64::NAN),
        _ => {}
    }
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && b[i] == b'-' {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return Err(format!("bad number {t:?}"));
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return Err(format!("bad number {t:?}"));
        }
    }
    if i < b.len() && b[i] == b'e' {
        i += 1;
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        if !digits(&mut i) {
            return Err(format!("bad exponent in {t:?}"));
        }
    }
    if i != b.len() {
        return Err(format!("trailing bytes in number {t:?}"));
    }
    t.parse::<f64>().map_err(|e| format!("{t:?}: {e}"))
}

pub(crate) fn unescape(s: &str, quote: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quote => out.push('"'),
                other => return Err(format!("bad escape \\{other:?}")),
            }
        } else if quote && c == '"' {
            return Err("unescaped quote".into());
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Reads `{a="x",b="y"}` at the start of `s`; returns the labels and the rest.
pub(crate) fn parse_labels(s: &str) -> Result<(Vec<(String, String)>, &str), String> {
    let mut rest = s.strip_prefix('{').ok_or("expected '{'")?;
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = &rest[..eq];
        if !valid_name(name, false) && name != "le" {
            return Err(format!("bad label name {name:?}"));
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name:?} twice in one sample"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
        // the value ends at the first '"' not escaped
        let b = rest.as_bytes();
        let mut i = 0;
        loop {
            match b.get(i) {
                None => return Err("unterminated label value".into()),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let value = unescape(&rest[..i], true)?;
        labels.push((name.to_owned(), value));
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
            if rest.starts_with('}') {
                return Err("trailing comma in labels".into());
            }
        } else if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        } else {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

/// The start of a sample line in either text format: its name, its labels, and what follows
/// the one space after them (the value and whatever the format lets follow it).
pub fn sample_head(line: &str) -> Result<(&str, Vec<(String, String)>, &str), String> {
    let end = line
        .find(|c| c == '{' || c == ' ')
        .ok_or("sample without value")?;
    let name = &line[..end];
    // the format's charset only: a histogram named `_` has samples `__bucket`, `__sum` and
    // `__count` (the no-leading-`__` rule is for the names users give, checked on HELP/TYPE)
    if !format_name(name) {
        return Err(format!("bad sample name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        if rest.starts_with("{}") {
            return Err("empty label set '{}'".into());
        }
        let (l, r) = parse_labels(rest)?;
        labels = l;
        rest = r;
    }
    let rest = rest.strip_prefix(' ').ok_or("expected one space before the value")?;
    Ok((name, labels, rest))
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (name, labels, v) = sample_head(line)?;
    if v.contains(' ') {
        return Err("timestamp or extra field after the value".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(v)?,
    })
}

/// Parses a whole exposition. Err names the 1-based line and what is wrong.
pub fn parse(text: &[u8]) -> Result<Vec<Family>, String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or("text does not end with a newline")?;
    let mut families: Vec<Family> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut pending_help: Option<(String, String)> = None;
    let mut series_seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    for (n, line) in body.split('\n').enumerate() {
        let at = |m: String| format!("line {}: {}: {:?}", n + 1, m, line);
        if line.is_empty() {
            return Err(at("blank line".into()));
        }
        if let Some(r) = line.strip_prefix("# HELP ") {
            if pending_help.is_some() {
                return Err(at("HELP not followed by TYPE".into()));
            }
            let sp = r.find(' ').ok_or_else(|| at("HELP without text".into()))?;
            let name = &r[..sp];
            if !valid_name(name, true) {
                return Err(at("bad HELP name".into()));
            }
            pending_help = Some((name.to_owned(), unescape(&r[sp + 1..], false).map_err(at)?));
            continue;
        }
        if let Some(r) = line.strip_prefix("# TYPE ") {
            let sp = r.find(' ').ok_or_else(|| at("TYPE without type".into()))?;
            let name = &r[..sp];
            let kind = &r[sp + 1..];
            if !valid_name(name, true) {
                return Err(at("bad TYPE name".into()));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at("unknown type".into()));
            }
            let help = match pending_help.take() {
                Some((h, text)) if h == name => Some(text),
                Some(_) => return Err(at("HELP and TYPE name differ".into())),
                None => None,
            };
            if let Some(f) = families.last() {
                if f.samples.is_empty() {
                    return Err(at(format!("family {} has no samples", f.name)));
                }
            }
            if !seen.insert(name.to_owned()) {
                return Err(at("family printed twice".into()));
            }
            families.push(Family {
                name: name.to_owned(),
                help,
                kind: kind.to_owned(),
                samples: Vec::new(),
            });
            series_seen.clear();
            continue;
        }
        if line.starts_with('#') {
            return Err(at("comment other than HELP/TYPE".into()));
        }
        if pending_help.is_some() {
            return Err(at("HELP not followed by TYPE".into()));
        }
        let s = parse_sample(line).map_err(at)?;
        let f = families
            .last_mut()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        let suffix = s
            .name
            .strip_prefix(f.name.as_str())
            .ok_or_else(|| at(format!("sample outside family {}", f.name)))?;
        let has_le = s.labels.iter().any(|(n, _)| n == "le");
        match (f.kind.as_str(), suffix) {
            ("histogram", "_bucket") => {
                let le = &s.labels.iter().find(|(n, _)| n == "le").ok_or_else(|| at("bucket without le".into()))?.1;
                let b = parse_value(le).map_err(at)?;
                if b.is_nan() {
                    return Err(at("le is NaN".into()));
                }
                if s.value < 0.0 || s.value.fract() != 0.0 {
                    return Err(at("bucket count is not a whole number".into()));
                }
            }
            ("histogram", "_count") => {
                if has_le {
                    return Err(at("le on _count".into()));
                }
                if s.value < 0.0 || s.value.fract() != 0.0 {
                    return Err(at("count is not a whole number".into()));
                }
            }
            ("histogram", "_sum") => {
                if has_le {
                    return Err(at("le on _sum".into()));
                }
            }
            ("histogram", _) => return Err(at("histogram sample with a bad suffix".into())),
            (k, "") => {
                if k == "counter" && !(s.value >= 0.0) {
                    return Err(at("counter is negative or NaN".into()));
                }
            }
            _ => return Err(at(format!("sample outside family {}", f.name))),
        }
        if !series_seen.insert((s.name.clone(), sorted(&s.labels))) {
            return Err(at("series printed twice".into()));
        }
        f.samples.push(s);
    }
    if pending_help.is_some() {
        return Err("HELP at the end without TYPE".into());
    }
    if let Some(f) = families.last() {
        if f.samples.is_empty() {
            return Err(format!("family {} has no samples", f.name));
        }
    }
    for f in &families {
        if f.kind == "histogram" {
            check_histogram(f)?;
        }
    }
    Ok(families)
}

pub(crate) fn check_histogram(f: &Family) -> Result<(), String> {
    for (labels, h) in f.histograms() {
        let at = |m: &str| format!("histogram {} {:?}: {}", f.name, labels, m);
        if h.bounds.is_empty() || *h.bounds.last().unwrap() != f64::INFINITY {
            return Err(at("no +Inf bucket"));
        }
        if h.bounds.windows(2).any(|w| !(w[0] < w[1])) {
            return Err(at("le not strictly increasing"));
        }
        if h.cumulative.windows(2).any(|w| w[0] > w[1]) {
            return Err(at("bucket counts decrease"));
        }
        if h.count == u64::MAX {
            return Err(at("no _count"));
        }
        if *h.cumulative.last().unwrap() != h.count {
            return Err(at("+Inf bucket differs from _count"));
        }
        if f.samples
            .iter()
            .filter(|s| s.name.ends_with("_sum") && sorted(&s.labels) == labels)
            .count()
            != 1
        {
            return Err(at("no _sum"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn good() {
        let t = b"# HELP a x\\ny\\\\z\n# TYPE a counter\na 1\na{b=\"q\\\"\\n\\\\\"} 2.5\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1e-7\nh_count 2\n";
        let f = parse(t).unwrap();
        assert_eq!(f[0].help.as_deref(), Some("x\ny\\z"));
        assert_eq!(f[0].samples[1].labels[0].1, "q\"\n\\");
        assert_eq!(f[1].histograms().len(), 1);
        let f = parse(b"# TYPE _ histogram\n__bucket{le=\"+Inf\"} 0\n__sum 0\n__count 0\n").unwrap();
        assert_eq!(f[0].histograms().len(), 1);
    }
    #[test]
    fn bad() {
        for t in [
            &b"a 1\n"[..],
            b"# TYPE a counter\na 1",
            b"# TYPE a counter\na{} 1\n",
            b"# TYPE a counter\na{b=\"x\",} 1\n",
            b"# TYPE a counter\na inf\n",
            b"# TYPE a counter\na -1\n",
            b"# TYPE a gauge\na 1 123\n",
            b"# TYPE a gauge\na{b=\"\\t\"} 1\n",
            b"# HELP a \\t\n# TYPE a gauge\na 1\n",
            b"# TYPE a gauge\n",
            b"# TYPE a gauge\na 1\n# TYPE a gauge\na 1\n",
            b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
            b"# TYPE __h gauge\n__h 1\n",
        ] {
            assert!(parse(t).is_err(), "{:?}", String::from_utf8_lossy(t));
        }
    }
}

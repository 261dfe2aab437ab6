//! A strict parser of OpenMetrics 1.0.0 text, as the library must write it (the subset it has
//! reason to write; anything else is an error):
//! - `# HELP <family> <text>` (escapes `\\`, `\n`, `\"`), `# TYPE <family> <type>` and
//!   `# UNIT <family> <unit>` before the family's samples; a family's metadata and samples are
//!   together and the family appears once;
//! - samples `name[{labels}] value` with no timestamp, named `<family>_total` for a counter,
//!   `<family>_bucket|_count|_sum` for a histogram, `<family>` for a gauge or unknown;
//! - an exemplar ` # {labels} value timestamp` only after a counter's `_total` or a
//!   histogram's `_bucket` sample, its label names and values at most 128 characters together;
//! - the text ends with exactly one `# EOF\n`, and nothing follows it.
//!
//! Histograms are checked as in [`crate::prom`] (buckets increasing to `+Inf`, cumulative
//! counts, `_count` equal to the `+Inf` bucket, one `_sum`).
use std::collections::HashSet;

use crate::prom::{self, parse_labels, parse_value, unescape};
use crate::rules::{valid_name_str, MAX_EXEMPLAR_CHARS};

/// An exemplar as written: labels in the order written, value, timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: f64,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub exemplar: Option<Exemplar>,
}

#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

impl Family {
    /// The samples as a 0.0.4 family (for [`prom::Family::histograms`] and `scalars`).
    pub fn as_prom(&self) -> prom::Family {
        prom::Family {
            name: self.name.clone(),
            help: self.help.clone(),
            kind: self.kind.clone(),
            samples: self
                .samples
                .iter()
                .map(|s| prom::Sample {
                    name: s.name.clone(),
                    labels: s.labels.clone(),
                    value: s.value,
                })
                .collect(),
        }
    }
}

const TYPES: [&str; 8] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "stateset",
    "info",
    "unknown",
];

fn exemplar_labels(s: &str) -> Result<(Vec<(String, String)>, &str), String> {
    if let Some(r) = s.strip_prefix("{}") {
        return Ok((Vec::new(), r));
    }
    parse_labels(s)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (name, labels, rest) = prom::sample_head(line)?;
    let (value, rest) = match rest.find(' ') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let value = parse_value(value)?;
    let exemplar = if rest.is_empty() {
        None
    } else {
        let r = rest
            .strip_prefix(" # ")
            .ok_or("a timestamp or extra field after the value (not an exemplar)")?;
        let (l, r) = exemplar_labels(r).map_err(|e| format!("exemplar: {e}"))?;
        let chars: usize = l
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum();
        if chars > MAX_EXEMPLAR_CHARS {
            return Err(format!("exemplar labels of {chars} characters"));
        }
        let r = r.strip_prefix(' ').ok_or("exemplar without value")?;
        let (v, ts) = r.split_once(' ').ok_or("exemplar without timestamp")?;
        if ts.contains(' ') {
            return Err("extra field after the exemplar's timestamp".into());
        }
        let timestamp = parse_value(ts)?;
        if !timestamp.is_finite() {
            return Err("exemplar timestamp not finite".into());
        }
        Some(Exemplar {
            labels: l,
            value: parse_value(v)?,
            timestamp,
        })
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        exemplar,
    })
}

/// Parses a whole OpenMetrics exposition. Err names the 1-based line and what is wrong.
pub fn parse(text: &[u8]) -> Result<Vec<Family>, String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("text does not end with '# EOF\\n'")?;
    if !(body.is_empty() || body.ends_with('\n')) {
        return Err("'# EOF' not on a line of its own".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut series_seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    let lines = match body.strip_suffix('\n') {
        Some(b) => b.split('\n').collect(),
        None => Vec::new(),
    };
    for (n, line) in lines.into_iter().enumerate() {
        let at = |m: String| format!("line {}: {}: {:?}", n + 1, m, line);
        if line.is_empty() {
            return Err(at("blank line".into()));
        }
        if line == "# EOF" {
            return Err(at("'# EOF' before the end".into()));
        }
        if let Some(r) = line.strip_prefix("# ") {
            let (what, r) = r.split_once(' ').ok_or_else(|| at("bare comment".into()))?;
            let (name, arg) = r
                .split_once(' ')
                .ok_or_else(|| at("metadata without text".into()))?;
            if !valid_name_str(name, true) {
                return Err(at("bad family name".into()));
            }
            // a new family starts at its first metadata line
            if families.last().is_none_or(|f| f.name != name) {
                if families.last().is_some_and(|f| f.samples.is_empty()) {
                    return Err(at("family without samples".into()));
                }
                if !seen.insert(name.to_owned()) {
                    return Err(at(format!("family {name} printed twice")));
                }
                families.push(Family {
                    name: name.to_owned(),
                    kind: String::new(),
                    help: None,
                    unit: None,
                    samples: Vec::new(),
                });
                series_seen.clear();
            }
            let f = families.last_mut().unwrap();
            if !f.samples.is_empty() {
                return Err(at("metadata after the family's samples".into()));
            }
            match what {
                "HELP" if f.help.is_none() => f.help = Some(unescape(arg, true).map_err(at)?),
                "TYPE" if f.kind.is_empty() => {
                    if !TYPES.contains(&arg) {
                        return Err(at("unknown type".into()));
                    }
                    f.kind = arg.to_owned();
                }
                "UNIT" if f.unit.is_none() => {
                    if !f.name.ends_with(&format!("_{arg}")) {
                        return Err(at("the family name does not end in its unit".into()));
                    }
                    f.unit = Some(arg.to_owned())
                }
                _ => return Err(at("unknown or repeated metadata".into())),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("comment that is not metadata".into()));
        }
        let s = parse_sample(line).map_err(at)?;
        let f = families
            .last_mut()
            .ok_or_else(|| at("sample before any metadata".into()))?;
        if f.kind.is_empty() {
            return Err(at(format!("family {} has no TYPE", f.name)));
        }
        let suffix = s
            .name
            .strip_prefix(f.name.as_str())
            .ok_or_else(|| at(format!("sample outside family {}", f.name)))?;
        let exemplar_ok = match (f.kind.as_str(), suffix) {
            ("counter", "_total") => {
                if !(s.value >= 0.0) {
                    return Err(at("counter is negative or NaN".into()));
                }
                true
            }
            ("histogram", "_bucket") => true,
            ("histogram", "_count" | "_sum") => false,
            ("gauge" | "unknown", "") => false,
            _ => {
                return Err(at(format!(
                    "sample name does not fit the {} family {}",
                    f.kind, f.name
                )))
            }
        };
        if s.exemplar.is_some() && !exemplar_ok {
            return Err(at("exemplar on a sample that may not have one".into()));
        }
        if f.kind == "histogram" && s.labels.iter().any(|(n, _)| n == "le") != (suffix == "_bucket")
        {
            return Err(at(
                "le where it does not belong, or a bucket without it".into()
            ));
        }
        if !series_seen.insert((s.name.clone(), prom::sorted(&s.labels))) {
            return Err(at("series printed twice".into()));
        }
        f.samples.push(s);
    }
    if families.last().is_some_and(|f| f.samples.is_empty()) {
        return Err("last family without samples".into());
    }
    for f in &families {
        if f.kind == "histogram" {
            let p = f.as_prom();
            prom::check_histogram(&p)?;
        }
    }
    Ok(families)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn good() {
        let t = "# HELP c x\\\"y\n# TYPE c counter\nc_total{a=\"1 # {b=\\\"2\\\"}\"} 3 # {trace_id=\"q\"} 1 1700000000.123\n\
# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {} 0.5 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n\
# TYPE g gauge\n# UNIT g_seconds seconds\n";
        assert!(
            parse(format!("{t}# EOF\n").as_bytes()).is_err(),
            "g has no samples"
        );
        let t = t.replace(
            "# TYPE g gauge\n# UNIT g_seconds seconds\n",
            "# TYPE g_seconds gauge\n# UNIT g_seconds seconds\ng_seconds -1\n",
        );
        let f = parse(format!("{t}# EOF\n").as_bytes()).unwrap();
        assert_eq!(f[0].help.as_deref(), Some("x\"y"));
        assert_eq!(f[0].samples[0].labels[0].1, "1 # {b=\"2\"}");
        assert_eq!(
            f[0].samples[0].exemplar.as_ref().unwrap().labels,
            vec![("trace_id".into(), "q".into())]
        );
        assert_eq!(f[1].samples[0].exemplar.as_ref().unwrap().labels, vec![]);
        assert_eq!(f[2].unit.as_deref(), Some("seconds"));
        assert!(parse(b"# EOF\n").unwrap().is_empty());
    }
    #[test]
    fn bad() {
        for t in [
            &b""[..],
            b"# EOF\n# EOF\n",
            b"# EOF",
            b"# TYPE c counter\nc 1\n# EOF\n",
            b"# TYPE c counter\nc_total 1\n# EOF\n\n",
            b"# TYPE g gauge\ng 1 # {a=\"b\"} 1 1\n# EOF\n",
            b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1 # {a=\"b\"} 1 1\nh_count 1\n# EOF\n",
            b"# TYPE c counter\nc_total 1 # {a=\"b\"} 1\n# EOF\n",
            b"# TYPE c counter\nc_total 1 2\n# EOF\n",
            b"# TYPE c counter\nc_total -1\n# EOF\n",
            b"# TYPE c counter\nc_total 1\n# TYPE c counter\nc_total 1\n# EOF\n",
        ] {
            assert!(parse(t).is_err(), "{:?}", String::from_utf8_lossy(t));
        }
        let long = format!(
            "# TYPE c counter\nc_total 1 # {{a=\"{}\"}} 1 1\n# EOF\n",
            "x".repeat(128)
        );
        assert!(parse(long.as_bytes()).is_err());
    }
}

//! The contract's rules, restated from the header's documentation (not taken from the
//! library), so the targets can say in advance whether a call must succeed.

/// Metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with `__`.
pub fn valid_metric_name(b: &[u8]) -> bool {
    valid_name(b, true)
}

/// A family name for a kind (0 counter, 1 gauge, 2 histogram, 3 summary): a valid metric
/// name, and not `_` for a histogram or summary, whose samples would then be `__bucket`,
/// `__sum`, `__count` (names starting with `__` are reserved).
pub fn valid_family_name(b: &[u8], kind: u32) -> bool {
    valid_metric_name(b) && !(b == b"_" && (kind == 2 || kind == 3))
}

/// Label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
pub fn valid_label_name(b: &[u8]) -> bool {
    valid_name(b, false)
}

fn valid_name(b: &[u8], colon: bool) -> bool {
    if b.is_empty() || b.starts_with(b"__") {
        return false;
    }
    let ok = |c: u8, first: bool| {
        c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':') || (!first && c.is_ascii_digit())
    };
    ok(b[0], true) && b[1..].iter().all(|&c| ok(c, false))
}

/// Histogram bounds as a metric keeps them: finite, strictly increasing; a trailing +Inf is
/// dropped (it is the implicit bucket). None when the bounds must be refused.
pub fn checked_buckets(b: &[f64]) -> Option<Vec<f64>> {
    let mut v = b.to_vec();
    if v.last() == Some(&f64::INFINITY) {
        v.pop();
    }
    if v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    if v.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    Some(v)
}

/// A series' identity: its label pairs sorted by name.
pub type Key = Vec<(String, String)>;

/// The series identity that labels given to MetricNew must map to, or None when MetricNew
/// must refuse them (invalid or repeated name, `le` on a histogram, bad UTF-8).
///
/// The contract for empty values: a label whose value is empty is the same as no label
/// (Prometheus itself treats `a=""` as absent), so it is not part of the identity and is not
/// printed. Its name must still be valid and not repeated.
pub fn series_key(labels: &[(Vec<u8>, Vec<u8>)], histogram: bool) -> Option<Key> {
    let mut key: Key = Vec::new();
    let mut names: Vec<&[u8]> = Vec::new();
    for (n, v) in labels {
        if !valid_label_name(n) || (histogram && n.as_slice() == b"le") {
            return None;
        }
        if names.contains(&n.as_slice()) {
            return None;
        }
        names.push(n);
        let n = std::str::from_utf8(n).ok()?;
        let v = std::str::from_utf8(v).ok()?;
        if !v.is_empty() || legacy() {
            key.push((n.to_owned(), v.to_owned()));
        }
    }
    key.sort();
    Some(key)
}

/// [`valid_metric_name`] (colon allowed) or [`valid_label_name`] on a str.
pub fn valid_name_str(s: &str, colon: bool) -> bool {
    valid_name(s.as_bytes(), colon)
}

/// `IM_FUZZ_LEGACY=1`: check the library as it was before issue 7 (handles were plain
/// pointers, so misuse of deleted, mistyped or forged handles is left out; a label with an
/// empty value was a label like any other).
pub fn legacy() -> bool {
    static L: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *L.get_or_init(|| std::env::var("IM_FUZZ_LEGACY").is_ok_and(|v| v == "1"))
}

/// The most UTF-8 characters (code points, not bytes) an exemplar's label names and values
/// may have together: the OpenMetrics limit.
pub const MAX_EXEMPLAR_CHARS: usize = 128;

/// The exemplar labels MetricIncrementWithExemplar / MetricObserveWithExemplar keep for these
/// (name, value) pairs (each from a live STRING parameter), sorted by name; None when the call
/// must refuse them: an invalid label name (label name rules, no `__` prefix), a name given
/// twice, bad UTF-8, or names and values together over [`MAX_EXEMPLAR_CHARS`] characters.
/// Unlike a series' labels, an empty value is kept (it is still part of the exemplar).
pub fn exemplar_labels(labels: &[(Vec<u8>, Vec<u8>)]) -> Option<Key> {
    let mut key: Key = Vec::new();
    let mut chars = 0;
    for (n, v) in labels {
        if !valid_label_name(n) {
            return None;
        }
        let n = std::str::from_utf8(n).ok()?;
        let v = std::str::from_utf8(v).ok()?;
        if key.iter().any(|(k, _)| k == n) {
            return None;
        }
        chars += n.chars().count() + v.chars().count();
        key.push((n.to_owned(), v.to_owned()));
    }
    if chars > MAX_EXEMPLAR_CHARS {
        return None;
    }
    key.sort();
    Some(key)
}

/// The OpenMetrics family name of a counter registered as `name`: without a `_total`
/// suffix (its samples are `<family>_total`); a name that is only `_total` keeps it.
pub fn openmetrics_counter_family(name: &str) -> &str {
    match name.strip_suffix("_total") {
        Some(base) if !base.is_empty() => base,
        _ => name,
    }
}

//! `negotiate_webconfig`: the two parsers of operator- and client-given text that issue 12
//! added, each fed anything. The first byte of an input picks which:
//!
//! - `W` + bytes: the bytes as a `web-config.yml` (written to a file of a temporary directory
//!   that also holds a valid `cert.pem`, `key.pem` and `ca.pem`, so TLS settings can load)
//!   through `infermetrics::exporter::webconfig::load`. It must return Ok or an error whose
//!   message names the file, and never panic; what it accepts sets only the response headers
//!   exporter-toolkit allows, and no user name with ':'. Inputs whose `*_file` settings name
//!   a path with `/` are skipped, so the loader reads nothing outside that directory (a
//!   device or FIFO named there would block or never end; that is the operator's doing).
//! - anything else: `<byte0><Accept>\n<Accept-Encoding>` (a missing line or a line `~`: the
//!   header is absent; byte0 with bit 0x20 clear, e.g. `N`: OpenMetrics enabled, set, e.g.
//!   `n`: disabled) through `infermetrics::exporter::encoding::negotiate`, checked against
//!   rules stated here from RFC 9110 and the issue, not from the library:
//!   - OpenMetrics disabled, or no `Accept`: Prometheus 0.0.4; no `Accept-Encoding`: no gzip;
//!   - no `gzip`, `x-gzip` or `*` coding listed: no gzip; every `gzip`/`x-gzip` entry with
//!     `q=0`: no gzip, whatever `*` says; a bare `gzip` entry: gzip;
//!   - no `application/openmetrics-text` listed, or every such entry with `q=0`: Prometheus;
//!     only `application/openmetrics-text` entries (no q or q=1, version absent or `1.0.0`)
//!     and OpenMetrics enabled: OpenMetrics;
//!   - the answer does not change when both headers are upper-cased (names and parameter
//!     names are case-insensitive) or when spaces are put around every `,` and `;` (OWS).
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;

use infermetrics::core::Format;
use infermetrics::exporter::encoding::negotiate;

/// One element of a comma-separated list: lowercased value, parameters (lowercased names,
/// trimmed values). RFC 9110 5.6.1 / 5.6.6 without quoted strings (the rules below that need
/// this reading are applied only to headers without `"`).
fn elements(h: &str) -> Vec<(String, Vec<(String, String)>)> {
    h.split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let v = parts.next()?.trim().to_ascii_lowercase();
            if v.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            Some((v, params))
        })
        .collect()
}

/// The weight of an element: Some(0) or Some(1000) for a single well-formed `q=0` / `q=1`
/// (RFC 9110 12.4.2 spellings), Some(1000) for no q; None for anything else.
fn weight(params: &[(String, String)]) -> Option<u16> {
    let qs: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "q")
        .map(|(_, v)| v.as_str())
        .collect();
    match qs.as_slice() {
        [] => Some(1000),
        [q] if ["0", "0.", "0.0", "0.00", "0.000"].contains(q) => Some(0),
        [q] if ["1", "1.", "1.0", "1.00", "1.000"].contains(q) => Some(1000),
        _ => None,
    }
}

fn check_negotiation(accept: Option<&str>, encoding: Option<&str>, om: bool) {
    let n = negotiate(accept, encoding, om);
    let what = format!("negotiate({accept:?}, {encoding:?}, {om}) = {n:?}");
    // the same request, spelled differently, gets the same answer
    let upper = |h: Option<&str>| h.map(|s| s.to_ascii_uppercase());
    let (ua, ue) = (upper(accept), upper(encoding));
    assert_eq!(
        negotiate(ua.as_deref(), ue.as_deref(), om),
        n,
        "upper-cased: {what}"
    );
    let spaced = |h: Option<&str>| {
        h.map(|s| {
            if s.contains('"') {
                s.to_owned()
            } else {
                s.replace(',', " , ").replace(';', " ; ")
            }
        })
    };
    let (sa, se) = (spaced(accept), spaced(encoding));
    assert_eq!(
        negotiate(sa.as_deref(), se.as_deref(), om),
        n,
        "with spaces: {what}"
    );

    if !om || accept.is_none() {
        assert_eq!(n.format, Format::Prometheus, "{what}");
    }
    match encoding {
        None => assert!(!n.gzip, "{what}"),
        Some(e) if !e.contains('"') => {
            let el = elements(e);
            let gz: Vec<_> = el
                .iter()
                .filter(|(v, _)| v == "gzip" || v == "x-gzip")
                .collect();
            if !el
                .iter()
                .any(|(v, _)| v == "gzip" || v == "x-gzip" || v == "*")
            {
                assert!(!n.gzip, "no gzip listed: {what}");
            }
            if !gz.is_empty() && gz.iter().all(|(_, p)| weight(p) == Some(0)) {
                assert!(!n.gzip, "gzip;q=0: {what}");
            }
            if gz.iter().any(|(v, p)| v == "gzip" && p.is_empty()) {
                assert!(n.gzip, "a bare gzip: {what}");
            }
        }
        Some(_) => {}
    }
    if let Some(a) = accept.filter(|a| !a.contains('"')) {
        let el = elements(a);
        let om_el: Vec<_> = el
            .iter()
            .filter(|(v, _)| v == "application/openmetrics-text")
            .collect();
        if om_el.iter().all(|(_, p)| weight(p) == Some(0)) {
            assert_eq!(
                n.format,
                Format::Prometheus,
                "OpenMetrics not asked for: {what}"
            );
        }
        let plain_om = |p: &[(String, String)]| {
            weight(p) == Some(1000)
                && p.iter()
                    .all(|(k, v)| k == "q" || (k == "version" && v == "1.0.0"))
        };
        if om && !el.is_empty() && el.len() == om_el.len() && om_el.iter().all(|(_, p)| plain_om(p))
        {
            assert_eq!(
                n.format,
                Format::OpenMetrics,
                "only OpenMetrics asked for: {what}"
            );
        }
    }
}

/// The directory the web config is written to, with valid PEM files beside it.
fn webconfig_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("imfuzz-webconfig-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cert.pem"), CERT).unwrap();
        std::fs::write(d.join("ca.pem"), CERT).unwrap();
        std::fs::write(d.join("key.pem"), KEY).unwrap();
        d
    })
}

/// A self-signed P-256 certificate for localhost and its key (test material only).
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUQpaLVFlpMKP5rs4PPFU85veGsLcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNzE5MDUxN1oYDzIxMjYxMTAz
MTkwNTE3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASNgrY4cdrYgtte6JcsBkTrgOJrSFIF3fgb/NQWtH1CUISB/gRGTQj4
EPeA6jYZs+JJyEy+QQxXyziRJtIu0jiyo1MwUTAdBgNVHQ4EFgQULzkE1dgideCy
nqqxouzsguaRrpQwHwYDVR0jBBgwFoAULzkE1dgideCynqqxouzsguaRrpQwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA9hRzHJz8lWnBBwgUNViy
kmDPkSX9jfOQKSfKOEPydmwCIFoiDYwGvKdLin68S6KMydD2PUCPuEt/1PUFMfkO
jbCA
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7blk+Sbf70ljCksq
g7PZA+M3APuf4LSEJr7b3dH9k5ihRANCAASNgrY4cdrYgtte6JcsBkTrgOJrSFIF
3fgb/NQWtH1CUISB/gRGTQj4EPeA6jYZs+JJyEy+QQxXyziRJtIu0jiy
-----END PRIVATE KEY-----
";

/// Whether a `*_file` setting anywhere in the parsed YAML names a path with `/` (then the
/// loader could read outside the fuzz directory: the input is skipped).
fn names_outside_file(v: &serde_norway::Value) -> bool {
    use serde_norway::Value;
    match v {
        Value::Mapping(m) => m.iter().any(|(k, v)| {
            let file_key = k.as_str().is_some_and(|k| k.ends_with("_file"));
            (file_key && !v.as_str().is_some_and(|s| !s.contains('/'))) || names_outside_file(v)
        }),
        Value::Sequence(s) => s.iter().any(names_outside_file),
        Value::Tagged(t) => names_outside_file(&t.value),
        _ => false,
    }
}

fn check_webconfig(bytes: &[u8]) {
    if let Ok(v) = serde_norway::from_slice::<serde_norway::Value>(bytes) {
        if names_outside_file(&v) {
            return;
        }
    }
    let path = webconfig_dir().join("web-config.yml");
    std::fs::write(&path, bytes).unwrap();
    match infermetrics::exporter::webconfig::load(&path) {
        Ok((cfg, deps)) => {
            assert_eq!(deps.first(), Some(&path), "the file itself is a dependency");
            const ALLOWED: [&str; 5] = [
                "strict-transport-security",
                "x-content-type-options",
                "x-frame-options",
                "x-xss-protection",
                "content-security-policy",
            ];
            for (n, _) in &cfg.headers {
                assert!(ALLOWED.contains(&n.as_str()), "header {n} accepted");
            }
            for u in cfg.users.keys() {
                assert!(!u.contains(':'), "user name {u:?} accepted");
            }
        }
        Err(e) => {
            let p = path.display().to_string();
            assert!(
                e.message.contains(&p),
                "error does not name the file: {}",
                e.message
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if first == b'W' {
        check_webconfig(rest);
        return;
    }
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.splitn(3, '\n');
    let header = |l: Option<&str>| l.filter(|l| *l != "~").map(str::to_owned);
    let accept = header(lines.next());
    let encoding = header(lines.next());
    check_negotiation(accept.as_deref(), encoding.as_deref(), first & 0x20 == 0);
});

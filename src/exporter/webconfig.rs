//! exporter-toolkit's `web-config.yml`: TLS, basic auth and extra response headers, read at
//! `ServerNew` and again whenever it (or a file it names) changes.
//!
//! The format is the one every official exporter and Prometheus itself read
//! (prometheus/exporter-toolkit, docs/web-configuration.md):
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # or cert: inline PEM
//!   key_file: server.key           # or key: inline PEM
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.crt         # or client_ca: inline PEM
//!   min_version: TLS12             # default TLS12
//!   max_version: TLS13             # default TLS13
//! http_server_config:
//!   headers: { Strict-Transport-Security: "max-age=31536000" }
//! basic_auth_users:
//!   alice: $2y$10$...              # bcrypt hashes
//! ```
//! As in the toolkit: unknown keys are errors; relative paths are relative to the file's
//! directory; only the headers `Strict-Transport-Security`, `X-Content-Type-Options`
//! (`nosniff`), `X-Frame-Options` (`deny`, `sameorigin`), `X-XSS-Protection` and
//! `Content-Security-Policy` may be set; a client CA without a `client_auth_type` that
//! verifies is an error. What rustls does not offer is an error rather than silently
//! ignored: TLS 1.0 / 1.1, `cipher_suites` and `curve_preferences` (rustls's ring provider
//! offers only modern suites and groups), `RequestClientCert` and `RequireAnyClientCert`
//! (a client certificate accepted unverified), `client_allowed_sans` and `rate_limit`.
//! `http_server_config.http2` is accepted and has no effect (the server speaks HTTP/1.1).
//!
//! # Reloading
//!
//! [`Watch::current`] runs on the I/O thread at each accept; at most once per
//! [`CHECK_EVERY`] it compares the device, inode, size and modification time of the file
//! and of the certificate, key and CA files it names with what was loaded, and reads them
//! again when any differs (a few small local files). A rotated certificate is served from
//! the next connection on, without restarting the host. A file that fails to load keeps the
//! last good configuration and is logged once (again only when it changes again).
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::core::{log, Error, Result};

/// How often [`Watch::current`] looks at the files' metadata at most.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    rate_limit: Option<serde_norway::Value>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    #[allow(dead_code)] // accepted as in the toolkit; this server speaks HTTP/1.1 only
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// The headers the toolkit lets a web config set, with their allowed values (empty: any).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// One loaded web config.
pub struct WebConfig {
    /// Serve TLS with this (None: plain HTTP).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// user -> bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish()
    }
}

/// What identifies the version of one file: (device, inode, size, mtime in ns); None when it
/// cannot be read.
type Stamp = (PathBuf, Option<(u64, u64, u64, i128)>);

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok().map(|m| {
        (
            m.dev(),
            m.ino(),
            m.size(),
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        )
    });
    (path.to_path_buf(), m)
}

fn err(file: &Path, key: &str, what: impl std::fmt::Display) -> Error {
    Error::invalid_arg(format!(
        "web config '{}': {}: {}",
        file.display(),
        key,
        what
    ))
}

/// The most bytes read from the web config or a file it names (PEM files and the YAML are a
/// few KB; a path naming something huge must not take the host's memory).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. Anything else (a FIFO, which would
/// block the thread that loads the config, a device such as /dev/zero, a directory) is an
/// error; opened non-blocking, so a file swapped for a FIFO after the check cannot block.
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Error as IoError, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(IoError::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if m.len() > MAX_FILE_BYTES {
        return Err(IoError::new(
            ErrorKind::InvalidInput,
            format!("{} bytes: larger than {} bytes", m.len(), MAX_FILE_BYTES),
        ));
    }
    let mut data = Vec::with_capacity(m.len() as usize);
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(IoError::new(
            ErrorKind::InvalidInput,
            format!("larger than {} bytes", MAX_FILE_BYTES),
        ));
    }
    Ok(data)
}

/// Reads and checks the web config at `path`; also returns the files it depends on.
pub fn load(path: &Path) -> Result<(WebConfig, Vec<PathBuf>)> {
    let text = read_small(path)
        .and_then(|b| {
            String::from_utf8(b).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8")
            })
        })
        .map_err(|e| {
            Error::invalid_arg(format!(
                "web config '{}': cannot read: {}",
                path.display(),
                e
            ))
        })?;
    let file: FileConfig = if text.trim().is_empty() {
        FileConfig::default()
    } else {
        // serde_norway's message names the key (e.g. "tls_server_config: unknown field
        // `cert_fil`, expected one of ...") and the line and column
        serde_norway::from_str(&text)
            .map_err(|e| Error::invalid_arg(format!("web config '{}': {}", path.display(), e)))?
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut deps = vec![path.to_path_buf()];
    if file.rate_limit.is_some() {
        return Err(err(path, "rate_limit", "is not supported by infermetrics"));
    }
    let tls = match &file.tls_server_config {
        None => None,
        Some(t) => Some(tls_config(path, dir, t, &mut deps)?),
    };
    let mut headers = Vec::new();
    if let Some(h) = file
        .http_server_config
        .as_ref()
        .and_then(|h| h.headers.as_ref())
    {
        for (name, value) in h {
            let key = format!("http_server_config.headers.{}", name);
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| n == name) else {
                return Err(err(
                    path,
                    &key,
                    format!(
                        "this header can not be configured (allowed: {})",
                        ALLOWED_HEADERS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(err(
                    path,
                    &key,
                    format!("'{}' is not one of {:?}", value, allowed),
                ));
            }
            let v = HeaderValue::from_str(value)
                .map_err(|_| err(path, &key, "not a valid header value"))?;
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| err(path, &key, "not a valid header name"))?;
            headers.push((n, v));
        }
    }
    let users = file.basic_auth_users.unwrap_or_default();
    for (user, hash) in &users {
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(err(
                path,
                &format!("basic_auth_users.{}", user),
                "not a bcrypt hash (make one with `htpasswd -nBC 10 USER`)",
            ));
        }
        if user.contains(':') {
            return Err(err(
                path,
                &format!("basic_auth_users.{}", user),
                "a user name cannot contain ':'",
            ));
        }
    }
    Ok((
        WebConfig {
            tls,
            users,
            headers,
        },
        deps,
    ))
}

fn version(
    file: &Path,
    key: &str,
    v: Option<&str>,
    default: &'static rustls::SupportedProtocolVersion,
) -> Result<&'static rustls::SupportedProtocolVersion> {
    match v {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(&rustls::version::TLS12),
        Some("TLS13") => Ok(&rustls::version::TLS13),
        Some(v @ ("TLS10" | "TLS11")) => Err(err(
            file,
            key,
            format!(
                "{} is not offered: rustls supports TLS 1.2 and 1.3 only (use TLS12 or TLS13)",
                v
            ),
        )),
        Some(v) => Err(err(
            file,
            key,
            format!("unknown TLS version '{}' (use TLS12 or TLS13)", v),
        )),
    }
}

/// Reads an inline PEM text or a file (relative to the config's directory).
fn pem_source(
    file: &Path,
    dir: &Path,
    inline: &Option<String>,
    path: &Option<String>,
    inline_key: &str,
    file_key: &str,
    deps: &mut Vec<PathBuf>,
) -> Result<Option<(Vec<u8>, String)>> {
    match (
        inline.as_deref().filter(|s| !s.is_empty()),
        path.as_deref().filter(|s| !s.is_empty()),
    ) {
        (Some(_), Some(_)) => Err(err(
            file,
            inline_key,
            format!("set either {} or {}, not both", inline_key, file_key),
        )),
        (Some(text), None) => Ok(Some((text.as_bytes().to_vec(), inline_key.to_string()))),
        (None, Some(p)) => {
            let full = dir.join(p);
            deps.push(full.clone());
            let data = read_small(&full).map_err(|e| {
                err(
                    file,
                    file_key,
                    format!("cannot read '{}': {}", full.display(), e),
                )
            })?;
            Ok(Some((data, format!("{} ('{}')", file_key, full.display()))))
        }
        (None, None) => Ok(None),
    }
}

fn tls_config(
    file: &Path,
    dir: &Path,
    t: &TlsFile,
    deps: &mut Vec<PathBuf>,
) -> Result<tokio_rustls::TlsAcceptor> {
    let key_of = |k: &str| format!("tls_server_config.{}", k);
    for (k, set) in [
        (
            "cipher_suites",
            t.cipher_suites.as_ref().is_some_and(|v| !v.is_empty()),
        ),
        (
            "curve_preferences",
            t.curve_preferences.as_ref().is_some_and(|v| !v.is_empty()),
        ),
        (
            "client_allowed_sans",
            t.client_allowed_sans
                .as_ref()
                .is_some_and(|v| !v.is_empty()),
        ),
    ] {
        if set {
            return Err(err(
                file,
                &key_of(k),
                "is not supported by infermetrics (rustls's ring provider chooses modern suites and groups itself)",
            ));
        }
    }
    let (cert_pem, cert_key) = pem_source(
        file,
        dir,
        &t.cert,
        &t.cert_file,
        &key_of("cert"),
        &key_of("cert_file"),
        deps,
    )?
    .ok_or_else(|| {
        err(
            file,
            "tls_server_config",
            "missing one of cert or cert_file",
        )
    })?;
    let (key_pem, key_key) = pem_source(
        file,
        dir,
        &t.key,
        &t.key_file,
        &key_of("key"),
        &key_of("key_file"),
        deps,
    )?
    .ok_or_else(|| err(file, "tls_server_config", "missing one of key or key_file"))?;
    let ca = pem_source(
        file,
        dir,
        &t.client_ca,
        &t.client_ca_file,
        &key_of("client_ca"),
        &key_of("client_ca_file"),
        deps,
    )?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| err(file, &cert_key, format!("not a PEM certificate: {}", e)))?;
    if certs.is_empty() {
        return Err(err(file, &cert_key, "no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| err(file, &key_key, format!("no PEM private key: {}", e)))?;
    let min = version(
        file,
        &key_of("min_version"),
        t.min_version.as_deref(),
        &rustls::version::TLS12,
    )?;
    let max = version(
        file,
        &key_of("max_version"),
        t.max_version.as_deref(),
        &rustls::version::TLS13,
    )?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match (min.version, max.version)
    {
        (rustls::ProtocolVersion::TLSv1_3, rustls::ProtocolVersion::TLSv1_2) => {
            return Err(err(
                file,
                &key_of("max_version"),
                "is lower than min_version",
            ))
        }
        (a, b) if a == b => vec![min],
        _ => vec![&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| err(file, "tls_server_config", e))?;
    let auth_key = key_of("client_auth_type");
    let auth = t.client_auth_type.as_deref().unwrap_or("");
    let verify = match auth {
        "" | "NoClientCert" => None,
        "VerifyClientCertIfGiven" => Some(true),
        "RequireAndVerifyClientCert" => Some(false),
        "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
            return Err(err(
                file,
                &auth_key,
                format!(
                    "{} (a client certificate taken unverified) is not supported: use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                    auth
                ),
            ))
        }
        other => {
            return Err(err(
                file,
                &auth_key,
                format!(
                    "invalid ClientAuth '{}' (NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
                    other
                ),
            ))
        }
    };
    let builder = match (verify, ca) {
        (None, None) => builder.with_no_client_auth(),
        (None, Some(_)) => {
            return Err(err(
                file,
                &auth_key,
                "client CA's have been configured without a Client Auth Policy",
            ))
        }
        (Some(_), None) => {
            return Err(err(
                file,
                &key_of("client_ca_file"),
                format!(
                    "client_auth_type {} needs client_ca_file or client_ca",
                    auth
                ),
            ))
        }
        (Some(optional), Some((pem, ca_key))) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c =
                    c.map_err(|e| err(file, &ca_key, format!("not a PEM certificate: {}", e)))?;
                roots
                    .add(c)
                    .map_err(|e| err(file, &ca_key, format!("not a usable CA: {}", e)))?;
            }
            if roots.is_empty() {
                return Err(err(file, &ca_key, "no PEM certificate found"));
            }
            let mut v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            );
            if optional {
                v = v.allow_unauthenticated();
            }
            let v = v.build().map_err(|e| err(file, &ca_key, e))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(file, &format!("{} / {}", cert_key, key_key), e))?;
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The web config of one server, re-read when it changes. Owned by the I/O thread.
pub struct Watch {
    path: PathBuf,
    current: Arc<WebConfig>,
    stamps: Vec<Stamp>,
    checked: Instant,
    /// The stamps of the last version that failed to load (logged once).
    failed: Option<Vec<Stamp>>,
}

impl Watch {
    /// Loads `path`; an error names the file and the key.
    pub fn load(path: &Path) -> Result<Watch> {
        let before: Vec<Stamp> = vec![stamp(path)];
        let (config, deps) = load(path)?;
        let mut stamps: Vec<Stamp> = deps.iter().map(|p| stamp(p)).collect();
        // the file itself as it was before reading: a change while loading is seen later
        stamps[0] = before[0].clone();
        Ok(Watch {
            path: path.to_path_buf(),
            current: Arc::new(config),
            stamps,
            checked: Instant::now(),
            failed: None,
        })
    }

    pub fn tls(&self) -> bool {
        self.current.tls.is_some()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration to use now (re-read first if a file changed, at most once per
    /// [`CHECK_EVERY`]).
    pub fn current(&mut self) -> Arc<WebConfig> {
        if self.checked.elapsed() >= CHECK_EVERY {
            self.checked = Instant::now();
            self.reload_if_changed();
        }
        Arc::clone(&self.current)
    }

    fn reload_if_changed(&mut self) {
        let now: Vec<Stamp> = self.stamps.iter().map(|(p, _)| stamp(p)).collect();
        if now == self.stamps {
            return;
        }
        let loaded = load(&self.path).and_then(|(c, deps)| {
            if c.tls.is_some() != self.current.tls.is_some() {
                return Err(Error::invalid_arg(format!(
                    "web config '{}': tls_server_config was {}: switching between TLS and plain HTTP needs a restart of the server",
                    self.path.display(),
                    if c.tls.is_some() { "added" } else { "removed" }
                )));
            }
            Ok((c, deps))
        });
        match loaded {
            Ok((c, deps)) => {
                let mut stamps: Vec<Stamp> = deps.iter().map(|p| stamp(p)).collect();
                stamps[0] = now[0].clone();
                self.current = Arc::new(c);
                self.stamps = stamps;
                self.failed = None;
                log::info(&format!("web config '{}' reloaded", self.path.display()));
            }
            Err(e) => {
                if self.failed.as_ref() != Some(&now) {
                    log::error(&format!("{}; keeping the last good web config", e.message));
                    self.failed = Some(now);
                }
            }
        }
    }

    #[cfg(test)]
    fn force_check(&mut self) {
        self.checked = Instant::now() - CHECK_EVERY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "infermetrics-webconfig-{}-{}",
            tag,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn error_of(text: &str) -> String {
        let d = tmpdir("err");
        let p = write(&d, "web.yml", text);
        load(&p).unwrap_err().message
    }

    #[test]
    fn parses_auth_and_headers() {
        let d = tmpdir("ok");
        let hash = bcrypt::hash("password", 4).unwrap();
        let p = write(
            &d,
            "web.yml",
            &format!(
                "basic_auth_users:\n  alice: {}\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=1\n",
                hash
            ),
        );
        let (c, deps) = load(&p).unwrap();
        assert!(c.tls.is_none());
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.headers.len(), 2);
        assert_eq!(deps, vec![p.clone()]);
        assert!(bcrypt::verify("password", &c.users["alice"]).unwrap());
        // an empty file is a valid, empty config
        let p = write(&d, "empty.yml", "\n");
        let (c, _) = load(&p).unwrap();
        assert!(c.tls.is_none() && c.users.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let m = error_of("tls_server_config:\n  cert_fil: x\n");
        assert!(
            m.contains("web.yml") && m.contains("cert_fil") && m.contains("line 2"),
            "{}",
            m
        );
        let m = error_of("basic_auth_user:\n  a: b\n");
        assert!(m.contains("basic_auth_user"), "{}", m);
        let m = error_of("basic_auth_users:\n  a: notahash\n");
        assert!(
            m.contains("basic_auth_users.a") && m.contains("bcrypt"),
            "{}",
            m
        );
        let m = error_of("http_server_config:\n  headers:\n    X-Powered-By: me\n");
        assert!(
            m.contains("http_server_config.headers.X-Powered-By"),
            "{}",
            m
        );
        let m = error_of("http_server_config:\n  headers:\n    X-Frame-Options: allow\n");
        assert!(m.contains("X-Frame-Options"), "{}", m);
        let m = error_of("tls_server_config:\n  key_file: k\n");
        assert!(m.contains("missing one of cert or cert_file"), "{}", m);
        let m = error_of("tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: k\n");
        assert!(
            m.contains("tls_server_config.cert_file") && m.contains("/nonexistent/c.pem"),
            "{}",
            m
        );
        let m = error_of("rate_limit:\n  burst: 1\n");
        assert!(m.contains("rate_limit"), "{}", m);
        let m = error_of("tls_server_config: [\n");
        assert!(m.contains("web.yml") && m.contains("line"), "{}", m);
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let d = tmpdir("files");
        // a FIFO would block the loading thread until a writer came: refused at once
        let fifo = d.join("key.fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let m = error_of(&format!(
            "tls_server_config:\n  cert_file: /dev/zero\n  key_file: {}\n",
            fifo.display()
        ));
        assert!(
            m.contains("cert_file") && m.contains("not a regular file"),
            "{}",
            m
        );
        let m = error_of(&format!(
            "tls_server_config:\n  cert: x\n  key_file: {}\n",
            fifo.display()
        ));
        assert!(
            m.contains("key_file") && m.contains("not a regular file"),
            "{}",
            m
        );
        // the config itself: a FIFO, and a file over the limit
        let e = load(&fifo).unwrap_err().message;
        assert!(e.contains("not a regular file"), "{}", e);
        let big = write(&d, "big.yml", &"#\n".repeat(600_000));
        let e = load(&big).unwrap_err().message;
        assert!(e.contains("big.yml") && e.contains("larger than"), "{}", e);
    }

    #[test]
    fn reloads_and_keeps_the_last_good() {
        let d = tmpdir("reload");
        let hash = bcrypt::hash("pw", 4).unwrap();
        let p = write(
            &d,
            "web.yml",
            &format!("basic_auth_users:\n  a: {}\n", hash),
        );
        let mut w = Watch::load(&p).unwrap();
        assert!(!w.tls());
        assert!(w.current().users.contains_key("a"));
        // not looked at again within CHECK_EVERY
        write(
            &d,
            "web.yml",
            &format!("basic_auth_users:\n  bb: {}\n", hash),
        );
        assert!(w.current().users.contains_key("a"));
        w.force_check();
        assert!(w.current().users.contains_key("bb"));
        write(&d, "web.yml", "basic_auth_users: [\n");
        w.force_check();
        let c = w.current();
        assert!(c.users.contains_key("bb"), "the last good config is kept");
        assert!(w.failed.is_some());
    }
}

//! The HTTP side of the server: a small HTTP/1.1 server for `GET /metrics`, on std sockets.
//!
//! Why not `tiny_http` (the crate first planned here): version 0.12, the latest, cannot meet
//! what the server must guarantee, and none of it can be fixed from outside the crate:
//! - it reads a request header line with no size limit: one client streaming a header grew
//!   the server to 208 MB of memory in our hostile-client test;
//! - its accept thread and connection pool are detached: after the server is dropped, pool
//!   threads linger about 5 s, so `ServerDelete` cannot join them, and keep-alive connections
//!   it accepted stay open (a request on one got a 500 after 10 s);
//! - its accept thread ends for good on any accept error (EMFILE, or a receive timeout set
//!   on the listener so that accepted sockets inherit it);
//! - with Nagle on it writes headers and body separately, which costs a delayed ACK (~40 ms)
//!   per keep-alive response unless TCP_NODELAY is set.
//!
//! This server: TCP_NODELAY on every connection and each response written in one call;
//! keep-alive (HTTP/1.1 default, HTTP/1.0 on request) with pipelined requests; `GET`/`HEAD`
//! on `/metrics` and `/metrics/` (query ignored), 404 for other paths, 405 for other methods;
//! the request head capped at [`MAX_HEAD`] bytes (431), a request body at [`MAX_BODY`] (413);
//! a whole request head must arrive within [`IO_TIMEOUT`], an idle keep-alive connection is
//! closed after [`IDLE_TIMEOUT`]; at most [`MAX_CONNECTIONS`] connections, the oldest idle one
//! closed to make room; one thread per connection, every one joined by `shutdown`.
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{Exposition, StopSignal};
use crate::core::{log, Error, Result};

/// Time allowed for a whole request head once its first byte arrived, and for each write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle keep-alive connection (or a new one that sends nothing) is closed after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request line plus headers.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body read (and discarded).
pub const MAX_BODY: usize = 64 * 1024;
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How often the accept loop looks at the stop flag when nothing wakes it.
const ACCEPT_TICK: Duration = Duration::from_millis(250);
/// How long shutdown lets a response being written finish before cutting it off.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

/// Parses a bind address: an IPv4 or IPv6 literal (brackets allowed), or "localhost".
pub fn parse_ip(address: &str) -> Result<IpAddr> {
    let a = address.trim();
    let a = a
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(a);
    if a.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    a.parse::<IpAddr>().map_err(|_| {
        Error::invalid_arg(format!(
            "invalid address '{}': expected an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1, :: or ::1",
            address
        ))
    })
}

/// Creates the listening socket, bound before this returns.
pub fn bind(address: &str, port: u16) -> Result<TcpListener> {
    let ip = parse_ip(address)?;
    let sa = SocketAddr::new(ip, port);
    let sys = |what: &str, e: std::io::Error| {
        Error::unavailable(format!(
            "cannot {} socket '{}:{}': {}",
            what, address, port, e
        ))
    };
    let s = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| sys("create", e))?;
    s.set_reuse_address(true).map_err(|e| sys("configure", e))?;
    if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        // "::" serves IPv4 clients too, whatever the system default
        let _ = s.set_only_v6(false);
    }
    // bounds accept() so the loop sees the stop flag even if the wake-up connection fails
    s.set_read_timeout(Some(ACCEPT_TICK))
        .map_err(|e| sys("configure", e))?;
    s.bind(&sa.into()).map_err(|e| match e.kind() {
        ErrorKind::AddrInUse => {
            Error::unavailable(format!("Socket '{}:{}' already in use", address, port))
        }
        _ => sys("bind", e),
    })?;
    s.listen(1024).map_err(|e| sys("listen on", e))?;
    Ok(s.into())
}

/// Where to connect to reach a listener (loopback for a wildcard address).
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v) if v.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(v) if v.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

fn now_ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// One live connection, as the accept loop and shutdown see it.
struct Conn {
    stream: TcpStream,
    thread: JoinHandle<()>,
    /// Waiting for the first byte of a request (so it may be closed to make room).
    idle: Arc<AtomicBool>,
    /// When it last became idle, in ms since the server's epoch.
    idle_since: Arc<AtomicU64>,
}

#[derive(Default)]
struct Conns {
    live: Mutex<HashMap<u64, Conn>>,
}

impl Conns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the threads of connections that ended.
    fn reap(&self) {
        let done: Vec<Conn> = {
            let mut live = self.lock();
            let ids: Vec<u64> = live
                .iter()
                .filter(|(_, c)| c.thread.is_finished())
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter().filter_map(|id| live.remove(&id)).collect()
        };
        for c in done {
            let _ = c.thread.join();
        }
    }

    /// Makes room for one more connection; false when every connection is busy.
    fn make_room(&self) -> bool {
        let live = self.lock();
        if live.len() < MAX_CONNECTIONS {
            return true;
        }
        let oldest_idle = live
            .values()
            .filter(|c| c.idle.load(Ordering::Acquire))
            .min_by_key(|c| c.idle_since.load(Ordering::Acquire));
        match oldest_idle {
            Some(c) => {
                let _ = c.stream.shutdown(Shutdown::Both);
                true
            }
            None => false,
        }
    }
}

pub struct HttpServer {
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Conns>,
}

impl HttpServer {
    pub fn start(
        listener: TcpListener,
        exposition: Arc<Exposition>,
        stop: Arc<StopSignal>,
    ) -> Result<HttpServer> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("local_addr: {}", e)))?;
        let conns = Arc::new(Conns::default());
        let c = Arc::clone(&conns);
        let accept = spawn("infermetrics-http", move || {
            accept_loop(listener, exposition, stop, c)
        })?;
        Ok(HttpServer {
            addr,
            accept: Some(accept),
            conns,
        })
    }

    /// Stops accepting (the port is free when this returns), lets responses being written
    /// finish for a short grace period, then closes every connection and joins its thread.
    /// The stop signal must already be set.
    pub fn shutdown(mut self) {
        // wake accept() at once; ACCEPT_TICK bounds the wait if this connection fails
        let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_millis(100));
        if let Some(t) = self.accept.take() {
            let _ = t.join(); // the listener is closed when this thread ends
        }
        // idle connections end now; busy ones finish their response, then see the stop flag
        for c in self.conns.lock().values() {
            if c.idle.load(Ordering::Acquire) {
                let _ = c.stream.shutdown(Shutdown::Both);
            }
        }
        super::wait_until(SHUTDOWN_GRACE, || {
            self.conns.lock().values().all(|c| c.thread.is_finished())
        });
        let rest: Vec<Conn> = self.conns.lock().drain().map(|(_, c)| c).collect();
        for c in &rest {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        for c in rest {
            let _ = c.thread.join();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(256 * 1024)
        .spawn(f)
        .map_err(|e| Error::internal(format!("cannot start thread {}: {}", name, e)))
}

fn accept_loop(
    listener: TcpListener,
    exposition: Arc<Exposition>,
    stop: Arc<StopSignal>,
    conns: Arc<Conns>,
) {
    let epoch = Instant::now();
    let mut next_id = 0u64;
    let mut logged_error = false;
    while !stop.is_stopped() {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                conns.reap();
                continue;
            }
            Err(e) => {
                // e.g. out of file descriptors: keep serving the connections we have
                if !logged_error {
                    log::error(&format!(
                        "metrics server cannot accept connections: {} (retrying)",
                        e
                    ));
                    logged_error = true;
                }
                conns.reap();
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        logged_error = false;
        if stop.is_stopped() {
            break;
        }
        conns.reap();
        if !conns.make_room() {
            let _ = stream.shutdown(Shutdown::Both); // every connection is mid-request
            continue;
        }
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let idle = Arc::new(AtomicBool::new(true));
        let idle_since = Arc::new(AtomicU64::new(now_ms(epoch)));
        let (e, st, i, s2) = (
            Arc::clone(&exposition),
            Arc::clone(&stop),
            Arc::clone(&idle),
            Arc::clone(&idle_since),
        );
        let thread = match spawn("infermetrics-conn", move || {
            let mut stream = stream;
            serve_connection(&mut stream, &e, &st, &i, &s2, epoch);
            // the accept loop holds a clone of this socket until it reaps the thread: shut the
            // connection down now so the client sees the close at once
            let _ = stream.shutdown(Shutdown::Both);
        }) {
            Ok(t) => t,
            Err(e) => {
                log::error(&e.message);
                continue;
            }
        };
        conns.lock().insert(
            next_id,
            Conn {
                stream: handle,
                thread,
                idle,
                idle_since,
            },
        );
        next_id += 1;
    }
}

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    keep_alive: bool,
    content_length: usize,
}

fn parse_head(raw: &[u8]) -> std::result::Result<Head, (u16, &'static str)> {
    let text = std::str::from_utf8(raw).map_err(|_| (400, "request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err((400, "malformed request line")),
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err((505, "only HTTP/1.0 and HTTP/1.1 are supported")),
    };
    let mut keep_alive = http11;
    let mut content_length = 0usize;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or((400, "malformed header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| (400, "bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err((
                501,
                "request bodies with Transfer-Encoding are not supported",
            ));
        }
    }
    if content_length > MAX_BODY {
        return Err((413, "request body too large"));
    }
    // origin-form ("/metrics?x") or absolute-form ("http://host/metrics")
    let path = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map(|j| &target[i + 3 + j..])
            .unwrap_or("/"),
        None => target,
    };
    let path = path.split('?').next().unwrap_or("").to_string();
    Ok(Head {
        method: method.to_string(),
        path,
        keep_alive,
        content_length,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Writes a whole response in one call (no Nagle interplay). Returns false on a write error.
fn write_response(
    s: &mut TcpStream,
    status: u16,
    content_type: &str,
    extra: &str,
    body: &[u8],
    send_body: bool,
    close: bool,
) -> bool {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
        status,
        reason(status),
        content_type,
        body.len(),
        extra,
        if close { "Connection: close\r\n" } else { "" }
    );
    let mut out = Vec::with_capacity(head.len() + if send_body { body.len() } else { 0 });
    out.extend_from_slice(head.as_bytes());
    if send_body {
        out.extend_from_slice(body);
    }
    s.write_all(&out).is_ok()
}

fn error_response(s: &mut TcpStream, status: u16, why: &str) {
    let _ = write_response(
        s,
        status,
        "text/plain; charset=utf-8",
        "",
        format!("{}\n", why).as_bytes(),
        true,
        true,
    );
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn serve_connection(
    s: &mut TcpStream,
    exposition: &Exposition,
    stop: &StopSignal,
    idle: &AtomicBool,
    idle_since: &AtomicU64,
    epoch: Instant,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        // 1. the request head: IDLE_TIMEOUT for its first byte, IO_TIMEOUT for all of it
        let mut started: Option<Instant> = if buf.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        idle.store(started.is_none(), Ordering::Release);
        idle_since.store(now_ms(epoch), Ordering::Release);
        let head_len = loop {
            if let Some(n) = find_head_end(&buf) {
                break n;
            }
            if buf.len() >= MAX_HEAD {
                return error_response(s, 431, "request head larger than 16 KiB");
            }
            if stop.is_stopped() && started.is_none() {
                return;
            }
            let wait = match started {
                None => IDLE_TIMEOUT,
                Some(t) => match IO_TIMEOUT.checked_sub(t.elapsed()) {
                    Some(w) if !w.is_zero() => w,
                    _ => return error_response(s, 408, "request head not received in time"),
                },
            };
            let _ = s.set_read_timeout(Some(wait));
            let room = (MAX_HEAD + 4 - buf.len()).min(chunk.len());
            match s.read(&mut chunk[..room]) {
                Ok(0) => return,
                Ok(n) => {
                    if started.is_none() {
                        started = Some(Instant::now());
                        idle.store(false, Ordering::Release);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if started.is_some() {
                        return error_response(s, 408, "request head not received in time");
                    }
                    return; // idle keep-alive connection: close quietly
                }
                Err(_) => return,
            }
        };
        idle.store(false, Ordering::Release);
        let head = match parse_head(&buf[..head_len - 4]) {
            Ok(h) => h,
            Err((status, why)) => return error_response(s, status, why),
        };
        // 2. a body, if any, is read and discarded
        let mut consumed = head_len;
        let mut need = head.content_length;
        let have = (buf.len() - consumed).min(need);
        consumed += have;
        need -= have;
        while need > 0 {
            let want = need.min(chunk.len());
            match s.read(&mut chunk[..want]) {
                Ok(0) | Err(_) => return,
                Ok(n) => need -= n,
            }
        }
        buf.drain(..consumed);
        // 3. the answer
        let close = !head.keep_alive || stop.is_stopped();
        let ok = if head.path != "/metrics" && head.path != "/metrics/" {
            write_response(
                s,
                404,
                "text/plain; charset=utf-8",
                "",
                b"Not Found: metrics are served at /metrics\n",
                true,
                close,
            )
        } else if head.method != "GET" && head.method != "HEAD" {
            write_response(
                s,
                405,
                "text/plain; charset=utf-8",
                "Allow: GET, HEAD\r\n",
                b"Method Not Allowed: use GET /metrics\n",
                true,
                close,
            )
        } else {
            let mut body = String::with_capacity(16 * 1024);
            exposition.render(&mut body);
            write_response(
                s,
                200,
                CONTENT_TYPE,
                "",
                body.as_bytes(),
                head.method == "GET",
                close,
            )
        };
        if !ok || close {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let h = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nConnection: Close")
            .ok()
            .unwrap();
        assert_eq!(
            (h.method.as_str(), h.path.as_str(), h.keep_alive),
            ("GET", "/metrics", false)
        );
        let h = parse_head(b"GET http://h:1/metrics/ HTTP/1.0\r\nConnection: keep-alive")
            .ok()
            .unwrap();
        assert_eq!((h.path.as_str(), h.keep_alive), ("/metrics/", true));
        assert!(!parse_head(b"GET / HTTP/1.0").ok().unwrap().keep_alive);
        assert_eq!(parse_head(b"GET /metrics HTTP/2.0").err().unwrap().0, 505);
        assert_eq!(parse_head(b"garbage").err().unwrap().0, 400);
        assert_eq!(
            parse_head(b"POST / HTTP/1.1\r\nContent-Length: 999999")
                .err()
                .unwrap()
                .0,
            413
        );
        assert_eq!(
            parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked")
                .err()
                .unwrap()
                .0,
            501
        );
    }

    #[test]
    fn addresses() {
        assert!(
            parse_ip("::1").is_ok() && parse_ip("[::]").is_ok() && parse_ip("localhost").is_ok()
        );
        assert!(
            parse_ip("300.1.1.1").is_err() && parse_ip("").is_err() && parse_ip("bogus").is_err()
        );
    }
}

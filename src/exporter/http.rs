//! The HTTP side of the server, on `tiny_http`.
//!
//! tiny_http as shipped needs four things done around it:
//! - Nagle: it writes headers and body separately, so with Nagle on every keep-alive response
//!   waits for a delayed ACK (~40 ms). We set TCP_NODELAY on the listening socket (accepted
//!   sockets inherit it on Linux) and hand it over with `Server::from_listener`.
//! - Slow or hostile clients: we set receive and send timeouts on the listening socket, which
//!   accepted sockets inherit, so a client that never sends its request, or never reads the
//!   answer, holds only its own connection thread, and only for [`IO_TIMEOUT`]; several
//!   responder threads answer requests, so one stuck write does not stop other scrapes.
//! - The receive timeout also bounds `accept()`, and tiny_http's accept thread ends on any
//!   accept error. A heartbeat thread therefore connects to the server well within the
//!   timeout, and if the accept thread ends anyway (say, out of file descriptors) a responder
//!   starts a new tiny_http server on the same listening socket.
//! - tiny_http's listener lives on its own detached thread; on shutdown we wait until the
//!   port refuses connections, so the port is free when `ServerDelete` returns.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{Exposition, StopSignal};
use crate::core::{log, Error, Result};

/// Receive/send timeout of every connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(2);
const RESPONDERS: usize = 4;
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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
    s.set_nodelay(true).map_err(|e| sys("configure", e))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| sys("configure", e))?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| sys("configure", e))?;
    s.bind(&sa.into()).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
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

pub struct HttpServer {
    current: Arc<RwLock<Arc<tiny_http::Server>>>,
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    current: Arc<RwLock<Arc<tiny_http::Server>>>,
    /// A second handle on the listening socket, to restart tiny_http if its accept thread ends.
    listener: TcpListener,
    exposition: Arc<Exposition>,
    stop: Arc<StopSignal>,
}

fn tiny(listener: &TcpListener) -> std::io::Result<Arc<tiny_http::Server>> {
    let l = listener.try_clone()?;
    tiny_http::Server::from_listener(l, None)
        .map(Arc::new)
        .map_err(|e| std::io::Error::other(e.to_string()))
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
        let first = tiny(&listener)
            .map_err(|e| Error::internal(format!("cannot start HTTP server: {}", e)))?;
        let current = Arc::new(RwLock::new(first));
        let shared = Arc::new(Shared {
            current: Arc::clone(&current),
            listener,
            exposition,
            stop,
        });
        let mut threads = Vec::new();
        for i in 0..RESPONDERS {
            let s = Arc::clone(&shared);
            threads.push(spawn(&format!("infermetrics-http{}", i), move || {
                respond_loop(&s)
            })?);
        }
        let s = Arc::clone(&shared);
        threads.push(spawn("infermetrics-heartbeat", move || {
            let target = reachable(addr);
            while !s.stop.wait(HEARTBEAT) {
                // keeps tiny_http's accept() from timing out (see module docs)
                let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
            }
        })?);
        Ok(HttpServer {
            current,
            addr,
            threads,
        })
    }

    /// Joins the threads (the stop signal is already set) and waits for the port to close.
    pub fn shutdown(mut self) {
        {
            let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
            for _ in 0..RESPONDERS {
                cur.unblock();
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let last = Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()));
        drop(self.current);
        // dropping the last handle closes tiny_http's accept thread; it owns the listener
        drop(last);
        let target = reachable(self.addr);
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            match TcpStream::connect_timeout(&target, Duration::from_millis(50)) {
                Err(_) => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| Error::internal(format!("cannot start thread {}: {}", name, e)))
}

fn respond_loop(s: &Shared) {
    // blocks in recv(); shutdown and restarts wake it with tiny_http's queued unblock()
    while !s.stop.is_stopped() {
        let server = Arc::clone(&s.current.read().unwrap_or_else(|p| p.into_inner()));
        match server.recv() {
            Ok(rq) => respond(&s.exposition, rq),
            Err(e) => {
                if s.stop.is_stopped() {
                    break;
                }
                let mut cur = s.current.write().unwrap_or_else(|p| p.into_inner());
                if !Arc::ptr_eq(&cur, &server) {
                    continue; // another responder restarted it: use the new one
                }
                log::error(&format!(
                    "HTTP accept loop ended ({}); restarting it on the same socket",
                    e
                ));
                match tiny(&s.listener) {
                    Ok(fresh) => {
                        let old = std::mem::replace(&mut *cur, fresh);
                        for _ in 0..RESPONDERS {
                            old.unblock(); // the others are blocked on the old one
                        }
                    }
                    Err(e) => {
                        log::error(&format!("cannot restart the HTTP accept loop: {}", e));
                        drop(cur);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("static header is valid")
}

fn respond(exposition: &Exposition, rq: tiny_http::Request) {
    use tiny_http::{Method, Response, StatusCode};
    let path = rq.url().split('?').next().unwrap_or("");
    let response = if path != "/metrics" && path != "/metrics/" {
        Response::from_string("Not Found: metrics are served at /metrics\n")
            .with_status_code(StatusCode(404))
            .with_header(header("Content-Type", "text/plain; charset=utf-8"))
    } else if !matches!(rq.method(), Method::Get | Method::Head) {
        Response::from_string("Method Not Allowed: use GET /metrics\n")
            .with_status_code(StatusCode(405))
            .with_header(header("Allow", "GET, HEAD"))
            .with_header(header("Content-Type", "text/plain; charset=utf-8"))
    } else {
        let mut body = String::with_capacity(16 * 1024);
        exposition.render(&mut body);
        Response::from_data(body.into_bytes()).with_header(header("Content-Type", CONTENT_TYPE))
    };
    // a client that went away is its own problem; nothing to report
    let _ = rq.respond(response);
}

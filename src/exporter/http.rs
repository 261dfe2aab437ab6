//! The HTTP side of the server: hyper's HTTP/1.1 server on one thread, rendering on another.
//!
//! # Why hyper
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
//! Why not our own parser either (the thread-per-connection server that replaced tiny_http):
//! an attacker's probe broke it. 1,500 idle connections made 513 threads and exhausted the
//! host's file descriptors (the host's own `open()` failed with EMFILE); 300 "slowloris"
//! connections dripping a header byte per second starved normal scrapes; a request body had
//! no overall deadline; bare-LF requests and HTTP/0.9 waited 10 s for a head that never
//! came; `Host : x`, a NUL in a header, a missing or doubled Host got 200; two different
//! Content-Lengths and `Content-Length: +5` were accepted. Each is one more rule in a parser
//! of our own, and the list does not end; hyper's (httparse) is fuzzed and used everywhere.
//!
//! # What hyper gives, and what we add
//!
//! hyper 1.x (`server::conn::http1`) parses and writes HTTP/1.x: keep-alive, pipelining,
//! HTTP/1.0, chunked and Content-Length framing, and the strict parse errors: whitespace
//! before a header's colon, a NUL or other control byte in a header, obsolete line folding,
//! an invalid or doubled-and-different Content-Length, a method that is not a token, binary
//! garbage (a TLS ClientHello) are all answered `400` and the connection closed at once. An
//! HTTP/2 preface (`PRI * HTTP/2.0`) is closed without an answer (or answered `400` if only
//! part of it came). A head larger than [`MAX_HEAD`] (or with more than 100 fields) gets
//! `431` and a close. A request with both Transfer-Encoding and Content-Length is read by
//! Transfer-Encoding alone, and the connection is closed after the answer.
//!
//! Versions: hyper's parser takes exactly `HTTP/1.0` and `HTTP/1.1`. `HTTP/1.2` (which RFC
//! 9110 would have a server treat as 1.1) and any other version get `400`. HTTP/0.9
//! (`GET /metrics` and CRLF, no version) gets `400` as soon as the line ends. Bare LF line
//! endings are accepted (`GET /metrics HTTP/1.1\nHost: x\n\n` is answered `200` at once).
//!
//! What the service adds (RFC 9112 3.2): an HTTP/1.1 request without a Host header, or any
//! request with two, gets `400`. `GET`/`HEAD` on `/metrics` and `/metrics/` (query ignored)
//! get `200` in the negotiated format and encoding (see below); other paths `404`; other methods `405` with `Allow`.
//! Request bodies are never read: a request that has one is answered from its head (`413` if
//! its Content-Length exceeds [`MAX_BODY`]) with `Connection: close`, and the connection is
//! closed after the answer, so a client dripping a body costs nothing.
//!
//! # Negotiation, TLS and authentication
//!
//! The service negotiates each request with [`encoding::negotiate`] (`Accept`,
//! `Accept-Encoding`) and asks the render thread for that format and encoding; the render
//! thread renders once per distinct format in a batch and gzips once per format asked for
//! gzipped. Responses say `Vary: Accept-Encoding` (and `Accept` when OpenMetrics is offered).
//!
//! With a web config (`webconfig.rs`), the accept loop takes the config in force for each new
//! connection ([`Watch::current`], which re-reads changed files at most once a second). With
//! TLS, the connection's first byte must start a TLS record: anything else (plain HTTP) is
//! answered Go's `400 Client sent an HTTP request to an HTTPS server.` and closed; the
//! handshake's bytes count as a request head's (same deadline; a victim of the cap like a
//! partial head), and once it is done the connection is idle until its first request.
//! Basic auth: see [`Auth`] (bcrypt on the `infermetrics-auth` thread, never on this one).
//!
//! # Threads
//!
//! One thread, `infermetrics-http`, runs a current-thread tokio runtime (`block_on`) that
//! accepts and serves every connection. Rendering never runs there: the service sends a
//! render request to the server's `infermetrics-render` thread and awaits the answer on a
//! oneshot channel; requests that queue while that thread is busy are answered together by
//! its next render. So a render of a million series delays no other connection's I/O. No
//! `spawn_blocking` (its threads outlive the work). With a web config a third thread,
//! `infermetrics-auth`, checks passwords. `shutdown` closes the listener (the port is free
//! when it returns) and every connection, and joins every thread.
//!
//! # Bounds
//!
//! - At most `max_connections` connections (default [`DEFAULT_MAX_CONNECTIONS`]), so never
//!   more sockets than that plus the listener and at most one accepted connection in hand.
//!   At the cap a new connection closes one that is not inside a request: a connection with
//!   a partial head first (the one waiting longest), else an idle one (silent since accept,
//!   or since its last response; the oldest first). When every connection is inside a
//!   request, the server stops accepting (new connections wait in the kernel's backlog)
//!   until one finishes.
//! - Deadlines, checked every [`SWEEP_EVERY`] on the connection table: a request head must be
//!   complete within [`HEAD_TIMEOUT`] of its first byte; a request being answered must make
//!   progress (render done, response bytes written) within [`REQUEST_TIMEOUT`]; a connection
//!   silent since accept or since its last response is closed after [`IDLE_TIMEOUT`]. (hyper's
//!   own `header_read_timeout` is off: it starts when hyper begins waiting for a head, idle
//!   time included, so it cannot say "10 s from the first byte" and "60 s idle" at once.)
//! - A connection closed because its response stopped moving is reset (SO_LINGER 0), so the
//!   kernel does not keep its unsent megabytes; every other close is a lingering close (FIN,
//!   then the client's remaining bytes read and discarded for up to 2 s), so the end of a
//!   response is never lost to a reset caused by input we did not read.
//! - TCP_NODELAY on every connection; a response's head and body go out in one `writev`.
//!
//! Each connection's state is tracked by wrapping its socket ([`Tracked`]): the first byte of
//! a head, entering the service, and the end of the response are recorded there.
//!
//! # Fork safety
//!
//! The listener and every accepted connection are registered with
//! [`crate::core::fork::track_fd`] and unregistered just before they are closed. The I/O
//! thread takes no lock of ours but the basic-auth cache's (its connection table belongs to
//! the accept loop; the connections' state is atomics); that mutex is only ever taken on the
//! I/O thread, and a forked child never uses the server it inherited, so a fork while it is
//! held cannot deadlock anyone. The render thread's only locks are taken inside the fork gate
//! by the rendering code; the password thread takes none.
//!
//! Connections are tokio tasks (`Send`, on the current-thread runtime) rather than
//! `LocalSet` tasks: a `LocalSet` task woken by the I/O driver wakes the runtime through its
//! eventfd, one extra system call (and one extra `epoll_wait` round) per wake-up.
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONNECTION, CONTENT_ENCODING,
    CONTENT_TYPE as CONTENT_TYPE_HEADER, HOST, RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot, Notify};

use super::encoding::{self, Negotiated};
use super::webconfig::{Watch, WebConfig};
use super::Exposition;
use crate::core::fork;
use crate::core::{log, Error, Format, Result};

/// A request head must be complete this long after its first byte arrived.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A request being answered must make progress (the render done, response bytes written)
/// at least this often; with [`HEAD_TIMEOUT`] a whole request is bounded.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent since accept or since its last response is closed after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request line plus headers (larger: 431).
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body announced by Content-Length (larger: 413). Bodies are never read.
pub const MAX_BODY: u64 = 64 * 1024;
/// Default for the most connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 256;
/// The largest `max_connections` accepted (each connection is a file descriptor).
pub const MAX_CONNECTIONS_LIMIT: u32 = 65_536;
/// How often deadlines are checked.
pub const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// How long shutdown lets responses being written finish before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);
/// How long shutdown waits for both threads to end (a render of a huge registry in progress
/// is not waited for beyond this: the render thread then ends on its own).
const JOIN_WAIT: Duration = Duration::from_millis(900);
const LISTEN_BACKLOG: i32 = 1024;
/// How long a closing connection waits for the client to close its side (see [`linger`]).
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a closing connection reads and discards before closing anyway.
const LINGER_BYTES: usize = 256 * 1024;
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

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
///
/// The socket is registered with [`fork::track_fd`] (a forked child closes it): hand it to
/// [`HttpServer::start`], or to a [`ListenerGuard`], which unregister it before closing it.
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
    let fd = s.as_raw_fd();
    fork::track_fd(fd);
    let configured = (|| {
        s.set_reuse_address(true).map_err(|e| sys("configure", e))?;
        if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            // "::" serves IPv4 clients too, whatever the system default
            let _ = s.set_only_v6(false);
        }
        s.bind(&sa.into()).map_err(|e| match e.kind() {
            ErrorKind::AddrInUse => {
                Error::unavailable(format!("Socket '{}:{}' already in use", address, port))
            }
            _ => sys("bind", e),
        })?;
        s.listen(LISTEN_BACKLOG).map_err(|e| sys("listen on", e))
    })();
    match configured {
        Ok(()) => Ok(s.into()),
        Err(e) => {
            fork::untrack_fd(fd);
            drop(s);
            Err(e)
        }
    }
}

/// Owns a listener from [`bind`] (registered with [`fork::track_fd`]): unregisters it
/// before closing it, unless it is handed on with [`ListenerGuard::into_inner`].
pub struct ListenerGuard(Option<TcpListener>);

impl ListenerGuard {
    pub fn new(l: TcpListener) -> ListenerGuard {
        ListenerGuard(Some(l))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.0 {
            Some(l) => l.local_addr(),
            None => Err(io::Error::from(ErrorKind::NotConnected)),
        }
    }

    /// Hands the (still registered) listener on.
    pub fn into_inner(mut self) -> Option<TcpListener> {
        self.0.take()
    }
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        if let Some(l) = self.0.take() {
            fork::untrack_fd(l.as_raw_fd());
            drop(l);
        }
    }
}

// ---------------------------------------------------------------- connection state

/// Where a connection is, as the deadlines and the choice of a victim see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// No byte since accept or since the last response.
    Idle = 0,
    /// Bytes of a request head received; the head is not complete.
    Head = 1,
    /// Inside a request: the service was entered and the response is not written yet.
    Busy = 2,
}

/// The state of one connection, shared by its socket wrapper, its service, its task and
/// the accept loop. All of them run on the I/O thread (atomics only because tokio's tasks
/// must be `Send`; relaxed ordering is enough on one thread).
struct ConnState {
    /// A [`Phase`].
    phase: AtomicU8,
    /// Idle: when it became idle; Head: the head's first byte; Busy: the last progress; in
    /// milliseconds since `base`.
    since_ms: AtomicU64,
    base: Instant,
    /// The response body was handed to hyper (the response ends at the next flush).
    response_handed: AtomicBool,
    /// Close now (deadline passed, victim of the cap, shutdown).
    kill: AtomicBool,
    /// Finish the current response, then close (shutdown).
    graceful: AtomicBool,
    /// The connection's task has ended and its socket is closed.
    ended: AtomicBool,
    /// Wakes the connection's task to look at `kill` / `graceful`.
    wake: Notify,
    /// The accept loop's wake-up: a connection became idle or ended.
    changed: Arc<Notify>,
}

impl ConnState {
    fn new(base: Instant, changed: Arc<Notify>) -> ConnState {
        let c = ConnState {
            phase: AtomicU8::new(Phase::Idle as u8),
            since_ms: AtomicU64::new(0),
            base,
            response_handed: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            graceful: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            wake: Notify::new(),
            changed,
        };
        c.touch();
        c
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Relaxed) {
            0 => Phase::Idle,
            1 => Phase::Head,
            _ => Phase::Busy,
        }
    }

    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    fn since(&self) -> u64 {
        self.since_ms.load(Relaxed)
    }

    fn touch(&self) {
        self.since_ms.store(self.ms(Instant::now()), Relaxed);
    }

    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Relaxed);
        self.touch();
    }

    fn killed(&self) -> bool {
        self.kill.load(Relaxed)
    }

    fn on_bytes_in(&self) {
        if self.phase() == Phase::Idle {
            self.set(Phase::Head);
        }
    }

    fn on_service(&self) {
        self.response_handed.store(false, Relaxed);
        self.set(Phase::Busy);
    }

    fn on_bytes_out(&self) {
        if self.phase() == Phase::Busy {
            self.touch();
        }
    }

    fn on_flushed(&self) {
        if self.phase() == Phase::Busy && self.response_handed.swap(false, Relaxed) {
            self.set(Phase::Idle);
            self.changed.notify_one();
        }
    }

    fn close_now(&self) {
        self.kill.store(true, Relaxed);
        self.wake.notify_one();
    }

    fn close_after_response(&self) {
        self.graceful.store(true, Relaxed);
        self.wake.notify_one();
    }

    /// Whether this connection is past its deadline.
    fn overdue(&self, now: Instant) -> bool {
        let limit = match self.phase() {
            Phase::Idle => IDLE_TIMEOUT,
            Phase::Head => HEAD_TIMEOUT,
            Phase::Busy => REQUEST_TIMEOUT,
        };
        self.ms(now).saturating_sub(self.since()) >= limit.as_millis() as u64
    }
}

/// A connection's socket, recording its traffic in its [`ConnState`]. When it wraps a
/// tracked socket, dropping it unregisters the socket before closing it.
struct Tracked<T> {
    io: T,
    state: Arc<ConnState>,
    fd: Option<RawFd>,
}

impl<T> Tracked<T> {
    fn new(io: T, fd: Option<RawFd>, state: Arc<ConnState>) -> Tracked<T> {
        Tracked { io, state, fd }
    }
}

impl<T> Drop for Tracked<T> {
    fn drop(&mut self) {
        // runs before `io` is dropped (closed)
        if let Some(fd) = self.fd.take() {
            if self.state.killed() && self.state.phase() == Phase::Busy {
                // a response that stopped moving: reset instead of leaving the kernel an
                // orphan socket that keeps trying to deliver megabytes nobody reads
                abort_on_close(fd);
            }
            fork::untrack_fd(fd);
        }
    }
}

/// Makes `close(fd)` send RST and drop unsent data (SO_LINGER with a zero timeout).
fn abort_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket owned by the caller; the option value is a valid
    // `linger` of the size passed
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            if buf.filled().len() > before {
                this.state.on_bytes_in();
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                this.state.on_bytes_out();
            }
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                this.state.on_bytes_out();
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            this.state.on_flushed();
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------- the service

/// One render: the render thread answers with the body in the negotiated format and
/// encoding.
pub(crate) struct RenderRequest {
    want: Negotiated,
    reply: oneshot::Sender<Bytes>,
}

type RenderQueue = mpsc::UnboundedSender<RenderRequest>;

/// A response body held in one piece; when hyper lets go of it (written into its buffer, or
/// not needed for HEAD) the connection learns that its response ends at the next flush.
struct ResponseBody {
    data: Option<Bytes>,
    state: Arc<ConnState>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.state.response_handed.store(true, Relaxed);
    }
}

/// What every connection of one server shares.
struct Shared {
    render: RenderQueue,
    openmetrics: bool,
    /// Basic-auth checks (present when the server has a web config).
    auth: Option<Auth>,
}

/// `GET /metrics` and the error answers, for one connection.
#[derive(Clone)]
struct MetricsService {
    state: Arc<ConnState>,
    shared: Arc<Shared>,
    /// The web config in force when the connection was accepted.
    web: Option<Arc<WebConfig>>,
}

/// What a request gets, decided from its head alone.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// 200 with the rendered registry (HEAD: its headers only).
    Metrics { close: bool },
    Plain {
        status: StatusCode,
        text: &'static str,
        allow: bool,
        close: bool,
    },
}

fn plain(status: StatusCode, text: &'static str, close: bool) -> Answer {
    Answer::Plain {
        status,
        text,
        allow: false,
        close,
    }
}

fn route<B: Body>(req: &Request<B>) -> Answer {
    // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0
    let hosts = req.headers().get_all(HOST).iter().count();
    if hosts > 1 {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: more than one Host header\n",
            true,
        );
    }
    if hosts == 0 && req.version() == Version::HTTP_11 {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: an HTTP/1.1 request needs a Host header\n",
            true,
        );
    }
    // a body is never read: answer from the head and close the connection afterwards
    let body = req.body();
    let has_body = !body.is_end_stream();
    if body.size_hint().lower() > MAX_BODY {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Content Too Large: request bodies are not used here\n",
            true,
        );
    }
    let path = req.uri().path();
    if path != "/metrics" && path != "/metrics/" {
        return plain(
            StatusCode::NOT_FOUND,
            "Not Found: metrics are served at /metrics\n",
            has_body,
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Answer::Plain {
            status: StatusCode::METHOD_NOT_ALLOWED,
            text: "Method Not Allowed: use GET /metrics\n",
            allow: true,
            close: has_body,
        };
    }
    Answer::Metrics { close: has_body }
}

impl MetricsService {
    fn respond(
        &self,
        status: StatusCode,
        content_type: &'static str,
        body: Bytes,
        allow: bool,
        close: bool,
    ) -> Response<ResponseBody> {
        let mut r = Response::new(ResponseBody {
            data: if body.is_empty() { None } else { Some(body) },
            state: Arc::clone(&self.state),
        });
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(content_type));
        if allow {
            h.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if close {
            h.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(web) = &self.web {
            for (k, v) in &web.headers {
                h.insert(k.clone(), v.clone());
            }
        }
        r
    }

    fn text(&self, status: StatusCode, text: &'static str, close: bool) -> Response<ResponseBody> {
        self.respond(
            status,
            TEXT_PLAIN,
            Bytes::from_static(text.as_bytes()),
            false,
            close,
        )
    }

    /// The metrics, rendered by the render thread in the negotiated format and encoding.
    async fn metrics(self, want: Negotiated, close: bool) -> Response<ResponseBody> {
        let (tx, rx) = oneshot::channel();
        let queued = self
            .shared
            .render
            .send(RenderRequest { want, reply: tx })
            .is_ok();
        let rendered = if queued { rx.await.ok() } else { None };
        let Some(body) = rendered else {
            return self.text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error: the metrics could not be rendered\n",
                true,
            );
        };
        let mut r = self.respond(
            StatusCode::OK,
            want.format.content_type(),
            body,
            false,
            close,
        );
        let h = r.headers_mut();
        if want.gzip {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        h.insert(
            VARY,
            HeaderValue::from_static(if self.shared.openmetrics {
                "Accept, Accept-Encoding"
            } else {
                "Accept-Encoding"
            }),
        );
        r
    }
}

type ServiceFuture =
    Pin<Box<dyn Future<Output = std::result::Result<Response<ResponseBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for MetricsService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: Request<Incoming>) -> ServiceFuture {
        self.state.on_service();
        let answer = route(&req);
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let want = encoding::negotiate(
            header(ACCEPT),
            header(ACCEPT_ENCODING),
            self.shared.openmetrics,
        );
        // a request that is answered 400/413 from its head needs no credentials
        let protocol_error = matches!(
            answer,
            Answer::Plain { status, .. }
                if status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE
        );
        let check = match (&self.web, &self.shared.auth) {
            (Some(web), Some(auth)) if !web.users.is_empty() && !protocol_error => {
                Some(auth.check(web, req.headers().get(AUTHORIZATION)))
            }
            _ => None,
        };
        // dropping the body tells hyper it will not be read (it closes the read side)
        drop(req);
        let this = self.clone();
        Box::pin(async move {
            if let Some(check) = check {
                match check.await {
                    Verdict::Ok => {}
                    Verdict::Denied => {
                        let mut r = this.text(
                            StatusCode::UNAUTHORIZED,
                            "Unauthorized\n",
                            answer_closes(&answer),
                        );
                        r.headers_mut().insert(
                            WWW_AUTHENTICATE,
                            HeaderValue::from_static(WWW_AUTHENTICATE_VALUE),
                        );
                        return Ok(r);
                    }
                    Verdict::Busy => {
                        let mut r = this.text(
                            StatusCode::TOO_MANY_REQUESTS,
                            "Too Many Requests: too many password checks at once\n",
                            true,
                        );
                        r.headers_mut()
                            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                        return Ok(r);
                    }
                }
            }
            Ok(match answer {
                Answer::Plain {
                    status,
                    text,
                    allow,
                    close,
                } => this.respond(
                    status,
                    TEXT_PLAIN,
                    Bytes::from_static(text.as_bytes()),
                    allow,
                    close,
                ),
                Answer::Metrics { close } => this.metrics(want, close).await,
            })
        })
    }
}

fn answer_closes(a: &Answer) -> bool {
    match a {
        Answer::Metrics { close } | Answer::Plain { close, .. } => *close,
    }
}

/// The challenge of a 401 (RFC 7617).
const WWW_AUTHENTICATE_VALUE: &str = "Basic realm=\"metrics\", charset=\"UTF-8\"";

// ---------------------------------------------------------------- basic auth

/// Most password checks waiting for the verifier thread; more at once get 429.
const AUTH_QUEUE: usize = 8;
/// Most remembered credential checks (then the memory starts over).
const AUTH_CACHE: usize = 1024;
/// A bcrypt hash of "fakepassword" (the toolkit's): an unknown user costs the same bcrypt
/// as a known one, so timing does not tell which users exist.
const FAKE_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

enum Verdict {
    Ok,
    Denied,
    /// The verifier's queue is full.
    Busy,
}

/// One bcrypt check for the verifier thread.
struct VerifyJob {
    password: String,
    hash: String,
    reply: oneshot::Sender<bool>,
}

/// Basic-auth checks of one server. bcrypt costs tens of milliseconds per check (cost 10),
/// so it never runs on the I/O thread: checks go to the `infermetrics-auth` thread through a
/// bounded queue (a full queue answers 429), and their outcomes are remembered (keyed by a
/// SHA-256 of user, password and hash, as the toolkit caches them), so a scraping Prometheus
/// pays bcrypt once. The cache is taken only on the I/O thread (a mutex because tokio tasks
/// must be `Send`; never contended, and a forked child never uses it: see the module docs).
struct Auth {
    jobs: mpsc::Sender<VerifyJob>,
    cache: Arc<AuthCache>,
}

type AuthCache = std::sync::Mutex<std::collections::HashMap<[u8; 32], bool>>;

fn remember(cache: &AuthCache, key: [u8; 32], ok: bool) {
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= AUTH_CACHE {
        c.clear();
    }
    c.insert(key, ok);
}

impl Auth {
    fn key(user: &str, password: &str, hash: &str) -> [u8; 32] {
        let mut d = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [user, password, hash] {
            d.update(&(part.len() as u64).to_le_bytes());
            d.update(part.as_bytes());
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(d.finish().as_ref());
        k
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }

    /// The verdict on an `Authorization` header (the bcrypt check, if needed, runs on the
    /// verifier thread; the returned future waits for it).
    fn check(
        &self,
        web: &WebConfig,
        header: Option<&HeaderValue>,
    ) -> Pin<Box<dyn Future<Output = Verdict> + Send>> {
        let Some((user, password)) = header.and_then(basic_credentials) else {
            return Box::pin(std::future::ready(Verdict::Denied));
        };
        let known = web.users.get(&user);
        let hash = known.map_or(FAKE_HASH, |h| h.as_str()).to_string();
        let key = Self::key(&user, &password, &hash);
        if let Some(ok) = self.cached(&key) {
            let v = if ok && known.is_some() {
                Verdict::Ok
            } else {
                Verdict::Denied
            };
            return Box::pin(std::future::ready(v));
        }
        let (tx, rx) = oneshot::channel();
        let job = VerifyJob {
            password,
            hash,
            reply: tx,
        };
        if self.jobs.try_send(job).is_err() {
            return Box::pin(std::future::ready(Verdict::Busy));
        }
        let known = known.is_some();
        let cache = Arc::clone(&self.cache);
        Box::pin(async move {
            match rx.await {
                Ok(ok) => {
                    remember(&cache, key, ok);
                    if ok && known {
                        Verdict::Ok
                    } else {
                        Verdict::Denied
                    }
                }
                Err(_) => Verdict::Denied,
            }
        })
    }
}
/// `user:password` from `Authorization: Basic <base64>` (None when absent or malformed).
fn basic_credentials(v: &HeaderValue) -> Option<(String, String)> {
    use base64::Engine;
    let v = v.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The verifier thread: one bcrypt check at a time, until the queue's senders are gone.
fn verify_loop(mut rx: mpsc::Receiver<VerifyJob>) {
    while let Some(job) = rx.blocking_recv() {
        if job.reply.is_closed() {
            continue; // the connection is gone
        }
        let ok = bcrypt::verify(job.password.as_bytes(), &job.hash).unwrap_or(false);
        let _ = job.reply.send(ok);
    }
}

/// The one HTTP/1 connection setup, shared by the server and [`fuzz_exchange`].
fn connection_builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.keep_alive(true)
        // a client may shut down its sending side after the request and still read the answer
        .half_close(true)
        // "Content-Type:", as every earlier version of this server wrote it
        .title_case_headers(true)
        .max_header_size(MAX_HEAD)
        .max_buf_size(MAX_HEAD)
        // head and body in one writev
        .writev(true)
        // deadlines are ours (see the module docs): no hyper timer
        .header_read_timeout(None);
    b
}

// ---------------------------------------------------------------- rendering

/// The render thread: takes every request queued, renders once per format asked for and
/// gzips once per format asked for gzipped, and answers them all.
fn render_loop(exposition: Arc<Exposition>, mut rx: mpsc::UnboundedReceiver<RenderRequest>) {
    let mut capacity = 16 * 1024;
    loop {
        let first = match next_request(&mut rx) {
            Some(r) => r,
            None => break,
        };
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        // connections closed meanwhile need no render
        batch.retain(|r| !r.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            answer_batch(batch, &mut capacity, |out, format| {
                exposition.render_as(out, format)
            })
        }));
        if rendered.is_err() {
            log::error("rendering the metrics panicked; the scrapes waiting for it get a 500");
            // dropping the replies answers 500
        }
    }
}

/// Answers a batch of render requests: `render` runs once per distinct format, gzip once per
/// distinct (format, gzip).
fn answer_batch(
    mut batch: Vec<RenderRequest>,
    capacity: &mut usize,
    render: impl Fn(&mut String, Format),
) {
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let (these, rest): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|r| r.want.format == format);
        batch = rest;
        if these.is_empty() {
            continue;
        }
        let mut out = String::with_capacity(*capacity);
        render(&mut out, format);
        *capacity = out.len() + out.len() / 8 + 1024;
        let plain = Bytes::from(out);
        let zipped = these
            .iter()
            .any(|r| r.want.gzip)
            .then(|| Bytes::from(encoding::gzip(&plain)));
        for r in these {
            let body = match (&zipped, r.want.gzip) {
                (Some(z), true) => z.clone(),
                _ => plain.clone(),
            };
            let _ = r.reply.send(body);
        }
    }
}

/// How long the render thread polls for the next request before it sleeps: under load the
/// next scrape usually arrives within this, and a sleeping thread costs a wake-up each way.
const RENDER_POLL: Duration = Duration::from_micros(100);

fn next_request(rx: &mut mpsc::UnboundedReceiver<RenderRequest>) -> Option<RenderRequest> {
    let until = Instant::now() + RENDER_POLL;
    loop {
        match rx.try_recv() {
            Ok(r) => return Some(r),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if Instant::now() >= until {
            return rx.blocking_recv();
        }
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------- the server

/// Every live connection of one server: the accept loop's own (no lock). A connection's
/// task marks its state `ended` when its socket is closed; the table then forgets it.
struct Table {
    conns: Vec<Arc<ConnState>>,
    base: Instant,
    changed: Arc<Notify>,
}

impl Table {
    /// Live connections (forgetting those that ended).
    fn len(&mut self) -> usize {
        self.conns.retain(|c| !c.ended.load(Relaxed));
        self.conns.len()
    }

    /// The connection to close to make room: a partial head first (waiting longest), then
    /// an idle one (oldest first); never one inside a request.
    fn victim(&self) -> Option<&Arc<ConnState>> {
        self.conns
            .iter()
            .filter(|c| !c.killed() && !c.ended.load(Relaxed) && c.phase() != Phase::Busy)
            .min_by_key(|c| (c.phase() == Phase::Idle, c.since()))
    }

    fn sweep(&self) {
        let now = Instant::now();
        for c in &self.conns {
            if !c.killed() && c.overdue(now) {
                c.close_now();
            }
        }
    }
}

/// Marks a connection ended when its task ends or is dropped (after its socket is closed).
struct Ended(Arc<ConnState>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.ended.store(true, Relaxed);
        self.0.changed.notify_one();
    }
}

type Conn = Tracked<tokio::net::TcpStream>;

/// Serves one connection until it ends or is told to close.
async fn connection_task(
    builder: Arc<http1::Builder>,
    io: Conn,
    state: Arc<ConnState>,
    shared: Arc<Shared>,
    web: Option<Arc<WebConfig>>,
) {
    // dropped last: the socket is closed inside `drive` (or with it, if the task is dropped)
    let _ended = Ended(Arc::clone(&state));
    let service = MetricsService {
        state: Arc::clone(&state),
        shared,
        web: web.clone(),
    };
    match web.as_ref().and_then(|w| w.tls.clone()) {
        None => drive(&builder, io, state, service).await,
        Some(acceptor) => serve_tls(&builder, io, state, service, acceptor).await,
    }
}

/// The answer to plain HTTP on the TLS port (Go's, as the toolkit's exporters send it).
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Waits until the connection is told to close now.
async fn killed(state: &ConnState) {
    while !state.killed() {
        state.wake.notified().await;
    }
}

/// A TLS connection: the first byte must start a TLS handshake record (plain HTTP gets
/// [`PLAIN_ON_TLS`] and a close); the handshake is under the head deadline (its bytes count
/// as a head's), then hyper serves the decrypted stream.
async fn serve_tls(
    builder: &http1::Builder,
    io: Conn,
    state: Arc<ConnState>,
    service: MetricsService,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    use tokio::io::AsyncWriteExt;
    let mut first = [0u8; 1];
    tokio::select! {
        r = io.io.peek(&mut first) => match r {
            Ok(1) => {}
            _ => return, // closed or failed before a byte: dropping `io` closes it
        },
        _ = killed(&state) => return,
    }
    state.on_bytes_in();
    if first[0] != 0x16 {
        // not a TLS handshake record: most likely plain HTTP
        let mut io = io;
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, io.write_all(PLAIN_ON_TLS)).await;
        linger(io, &state).await;
        return;
    }
    let tls = tokio::select! {
        r = acceptor.accept(io) => match r {
            Ok(tls) => tls,
            Err(_) => return, // a failed handshake (rustls has sent its alert)
        },
        _ = killed(&state) => return,
    };
    // the handshake is done: the next request head gets its own deadline
    state.set(Phase::Idle);
    drive(builder, tls, state, service).await;
}

/// Runs hyper on one connection (the server's and the fuzz hook's), then closes it the
/// way a server should: see [`linger`].
async fn drive<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    builder: &http1::Builder,
    io: T,
    state: Arc<ConnState>,
    service: MetricsService,
) {
    let mut conn = builder.serve_connection(TokioIo::new(io), service);
    let mut graceful = false;
    loop {
        if state.killed() {
            return; // dropping `conn` closes the socket
        }
        if state.graceful.load(Relaxed) && !graceful {
            Pin::new(&mut conn).graceful_shutdown();
            graceful = true;
        }
        tokio::select! {
            // an error (a bad request already answered, a reset) ends the connection too
            _ = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break,
            _ = state.wake.notified() => {}
        }
    }
    let io = conn.into_parts().io.into_inner();
    linger(io, &state).await;
}

/// Closes a finished connection without losing the end of its last response: sends FIN,
/// then reads and discards what the client still sends until it closes its side (at most
/// [`LINGER_TIME`] / [`LINGER_BYTES`]). Closing a socket with unread input (a request body
/// we never read, the rest of a bad request) makes the kernel send RST at once and drop
/// response bytes not yet delivered.
async fn linger<T: AsyncRead + AsyncWrite + Unpin>(mut io: T, state: &ConnState) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if state.phase() == Phase::Busy {
        state.set(Phase::Idle);
    }
    let _ = tokio::time::timeout(LINGER_TIME, async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        let mut drained = 0usize;
        loop {
            tokio::select! {
                r = io.read(&mut buf) => match r {
                    Ok(n) if n > 0 && drained + n <= LINGER_BYTES => drained += n,
                    _ => return,
                },
                _ = state.wake.notified() => {
                    if state.killed() {
                        return;
                    }
                }
            }
        }
    })
    .await;
}

fn accept_error_is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    )
}

/// Waits until a connection changes state (one may have ended or become a victim), running
/// the deadline sweep meanwhile; true when the server is stopping.
async fn wait_for_room(
    stop: &mut oneshot::Receiver<()>,
    table: &mut Table,
    sweep: &mut tokio::time::Interval,
) -> bool {
    let changed = Arc::clone(&table.changed);
    tokio::select! {
        biased;
        _ = stop => true,
        _ = changed.notified() => false,
        _ = sweep.tick() => {
            table.sweep();
            false
        }
    }
}

/// The accept loop, the deadline sweep and the shutdown, on the I/O thread.
async fn serve(
    listener: tokio::net::TcpListener,
    listener_fd: RawFd,
    shared: Arc<Shared>,
    mut web: Option<Watch>,
    mut stop: oneshot::Receiver<()>,
    max_connections: usize,
) {
    let mut table = Table {
        conns: Vec::new(),
        base: Instant::now(),
        changed: Arc::new(Notify::new()),
    };
    let builder = Arc::new(connection_builder());
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_hand: Option<(Conn, Arc<ConnState>)> = None;
    let mut logged_accept_error = false;

    loop {
        let full = table.len() >= max_connections;
        if let Some((io, state)) = in_hand.take() {
            if full {
                if let Some(v) = table.victim() {
                    v.close_now();
                }
                // keep the connection in hand until there is room
                in_hand = Some((io, state));
                if wait_for_room(&mut stop, &mut table, &mut sweep).await {
                    break;
                }
                continue;
            }
            table.conns.push(Arc::clone(&state));
            // the web config as it is now (re-read if its files changed)
            let config = web.as_mut().map(|w| w.current());
            tokio::spawn(connection_task(
                Arc::clone(&builder),
                io,
                state,
                Arc::clone(&shared),
                config,
            ));
            continue;
        }
        if full && table.victim().is_none() {
            // every connection is inside a request: leave new ones in the backlog
            if wait_for_room(&mut stop, &mut table, &mut sweep).await {
                break;
            }
            continue;
        }
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = sweep.tick() => table.sweep(),
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    logged_accept_error = false;
                    let fd = stream.as_raw_fd();
                    fork::track_fd(fd);
                    let _ = stream.set_nodelay(true);
                    let state = Arc::new(ConnState::new(table.base, Arc::clone(&table.changed)));
                    in_hand = Some((Tracked::new(stream, Some(fd), Arc::clone(&state)), state));
                }
                Err(e) if accept_error_is_transient(&e) => {}
                Err(e) => {
                    // e.g. the process is out of file descriptors: keep serving what we have
                    if !logged_accept_error {
                        log::error(&format!(
                            "metrics server cannot accept connections: {} (retrying)",
                            e
                        ));
                        logged_accept_error = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }

    // shutdown: the port first, then the connections
    fork::untrack_fd(listener_fd);
    drop(listener);
    drop(in_hand);
    for c in &table.conns {
        if c.phase() == Phase::Busy {
            c.close_after_response();
        } else {
            c.close_now();
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while table.len() > 0 {
            table.changed.notified().await;
        }
    })
    .await;
    // whatever is left is cut off when the runtime drops its tasks
}

/// How the server answers, beyond its bounds.
pub struct Serving {
    /// Serve OpenMetrics to scrapes that prefer it.
    pub openmetrics: bool,
    /// The web config (TLS, basic auth, headers), already loaded.
    pub web: Option<Watch>,
}

/// The HTTP side of one server: the I/O thread, the render thread and (with a web config)
/// the password verifier thread.
pub struct HttpServer {
    io_thread: Option<JoinHandle<()>>,
    render_thread: Option<JoinHandle<()>>,
    auth_thread: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    epoch: u64,
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(1024 * 1024)
        .spawn(f)
        .map_err(|e| Error::internal(format!("cannot start thread {}: {}", name, e)))
}

impl HttpServer {
    /// Serves `listener` (from [`bind`]; this takes over its fork registration) until
    /// `shutdown`. At most `max_connections` connections at once.
    pub fn start(
        listener: TcpListener,
        exposition: Arc<Exposition>,
        max_connections: u32,
        serving: Serving,
    ) -> Result<HttpServer> {
        let guard = ListenerGuard::new(listener);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::internal(format!("cannot create the HTTP runtime: {}", e)))?;
        let std_listener = guard
            .into_inner()
            .ok_or_else(|| Error::internal("the listening socket was lost"))?;
        let listener_fd = std_listener.as_raw_fd();
        // on the error paths below the socket is closed before it is unregistered; they
        // need a failing epoll_ctl or thread creation, and a fork in between
        let fail = |what: &str, e: std::io::Error| {
            fork::untrack_fd(listener_fd);
            Error::internal(format!("cannot {} the listener: {}", what, e))
        };
        if let Err(e) = std_listener.set_nonblocking(true) {
            return Err(fail("configure", e));
        }
        let listener = {
            let _entered = rt.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(|e| fail("register", e))?
        };
        let (render_tx, render_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let render_thread = match spawn("infermetrics-render", move || {
            render_loop(exposition, render_rx)
        }) {
            Ok(t) => t,
            Err(e) => {
                fork::untrack_fd(listener_fd);
                let _entered = rt.enter();
                drop(listener);
                return Err(e);
            }
        };
        let (auth, auth_thread) = match &serving.web {
            None => (None, None),
            Some(_) => {
                let (jobs, jobs_rx) = mpsc::channel(AUTH_QUEUE);
                match spawn("infermetrics-auth", move || verify_loop(jobs_rx)) {
                    Ok(t) => (
                        Some(Auth {
                            jobs,
                            cache: Arc::new(AuthCache::default()),
                        }),
                        Some(t),
                    ),
                    Err(e) => {
                        fork::untrack_fd(listener_fd);
                        let _entered = rt.enter();
                        drop(listener);
                        drop(render_tx);
                        let _ = render_thread.join();
                        return Err(e);
                    }
                }
            }
        };
        let shared = Arc::new(Shared {
            render: render_tx,
            openmetrics: serving.openmetrics,
            auth,
        });
        let web = serving.web;
        let max = max_connections.max(1) as usize;
        let io_thread = spawn("infermetrics-http", move || {
            rt.block_on(serve(listener, listener_fd, shared, web, stop_rx, max));
            drop(rt); // drops the tasks left: closes the connections still open
        });
        let io_thread = match io_thread {
            Ok(t) => t,
            Err(e) => {
                // the closure, with the listener and the queues, was dropped unrun
                fork::untrack_fd(listener_fd);
                let _ = render_thread.join();
                if let Some(t) = auth_thread {
                    let _ = t.join();
                }
                return Err(e);
            }
        };
        Ok(HttpServer {
            io_thread: Some(io_thread),
            render_thread: Some(render_thread),
            auth_thread,
            stop: Some(stop_tx),
            epoch: fork::epoch(),
        })
    }

    /// Closes the listener (the port is free when this returns) and every connection
    /// (responses being written get a short grace period), and joins both threads.
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if fork::epoch() != self.epoch {
            // inherited by a forked child: the threads do not exist here
            std::mem::forget(self.io_thread.take());
            std::mem::forget(self.render_thread.take());
            std::mem::forget(self.auth_thread.take());
            std::mem::forget(self.stop.take());
            return;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // the I/O thread ends after at most SHUTDOWN_GRACE; then the render and password
        // queues are closed, and those threads end when their current job (if any) is done
        let deadline = Instant::now() + JOIN_WAIT;
        for (what, handle) in [
            ("HTTP", self.io_thread.take()),
            ("render", self.render_thread.take()),
            ("password verifier", self.auth_thread.take()),
        ] {
            let Some(h) = handle else { continue };
            let left = deadline.saturating_duration_since(Instant::now());
            if super::wait_until(left, || h.is_finished()) {
                let _ = h.join();
            } else {
                log::warn(&format!(
                    "the metrics server's {} thread is still busy; it ends on its own",
                    what
                ));
            }
        }
    }
}

// ---------------------------------------------------------------- fuzzing

/// Most bytes [`fuzz_exchange`] returns.
const FUZZ_MAX_OUTPUT: usize = 1 << 20;
/// Longest [`fuzz_exchange`] runs (real time; the exchange normally ends in microseconds).
const FUZZ_TIME_LIMIT: Duration = Duration::from_secs(2);

thread_local! {
    static FUZZ_RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Feeds `input` as everything a client sends on one connection (then half-closes) through
/// the server's connection setup and service, rendering the process-wide registry on the
/// calling thread; returns every byte the server wrote (at most 1 MiB).
pub(crate) fn fuzz_exchange(input: &[u8]) -> Vec<u8> {
    if tokio::runtime::Handle::try_current().is_ok() {
        // block_on cannot nest inside a runtime: run on a thread of our own
        return std::thread::scope(|s| s.spawn(|| fuzz_exchange(input)).join().unwrap_or_default());
    }
    FUZZ_RUNTIME.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return Vec::new();
        };
        if slot.is_none() {
            *slot = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .ok();
        }
        match slot.as_ref() {
            Some(rt) => rt.block_on(exchange(input)),
            None => Vec::new(),
        }
    })
}

async fn exchange(input: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (client, server) = tokio::io::duplex(64 * 1024);
    let state = Arc::new(ConnState::new(Instant::now(), Arc::new(Notify::new())));
    let (render_tx, mut render_rx) = mpsc::unbounded_channel::<RenderRequest>();
    let io = Tracked::new(server, None, Arc::clone(&state));
    let builder = connection_builder();
    let service = MetricsService {
        state: Arc::clone(&state),
        shared: Arc::new(Shared {
            render: render_tx,
            openmetrics: true,
            auth: None,
        }),
        web: None,
    };
    let conn = drive(&builder, io, state, service);
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let exposition = Exposition::default();

    let renderer = async {
        while let Some(first) = render_rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = render_rx.try_recv() {
                batch.push(more);
            }
            let mut capacity = 0;
            answer_batch(batch, &mut capacity, |out, format| {
                exposition.render_as(out, format)
            });
        }
    };
    let writer = async {
        let _ = client_tx.write_all(input).await;
        let _ = client_tx.shutdown().await;
    };
    let mut output = Vec::new();
    let reader = async {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match client_rx.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // past the cap, keep draining so the server never blocks on a full pipe
                    let room = FUZZ_MAX_OUTPUT.saturating_sub(output.len());
                    output.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    };
    // the renderer ends when the connection ends (it holds the queue's only sender)
    let exchange = async {
        tokio::join!(
            async {
                let _ = conn.await;
            },
            renderer,
            writer,
            reader
        )
    };
    let _ = tokio::time::timeout(FUZZ_TIME_LIMIT, exchange).await;
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(out: &[u8]) -> u16 {
        let s = String::from_utf8_lossy(out);
        s.strip_prefix("HTTP/1.")
            .and_then(|r| r.get(2..5))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    fn exchange(input: &[u8]) -> (u16, String) {
        let out = fuzz_exchange(input);
        (status(&out), String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn routes() {
        let (s, text) = exchange(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(s, 200, "{}", text);
        assert!(text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
        assert_eq!(
            exchange(b"GET /metrics/ HTTP/1.1\r\nHost: a\r\n\r\n").0,
            200
        );
        assert_eq!(exchange(b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n").0, 404);
        let (s, text) = exchange(b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(s, 405);
        assert!(text.contains("Allow: GET, HEAD"), "{}", text);
        assert_eq!(exchange(b"GET /metrics HTTP/1.0\r\n\r\n").0, 200);
        let (s, text) = exchange(b"GET http://h:1/metrics HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(s, 200, "{}", text);
    }

    #[test]
    fn conformance() {
        for (req, want) in [
            (&b"GET /metrics HTTP/1.1\r\n\r\n"[..], 400),
            (b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
            (
                b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
            (b"GET /metrics\r\n", 400),
            (b"GET /metrics HTTP/1.2\r\nHost: a\r\n\r\n", 400),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
            (b"GET /metrics HTTP/1.1\nHost: a\n\n", 200),
            (
                b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n",
                413,
            ),
        ] {
            assert_eq!(
                exchange(req).0,
                want,
                "{:?}",
                String::from_utf8_lossy(req)
            );
        }
        // an HTTP/2 preface is closed without an answer
        assert_eq!(
            fuzz_exchange(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Vec::<u8>::new()
        );
        // a body is not read: answered at once, connection closed
        let (s, text) =
            exchange(b"GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nab");
        assert_eq!(s, 200);
        assert!(text.contains("Connection: close"), "{}", text);
        // a head over 16 KiB
        let mut big = b"GET /metrics HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 20_000));
        assert_eq!(exchange(&big).0, 431);
    }

    #[test]
    fn negotiates() {
        let out = fuzz_exchange(
            b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        );
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.contains("Content-Encoding: gzip"), "{}", text);
        // the fuzz hook serves with OpenMetrics offered
        assert!(text.contains("Vary: Accept, Accept-Encoding"), "{}", text);
        let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(&out[at..at + 2], &[0x1f, 0x8b], "a gzip body");
        let (_, text) =
            exchange(b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0\r\n\r\n");
        assert!(!text.contains("Content-Encoding"), "{}", text);
        let (_, text) = exchange(
            b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n",
        );
        assert!(
            text.contains(
                "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"
            ),
            "{}",
            text
        );
        let (_, text) =
            exchange(b"HEAD /metrics HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
        assert!(
            text.contains("Content-Encoding: gzip") && text.ends_with("\r\n\r\n"),
            "{}",
            text
        );
    }

    #[test]
    fn basic_credentials_parse() {
        let v = HeaderValue::from_static("Basic YWxpY2U6cGE6c3M="); // alice:pa:ss
        assert_eq!(
            basic_credentials(&v),
            Some(("alice".to_string(), "pa:ss".to_string()))
        );
        assert_eq!(
            basic_credentials(&HeaderValue::from_static("Bearer x")),
            None
        );
        assert_eq!(
            basic_credentials(&HeaderValue::from_static("Basic !!!")),
            None
        );
        assert_eq!(basic_credentials(&HeaderValue::from_static("Basic")), None);
    }

    #[test]
    fn pipelining_and_head() {
        let (_, text) = exchange(
            b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{}", text);
        assert_eq!(text.matches("HTTP/1.1 404").count(), 1, "{}", text);
    }

    /// Random bytes and mutated requests: every exchange ends (no hang, no panic) and what
    /// comes back is empty or starts with an HTTP/1.x status line.
    #[test]
    fn fuzz_smoke() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: [&[u8]; 4] = [
            b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"HEAD /metrics/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        let started = std::time::Instant::now();
        for i in 0..3000 {
            let mut input = seeds[i % seeds.len()].to_vec();
            let edits = (next() % 6) as usize;
            for _ in 0..edits {
                let r = next();
                let at = (r >> 8) as usize % (input.len() + 1);
                match r % 3 {
                    0 if at < input.len() => input[at] = (r >> 32) as u8,
                    1 => input.insert(at, (r >> 40) as u8),
                    _ if at < input.len() => {
                        input.remove(at);
                    }
                    _ => {}
                }
            }
            if i % 10 == 0 {
                input = (0..(next() % 200)).map(|_| next() as u8).collect();
            }
            let out = fuzz_exchange(&input);
            assert!(
                out.is_empty() || out.starts_with(b"HTTP/1."),
                "{:?} -> {:?}",
                String::from_utf8_lossy(&input),
                String::from_utf8_lossy(&out)
            );
        }
        assert!(started.elapsed() < Duration::from_secs(60));
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

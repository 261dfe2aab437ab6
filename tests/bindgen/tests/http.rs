//! The metrics server's HTTP/1.1 handling over a raw socket: pipelining, HTTP/1.0, request
//! bodies, absolute-form targets, and the error answers (400, 405, 413, 431).
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use infermetrics_bindgen_tests::*;

/// Reads one response (status, headers, body) using Content-Length.
fn read_response(s: &mut TcpStream, pending: &mut Vec<u8>) -> (u16, String, Vec<u8>) {
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(pending[..i].to_vec()).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("every response has Content-Length")
                .parse()
                .unwrap();
            while pending.len() < i + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed mid-body");
                pending.extend_from_slice(&chunk[..n]);
            }
            let body = pending[i + 4..i + 4 + len].to_vec();
            pending.drain(..i + 4 + len);
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return (status, head, body);
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed before a response");
        pending.extend_from_slice(&chunk[..n]);
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
}

#[test]
fn http_protocol_edges() {
    let f = family(INFERMETRICS_METRIC_KIND_GAUGE, "http_edge_gauge", "edge");
    let m = metric(f, &[("k", "v")], None).unwrap();
    ok(unsafe { INFERMETRICS_MetricSet(m, 5.0) });
    let t0 = std::time::Instant::now();
    let (server, port) = server(1000, false, false, false, None);
    eprintln!("ServerNew took {:?}", t0.elapsed());

    // three pipelined requests in one write: three answers, in order, connection kept
    let mut s = connect(port);
    let mut pending = Vec::new();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nHEAD /metrics/ HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let (st, head, body) = read_response(&mut s, &mut pending);
    assert_eq!(st, 200);
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert!(String::from_utf8(body.clone())
        .unwrap()
        .contains("http_edge_gauge{k=\"v\"} 5\n"));
    // HEAD: same Content-Length, no body bytes
    let i = {
        let mut chunk = [0u8; 4096];
        while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).unwrap();
            pending.extend_from_slice(&chunk[..n]);
        }
        pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap()
    };
    let head = String::from_utf8(pending[..i].to_vec()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{}", head);
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{}",
        head
    );
    pending.drain(..i + 4);
    assert_eq!(read_response(&mut s, &mut pending).0, 404);
    // a POST without a body: 405, connection still usable; absolute-form target
    s.write_all(b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET http://example/metrics?x=1 HTTP/1.1\r\nHost: example\r\n\r\n").unwrap();
    let (st, head, _) = read_response(&mut s, &mut pending);
    assert_eq!(st, 405);
    assert!(head.contains("Allow: GET, HEAD"));
    assert!(!head.contains("Connection: close"), "{}", head);
    assert_eq!(
        read_response(&mut s, &mut pending).0,
        200,
        "absolute-form target"
    );
    // Connection: close is honoured
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (st, head, _) = read_response(&mut s, &mut pending);
    assert_eq!(st, 200);
    assert!(head.contains("Connection: close"));
    assert!(closed(&mut s));

    // HTTP/1.0 closes by default, keeps alive when asked
    let mut s = connect(port);
    let mut pending = Vec::new();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, &mut pending).0, 200);
    assert!(closed(&mut s));
    let mut s = connect(port);
    s.write_all(
        b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut s, &mut pending).0, 200);
    assert_eq!(read_response(&mut s, &mut pending).0, 200);
    assert!(closed(&mut s));

    // a POST with a body: answered from its head (the body is never read), then closed
    let mut s = connect(port);
    let mut pending = Vec::new();
    s.write_all(b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let (st, head, _) = read_response(&mut s, &mut pending);
    assert_eq!(st, 405);
    assert!(head.contains("Connection: close"), "{}", head);
    assert!(closed(&mut s));

    // error answers, each closing the connection
    for (req, want) in [
        (&b"garbage\r\n\r\n"[..], 400),
        (b"GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\n\r\n", 400),
        (
            b"POST /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            405,
        ),
        (
            b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n",
            413,
        ),
        (
            b"GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            400,
        ),
    ] {
        let mut s = connect(port);
        let mut pending = Vec::new();
        s.write_all(req).unwrap();
        assert_eq!(
            read_response(&mut s, &mut pending).0,
            want,
            "{}",
            String::from_utf8_lossy(req)
        );
        assert!(closed(&mut s));
    }
    // a head larger than 16 KiB: 431 as soon as the cap is passed
    let mut s = connect(port);
    let mut pending = Vec::new();
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat(b'a').take(20_000));
    let _ = s.write_all(&big);
    assert_eq!(read_response(&mut s, &mut pending).0, 431);

    let t = std::time::Instant::now();
    ok(unsafe { INFERMETRICS_ServerDelete(server) });
    eprintln!("ServerDelete took {:?}", t.elapsed());
    // the port is free and refuses connections once ServerDelete returned
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    ok(unsafe { INFERMETRICS_MetricDelete(m) });
    ok(unsafe { INFERMETRICS_MetricFamilyDelete(f) });
}

"""Embedding (issue 12): make_wsgi_app() / make_asgi_app() serving the registry plus the series of
collectors started without a listener (start_collectors, Server(listen=False)), rendered by
INFERMETRICS_MetricsRender. WSGI through wsgiref on a real socket with urllib; ASGI by driving the
app coroutine with asyncio; bodies parsed by prometheus_client.

The negotiation cases (gzip chosen from Accept-Encoding q-values, OpenMetrics) are in
test_embed_negotiation.py: they need the real INFERMETRICS_MetricsNegotiate of another branch."""
import asyncio
import ctypes
import gzip
import threading
import urllib.error
import urllib.request
import wsgiref.simple_server

import pytest

from conftest import parse_exposition, require

PLAIN = "text/plain; version=0.0.4; charset=utf-8"


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def collectors(im):
    server = im.start_collectors(interval_ms=50, gpu=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def wsgi_url(im):
    """Serves make_wsgi_app(**kwargs) on 127.0.0.1 (a real socket); yields serve(**kwargs) -> URL."""
    httpds = []

    def serve(**kwargs):
        httpd = wsgiref.simple_server.make_server("127.0.0.1", 0, im.make_wsgi_app(**kwargs), handler_class=_Quiet)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        httpds.append(httpd)
        return "http://127.0.0.1:%d" % httpd.server_port

    yield serve
    for h in httpds:
        h.shutdown()
        h.server_close()


def fetch(url, method="GET", headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def decoded(headers, body):
    return (gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body).decode("utf-8")


def families(text):
    parser = require("prometheus_client.parser")
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def test_listenerless_server_has_no_port_and_renders_collectors(im, collectors):
    assert collectors.port is None and not collectors.listening
    assert "no listener" in repr(collectors)
    with pytest.raises(im.InfermetricsError) as e:
        im._core._check(im._LIB.INFERMETRICS_ServerPort(collectors._h(), ctypes.byref(ctypes.c_uint16())))
    assert e.value.code == im.ErrorCode.UNAVAILABLE and "no listener" in e.value.message
    assert im._core.collectors_server() is collectors
    with im.Counter("embed_render", "R") as c:
        c.inc(3)
        body, ctype = collectors.render()
        assert ctype == PLAIN == im.CONTENT_TYPE_PLAIN_0_0_4
        text = body.decode()
        assert "embed_render_total 3" in text.splitlines()
        assert "nv_cpu_memory_total_bytes" in text and 'nv_collector_success{collector="cpu"} 1' in text
        zbody, zctype = collectors.render(gzip=True)
        assert zctype == PLAIN and zbody[:2] == b"\x1f\x8b" and len(zbody) < len(body)
        assert "embed_render_total 3" in gzip.decompress(zbody).decode().splitlines()
        _, omtype = collectors.render(im._core.FORMAT_OPENMETRICS)
        assert omtype == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    # two listener-less servers side by side: the apps use the newest open one
    other = im.start_collectors(gpu=False)
    try:
        assert im._core.collectors_server() is other
    finally:
        other.close()
    assert im._core.collectors_server() is collectors


def test_wsgi_serves_registry_and_collectors_over_a_socket(im, collectors, wsgi_url):
    base = wsgi_url()
    with im.Counter("embed_wsgi", "W", ["route"]) as c:
        c.labels("a").inc(5)
        status, headers, body = fetch(base + "/metrics")
        assert status == 200 and headers["Content-Type"] == PLAIN
        assert headers.get("Content-Encoding") is None  # no Accept-Encoding
        assert int(headers["Content-Length"]) == len(body)
        fams = families(body.decode())
        assert fams["embed_wsgi"].type == "counter"
        assert [s.value for s in fams["embed_wsgi"].samples if s.name == "embed_wsgi_total"] == [5.0]
        assert "nv_cpu_memory_total_bytes" in fams, "the collectors' series are served"
        # gzip requested but compression disabled: never gzipped
        base2 = wsgi_url(disable_compression=True)
        status, headers, body = fetch(base2 + "/metrics", headers={"Accept-Encoding": "gzip"})
        assert status == 200 and headers.get("Content-Encoding") is None
        assert "embed_wsgi_total" in body.decode()
        # whatever negotiation decides, the body decodes to the same families
        status, headers, body = fetch(base + "/metrics/", headers={"Accept-Encoding": "gzip"})
        assert status == 200 and "embed_wsgi" in families(decoded(headers, body))
        assert "Accept-Encoding" in headers.get("Vary", "")
    # HEAD: headers only; other paths 404; other methods 405
    status, headers, body = fetch(base + "/metrics", method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Type"] == PLAIN and int(headers["Content-Length"]) > 0
    assert fetch(base + "/other")[0] == 404
    status, headers, _ = fetch(base + "/metrics", method="POST")
    assert status == 405 and "GET" in headers["Allow"]


def test_wsgi_other_registry_is_filtered(im, wsgi_url):
    reg = im.CollectorRegistry()
    with im.Counter("embed_mine", "M", registry=reg) as mine, im.Counter("embed_theirs", "T"):
        mine.inc()
        status, headers, body = fetch(wsgi_url(registry=reg) + "/metrics")
        assert status == 200
        fams = families(decoded(headers, body))
        assert set(fams) == {"embed_mine"}


def run_asgi(app, method="GET", path="/metrics", headers=(), root_path=""):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "path": path, "root_path": root_path, "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers]}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent[0], sent[1]
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body["body"]


def test_asgi_serves_registry_and_collectors(im, collectors):
    app = im.make_asgi_app()
    with im.Gauge("embed_asgi", "A") as g:
        g.set(2.5)
        status, headers, body = run_asgi(app)
        assert status == 200 and headers["content-type"] == PLAIN and "content-encoding" not in headers
        fams = families(body.decode())
        assert fams["embed_asgi"].samples[0].value == 2.5 and "nv_cpu_memory_total_bytes" in fams
        # mounted under a root path (Starlette's Mount gives the full path and the root)
        status, headers, body = run_asgi(app, path="/app/metrics", root_path="/app",
                                         headers=[("Accept-Encoding", "gzip")])
        assert status == 200 and "embed_asgi" in families(decoded({"Content-Encoding": headers.get("content-encoding")},
                                                                  body))
        status, headers, body = run_asgi(im.make_asgi_app(disable_compression=True), headers=[("Accept-Encoding", "gzip")])
        assert "content-encoding" not in headers and b"embed_asgi 2.5" in body
    status, headers, body = run_asgi(app, method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    assert run_asgi(app, path="/nope")[0] == 404
    assert run_asgi(app, method="DELETE")[0] == 405


def test_asgi_lifespan(im):
    app = im.make_asgi_app()
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return inbox.pop(0)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_without_collectors_the_registry_alone_is_served(im):
    assert im._core.collectors_server() is None
    with im.Counter("embed_alone", "A") as c:
        c.inc()
        status, headers, body = run_asgi(im.make_asgi_app())
        text = body.decode()
        assert status == 200 and "embed_alone_total 1" in text.splitlines()
        assert "nv_cpu_memory_total_bytes" not in text
        assert parse_exposition(text)["embed_alone_total"]["type"] == "counter"

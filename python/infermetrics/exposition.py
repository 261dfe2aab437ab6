"""generate_latest, start_http_server, make_wsgi_app, write_to_textfile, shaped like
prometheus_client.exposition. The text is rendered by the C library (Prometheus text 0.0.4)."""
import errno
import os

from . import _core
from .metrics import refresh_function_gauges
from .registry import REGISTRY, filter_families

CONTENT_TYPE_PLAIN_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
# What the native server sends and generate_latest() renders. (prometheus_client >= 0.22 names
# text 1.0.0 "latest"; Prometheus reads both.)
CONTENT_TYPE_LATEST = CONTENT_TYPE_PLAIN_0_0_4

_started = []  # servers started by start_http_server: kept alive until the process exits


def _registry_text(registry):
    refresh_function_gauges()
    text = _core.snapshot()
    if registry is REGISTRY or registry is None or getattr(registry, "_everything", False):
        return text
    return filter_families(text, registry._family_names())


def generate_latest(registry=REGISTRY):
    """The families of `registry` (REGISTRY: every family in the process, including any a C or C++
    library in the process made) as Prometheus text 0.0.4, UTF-8 bytes. Function gauges are
    refreshed first. The server's collector series (nv_cpu_*, nv_gpu_*) are not included; they
    are in Server.snapshot() and on the server's /metrics."""
    return _registry_text(registry).encode("utf-8")


def start_http_server(port, addr="0.0.0.0", registry=REGISTRY, certfile=None, keyfile=None, **tls):
    """Starts the native /metrics server on ``addr:port`` (its own threads; no Python runs per
    scrape) with the CPU, GPU and pinned-memory collectors, and returns the Server (``.port``,
    ``.close()``; prometheus_client returns ``(httpd, thread)``). It serves every family of the
    process: ``registry`` may only be REGISTRY. INFERMETRICS_PORT / INFERMETRICS_ADDRESS, when
    set, override ``port``/``addr``. A port in use raises OSError(EADDRINUSE) as
    prometheus_client's does."""
    if certfile or keyfile or any(v for v in tls.values()):
        raise ValueError("infermetrics: the native server has no TLS; put a TLS proxy in front of it")
    if registry is not REGISTRY:
        raise ValueError("infermetrics: the native server serves the whole process (REGISTRY); "
                         "serve another registry with make_wsgi_app(registry)")
    try:
        server = _core.Server(address=addr, port=port)
    except _core.InfermetricsError as e:
        if e.code == _core.ErrorCode.UNAVAILABLE:
            raise OSError(errno.EADDRINUSE, e.message) from e
        raise
    _started.append(server)
    return server


start_wsgi_server = start_http_server


def make_wsgi_app(registry=REGISTRY, disable_compression=False):
    """A WSGI app serving generate_latest(registry) (for mounting /metrics inside an app; in a
    forking server each request sees only the worker that answers it: see "Forking servers")."""

    def prometheus_app(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            start_response("200 OK", [("Allow", "OPTIONS,GET")])
            return [b""]
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "OPTIONS,GET")])
            return [("# HTTP 405 Method Not Allowed: %s; use OPTIONS or GET\n" % method).encode()]
        output = generate_latest(registry)
        headers = [("Content-Type", CONTENT_TYPE_LATEST)]
        if not disable_compression and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            import gzip
            output = gzip.compress(output)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [b"" if method == "HEAD" else output]

    return prometheus_app


def write_to_textfile(path, registry=REGISTRY):
    """Writes generate_latest(registry) to `path` atomically (for node_exporter's textfile
    collector)."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(generate_latest(registry))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise

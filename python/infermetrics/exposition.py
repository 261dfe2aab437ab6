"""generate_latest, start_http_server, make_wsgi_app, make_asgi_app, write_to_textfile, shaped like
prometheus_client.exposition, and start_collectors. The text is rendered by the C library."""
import errno
import gzip
import json
import os
import shutil
import ssl
import tempfile

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


# The Server keywords start_http_server() and start_collectors() pass on (see _core.Server).
_SERVER_OPTIONS = frozenset(("interval_ms", "gpu", "cpu", "pinned", "openmetrics", "web_config", "max_connections",
                             "process", "container", "host", "collectors", "gpu_vendors", "disk_paths",
                             "nvml_library"))


def _check_options(options, fn):
    unknown = sorted(set(options) - _SERVER_OPTIONS)
    if unknown:
        raise TypeError("%s() got unexpected keyword argument(s) %s (server options: %s)"
                        % (fn, ", ".join(unknown), ", ".join(sorted(_SERVER_OPTIONS))))


def _yaml_str(path, what):
    """An absolute path as a YAML double-quoted scalar (JSON's escapes are YAML's)."""
    p = os.path.abspath(os.fsdecode(os.fspath(path)))
    try:
        p.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("infermetrics: %s %r is not valid UTF-8, which web-config.yml needs" % (what, p)) from None
    return json.dumps(p, ensure_ascii=False)


def _tls_web_config(certfile, keyfile, client_cafile, client_capath, protocol, client_auth_required):
    """Writes prometheus_client's TLS arguments as a private web-config.yml; returns (dir, path)."""
    if not certfile or not keyfile:
        # (prometheus_client then serves plain HTTP without a word; a half-given TLS setup here
        # is refused rather than silently served in the clear)
        raise ValueError("infermetrics: TLS needs both certfile and keyfile (got certfile=%r, keyfile=%r)"
                         % (certfile, keyfile))
    if client_capath:
        raise ValueError("infermetrics: client_capath (a directory of CAs) is not supported by the native "
                         "server's web-config; pass the CA certificates in one PEM file as client_cafile")
    if protocol not in _TLS_SERVER_PROTOCOLS:
        raise ValueError("infermetrics: protocol %r is not supported: the native server negotiates TLS 1.2 or "
                         "1.3 itself (ssl.PROTOCOL_TLS_SERVER); to pin a version write a web_config with "
                         "min_version/max_version" % (protocol,))
    if client_auth_required and not client_cafile:
        raise ValueError("infermetrics: client_auth_required needs client_cafile, the PEM file of the CA(s) "
                         "that sign the client certificates")
    lines = ["tls_server_config:",
             "  cert_file: " + _yaml_str(certfile, "certfile"),
             "  key_file: " + _yaml_str(keyfile, "keyfile")]
    if client_cafile:
        lines.append("  client_ca_file: " + _yaml_str(client_cafile, "client_cafile"))
        lines.append("  client_auth_type: " + ("RequireAndVerifyClientCert" if client_auth_required
                                               else "VerifyClientCertIfGiven"))
    tmp = tempfile.mkdtemp(prefix="infermetrics-tls-")  # mode 0700, ours alone
    try:
        path = os.path.join(tmp, "web-config.yml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, path


_TLS_SERVER_PROTOCOLS = tuple(p for p in (getattr(ssl, "PROTOCOL_TLS_SERVER", None), getattr(ssl, "PROTOCOL_TLS", None))
                              if p is not None)


def start_http_server(port, addr="0.0.0.0", registry=REGISTRY, certfile=None, keyfile=None, client_cafile=None,
                      client_capath=None, protocol=ssl.PROTOCOL_TLS_SERVER, client_auth_required=False,
                      **options):
    """Starts the native /metrics server on ``addr:port`` (its own threads; no Python runs per
    scrape) with the CPU, GPU and pinned-memory collectors, and returns the Server (``.port``,
    ``.close()``; prometheus_client returns ``(httpd, thread)``). It serves every family of the
    process: ``registry`` may only be REGISTRY. INFERMETRICS_PORT / INFERMETRICS_ADDRESS, when
    set, override ``port``/``addr``. A port in use raises OSError(EADDRINUSE) as
    prometheus_client's does.

    TLS as in prometheus_client: ``certfile`` and ``keyfile`` (PEM) serve HTTPS only;
    ``client_cafile`` verifies client certificates signed by those CAs when a client sends one,
    and with ``client_auth_required`` refuses clients without one. They are written to a private
    web-config.yml (mode 0600, in a temporary directory removed when the server closes); the
    certificate files are read again when they change (rotation without a restart).
    ``client_capath`` (a CA directory) is not supported (ValueError), nor a ``protocol`` other
    than ssl.PROTOCOL_TLS_SERVER (TLS 1.2 and 1.3 are offered).

    ``options`` are the Server keywords (openmetrics, web_config, max_connections, process,
    container, host, collectors, gpu_vendors, disk_paths, nvml_library, interval_ms, gpu, cpu,
    pinned: see infermetrics._core.Server). ``web_config`` (basic auth, headers, TLS settings
    beyond these arguments) excludes ``certfile``/``keyfile``/``client_cafile``."""
    if registry is not REGISTRY:
        raise ValueError("infermetrics: the native server serves the whole process (REGISTRY); "
                         "serve another registry with make_wsgi_app(registry)")
    _check_options(options, "start_http_server")
    tls = certfile or keyfile or client_cafile or client_capath or client_auth_required
    if tls and options.get("web_config") is not None:
        raise ValueError("infermetrics: give either web_config or certfile/keyfile/client_cafile, not both "
                         "(put the TLS settings into the web_config file)")
    tmp = None
    if tls:
        tmp, options["web_config"] = _tls_web_config(certfile, keyfile, client_cafile, client_capath, protocol,
                                                     client_auth_required)
    try:
        server = _core.Server(address=addr, port=port, **options)
    except _core.InfermetricsError as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if e.code == _core.ErrorCode.UNAVAILABLE:
            raise OSError(errno.EADDRINUSE, e.message) from e
        raise
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if tmp is not None:
        server.web_config_dir = tmp
        server._on_close.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    _started.append(server)
    return server


start_wsgi_server = start_http_server


def start_collectors(interval_ms=None, gpu=True, cpu=True, pinned=True, **options):
    """Starts the native collectors (CPU, GPU, pinned memory, process, container) without a
    listener of their own (no port is opened), for an app that serves /metrics itself through
    make_wsgi_app() / make_asgi_app(): those apps then serve the collectors' series beside the
    registry's. Returns the Server (``.close()`` stops it); it is kept alive until the process
    exits. Several may run; the apps use the most recently started one that is still open.
    ``options``: the collector keywords of infermetrics._core.Server (process, container, host,
    collectors, gpu_vendors, disk_paths, nvml_library)."""
    _check_options(options, "start_collectors")
    server = _core.Server(interval_ms=interval_ms, gpu=gpu, cpu=cpu, pinned=pinned, listen=False, **options)
    _started.append(server)
    return server


def _openmetrics_enabled(openmetrics):
    if openmetrics is not None:
        return bool(openmetrics)
    return os.environ.get("INFERMETRICS_OPENMETRICS", "").strip().lower() in ("1", "true", "yes", "on")


# The paths the apps answer: mounted at /metrics (PATH_INFO "" or "/"), or as the whole server.
_METRICS_PATHS = ("", "/", "/metrics", "/metrics/")


def _respond(method, path, accept, accept_encoding, registry, disable_compression, openmetrics):
    """(status, headers, body) for one request, the way the native server answers it."""
    text_headers = [("Content-Type", "text/plain; charset=utf-8")]
    if path not in _METRICS_PATHS:
        return "404 Not Found", text_headers, b"Not Found: try /metrics\n"
    if method == "OPTIONS":
        return "200 OK", [("Allow", "OPTIONS, GET, HEAD")], b""
    if method not in ("GET", "HEAD"):
        return ("405 Method Not Allowed", text_headers + [("Allow", "OPTIONS, GET, HEAD")],
                ("Method Not Allowed: %s; use GET or HEAD\n" % method).encode("latin-1", "replace"))
    everything = registry is REGISTRY or registry is None or getattr(registry, "_everything", False)
    # another registry is a filtered subset of the 0.0.4 text (family blocks by name)
    fmt, gz = _core.negotiate(accept, None if disable_compression else accept_encoding,
                              _openmetrics_enabled(openmetrics) and everything)
    refresh_function_gauges()
    if everything:
        server = _core.collectors_server()
        body, ctype = _core.render(server._h() if server is not None else None, fmt, gz)
    else:
        text, ctype = _core.render(None, fmt, False)
        body = filter_families(text.decode("utf-8"), registry._family_names()).encode("utf-8")
        if gz:
            body = gzip.compress(body)
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
    if not disable_compression:
        headers.append(("Vary", "Accept-Encoding"))
    if gz:
        headers.append(("Content-Encoding", "gzip"))
    return "200 OK", headers, b"" if method == "HEAD" else body


def make_wsgi_app(registry=REGISTRY, disable_compression=False, openmetrics=None):
    """A WSGI app serving `registry` (REGISTRY: every family of the process, plus the series of
    the collectors started by start_collectors()) the way the native server does: the format and
    gzip are negotiated from the request's Accept / Accept-Encoding (q-values honoured; gzip never
    when ``disable_compression``; OpenMetrics only when ``openmetrics`` is true, or None and
    INFERMETRICS_OPENMETRICS=1, and only for REGISTRY), rendered by the C library. GET and HEAD
    on "/metrics", "/metrics/" or the mount point ("" or "/"); other paths 404, other methods 405.
    In a forking server each request sees only the worker that answers it: see "Forking servers"."""

    def prometheus_app(environ, start_response):
        status, headers, body = _respond(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                                         environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING"),
                                         registry, disable_compression, openmetrics)
        start_response(status, headers)
        return [body]

    return prometheus_app


def make_asgi_app(registry=REGISTRY, disable_compression=False, openmetrics=None):
    """The ASGI (3.0) form of make_wsgi_app(), for Starlette, FastAPI, Quart... (``app.mount(
    "/metrics", make_asgi_app())``). It answers "lifespan" too, so it can also run on its own.
    Rendering takes no lock of the event loop's and no Python per series: it runs inline."""

    async def prometheus_app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise ValueError("infermetrics' ASGI app serves http scopes, not %r" % (scope["type"],))
        headers = {}
        for k, v in scope.get("headers", ()):
            k = k.decode("latin-1").lower()
            headers[k] = headers[k] + "," + v.decode("latin-1") if k in headers else v.decode("latin-1")
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        status, out_headers, body = _respond(scope.get("method", "GET"), path, headers.get("accept"),
                                             headers.get("accept-encoding"), registry, disable_compression,
                                             openmetrics)
        await send({"type": "http.response.start", "status": int(status.split(" ", 1)[0]),
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out_headers]})
        await send({"type": "http.response.body", "body": body})

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

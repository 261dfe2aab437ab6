"""The C API through ctypes: errors, C families and series, text snapshots, the log callback and
the embedded Prometheus server. The prometheus_client-shaped classes are in metrics.py."""
import atexit
import ctypes
import enum
import logging
import os
import threading
import weakref
from ctypes import byref, c_double, c_size_t, c_uint16, c_uint32, c_void_p

from . import _lib

LIB = _lib.load()
LIBRARY_PATH = _lib.loaded_path(LIB)
log = logging.getLogger("infermetrics")


class ErrorCode(enum.IntEnum):
    """INFERMETRICS_Error_Code (the values of Triton's TRITONSERVER_Error_Code)."""
    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7


class MetricKind(enum.IntEnum):
    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


class LogLevel(enum.IntEnum):
    ERROR = 0
    WARN = 1
    INFO = 2


class InfermetricsError(ValueError):
    """A non-NULL INFERMETRICS_Error* turned into an exception (the C object is already freed).

    A ValueError, as prometheus_client raises ValueError for a bad name or a negative counter
    increment. Attributes: ``code`` (an ErrorCode; print ``code.name``), ``message`` (str),
    ``code_string`` ("Invalid argument", ...).
    """

    def __init__(self, code, message, code_string=None):
        try:
            code = ErrorCode(code)
        except ValueError:
            code = ErrorCode.UNKNOWN
        self.code = code
        self.message = message
        self.code_string = code_string or code.name
        super().__init__("%s: %s" % (self.code_string, message))

    def __reduce__(self):
        return (type(self), (int(self.code), self.message, self.code_string))


def _raise(err):
    """Raises InfermetricsError for a non-NULL C error (a pointer, or its address), after freeing it."""
    if isinstance(err, int):
        err = ctypes.cast(err, _lib.ErrorP)
    try:
        code = LIB.INFERMETRICS_ErrorCode(err)
        cs = LIB.INFERMETRICS_ErrorCodeString(err)
        msg = LIB.INFERMETRICS_ErrorMessage(err)
    finally:
        LIB.INFERMETRICS_ErrorDelete(err)
    raise InfermetricsError(code, (msg or b"").decode("utf-8", "replace"),
                            cs.decode("utf-8", "replace") if cs else None)


def _check(err):
    if err:
        _raise(err)


def _cstr(s, what):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if b"\0" in b:
        raise InfermetricsError(ErrorCode.INVALID_ARG, "%s must not contain a NUL character: %r" % (what, s))
    return b


def _fn(name):
    fn = getattr(LIB, name, None)
    if fn is None:
        raise InfermetricsError(ErrorCode.UNSUPPORTED,
                                "%s is missing from the loaded libinfermetrics (too old a build?)" % name)
    return fn


# The series calls on the recording path, declared over plain addresses (void*): a series handle
# is kept as an int, and the error comes back as an int (0: success), which saves ctypes a
# pointer object per call (about 0.8 us per call instead of 1.2 us).
def _address_fn(name, *argtypes):
    fn = LIB[name]  # a function object of its own, not the one _lib declared
    fn.restype = c_void_p
    fn.argtypes = (c_void_p,) + argtypes
    return fn


increment = _address_fn("INFERMETRICS_MetricIncrement", c_double)
set_value = _address_fn("INFERMETRICS_MetricSet", c_double)
observe = _address_fn("INFERMETRICS_MetricObserve", c_double)
_value = _address_fn("INFERMETRICS_MetricValue", ctypes.POINTER(c_double))
_delete = _address_fn("INFERMETRICS_MetricDelete")


class _Labels:
    """``with _Labels({name: value}) as (array, count)``: STRING parameters for a C call,
    deleted afterwards (the library copies what it keeps)."""

    def __init__(self, labels, what="label"):
        self._labels = labels
        self._what = what
        self._params = []

    def __enter__(self):
        try:
            for k, v in self._labels.items():
                p = LIB.INFERMETRICS_ParameterNew(_cstr(k, self._what + " name"), 0,
                                                  ctypes.c_char_p(_cstr(v, self._what + " value")))
                if not p:
                    raise InfermetricsError(ErrorCode.INVALID_ARG, "cannot make %s %r=%r" % (self._what, k, v))
                self._params.append(p)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        n = len(self._params)
        return ((_lib.ParameterP * n)(*self._params) if n else None), n

    def __exit__(self, *exc):
        params, self._params = self._params, []
        for p in params:
            LIB.INFERMETRICS_ParameterDelete(p)
        return False


def _exemplar_fn(name):
    fn = getattr(LIB, name, None)
    if fn is None:
        return None  # an older build: calling with an exemplar raises UNSUPPORTED (see below)
    fn = LIB[name]
    fn.restype = c_void_p
    fn.argtypes = (c_void_p, c_double, ctypes.POINTER(_lib.ParameterP), ctypes.c_uint64)
    return fn


_increment_ex = _exemplar_fn("INFERMETRICS_MetricIncrementWithExemplar")
_observe_ex = _exemplar_fn("INFERMETRICS_MetricObserveWithExemplar")


def _with_exemplar(fn, name, handle, amount, exemplar):
    if fn is None:
        _fn(name)  # raises UNSUPPORTED naming the missing function
    with _Labels(exemplar, "exemplar label") as (arr, n):
        err = fn(handle, amount, arr, n)
    if err:
        _raise(err)


def increment_with_exemplar(handle, amount, exemplar):
    """Increments a counter and keeps ``exemplar`` ({name: value}) as its latest exemplar."""
    _with_exemplar(_increment_ex, "INFERMETRICS_MetricIncrementWithExemplar", handle, amount, exemplar)


def observe_with_exemplar(handle, amount, exemplar):
    """Observes in a histogram and keeps ``exemplar`` as the latest of the value's bucket."""
    _with_exemplar(_observe_ex, "INFERMETRICS_MetricObserveWithExemplar", handle, amount, exemplar)


def value_of(handle):
    v = c_double()
    err = _value(handle, byref(v))
    if err:
        _raise(err)
    return v.value


def delete_series(handle):
    err = _delete(handle)
    if err:
        _raise(err)


def api_version():
    """(major, minor) of the C API the loaded library implements."""
    major, minor = c_uint32(), c_uint32()
    _check(LIB.INFERMETRICS_ApiVersion(byref(major), byref(minor)))
    return major.value, minor.value


def _render(server_handle, fmt=0):
    """The registry (and a server's collector series) as text: ``fmt`` 0 is Prometheus 0.0.4,
    1 OpenMetrics 1.0 (with exemplars, ending in ``# EOF``)."""
    metrics = _lib.MetricsP()
    _check(LIB.INFERMETRICS_ServerMetrics(server_handle, byref(metrics)))
    try:
        base, size = c_void_p(), c_size_t()
        _check(LIB.INFERMETRICS_MetricsFormatted(metrics, int(fmt), byref(base), byref(size)))
        return ctypes.string_at(base, size.value).decode("utf-8") if size.value else ""
    finally:
        _check(LIB.INFERMETRICS_MetricsDelete(metrics))


# INFERMETRICS_MetricFormat
FORMAT_PROMETHEUS = 0
FORMAT_OPENMETRICS = 1


def negotiate(accept, accept_encoding, openmetrics=False):
    """(format, gzip) for a request with these Accept / Accept-Encoding header values (None:
    absent), as the native server chooses (INFERMETRICS_MetricsNegotiate). OpenMetrics only when
    ``openmetrics`` is true and the request asks for it."""
    def header(v):
        if v is None:
            return None
        b = v.encode("latin-1", "replace") if isinstance(v, str) else bytes(v)
        return b.replace(b"\0", b"")  # a NUL cannot reach C; it would only cut the value short

    fmt, gz = ctypes.c_int(), ctypes.c_bool()
    _check(_fn("INFERMETRICS_MetricsNegotiate")(header(accept), header(accept_encoding), bool(openmetrics),
                                                byref(fmt), byref(gz)))
    return fmt.value, gz.value


def render(server_handle=None, fmt=FORMAT_PROMETHEUS, gzip=False):
    """(body bytes, content type) of everything a server serves (the registry plus its collector
    series; server_handle None: the registry alone), gzipped if asked (INFERMETRICS_MetricsRender)."""
    metrics = _lib.MetricsP()
    _check(LIB.INFERMETRICS_ServerMetrics(server_handle, byref(metrics)))
    try:
        body, size, ctype = c_void_p(), c_size_t(), ctypes.c_char_p()
        _check(_fn("INFERMETRICS_MetricsRender")(metrics, int(fmt), bool(gzip), byref(body), byref(size),
                                                 byref(ctype)))
        return (ctypes.string_at(body, size.value) if size.value else b""), ctype.value.decode("ascii")
    finally:
        _check(LIB.INFERMETRICS_MetricsDelete(metrics))


def snapshot():
    """Every family of the process (Python's and any C/C++ code's) as Prometheus text 0.0.4,
    without the server's collector series. Function gauges are not refreshed: see
    generate_latest()."""
    return _render(None)


def report_pinned_memory(total_bytes, used_bytes):
    """Reports the host's pinned memory pool (served as nv_pinned_memory_pool_*_bytes from each
    server's next collection on)."""
    _check(_fn("INFERMETRICS_PinnedMemoryPoolReport")(int(total_bytes), int(used_bytes)))


def set_max_series_per_family(limit):
    """The most series one family may hold (0: no limit, the default); beyond it, a new label set
    raises InfermetricsError UNAVAILABLE. INFERMETRICS_MAX_SERIES_PER_FAMILY, when set, wins."""
    _check(_fn("INFERMETRICS_SetMaxSeriesPerFamily")(int(limit)))


# --- logging -----------------------------------------------------------------------------------
_log_lock = threading.Lock()
_log_cb = None  # the CFUNCTYPE object must outlive its installation


def set_log_callback(fn):
    """Routes the library's log lines to ``fn(level: LogLevel, message: str)``; None: back to stderr.

    ``fn`` may be called from the library's own threads (the server's collector thread)."""
    global _log_cb
    with _log_lock:
        if fn is None:
            _check(LIB.INFERMETRICS_SetLogCallback(None, None))
            _log_cb = None
            return

        def trampoline(level, message, _userp):
            try:
                lv = LogLevel(level)
            except ValueError:
                lv = level
            fn(lv, (message or b"").decode("utf-8", "replace"))

        cb = _lib.LogFn(trampoline)
        _check(LIB.INFERMETRICS_SetLogCallback(ctypes.cast(cb, c_void_p), None))
        _log_cb = cb  # the old one is released only after the library stopped using it


class _Closing:
    """`with obj:` closes obj on exit; subclasses define close()."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- C families --------------------------------------------------------------------------------
class CFamily:
    """One C family handle (plus, for a histogram, its bucket arguments): makes and deletes the
    series of one Python metric. Delete every series before close()."""

    def __init__(self, kind, name, documentation, buckets=None):
        self.name = name
        self._args = None
        self._handle = None
        fam = _lib.FamilyP()
        _check(LIB.INFERMETRICS_MetricFamilyNew(byref(fam), int(kind), _cstr(name, "metric name"),
                                                _cstr(documentation, "documentation")))
        self._handle = fam
        if buckets is not None:
            try:
                args = _lib.ArgsP()
                _check(LIB.INFERMETRICS_MetricArgsNew(byref(args)))
                self._args = args
                arr = (c_double * len(buckets))(*buckets) if buckets else None
                _check(LIB.INFERMETRICS_MetricArgsSetHistogram(args, arr, len(buckets)))
            except BaseException:
                self.close()
                raise

    def new_series(self, labels):
        """A new handle (its address, an int) on the series with these labels ({name: value})."""
        if self._handle is None:
            raise ValueError("metric family %r is closed" % self.name)
        with _Labels(labels) as (arr, n):
            h = _lib.MetricP()
            if self._args is not None:
                _check(LIB.INFERMETRICS_MetricNewWithArgs(byref(h), self._handle, arr, n, self._args))
            else:
                _check(LIB.INFERMETRICS_MetricNew(byref(h), self._handle, arr, n))
            return ctypes.cast(h, c_void_p).value  # the address: see increment

    @staticmethod
    def delete_series(handle):
        delete_series(handle)

    def close(self):
        args, self._args = self._args, None
        fam, self._handle = self._handle, None
        if args is not None:
            _check(LIB.INFERMETRICS_MetricArgsDelete(args))
        if fam is not None:
            _check(LIB.INFERMETRICS_MetricFamilyDelete(fam))


# --- server ------------------------------------------------------------------------------------
_servers = weakref.WeakSet()
_ENV_OVERRIDES = (("address", "INFERMETRICS_ADDRESS"), ("port", "INFERMETRICS_PORT"),
                  ("interval_ms", "INFERMETRICS_INTERVAL_MS"))


def _path(p, what):
    return _cstr(os.fspath(p), what)


def _switches(opts, setter, mapping, what):
    if mapping is None:
        return
    if not hasattr(mapping, "items"):
        raise TypeError("%s must be a mapping {name: bool}, e.g. {%r: False}, not %r"
                        % (what, "host" if what == "collectors" else "amd", mapping))
    fn = _fn(setter)
    for name, on in mapping.items():
        _check(fn(opts, _cstr(name, what[:-1] + " name"), bool(on)))


def _set_options(opts, openmetrics=None, web_config=None, max_connections=None, process=None, container=None,
                 host=None, collectors=None, gpu_vendors=None, disk_paths=None, nvml_library=None):
    """Applies the Server keywords that are not None to live INFERMETRICS_ServerOptions."""
    if openmetrics is not None:
        _check(_fn("INFERMETRICS_ServerOptionsSetOpenMetrics")(opts, bool(openmetrics)))
    if web_config is not None:
        _check(_fn("INFERMETRICS_ServerOptionsSetWebConfig")(opts, _path(web_config, "web_config")))
    if max_connections is not None:
        n = int(max_connections)
        if not 0 <= n <= 0xFFFFFFFF:  # ctypes would wrap it; the library says what is allowed
            raise InfermetricsError(ErrorCode.INVALID_ARG,
                                    "max_connections %r is out of range: use 1 to 65536" % (max_connections,))
        _check(_fn("INFERMETRICS_ServerOptionsSetMaxConnections")(opts, n))
    for value, setter in ((process, "INFERMETRICS_ServerOptionsSetProcessMetrics"),
                          (container, "INFERMETRICS_ServerOptionsSetContainerMetrics"),
                          (host, "INFERMETRICS_ServerOptionsSetHostMetrics")):
        if value is not None:
            _check(_fn(setter)(opts, bool(value)))
    _switches(opts, "INFERMETRICS_ServerOptionsSetCollector", collectors, "collectors")
    _switches(opts, "INFERMETRICS_ServerOptionsSetGpuVendor", gpu_vendors, "gpu_vendors")
    if disk_paths is not None:
        if isinstance(disk_paths, (str, bytes)) or hasattr(disk_paths, "__fspath__"):
            joined = _path(disk_paths, "disk_paths")
        else:
            parts = [_path(p, "disk path") for p in disk_paths]
            for p in parts:
                if b"," in p:
                    raise InfermetricsError(ErrorCode.INVALID_ARG,
                                            "disk path %r holds a comma, which separates paths" % (p,))
            joined = b",".join(parts)
        _check(_fn("INFERMETRICS_ServerOptionsSetDiskPaths")(opts, joined))
    if nvml_library is not None:
        _check(_fn("INFERMETRICS_ServerOptionsSetNvmlLibrary")(opts, _path(nvml_library, "nvml_library")))


class Server(_Closing):
    """The embedded Prometheus endpoint (GET /metrics) with its GPU, CPU and pinned-memory
    collectors, which poll on the server's own thread every ``interval_ms``.

    ``address``, ``port`` and ``interval_ms`` left as None take the library's defaults
    ("0.0.0.0", 8002, 2000). The environment variables INFERMETRICS_ADDRESS / INFERMETRICS_PORT /
    INFERMETRICS_INTERVAL_MS override both the defaults and these arguments (an operator can move a
    server without touching code); when one overrides an argument, the logger "infermetrics" says
    so, and the library logs "Started metrics service at ADDRESS:PORT". ``port=0`` binds any free
    port; read ``.port``.

    ``listen=False`` starts the collectors only: no socket, no HTTP thread, ``.port`` is None. Its
    series are served by make_wsgi_app() / make_asgi_app() (or ``.render()``) from the host's own
    HTTP server; see start_collectors().

    Every other option of the C API (INFERMETRICS_ServerOptionsSet*) has a keyword; None (the
    default) leaves the library's default, and the matching INFERMETRICS_* environment variable,
    when set, wins over the argument:

    - ``openmetrics``: offer OpenMetrics 1.0 to scrapes that ask for it (library default off).
    - ``web_config``: path of an exporter-toolkit web-config.yml (TLS, basic auth, headers); a file
      that does not load raises InfermetricsError INVALID_ARG naming the file and the key.
    - ``max_connections``: the most connections held open at once, 1 to 65536 (default 256).
    - ``process``, ``container``, ``host``: the process_*, nv_container_* and node_* collectors
      (defaults on, on, off).
    - ``collectors``: ``{name: bool}`` for "pinned", "cpu", "gpu", "process", "container", "host";
      applied after the single switches above.
    - ``gpu_vendors``: ``{vendor: bool}`` for "nvidia", "amd", "intel" (default all on).
    - ``disk_paths``: absolute paths (a list, or one comma-separated string) whose filesystems the
      host collectors report (default "/").
    - ``nvml_library``: path of libnvidia-ml.so.1 for drivers in unusual places.
    """

    _started_count = 0

    def __init__(self, address=None, port=None, interval_ms=None, gpu=True, cpu=True, pinned=True, listen=True,
                 openmetrics=None, web_config=None, max_connections=None, process=None, container=None, host=None,
                 collectors=None, gpu_vendors=None, disk_paths=None, nvml_library=None):
        self._handle = None
        self._on_close = []  # callables run once by close() in the process that started it
        self._pid = os.getpid()
        self.listening = bool(listen)
        self.port = None
        opts = _lib.OptionsP()
        _check(_fn("INFERMETRICS_ServerOptionsNew")(byref(opts)))
        try:
            if not listen:
                _check(_fn("INFERMETRICS_ServerOptionsSetListen")(opts, False))
            if address is not None:
                _check(LIB.INFERMETRICS_ServerOptionsSetAddress(opts, _cstr(address, "address")))
            if port is not None:
                if not 0 <= int(port) <= 65535:
                    raise InfermetricsError(ErrorCode.INVALID_ARG, "port %r is not in 0..65535" % (port,))
                _check(LIB.INFERMETRICS_ServerOptionsSetPort(opts, int(port)))
            if interval_ms is not None:
                _check(LIB.INFERMETRICS_ServerOptionsSetMetricsInterval(opts, int(interval_ms)))
            _check(LIB.INFERMETRICS_ServerOptionsSetGpuMetrics(opts, bool(gpu)))
            _check(LIB.INFERMETRICS_ServerOptionsSetCpuMetrics(opts, bool(cpu)))
            _check(LIB.INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(opts, bool(pinned)))
            _set_options(opts, openmetrics=openmetrics, web_config=web_config, max_connections=max_connections,
                         process=process, container=container, host=host, collectors=collectors,
                         gpu_vendors=gpu_vendors, disk_paths=disk_paths, nvml_library=nvml_library)
            h = _lib.ServerP()
            _check(LIB.INFERMETRICS_ServerNew(byref(h), opts))
            self._handle = h
        finally:
            _check(LIB.INFERMETRICS_ServerOptionsDelete(opts))
        if listen:
            p = c_uint16()
            try:
                _check(LIB.INFERMETRICS_ServerPort(self._handle, byref(p)))
            except BaseException:
                self.close()
                raise
            self.port = p.value
        Server._started_count += 1
        self._seq = Server._started_count
        given = {"address": address, "port": port, "interval_ms": interval_ms}
        for arg, var in _ENV_OVERRIDES:
            if not listen and arg != "interval_ms":
                continue  # no listener: the address and port are unused
            if given[arg] is not None and var in os.environ and str(given[arg]) != os.environ[var].strip():
                log.info("%s=%s overrides %s=%r (this server's port is %d)", var, os.environ[var], arg,
                         given[arg], self.port)
        _servers.add(self)
        for hook in server_started_hooks:
            hook(self)

    def _h(self):
        if self._handle is None:
            raise ValueError("the infermetrics Server is closed")
        return self._handle

    @property
    def closed(self):
        return self._handle is None

    @property
    def inherited(self):
        """True in a child process forked after this server started: there it is inert (the
        parent serves the port) and close() only forgets it."""
        return self._pid != os.getpid()

    def snapshot(self):
        """What GET /metrics serves now: the registry plus this server's collector series."""
        return _render(self._h())

    def render(self, fmt=FORMAT_PROMETHEUS, gzip=False):
        """(body bytes, content type): what GET /metrics serves now, in ``fmt`` (FORMAT_PROMETHEUS
        or FORMAT_OPENMETRICS), gzipped if asked."""
        return render(self._h(), fmt, gzip)

    def report_pinned(self, total_bytes, used_bytes):
        report_pinned_memory(total_bytes, used_bytes)

    def close(self):
        """Stops the server and joins its threads (in a forked child: forgets the inherited copy)."""
        h, self._handle = self._handle, None
        if h is not None and not self.inherited:
            # (an inherited server is only forgotten: its threads are the parent's, and some
            # library builds fail to delete it in a child)
            try:
                _check(LIB.INFERMETRICS_ServerDelete(h))
            finally:
                hooks, self._on_close = self._on_close, []
                for fn in hooks:  # after the delete: the server may read its files until then
                    fn()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        where = "port=%s" % (getattr(self, "port", None),) if getattr(self, "listening", True) else "no listener"
        return "<infermetrics.Server %s%s>" % (where, " closed" if self.closed else "")


def collectors_server():
    """The most recently started listener-less Server of this process that is still open (not
    one inherited through fork), or None."""
    live = [s for s in list(_servers) if not s.listening and not s.closed and not s.inherited]
    return max(live, key=lambda s: s._seq) if live else None


server_started_hooks = []  # fn(server), run after each Server starts (metrics.py: function gauges)


@atexit.register
def _shutdown():
    # No Python callback may run from a library thread while the interpreter goes away.
    try:
        LIB.INFERMETRICS_SetLogCallback(None, None)
    except Exception:
        pass
    for s in list(_servers):
        try:
            s.close()
        except Exception:
            pass

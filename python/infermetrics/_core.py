"""Python classes over the infermetrics C API (see api.md): errors, metric families and series,
text snapshots, the log callback and the embedded Prometheus server."""
import atexit
import ctypes
import enum
import threading
import time
import weakref
from contextlib import contextmanager
from ctypes import byref, c_double, c_size_t, c_uint16, c_uint32, c_void_p

from . import _lib

LIB = _lib.load()


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


class InfermetricsError(Exception):
    """A non-NULL INFERMETRICS_Error* turned into an exception (the C object is already freed).

    Attributes: ``code`` (an ErrorCode), ``message`` (str), ``code_string`` ("Invalid argument", ...).
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


def _check(err):
    """Raises InfermetricsError for a non-NULL error, after freeing it."""
    if err:
        try:
            code = LIB.INFERMETRICS_ErrorCode(err)
            cs = LIB.INFERMETRICS_ErrorCodeString(err)
            msg = LIB.INFERMETRICS_ErrorMessage(err)
        finally:
            LIB.INFERMETRICS_ErrorDelete(err)
        raise InfermetricsError(code, (msg or b"").decode("utf-8", "replace"),
                                cs.decode("utf-8", "replace") if cs else None)


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


def api_version():
    """(major, minor) of the C API the loaded library implements."""
    major, minor = c_uint32(), c_uint32()
    _check(LIB.INFERMETRICS_ApiVersion(byref(major), byref(minor)))
    return major.value, minor.value


def _render(server_handle):
    metrics = _lib.MetricsP()
    _check(LIB.INFERMETRICS_ServerMetrics(server_handle, byref(metrics)))
    try:
        base, size = c_void_p(), c_size_t()
        _check(LIB.INFERMETRICS_MetricsFormatted(metrics, 0, byref(base), byref(size)))
        return ctypes.string_at(base, size.value).decode("utf-8") if size.value else ""
    finally:
        _check(LIB.INFERMETRICS_MetricsDelete(metrics))


def snapshot():
    """The process-wide registry as Prometheus text 0.0.4 (no collector series)."""
    return _render(None)


def report_pinned_memory(total_bytes, used_bytes):
    """Reports the host's pinned memory pool (served as nv_pinned_memory_pool_*_bytes)."""
    _check(_fn("INFERMETRICS_PinnedMemoryPoolReport")(int(total_bytes), int(used_bytes)))


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


# --- metrics -----------------------------------------------------------------------------------
def _label_key(labels):
    return tuple(sorted(labels.items()))


class _Closing:
    """`with obj:` closes obj on exit; subclasses define close()."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Series(_Closing):
    """One labelled series of a Counter, Gauge or Histogram (a C INFERMETRICS_Metric)."""

    def __init__(self, parent, labels, handle):
        self._parent = parent
        self.labels = dict(labels)
        self._handle = handle

    def _h(self):
        h = self._handle
        if h is None:
            raise ValueError("%s series %r of %r is closed" % (type(self._parent).__name__, self.labels,
                                                                  self._parent.name))
        return h

    @property
    def closed(self):
        return self._handle is None

    @property
    def value(self):
        v = c_double()
        _check(LIB.INFERMETRICS_MetricValue(self._h(), byref(v)))
        return v.value

    def close(self):
        """Deletes this series handle (the series leaves the output when its last handle goes)."""
        parent = self._parent
        with parent._lock:
            h, self._handle = self._handle, None
            parent._children.pop(_label_key(self.labels), None)
        if h is not None:
            _check(LIB.INFERMETRICS_MetricDelete(h))

    def __repr__(self):
        return "<%s %s%r%s>" % (type(self).__name__, self._parent.name, self.labels,
                                " closed" if self.closed else "")


class CounterSeries(_Series):
    def inc(self, amount=1.0):
        """Adds ``amount`` (>= 0; negative or NaN raises InfermetricsError INVALID_ARG)."""
        _check(LIB.INFERMETRICS_MetricIncrement(self._h(), float(amount)))


class GaugeSeries(_Series):
    def set(self, value):
        _check(LIB.INFERMETRICS_MetricSet(self._h(), float(value)))

    def inc(self, amount=1.0):
        _check(LIB.INFERMETRICS_MetricIncrement(self._h(), float(amount)))

    def dec(self, amount=1.0):
        _check(LIB.INFERMETRICS_MetricIncrement(self._h(), -float(amount)))


class HistogramSeries(_Series):
    def observe(self, value):
        _check(LIB.INFERMETRICS_MetricObserve(self._h(), float(value)))

    @contextmanager
    def time(self):
        """Observes the seconds the ``with`` block took."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - start)


class _Family(_Closing):
    _kind = None
    _series_cls = None

    def __init__(self, name, description="", labels=None, labelnames=None):
        self.name = name
        self.description = description
        self.const_labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self.labelnames = tuple(labelnames or ())
        self._lock = threading.Lock()
        self._children = {}
        self._args = None
        self._family = None
        fam = _lib.FamilyP()
        _check(LIB.INFERMETRICS_MetricFamilyNew(byref(fam), int(self._kind), _cstr(name, "metric name"),
                                                _cstr(description, "description")))
        self._family = fam
        try:
            self._setup()
            self._default = None if self.labelnames else self._child({})
        except BaseException:
            self.close()
            raise

    def _setup(self):
        pass

    def _new_metric(self, out, params, n):
        return LIB.INFERMETRICS_MetricNew(out, self._family, params, n)

    def _child(self, extra):
        labels = dict(self.const_labels)
        labels.update({str(k): str(v) for k, v in extra.items()})
        key = _label_key(labels)
        with self._lock:
            if self._family is None:
                raise ValueError("%s %r is closed" % (type(self).__name__, self.name))
            child = self._children.get(key)
            if child is not None:
                return child
            params = []
            try:
                for k, v in labels.items():
                    p = LIB.INFERMETRICS_ParameterNew(_cstr(k, "label name"), 0,
                                                      ctypes.c_char_p(_cstr(v, "label value")))
                    if not p:
                        raise InfermetricsError(ErrorCode.INVALID_ARG, "cannot create label %r=%r" % (k, v))
                    params.append(p)
                arr = (_lib.ParameterP * len(params))(*params) if params else None
                h = _lib.MetricP()
                _check(self._new_metric(byref(h), arr, len(params)))
            finally:
                for p in params:
                    LIB.INFERMETRICS_ParameterDelete(p)
            child = self._series_cls(self, labels, h)
            self._children[key] = child
            return child

    def labels(self, *values, **kv):
        """The series with these labels (added to the constant ``labels``), created on first use.

        Values may be given by keyword, or positionally in the order of ``labelnames``."""
        if values:
            if kv or len(values) != len(self.labelnames):
                raise ValueError("%r expects label values for %r" % (self.name, self.labelnames))
            kv = dict(zip(self.labelnames, values))
        elif self.labelnames and set(kv) != set(self.labelnames):
            raise ValueError("%r expects labels %r, got %r" % (self.name, self.labelnames, tuple(kv)))
        return self._child(kv)

    def remove(self, **kv):
        """Deletes the series with these labels, if this object made it."""
        labels = dict(self.const_labels)
        labels.update({str(k): str(v) for k, v in kv.items()})
        with self._lock:
            child = self._children.get(_label_key(labels))
        if child is not None:
            child.close()

    def _d(self):
        if self._default is None:
            if self._family is None:
                raise ValueError("%s %r is closed" % (type(self).__name__, self.name))
            raise ValueError("%r has labelnames %r: use .labels(...)" % (self.name, self.labelnames))
        return self._default

    @property
    def value(self):
        return self._d().value

    @property
    def kind(self):
        return self._kind

    @property
    def closed(self):
        return self._family is None

    def close(self):
        """Deletes every series this object made, then its family handle (the required order)."""
        with self._lock:
            children = list(self._children.values())
        first = None
        for c in children:
            try:
                c.close()
            except InfermetricsError as e:
                first = first or e
        with self._lock:
            fam, self._family = self._family, None
            args, self._args = self._args, None
            self._default = None
        if args is not None:
            LIB.INFERMETRICS_MetricArgsDelete(args)
        if fam is not None:
            try:
                _check(LIB.INFERMETRICS_MetricFamilyDelete(fam))
            except InfermetricsError as e:
                first = first or e
        if first is not None:
            raise first

    def __del__(self):
        try:
            if getattr(self, "_family", None) is not None:
                self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<%s %s%s>" % (type(self).__name__, self.name, " closed" if self.closed else "")


class Counter(_Family):
    """A counter family. ``Counter("requests_total", "Requests", labels={"model": "resnet"})``
    makes the family and its series with those labels; ``.inc()`` and ``.value`` act on that
    series, ``.labels(version="2")`` gives another series (labels added to the constant ones).
    With ``labelnames=(...)`` no default series is made and ``.labels`` must name exactly those."""
    _kind = MetricKind.COUNTER
    _series_cls = CounterSeries

    def inc(self, amount=1.0):
        self._d().inc(amount)


class Gauge(_Family):
    """A gauge family (see Counter): ``.set(v)``, ``.inc(a)``, ``.dec(a)``, ``.value``."""
    _kind = MetricKind.GAUGE
    _series_cls = GaugeSeries

    def set(self, value):
        self._d().set(value)

    def inc(self, amount=1.0):
        self._d().inc(amount)

    def dec(self, amount=1.0):
        self._d().dec(amount)


DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class Histogram(_Family):
    """A histogram family (see Counter) with upper bucket bounds ``buckets`` (strictly increasing;
    +Inf is implicit): ``.observe(v)``, ``with h.time(): ...``."""
    _kind = MetricKind.HISTOGRAM
    _series_cls = HistogramSeries

    def __init__(self, name, description="", labels=None, labelnames=None, buckets=DEFAULT_BUCKETS):
        self.buckets = tuple(float(b) for b in buckets)
        super().__init__(name, description, labels, labelnames)

    def _setup(self):
        args = _lib.ArgsP()
        _check(LIB.INFERMETRICS_MetricArgsNew(byref(args)))
        self._args = args
        n = len(self.buckets)
        arr = (c_double * n)(*self.buckets) if n else None
        _check(LIB.INFERMETRICS_MetricArgsSetHistogram(args, arr, n))

    def _new_metric(self, out, params, n):
        return LIB.INFERMETRICS_MetricNewWithArgs(out, self._family, params, n, self._args)

    def observe(self, value):
        self._d().observe(value)

    def time(self):
        return self._d().time()


# --- server ------------------------------------------------------------------------------------
_servers = weakref.WeakSet()


class Server(_Closing):
    """The embedded Prometheus endpoint (GET /metrics) with its GPU, CPU and pinned-memory
    collectors, which poll on the server's own thread every ``interval_ms``.

    ``address``, ``port`` and ``interval_ms`` left as None take the library's defaults
    ("0.0.0.0", 8002, 2000) or the INFERMETRICS_ADDRESS / INFERMETRICS_PORT /
    INFERMETRICS_INTERVAL_MS environment overrides. ``port=0`` binds any free port; read ``.port``.
    """

    def __init__(self, address=None, port=None, interval_ms=None, gpu=True, cpu=True, pinned=True):
        self._handle = None
        opts = _lib.OptionsP()
        _check(_fn("INFERMETRICS_ServerOptionsNew")(byref(opts)))
        try:
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
            h = _lib.ServerP()
            _check(LIB.INFERMETRICS_ServerNew(byref(h), opts))
            self._handle = h
        finally:
            _check(LIB.INFERMETRICS_ServerOptionsDelete(opts))
        p = c_uint16()
        try:
            _check(LIB.INFERMETRICS_ServerPort(self._handle, byref(p)))
        except BaseException:
            self.close()
            raise
        self.port = p.value
        _servers.add(self)

    def _h(self):
        if self._handle is None:
            raise ValueError("the infermetrics Server is closed")
        return self._handle

    @property
    def closed(self):
        return self._handle is None

    def snapshot(self):
        """What GET /metrics serves now: the registry plus this server's collector series."""
        return _render(self._h())

    def report_pinned(self, total_bytes, used_bytes):
        report_pinned_memory(total_bytes, used_bytes)

    def close(self):
        """Stops the server and joins its thread."""
        h, self._handle = self._handle, None
        if h is not None:
            _check(LIB.INFERMETRICS_ServerDelete(h))

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<infermetrics.Server port=%s%s>" % (getattr(self, "port", None), " closed" if self.closed else "")


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

"""Counter, Gauge, Histogram, Summary, Info and Enum shaped like prometheus_client.metrics.

Each metric is a C family of libinfermetrics; each child (one label set) holds C series handles,
and recording is one ctypes call into a few atomics. What differs from prometheus_client, and why,
is tabled in python/README.md.
"""
import contextlib
import functools
import os
import threading
import time as _time
import weakref

from . import _core
from ._core import CFamily, ErrorCode, InfermetricsError, MetricKind, _check, _Closing, _raise
from .registry import REGISTRY, release, reserve

INF = float("inf")
_increment, _set, _observe = _core.increment, _core.set_value, _core.observe
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _build_full_name(metric_type, name, namespace, subsystem, unit):
    # as prometheus_client: namespace_subsystem_name, "_total" cut from counters, "_unit" appended
    if not name:
        raise ValueError("Metric name should not be empty")
    full_name = ""
    if namespace:
        full_name += namespace + "_"
    if subsystem:
        full_name += subsystem + "_"
    full_name += name
    if metric_type == "counter" and full_name.endswith("_total"):
        full_name = full_name[:-6]
    if unit and not full_name.endswith("_" + unit):
        full_name += "_" + unit
    if unit and metric_type in ("info", "stateset"):
        raise ValueError("Metric name is of a type that cannot have a unit: " + full_name)
    return full_name


def _validate_labelname(name, reserved):
    if not name or name[0].isdigit() or not set(name) <= _LABEL_CHARS:
        raise ValueError("Invalid label metric name: " + str(name))
    if name.startswith("__"):
        raise ValueError("Reserved label metric name: " + name)
    if name in reserved:
        raise ValueError("Reserved label metric name: " + name)


# --- decorators and context managers (prometheus_client.context_managers) ----------------------
class ExceptionCounter(contextlib.ContextDecorator):
    def __init__(self, counter, exception):
        self._counter = counter
        self._exception = exception

    def __enter__(self):
        pass

    def __exit__(self, typ, value, traceback):
        if isinstance(value, self._exception):
            self._counter.inc()
        return False


class InprogressTracker(contextlib.ContextDecorator):
    def __init__(self, gauge):
        self._gauge = gauge

    def __enter__(self):
        self._gauge.inc()

    def __exit__(self, typ, value, traceback):
        self._gauge.dec()


class Timer:
    """Calls metric.<callback>(seconds) when the block or function ends; `labels(...)` inside the
    block picks the child to record into, as prometheus_client's Timer does."""

    def __init__(self, metric, callback_name):
        self._metric = metric
        self._callback_name = callback_name
        self.duration = None

    def __enter__(self):
        self._start = _time.perf_counter()
        return self

    def __exit__(self, typ, value, traceback):
        self.duration = max(_time.perf_counter() - self._start, 0)
        getattr(self._metric, self._callback_name)(self.duration)

    def labels(self, *args, **kw):
        self._metric = self._metric.labels(*args, **kw)

    def __call__(self, f):
        @functools.wraps(f)
        def wrapped(*args, **kwargs):
            with Timer(self._metric, self._callback_name):  # a new timer per call: reentrant
                return f(*args, **kwargs)
        return wrapped


# --- the base class ------------------------------------------------------------------------------
class MetricWrapperBase(_Closing):
    """A metric (a parent, with ``labelnames``) or one child series of it (from ``.labels()``).

    Arguments as prometheus_client's, plus ``const_labels={name: value}``: labels every series of
    this metric carries (prometheus_client has no such argument; it is not ``labels=``)."""
    _type = None
    _reserved_labelnames = ()
    _child_attrs = ()

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, *, const_labels=None, **unexpected):
        if "labels" in unexpected:
            raise TypeError("infermetrics: labels= was renamed const_labels= (labels every series carries); "
                            "label names go in labelnames=, values in .labels(...)")
        if unexpected:
            raise TypeError("%s() got unexpected keyword arguments %s" % (type(self).__name__, sorted(unexpected)))
        if _labelvalues:
            raise ValueError("_labelvalues is internal to prometheus_client; use .labels(...)")
        if isinstance(labelnames, str):
            raise TypeError("labelnames must be a sequence of names, not the string %r" % labelnames)
        self._closed = False
        self._families = ()
        self._registry = None
        self._name = _build_full_name(self._type, name, namespace, subsystem, unit)
        self._documentation = str(documentation)
        self._unit = unit
        self._labelnames = tuple(str(n) for n in labelnames)
        for n in self._labelnames:
            _validate_labelname(n, self._reserved_labelnames)
        if len(set(self._labelnames)) != len(self._labelnames):
            raise ValueError("Duplicate label names in %r" % (self._labelnames,))
        self._const_labels = {str(k): str(v) for k, v in (const_labels or {}).items()}
        for n in self._const_labels:
            _validate_labelname(n, self._reserved_labelnames)
            if n in self._labelnames:
                raise ValueError("%r is both a label name and a constant label" % n)
        self._labelvalues = ()
        self._root = self
        self._lock = threading.Lock()
        self._metrics = {}
        reserve(self, self._series_names())
        try:
            self._families = self._make_families()
            if not self._labelnames:
                self._metric_init()
        except BaseException:
            self.close()
            raise
        if registry is not None:
            registry.register(self)
            self._registry = registry

    # names -----------------------------------------------------------------------------------
    def _series_names(self):
        """The names prometheus_client's registry reserves for this metric."""
        suffixes = {"counter": ("_total", "_created"), "summary": ("_sum", "_count", "_created"),
                    "histogram": ("_bucket", "_sum", "_count", "_created"), "info": ("_info",)}
        return [self._name] + [self._name + s for s in suffixes.get(self._type, ())]

    def _family_names(self):
        return [f.name for f in self._families]

    def _make_families(self):
        raise NotImplementedError

    # children --------------------------------------------------------------------------------
    def _series_labels(self, extra=None):
        labels = dict(self._const_labels)
        labels.update(zip(self._labelnames, self._labelvalues))
        if extra:
            labels.update(extra)
        return labels

    def labels(self, *labelvalues, **labelkwargs):
        """The child with these label values (by position in ``labelnames`` order, or by name),
        made on first use and kept until remove()/clear()/close()."""
        if not self._labelnames:
            raise ValueError("No label names were set when constructing %s" % self)
        if self._labelvalues:
            raise ValueError("%s already has labels set (%s); can not chain calls to .labels()"
                             % (self, dict(zip(self._labelnames, self._labelvalues))))
        if labelvalues and labelkwargs:
            raise ValueError("Can't pass both *args and **kwargs")
        if labelkwargs:
            if sorted(labelkwargs) != sorted(self._labelnames):
                raise ValueError("Incorrect label names")
            values = tuple(str(labelkwargs[n]) for n in self._labelnames)
        else:
            if len(labelvalues) != len(self._labelnames):
                raise ValueError("Incorrect label count")
            values = tuple(str(v) for v in labelvalues)
        child = self._metrics.get(values)
        if child is not None:
            return child
        with self._lock:
            if self._closed:
                raise ValueError("%s is closed" % self)
            child = self._metrics.get(values)
            if child is None:
                child = object.__new__(type(self))
                child.__dict__.update({a: getattr(self, a) for a in (
                    "_name", "_documentation", "_unit", "_labelnames", "_const_labels", "_families")
                    + self._child_attrs})
                child._closed = False
                child._root = self
                child._labelvalues = values
                child._lock = threading.Lock()
                child._metric_init()
                self._metrics[values] = child
            return child

    def remove(self, *labelvalues):
        """Deletes the child with these label values (its series leave the output)."""
        if not self._labelnames:
            raise ValueError("No label names were set when constructing %s" % self)
        if len(labelvalues) != len(self._labelnames):
            raise ValueError("Incorrect label count (expected %d, got %s)" % (len(self._labelnames), labelvalues))
        with self._lock:
            child = self._metrics.pop(tuple(str(v) for v in labelvalues), None)
        if child is not None:
            child._metric_close()

    def remove_by_labels(self, labels):
        """Deletes every child whose labels include these (name: value) pairs."""
        if not self._labelnames:
            raise ValueError("No label names were set when constructing %s" % self)
        unknown = [k for k in labels if k not in self._labelnames]
        if unknown:
            raise ValueError("Unknown label names: %s; expected %s" % (unknown, self._labelnames))
        want = {self._labelnames.index(k): str(v) for k, v in labels.items()}
        with self._lock:
            gone = [lv for lv in self._metrics if all(lv[i] == v for i, v in want.items())]
            children = [self._metrics.pop(lv) for lv in gone]
        for child in children:
            child._metric_close()

    def clear(self):
        """Deletes every child."""
        with self._lock:
            children, self._metrics = list(self._metrics.values()), {}
        for child in children:
            child._metric_close()

    def close(self):
        """Deletes this metric: a child leaves its parent; a parent deletes its children, its series
        and its C families, frees its name and leaves its registry. `with metric:` does this on exit."""
        if self._root is not self:
            self._root.remove(*self._labelvalues)
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
            children, self._metrics = list(self._metrics.values()), {}
        try:
            for child in children:
                child._metric_close()
            if not self._labelnames:
                self._metric_close()
            for fam in self._families:
                fam.close()
        finally:
            release(self)
            if self._registry is not None:
                self._registry._forget(self)
            REGISTRY._forget(self)

    @property
    def closed(self):
        return self._root._closed or (self._root is not self and self._closed)

    def _unusable(self):
        if self._labelnames and not self._labelvalues:
            raise ValueError("%s metric is missing label values" % self._type)
        raise ValueError("%s is closed" % self)

    def _metric_init(self):
        raise NotImplementedError

    def _metric_close(self):
        raise NotImplementedError

    def __str__(self):
        return "%s:%s" % (self._type, self._name)

    def __repr__(self):
        labels = self._series_labels()
        return "infermetrics.%s(%s%s)" % (type(self).__name__, self._name, labels or "")


class _OneSeries(MetricWrapperBase):
    """A metric whose child is one C series (counter, gauge, histogram)."""
    _kind = None
    _handle = None

    def _family_name(self):
        return self._name

    def _buckets_arg(self):
        return None

    def _make_families(self):
        return (CFamily(self._kind, self._family_name(), self._documentation, self._buckets_arg()),)

    def _metric_init(self):
        self._handle = self._families[0].new_series(self._series_labels())

    def _metric_close(self):
        h, self._handle = self._handle, None
        self._closed = True
        if h is not None:
            CFamily.delete_series(h)

    @property
    def value(self):
        """This child's current value (counters and gauges; infermetrics only)."""
        h = self._handle
        if h is None:
            self._unusable()
        return _core.value_of(h)


class Counter(_OneSeries):
    """A counter: ``inc(amount=1)``, ``count_exceptions()``. The name is rendered with one
    ``_total``, whether given or not."""
    _type = "counter"
    _kind = MetricKind.COUNTER

    def _family_name(self):
        return self._name + "_total"

    def inc(self, amount=1, exemplar=None):
        """Adds ``amount`` (>= 0). ``exemplar`` ({label: value}, at most 128 characters in
        all, as in prometheus_client) becomes this counter's latest exemplar, served in
        OpenMetrics output only; an empty or None exemplar records none."""
        h = self._handle
        if h is None:
            self._unusable()
        if exemplar:
            _core.increment_with_exemplar(h, amount, exemplar)
            return
        err = _increment(h, amount)
        if err:
            _raise(err)

    def count_exceptions(self, exception=Exception):
        """Counts exceptions of type ``exception`` leaving a block or function (decorator or ``with``)."""
        if self._handle is None:
            self._unusable()
        return ExceptionCounter(self, exception)


_function_gauges = weakref.WeakSet()
_refresher_lock = threading.Lock()
_refresher = {"thread": None, "pid": None}
FUNCTION_REFRESH_SECONDS = 1.0


def refresh_function_gauges():
    """Sets every set_function() gauge from its function (generate_latest() does this first)."""
    for g in list(_function_gauges):
        g._refresh()


def _refresh_loop():
    while True:
        _time.sleep(FUNCTION_REFRESH_SECONDS)
        try:
            refresh_function_gauges()
        except Exception:  # a closed gauge racing with the loop
            pass


def _ensure_refresher(_server=None):
    """While a server runs, a daemon thread refreshes function gauges every second (the native
    server cannot call Python when scraped)."""
    if not _function_gauges or not _core._servers:
        return
    with _refresher_lock:
        t = _refresher["thread"]
        if t is not None and t.is_alive() and _refresher["pid"] == os.getpid():
            return
        t = threading.Thread(target=_refresh_loop, name="infermetrics-function-gauges", daemon=True)
        t.start()
        _refresher.update(thread=t, pid=os.getpid())


_core.server_started_hooks.append(_ensure_refresher)


class Gauge(_OneSeries):
    """A gauge: ``inc``, ``dec``, ``set``, ``set_to_current_time``, ``track_inprogress()``,
    ``time()``, ``set_function(f)``. ``multiprocess_mode`` is accepted and ignored (each process
    serves its own values: see python/README.md, "Forking servers")."""
    _type = "gauge"
    _kind = MetricKind.GAUGE
    _function = None
    _MULTIPROC_MODES = frozenset(("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum",
                                  "mostrecent", "livemostrecent"))

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, multiprocess_mode="all", **kwargs):
        if multiprocess_mode not in self._MULTIPROC_MODES:
            raise ValueError("Invalid multiprocess mode: " + multiprocess_mode)
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues,
                         **kwargs)

    def inc(self, amount=1):
        h = self._handle
        if h is None:
            self._unusable()
        if self._function is None:
            err = _increment(h, amount)
            if err:
                _raise(err)

    def dec(self, amount=1):
        h = self._handle
        if h is None:
            self._unusable()
        if self._function is None:
            err = _increment(h, -amount)
            if err:
                _raise(err)

    def set(self, value):
        h = self._handle
        if h is None:
            self._unusable()
        if self._function is None:
            err = _set(h, float(value))
            if err:
                _raise(err)

    def set_to_current_time(self):
        self.set(_time.time())

    def track_inprogress(self):
        """+1 on entering a block or function, -1 on leaving (decorator or ``with``)."""
        if self._handle is None:
            self._unusable()
        return InprogressTracker(self)

    def time(self):
        """Sets the gauge to the seconds a block or function took (decorator or ``with``)."""
        return Timer(self, "set")

    def set_function(self, f):
        """Takes the value from ``f()``: when generate_latest() runs, and every second while a
        Server runs (the native server cannot call Python at scrape time). The other methods
        become no-ops, as in prometheus_client."""
        if self._handle is None:
            self._unusable()
        self._function = f
        _function_gauges.add(self)
        self._refresh()
        _ensure_refresher()

    def _refresh(self):
        f, h = self._function, self._handle
        if f is None or h is None:
            return
        try:
            v = float(f())
        except Exception:
            _core.log.exception("infermetrics: the function of gauge %r raised", self)
            return
        _check(_set(h, v))

    def _metric_close(self):
        _function_gauges.discard(self)
        super()._metric_close()


class Histogram(_OneSeries):
    """A histogram: ``observe(amount)``, ``time()``. ``buckets``: sorted upper bounds; +Inf is
    added when missing, as prometheus_client does."""
    _type = "histogram"
    _kind = MetricKind.HISTOGRAM
    _reserved_labelnames = ("le",)
    _child_attrs = ("_upper_bounds",)
    DEFAULT_BUCKETS = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, buckets=DEFAULT_BUCKETS, **kwargs):
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        if bounds and bounds[-1] != INF:
            bounds.append(INF)
        if len(bounds) < 2:
            raise ValueError("Must have at least two buckets")
        self._upper_bounds = bounds
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues,
                         **kwargs)

    def _buckets_arg(self):
        return self._upper_bounds[:-1]  # the C library adds +Inf itself

    def observe(self, amount, exemplar=None):
        """Records ``amount``. ``exemplar`` ({label: value}, at most 128 characters in all, as
        in prometheus_client) becomes the latest exemplar of the bucket ``amount`` falls in,
        served in OpenMetrics output only; an empty or None exemplar records none."""
        h = self._handle
        if h is None:
            self._unusable()
        if exemplar:
            _core.observe_with_exemplar(h, amount, exemplar)
            return
        err = _observe(h, amount)
        if err:
            _raise(err)

    def time(self):
        """Observes the seconds a block or function took (decorator or ``with``)."""
        return Timer(self, "observe")

    @property
    def value(self):
        raise AttributeError("a histogram has no single value; read its _count/_sum with "
                             "REGISTRY.get_sample_value()")


class Summary(MetricWrapperBase):
    """A summary without quantiles, as prometheus_client's: ``_count`` and ``_sum`` series.

    The C library has no summary type, so they are a counter family ``<name>_count`` and a gauge
    family ``<name>_sum``: the same series and values as prometheus_client's, typed counter and
    gauge in ``# TYPE`` instead of summary. Prefer Histogram, which also gives quantiles."""
    _type = "summary"
    _reserved_labelnames = ("quantile",)
    _count = _sum = None

    def _make_families(self):
        count = CFamily(MetricKind.COUNTER, self._name + "_count", self._documentation)
        try:
            return (count, CFamily(MetricKind.GAUGE, self._name + "_sum", self._documentation))
        except BaseException:
            count.close()
            raise

    def _metric_init(self):
        labels = self._series_labels()
        self._count = self._families[0].new_series(labels)
        try:
            self._sum = self._families[1].new_series(labels)
        except BaseException:
            self._metric_close()
            raise

    def _metric_close(self):
        self._closed = True
        for attr in ("_sum", "_count"):
            h = getattr(self, attr)
            setattr(self, attr, None)
            if h is not None:
                CFamily.delete_series(h)

    def observe(self, amount):
        c, s = self._count, self._sum
        if c is None or s is None:
            self._unusable()
        if amount != amount:  # NaN, refused as a histogram refuses it
            raise InfermetricsError(ErrorCode.INVALID_ARG, "%s: cannot observe NaN" % self._name)
        err = _increment(s, amount)  # the sum first: a bad amount leaves both untouched
        if err:
            _raise(err)
        _check(_increment(c, 1.0))

    def time(self):
        return Timer(self, "observe")


class Info(MetricWrapperBase):
    """Key-value information: ``info({"version": "1.2.3"})``, served as the gauge ``<name>_info``
    with those labels and value 1 (as prometheus_client renders it)."""
    _type = "info"
    _handle = None
    _info = None

    def _make_families(self):
        return (CFamily(MetricKind.GAUGE, self._name + "_info", self._documentation),)

    def _metric_init(self):
        self._info = {}
        self._handle = self._new_handle({})

    def _new_handle(self, val):
        h = self._families[0].new_series(self._series_labels(val))
        err = _set(h, 1.0)
        if err:
            CFamily.delete_series(h)
            _raise(err)
        return h

    def info(self, val):
        """Replaces the info labels with ``val`` ({name: value})."""
        if set(self._labelnames).intersection(val.keys()) or set(self._const_labels).intersection(val.keys()):
            raise ValueError("Overlapping labels for Info metric, metric: %s child: %s" % (self._labelnames, val))
        if any(v is None for v in val.values()):
            raise ValueError("Label value cannot be None")
        for k in val:
            _validate_labelname(k, ())
        val = {str(k): str(v) for k, v in val.items()}
        with self._lock:
            if self._handle is None:
                self._unusable()
            new = self._new_handle(val)  # the new series first, so a scrape never sees none
            old, self._handle, self._info = self._handle, new, val
            CFamily.delete_series(old)

    def _metric_close(self):
        self._closed = True
        h, self._handle = self._handle, None
        if h is not None:
            CFamily.delete_series(h)


class Enum(MetricWrapperBase):
    """Which of ``states`` holds: ``state("running")``; the gauge ``<name>`` with one series per
    state (label ``<name>="<state>"``), 1 for the current one and 0 for the others. The first
    state is the initial one."""
    _type = "stateset"
    _child_attrs = ("_states",)
    _handles = ()

    def __init__(self, name, documentation, labelnames=(), namespace="", subsystem="", unit="",
                 registry=REGISTRY, _labelvalues=None, states=None, **kwargs):
        if name in labelnames:
            raise ValueError("Overlapping labels for Enum metric: %s" % (name,))
        if not states:
            raise ValueError("No states provided for Enum metric: %s" % (name,))
        self._states = [str(s) for s in states]
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues,
                         **kwargs)

    def _make_families(self):
        return (CFamily(MetricKind.GAUGE, self._name, self._documentation),)

    def _metric_init(self):
        handles = []
        try:
            for i, s in enumerate(self._states):
                h = self._families[0].new_series(self._series_labels({self._name: s}))
                handles.append(h)
                err = _set(h, 1.0 if i == 0 else 0.0)
                if err:
                    _raise(err)
        except BaseException:
            for h in handles:
                CFamily.delete_series(h)
            raise
        self._handles = handles
        self._current = 0

    def state(self, state):
        """Sets the current state (one of ``states``; ValueError otherwise)."""
        i = self._states.index(state)
        with self._lock:
            handles = self._handles
            if not handles:
                self._unusable()
            if i != self._current:
                _check(_set(handles[self._current], 0.0))
                _check(_set(handles[i], 1.0))
                self._current = i

    def _metric_close(self):
        self._closed = True
        handles, self._handles = self._handles, ()
        for h in handles:
            CFamily.delete_series(h)


def disable_created_metrics():
    """No-op: infermetrics never renders ``_created`` series."""


def enable_created_metrics():
    """No-op: infermetrics never renders ``_created`` series."""


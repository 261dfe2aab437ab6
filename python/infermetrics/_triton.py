"""Summaries and Triton's inference statistics for any Python server (issue 13).

``QuantileSummary`` is one series of a family of kind INFERMETRICS_METRIC_KIND_SUMMARY (quantiles
over a sliding window, ``_sum``, ``_count``; prometheus_client's ``Summary`` has no quantiles). ``ModelReporter`` produces Triton's ``nv_inference_*`` series for a
model version from the timestamps of each request; ``with reporter.request() as r:`` takes them
around a request. ``set_metrics_config`` is Triton's ``--metrics-config``.
"""
import threading
import time
from contextlib import contextmanager
from ctypes import POINTER, byref, c_bool, c_char_p, c_double, c_int64, c_uint64

from . import _lib
from ._core import LIB, ErrorCode, InfermetricsError, _check, _Closing, _cstr

SUMMARY_KIND = 3  # INFERMETRICS_METRIC_KIND_SUMMARY


class ModelReporter_(_lib._Opaque):
    pass


ReporterP = POINTER(ModelReporter_)

_PROTOTYPES = {
    "INFERMETRICS_MetricArgsSetSummary": (_lib.ErrorP, [_lib.ArgsP, POINTER(c_double), POINTER(c_double),
                                                        c_uint64, c_uint64, c_uint64]),
    "INFERMETRICS_SetMetricsConfig": (_lib.ErrorP, [c_char_p]),
    "INFERMETRICS_ModelReporterNew": (_lib.ErrorP, [POINTER(ReporterP), c_char_p, c_char_p,
                                                    POINTER(_lib.ParameterP), c_uint64]),
    "INFERMETRICS_ModelReporterDelete": (_lib.ErrorP, [ReporterP]),
    "INFERMETRICS_ModelReporterReportRequest": (_lib.ErrorP, [ReporterP, c_bool, c_char_p, c_uint64] + [c_uint64] * 7),
    "INFERMETRICS_ModelReporterReportBatch": (_lib.ErrorP, [ReporterP, c_uint64] + [c_uint64] * 4),
    "INFERMETRICS_ModelReporterReportCacheHit": (_lib.ErrorP, [ReporterP] + [c_uint64] * 4),
    "INFERMETRICS_ModelReporterFirstResponse": (_lib.ErrorP, [ReporterP, c_uint64, c_uint64]),
    "INFERMETRICS_ModelReporterPendingAdd": (_lib.ErrorP, [ReporterP, c_int64]),
    "INFERMETRICS_ModelReporterSetHistogramBuckets": (_lib.ErrorP, [ReporterP, c_char_p, POINTER(c_double),
                                                                    c_uint64]),
}
for _name, (_res, _args) in _PROTOTYPES.items():
    _f = getattr(LIB, _name, None)
    if _f is not None:
        _f.restype = _res
        _f.argtypes = _args


def _fn(name):
    f = getattr(LIB, name, None)
    if f is None:
        raise InfermetricsError(ErrorCode.UNSUPPORTED,
                                "%s is missing from the loaded libinfermetrics (too old a build?)" % name)
    return f


def now_ns():
    """Nanoseconds on the monotonic clock (CLOCK_MONOTONIC) the reporter's timestamps come from."""
    return time.monotonic_ns()


def set_metrics_config(config):
    """Triton's ``--metrics-config`` for reporters created afterwards, e.g.
    ``"histogram_latencies=true;summary_latencies=true;summary_quantiles=0.5:0.05,0.99:0.001"``.
    The environment variable INFERMETRICS_METRICS_CONFIG, when set, wins."""
    _check(_fn("INFERMETRICS_SetMetricsConfig")(_cstr(config, "metrics config")))


# --- summaries ---------------------------------------------------------------------------------
DEFAULT_QUANTILES = ((0.5, 0.05), (0.9, 0.01), (0.95, 0.001), (0.99, 0.001), (0.999, 0.001))


class QuantileSummary(_Closing):
    """One summary series with quantiles: ``QuantileSummary("latency_us", "Latency",
    labels={"model": "a"})``, ``.observe(v)``, ``with s.time(): ...``. ``quantiles`` are (quantile,
    allowed rank error) pairs (Triton's defaults), over a sliding window of ``max_age_ms`` in
    ``age_buckets`` (0: 60000 ms and 5, as prometheus-cpp). Recording takes no lock."""

    def __init__(self, name, documentation="", labels=None, quantiles=DEFAULT_QUANTILES, max_age_ms=0,
                 age_buckets=0):
        self.name = name
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self.quantiles = tuple((float(q), float(e)) for q, e in quantiles)
        self._family = self._args = self._series = None
        try:
            fam = _lib.FamilyP()
            _check(LIB.INFERMETRICS_MetricFamilyNew(byref(fam), SUMMARY_KIND, _cstr(name, "metric name"),
                                                    _cstr(documentation, "documentation")))
            self._family = fam
            args = _lib.ArgsP()
            _check(LIB.INFERMETRICS_MetricArgsNew(byref(args)))
            self._args = args
            n = len(self.quantiles)
            qs = (c_double * n)(*(q for q, _ in self.quantiles)) if n else None
            es = (c_double * n)(*(e for _, e in self.quantiles)) if n else None
            _check(_fn("INFERMETRICS_MetricArgsSetSummary")(args, qs, es, n, int(max_age_ms), int(age_buckets)))
            params = []
            try:
                for k, v in self.labels.items():
                    p = LIB.INFERMETRICS_ParameterNew(_cstr(k, "label name"), 0, c_char_p(_cstr(v, "label value")))
                    if not p:
                        raise InfermetricsError(ErrorCode.INVALID_ARG, "cannot make label %r=%r" % (k, v))
                    params.append(p)
                arr = (_lib.ParameterP * len(params))(*params) if params else None
                h = _lib.MetricP()
                _check(LIB.INFERMETRICS_MetricNewWithArgs(byref(h), fam, arr, len(params), args))
                self._series = h
            finally:
                for p in params:
                    LIB.INFERMETRICS_ParameterDelete(p)
        except BaseException:
            self.close()
            raise

    def observe(self, value):
        if self._series is None:
            raise ValueError("summary %r is closed" % self.name)
        _check(LIB.INFERMETRICS_MetricObserve(self._series, float(value)))

    @contextmanager
    def time(self):
        """Observes the seconds the ``with`` block took."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - start)

    @property
    def value(self):
        """A summary has no single value: raises InfermetricsError UNSUPPORTED, as the C API does."""
        v = c_double()
        _check(LIB.INFERMETRICS_MetricValue(self._series, byref(v)))
        return v.value

    def close(self):
        series, self._series = self._series, None
        args, self._args = self._args, None
        fam, self._family = self._family, None
        if series is not None:
            _check(LIB.INFERMETRICS_MetricDelete(series))
        if args is not None:
            _check(LIB.INFERMETRICS_MetricArgsDelete(args))
        if fam is not None:
            _check(LIB.INFERMETRICS_MetricFamilyDelete(fam))


# --- Triton's inference statistics -------------------------------------------------------------
class Request:
    """The timestamps of one request, taken by ``ModelReporter.request()``. Mark the phases as
    they happen (each mark left out takes the one before it): ``enqueued()``, ``exec_start()``,
    ``compute_start()``, ``compute_end()``, ``exec_end()``; ``fail(reason)`` makes it a failure
    ("REJECTED", "CANCELED", "BACKEND", "OTHER")."""
    __slots__ = ("request_start", "queue_start", "exec_start_ns", "compute_start_ns", "compute_end_ns",
                 "exec_end_ns", "batch_size", "failure")

    def __init__(self, batch_size):
        self.request_start = now_ns()
        self.queue_start = self.exec_start_ns = self.compute_start_ns = None
        self.compute_end_ns = self.exec_end_ns = None
        self.batch_size = batch_size
        self.failure = None

    def enqueued(self):
        self.queue_start = now_ns()

    def exec_start(self):
        self.exec_start_ns = now_ns()

    def compute_start(self):
        self.compute_start_ns = now_ns()

    def compute_end(self):
        self.compute_end_ns = now_ns()

    def exec_end(self):
        self.exec_end_ns = now_ns()

    def fail(self, reason="BACKEND"):
        self.failure = reason

    def _times(self, end):
        out = [self.request_start]
        for t in (self.queue_start, self.exec_start_ns, self.compute_start_ns, self.compute_end_ns,
                  self.exec_end_ns):
            out.append(out[-1] if t is None else t)
        out.append(end)
        return out


class ModelReporter:
    """Triton's per-model inference series (``nv_inference_request_success``, ``_failure{reason}``,
    ``nv_inference_count``, ``nv_inference_exec_count``, the ``*_duration_us`` counters, and the
    summaries and histograms ``set_metrics_config`` turns on) for ``model``/``version``, with one
    label ``_<key>`` per tag. Reporters with the same labels share their series.

        reporter = ModelReporter("resnet50", "1")
        with reporter.request(batch_size=4) as r:   # a failure if the block raises
            r.enqueued(); ...; r.compute_start(); run(); r.compute_end()
    """

    def __init__(self, model, version="1", tags=None):
        self.model, self.version = str(model), str(version)
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self._lock = threading.Lock()
        self._handle = None
        params = []
        try:
            for k, v in self.tags.items():
                p = LIB.INFERMETRICS_ParameterNew(_cstr(k, "tag name"), 0, c_char_p(_cstr(v, "tag value")))
                if not p:
                    raise InfermetricsError(ErrorCode.INVALID_ARG, "cannot create tag %r=%r" % (k, v))
                params.append(p)
            arr = (_lib.ParameterP * len(params))(*params) if params else None
            h = ReporterP()
            _check(_fn("INFERMETRICS_ModelReporterNew")(byref(h), _cstr(self.model, "model"),
                                                        _cstr(self.version, "version"), arr, len(params)))
            self._handle = h
        finally:
            for p in params:
                LIB.INFERMETRICS_ParameterDelete(p)

    def _h(self):
        h = self._handle
        if h is None:
            raise ValueError("ModelReporter %r version %r is closed" % (self.model, self.version))
        return h

    @property
    def closed(self):
        return self._handle is None

    def report_success(self, batch_size, request_start, queue_start, exec_start, compute_start, compute_end,
                       exec_end, request_end):
        _check(LIB.INFERMETRICS_ModelReporterReportRequest(self._h(), True, None, int(batch_size), request_start,
                                                           queue_start, exec_start, compute_start, compute_end,
                                                           exec_end, request_end))

    def report_failure(self, reason, request_start, request_end):
        r = None if reason is None else _cstr(reason, "failure reason")
        _check(LIB.INFERMETRICS_ModelReporterReportRequest(self._h(), False, r, 1, request_start, 0, 0, 0, 0, 0,
                                                           request_end))

    def report_batch(self, batch_size, exec_start, compute_start, compute_end, exec_end):
        _check(LIB.INFERMETRICS_ModelReporterReportBatch(self._h(), int(batch_size), exec_start, compute_start,
                                                         compute_end, exec_end))

    def report_cache_hit(self, request_start, queue_start, request_end, lookup_ns):
        _check(LIB.INFERMETRICS_ModelReporterReportCacheHit(self._h(), request_start, queue_start, request_end,
                                                            int(lookup_ns)))

    def first_response(self, request_start, first_response=None):
        _check(LIB.INFERMETRICS_ModelReporterFirstResponse(
            self._h(), request_start, now_ns() if first_response is None else first_response))

    def pending_add(self, delta):
        _check(LIB.INFERMETRICS_ModelReporterPendingAdd(self._h(), int(delta)))

    def set_histogram_buckets(self, family, buckets):
        n = len(buckets)
        arr = (c_double * n)(*buckets) if n else None
        _check(LIB.INFERMETRICS_ModelReporterSetHistogramBuckets(self._h(), _cstr(family, "family"), arr, n))

    @contextmanager
    def request(self, batch_size=1):
        """Times one request: it starts now and ends when the block ends; a success unless the block
        raises (BACKEND; CANCELED for asyncio.CancelledError) or calls ``fail(reason)``."""
        req = Request(batch_size)
        try:
            yield req
        except BaseException as e:
            if req.failure is None:
                req.failure = "CANCELED" if type(e).__name__ == "CancelledError" else "BACKEND"
            self.report_failure(req.failure, req.request_start, now_ns())
            raise
        end = now_ns()
        if req.failure is not None:
            self.report_failure(req.failure, req.request_start, end)
        else:
            self.report_success(req.batch_size, *req._times(end))

    def close(self):
        """Deletes the reporter (its series go unless another reporter shares them)."""
        with self._lock:
            h, self._handle = self._handle, None
        if h is not None:
            _check(LIB.INFERMETRICS_ModelReporterDelete(h))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<infermetrics.ModelReporter %s/%s%s>" % (self.model, self.version, " closed" if self.closed else "")

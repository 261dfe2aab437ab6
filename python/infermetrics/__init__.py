"""infermetrics: Prometheus metrics (Triton's metrics API) and a /metrics server for Python
services, over libinfermetrics.so through ctypes.

The library is found through the environment variable INFERMETRICS_LIBRARY (path of the .so),
else the dynamic loader (libinfermetrics.so.1 / libinfermetrics.so) and the usual lib folders.
"""
from ._core import (DEFAULT_BUCKETS, Counter, CounterSeries, ErrorCode, Gauge, GaugeSeries, Histogram,
                    HistogramSeries, InfermetricsError, LogLevel, MetricKind, Server, api_version,
                    report_pinned_memory, set_log_callback, snapshot)
from ._core import LIB as _LIB
from ._triton import (DEFAULT_QUANTILES, ModelReporter, Request, Summary, SummarySeries, now_ns,
                      set_metrics_config)

__version__ = "0.1.0"

__all__ = ["Counter", "Gauge", "Histogram", "CounterSeries", "GaugeSeries", "HistogramSeries", "Server",
           "InfermetricsError", "ErrorCode", "MetricKind", "LogLevel", "DEFAULT_BUCKETS", "api_version",
           "snapshot", "report_pinned_memory", "set_log_callback",
           # issue 13: summaries and Triton's inference statistics (_triton.py)
           "Summary", "SummarySeries", "DEFAULT_QUANTILES", "ModelReporter", "Request", "now_ns",
           "set_metrics_config"]

if api_version()[0] != 1:
    raise ImportError("infermetrics: the loaded libinfermetrics implements C API %d.%d; this module needs 1.x"
                      % api_version())

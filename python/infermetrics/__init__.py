"""infermetrics: Prometheus metrics for Python services, shaped like prometheus_client (switching
is renaming the import), over libinfermetrics: Triton's metrics semantics, lock-free recording,
and a native /metrics server with GPU/CPU/pinned-memory collectors on its own threads.

The library is the one inside this package (the wheel's), else $INFERMETRICS_LIBRARY, else the
system's (see _lib.py); LIBRARY_PATH says which was loaded.
"""
from ._core import (LIBRARY_PATH, ErrorCode, InfermetricsError, LogLevel, MetricKind, Server, api_version,
                    report_pinned_memory, set_log_callback, set_max_series_per_family, snapshot)
from ._core import LIB as _LIB
from .exposition import (CONTENT_TYPE_LATEST, CONTENT_TYPE_PLAIN_0_0_4, generate_latest, make_asgi_app,
                         make_wsgi_app, start_collectors, start_http_server, start_wsgi_server,
                         write_to_textfile)
from .metrics import (Counter, Enum, Gauge, Histogram, Info, Summary, disable_created_metrics,
                      enable_created_metrics, refresh_function_gauges)
from .registry import REGISTRY, CollectorRegistry, DuplicateTimeseries
from ._triton import (DEFAULT_QUANTILES, ModelReporter, QuantileSummary, Request, now_ns,
                      set_metrics_config)

__version__ = "0.1.0"
DEFAULT_BUCKETS = Histogram.DEFAULT_BUCKETS

__all__ = [
    # prometheus_client's names
    "Counter", "Gauge", "Histogram", "Summary", "Info", "Enum", "CollectorRegistry", "REGISTRY",
    "CONTENT_TYPE_LATEST", "CONTENT_TYPE_PLAIN_0_0_4", "generate_latest", "start_http_server",
    "start_wsgi_server", "make_wsgi_app", "make_asgi_app", "write_to_textfile", "disable_created_metrics",
    "enable_created_metrics",
    # infermetrics' own
    "Server", "InfermetricsError", "ErrorCode", "MetricKind", "LogLevel", "DuplicateTimeseries",
    "DEFAULT_BUCKETS", "LIBRARY_PATH", "api_version", "snapshot", "report_pinned_memory",
    "set_log_callback", "set_max_series_per_family", "refresh_function_gauges", "start_collectors",
    # issue 13 (_triton.py): summaries with quantiles, Triton's inference statistics
    "QuantileSummary", "DEFAULT_QUANTILES", "ModelReporter", "Request", "now_ns", "set_metrics_config",
]

if api_version()[0] != 1:
    raise ImportError("infermetrics: the loaded libinfermetrics implements C API %d.%d; this module needs 1.x"
                      % api_version())

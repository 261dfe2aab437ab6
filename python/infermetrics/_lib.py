"""Loads libinfermetrics and declares the C prototypes (ctypes, no compiled parts).

Search order:
  1. libinfermetrics.so in this package's own folder (where the wheel puts it);
  2. the path in the environment variable INFERMETRICS_LIBRARY (a file, or a folder holding it);
  3. ctypes.util.find_library("infermetrics") (ld.so cache, LD_LIBRARY_PATH);
  4. the usual names and prefixes: libinfermetrics.so.1 / libinfermetrics.so via the dynamic
     loader, then under sys.prefix/lib, /usr/local/lib, /usr/lib and their multiarch folders.
The path actually loaded is infermetrics.LIBRARY_PATH.
"""
import ctypes
import ctypes.util
import os
import sys
from ctypes import (CFUNCTYPE, POINTER, c_bool, c_char_p, c_double, c_int, c_size_t, c_uint16,
                    c_uint32, c_uint64, c_void_p)

ENV_VAR = "INFERMETRICS_LIBRARY"
_NAMES = ("libinfermetrics.so.1", "libinfermetrics.so")


class _Opaque(ctypes.Structure):
    pass


class Error_(_Opaque):
    pass


class Parameter_(_Opaque):
    pass


class MetricFamily_(_Opaque):
    pass


class MetricArgs_(_Opaque):
    pass


class Metric_(_Opaque):
    pass


class Metrics_(_Opaque):
    pass


class ServerOptions_(_Opaque):
    pass


class Server_(_Opaque):
    pass


ErrorP = POINTER(Error_)
ParameterP = POINTER(Parameter_)
FamilyP = POINTER(MetricFamily_)
ArgsP = POINTER(MetricArgs_)
MetricP = POINTER(Metric_)
MetricsP = POINTER(Metrics_)
OptionsP = POINTER(ServerOptions_)
ServerP = POINTER(Server_)

# void (*INFERMETRICS_LogFn)(INFERMETRICS_LogLevel level, const char* message, void* userp)
LogFn = CFUNCTYPE(None, c_int, c_char_p, c_void_p)

# name: (restype, argtypes); functions marked optional may be absent from an older build.
_PROTOTYPES = {
    "INFERMETRICS_ErrorNew": (ErrorP, [c_int, c_char_p]),
    "INFERMETRICS_ErrorDelete": (None, [ErrorP]),
    "INFERMETRICS_ErrorCode": (c_int, [ErrorP]),
    "INFERMETRICS_ErrorCodeString": (c_char_p, [ErrorP]),
    "INFERMETRICS_ErrorMessage": (c_char_p, [ErrorP]),
    "INFERMETRICS_ParameterNew": (ParameterP, [c_char_p, c_int, c_void_p]),
    "INFERMETRICS_ParameterDelete": (None, [ParameterP]),
    "INFERMETRICS_MetricFamilyNew": (ErrorP, [POINTER(FamilyP), c_int, c_char_p, c_char_p]),
    "INFERMETRICS_MetricFamilyDelete": (ErrorP, [FamilyP]),
    "INFERMETRICS_GetMetricFamilyKind": (ErrorP, [FamilyP, POINTER(c_int)]),
    "INFERMETRICS_MetricArgsNew": (ErrorP, [POINTER(ArgsP)]),
    "INFERMETRICS_MetricArgsSetHistogram": (ErrorP, [ArgsP, POINTER(c_double), c_uint64]),
    "INFERMETRICS_MetricArgsDelete": (ErrorP, [ArgsP]),
    "INFERMETRICS_MetricNew": (ErrorP, [POINTER(MetricP), FamilyP, POINTER(ParameterP), c_uint64]),
    "INFERMETRICS_MetricNewWithArgs": (ErrorP, [POINTER(MetricP), FamilyP, POINTER(ParameterP), c_uint64, ArgsP]),
    "INFERMETRICS_MetricDelete": (ErrorP, [MetricP]),
    "INFERMETRICS_MetricValue": (ErrorP, [MetricP, POINTER(c_double)]),
    "INFERMETRICS_MetricIncrement": (ErrorP, [MetricP, c_double]),
    "INFERMETRICS_MetricSet": (ErrorP, [MetricP, c_double]),
    "INFERMETRICS_MetricObserve": (ErrorP, [MetricP, c_double]),
    "INFERMETRICS_MetricIncrementWithExemplar": (ErrorP, [MetricP, c_double, POINTER(ParameterP), c_uint64]),
    "INFERMETRICS_MetricObserveWithExemplar": (ErrorP, [MetricP, c_double, POINTER(ParameterP), c_uint64]),
    "INFERMETRICS_GetMetricKind": (ErrorP, [MetricP, POINTER(c_int)]),
    "INFERMETRICS_ServerMetrics": (ErrorP, [ServerP, POINTER(MetricsP)]),
    "INFERMETRICS_MetricsFormatted": (ErrorP, [MetricsP, c_int, POINTER(ctypes.c_void_p), POINTER(c_size_t)]),
    "INFERMETRICS_MetricsDelete": (ErrorP, [MetricsP]),
    # embedding (issue 12): render for a host's own HTTP server, negotiate from its headers
    "INFERMETRICS_MetricsRender": (ErrorP, [MetricsP, c_int, c_bool, POINTER(ctypes.c_void_p), POINTER(c_size_t),
                                            POINTER(c_char_p)]),
    "INFERMETRICS_MetricsNegotiate": (ErrorP, [c_char_p, c_char_p, c_bool, POINTER(c_int), POINTER(c_bool)]),
    "INFERMETRICS_SetLogCallback": (ErrorP, [c_void_p, c_void_p]),  # fn: a LogFn cast to void*, or None
    "INFERMETRICS_ApiVersion": (ErrorP, [POINTER(c_uint32), POINTER(c_uint32)]),
    # metrics server
    "INFERMETRICS_ServerOptionsNew": (ErrorP, [POINTER(OptionsP)]),
    "INFERMETRICS_ServerOptionsDelete": (ErrorP, [OptionsP]),
    "INFERMETRICS_ServerOptionsSetAddress": (ErrorP, [OptionsP, c_char_p]),
    "INFERMETRICS_ServerOptionsSetPort": (ErrorP, [OptionsP, c_uint16]),
    "INFERMETRICS_ServerOptionsSetMetricsInterval": (ErrorP, [OptionsP, c_uint64]),
    "INFERMETRICS_ServerOptionsSetGpuMetrics": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetCpuMetrics": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetListen": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetMaxConnections": (ErrorP, [OptionsP, c_uint32]),
    "INFERMETRICS_ServerOptionsSetNvmlLibrary": (ErrorP, [OptionsP, c_char_p]),
    "INFERMETRICS_ServerOptionsSetOpenMetrics": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetWebConfig": (ErrorP, [OptionsP, c_char_p]),
    "INFERMETRICS_ServerOptionsSetProcessMetrics": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetContainerMetrics": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetHostMetrics": (ErrorP, [OptionsP, c_bool]),
    "INFERMETRICS_ServerOptionsSetCollector": (ErrorP, [OptionsP, c_char_p, c_bool]),
    "INFERMETRICS_ServerOptionsSetGpuVendor": (ErrorP, [OptionsP, c_char_p, c_bool]),
    "INFERMETRICS_ServerOptionsSetDiskPaths": (ErrorP, [OptionsP, c_char_p]),
    "INFERMETRICS_ServerNew": (ErrorP, [POINTER(ServerP), OptionsP]),
    "INFERMETRICS_ServerPort": (ErrorP, [ServerP, POINTER(c_uint16)]),
    "INFERMETRICS_ServerDelete": (ErrorP, [ServerP]),
    "INFERMETRICS_PinnedMemoryPoolReport": (ErrorP, [c_uint64, c_uint64]),
    "INFERMETRICS_SetMaxSeriesPerFamily": (ErrorP, [c_uint64]),
}


BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libinfermetrics.so")


def _candidates():
    """(paths to try in order, whether they came from INFERMETRICS_LIBRARY)."""
    if os.path.exists(BUNDLED):
        return [BUNDLED], False
    env = os.environ.get(ENV_VAR)
    if env:
        if os.path.isdir(env):
            return [os.path.join(env, n) for n in _NAMES], True
        return [env], True
    out = []
    found = ctypes.util.find_library("infermetrics")
    if found:
        out.append(found)
    out.extend(_NAMES)
    prefixes = [os.path.join(sys.prefix, "lib"), "/usr/local/lib", "/usr/local/lib64", "/usr/lib", "/usr/lib64"]
    multiarch = getattr(sys.implementation, "_multiarch", None)
    if multiarch:
        prefixes += ["/usr/local/lib/" + multiarch, "/usr/lib/" + multiarch]
    for p in prefixes:
        out.extend(os.path.join(p, n) for n in _NAMES)
    seen = set()
    return [c for c in out if not (c in seen or seen.add(c))], False


def load():
    """Returns the loaded library with every prototype declared, or raises ImportError."""
    candidates, from_env = _candidates()
    tried = []
    lib = None
    for c in candidates:
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError as e:
            tried.append("%s (%s)" % (c, e))
    if lib is None:
        if from_env:
            raise ImportError(
                "infermetrics: cannot load the library named by %s=%r: %s"
                % (ENV_VAR, os.environ.get(ENV_VAR), "; ".join(tried)))
        raise ImportError(
            "infermetrics: libinfermetrics.so was not found. The wheel (pip install infermetrics, or "
            "pip install . in a checkout) carries it; a source-tree module needs the C library installed "
            "(cmake --install, then ldconfig) or %s set to the path of libinfermetrics.so. Tried: %s"
            % (ENV_VAR, "; ".join(tried)))
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name, None)
        if fn is None:
            continue  # e.g. an older build without the server; calling it raises AttributeError
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def loaded_path(lib):
    """The file the dynamic loader mapped for `lib` (its name when that cannot be told)."""
    name = lib._name
    if os.sep in name:
        return os.path.realpath(name)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if os.path.basename(path).startswith("libinfermetrics.so"):
                    return path
    except OSError:
        pass
    return name

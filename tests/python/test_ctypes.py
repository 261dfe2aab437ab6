"""Drives libinfermetrics.so through ctypes alone (no helper module), as any FFI user would.

Library: $INFERMETRICS_LIBRARY, else ../../target/release/libinfermetrics.so from this file.
Run: python3 -m pytest -q tests/python/test_ctypes.py
"""
import ctypes
import math
import os
import re
from ctypes import (CFUNCTYPE, POINTER, byref, c_char_p, c_double, c_int, c_size_t, c_uint32, c_uint64,
                    c_void_p)
from pathlib import Path

import pytest

LIB_PATH = os.environ.get("INFERMETRICS_LIBRARY") or str(
    Path(__file__).resolve().parent.parent.parent / "target" / "release" / "libinfermetrics.so")

# enums (api.md)
UNKNOWN, INTERNAL, NOT_FOUND, INVALID_ARG, UNAVAILABLE, UNSUPPORTED, ALREADY_EXISTS, CANCELLED = range(8)
CODE_STRINGS = ["Unknown", "Internal", "Not found", "Invalid argument", "Unavailable", "Unsupported",
                "Already exists", "Cancelled"]
COUNTER, GAUGE, HISTOGRAM = 0, 1, 2
PARAMETER_STRING, PARAMETER_INT = 0, 1
METRIC_PROMETHEUS = 0
LOG_ERROR, LOG_WARN, LOG_INFO = 0, 1, 2


class Opaque(ctypes.Structure):
    pass


ErrorP = POINTER(type("Error", (Opaque,), {}))
ParamP = POINTER(type("Parameter", (Opaque,), {}))
FamilyP = POINTER(type("MetricFamily", (Opaque,), {}))
ArgsP = POINTER(type("MetricArgs", (Opaque,), {}))
MetricP = POINTER(type("Metric", (Opaque,), {}))
MetricsP = POINTER(type("Metrics", (Opaque,), {}))
ServerP = POINTER(type("Server", (Opaque,), {}))
LogFn = CFUNCTYPE(None, c_int, c_char_p, c_void_p)

PROTOS = {
    "INFERMETRICS_ErrorNew": (ErrorP, [c_int, c_char_p]),
    "INFERMETRICS_ErrorDelete": (None, [ErrorP]),
    "INFERMETRICS_ErrorCode": (c_int, [ErrorP]),
    "INFERMETRICS_ErrorCodeString": (c_char_p, [ErrorP]),
    "INFERMETRICS_ErrorMessage": (c_char_p, [ErrorP]),
    "INFERMETRICS_ParameterNew": (ParamP, [c_char_p, c_int, c_void_p]),
    "INFERMETRICS_ParameterDelete": (None, [ParamP]),
    "INFERMETRICS_MetricFamilyNew": (ErrorP, [POINTER(FamilyP), c_int, c_char_p, c_char_p]),
    "INFERMETRICS_MetricFamilyDelete": (ErrorP, [FamilyP]),
    "INFERMETRICS_GetMetricFamilyKind": (ErrorP, [FamilyP, POINTER(c_int)]),
    "INFERMETRICS_MetricArgsNew": (ErrorP, [POINTER(ArgsP)]),
    "INFERMETRICS_MetricArgsSetHistogram": (ErrorP, [ArgsP, POINTER(c_double), c_uint64]),
    "INFERMETRICS_MetricArgsDelete": (ErrorP, [ArgsP]),
    "INFERMETRICS_MetricNew": (ErrorP, [POINTER(MetricP), FamilyP, POINTER(ParamP), c_uint64]),
    "INFERMETRICS_MetricNewWithArgs": (ErrorP, [POINTER(MetricP), FamilyP, POINTER(ParamP), c_uint64, ArgsP]),
    "INFERMETRICS_MetricDelete": (ErrorP, [MetricP]),
    "INFERMETRICS_MetricValue": (ErrorP, [MetricP, POINTER(c_double)]),
    "INFERMETRICS_MetricIncrement": (ErrorP, [MetricP, c_double]),
    "INFERMETRICS_MetricSet": (ErrorP, [MetricP, c_double]),
    "INFERMETRICS_MetricObserve": (ErrorP, [MetricP, c_double]),
    "INFERMETRICS_GetMetricKind": (ErrorP, [MetricP, POINTER(c_int)]),
    "INFERMETRICS_ServerMetrics": (ErrorP, [ServerP, POINTER(MetricsP)]),
    "INFERMETRICS_MetricsFormatted": (ErrorP, [MetricsP, c_int, POINTER(c_void_p), POINTER(c_size_t)]),
    "INFERMETRICS_MetricsDelete": (ErrorP, [MetricsP]),
    "INFERMETRICS_SetLogCallback": (ErrorP, [c_void_p, c_void_p]),  # fn: a LogFn cast, or None
    "INFERMETRICS_ApiVersion": (ErrorP, [POINTER(c_uint32), POINTER(c_uint32)]),
}


def _load():
    assert os.path.exists(LIB_PATH), (
        "expected the library at %s (build it: cargo build --release --lib -p infermetrics, "
        "or set INFERMETRICS_LIBRARY)" % LIB_PATH)
    lib = ctypes.CDLL(LIB_PATH)
    for name, (res, args) in PROTOS.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


@pytest.fixture(scope="module")
def lib():
    return _load()


# --- helpers -----------------------------------------------------------------------------------
def take(lib, err):
    """(code, code string, message) of a non-NULL error, which is then freed."""
    assert err, "expected an error object, got NULL (success)"
    try:
        return (lib.INFERMETRICS_ErrorCode(err), lib.INFERMETRICS_ErrorCodeString(err).decode(),
                lib.INFERMETRICS_ErrorMessage(err).decode())
    finally:
        lib.INFERMETRICS_ErrorDelete(err)


def ok(lib, err, what="call"):
    if err:
        code, cs, msg = take(lib, err)
        pytest.fail("%s: expected success (NULL), got error %d %s: %s" % (what, code, cs, msg))


def expect(lib, err, code, *needles):
    got = take(lib, err)
    assert got[0] == code, "expected code %s, got %r" % (CODE_STRINGS[code], got)
    assert got[1] == CODE_STRINGS[code], "code string: expected %r, got %r" % (CODE_STRINGS[code], got[1])
    for n in needles:
        assert re.search(n, got[2]), "expected the message to match %r, got %r" % (n, got[2])
    return got[2]


def family(lib, kind, name, desc):
    f = FamilyP()
    ok(lib, lib.INFERMETRICS_MetricFamilyNew(byref(f), kind, name, desc), "MetricFamilyNew %s" % name)
    assert f, "MetricFamilyNew succeeded but left *family NULL"
    return f


def params(lib, pairs):
    ps = []
    for k, v in pairs:
        p = lib.INFERMETRICS_ParameterNew(k, PARAMETER_STRING, ctypes.cast(c_char_p(v), c_void_p))
        assert p, "ParameterNew(%r, STRING, %r) returned NULL" % (k, v)
        ps.append(p)
    return ps, (ParamP * len(ps))(*ps) if ps else None


def free_params(lib, ps):
    for p in ps:
        lib.INFERMETRICS_ParameterDelete(p)


def metric(lib, fam, pairs=(), args=None):
    ps, arr = params(lib, pairs)
    m = MetricP()
    try:
        if args is None:
            ok(lib, lib.INFERMETRICS_MetricNew(byref(m), fam, arr, len(ps)), "MetricNew")
        else:
            ok(lib, lib.INFERMETRICS_MetricNewWithArgs(byref(m), fam, arr, len(ps), args), "MetricNewWithArgs")
    finally:
        free_params(lib, ps)
    return m


def histogram_args(lib, buckets):
    a = ArgsP()
    ok(lib, lib.INFERMETRICS_MetricArgsNew(byref(a)), "MetricArgsNew")
    arr = (c_double * len(buckets))(*buckets) if buckets else None
    return a, lib.INFERMETRICS_MetricArgsSetHistogram(a, arr, len(buckets))


def value(lib, m):
    v = c_double()
    ok(lib, lib.INFERMETRICS_MetricValue(m, byref(v)), "MetricValue")
    return v.value


def snapshot(lib):
    ms = MetricsP()
    ok(lib, lib.INFERMETRICS_ServerMetrics(None, byref(ms)), "ServerMetrics(NULL)")
    try:
        base, size = c_void_p(), c_size_t()
        ok(lib, lib.INFERMETRICS_MetricsFormatted(ms, METRIC_PROMETHEUS, byref(base), byref(size)),
           "MetricsFormatted")
        text = ctypes.string_at(base, size.value) if size.value else b""
        if size.value:
            assert ctypes.string_at(base.value + size.value, 1) == b"\0", "text is not NUL-terminated"
        return text.decode("utf-8")
    finally:
        ok(lib, lib.INFERMETRICS_MetricsDelete(ms), "MetricsDelete")


def family_lines(text, name):
    """The lines of `text` that belong to family `name` (HELP, TYPE and samples), in order."""
    pat = re.compile(r"^(# (HELP|TYPE) %s |%s(_bucket|_sum|_count)?[ {])" % (name, name))
    return [ln for ln in text.splitlines() if pat.match(ln)]


# --- tests -------------------------------------------------------------------------------------
def test_api_version(lib):
    major, minor = c_uint32(), c_uint32()
    ok(lib, lib.INFERMETRICS_ApiVersion(byref(major), byref(minor)), "ApiVersion")
    assert (major.value, minor.value) == (1, 34), "expected API 1.34, got %d.%d" % (major.value, minor.value)


def test_counter_end_to_end(lib):
    name = b"pyct_requests_total"
    fam = family(lib, COUNTER, name, b"Requests handled")
    kind = c_int(-1)
    ok(lib, lib.INFERMETRICS_GetMetricFamilyKind(fam, byref(kind)))
    assert kind.value == COUNTER
    # labels given out of order: the text sorts them by name
    m = metric(lib, fam, [(b"version", b"1"), (b"model", b"resnet")])
    ok(lib, lib.INFERMETRICS_GetMetricKind(m, byref(kind)))
    assert kind.value == COUNTER
    assert value(lib, m) == 0.0
    ok(lib, lib.INFERMETRICS_MetricIncrement(m, 1.0))
    ok(lib, lib.INFERMETRICS_MetricIncrement(m, 2.5))
    assert value(lib, m) == 3.5
    assert family_lines(snapshot(lib), "pyct_requests_total") == [
        "# HELP pyct_requests_total Requests handled",
        "# TYPE pyct_requests_total counter",
        'pyct_requests_total{model="resnet",version="1"} 3.5',
    ]
    expect(lib, lib.INFERMETRICS_MetricSet(m, 1.0), UNSUPPORTED)
    expect(lib, lib.INFERMETRICS_MetricObserve(m, 1.0), UNSUPPORTED)
    # wrong delete order: refused, nothing deleted
    expect(lib, lib.INFERMETRICS_MetricFamilyDelete(fam), INTERNAL,
           re.escape("Must call MetricDelete on all dependent metrics before calling MetricFamilyDelete."))
    assert value(lib, m) == 3.5
    ok(lib, lib.INFERMETRICS_MetricDelete(m), "MetricDelete")
    ok(lib, lib.INFERMETRICS_MetricFamilyDelete(fam), "MetricFamilyDelete")
    assert family_lines(snapshot(lib), "pyct_requests_total") == [], "deleted series still printed"


def test_gauge_end_to_end(lib):
    fam = family(lib, GAUGE, b"pyct_queue_depth", b"Queued requests")
    m = metric(lib, fam)
    ok(lib, lib.INFERMETRICS_MetricSet(m, 10.0))
    ok(lib, lib.INFERMETRICS_MetricIncrement(m, -2.5))
    assert value(lib, m) == 7.5
    assert family_lines(snapshot(lib), "pyct_queue_depth") == [
        "# HELP pyct_queue_depth Queued requests",
        "# TYPE pyct_queue_depth gauge",
        "pyct_queue_depth 7.5",
    ]
    expect(lib, lib.INFERMETRICS_MetricObserve(m, 1.0), UNSUPPORTED)
    ok(lib, lib.INFERMETRICS_MetricDelete(m))
    ok(lib, lib.INFERMETRICS_MetricFamilyDelete(fam))


def test_histogram_end_to_end(lib):
    fam = family(lib, HISTOGRAM, b"pyct_latency_seconds", b"Latency")
    args, err = histogram_args(lib, [0.25, 1.0, 4.0])
    ok(lib, err, "MetricArgsSetHistogram")
    m = metric(lib, fam, [(b"model", b"m")], args)
    ok(lib, lib.INFERMETRICS_MetricArgsDelete(args), "MetricArgsDelete (args are copied by MetricNew)")
    for v in (0.0625, 0.5, 2.0, 16.0):
        ok(lib, lib.INFERMETRICS_MetricObserve(m, v), "Observe %r" % v)
    assert family_lines(snapshot(lib), "pyct_latency_seconds") == [
        "# HELP pyct_latency_seconds Latency",
        "# TYPE pyct_latency_seconds histogram",
        'pyct_latency_seconds_bucket{model="m",le="0.25"} 1',
        'pyct_latency_seconds_bucket{model="m",le="1"} 2',
        'pyct_latency_seconds_bucket{model="m",le="4"} 3',
        'pyct_latency_seconds_bucket{model="m",le="+Inf"} 4',
        'pyct_latency_seconds_sum{model="m"} 18.5625',
        'pyct_latency_seconds_count{model="m"} 4',
    ]
    v = c_double()
    expect(lib, lib.INFERMETRICS_MetricValue(m, byref(v)), UNSUPPORTED)
    expect(lib, lib.INFERMETRICS_MetricIncrement(m, 1.0), UNSUPPORTED)
    expect(lib, lib.INFERMETRICS_MetricSet(m, 1.0), UNSUPPORTED)
    # a histogram series without buckets
    m2 = MetricP()
    expect(lib, lib.INFERMETRICS_MetricNew(byref(m2), fam, None, 0), INVALID_ARG,
           re.escape("Bucket boundaries not found in Metric args."))
    assert not m2, "failed MetricNew must leave *metric NULL"
    # buckets not strictly increasing, or NaN: refused when the series is made (as in Triton)
    for buckets in ([1.0, 1.0], [2.0, 1.0], [1.0, math.nan]):
        bad, err = histogram_args(lib, buckets)
        ok(lib, err, "MetricArgsSetHistogram %r" % buckets)
        m3 = MetricP()
        expect(lib, lib.INFERMETRICS_MetricNewWithArgs(byref(m3), fam, None, 0, bad), INVALID_ARG)
        assert not m3, "MetricNewWithArgs with buckets %r must fail and leave *metric NULL" % buckets
        ok(lib, lib.INFERMETRICS_MetricArgsDelete(bad))
    ok(lib, lib.INFERMETRICS_MetricDelete(m))
    ok(lib, lib.INFERMETRICS_MetricFamilyDelete(fam))


def test_error_objects(lib):
    for code, text in enumerate(CODE_STRINGS):
        e = lib.INFERMETRICS_ErrorNew(code, b"boom %d" % code)
        assert e, "ErrorNew returned NULL"
        assert take(lib, e) == (code, text, "boom %d" % code)
    lib.INFERMETRICS_ErrorDelete(None)  # a no-op, must not crash


def test_errors_from_calls_carry_code_and_message(lib):
    f = FamilyP()
    msg = expect(lib, lib.INFERMETRICS_MetricFamilyNew(byref(f), COUNTER, b"pyct bad name", b"d"), INVALID_ARG,
                 "pyct bad name")
    assert msg, "empty message"
    assert not f, "*family must stay untouched (NULL) on error"
    # same name, other kind
    g = family(lib, GAUGE, b"pyct_kind_clash", b"d")
    f2 = FamilyP()
    expect(lib, lib.INFERMETRICS_MetricFamilyNew(byref(f2), COUNTER, b"pyct_kind_clash", b"d"), INVALID_ARG)
    assert not f2
    ok(lib, lib.INFERMETRICS_MetricFamilyDelete(g))


def test_negative_and_nan_counter_increment(lib):
    fam = family(lib, COUNTER, b"pyct_neg_total", b"d")
    m = metric(lib, fam)
    ok(lib, lib.INFERMETRICS_MetricIncrement(m, 2.0))
    expect(lib, lib.INFERMETRICS_MetricIncrement(m, -1.0), INVALID_ARG)
    expect(lib, lib.INFERMETRICS_MetricIncrement(m, math.nan), INVALID_ARG)
    assert value(lib, m) == 2.0, "a refused increment changed the value"
    ok(lib, lib.INFERMETRICS_MetricDelete(m))
    ok(lib, lib.INFERMETRICS_MetricFamilyDelete(fam))


def test_null_arguments_name_the_argument(lib):
    fam = family(lib, COUNTER, b"pyct_null_total", b"d")
    m = metric(lib, fam)
    f, mm, a = FamilyP(), MetricP(), ArgsP()
    cases = [
        ("family", lambda: lib.INFERMETRICS_MetricFamilyNew(None, COUNTER, b"pyct_x", b"d")),
        ("name", lambda: lib.INFERMETRICS_MetricFamilyNew(byref(f), COUNTER, None, b"d")),
        ("description", lambda: lib.INFERMETRICS_MetricFamilyNew(byref(f), COUNTER, b"pyct_x", None)),
        ("family", lambda: lib.INFERMETRICS_MetricFamilyDelete(None)),
        ("family", lambda: lib.INFERMETRICS_GetMetricFamilyKind(None, byref(c_int()))),
        ("kind", lambda: lib.INFERMETRICS_GetMetricFamilyKind(fam, None)),
        ("args", lambda: lib.INFERMETRICS_MetricArgsNew(None)),
        ("args", lambda: lib.INFERMETRICS_MetricArgsSetHistogram(None, None, 0)),
        ("metric", lambda: lib.INFERMETRICS_MetricNew(None, fam, None, 0)),
        ("family", lambda: lib.INFERMETRICS_MetricNew(byref(mm), None, None, 0)),
        ("labels", lambda: lib.INFERMETRICS_MetricNew(byref(mm), fam, None, 1)),
        ("metric", lambda: lib.INFERMETRICS_MetricDelete(None)),
        ("metric", lambda: lib.INFERMETRICS_MetricValue(None, byref(c_double()))),
        ("value", lambda: lib.INFERMETRICS_MetricValue(m, None)),
        ("metric", lambda: lib.INFERMETRICS_MetricIncrement(None, 1.0)),
        ("metric", lambda: lib.INFERMETRICS_MetricSet(None, 1.0)),
        ("metric", lambda: lib.INFERMETRICS_MetricObserve(None, 1.0)),
        ("metric", lambda: lib.INFERMETRICS_GetMetricKind(None, byref(c_int()))),
        ("kind", lambda: lib.INFERMETRICS_GetMetricKind(m, None)),
        ("metrics", lambda: lib.INFERMETRICS_ServerMetrics(None, None)),
        ("metrics", lambda: lib.INFERMETRICS_MetricsFormatted(None, 0, byref(c_void_p()), byref(c_size_t()))),
        ("metrics", lambda: lib.INFERMETRICS_MetricsDelete(None)),
        ("major", lambda: lib.INFERMETRICS_ApiVersion(None, byref(c_uint32()))),
        ("minor", lambda: lib.INFERMETRICS_ApiVersion(byref(c_uint32()), None)),
    ]
    for arg, call in cases:
        msg = expect(lib, call(), INVALID_ARG)
        assert re.search(r"\b%s\b" % arg, msg), "expected the message to name %r, got %r" % (arg, msg)
    # a NULL entry inside labels
    arr = (ParamP * 1)()
    expect(lib, lib.INFERMETRICS_MetricNew(byref(mm), fam, arr, 1), INVALID_ARG)
    ms = MetricsP()
    ok(lib, lib.INFERMETRICS_ServerMetrics(None, byref(ms)))
    expect(lib, lib.INFERMETRICS_MetricsFormatted(ms, 0, None, byref(c_size_t())), INVALID_ARG, r"\bbase\b")
    expect(lib, lib.INFERMETRICS_MetricsFormatted(ms, 0, byref(c_void_p()), None), INVALID_ARG, r"\bbyte_size\b")
    expect(lib, lib.INFERMETRICS_MetricsFormatted(ms, 7, byref(c_void_p()), byref(c_size_t())), INVALID_ARG)
    ok(lib, lib.INFERMETRICS_MetricsDelete(ms))
    # NULL args pointers that the contract allows
    ok(lib, lib.INFERMETRICS_MetricArgsDelete(None), "MetricArgsDelete(NULL)")
    m2 = MetricP()
    ok(lib, lib.INFERMETRICS_MetricNewWithArgs(byref(m2), fam, None, 0, None), "MetricNewWithArgs(args=NULL)")
    ok(lib, lib.INFERMETRICS_MetricDelete(m2))
    ok(lib, lib.INFERMETRICS_MetricDelete(m))
    ok(lib, lib.INFERMETRICS_MetricFamilyDelete(fam))
    del a


def test_bad_utf8(lib):
    f = FamilyP()
    expect(lib, lib.INFERMETRICS_MetricFamilyNew(byref(f), COUNTER, b"pyct_bad\xff", b"d"), INVALID_ARG)
    assert not f
    expect(lib, lib.INFERMETRICS_MetricFamilyNew(byref(f), COUNTER, b"pyct_bad_help", b"\xc3\x28"), INVALID_ARG)
    assert not f
    fam = family(lib, COUNTER, b"pyct_utf8_total", b"d")
    for pairs in ([(b"model", b"\xff\xfe")], [(b"mod\xe9l", b"x")]):
        ps, arr = params(lib, pairs)
        m = MetricP()
        expect(lib, lib.INFERMETRICS_MetricNew(byref(m), fam, arr, 1), INVALID_ARG)
        assert not m
        free_params(lib, ps)
    # valid UTF-8 is fine and printed as is
    m = metric(lib, fam, [(b"model", "r\u00e9snet".encode())])
    assert family_lines(snapshot(lib), "pyct_utf8_total")[-1] == 'pyct_utf8_total{model="r\u00e9snet"} 0'
    ok(lib, lib.INFERMETRICS_MetricDelete(m))
    ok(lib, lib.INFERMETRICS_MetricFamilyDelete(fam))


def test_log_callback(lib, capfd):
    lines = []

    def on_log(level, message, userp):
        lines.append((level, message.decode("utf-8", "replace"), userp))

    cb = LogFn(on_log)  # kept alive by this frame while installed
    ok(lib, lib.INFERMETRICS_SetLogCallback(ctypes.cast(cb, c_void_p), c_void_p(1234)), "SetLogCallback")
    try:
        p = lib.INFERMETRICS_ParameterNew(None, PARAMETER_STRING, ctypes.cast(c_char_p(b"v"), c_void_p))
        assert not p, "ParameterNew with a NULL name must return NULL"
        assert lines, "the callback received no line for ParameterNew(NULL name)"
        level, message, userp = lines[-1]
        assert level in (LOG_ERROR, LOG_WARN, LOG_INFO), "bad level %r" % level
        assert "name" in message and "NULL" in message, "expected the line to name the NULL 'name', got %r" % message
        assert userp == 1234, "userp not passed back: %r" % userp
    finally:
        ok(lib, lib.INFERMETRICS_SetLogCallback(None, None), "SetLogCallback(NULL)")
    n = len(lines)
    capfd.readouterr()
    p = lib.INFERMETRICS_ParameterNew(None, PARAMETER_STRING, ctypes.cast(c_char_p(b"v"), c_void_p))
    assert not p
    out, err = capfd.readouterr()
    assert len(lines) == n, "the callback was still called after SetLogCallback(NULL): %r" % lines[n:]
    assert "infermetrics:" in err, "expected the line on stderr after the reset, got stderr %r" % err
    assert out == "", "the library wrote to stdout: %r" % out

"""The `infermetrics` Python module end to end: metrics, errors, cleanup, the server over HTTP,
the example service and `pip install ./python`.

Library: $INFERMETRICS_LIBRARY, else ../../target/release/libinfermetrics.so from this file.
Run: python3 -m pytest -q tests/python/test_module.py
"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PYDIR = ROOT / "python"
os.environ.setdefault("INFERMETRICS_LIBRARY", str(ROOT / "target" / "release" / "libinfermetrics.so"))
LIB = os.environ["INFERMETRICS_LIBRARY"]
sys.path.insert(0, str(PYDIR))

import infermetrics as im  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def family_lines(text, name):
    pat = re.compile(r"^(# (HELP|TYPE) %s |%s(_bucket|_sum|_count)?[ {])" % (name, name))
    return [ln for ln in text.splitlines() if pat.match(ln)]


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


def test_module_is_the_source_tree_copy_and_api_version():
    assert Path(im.__file__).resolve().parent == PYDIR / "infermetrics", im.__file__
    assert im.api_version() == (1, 34)
    assert im.__version__ == "0.1.0"


def test_counter_with_constant_and_child_labels():
    with im.Counter("pymod_requests_total", "Requests", labels={"model": "resnet"}) as c:
        assert c.kind == im.MetricKind.COUNTER
        c.inc()
        c.inc(2)
        assert c.value == 3.0
        child = c.labels(version=2)
        assert child is c.labels(version="2"), "the same labels must give the same cached child"
        assert child.labels == {"model": "resnet", "version": "2"}
        child.inc(0.5)
        assert child.value == 0.5 and c.value == 3.0
        assert sorted(family_lines(im.snapshot(), "pymod_requests_total")) == sorted([
            "# HELP pymod_requests_total Requests",
            "# TYPE pymod_requests_total counter",
            'pymod_requests_total{model="resnet"} 3',
            'pymod_requests_total{model="resnet",version="2"} 0.5',
        ])
        child.close()
        assert child.closed
        with pytest.raises(ValueError):
            child.inc()
        assert 'pymod_requests_total{model="resnet",version="2"} 0.5' not in im.snapshot()
    assert c.closed
    assert family_lines(im.snapshot(), "pymod_requests_total") == [], "closed counter still printed"
    with pytest.raises(ValueError):
        c.inc()


def test_gauge():
    with im.Gauge("pymod_queue_depth", "Queue") as g:
        g.set(10)
        g.inc(2.5)
        g.dec()
        g.dec(4)
        assert g.value == 7.5
        g.labels(pool="b").set(-3)
        assert sorted(family_lines(im.snapshot(), "pymod_queue_depth")[2:]) == [
            "pymod_queue_depth 7.5", 'pymod_queue_depth{pool="b"} -3']
    assert family_lines(im.snapshot(), "pymod_queue_depth") == []


def test_gauge_has_no_observe():
    with im.Gauge("pymod_gauge_kind", "G") as g:
        assert not hasattr(g, "observe") and not hasattr(g.labels(a="1"), "observe")


def test_histogram_text_and_timer():
    with im.Histogram("pymod_latency_seconds", "Latency", labelnames=("model",), buckets=(0.25, 1, 4)) as h:
        with pytest.raises(ValueError):
            h.observe(1)  # labelnames given: no default series
        s = h.labels(model="m")
        assert h.labels("m") is s
        for v in (0.0625, 0.5, 2, 16):
            s.observe(v)
        assert family_lines(im.snapshot(), "pymod_latency_seconds") == [
            "# HELP pymod_latency_seconds Latency",
            "# TYPE pymod_latency_seconds histogram",
            'pymod_latency_seconds_bucket{model="m",le="0.25"} 1',
            'pymod_latency_seconds_bucket{model="m",le="1"} 2',
            'pymod_latency_seconds_bucket{model="m",le="4"} 3',
            'pymod_latency_seconds_bucket{model="m",le="+Inf"} 4',
            'pymod_latency_seconds_sum{model="m"} 18.5625',
            'pymod_latency_seconds_count{model="m"} 4',
        ]
        with pytest.raises(im.InfermetricsError) as e:
            s.value
        assert e.value.code == im.ErrorCode.UNSUPPORTED
        t = h.labels(model="timed")
        with t.time():
            pass
        assert 'pymod_latency_seconds_count{model="timed"} 1' in im.snapshot()
        with pytest.raises(ValueError):
            h.labels(other="x")


def test_errors_are_raised_with_code_and_message():
    with im.Counter("pymod_err_total", "E") as c:
        c.inc(2)
        with pytest.raises(im.InfermetricsError) as e:
            c.inc(-1)
        assert e.value.code == im.ErrorCode.INVALID_ARG
        assert e.value.code_string == "Invalid argument"
        assert e.value.message and e.value.message in str(e.value)
        assert c.value == 2
    with pytest.raises(im.InfermetricsError) as e:
        im.Counter("pymod bad name", "x")
    assert e.value.code == im.ErrorCode.INVALID_ARG and "pymod bad name" in e.value.message
    with pytest.raises(im.InfermetricsError) as e:
        im.Counter("pymod_bad_label_total", "x", labels={"__reserved": "v"})
    assert e.value.code == im.ErrorCode.INVALID_ARG
    with pytest.raises(im.InfermetricsError) as e:
        im.Histogram("pymod_bad_buckets", "x", buckets=(2, 1))
    assert e.value.code == im.ErrorCode.INVALID_ARG
    with pytest.raises(im.InfermetricsError) as e:
        im.Histogram("pymod_le", "x", labels={"le": "1"})
    assert e.value.code == im.ErrorCode.INVALID_ARG
    with im.Gauge("pymod_kind_clash", "x"):
        with pytest.raises(im.InfermetricsError) as e:
            im.Counter("pymod_kind_clash", "x")
        assert e.value.code == im.ErrorCode.INVALID_ARG
    with pytest.raises(im.InfermetricsError) as e:
        im.Counter("pymod_nul_total", "x", labels={"a": "b\0c"})
    assert e.value.code == im.ErrorCode.INVALID_ARG


def test_failed_constructor_releases_its_family():
    # The family handle made before a bad label was refused must have been deleted: the
    # name, kind and description still work for a fresh object, and nothing was printed.
    with pytest.raises(im.InfermetricsError):
        im.Counter("pymod_half_total", "first", labels={"0bad": "v"})
    assert family_lines(im.snapshot(), "pymod_half_total") == []
    with im.Counter("pymod_half_total", "second") as c:
        c.inc()
        assert family_lines(im.snapshot(), "pymod_half_total")[-1] == "pymod_half_total 1"


def test_context_managers_release_series_before_family():
    import ctypes
    lib = im._LIB
    with im.Counter("pymod_cm_total", "C", labels={"a": "1"}) as c:
        kids = [c.labels(b=str(i)) for i in range(5)]
        for k in kids:
            k.inc()
        # a raw second handle to the same family, made through the C API
        fam = ctypes.POINTER(im._core._lib.MetricFamily_)()
        im._core._check(lib.INFERMETRICS_MetricFamilyNew(ctypes.byref(fam), 0, b"pymod_cm_total", b"C"))
        m = ctypes.POINTER(im._core._lib.Metric_)()
        im._core._check(lib.INFERMETRICS_MetricNew(ctypes.byref(m), fam, None, 0))
        # the family of a handle with live metrics cannot be deleted...
        with pytest.raises(im.InfermetricsError) as e:
            im._core._check(lib.INFERMETRICS_MetricFamilyDelete(fam))
        assert e.value.code == im.ErrorCode.INTERNAL
    # ...while leaving the with block deleted every series of `c`, then its family handle
    assert c.closed and all(k.closed for k in kids)
    assert family_lines(im.snapshot(), "pymod_cm_total")[2:] == ["pymod_cm_total 0"], \
        "only the raw handle's series must remain"
    im._core._check(lib.INFERMETRICS_MetricDelete(m))
    im._core._check(lib.INFERMETRICS_MetricFamilyDelete(fam))
    assert family_lines(im.snapshot(), "pymod_cm_total") == []


def test_two_objects_share_a_series():
    a = im.Counter("pymod_shared_total", "S", labels={"m": "x"})
    b = im.Counter("pymod_shared_total", "S", labels={"m": "x"})
    a.inc(2)
    b.inc(3)
    assert a.value == b.value == 5
    a.close()
    assert b.value == 5 and 'pymod_shared_total{m="x"} 5' in im.snapshot()
    b.close()
    assert 'pymod_shared_total' not in im.snapshot()


def test_threads_record_exact_totals():
    with im.Counter("pymod_threads_total", "T", labelnames=("worker",)) as c, \
            im.Histogram("pymod_threads_seconds", "T", buckets=(1,)) as h:
        def work(i):
            for _ in range(5000):
                c.labels(worker=str(i % 2)).inc()
                h.observe(0.5)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert c.labels(worker="0").value == c.labels(worker="1").value == 10000
        assert "pymod_threads_seconds_count 20000" in im.snapshot().splitlines()


def test_log_callback():
    import ctypes
    got = []
    im.set_log_callback(lambda level, msg: got.append((level, msg)))
    try:
        p = im._LIB.INFERMETRICS_ParameterNew(None, 0, ctypes.c_char_p(b"v"))
        assert not p
    finally:
        im.set_log_callback(None)
    assert got and isinstance(got[-1][0], im.LogLevel) and "NULL" in got[-1][1], got
    n = len(got)
    im._LIB.INFERMETRICS_ParameterNew(None, 0, ctypes.c_char_p(b"v"))
    assert len(got) == n, "callback still called after set_log_callback(None)"


def test_server_serves_series_over_http():
    logs = []
    im.set_log_callback(lambda level, msg: logs.append((level, msg)))
    try:
        with im.Counter("pymod_served_total", "Served", labels={"model": "resnet"}) as c, \
                im.Server(address="127.0.0.1", port=0, interval_ms=100) as server:
            assert 0 < server.port < 65536
            c.inc(7)
            server.report_pinned(total_bytes=4096, used_bytes=1024)
            status, ctype, body = scrape(server.port)
            assert status == 200
            assert ctype == CONTENT_TYPE, "content type: expected %r, got %r" % (CONTENT_TYPE, ctype)
            assert 'pymod_served_total{model="resnet"} 7' in body.splitlines(), body
            assert scrape(server.port, "/metrics/")[0] == 200
            with pytest.raises(urllib.error.HTTPError) as e:
                scrape(server.port, "/nothing")
            assert e.value.code == 404
            # collectors run on the server's thread: CPU memory and the reported pool appear
            deadline = time.monotonic() + 20
            while True:
                text = server.snapshot()
                if ("nv_pinned_memory_pool_total_bytes 4096" in text.splitlines()
                        and "nv_pinned_memory_pool_used_bytes 1024" in text.splitlines()
                        and re.search(r"^nv_cpu_memory_total_bytes [1-9]", text, re.M)):
                    break
                assert time.monotonic() < deadline, "collector series never appeared:\n" + text
                time.sleep(0.1)
            assert "nv_cpu_memory_total_bytes" not in im.snapshot(), \
                "the registry snapshot must not include collector series"
            # the port is taken while the server lives
            with pytest.raises(im.InfermetricsError) as e:
                im.Server(address="127.0.0.1", port=server.port)
            assert e.value.code == im.ErrorCode.UNAVAILABLE and "already in use" in e.value.message
            port = server.port
        assert server.closed
        with pytest.raises(ValueError):
            server.snapshot()
        with pytest.raises(urllib.error.URLError):
            scrape(port)
    finally:
        im.set_log_callback(None)  # (a Python callback ran on the server's thread meanwhile, if it logged)


def test_server_options_are_checked():
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="not an address", port=0)
    assert e.value.code == im.ErrorCode.INVALID_ARG
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="127.0.0.1", port=70000)
    assert e.value.code == im.ErrorCode.INVALID_ARG


def test_missing_library_gives_clear_import_error(tmp_path):
    env = dict(os.environ, INFERMETRICS_LIBRARY=str(tmp_path / "nope.so"), PYTHONPATH=str(PYDIR))
    r = subprocess.run([sys.executable, "-c", "import infermetrics"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "INFERMETRICS_LIBRARY" in r.stderr, r.stderr


def test_library_found_by_the_dynamic_loader_without_the_env_var(tmp_path):
    shutil.copy(LIB, tmp_path / "libinfermetrics.so.1")
    env = {k: v for k, v in os.environ.items() if k != "INFERMETRICS_LIBRARY"}
    env.update(PYTHONPATH=str(PYDIR), LD_LIBRARY_PATH=str(tmp_path))
    code = "import infermetrics as im; print(im._LIB._name, im.api_version())"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["(1,", "34)"], r.stdout


def test_example_service_demo():
    env = dict(os.environ, PYTHONPATH=str(PYDIR))
    r = subprocess.run([sys.executable, str(PYDIR / "examples" / "service.py"), "--demo", "10"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert 'service_requests_total{endpoint="predict",status="ok"} 8' in lines, r.stdout
    assert 'service_requests_total{endpoint="predict",status="error"} 2' in lines, r.stdout
    assert 'service_request_duration_seconds_count{endpoint="predict"} 10' in lines, r.stdout
    assert 'service_request_duration_seconds_bucket{endpoint="predict",le="+Inf"} 10' in lines, r.stdout
    assert "service_requests_in_flight 0" in lines, r.stdout


def test_pip_install_into_a_venv(tmp_path):
    # a copy, so the build leaves nothing in the source tree
    shutil.copytree(PYDIR, tmp_path / "python", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    # --system-site-packages: setuptools and wheel come from the system (Debian: python3-setuptools,
    # python3-wheel), so the install works offline
    r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, "python3 -m venv failed (Debian: apt-get install python3-venv):\n" + r.stderr
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", "./python"],
                       capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert r.returncode == 0, "pip install ./python failed:\n" + r.stdout + r.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["INFERMETRICS_LIBRARY"] = LIB
    code = ("import infermetrics as im, os\n"
            "assert os.path.dirname(im.__file__).startswith(%r), im.__file__\n"
            "c = im.Counter('pymod_venv_total', 'V'); c.inc(4)\n"
            "print([l for l in im.snapshot().splitlines() if l.startswith('pymod_venv_total')])\n"
            "c.close()\n") % str(venv)
    r = subprocess.run([str(py), "-c", code], env=env, capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "['pymod_venv_total 4']", r.stdout
    r = subprocess.run([str(py), "-m", "pip", "show", "infermetrics"], capture_output=True, text=True, timeout=60)
    assert "Version: 0.1.0" in r.stdout, r.stdout + r.stderr

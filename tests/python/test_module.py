"""The `infermetrics` module end to end: which library it loads, errors, the native server over
HTTP, the log callback, environment overrides, the example service and the README snippet.

Run: python3 -m pytest -q tests/python/test_module.py (see conftest.py for the two modes)
"""
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

from conftest import INSTALLED, PYDIR, ROOT, family_lines, scrape

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def run_py(code_or_args, env=None, cwd=None, timeout=120):
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run([sys.executable] + args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def source_env(**extra):
    """An environment importing python/infermetrics from this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("INFERMETRICS_LIBRARY", "LD_LIBRARY_PATH")}
    env["PYTHONPATH"] = str(PYDIR)
    env.update(extra)
    return env


def test_which_module_and_library(im):
    assert im.api_version() == (1, 34)
    assert im.__version__ == "0.1.0"
    pkg = Path(im.__file__).resolve().parent
    if INSTALLED:
        assert not str(pkg).startswith(str(ROOT)), "the installed package must not come from the checkout"
        assert im.LIBRARY_PATH == str(pkg / "libinfermetrics.so"), im.LIBRARY_PATH
    else:
        assert pkg == PYDIR / "infermetrics", im.__file__
        assert im.LIBRARY_PATH == os.path.realpath(os.environ["INFERMETRICS_LIBRARY"]), im.LIBRARY_PATH


def test_bundled_library_wins_over_the_environment(im, tmp_path):
    # a package folder with the library inside, as the wheel installs it
    shutil.copytree(PYDIR / "infermetrics", tmp_path / "infermetrics",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(im.LIBRARY_PATH, tmp_path / "infermetrics" / "libinfermetrics.so")
    env = source_env(PYTHONPATH=str(tmp_path), INFERMETRICS_LIBRARY=str(tmp_path / "elsewhere.so"))
    r = run_py("import infermetrics as im; print(im.LIBRARY_PATH)", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "infermetrics" / "libinfermetrics.so")


def test_missing_library_gives_clear_import_error(tmp_path):
    r = run_py("import infermetrics", env=source_env(INFERMETRICS_LIBRARY=str(tmp_path / "nope.so")))
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "INFERMETRICS_LIBRARY" in r.stderr and "nope.so" in r.stderr, r.stderr


def test_library_found_by_the_dynamic_loader_without_the_env_var(im, tmp_path):
    shutil.copy(im.LIBRARY_PATH, tmp_path / "libinfermetrics.so.1")
    r = run_py("import infermetrics as im; print(im.LIBRARY_PATH, im.api_version())",
               env=source_env(LD_LIBRARY_PATH=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(tmp_path / "libinfermetrics.so.1"), "(1,", "34)"], r.stdout


def test_errors_carry_code_and_message(im):
    with im.Counter("pymod_err", "E") as c:
        c.inc(2)
        with pytest.raises(im.InfermetricsError) as e:
            c.inc(-1)
        assert isinstance(e.value, ValueError), "prometheus_client raises ValueError here"
        assert e.value.code == im.ErrorCode.INVALID_ARG and e.value.code.name == "INVALID_ARG"
        assert e.value.code_string == "Invalid argument"
        assert "non-negative" in e.value.message and e.value.message in str(e.value)
        assert c.value == 2
    with pytest.raises(im.InfermetricsError) as e:
        im.Counter("pymod bad name", "x")
    assert e.value.code == im.ErrorCode.INVALID_ARG and "pymod bad name" in e.value.message
    with pytest.raises(im.InfermetricsError) as e:
        im.Histogram("pymod_bad_buckets", "x", buckets=(1, float("nan")))
    assert e.value.code == im.ErrorCode.INVALID_ARG
    # a family of another kind made by C code in the process: the C library refuses the clash
    import ctypes
    fam = ctypes.POINTER(im._core._lib.MetricFamily_)()
    im._core._check(im._LIB.INFERMETRICS_MetricFamilyNew(ctypes.byref(fam), int(im.MetricKind.GAUGE),
                                                         b"pymod_kind_clash_total", b"x"))
    try:
        with pytest.raises(im.InfermetricsError) as e:
            im.Counter("pymod_kind_clash", "x")
        assert e.value.code == im.ErrorCode.INVALID_ARG
    finally:
        im._core._check(im._LIB.INFERMETRICS_MetricFamilyDelete(fam))
    # a label refused after the C family was made: the family and the name are freed again
    with pytest.raises(im.InfermetricsError) as e:
        im.Counter("pymod_nul", "x", const_labels={"a": "b\0c"})
    assert e.value.code == im.ErrorCode.INVALID_ARG
    with im.Counter("pymod_nul", "second") as c:
        c.inc()
        # (a name keeps its first documentation for the life of the process, as in Triton)
        assert family_lines(im.snapshot(), "pymod_nul_total") == [
            "# HELP pymod_nul_total x", "# TYPE pymod_nul_total counter", "pymod_nul_total 1"]


def test_max_series_per_family(im):
    with im.Counter("pymod_capped", "C", ["user"]) as c:
        im.set_max_series_per_family(2)
        try:
            c.labels("a").inc()
            c.labels("b").inc()
            with pytest.raises(im.InfermetricsError) as e:
                c.labels("c")
            assert e.value.code == im.ErrorCode.UNAVAILABLE and "pymod_capped_total" in e.value.message
            c.labels("a").inc()  # existing series still record
        finally:
            im.set_max_series_per_family(0)
        c.labels("c").inc()
        assert len(family_lines(im.snapshot(), "pymod_capped_total")) == 2 + 3


def test_log_callback(im):
    import ctypes
    got = []
    im.set_log_callback(lambda level, msg: got.append((level, msg)))
    try:
        assert not im._LIB.INFERMETRICS_ParameterNew(None, 0, ctypes.c_char_p(b"v"))
    finally:
        im.set_log_callback(None)
    assert got and isinstance(got[-1][0], im.LogLevel) and "NULL" in got[-1][1], got
    n = len(got)
    im._LIB.INFERMETRICS_ParameterNew(None, 0, ctypes.c_char_p(b"v"))
    assert len(got) == n, "callback still called after set_log_callback(None)"


def test_server_serves_series_over_http(im):
    logs = []
    im.set_log_callback(lambda level, msg: logs.append((level, msg)))
    try:
        with im.Counter("pymod_served", "Served", const_labels={"model": "resnet"}) as c, \
                im.Server(address="127.0.0.1", port=0, interval_ms=100) as server:
            assert 0 < server.port < 65536
            c.inc(7)
            server.report_pinned(total_bytes=4096, used_bytes=1024)
            status, ctype, body = scrape(server.port)
            assert status == 200 and ctype == CONTENT_TYPE == im.CONTENT_TYPE_LATEST
            assert 'pymod_served_total{model="resnet"} 7' in body.splitlines(), body
            assert scrape(server.port, "/metrics/")[0] == 200
            with pytest.raises(urllib.error.HTTPError) as e:
                scrape(server.port, "/nothing")
            assert e.value.code == 404
            # collectors run on the server's thread: the reported pool appears at the next collection
            deadline = time.monotonic() + 20
            while True:
                lines = server.snapshot().splitlines()
                if ("nv_pinned_memory_pool_total_bytes 4096" in lines and "nv_pinned_memory_pool_used_bytes 1024" in lines
                        and any(re.match(r"nv_cpu_memory_total_bytes [1-9]", ln) for ln in lines)):
                    break
                assert time.monotonic() < deadline, "collector series never appeared:\n" + "\n".join(lines)
                time.sleep(0.05)
            assert "nv_cpu_memory_total_bytes" not in im.generate_latest().decode(), \
                "generate_latest() must not include collector series"
            with pytest.raises(im.InfermetricsError) as e:
                im.Server(address="127.0.0.1", port=server.port)
            assert e.value.code == im.ErrorCode.UNAVAILABLE and "already in use" in e.value.message
            port = server.port
        assert server.closed
        with pytest.raises(ValueError):
            server.snapshot()
        with pytest.raises(urllib.error.URLError):
            scrape(port)
        assert any("Started metrics service at 127.0.0.1:%d" % port in m for _, m in logs), logs
    finally:
        im.set_log_callback(None)


def test_server_options_are_checked(im):
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="not an address", port=0)
    assert e.value.code == im.ErrorCode.INVALID_ARG
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="127.0.0.1", port=70000)
    assert e.value.code == im.ErrorCode.INVALID_ARG


def test_environment_overrides_code_and_says_so():
    # INFERMETRICS_PORT=0 beats port=8002 in code; the module logs the override and the library
    # logs the address it bound
    code = ("import logging, infermetrics as im\n"
            "logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s')\n"
            "s = im.start_http_server(8002, addr='127.0.0.1')\n"
            "print('port', s.port)\n")
    env = dict(os.environ, INFERMETRICS_PORT="0")
    if not INSTALLED:
        env["PYTHONPATH"] = str(PYDIR)
    r = run_py(code, env=env)
    assert r.returncode == 0, r.stderr
    port = int(r.stdout.split()[-1])
    assert port not in (0, 8002)
    assert "infermetrics INFERMETRICS_PORT=0 overrides port=8002 (this server's port is %d)" % port in r.stderr, r.stderr
    assert "Started metrics service at 127.0.0.1:%d" % port in r.stderr, r.stderr
    env["INFERMETRICS_PORT"] = "eighty"
    r = run_py(code, env=env)
    assert r.returncode != 0 and "INFERMETRICS_PORT='eighty'" in r.stderr, r.stderr


def python_env():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if not INSTALLED:
        env["PYTHONPATH"] = str(PYDIR)
    return env


def test_example_service_demo():
    r = run_py([str(PYDIR / "examples" / "service.py"), "--demo", "10"], env=python_env())
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert 'service_requests_total{endpoint="predict",status="ok"} 8' in lines, r.stdout
    assert 'service_requests_total{endpoint="predict",status="error"} 2' in lines, r.stdout
    assert 'service_request_duration_seconds_count{endpoint="predict"} 10' in lines, r.stdout
    assert 'service_request_duration_seconds_bucket{endpoint="predict",le="+Inf"} 10' in lines, r.stdout
    assert "service_requests_in_flight 0" in lines, r.stdout


def readme_python_block():
    text = (PYDIR / "README.md").read_text()
    return re.search(r"^```python\n(.*?)^```", text, re.S | re.M).group(1)


def test_readme_snippet_prints_what_it_promises():
    env = python_env()
    env["INFERMETRICS_PORT"] = "0"  # the snippet says 8002; the environment moves it (and shows how)
    r = run_py(readme_python_block(), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert 'requests_total{model="resnet"} 1' in lines, r.stdout
    assert 'queue_depth{pool="gpu0"} 3' in lines, r.stdout
    assert 'latency_seconds_count{model="resnet"} 1' in lines, r.stdout
    assert "nv_pinned_memory_pool_total_bytes 1073741824" in lines, r.stdout
    assert lines[-1].startswith("INVALID_ARG "), r.stdout

"""Shared set-up of the Python tests.

Two ways to run them:
- source tree (tests/run.sh's Python stage): python/infermetrics from this checkout, the library
  from $INFERMETRICS_LIBRARY (default ../../target/release/libinfermetrics.so);
- installed (tests/python/wheel_test.sh): INFERMETRICS_TEST_INSTALLED=1 imports the package
  installed from the wheel, which loads the library it carries.
Tests that need prometheus_client or gunicorn skip without them, unless
INFERMETRICS_TEST_REQUIRE_ALL=1 (the wheel test sets it) turns the skip into a failure.
"""
import importlib
import os
import re
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PYDIR = ROOT / "python"
INSTALLED = os.environ.get("INFERMETRICS_TEST_INSTALLED") == "1"
if not INSTALLED:
    os.environ.setdefault("INFERMETRICS_LIBRARY", str(ROOT / "target" / "release" / "libinfermetrics.so"))
    sys.path.insert(0, str(PYDIR))


def require(module):
    """Imports `module`, or skips the test (fails under INFERMETRICS_TEST_REQUIRE_ALL=1)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("INFERMETRICS_TEST_REQUIRE_ALL") == "1":
            pytest.fail("%s is required here (INFERMETRICS_TEST_REQUIRE_ALL=1): %s" % (module, e))
        pytest.skip("%s is not installed (pip install %s)" % (module, module))


def family_lines(text, name):
    """The lines of family `name` (HELP, TYPE, samples, histogram suffixes included)."""
    pat = re.compile(r"^(# (HELP|TYPE) %s |%s(_bucket|_sum|_count)?[ {])" % (name, name))
    return [ln for ln in text.splitlines() if pat.match(ln)]


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse_exposition(text):
    """{family: {"help", "type", "samples": {(sample name, frozenset(labels)): value}}} of a
    Prometheus text exposition, written here independently of the module under test. `le` values
    are normalised as numbers ("1.0" and "1" are the same bound)."""
    out = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)$", line)
        if m:
            current = out.setdefault(m.group(2), {"help": None, "type": None, "samples": {}})
            current["help" if m.group(1) == "HELP" else "type"] = m.group(3)
            continue
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        assert m, "unparseable sample line %r" % line
        labels = {}
        for k, v in _LABEL.findall(m.group(3) or ""):
            labels[k] = repr(float(v)) if k == "le" and v != "+Inf" else v
        assert current is not None, "sample before any # HELP/# TYPE: %r" % line
        current["samples"][(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


@pytest.fixture(scope="session")
def im():
    import infermetrics
    return infermetrics

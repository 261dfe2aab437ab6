"""OpenMetrics 1.0 output and exemplars, checked with prometheus_client's strict OpenMetrics
parser (the whole iterator is consumed, so every family, the grouping and `# EOF` are checked).

Run: /usr/bin/python3 -m pytest -q tests/python/test_openmetrics.py (see conftest.py)
"""
import math
import re
import time

import pytest

from conftest import require

import infermetrics
from infermetrics import _core

OPENMETRICS = 1
ODD = 'quote " backslash \\ newline \n end'


def parse(text):
    parser = require("prometheus_client.openmetrics.parser")
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def parser_takes_escaped_quote_in_exemplar():
    """Whether the installed parser reads `\\"` inside an exemplar's label value (valid
    OpenMetrics: exemplar labels escape as sample labels do). prometheus_client 0.16 (Debian 12)
    does; 0.26 (PyPI, in the wheel test's venv) refuses it, while it reads the same value in a
    sample's labels."""
    try:
        parse('# TYPE a counter\na_total 1 # {t="\\""} 1\n# EOF\n')
        return True
    except ValueError:
        return False


def sample(family, name, **labels):
    found = [s for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, family.samples)
    return found[0]


@pytest.fixture
def metrics():
    made = []

    def keep(m):
        made.append(m)
        return m
    yield keep
    for m in made:
        infermetrics.REGISTRY.unregister(m) if hasattr(m, "_name") else m.close()


def test_every_kind_with_odd_labels_and_exemplars(metrics):
    c = metrics(infermetrics.Counter("om_py_requests", "Requests \"served\"\nby \\ us", ["path"]))
    plain = metrics(infermetrics.Counter("om_py_plain", "no exemplar"))
    g = metrics(infermetrics.Gauge("om_py_temp_celsius", "temperature", ["path"]))
    h = metrics(infermetrics.Histogram("om_py_latency_seconds", "latency", ["path"], buckets=(0.1, 1.0)))
    s = metrics(infermetrics.QuantileSummary("om_py_size_bytes", "sizes", labels={"path": ODD},
                                             quantiles=((0.5, 0.05),)))
    before = time.time()
    c.labels(ODD).inc(2)
    c.labels(ODD).inc(3, exemplar={"trace_id": "abc", "odd": ODD})
    plain.inc()
    plain.inc(1, exemplar={})  # an empty exemplar records none, as in prometheus_client
    g.labels(ODD).set(-1.5)
    h.labels(ODD).observe(0.05)
    h.labels(ODD).observe(0.5, exemplar={"trace_id": "def"})
    h.labels(ODD).observe(7, exemplar={"trace_id": "ghi"})
    s.observe(4)
    after = time.time()

    text = _core._render(None, OPENMETRICS)
    assert text.endswith("# EOF\n")
    # the exemplar with the odd value, exactly as the spec spells it
    odd = 'quote \\" backslash \\\\ newline \\n end'
    exemplar_line = re.compile(r'^om_py_requests_total\{path="%s"\} 5 # \{odd="%s",trace_id="abc"\} 3 (\d+\.?\d*)$'
                               % (re.escape(odd), re.escape(odd)), re.M)
    m = exemplar_line.search(text)
    assert m, text
    ts = float(m.group(1))
    assert before - 0.01 <= ts <= after + 0.01, (before, ts, after)
    strict_exemplar = parser_takes_escaped_quote_in_exemplar()
    if not strict_exemplar:
        # this parser cannot read that (valid) exemplar: checked exactly above, parse the rest
        text = exemplar_line.sub('om_py_requests_total{path="%s"} 5' % odd.replace("\\", "\\\\"), text)
    fams = parse(text)

    f = fams["om_py_requests"]
    assert f.type == "counter" and f.documentation == 'Requests "served"\nby \\ us'
    t = sample(f, "om_py_requests_total", path=ODD)
    assert t.value == 5
    if strict_exemplar:
        assert t.exemplar.labels == {"trace_id": "abc", "odd": ODD}
        assert t.exemplar.value == 3
        ts = float(t.exemplar.timestamp) if not hasattr(t.exemplar.timestamp, "sec") else \
            t.exemplar.timestamp.sec + t.exemplar.timestamp.nsec / 1e9
        assert before - 0.01 <= ts <= after + 0.01, (before, ts, after)
    assert sample(fams["om_py_plain"], "om_py_plain_total").exemplar is None

    f = fams["om_py_temp_celsius"]
    assert f.type == "gauge" and f.unit == "celsius"
    assert sample(f, "om_py_temp_celsius", path=ODD).value == -1.5

    f = fams["om_py_latency_seconds"]
    assert f.type == "histogram" and f.unit == "seconds"
    b01 = sample(f, "om_py_latency_seconds_bucket", path=ODD, le="0.1")
    b1 = sample(f, "om_py_latency_seconds_bucket", path=ODD, le="1")
    binf = sample(f, "om_py_latency_seconds_bucket", path=ODD, le="+Inf")
    assert (b01.value, b1.value, binf.value) == (1, 2, 3)
    assert b01.exemplar is None
    assert b1.exemplar.labels == {"trace_id": "def"} and b1.exemplar.value == 0.5
    assert binf.exemplar.labels == {"trace_id": "ghi"} and binf.exemplar.value == 7
    assert sample(f, "om_py_latency_seconds_count", path=ODD).value == 3
    assert math.isclose(sample(f, "om_py_latency_seconds_sum", path=ODD).value, 7.55)

    f = fams["om_py_size_bytes"]
    assert f.type == "summary" and f.unit == "bytes"
    assert sample(f, "om_py_size_bytes", path=ODD, quantile="0.5").value == 4
    assert sample(f, "om_py_size_bytes_count", path=ODD).value == 1

    # 0.0.4 never carries exemplars
    plain_text = _core._render(None)
    assert "trace_id" not in plain_text and "# EOF" not in plain_text


def test_exemplar_errors_raise_and_record_nothing(metrics):
    c = metrics(infermetrics.Counter("om_py_err", "errors"))
    h = metrics(infermetrics.Histogram("om_py_err_h", "errors", buckets=(1.0,)))
    with pytest.raises(ValueError, match="128"):
        c.inc(1, exemplar={"trace_id": "x" * 121})
    with pytest.raises(ValueError):
        c.inc(-1, exemplar={"trace_id": "x"})
    with pytest.raises(ValueError):
        h.observe(1, exemplar={"bad-name": "x"})
    with pytest.raises(ValueError):
        h.observe(float("nan"), exemplar={"t": "x"})
    c.inc(1, exemplar={"trace_id": "x" * 120})  # exactly 128 characters
    fams = parse(_core._render(None, OPENMETRICS))
    t = sample(fams["om_py_err"], "om_py_err_total")
    assert t.value == 1 and t.exemplar.labels == {"trace_id": "x" * 120}
    assert sample(fams["om_py_err_h"], "om_py_err_h_count").value == 0


def test_server_snapshot_with_collectors_is_strict_openmetrics(metrics):
    c = metrics(infermetrics.Counter("om_py_srv", "with a server"))
    c.inc(1, exemplar={"trace_id": "srv"})
    server = infermetrics.Server(port=0, interval_ms=100)
    try:
        deadline = time.time() + 10
        text = _core._render(server._h(), OPENMETRICS)
        while "nv_collector_success" not in text and time.time() < deadline:
            time.sleep(0.05)
            text = _core._render(server._h(), OPENMETRICS)
    finally:
        server.close()
    fams = parse(text)
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    assert sample(fams["om_py_srv"], "om_py_srv_total").exemplar.labels == {"trace_id": "srv"}
    # the collectors' series and the server's self-metrics come through the converter
    f = fams["nv_collector_duration_seconds"]
    assert f.type == "gauge" and f.unit == "seconds"
    assert fams["nv_collector_success"].samples
    assert fams["process_cpu_seconds"].type == "counter"
    assert sample(fams["process_cpu_seconds"], "process_cpu_seconds_total").value >= 0
    assert fams["nv_cpu_utilization"].type == "gauge"

"""Issue 13 in Python: Summary and ModelReporter (the request context manager)."""
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import infermetrics as im  # noqa: E402


def line_value(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.split(" ")[-1])
    raise AssertionError("no line %r in:\n%s" % (prefix, text))


def test_quantile_summary():
    s = im.QuantileSummary("py_summary_us", "Latency", labels={"model": "a"}, quantiles=((0.5, 0.05), (0.99, 0.001)))
    for v in range(1, 11):
        s.observe(v)
    text = im.snapshot()
    assert 'py_summary_us{model="a",quantile="0.5"} 5\n' in text
    assert 'py_summary_us_count{model="a"} 10\n' in text
    with pytest.raises(im.InfermetricsError) as e:
        s.observe(float("nan"))
    assert e.value.code == im.ErrorCode.INVALID_ARG
    with pytest.raises(im.InfermetricsError) as e:
        s.value
    assert e.value.code == im.ErrorCode.UNSUPPORTED
    with pytest.raises(im.InfermetricsError):
        im.QuantileSummary("py_summary_bad", "x", quantiles=((1.5, 0.1),))
    s.close()
    assert "py_summary_us" not in im.snapshot()


def test_reporter_context_manager():
    im.set_metrics_config("histogram_latencies=true")
    try:
        with im.ModelReporter("pymodel", "2", tags={"team": "x"}) as rep:
            with rep.request(batch_size=3) as r:
                r.enqueued()
                r.exec_start()
                r.compute_start()
                r.compute_end()
                r.exec_end()
            with pytest.raises(RuntimeError):
                with rep.request() as r:
                    raise RuntimeError("model failed")
            with rep.request() as r:
                r.fail("REJECTED")
            t = im.now_ns()
            rep.report_batch(3, t, t, t, t)
            rep.report_cache_hit(t, t, t + 5000, 1000)
            rep.pending_add(2)
            with pytest.raises(im.InfermetricsError) as e:
                rep.report_success(1, t + 10, t, t, t, t, t, t)
            assert e.value.code == im.ErrorCode.INVALID_ARG and "out of order" in e.value.message
            with pytest.raises(im.InfermetricsError):
                rep.report_failure("NOPE", t, t)
            text = im.snapshot()
            lab = '{_team="x",model="pymodel",version="2"}'
            assert line_value(text, "nv_inference_request_success" + lab) == 2
            assert line_value(text, "nv_inference_count" + lab) == 3
            assert line_value(text, "nv_inference_exec_count" + lab) == 1
            assert line_value(text, "nv_inference_pending_request_count" + lab) == 2
            assert line_value(text, 'nv_inference_request_failure{_team="x",model="pymodel",reason="BACKEND",version="2"}') == 1
            assert line_value(text, 'nv_inference_request_failure{_team="x",model="pymodel",reason="REJECTED",version="2"}') == 1
            assert line_value(text, "nv_cache_num_hits_per_model" + lab) == 1
            assert line_value(text, "nv_inference_request_duration_histogram_us_count" + lab) == 2
            assert re.search(r"nv_inference_request_duration_us\{[^}]*model=\"pymodel\"[^}]*\} \d+", text)
        assert "pymodel" not in im.snapshot()
    finally:
        im.set_metrics_config("")

"""make_wsgi_app() / make_asgi_app() negotiation (issue 12): gzip and OpenMetrics chosen from the
request's headers through INFERMETRICS_MetricsNegotiate, as RFC 9110 and the native server do."""
import gzip

import pytest

from test_embed import PLAIN, fetch, families, run_asgi, wsgi_url  # noqa: F401 (fixture)
from conftest import require

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@pytest.mark.parametrize("accept_encoding, gz", [
    ("gzip", True), ("gzip;q=0", False), ("*", True), ("*;q=0", False), ("gzip;q=0, *", False),
    ("identity", False), ("deflate, gzip;q=0.5", True),
])
def test_wsgi_gzip_follows_accept_encoding(im, wsgi_url, accept_encoding, gz):
    with im.Counter("embed_neg", "N") as c:
        c.inc()
        status, headers, body = fetch(wsgi_url() + "/metrics", headers={"Accept-Encoding": accept_encoding})
        assert status == 200 and headers["Content-Type"] == PLAIN
        assert (headers.get("Content-Encoding") == "gzip") == gz
        text = (gzip.decompress(body) if gz else body).decode()
        assert "embed_neg_total 1" in text.splitlines()
        assert im._core.negotiate(None, accept_encoding) == (0, gz)


def test_openmetrics_only_when_enabled_and_asked(im, wsgi_url):
    parser = require("prometheus_client.openmetrics.parser")
    with im.Counter("embed_om", "O") as c:
        c.inc(4)
        status, headers, body = fetch(wsgi_url() + "/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
        assert headers["Content-Type"] == PLAIN, "OpenMetrics is opt-in"
        base = wsgi_url(openmetrics=True)
        status, headers, body = fetch(base + "/metrics", headers={"Accept": PROMETHEUS_ACCEPT,
                                                                  "Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Type"] == OPENMETRICS and headers["Content-Encoding"] == "gzip"
        text = gzip.decompress(body).decode()
        assert text.endswith("# EOF\n")
        fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
        assert fams["embed_om"].type == "counter"
        assert [s.value for s in fams["embed_om"].samples if s.name == "embed_om_total"] == [4.0]
        status, headers, body = fetch(base + "/metrics", headers={"Accept": "text/plain;version=0.0.4"})
        assert headers["Content-Type"] == PLAIN
        status, headers, body = run_asgi(im.make_asgi_app(openmetrics=True),
                                         headers=[("Accept", "application/openmetrics-text")])
        assert headers["content-type"] == OPENMETRICS and body.decode().endswith("# EOF\n")

"""The prometheus_client-shaped API: names, labels, duplicates, helpers, Info/Enum/Summary,
registries and exposition. Each test names its metrics uniquely (one registry per process).

Run: python3 -m pytest -q tests/python/test_api.py
"""
import gzip
import threading
import time

import pytest

from conftest import family_lines, parse_exposition, scrape


def text(im):
    return im.generate_latest().decode("utf-8")


def test_names_namespace_subsystem_unit_and_total(im):
    with im.Counter("requests", "R", namespace="app", subsystem="http", unit="bytes") as a, \
            im.Counter("api_calls_total", "C") as b, \
            im.Gauge("temperature", "T", unit="celsius") as g, \
            im.Histogram("latency_seconds", "L", namespace="app", unit="seconds", buckets=[1]) as h:
        a.inc(3)
        b.inc()
        g.set(21.5)
        h.observe(0.5)
        t = text(im)
        assert "app_http_requests_bytes_total 3" in t.splitlines()
        assert "api_calls_total 1" in t.splitlines(), "_total given must not be doubled"
        assert "temperature_celsius 21.5" in t.splitlines()
        assert "# TYPE app_latency_seconds histogram" in t.splitlines(), "unit already in the name: not appended"
    with pytest.raises(ValueError):
        im.Info("build", "B", unit="seconds")
    with pytest.raises(ValueError):
        im.Counter("", "empty")


def test_taking_a_name_twice_raises_until_the_first_is_closed(im):
    c = im.Counter("api_dup", "first")
    for clash in (lambda: im.Counter("api_dup", "again"), lambda: im.Counter("api_dup_total", "again"),
                  lambda: im.Gauge("api_dup_total", "gauge named like its series"),
                  lambda: im.Gauge("api_dup_created", "x"),
                  lambda: im.Counter("api_dup", "x", registry=None)):  # names are per process
        with pytest.raises(ValueError) as e:
            clash()
        assert isinstance(e.value, im.DuplicateTimeseries)
        assert "Duplicated timeseries" in str(e.value) and "api_dup" in str(e.value)
    with im.Histogram("api_duph", "H") as h:
        for name in ("api_duph_bucket", "api_duph_count", "api_duph_sum"):
            with pytest.raises(ValueError):
                im.Gauge(name, "x")
        assert not h.closed
    c.inc(5)
    im.REGISTRY.unregister(c)  # closes it: its series go, its names are free
    assert c.closed and "api_dup_total" not in text(im)
    with pytest.raises(ValueError):
        c.inc()
    with im.Counter("api_dup", "first") as again:  # a new, independent series
        assert again.value == 0


def test_labels_as_prometheus_client(im):
    with im.Counter("api_requests", "HTTP Failures", ["method", "endpoint"]) as c:
        c.labels("get", "/").inc()
        c.labels(method="post", endpoint="/submit").inc(2)
        c.labels(endpoint="/submit", method="post").inc()
        assert c.labels("post", "/submit") is c.labels(method="post", endpoint="/submit")
        assert sorted(family_lines(text(im), "api_requests_total")[2:]) == [
            'api_requests_total{endpoint="/",method="get"} 1',
            'api_requests_total{endpoint="/submit",method="post"} 3']
        for bad, msg in ((lambda: c.inc(), "missing label values"),
                         (lambda: c.labels("get"), "Incorrect label count"),
                         (lambda: c.labels(method="get", path="/"), "Incorrect label names"),
                         (lambda: c.labels("get", endpoint="/"), "Can't pass both"),
                         (lambda: c.labels("get", "/").labels("x", "y"), "already has labels")):
            with pytest.raises(ValueError, match=msg):
                bad()
        c.labels(1, 2.5).inc()  # values go through str(), as in prometheus_client
        assert 'api_requests_total{endpoint="2.5",method="1"} 1' in text(im).splitlines()
        c.remove("get", "/")
        assert 'api_requests_total{endpoint="/",method="get"} 1' not in text(im)
        c.remove_by_labels({"method": "post"})
        assert family_lines(text(im), "api_requests_total")[2:] == ['api_requests_total{endpoint="2.5",method="1"} 1']
        c.clear()
        assert family_lines(text(im), "api_requests_total") == []
        c.labels("get", "/").inc()  # a removed child comes back from zero
        assert c.labels("get", "/").value == 1
    with im.Gauge("api_nolabels", "x") as g:
        with pytest.raises(ValueError, match="No label names"):
            g.labels("a")
    for bad in (["le"], ["__name"], ["0x"], ["a", "a"]):
        with pytest.raises(ValueError):
            im.Histogram("api_badlabel", "x", bad)
    with pytest.raises(TypeError, match="const_labels"):
        im.Counter("api_oldstyle", "x", labels={"model": "a"})
    with pytest.raises(TypeError):
        im.Counter("api_str_labelnames", "x", "method")


def test_const_labels(im):
    with im.Counter("api_const", "C", ["model"], const_labels={"host": "h1"}) as c, \
            im.Gauge("api_const_plain", "G", const_labels={"host": "h1", "pool": ""}) as g:
        c.labels("resnet").inc()
        g.set(2)
        t = text(im).splitlines()
        assert 'api_const_total{host="h1",model="resnet"} 1' in t
        assert 'api_const_plain{host="h1"} 2' in t, "an empty label value is no label"
    with pytest.raises(ValueError):
        im.Counter("api_const_clash", "C", ["host"], const_labels={"host": "h1"})


def test_counter_count_exceptions(im):
    with im.Counter("api_exc", "E") as c:
        @c.count_exceptions()
        def f(fail):
            if fail:
                raise KeyError("x")
            return "ok"

        assert f(False) == "ok" and f.__name__ == "f"
        with pytest.raises(KeyError):
            f(True)
        with pytest.raises(ZeroDivisionError):
            with c.count_exceptions():
                1 / 0
        with pytest.raises(KeyError):
            with c.count_exceptions(ValueError):  # only ValueError counts
                raise KeyError("y")
        assert c.value == 2


def test_gauge_helpers(im):
    with im.Gauge("api_inprogress", "G") as g, im.Gauge("api_took", "T") as took:
        seen = []

        @g.track_inprogress()
        def work():
            seen.append(g.value)

        work()
        with g.track_inprogress():
            seen.append(g.value)
            with g.track_inprogress():
                seen.append(g.value)
        assert seen == [1, 1, 2] and g.value == 0
        g.inc()
        g.dec(10)
        g.set(4.2)
        assert g.value == 4.2
        before = time.time()
        g.set_to_current_time()
        assert before <= g.value <= time.time()
        with took.time():
            time.sleep(0.02)
        assert 0.015 < took.value < 5


def test_set_function(im):
    items = {}
    with im.Gauge("api_objects", "Number of objects") as d:
        d.set_function(lambda: len(items))
        items.update(a=1, b=2)
        assert "api_objects 2" in text(im).splitlines(), "generate_latest() calls the function"
        d.set(100)  # a no-op once a function is set, as in prometheus_client
        d.inc()
        assert "api_objects 2" in text(im).splitlines()
        # the native server cannot call Python when scraped: a thread refreshes while it runs
        with im.Server(address="127.0.0.1", port=0, interval_ms=100) as server:
            items["c"] = 3
            deadline = time.monotonic() + 5
            while "api_objects 3" not in scrape(server.port)[2].splitlines():
                assert time.monotonic() < deadline, "function gauge not refreshed while the server runs"
                time.sleep(0.1)


def test_histogram_buckets_and_timer(im):
    with im.Histogram("api_latency_seconds", "L", ["model"], buckets=(0.25, 1, 4, float("inf"))) as h:
        s = h.labels("m")
        for v in (0.0625, 0.5, 2, 16):
            s.observe(v)
        assert family_lines(text(im), "api_latency_seconds") == [
            "# HELP api_latency_seconds L",
            "# TYPE api_latency_seconds histogram",
            'api_latency_seconds_bucket{model="m",le="0.25"} 1',
            'api_latency_seconds_bucket{model="m",le="1"} 2',
            'api_latency_seconds_bucket{model="m",le="4"} 3',
            'api_latency_seconds_bucket{model="m",le="+Inf"} 4',
            'api_latency_seconds_sum{model="m"} 18.5625',
            'api_latency_seconds_count{model="m"} 4',
        ]

        @h.time()
        def timed():
            return 7

        # a decorator on the parent picks the child inside, through the timer's labels()
        with h.time() as t:
            t.labels("t")
        with h.labels("t").time():
            pass
        assert timed is not None
        assert im.REGISTRY.get_sample_value("api_latency_seconds_count", {"model": "t"}) == 2
        assert im.REGISTRY.get_sample_value("api_latency_seconds_bucket", {"model": "m", "le": "1.0"}) == 2
        with pytest.raises(ValueError):
            timed()  # the parent has labelnames: no series to observe into
    with im.Histogram("api_hdefault", "D") as d:
        d.observe(0.3)
        bounds = [ln.split('le="')[1].split('"')[0] for ln in family_lines(text(im), "api_hdefault") if "le=" in ln]
        assert bounds == ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5",
                          "5", "7.5", "10", "+Inf"], "prometheus_client's default buckets"
    with pytest.raises(ValueError, match="sorted"):
        im.Histogram("api_hbad", "x", buckets=[2, 1])
    with pytest.raises(ValueError, match="two buckets"):
        im.Histogram("api_hbad", "x", buckets=[float("inf")])


def test_summary_count_and_sum(im):
    with im.Summary("api_request_size_bytes", "Request size", ["route"]) as s:
        s.labels("/").observe(512)
        s.labels("/").observe(-12)  # negative observations are allowed, as in prometheus_client
        with s.labels("/t").time():
            pass
        f = parse_exposition(text(im))
        assert f["api_request_size_bytes_count"]["samples"][
            ("api_request_size_bytes_count", frozenset({("route", "/")}))] == 2
        assert f["api_request_size_bytes_sum"]["samples"][
            ("api_request_size_bytes_sum", frozenset({("route", "/")}))] == 500
        assert im.REGISTRY.get_sample_value("api_request_size_bytes_count", {"route": "/t"}) == 1
        with pytest.raises(ValueError):
            s.labels("/").observe(float("nan"))
        assert im.REGISTRY.get_sample_value("api_request_size_bytes_count", {"route": "/"}) == 2, \
            "a refused observation must not count"


def test_info_and_enum(im):
    with im.Info("api_build", "Build") as i, \
            im.Enum("api_task_state", "State", states=["starting", "running", "stopped"]) as e, \
            im.Enum("api_worker_state", "State", ["worker"], states=["idle", "busy"]) as we:
        assert "api_build_info 1" in text(im).splitlines(), "an Info before info() is one empty series"
        i.info({"version": "1.2.3", "buildhost": "foo@bar"})
        i.info({"version": "1.2.4", "buildhost": "foo@bar"})
        assert family_lines(text(im), "api_build_info")[2:] == ['api_build_info{buildhost="foo@bar",version="1.2.4"} 1']
        assert sorted(family_lines(text(im), "api_task_state")[2:]) == [
            'api_task_state{api_task_state="running"} 0', 'api_task_state{api_task_state="starting"} 1',
            'api_task_state{api_task_state="stopped"} 0']
        e.state("stopped")
        assert im.REGISTRY.get_sample_value("api_task_state", {"api_task_state": "stopped"}) == 1
        assert im.REGISTRY.get_sample_value("api_task_state", {"api_task_state": "starting"}) == 0
        with pytest.raises(ValueError):
            e.state("exploded")
        we.labels("w1").state("busy")
        assert im.REGISTRY.get_sample_value("api_worker_state", {"worker": "w1", "api_worker_state": "busy"}) == 1
        with pytest.raises(ValueError):
            i.info({"version": None})
    with im.Info("api_info_labelled", "B", ["host"]) as li:
        with pytest.raises(ValueError, match="Overlapping"):
            li.labels("h").info({"host": "x"})
    with pytest.raises(ValueError):
        im.Enum("api_enum_nostates", "x", states=[])
    with pytest.raises(ValueError):
        im.Enum("api_enum_self", "x", ["api_enum_self"], states=["a"])


def test_registries_scope_exposition_only(im):
    reg = im.CollectorRegistry()
    with im.Counter("api_scoped", "S", registry=reg) as mine, im.Counter("api_unscoped", "U") as other:
        mine.inc()
        other.inc()
        own = im.generate_latest(reg).decode()
        assert family_lines(own, "api_scoped_total")[-1] == "api_scoped_total 1"
        assert "api_unscoped" not in own
        assert "api_scoped_total 1" in text(im).splitlines(), "REGISTRY shows every family of the process"
        assert reg.get_sample_value("api_scoped_total") == 1
        assert reg.get_sample_value("api_unscoped_total") is None
        assert im.REGISTRY.get_sample_value("api_unscoped_total") == 1
        with pytest.raises(ValueError):
            im.Counter("api_scoped", "other registry, same process", registry=im.CollectorRegistry())
    assert im.generate_latest(reg) == b""
    with pytest.raises(TypeError):
        reg.register(object())


def test_start_http_server_generate_latest_and_wsgi(im, tmp_path):
    with im.Counter("api_served", "S") as c:
        c.inc(2)
        server = im.start_http_server(0, addr="127.0.0.1")
        try:
            status, ctype, body = scrape(server.port)
            assert status == 200 and ctype == im.CONTENT_TYPE_LATEST == "text/plain; version=0.0.4; charset=utf-8"
            assert "api_served_total 2" in body.splitlines()
            assert "nv_cpu_memory_total_bytes" in body, "the native server adds its collectors"
            with pytest.raises(OSError) as e:  # prometheus_client raises OSError for a port in use
                im.start_http_server(server.port, addr="127.0.0.1")
            assert e.value.errno == 98
            with pytest.raises(ValueError):
                im.start_http_server(0, addr="127.0.0.1", registry=im.CollectorRegistry())
        finally:
            server.close()
        assert isinstance(im.generate_latest(), bytes)
        app = im.make_wsgi_app()
        got = {}
        out = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "HTTP_ACCEPT_ENCODING": "gzip"},
                           lambda status, headers: got.update(status=status, headers=dict(headers))))
        assert got["status"] == "200 OK" and got["headers"]["Content-Type"] == im.CONTENT_TYPE_LATEST
        # gzip when negotiation grants it (test_embed*.py check the negotiation itself)
        if got["headers"].get("Content-Encoding") == "gzip":
            out = gzip.decompress(out)
        assert "api_served_total 2" in out.decode().splitlines()
        out = b"".join(app({"REQUEST_METHOD": "POST"}, lambda status, headers: got.update(status=status)))
        assert got["status"].startswith("405")
        path = tmp_path / "metrics.prom"
        im.write_to_textfile(str(path), im.REGISTRY)
        assert "api_served_total 2" in path.read_text().splitlines()


def test_children_record_exact_totals_from_threads(im):
    with im.Counter("api_threads", "T", ["worker"]) as c, im.Histogram("api_threads_seconds", "T", buckets=(1,)) as h:
        def work(i):
            for _ in range(5000):
                c.labels(worker=str(i % 2)).inc()
                h.observe(0.5)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert c.labels("0").value == c.labels("1").value == 10000
        assert im.REGISTRY.get_sample_value("api_threads_seconds_count") == 20000


def test_closing_a_metric_deletes_every_series(im):
    with im.Counter("api_closing", "C", ["a"]) as c:
        kids = [c.labels(str(i)) for i in range(5)]
        for k in kids:
            k.inc()
        kids[0].close()  # a child's close() removes it from its parent
        assert kids[0].closed and len(family_lines(text(im), "api_closing_total")) == 2 + 4
    assert c.closed and all(k.closed for k in kids)
    assert family_lines(text(im), "api_closing_total") == []
    with pytest.raises(ValueError):
        c.labels("1")

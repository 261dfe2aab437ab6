"""prometheus_client's own usage examples (its README's three-step demo and the examples of its
instrumenting docs), run once with prometheus_client and once with the import renamed to
infermetrics; the two expositions must hold the same series (name, labels, value), HELP and TYPE,
apart from the differences python/README.md tables, which are asserted here too.

Needs prometheus_client (pip install prometheus_client); skipped without it except under
INFERMETRICS_TEST_REQUIRE_ALL=1 (tests/python/wheel_test.sh installs it).
"""
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from conftest import INSTALLED, PYDIR, parse_exposition, require

# (id, code). Each prints its exposition; the harness appends the print for the generate_latest
# ones. Apart from the three-step demo's endless loop and fixed port, they are verbatim.
EXAMPLES = [
    ("counter", """
        from prometheus_client import Counter
        c = Counter('my_failures', 'Description of counter')
        c.inc()     # Increment by 1
        c.inc(1.6)  # Increment by given value

        @c.count_exceptions()
        def f():
          pass

        with c.count_exceptions():
          pass

        # Count only one type of exception
        with c.count_exceptions(ValueError):
          pass
        f()
        try:
            with c.count_exceptions(ValueError):
                raise ValueError
        except ValueError:
            pass
        """),
    ("gauge", """
        from prometheus_client import Gauge
        g = Gauge('my_inprogress_requests', 'Description of gauge')
        g.inc()      # Increment by 1
        g.dec(10)    # Decrement by given value
        g.set(4.2)   # Set to a given value

        g.set_to_current_time()   # Set to current unixtime

        # Increment when entered, decrement when exited.
        @g.track_inprogress()
        def f():
          pass

        with g.track_inprogress():
          pass
        f()

        d = Gauge('data_objects', 'Number of objects')
        my_dict = {}
        d.set_function(lambda: len(my_dict))
        my_dict.update(a=1, b=2)
        """),
    ("summary", """
        from prometheus_client import Summary
        s = Summary('request_latency_seconds', 'Description of summary')
        s.observe(4.7)    # Observe 4.7 (seconds in this case)

        @s.time()
        def f():
          pass

        with s.time():
          pass
        f()
        """),
    ("histogram", """
        from prometheus_client import Histogram
        h = Histogram('request_latency_seconds', 'Description of histogram')
        h.observe(4.7)    # Observe 4.7 (seconds in this case)

        @h.time()
        def f():
          pass

        with h.time():
          pass
        f()
        h2 = Histogram('request_size_bytes', 'Request size', buckets=[100, 1000, 10000, float('inf')])
        h2.observe(512)
        """),
    ("info", """
        from prometheus_client import Info
        i = Info('my_build_version', 'Description of info')
        i.info({'version': '1.2.3', 'buildhost': 'foo@bar'})
        """),
    ("enum", """
        from prometheus_client import Enum
        e = Enum('my_task_state', 'Description of enum',
                states=['starting', 'running', 'stopped'])
        e.state('running')
        """),
    ("labels", """
        from prometheus_client import Counter
        c = Counter('my_requests_total', 'HTTP Failures', ['method', 'endpoint'])
        c.labels('get', '/').inc()
        c.labels('post', '/submit').inc()
        c.labels(method='get', endpoint='/').inc()
        c.labels(method='post', endpoint='/submit').inc()
        c.labels('put', '/item')   # initialised: a zero series
        """),
    ("labelled gauge and histogram", """
        from prometheus_client import Gauge, Histogram
        g = Gauge('queue_length', 'Queue length', ['queue'])
        g.labels('fast').set(3)
        g.labels(queue='slow').inc(7)
        h = Histogram('job_seconds', 'Job duration', ['kind'], buckets=(1, 5))
        h.labels('batch').observe(3)
        h.labels(kind='online').observe(0.5)
        """),
    ("namespace, subsystem, unit", """
        from prometheus_client import Counter, Gauge, Histogram
        c = Counter('requests', 'Requests', namespace='app', subsystem='http')
        c.inc(3)
        b = Counter('read', 'Bytes read', unit='bytes')
        b.inc(4096)
        g = Gauge('temperature', 'Temperature', namespace='dc', unit='celsius')
        g.set(21.5)
        h = Histogram('request_duration_seconds', 'Latency', namespace='app', unit='seconds', buckets=(0.1, 1))
        h.observe(0.2)
        """),
    ("a labelled metric with no children yet", """
        from prometheus_client import Counter
        c = Counter('jobs_failed_total', 'Failed jobs', ['queue'])
        """),
    ("three-step demo", """
        from prometheus_client import start_http_server, Summary
        import random
        import time

        # Create a metric to track time spent and requests made.
        REQUEST_TIME = Summary('request_processing_seconds', 'Time spent processing request')

        # Decorate function with metric.
        @REQUEST_TIME.time()
        def process_request(t):
            \"\"\"A dummy function that takes some time.\"\"\"
            time.sleep(t)

        if __name__ == '__main__':
            # Start up the server to expose the metrics.
            start_http_server(PORT)
            # Generate some requests.
            for _ in range(5):
                process_request(random.random() / 100)
            import urllib.request
            print(urllib.request.urlopen('http://127.0.0.1:%d/metrics' % PORT).read().decode())
        """),
]

# Tabled in python/README.md. Families prometheus_client prints that infermetrics does not:
# a labelled metric with no children yet (HELP/TYPE and no samples): the C library prints a
# family only once it has a series.
# TYPE: a Summary is a counter <name>_count and a gauge <name>_sum (the C API has no summary).
SUMMARY_TYPES = {"_count": "counter", "_sum": "gauge"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_example(code, module):
    code = textwrap.dedent(code)
    if "print(" not in code:
        code += "\nfrom prometheus_client import generate_latest\nprint(generate_latest().decode())\n"
    code = "PORT = %d\n" % free_port() + code
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if module == "infermetrics":
        code = code.replace("prometheus_client", "infermetrics")  # the whole port
        if not INSTALLED:
            env["PYTHONPATH"] = str(PYDIR)
    else:
        env["PROMETHEUS_DISABLE_CREATED_SERIES"] = "True"  # infermetrics has no _created series
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "%s run failed:\n%s%s" % (module, r.stdout, r.stderr)
    return r.stdout


def series(families, ignore_prefixes):
    """{(sample name, labels): (value, family HELP, family TYPE, family name)}."""
    out = {}
    for fname, fam in families.items():
        if fname.startswith(ignore_prefixes):
            continue
        for (sname, labels), value in fam["samples"].items():
            out[(sname, labels)] = (value, fam["help"], fam["type"], fname)
    return out


def close(a, b):
    if a == b:
        return True
    if abs(a) > 1e9:  # a timestamp (set_to_current_time) taken in two processes
        return abs(a - b) < 120
    return abs(a - b) <= 0.05  # durations of `pass` or a sleep of a few ms


@pytest.mark.parametrize("name,code", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_same_series_as_prometheus_client(name, code):
    require("prometheus_client")
    theirs = parse_exposition(run_example(code, "prometheus_client"))
    ours = parse_exposition(run_example(code, "infermetrics"))
    # default collectors of either side: prometheus_client's process/platform/gc, our server's
    ignore = ("process_", "python_", "nv_")
    t, o = series(theirs, ignore), series(ours, ignore)
    assert set(t) == set(o), "series only in prometheus_client: %s\nonly in infermetrics: %s" % (
        sorted(set(t) - set(o)), sorted(set(o) - set(t)))
    assert t or name == "a labelled metric with no children yet", "the example recorded nothing?"
    for key in sorted(t):
        (tv, thelp, ttype, tfam), (ov, ohelp, otype, ofam) = t[key], o[key]
        assert close(tv, ov), "%s: prometheus_client %r, infermetrics %r" % (key, tv, ov)
        assert thelp == ohelp, "%s: HELP %r vs %r" % (key, thelp, ohelp)
        if ttype == "summary":
            suffix = key[0][len(tfam):]
            assert (otype, ofam) == (SUMMARY_TYPES[suffix], key[0]), (key, otype, ofam)
        else:
            assert (ttype, tfam) == (otype, ofam), "%s: TYPE %s %s vs %s %s" % (key, tfam, ttype, ofam, otype)
    # families: the same, except that a family without series is not printed by infermetrics
    empty = {f for f, fam in theirs.items() if not fam["samples"] and not f.startswith(ignore)}
    if name == "a labelled metric with no children yet":
        assert empty == {"jobs_failed_total"} and "jobs_failed_total" not in ours
    else:
        assert not empty, empty

"""Forking servers: real forked workers (os.fork), then gunicorn with the recipe of
infermetrics.multiprocess's docstring (python/README.md, "Forking servers").

Run: python3 -m pytest -q tests/python/test_multiprocess.py
"""
import atexit
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from conftest import INSTALLED, PYDIR, require, scrape


def samples(text, prefix):
    return sorted(ln for ln in text.splitlines() if ln.startswith(prefix))


def test_forked_workers_serve_their_own_values(im, tmp_path):
    import infermetrics.multiprocess as mp
    targets = str(tmp_path / "targets")
    c = im.Counter("mp_requests", "Requests", ["route"])
    c.labels("/").inc()  # before the fork: every worker starts from this copy
    pre = im.Server(address="127.0.0.1", port=0, gpu=False, cpu=False, pinned=False)
    children = []
    try:
        for i in range(2):
            ready_r, ready_w = os.pipe()
            go_r, go_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # a worker
                code = 1
                try:
                    os.close(ready_r)
                    os.close(go_w)
                    assert pre.inherited and not pre.closed
                    pre.close()  # forgets the inherited copy; the parent keeps serving its port
                    mp.start_worker_server(targets)
                    c.labels("/").inc(10 * (i + 1))
                    os.write(ready_w, b"r")
                    os.read(go_r, 1)
                    atexit._run_exitfuncs()  # what a normal exit runs: removes the target file
                    code = 0
                finally:
                    os._exit(code)
            os.close(ready_w)
            os.close(go_r)
            assert os.read(ready_r, 1) == b"r", "worker %d did not start" % i
            children.append((pid, go_w))
        pids = [str(p) for p, _ in children]
        found = mp.targets(targets)
        assert sorted(labels["worker"] for _, labels in found) == sorted(pids)
        values = {}
        for target, labels in found:
            body = urllib.request.urlopen("http://%s/metrics" % target, timeout=10).read().decode()
            values[labels["worker"]] = samples(body, "mp_requests_total")
        assert values == {pids[0]: ['mp_requests_total{route="/"} 11'], pids[1]: ['mp_requests_total{route="/"} 21']}
        # the server started before the fork serves the parent's own copy only
        assert samples(scrape(pre.port)[2], "mp_requests_total") == ['mp_requests_total{route="/"} 1']
        agg = mp.start_aggregator(0, targets, addr="127.0.0.1", collectors=False)
        try:
            body = scrape(agg.port)[2]
            assert samples(body, "mp_requests_total") == sorted([
                'mp_requests_total{route="/"} 1',
                'mp_requests_total{route="/",worker="%s"} 11' % pids[0],
                'mp_requests_total{route="/",worker="%s"} 21' % pids[1]])
            assert body.count("# TYPE mp_requests_total counter") == 1
            # worker 0 exits normally (its file goes with it); worker 1 is killed (the parent removes it)
            os.write(children[0][1], b"x")
            assert os.waitpid(children[0][0], 0)[1] == 0
            os.kill(children[1][0], signal.SIGKILL)
            os.waitpid(children[1][0], 0)
            assert [labels["worker"] for _, labels in mp.targets(targets)] == [pids[1]]
            mp.mark_process_dead(children[1][0], targets)
            assert mp.targets(targets) == []
            children = []
            assert samples(scrape(agg.port)[2], "mp_requests_total") == ['mp_requests_total{route="/"} 1']
        finally:
            agg.close()
    finally:
        for pid, _ in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        pre.close()
        c.close()


APP = '''
import os
import infermetrics as im

REQUESTS = im.Counter("gu_requests", "Requests handled")
IN_FLIGHT = im.Gauge("gu_in_flight", "Requests being handled")

@IN_FLIGHT.track_inprogress()
def app(environ, start_response):
    REQUESTS.inc()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''

CONF = '''
import infermetrics.multiprocess as mp
TARGETS = {targets!r}

def when_ready(server):
    mp.start_aggregator({port}, TARGETS, addr="127.0.0.1")

def post_fork(server, worker):
    mp.start_worker_server(TARGETS)

def child_exit(server, worker):
    mp.mark_process_dead(worker.pid, TARGETS)
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, limit=30):
    deadline = time.monotonic() + limit
    while True:
        try:
            v = fn()
            if v:
                return v
        except OSError:
            pass
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def test_gunicorn_workers_behind_one_aggregated_endpoint(tmp_path):
    require("gunicorn")
    import infermetrics.multiprocess as mp
    targets = str(tmp_path / "targets")
    app_port, metrics_port = free_port(), free_port()
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text(CONF.format(targets=targets, port=metrics_port))
    env = dict(os.environ)
    if not INSTALLED:
        env["PYTHONPATH"] = str(PYDIR)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "2",
                             "--bind", "127.0.0.1:%d" % app_port, "app:app"], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for("2 worker targets", lambda: len(mp.targets(targets)) == 2)
        pids = set()
        for _ in range(40):
            with urllib.request.urlopen("http://127.0.0.1:%d/" % app_port, timeout=10) as r:
                pids.add(r.read().decode())
        body = scrape(metrics_port)[2]
        lines = samples(body, "gu_requests_total{")
        assert len(lines) == 2, body  # one series per worker, label worker="<pid>"
        assert sum(float(ln.split()[-1]) for ln in lines) == 40, lines
        assert {ln.split('worker="')[1].split('"')[0] for ln in lines} >= pids
        assert samples(body, "gu_in_flight{") == sorted(
            'gu_in_flight{worker="%s"} 0' % labels["worker"] for _, labels in mp.targets(targets))
        assert "nv_cpu_memory_total_bytes" in body, "the aggregator adds the host's collector series"
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    assert mp.targets(targets) == [], "target files left after a clean shutdown"

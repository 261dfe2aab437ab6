"""os.fork() while the library is busy (issue 7), as gunicorn --preload or uWSGI workers do it.

The parent runs a server (collectors every 10 ms), a thread scraping it over HTTP and a thread
recording; it forks children a few ms apart. Each child imports nothing new, records into the
inherited counter (reading back exactly what it added), makes and removes a gauge of its own,
renders the registry, and exits 0 within 10 s (SIGALRM kills a hung child; the parent kills
what is still running after 15 s). The parent's scrapes all succeed and its counter holds
only its own increments.

Module and library: see conftest.py.
Run: python3 -m pytest -q tests/python/test_fork.py
"""
import os
import signal
import sys
import threading
import time
import traceback
import urllib.request

import pytest

import conftest  # noqa: F401  (which module and library: source tree or installed wheel)
import infermetrics as im  # noqa: E402

CHILDREN = 10
CHILD_ALARM_S = 10
CHILD_DEADLINE_S = 15


def _child(counter, index):
    """Runs in the forked child; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # a hang ends the child with SIGALRM
        signal.alarm(CHILD_ALARM_S)
        before = counter.value
        for _ in range(5):
            counter.inc()
        after = counter.value
        assert after == before + 5, "inherited counter: %r + 5 != %r" % (before, after)
        gauge = im.Gauge("pyfork_child_gauge", "child's own", const_labels={"child": str(index)})
        gauge.set(index)
        text = im.snapshot()
        line = 'pyfork_child_gauge{child="%d"} %d' % (index, index)
        assert line in text.splitlines(), "render lacks %r:\n%s" % (line, text)
        assert any(ln.startswith('pyfork_requests_total{who="parent"} ') for ln in text.splitlines()), text
        gauge.close()
        assert "pyfork_child_gauge" not in im.snapshot()
        code = 0
    except BaseException:  # noqa: B902 - report anything, then exit
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid):
    """(how, detail): ("exit", code), ("signal", n) or ("hung", None) after CHILD_DEADLINE_S."""
    deadline = time.monotonic() + CHILD_DEADLINE_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            if os.WIFSIGNALED(status):
                return ("signal", os.WTERMSIG(status))
            return ("exit", os.WEXITSTATUS(status))
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return ("hung", None)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+: fork() with threads
def test_fork_while_server_scraper_and_recorder_run():
    counter = im.Counter("pyfork_requests_total", "Requests", const_labels={"who": "parent"})
    stop = threading.Event()
    scrapes = {"ok": 0, "failed": []}
    recorded = [0]

    with im.Server(address="127.0.0.1", port=0, interval_ms=10, gpu=False) as server:
        url = "http://127.0.0.1:%d/metrics" % server.port

        def scrape_loop():
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        body = r.read().decode("utf-8")
                    if r.status == 200 and "pyfork_requests_total" in body:
                        scrapes["ok"] += 1
                    else:
                        scrapes["failed"].append("status %d" % r.status)
                except Exception as e:  # noqa: BLE001
                    scrapes["failed"].append(repr(e))

        def record_loop():
            while not stop.is_set():
                counter.inc()
                recorded[0] += 1

        threads = [threading.Thread(target=scrape_loop), threading.Thread(target=record_loop)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.2)
            results = []
            for i in range(CHILDREN):
                pid = os.fork()
                if pid == 0:
                    _child(counter, i)
                results.append((i, pid, _wait(pid)))
                time.sleep(0.003 + 0.001 * (i % 5))
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        still = [t for t in threads if t.is_alive()]
        assert not still, "parent threads did not stop: %r" % still

        bad = [(i, pid, r) for i, pid, r in results if r != ("exit", 0)]
        assert not bad, "children that did not exit 0 within %d s (index, pid, (how, detail)): %r" % (
            CHILD_ALARM_S, bad)
        assert scrapes["ok"] > 0, "the parent's scraper never succeeded"
        assert not scrapes["failed"], "parent scrapes failed while it forked: %r" % scrapes["failed"][:5]
        assert counter.value == recorded[0], "parent counter %r != its own %d increments" % (
            counter.value, recorded[0])
        text = server.snapshot()
        assert "pyfork_child_gauge" not in text
    counter.close()

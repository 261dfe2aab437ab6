"""Forking servers (gunicorn, uWSGI, multiprocessing): one /metrics server per worker, found
through Prometheus file_sd target files, and optionally one aggregating endpoint in the parent.

What happens without this: every process has its own values (the C library's registry is copied
by fork(), then each copy counts alone). A server started before the fork keeps serving the
parent's copy only; in a worker it is inert (Server.inherited). Several workers calling
start_http_server(8002) collide on the port. So each worker needs its own server:

    # gunicorn.conf.py
    import infermetrics.multiprocess as mp
    TARGETS = "/run/myapp/metrics"          # a folder of the app's own

    def when_ready(server):                 # the master: one endpoint for the whole host
        mp.start_aggregator(8002, TARGETS)  # every worker's series (label worker="<pid>"), plus
                                            # the host's GPU/CPU series
    def post_fork(server, worker):          # each worker: its own server on a free port
        mp.start_worker_server(TARGETS)
    def child_exit(server, worker):
        mp.mark_process_dead(worker.pid, TARGETS)

Prometheus scrapes either the aggregator (one target) or every worker directly:
    file_sd_configs: [{files: ["/run/myapp/metrics/*.json"]}]
Counters of a worker that exits leave with it; sum over workers with
`sum without (worker) (rate(requests_total[5m]))`.
"""
import atexit
import json
import os
import socket
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import _core
from .exposition import CONTENT_TYPE_LATEST

_PREFIX = "infermetrics-"
_mine = {}  # pid -> (directory, server) of this process's worker server


def _target_file(directory, pid):
    return os.path.join(directory, "%s%d.json" % (_PREFIX, pid))


def start_worker_server(directory, addr="127.0.0.1", port=0, advertise=None, collectors=False, label="worker"):
    """Starts this process's own native /metrics server and writes its Prometheus file_sd target
    file `<directory>/infermetrics-<pid>.json` (removed when the process exits normally; the parent
    removes a crashed worker's with mark_process_dead). Call it in each worker after the fork
    (gunicorn post_fork, uWSGI @postfork).

    ``port`` 0 (or INFERMETRICS_PORT=0) picks a free port. ``addr`` defaults to loopback, for an
    aggregator on the same host; bind "0.0.0.0" when Prometheus scrapes workers directly (the file
    then names ``advertise``, default this host's name). ``collectors``: also run the GPU/CPU/
    pinned-memory collectors here (off by default: the host's series belong to one process, the
    aggregator's). Returns the Server."""
    os.makedirs(directory, exist_ok=True)
    server = _core.Server(address=addr, port=port, gpu=collectors, cpu=collectors, pinned=collectors)
    host = advertise or (addr if addr not in ("0.0.0.0", "::", "") else socket.getfqdn())
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    pid = os.getpid()
    path = _target_file(directory, pid)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump([{"targets": ["%s:%d" % (host, server.port)], "labels": {label: str(pid)}}], f)
    os.replace(tmp, path)
    _mine[pid] = (directory, server)
    return server


@atexit.register
def _remove_own_target():
    entry = _mine.pop(os.getpid(), None)
    if entry is not None:
        mark_process_dead(os.getpid(), entry[0])


def mark_process_dead(pid, directory):
    """Removes the target file of worker `pid` (call it in the parent when a worker exits:
    gunicorn child_exit). Missing files are fine."""
    try:
        os.remove(_target_file(directory, pid))
    except FileNotFoundError:
        pass


def targets(directory):
    """[(target "host:port", labels)] of the worker target files in `directory`."""
    out = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return out
    for name in names:
        if not (name.startswith(_PREFIX) and name.endswith(".json")):
            continue
        try:
            with open(os.path.join(directory, name)) as f:
                for group in json.load(f):
                    for t in group.get("targets", []):
                        out.append((t, dict(group.get("labels", {}))))
        except (OSError, ValueError):
            continue  # being written or removed
    return out


def _with_labels(line, labels):
    """A sample line with `labels` ({name: value}) added."""
    extra = ",".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"')) for k, v in labels.items())
    brace = line.find("{")
    space = line.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        end = line.rfind("}")
        inner = line[brace + 1:end]
        return "%s{%s%s%s}%s" % (line[:brace], inner, "," if inner else "", extra, line[end + 1:])
    return "%s{%s}%s" % (line[:space], extra, line[space:])


def merge(texts):
    """One exposition from several: [(text, {label: value} added to each of its samples)]. Each
    family's HELP and TYPE are written once, then its samples from every text in order."""
    order, help_type, samples = [], {}, {}
    for text, labels in texts:
        family = None
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("# "):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    family = parts[2]
                    if family not in help_type:
                        order.append(family)
                        help_type[family] = {}
                        samples[family] = []
                    help_type[family].setdefault(parts[1], line)
                continue
            if family is None:
                continue
            samples[family].append(_with_labels(line, labels) if labels else line)
    out = []
    for family in order:
        for kind in ("HELP", "TYPE"):
            if kind in help_type[family]:
                out.append(help_type[family][kind])
        out.extend(samples[family])
    return "".join(line + "\n" for line in out)


def collect(directory, own=None, timeout=5.0):
    """Scrapes every worker named in `directory` (in parallel) and merges their text, each sample
    labelled as its target file says (worker="<pid>"), after `own` (this process's text, unlabelled).
    A worker that does not answer is left out (it may be exiting)."""
    found = targets(directory)

    def fetch(target):
        try:
            with urllib.request.urlopen("http://%s/metrics" % target, timeout=timeout) as r:
                return r.read().decode("utf-8")
        except Exception:
            return None

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(found)))) as pool:
        bodies = list(pool.map(fetch, [t for t, _ in found]))
    parts = [(own, {})] if own else []
    parts += [(body, labels) for body, (_, labels) in zip(bodies, found) if body is not None]
    return merge(parts)


class _Aggregator:
    def __init__(self, httpd, server, thread):
        self.httpd, self.server, self.thread = httpd, server, thread
        self.port = httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.server.close()


def start_aggregator(port, directory, addr="0.0.0.0", collectors=True, timeout=5.0):
    """In the parent (gunicorn when_ready): serves GET /metrics on ``addr:port`` with this
    process's own families and, if ``collectors``, the host's GPU/CPU/pinned-memory series (from a
    native server on a loopback port of its own), followed by every worker's series, scraped
    per request from the target files in `directory`. A Python thread answers; each scrape costs
    one loopback request per worker. Returns an object with ``.port`` and ``.close()``."""
    os.makedirs(directory, exist_ok=True)
    server = _core.Server(address="127.0.0.1", port=0, gpu=collectors, cpu=collectors, pinned=collectors)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0].rstrip("/") != "/metrics":
                self.send_error(404)
                return
            body = collect(directory, own=server.snapshot(), timeout=timeout).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer((addr, port), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, name="infermetrics-aggregator", daemon=True)
    t.start()
    return _Aggregator(httpd, server, t)


__all__ = ["start_worker_server", "mark_process_dead", "targets", "collect", "merge", "start_aggregator"]

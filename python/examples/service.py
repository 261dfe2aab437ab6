"""A tiny BentoML-style Python service instrumented with infermetrics.

The service class exposes an @api method; a decorator records, per request, a request
counter and a latency histogram (each a couple of atomic operations in the C library).
infermetrics.Server serves them on GET /metrics together with CPU, GPU (when NVML is
present) and pinned-memory series, which its own collector thread polls every interval:
nothing polls the system on the request path.

    python3 service.py                 # predict on :3000/predict, metrics on :8002/metrics
    python3 service.py --demo 20       # ephemeral ports, 20 requests, print the scrape, exit
    curl -s -XPOST localhost:3000/predict -d '{"text": "hello"}'
    curl -s localhost:8002/metrics
"""
import argparse
import functools
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import infermetrics

REQUESTS = infermetrics.Counter("service_requests_total", "Requests handled, by endpoint and outcome",
                                labelnames=("endpoint", "status"))
LATENCY = infermetrics.Histogram("service_request_duration_seconds", "Request latency in seconds",
                                 labelnames=("endpoint",),
                                 buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0))
IN_FLIGHT = infermetrics.Gauge("service_requests_in_flight", "Requests being handled")


def api(fn):
    """Like @bentoml.api: marks a method as an endpoint and instruments it."""
    ok = REQUESTS.labels(endpoint=fn.__name__, status="ok")       # children looked up once,
    failed = REQUESTS.labels(endpoint=fn.__name__, status="error")  # not per request
    latency = LATENCY.labels(endpoint=fn.__name__)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        IN_FLIGHT.inc()
        start = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except Exception:
            failed.inc()
            raise
        else:
            ok.inc()
            return result
        finally:
            latency.observe(time.perf_counter() - start)
            IN_FLIGHT.dec()
    wrapper.is_api = True
    return wrapper


class SentimentService:
    """Stands in for a model service (what a BentoML @service class would hold)."""

    def __init__(self):
        self.positive = {"good", "great", "love", "hello"}

    @api
    def predict(self, payload):
        words = str(payload["text"]).lower().split()
        score = sum(w in self.positive for w in words) / max(len(words), 1)
        return {"label": "positive" if score >= 0.5 else "negative", "score": score}


def http_app(service, port):
    """Serves POST /<api name> with a JSON body, the way BentoML routes @api methods."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            fn = getattr(service, self.path.strip("/"), None)
            if not getattr(fn, "is_api", False):
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                out, code = json.dumps(fn(json.loads(body or b"{}"))).encode(), 200
            except Exception as e:  # bad input: counted as an error by @api
                out, code = json.dumps({"error": str(e)}).encode(), 400
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass
    return ThreadingHTTPServer(("127.0.0.1" if port == 0 else "0.0.0.0", port), Handler)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=3000)
    ap.add_argument("--metrics-port", type=int, default=8002)
    ap.add_argument("--demo", type=int, metavar="N", help="send N requests to itself, print /metrics, exit")
    a = ap.parse_args()
    if a.demo is not None:
        a.port = a.metrics_port = 0
    address = "127.0.0.1" if a.demo is not None else "0.0.0.0"
    with infermetrics.Server(address=address, port=a.metrics_port, interval_ms=500) as metrics:
        app = http_app(SentimentService(), a.port)
        print("predict: http://%s:%d/predict  metrics: http://%s:%d/metrics"
              % (address, app.server_address[1], address, metrics.port), flush=True)
        if a.demo is None:
            app.serve_forever()
            return
        threading.Thread(target=app.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d/predict" % app.server_address[1]
        for i in range(a.demo):
            body = b'{"text": "hello world"}' if i % 5 else b'{"no_text": 1}'  # every 5th fails
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=10).read()
            except urllib.error.HTTPError:
                pass
        app.shutdown()
        app.server_close()
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics.port, timeout=10).read().decode()
        print("".join(ln + "\n" for ln in text.splitlines() if ln.startswith(("service_", "# TYPE service_"))),
              end="", flush=True)


if __name__ == "__main__":
    main()

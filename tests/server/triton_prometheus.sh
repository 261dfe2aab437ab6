#!/usr/bin/env bash
# server_triton_prometheus (issue 13): a real Prometheus scrapes serve_triton, a small non-Triton
# server built on INFERMETRICS_ModelReporter and the collectors (GPU from the fake NVML), every
# second; then through Prometheus's HTTP API
#   1. the values computed by hand from serve_triton's known traffic (see serve_triton.c):
#      rate(nv_inference_request_success[1m]) = 100/s, histogram_quantile(0.99 / 0.5) over the
#      request-duration histogram = 9500 / 1555.6 us, the request summary's quantiles 1500 / 8000 us;
#   2. every panel query of Triton's Grafana dashboard (triton-inference-server/server
#      deploy/k8s-onprem/dashboard.json, listed below) returns data, and so do the GPU and CPU
#      queries of the usual Triton panels.
# Bounded to ~70 s (rate over [1m] needs a minute of samples). Exit 77 (CTest SKIP_RETURN_CODE) when prometheus, curl or python3 is missing.
#
#   triton_prometheus.sh /path/to/serve_triton /path/to/libnvidia-ml.so.1 (the fake)
set -u
FIXTURE=${1:?usage: triton_prometheus.sh /path/to/serve_triton /path/to/fake/libnvidia-ml.so.1}
FAKE_NVML=${2:?usage: triton_prometheus.sh /path/to/serve_triton /path/to/fake/libnvidia-ml.so.1}
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
. "$(dirname "$0")/fixture_lib.sh"
. "$(dirname "$0")/prometheus_lib.sh"
require_prometheus
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-triton.XXXXXX")
trap 'stop_prometheus; stop_fixture; rm -rf "$TMP"' EXIT

export INFERMETRICS_NVML_LIBRARY="$FAKE_NVML" FAKE_NVML_CONFIG="$TMP/nvml.conf"
printf 'count = 1\n' >"$FAKE_NVML_CONFIG"
unset INFERMETRICS_METRICS_CONFIG INFERMETRICS_PORT INFERMETRICS_ADDRESS INFERMETRICS_INTERVAL_MS
start_fixture 120
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: triton
    static_configs:
      - targets: ['127.0.0.1:$FIXTURE_PORT']
YML
start_prometheus "$TMP/prometheus.yml"
echo "serve_triton on 127.0.0.1:$FIXTURE_PORT, Prometheus on 127.0.0.1:$PROM_PORT"

# value PROMQL: the first result's value of an instant query ("none" when there is no result)
value() {
  curl -sS --max-time 2 -G --data-urlencode "query=$1" "$API/query" 2>/dev/null | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "none")
except Exception:
    print("none")'
}
# near GOT WANT TOLERANCE: |got - want| <= tolerance
near() { python3 -c "import sys; g=float('$1') if '$1' not in ('none','NaN') else None; sys.exit(0 if g is not None and abs(g-$2) <= $3 else 1)" 2>/dev/null; }

# rate(...[1m]) is increase / 60 s, extrapolated to the window's edges only when the samples
# reach them: so wait until the last minute is covered (60 scrapes, one a second)
deadline=$((SECONDS + 80))
while [ $SECONDS -lt $deadline ]; do
  prometheus_alive
  n=$(value 'count_over_time(nv_inference_request_success{job="triton"}[1m])')
  [ "$n" != none ] && [ "${n%.*}" -ge 60 ] 2>/dev/null && break
  sleep 1
done
[ "$n" != none ] && [ "${n%.*}" -ge 60 ] 2>/dev/null || {
  tail -20 "$TMP/prometheus.log" >&2; fail "fewer than 60 scrapes of serve_triton within 80 s (got $n)"; }
echo "$n scrapes stored in the last minute"

failed=0
check() { # check NAME PROMQL WANT TOLERANCE
  local got
  got=$(value "$2")
  if near "$got" "$3" "$4"; then
    echo "ok   $1: $got (computed by hand: $3 +/- $4)"
  else
    echo "FAIL $1: $2 = $got, computed by hand: $3 +/- $4" >&2
    failed=1
  fi
}
# 100 requests/s on a fixed 100 ms schedule; a 100 ms tick split by a scrape at either end of
# the minute moves the rate by at most 2 x 10/60 per second
check "request rate" 'rate(nv_inference_request_success{model="resnet"}[1m])' 100 2
check "failure rate" 'rate(nv_inference_request_failure{model="resnet",reason="CANCELED"}[1m])' 10 0.5
check "exec rate" 'rate(nv_inference_exec_count{model="resnet"}[1m])' 10 0.5
# bucket counts move in exact 9:1 steps, so the interpolation is exact up to a tick that a
# scrape may split (10 observations of ~1000 in the window: 0.5 %)
check "p99 from histogram" 'histogram_quantile(0.99, sum by (le) (rate(nv_inference_request_duration_histogram_us_bucket{model="resnet"}[1m])))' 9500 50
check "p50 from histogram" 'histogram_quantile(0.5, sum by (le) (rate(nv_inference_request_duration_histogram_us_bucket{model="resnet"}[1m])))' 1555.5556 8
check "summary q0.5" 'nv_inference_request_summary_us{model="resnet",quantile="0.5"}' 1500 0
check "summary q0.99" 'nv_inference_request_summary_us{model="resnet",quantile="0.99"}' 8000 0
check "summary q0.95 of queue" 'nv_inference_queue_summary_us{model="resnet",quantile="0.95"}' 100 0
check "compute infer per request" 'rate(nv_inference_compute_infer_duration_us{model="resnet"}[1m]) / rate(nv_inference_request_success{model="resnet"}[1m])' 1450 1
check "pending count" 'nv_inference_pending_request_count{model="resnet"}' 0 0

# Triton's Grafana dashboard (deploy/k8s-onprem/dashboard.json): the expr of every panel target
PANELS=(
  'Active Triton Instances|count(count(nv_inference_count) by (instance))'
  'Proportion of Requests by Pod|sum by (pod) (rate(nv_inference_count[1m])) / ignoring(pod) group_left sum (rate(nv_inference_count[1m]))'
  'Cumulative Inference Requests by Pod (success)|sum(nv_inference_request_success) by (pod)'
  'Cumulative Inference Requests by Pod (failure)|sum(nv_inference_request_failure) by (pod)'
  'Compute Time by Model (milliseconds)|sum(rate(nv_inference_compute_infer_duration_us[30s])) by (model) / 1000'
  'Average Queue Time by Pod (microseconds)|avg(rate(nv_inference_queue_duration_us[30s])/(1+rate(nv_inference_request_success[30s]))) by (pod)'
  # the GPU and CPU panels of Triton's other dashboards
  'GPU Utilization|avg(nv_gpu_utilization) by (gpu_uuid)'
  'GPU Memory Used|nv_gpu_memory_used_bytes'
  'GPU Power|nv_gpu_power_usage'
  'CPU Utilization|nv_cpu_utilization'
  'CPU Memory|nv_cpu_memory_used_bytes / nv_cpu_memory_total_bytes'
)
for p in "${PANELS[@]}"; do
  title=${p%%|*}
  expr=${p#*|}
  got=$(value "$expr")
  if [ "$got" = none ] || [ "$got" = NaN ]; then
    echo "FAIL panel \"$title\": $expr returned no data ($got)" >&2
    failed=1
  else
    echo "ok   panel \"$title\": $got"
  fi
done

prometheus_log_clean
[ $failed = 0 ] || fail "some values or panels are wrong (above)"
stop_prometheus
stop_fixture
[ "${FIXTURE_STUCK:-0}" = 0 ] || fail "serve_triton did not exit after stdin closed"
[ "$FIXTURE_RC" = 0 ] || { cat "$TMP/fixture.err" >&2; fail "serve_triton exited $FIXTURE_RC"; }
echo "PASS"

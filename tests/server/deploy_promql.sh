#!/usr/bin/env bash
# deploy_promql (issue 12): a real Prometheus scrapes, every second,
#   - serve_fixture with every collector on: the GPU collector on the fake NVML (two GPUs: GPU 0
#     healthy, GPU 1 95 % full, power-capped and thermally throttled, 2 uncorrected ECC errors,
#     one XID 79, in MIG mode), the container collector on a fake cgroup v2 tree whose cpu.stat
#     this script advances (throttled in 40 % of the CFS periods) and whose OOM-kill count goes
#     up once, the host collector, and a histogram with traffic (FIXTURE_TRAFFIC_MS);
#   - serve_triton (ModelReporter traffic: the nv_inference_* series and their histograms);
# and loads deploy/prometheus/alerts.yml as its rule file. Then deploy_check.py promql evaluates
# the dashboard's variables and every PromQL expression of the dashboard and of the rules through
# /api/v1/query (failing on an error or on no data where data is expected), checks the rule
# groups' health and which alerts are active. ~30 s.
#
#   deploy_promql.sh /path/to/serve_fixture /path/to/serve_triton /path/to/fake/libnvidia-ml.so.1
#
# Exit 77 (CTest SKIP_RETURN_CODE) when prometheus, curl or python3 with PyYAML is missing.
set -u
FIXTURE=${1:?usage: deploy_promql.sh serve_fixture serve_triton fake-libnvidia-ml.so.1}
TRITON=${2:?usage: deploy_promql.sh serve_fixture serve_triton fake-libnvidia-ml.so.1}
FAKE_NVML=${3:?usage: deploy_promql.sh serve_fixture serve_triton fake-libnvidia-ml.so.1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import yaml' 2>/dev/null || { echo "SKIP: python3 without PyYAML (apt-get install python3-yaml)"; exit 77; }
. "$(dirname "$0")/fixture_lib.sh"
. "$(dirname "$0")/prometheus_lib.sh"
require_prometheus
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-deploy.XXXXXX")
WRITER_PID=
stop_writer() { [ -z "$WRITER_PID" ] || { kill "$WRITER_PID" 2>/dev/null; wait "$WRITER_PID" 2>/dev/null; WRITER_PID=; }; }
trap 'stop_prometheus; stop_writer; fixture_stop TRITON; stop_fixture; rm -rf "$TMP"' EXIT
unset INFERMETRICS_METRICS_CONFIG INFERMETRICS_PORT INFERMETRICS_ADDRESS INFERMETRICS_INTERVAL_MS \
      INFERMETRICS_COLLECTORS INFERMETRICS_GPU_VENDORS INFERMETRICS_SYSFS_ROOT INFERMETRICS_PROC_ROOT

GOOD_GPU=GPU-0a0a0a0a-0000-4000-8000-00000000000a
BAD_GPU=GPU-1b1b1b1b-0000-4000-8000-00000000001b
cat >"$TMP/nvml.conf" <<CONF
count = 2
gpu0.uuid = $GOOD_GPU
gpu0.procs = self:1073741824
gpu0.pcie_step = 4096
gpu0.pcie_replays = 1
gpu0.violation.power = 2500000000
gpu0.ecc_corrected = 3
gpu0.remap_cor = 2
gpu0.enc_util = 12
gpu0.dec_util = 7
gpu1.uuid = $BAD_GPU
gpu1.mem_used = 81604378624
gpu1.reasons = 0x24
gpu1.violation.thermal = 5000000000
gpu1.ecc_uncorrected = 2
gpu1.xid_total = 1
gpu1.xid = 79
gpu1.mig = 1
gpu1.mig_count = 2
gpu1.gpm = 1
CONF
printf 'count = 1\ngpu0.uuid = GPU-2c2c2c2c-0000-4000-8000-00000000002c\n' >"$TMP/nvml-triton.conf"

# a cgroup v2 tree: 2-core and 1 GiB limits; cpu.stat advanced by the writer below
CG="$TMP/root/sys/fs/cgroup"
mkdir -p "$CG/infer" "$TMP/root/proc/self"
printf '0::/infer\n' >"$TMP/root/proc/self/cgroup"
cp /proc/self/mountinfo "$TMP/root/proc/self/mountinfo"   # the host collector's filesystems
printf 'cpu memory pids\n' >"$CG/cgroup.controllers"
printf '200000 100000\n' >"$CG/infer/cpu.max"
printf '1073741824\n' >"$CG/infer/memory.max"
printf '268435456\n' >"$CG/infer/memory.current"
printf 'anon 100\nfile 200\ninactive_file 16777216\nactive_file 1\n' >"$CG/infer/memory.stat"
write_cgroup() { # write_cgroup STEP: cumulative counters at STEP (atomic renames)
  local n=$1
  printf 'usage_usec %d\nuser_usec 1\nsystem_usec 1\nnr_periods %d\nnr_throttled %d\nthrottled_usec %d\n' \
    $((1000000 + n * 250000)) $((100 + n * 5)) $((n * 2)) $((n * 20000)) >"$CG/infer/cpu.stat.tmp"
  mv "$CG/infer/cpu.stat.tmp" "$CG/infer/cpu.stat"
  local kills=1
  [ -e "$TMP/oom-kill" ] && kills=2   # one more OOM kill, once Prometheus has seen the old count
  printf 'low 0\nhigh 0\nmax 0\noom 1\noom_kill %d\n' $kills >"$CG/infer/memory.events.tmp"
  mv "$CG/infer/memory.events.tmp" "$CG/infer/memory.events"
}
write_cgroup 0
( n=0; while :; do sleep 0.5; n=$((n + 1)); write_cgroup $n; done ) &
WRITER_PID=$!

INFERMETRICS_NVML_LIBRARY="$FAKE_NVML" FAKE_NVML_CONFIG="$TMP/nvml.conf" INFERMETRICS_COLLECTORS=all \
  INFERMETRICS_SYSFS_ROOT="$TMP/root/sys" INFERMETRICS_PROC_ROOT="$TMP/root/proc" FIXTURE_TRAFFIC_MS=100 \
  start_fixture 120
INFERMETRICS_NVML_LIBRARY="$FAKE_NVML" FAKE_NVML_CONFIG="$TMP/nvml-triton.conf" \
  fixture_start TRITON "$TRITON" 120
cp "$ROOT/deploy/prometheus/alerts.yml" "$TMP/alerts.yml"
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: infermetrics
    static_configs:
      - targets: ['127.0.0.1:$FIXTURE_PORT', '127.0.0.1:$TRITON_PORT']
YML
start_prometheus "$TMP/prometheus.yml"
echo "serve_fixture on 127.0.0.1:$FIXTURE_PORT, serve_triton on 127.0.0.1:$TRITON_PORT, Prometheus on 127.0.0.1:$PROM_PORT"

# samples_of PROMQL: the number the query answers ("0" when none)
samples_of() {
  curl -sS --max-time 2 -G --data-urlencode "query=$1" "$API/query" 2>/dev/null | "$PY" -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(int(float(r[0]["value"][1])) if r else 0)
except Exception:
    print(0)'
}
# rate(...[1m]) needs two samples, the OOM-kill increase a step after the first samples, the
# alert rules a few evaluations: wait for 15 scrapes of both targets (bounded: 45 s)
deadline=$((SECONDS + 45))
while [ $SECONDS -lt $deadline ]; do
  prometheus_alive
  n=$(samples_of 'min(count_over_time(up{job="infermetrics"}[1m]))')
  [ "$n" -ge 5 ] && [ ! -e "$TMP/oom-kill" ] && [ "$(samples_of 'count(nv_container_oom_kills_total == 1)')" = 1 ] &&
    { touch "$TMP/oom-kill"; echo "$n scrapes: one more OOM kill in the fake cgroup"; }
  [ "$n" -ge 15 ] && [ "$(samples_of 'count(up{job="infermetrics"} == 1)')" = 2 ] && break
  sleep 1
done
[ "$n" -ge 15 ] || { curl -sS --max-time 2 "$API/targets" >&2; tail -20 "$TMP/prometheus.log" >&2; fail "fewer than 15 scrapes of each target within 45 s (got $n)"; }
echo "$n scrapes of each target stored"

DEPLOY_EXPECT=$(printf '{"instance": ["127.0.0.1:%s", "127.0.0.1:%s"], "gpu_uuid": ["%s", "%s", "GPU-2c2c2c2c-0000-4000-8000-00000000002c"], "histogram": ["fixture_work_seconds", "fixture_latency_seconds", "nv_inference_request_duration_histogram_us"], "bad_gpu": "%s"}' \
  "$FIXTURE_PORT" "$TRITON_PORT" "$GOOD_GPU" "$BAD_GPU" "$BAD_GPU") \
  "$PY" "$ROOT/tests/server/deploy_check.py" promql "$ROOT" "$API" || fail "deploy_check.py promql (above)"

prometheus_log_clean
if grep -Ei 'level=(warn|error).*(rule|eval)' "$TMP/prometheus.log" >&2; then fail "Prometheus logged rule problems (above)"; fi
stop_prometheus
stop_writer
fixture_stop TRITON
stop_fixture
[ "${FIXTURE_STUCK:-0}" = 0 ] && [ "${TRITON_STUCK:-0}" = 0 ] || fail "a fixture did not exit after stdin closed"
[ "$FIXTURE_RC" = 0 ] || { cat "$TMP/fixture.err" >&2; fail "serve_fixture exited $FIXTURE_RC"; }
[ "$TRITON_RC" = 0 ] || { cat "$TMP/triton.err" >&2; fail "serve_triton exited $TRITON_RC"; }
echo "PASS"

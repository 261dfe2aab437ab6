# Shared by the real-Prometheus tests (prometheus.sh, triton_prometheus.sh, deploy_promql.sh,
# webconfig.sh), sourced after fixture_lib.sh: find Prometheus, start it on a free port, wait for
# it, stop it.
# Needs: TMP, and FIXTURE (a fixture program that answers --free-port).

# require_prometheus: sets PROMETHEUS, or exits 77 (CTest SKIP_RETURN_CODE) when prometheus or
# curl is not installed. Call it before creating TMP.
require_prometheus() {
  PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}
  [ -x "$PROMETHEUS" ] || { echo "SKIP: prometheus not installed (apt-get install prometheus)"; exit 77; }
  command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed (apt-get install curl)"; exit 77; }
}

PROM_PID=

# start_prometheus CONFIG [EXTRA ARGS...]: starts Prometheus with CONFIG (storage under $TMP/data,
# log in $TMP/prometheus.log) on a free 127.0.0.1 port; sets PROM_PID, PROM_PORT and API
# (http://127.0.0.1:PORT/api/v1), then waits up to 20 s for /-/ready.
start_prometheus() {
  local config=$1 i
  shift
  PROM_PORT=$("$FIXTURE" --free-port) || fail "no free port for Prometheus"
  (run_closing_fixture_fds "$PROMETHEUS" --config.file="$config" --storage.tsdb.path="$TMP/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" "$@") >"$TMP/prometheus.log" 2>&1 &
  PROM_PID=$!
  API="http://127.0.0.1:$PROM_PORT/api/v1"
  for i in $(seq 1 200); do
    curl -sf --max-time 1 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && return 0
    kill -0 "$PROM_PID" 2>/dev/null || { cat "$TMP/prometheus.log" >&2; fail "prometheus exited at start"; }
    sleep 0.1
  done
  tail -20 "$TMP/prometheus.log" >&2
  fail "prometheus not ready within 20 s"
}

# stop_prometheus: TERM, up to 5 s, then KILL.
stop_prometheus() {
  [ -n "$PROM_PID" ] || return 0
  kill "$PROM_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PROM_PID" 2>/dev/null
  wait "$PROM_PID" 2>/dev/null
  PROM_PID=
}

# prometheus_alive: fails the test (with Prometheus's log) if it has exited.
prometheus_alive() {
  kill -0 "$PROM_PID" 2>/dev/null || { cat "$TMP/prometheus.log" >&2; fail "prometheus exited"; }
}

# prometheus_log_clean: fails if Prometheus logged a scrape or append problem (a sample dropped
# or rejected, a malformed body).
prometheus_log_clean() {
  if grep -Ei 'level=(warn|error).*(scrape|append)' "$TMP/prometheus.log" >&2; then
    fail "Prometheus logged scrape or append problems (above)"
  fi
}

# prom_query PROMQL: prints the JSON answer of an instant query (needs API).
prom_query() { curl -sS --max-time 2 -G --data-urlencode "query=$1" "$API/query" 2>/dev/null; }
# prom_value_is JSON VALUE: the (single) result's value is VALUE.
prom_value_is() { printf '%s' "$1" | grep -q "\"value\":\[[0-9.e+]*,\"$2\"\]"; }

# Shared by promtool.sh, prometheus.sh and webconfig.sh (sourced): start/stop serve_fixture and a
# real Prometheus, bounded waits.
# Needs: FIXTURE (path to serve_fixture), TMP (a private temp dir).

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_fixture SECONDS: starts the fixture with stdin on a FIFO held open by fd 3; sets
# FIXTURE_PID and FIXTURE_PORT. The fixture exits when fd 3 closes (stop_fixture) or after SECONDS.
start_fixture() {
  mkfifo "$TMP/fixture.in"
  "$FIXTURE" "$1" <"$TMP/fixture.in" >"$TMP/fixture.out" 2>"$TMP/fixture.err" &
  FIXTURE_PID=$!
  exec 3>"$TMP/fixture.in"
  local i
  for i in $(seq 1 100); do
    FIXTURE_PORT=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$TMP/fixture.out" 2>/dev/null)
    [ -n "$FIXTURE_PORT" ] && return 0
    kill -0 "$FIXTURE_PID" 2>/dev/null || { cat "$TMP/fixture.err" >&2; fail "serve_fixture exited early"; }
    sleep 0.1
  done
  fail "serve_fixture printed no port within 10 s"
}

stop_fixture() {
  [ -n "${FIXTURE_PID:-}" ] || return 0
  exec 3>&- 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$FIXTURE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$FIXTURE_PID" 2>/dev/null; then
    echo "serve_fixture did not exit within 5 s of stdin closing; killing it" >&2
    kill "$FIXTURE_PID" 2>/dev/null || true
    FIXTURE_STUCK=1
  fi
  wait "$FIXTURE_PID" 2>/dev/null
  FIXTURE_RC=$?
  FIXTURE_PID=
}

# start_prometheus: starts $PROMETHEUS (default: the installed one) with $TMP/prometheus.yml on a
# free port; sets PROM_PID, PROM_PORT and API (its /api/v1 URL). Stop it with stop_prometheus.
PROM_PID=
start_prometheus() {
  PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}
  PROM_PORT=$("$FIXTURE" --free-port) || fail "no free port for Prometheus"
  "$PROMETHEUS" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
  PROM_PID=$!
  API="http://127.0.0.1:$PROM_PORT/api/v1"
}

stop_prometheus() {
  [ -n "$PROM_PID" ] || return 0
  kill "$PROM_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PROM_PID" 2>/dev/null
  wait "$PROM_PID" 2>/dev/null
  PROM_PID=
}

# prom_query PROMQL: prints the JSON answer of an instant query
prom_query() { curl -sS --max-time 2 -G --data-urlencode "query=$1" "$API/query" 2>/dev/null; }
# prom_value_is JSON VALUE: the (single) result's value is VALUE
prom_value_is() { printf '%s' "$1" | grep -q "\"value\":\[[0-9.e+]*,\"$2\"\]"; }

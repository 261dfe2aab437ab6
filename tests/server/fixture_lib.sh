# Shared by promtool.sh and prometheus.sh (sourced): start/stop serve_fixture, bounded waits.
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

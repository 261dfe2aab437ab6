# Shared by promtool.sh, prometheus.sh, triton_prometheus.sh and deploy_promql.sh (sourced):
# start/stop fixture programs (serve_fixture, serve_triton), bounded waits.
# Needs: TMP (a private temp dir); FIXTURE (path to the program) for start_fixture/stop_fixture.

fail() { echo "FAIL: $*" >&2; exit 1; }

# The write ends of the fixtures' stdin FIFOs; every program started afterwards closes them
# (run_closing_fixture_fds), or a fixture would never see EOF while a later child holds one.
FIXTURE_FDS=

# run_closing_fixture_fds CMD ARGS...: exec CMD in this (sub)shell without the FIFO write ends.
run_closing_fixture_fds() {
  local fd
  for fd in $FIXTURE_FDS; do eval "exec $fd>&-"; done
  exec "$@"
}

# fixture_start NAME PROGRAM SECONDS: starts PROGRAM SECONDS with stdin on a FIFO whose write end
# this shell holds; sets ${NAME}_PID and ${NAME}_PORT (from its "PORT <n>" line). Files:
# $TMP/<name>.in / .out / .err (name in lower case). The program exits when the FIFO closes
# (fixture_stop NAME) or after SECONDS.
fixture_start() {
  local name=$1 prog=$2 secs=$3 base pid fd port i
  base="$TMP/${name,,}"
  mkfifo "$base.in"
  (run_closing_fixture_fds "$prog" "$secs") <"$base.in" >"$base.out" 2>"$base.err" &
  pid=$!
  exec {fd}>"$base.in"
  FIXTURE_FDS="$FIXTURE_FDS $fd"
  printf -v "${name}_PID" %s "$pid"
  printf -v "${name}_FD" %s "$fd"
  for i in $(seq 1 100); do
    port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$base.out" 2>/dev/null)
    if [ -n "$port" ]; then printf -v "${name}_PORT" %s "$port"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$base.err" >&2; fail "$(basename "$prog") exited early"; }
    sleep 0.1
  done
  fail "$(basename "$prog") printed no port within 10 s"
}

# fixture_stop NAME: closes its stdin, waits up to 5 s (then kills it); sets ${NAME}_RC and, if it
# had to be killed, ${NAME}_STUCK=1.
fixture_stop() {
  local name=$1 pid fd i rc
  eval "pid=\${${name}_PID:-}; fd=\${${name}_FD:-}"
  [ -n "$pid" ] || return 0
  if [ -n "$fd" ]; then
    eval "exec $fd>&-" 2>/dev/null || true
    FIXTURE_FDS=$(printf '%s\n' $FIXTURE_FDS | grep -vx "$fd" | tr '\n' ' ')
  fi
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name (pid $pid) did not exit within 5 s of stdin closing; killing it" >&2
    kill "$pid" 2>/dev/null || true
    printf -v "${name}_STUCK" %s 1
  fi
  wait "$pid" 2>/dev/null
  rc=$?
  printf -v "${name}_RC" %s "$rc"
  printf -v "${name}_PID" %s ""
  printf -v "${name}_FD" %s ""
}

# start_fixture SECONDS / stop_fixture: the program in $FIXTURE, as FIXTURE_PID, FIXTURE_PORT,
# FIXTURE_RC, FIXTURE_STUCK ($TMP/fixture.in / .out / .err).
start_fixture() { fixture_start FIXTURE "$FIXTURE" "$1"; }
stop_fixture() { fixture_stop FIXTURE; }

#!/usr/bin/env bash
# server_promtool: the served /metrics body parses with `promtool check metrics` (Prometheus 2.42).
#
#   promtool.sh /path/to/serve_fixture
#
# promtool's exit codes (2.42): 0 = clean, 3 = lint problems only, 1 = a parse error (it prints
# "error while linting: text format parsing error ..."). Triton-style counter names such as
# fixture_requests draw the lint 'counter metrics should have "_total" suffix'; that lint, and only
# that one, is tolerated. Any parse error or any other lint fails the test.
# Exit 77 (CTest SKIP_RETURN_CODE) when promtool or curl is not installed.
set -u
FIXTURE=${1:?usage: promtool.sh /path/to/serve_fixture}
command -v promtool >/dev/null 2>&1 || { echo "SKIP: promtool not installed (apt-get install prometheus)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed (apt-get install curl)"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-promtool.XXXXXX")
. "$(dirname "$0")/fixture_lib.sh"
trap 'stop_fixture; rm -rf "$TMP"' EXIT

# promtool_strict FILE WHAT: promtool must accept FILE, tolerating only the _total-suffix lint.
promtool_strict() {
  promtool check metrics <"$1" >"$TMP/promtool.out" 2>&1
  local rc=$?
  case $rc in
    0) ;;
    3)
      if grep -v 'counter metrics should have "_total" suffix$' "$TMP/promtool.out" | grep -q .; then
        cat "$TMP/promtool.out" >&2
        fail "$2: promtool reported problems other than the tolerated _total-suffix lint"
      fi ;;
    *) cat "$TMP/promtool.out" >&2; fail "$2: promtool check metrics exited $rc (a format error)" ;;
  esac
  echo "$2: promtool exit $rc; $(wc -l <"$TMP/promtool.out") tolerated lint line(s):"
  sed 's/^/    /' "$TMP/promtool.out"
}

# 0. promtool itself must flag a format error the way this test expects (guards the check above)
printf '# TYPE broken gauge\nbroken{a="x} 1\n' >"$TMP/broken.txt"
promtool check metrics <"$TMP/broken.txt" >"$TMP/broken.out" 2>&1
brc=$?
[ $brc -ne 0 ] && [ $brc -ne 3 ] && grep -q 'parsing error' "$TMP/broken.out" \
  || fail "promtool did not report a parse error for a malformed body (exit $brc): $(cat "$TMP/broken.out")"

start_fixture 60
URL="http://127.0.0.1:$FIXTURE_PORT/metrics"
echo "fixture serving $URL"

# 1. status, content type, body
meta=$(curl -sS --max-time 10 -o "$TMP/body.txt" -w '%{http_code}|%{content_type}' "$URL") || fail "curl $URL failed"
[ "${meta%%|*}" = 200 ] || fail "GET $URL: expected status 200, got ${meta%%|*}"
[ "${meta#*|}" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "GET $URL: wrong Content-Type '${meta#*|}'"
for want in 'fixture_requests{model="a\"b\\c\nd",version="1"} 42' \
            'fixture_queue_size{model="plain"} 17' \
            'fixture_queue_size{model="x\\y"} -2.5' \
            'fixture_latency_seconds_count{model="a\"b\\c\nd"} 3' \
            'nv_cpu_memory_total_bytes ' 'nv_pinned_memory_pool_total_bytes 1048576'; do
  grep -qF -- "$want" "$TMP/body.txt" || { cat "$TMP/body.txt" >&2; fail "expected a line containing: $want"; }
done

# 2. promtool on the body (the brief's pipeline, exactly) and on a saved copy
curl -s --max-time 10 "$URL" | promtool check metrics >"$TMP/pipe.out" 2>&1
prc=$?
[ $prc -eq 0 ] || [ $prc -eq 3 ] || { cat "$TMP/pipe.out" >&2; fail "curl | promtool check metrics exited $prc"; }
promtool_strict "$TMP/body.txt" "/metrics"
# /metrics/ serves the same format
curl -sS --max-time 10 -o "$TMP/body2.txt" "$URL/" || fail "curl $URL/ failed"
promtool_strict "$TMP/body2.txt" "/metrics/"
# gzip, as Prometheus asks for it: the gunzipped body parses too
curl -sS --max-time 10 -H 'Accept-Encoding: gzip' -D "$TMP/gz.head" -o "$TMP/body.gz" "$URL" || fail "curl gzip failed"
grep -qi '^Content-Encoding: gzip' "$TMP/gz.head" || fail "Accept-Encoding: gzip was not answered gzipped"
gzip -dc <"$TMP/body.gz" >"$TMP/gunzipped.txt" || fail "the gzip body does not gunzip"
promtool_strict "$TMP/gunzipped.txt" "/metrics gzipped"

# 3. the fixture shuts down cleanly when its stdin closes
stop_fixture
[ "${FIXTURE_STUCK:-0}" = 0 ] || fail "serve_fixture did not exit after stdin closed (ServerDelete hung?)"
[ "$FIXTURE_RC" = 0 ] || { cat "$TMP/fixture.err" >&2; fail "serve_fixture exited $FIXTURE_RC"; }

# 4. every collector group on (process, container, host with two disk paths, GPU without a
#    driver): the body still parses. node_exporter's node_memory_MemTotal_bytes-style names draw
#    promtool's camelCase lint; that lint is tolerated for node_memory_* names only.
rm -f "$TMP/fixture.in"
INFERMETRICS_COLLECTORS=all INFERMETRICS_DISK_PATHS=/,/proc start_fixture 60
sleep 1.2  # two intervals: the windowed ratios have their first values
curl -sS --max-time 10 -o "$TMP/all.txt" "http://127.0.0.1:$FIXTURE_PORT/metrics" || fail "curl (all groups) failed"
for want in 'process_cpu_seconds_total ' 'process_open_fds ' 'node_load1 ' 'node_memory_MemAvailable_bytes ' \
            'node_filesystem_avail_bytes{' 'nv_cpu_core_utilization{cpu="0"} ' 'nv_collector_success{collector="host"} ' \
            'nv_collector_duration_seconds{collector="filesystem"} ' 'nv_cpu_utilization '; do
  grep -qF -- "$want" "$TMP/all.txt" || { cat "$TMP/all.txt" >&2; fail "all groups on: expected a line containing: $want"; }
done
if [ -r /proc/self/cgroup ]; then
  grep -q '^nv_container_cpu_usage_seconds_total ' "$TMP/all.txt" || echo "note: no cgroup found here, no nv_container_* series"
fi
promtool check metrics <"$TMP/all.txt" >"$TMP/all.out" 2>&1
arc=$?
case $arc in
  0) ;;
  3)
    if grep -v 'counter metrics should have "_total" suffix$' "$TMP/all.out" \
       | grep -v "^node_memory_[A-Za-z_]*_bytes metric names should be written in 'snake_case' not 'camelCase'$" | grep -q .; then
      cat "$TMP/all.out" >&2
      fail "all groups on: promtool reported problems other than the tolerated lints"
    fi ;;
  *) cat "$TMP/all.out" >&2; fail "all groups on: promtool check metrics exited $arc (a format error)" ;;
esac
echo "all groups on: $(grep -c '^# TYPE' "$TMP/all.txt") families, promtool exit $arc; tolerated lint lines:"
sed 's/^/    /' "$TMP/all.out"
stop_fixture
[ "$FIXTURE_RC" = 0 ] || { cat "$TMP/fixture.err" >&2; fail "serve_fixture (all groups) exited $FIXTURE_RC"; }
echo "PASS"

#!/usr/bin/env bash
# server_prometheus: Debian's real Prometheus scrapes the fixture every second; through its HTTP
# API the target must be "up" and the fixture's custom series stored with the recorded values
# (including a label value with a quote, a backslash and a newline). Bounded: gives up after 30 s.
#
#   prometheus.sh /path/to/serve_fixture
#
# Exit 77 (CTest SKIP_RETURN_CODE) when prometheus or curl is not installed.
set -u
FIXTURE=${1:?usage: prometheus.sh /path/to/serve_fixture}
. "$(dirname "$0")/fixture_lib.sh"
. "$(dirname "$0")/prometheus_lib.sh"
require_prometheus
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-prometheus.XXXXXX")
trap 'stop_prometheus; stop_fixture; rm -rf "$TMP"' EXIT

start_fixture 90
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: infermetrics
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:$FIXTURE_PORT']
YML
start_prometheus "$TMP/prometheus.yml"
echo "fixture on 127.0.0.1:$FIXTURE_PORT, Prometheus on 127.0.0.1:$PROM_PORT"


deadline=$((SECONDS + 30))
up=0 stored=0 escaped=0 hist=0
while [ $SECONDS -lt $deadline ]; do
  prometheus_alive
  if [ $up = 0 ]; then
    targets=$(curl -sS --max-time 2 "$API/targets" 2>/dev/null)
    if printf '%s' "$targets" | grep -q "\"scrapeUrl\":\"http://127.0.0.1:$FIXTURE_PORT/metrics\"" &&
       printf '%s' "$targets" | grep -q '"health":"up"'; then
      up=1; echo "target up"
    fi
  fi
  if [ $up = 1 ]; then
    [ $stored = 0 ] && prom_value_is "$(prom_query 'fixture_queue_size{model="plain",job="infermetrics"}')" 17 &&
      { stored=1; echo "fixture_queue_size stored: 17"; }
    # PromQL string escapes: this selects the label value a"b\c<newline>d exactly
    [ $escaped = 0 ] && prom_value_is "$(prom_query 'fixture_requests{model="a\"b\\c\nd",version="1"}')" 42 &&
      { escaped=1; echo "fixture_requests with an escaped label value stored: 42"; }
    [ $hist = 0 ] && prom_value_is "$(prom_query 'fixture_latency_seconds_bucket{le="1"}')" 2 &&
      prom_value_is "$(prom_query 'fixture_latency_seconds_count')" 3 &&
      { hist=1; echo "fixture_latency_seconds histogram stored"; }
    [ $stored = 1 ] && [ $escaped = 1 ] && [ $hist = 1 ] && break
  fi
  sleep 0.5
done

if [ $up = 0 ] || [ $stored = 0 ] || [ $escaped = 0 ] || [ $hist = 0 ]; then
  echo "--- targets:" >&2; curl -sS --max-time 2 "$API/targets" >&2; echo >&2
  echo "--- prometheus log (tail):" >&2; tail -20 "$TMP/prometheus.log" >&2
  fail "within 30 s: target up=$up, gauge stored=$stored, escaped-label counter stored=$escaped, histogram=$hist"
fi

# the scrape itself was clean: up == 1 and no sample was dropped or rejected
prom_value_is "$(prom_query 'up{job="infermetrics"}')" 1 || fail "up{job=\"infermetrics\"} is not 1"
prometheus_log_clean
stop_prometheus
stop_fixture
[ "${FIXTURE_STUCK:-0}" = 0 ] || fail "serve_fixture did not exit after stdin closed"
[ "$FIXTURE_RC" = 0 ] || { cat "$TMP/fixture.err" >&2; fail "serve_fixture exited $FIXTURE_RC"; }
echo "PASS"

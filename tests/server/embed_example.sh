#!/usr/bin/env bash
# server_embed_example: examples/c/embed.c (a host's own HTTP server serving /metrics from a
# listener-less infermetrics server through MetricsNegotiate + MetricsRender), scraped with curl,
# plain and --compressed, and checked with `promtool check metrics`.
#
#   embed_example.sh /path/to/embed [--expect-gzip]
#
# --expect-gzip also requires `Content-Encoding: gzip` on the wire for `Accept-Encoding: gzip`:
# that needs the real exporter::encoding::negotiate (another branch of issue 12), so CTest
# registers that variant (server_embed_example_gzip) DISABLED until it lands. Without it, the
# --compressed scrape is checked whichever encoding comes back.
# Exit 77 (CTest SKIP_RETURN_CODE) when curl or promtool is not installed.
set -u
EMBED=${1:?usage: embed_example.sh /path/to/embed [--expect-gzip]}
EXPECT_GZIP=0
[ "${2:-}" = --expect-gzip ] && EXPECT_GZIP=1
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
command -v promtool >/dev/null 2>&1 || { echo "SKIP: promtool not installed (apt-get install prometheus)"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-embed.XXXXXX")
PID=
fail() { echo "FAIL: $*" >&2; [ -s "$TMP/embed.err" ] && sed 's/^/  embed stderr: /' "$TMP/embed.err" >&2; exit 1; }
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

"$EMBED" --port 0 --duration-ms 50000 >"$TMP/embed.out" 2>"$TMP/embed.err" &
PID=$!
PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$TMP/embed.out")
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || fail "embed exited early"
  sleep 0.1
done
[ -n "$PORT" ] || fail "embed printed no port within 10 s"
URL="http://127.0.0.1:$PORT/metrics"
grep -q 'collectors only (no listener)' "$TMP/embed.err" || fail "the library did not log 'collectors only (no listener)'"

# 1. plain: 0.0.4 text with the host's series and the collectors'; no Content-Encoding
meta=$(curl -sS --max-time 10 -D "$TMP/plain.h" -o "$TMP/plain.txt" -w '%{http_code}|%{content_type}' "$URL") \
  || fail "curl $URL failed"
[ "${meta%%|*}" = 200 ] || fail "GET $URL: status ${meta%%|*}"
[ "${meta#*|}" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "wrong Content-Type '${meta#*|}'"
grep -qi '^content-encoding:' "$TMP/plain.h" && fail "plain request got a Content-Encoding: $(cat "$TMP/plain.h")"
grep -qi '^vary: accept-encoding' "$TMP/plain.h" || fail "no Vary: Accept-Encoding"
for want in '^embed_scrapes_total 1$' '^nv_cpu_memory_total_bytes ' '^nv_collector_success{collector="cpu"} 1$' \
            '^nv_pinned_memory_pool_total_bytes ' '^process_open_fds '; do
  grep -q -- "$want" "$TMP/plain.txt" || { cat "$TMP/plain.txt" >&2; fail "no line matching $want"; }
done

# 2. --compressed: gzip on the wire (smaller), the same families after decoding
curl -sS --max-time 10 -H 'Accept-Encoding: gzip' -D "$TMP/gz.h" -o "$TMP/raw.gz" "$URL" || fail "curl (gzip, raw) failed"
if grep -qi '^content-encoding: gzip' "$TMP/gz.h"; then
  gzip -t "$TMP/raw.gz" || fail "the gzip body does not decode"
  gzipped=1
else
  [ $EXPECT_GZIP = 0 ] || fail "Accept-Encoding: gzip got no Content-Encoding: gzip: $(cat "$TMP/gz.h")"
  echo "note: Accept-Encoding: gzip was answered uncompressed (negotiate not yet implemented on this branch)"
  gzipped=0
fi
curl -sS --max-time 10 --compressed -o "$TMP/gz.txt" "$URL" || fail "curl --compressed failed"
grep -q '^embed_scrapes_total 3$' "$TMP/gz.txt" || { cat "$TMP/gz.txt" >&2; fail "decoded body lacks embed_scrapes_total 3"; }
[ "$(grep '^# TYPE' "$TMP/gz.txt" | sort)" = "$(grep '^# TYPE' "$TMP/plain.txt" | sort)" ] \
  || fail "the gzip body has other families than the plain one"
plain_bytes=$(wc -c <"$TMP/plain.txt"); gz_bytes=$(wc -c <"$TMP/raw.gz")
[ $gzipped = 0 ] || [ "$gz_bytes" -lt "$plain_bytes" ] || fail "gzip body $gz_bytes bytes, plain $plain_bytes"
echo "plain $plain_bytes bytes, Accept-Encoding: gzip $gz_bytes bytes"

# 3. promtool on both (Triton-style counters without _total draw a lint that is tolerated)
for f in plain.txt gz.txt; do
  promtool check metrics <"$TMP/$f" >"$TMP/promtool.out" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && { [ $rc -ne 3 ] || grep -v 'counter metrics should have "_total" suffix$' "$TMP/promtool.out" | grep -q .; }; then
    cat "$TMP/promtool.out" >&2; fail "promtool check metrics on $f exited $rc"
  fi
  echo "$f: promtool exit $rc"
done

# 4. HEAD, 404, 405 like the library's own server
[ "$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -I "$URL")" = 200 ] || fail "HEAD /metrics"
[ "$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other")" = 404 ] || fail "GET /other not 404"
[ "$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "$URL")" = 405 ] || fail "POST not 405"

# 5. SIGTERM: a clean exit (ServerDelete, MetricsDelete succeed)
kill -TERM "$PID"
wait "$PID"; rc=$?
PID=
[ $rc = 0 ] || fail "embed exited $rc after SIGTERM"
echo PASS

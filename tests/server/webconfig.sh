#!/usr/bin/env bash
# server_webconfig: TLS, basic auth and reloading of an exporter-toolkit web-config.yml, with
# curl and openssl (certificates made here with the openssl CLI), then a real Prometheus
# scraping the fixture over HTTPS with basic auth, and one scraping it with OpenMetrics on.
#   - a bad file fails ServerNew, the message naming the file and the key (and the line);
#   - HTTPS + basic auth: right password 200 (and gzip), wrong or missing 401 with
#     WWW-Authenticate: Basic realm=..., configured headers served; plain HTTP -> 400
#     "Client sent an HTTP request to an HTTPS server." and closed at once;
#   - reload: a rotated certificate is served to new connections; switching to mTLS
#     (RequireAndVerifyClientCert) refuses a client without a certificate, accepts one with;
#     a broken file keeps the last good config and is logged once;
#   - the Accept header of Prometheus 2.42 is the one the unit tests assume.
#
#   webconfig.sh /path/to/serve_fixture
#
# Exit 77 (CTest SKIP_RETURN_CODE) when openssl, curl or prometheus is not installed.
set -u
FIXTURE=${1:?usage: webconfig.sh /path/to/serve_fixture}
for tool in openssl curl; do
  command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
. "$(dirname "$0")/fixture_lib.sh"
. "$(dirname "$0")/prometheus_lib.sh"
require_prometheus
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-webconfig.XXXXXX")
trap 'stop_prometheus; stop_fixture; rm -rf "$TMP"' EXIT
D=$TMP
ok() { echo "ok: $*"; }

# ---- certificates: a CA, a server certificate for 127.0.0.1 (two, for rotation), a client one
ssl() { openssl "$@" >/dev/null 2>&1 || fail "openssl $*"; }
ssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.pem" -days 2 -subj "/CN=infermetrics test CA"
for n in server rotated client; do
  ssl req -newkey rsa:2048 -nodes -keyout "$D/$n.key" -out "$D/$n.csr" -subj "/CN=infermetrics $n"
  if [ $n = client ]; then ext="extendedKeyUsage=clientAuth"; else ext="subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"; fi
  printf '%s\n' "$ext" >"$D/$n.ext"
  ssl x509 -req -in "$D/$n.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial -out "$D/$n.pem" -days 2 \
    -extfile "$D/$n.ext"
done
cp "$D/server.pem" "$D/tls.pem"; cp "$D/server.key" "$D/tls.key"

# ---- a bcrypt hash of "s3cret" at cost 10: htpasswd, else python3's bcrypt, else glibc's
# crypt (libxcrypt does bcrypt), else a fixed one
HASH=
if command -v htpasswd >/dev/null 2>&1; then
  HASH=$(htpasswd -nbBC 10 alice s3cret | cut -d: -f2-)
elif python3 -c 'import bcrypt' 2>/dev/null; then
  HASH=$(python3 -c 'import bcrypt; print(bcrypt.hashpw(b"s3cret", bcrypt.gensalt(10)).decode())')
else
  HASH=$(python3 -W ignore -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))' 2>/dev/null)
fi
case "$HASH" in \$2?\$10\$*) ;; *) HASH='$2b$10$3gmKJDUvph5TSLRpe7Vv6egBTM52vOm52NJrCxXL4Z8sV2HLXNpfC' ;; esac
echo "bcrypt hash: $HASH"

write_config() { # write_config [extra tls lines]
  cat >"$D/web.yml.new" <<YML
tls_server_config:
  cert_file: tls.pem
  key_file: tls.key
$1
http_server_config:
  headers:
    X-Frame-Options: deny
basic_auth_users:
  alice: '$HASH'
YML
  mv "$D/web.yml.new" "$D/web.yml"
}

# ---- a bad file fails ServerNew naming the file, the key and the line
printf 'tls_server_config:\n  cert_file: tls.pem\n  key_fil: tls.key\n' >"$D/bad.yml"
INFERMETRICS_WEB_CONFIG="$D/bad.yml" "$FIXTURE" 5 </dev/null >"$D/bad.out" 2>"$D/bad.err" && fail "a bad web config started"
grep -q "bad.yml" "$D/bad.err" && grep -q "key_fil" "$D/bad.err" && grep -q "line 3" "$D/bad.err" ||
  { cat "$D/bad.err" >&2; fail "the error does not name the file, the key and the line"; }
ok "bad web config refused: $(grep -o "web config .*" "$D/bad.err" | grep -v overrides | head -1 | cut -c1-120)"
printf 'tls_server_config:\n  cert_file: tls.pem\n  key_file: tls.key\n  min_version: TLS11\n' >"$D/bad.yml"
INFERMETRICS_WEB_CONFIG="$D/bad.yml" "$FIXTURE" 5 </dev/null >"$D/bad.out" 2>"$D/bad.err" && fail "TLS11 started"
grep -q "min_version.*rustls" "$D/bad.err" || { cat "$D/bad.err" >&2; fail "TLS11: no word on rustls"; }
ok "min_version TLS11 refused"

# ---- HTTPS with basic auth
write_config ""
INFERMETRICS_WEB_CONFIG="$D/web.yml" start_fixture 120
URL="https://127.0.0.1:$FIXTURE_PORT/metrics"
C=(curl -sS --max-time 5 --cacert "$D/ca.pem")
code=$("${C[@]}" -u alice:s3cret -o "$D/body" -D "$D/head" -w '%{http_code}' "$URL")
[ "$code" = 200 ] && grep -q '^fixture_queue_size' "$D/body" || fail "HTTPS with the right password: $code"
grep -qi '^X-Frame-Options: deny' "$D/head" || fail "configured header missing"
ok "HTTPS + right password: 200, X-Frame-Options served"
code=$("${C[@]}" --compressed -u alice:s3cret -o "$D/body" -D "$D/head" -w '%{http_code}' "$URL")
[ "$code" = 200 ] && grep -qi '^Content-Encoding: gzip' "$D/head" && grep -q '^fixture_queue_size' "$D/body" ||
  fail "HTTPS gzip: $code"
ok "HTTPS + gzip (curl --compressed)"
for creds in "alice:wrong" "bob:s3cret" ""; do
  args=(); [ -n "$creds" ] && args=(-u "$creds")
  code=$("${C[@]}" "${args[@]}" -o /dev/null -D "$D/head" -w '%{http_code}' "$URL")
  [ "$code" = 401 ] || fail "credentials '$creds': $code, expected 401"
  grep -qi '^WWW-Authenticate: Basic realm=' "$D/head" || fail "401 without WWW-Authenticate: Basic realm="
done
ok "wrong password, unknown user, no credentials: 401 with WWW-Authenticate: Basic realm="
# plain HTTP to the TLS port: 400 and closed at once
t0=$(date +%s%N)
out=$(curl -sS --max-time 5 -i "http://127.0.0.1:$FIXTURE_PORT/metrics" 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
printf '%s' "$out" | grep -q '400 Bad Request' && printf '%s' "$out" | grep -q 'Client sent an HTTP request to an HTTPS server' ||
  fail "plain HTTP on the TLS port: $out"
[ $ms -lt 2000 ] || fail "plain HTTP on the TLS port took $ms ms"
ok "plain HTTP on the TLS port: 400 in $ms ms"
subject() { echo | timeout 5 openssl s_client -connect "127.0.0.1:$FIXTURE_PORT" 2>/dev/null | sed -n 's/^subject=//p'; }
subject | grep -q "infermetrics server" || fail "served certificate: $(subject)"

# ---- reload: rotate the certificate
sleep 1.1
cp "$D/rotated.pem" "$D/tls.pem.new"; cp "$D/rotated.key" "$D/tls.key.new"
mv "$D/tls.key.new" "$D/tls.key"; mv "$D/tls.pem.new" "$D/tls.pem"
rotated=0
for i in $(seq 1 30); do
  subject | grep -q "infermetrics rotated" && { rotated=1; break; }
  sleep 0.2
done
[ $rotated = 1 ] || fail "the rotated certificate was not served: $(subject)"
ok "rotated certificate served without a restart"
# ---- reload: mutual TLS
sleep 1.1
write_config "  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem"
mtls=0
for i in $(seq 1 30); do
  code=$("${C[@]}" -u alice:s3cret --cert "$D/client.pem" --key "$D/client.key" -o /dev/null -w '%{http_code}' "$URL" 2>/dev/null)
  nocert=$("${C[@]}" -u alice:s3cret -o /dev/null -w '%{http_code}' "$URL" 2>/dev/null)
  [ "$code" = 200 ] && [ "$nocert" != 200 ] && { mtls=1; break; }
  sleep 0.2
done
[ $mtls = 1 ] || fail "mTLS after reload: with a client certificate $code, without $nocert"
ok "mTLS after reload: client certificate required ($nocert without one, 200 with)"
# ---- reload: a broken file keeps the last good config, logged once
sleep 1.1
printf 'tls_server_config: [\n' >"$D/web.yml"
for i in $(seq 1 12); do
  code=$("${C[@]}" -u alice:s3cret --cert "$D/client.pem" --key "$D/client.key" -o /dev/null -w '%{http_code}' "$URL")
  [ "$code" = 200 ] || fail "after a broken reload: $code"
  sleep 0.25
done
n=$(grep -c "keeping the last good web config" "$TMP/fixture.err")
[ "$n" = 1 ] || { cat "$TMP/fixture.err" >&2; fail "the broken file was logged $n times, expected once"; }
ok "broken file: last good config kept, logged once: $(grep "keeping the last good" "$TMP/fixture.err")"
write_config ""

# ---- a real Prometheus over HTTPS with basic auth
sleep 1.2
cat >"$TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: infermetrics_tls
    scheme: https
    tls_config: {ca_file: '$D/ca.pem'}
    basic_auth: {username: alice, password: s3cret}
    static_configs: [{targets: ['127.0.0.1:$FIXTURE_PORT']}]
YML
start_prometheus "$TMP/prometheus.yml"
deadline=$((SECONDS + 30)); up=0
while [ $SECONDS -lt $deadline ]; do
  prometheus_alive
  prom_value_is "$(prom_query 'up{job="infermetrics_tls"}')" 1 &&
    prom_value_is "$(prom_query 'fixture_queue_size{model="plain",job="infermetrics_tls"}')" 17 && { up=1; break; }
  sleep 0.5
done
[ $up = 1 ] || { curl -sS "$API/targets" >&2; fail "Prometheus over HTTPS + basic auth: not up within 30 s"; }
ok "a real Prometheus scrapes over HTTPS with basic auth (up 1, fixture_queue_size 17)"
stop_prometheus
stop_fixture
[ "${FIXTURE_RC:-0}" = 0 ] || { cat "$TMP/fixture.err" >&2; fail "serve_fixture exited $FIXTURE_RC"; }
rm -rf "$TMP/data" "$TMP/fixture.in"

# ---- the Accept header a real Prometheus sends is the one src/exporter/encoding.rs's tests use
CAP_PORT=$("$FIXTURE" --free-port) || fail "no free port"
cat >"$TMP/capture.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as f:
            f.write(self.headers.get("Accept", "") + "\n")
        b = b"x 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$TMP/capture.py" "$CAP_PORT" "$TMP/accept" &
CAP_PID=$!
trap 'kill $CAP_PID 2>/dev/null; stop_prometheus; stop_fixture; rm -rf "$TMP"' EXIT
cat >"$TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs: [{job_name: capture, static_configs: [{targets: ['127.0.0.1:$CAP_PORT']}]}]
YML
start_prometheus "$TMP/prometheus.yml"
for i in $(seq 1 60); do [ -s "$TMP/accept" ] && break; sleep 0.25; done
stop_prometheus; kill $CAP_PID 2>/dev/null; wait $CAP_PID 2>/dev/null
rm -rf "$TMP/data"
sent=$(head -1 "$TMP/accept" 2>/dev/null)
want=$(sed -n 's/.*PROMETHEUS_2_42_ACCEPT: &str = "\(.*\)";/\1/p' "$(dirname "$0")/../../src/exporter/encoding.rs")
[ -n "$sent" ] || fail "Prometheus never scraped the header capture"
[ "$sent" = "$want" ] || fail "Prometheus sends Accept '$sent'; encoding.rs's tests assume '$want'"
ok "Prometheus $("$PROMETHEUS" --version 2>&1 | head -1 | awk '{print $3}') sends Accept: $sent"

# ---- a real Prometheus with OpenMetrics on: up == 1, counters as _total
INFERMETRICS_OPENMETRICS=1 start_fixture 60
om=$(curl -sS --max-time 5 -H 'Accept: application/openmetrics-text;version=1.0.0' "http://127.0.0.1:$FIXTURE_PORT/metrics")
cat >"$TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: infermetrics_om
    static_configs: [{targets: ['127.0.0.1:$FIXTURE_PORT']}]
YML
start_prometheus "$TMP/prometheus.yml"
printf '%s\n' "$om" | tail -1 | grep -qx '# EOF' || fail "the OpenMetrics body does not end with # EOF"
deadline=$((SECONDS + 30)); up=0
while [ $SECONDS -lt $deadline ]; do
  prom_value_is "$(prom_query 'up{job="infermetrics_om"}')" 1 &&
    prom_value_is "$(prom_query 'fixture_requests_total{version="1",job="infermetrics_om"}')" 42 && { up=1; break; }
  sleep 0.5
done
[ $up = 1 ] || { curl -sS "$API/targets" >&2; prom_query 'up' >&2; fail "Prometheus with OpenMetrics: not up, or fixture_requests not stored as fixture_requests_total"; }
ok "a real Prometheus scrapes OpenMetrics: up 1, the counter fixture_requests stored as fixture_requests_total"
stop_prometheus
stop_fixture
echo "PASS"

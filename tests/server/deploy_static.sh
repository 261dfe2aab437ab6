#!/usr/bin/env bash
# deploy_static (issue 12): the files under deploy/ without a server:
#   - promtool check rules deploy/prometheus/alerts.yml
#   - deploy_check.py static: the dashboard's structure and queries' metric names (against
#     docs/metrics.md), the alert rules' labels and annotations, the Kubernetes manifests
#     (apiVersion / kind, ServiceMonitor / PodMonitor ports against the Service), scrape.yml's jobs
#   - promtool check config deploy/prometheus/scrape.yml, with stand-ins for the files it names
#     (CA, password file, rule file) created here; and the TLS job with both a password and a
#     password_file must be refused (so the check really reads that job).
#     Debian's Prometheus is built without kubernetes_sd_configs: where promtool refuses that key,
#     the kubernetes_sd job is checked by deploy_check.py only and promtool checks the rest.
# (promtool test rules deploy/prometheus/alerts_test.yml is its own CTest test, deploy_alerts_unit.)
#
#   deploy_static.sh            (from anywhere; finds the repository from its own path)
# Exit 77 (CTest SKIP_RETURN_CODE) when promtool or python3 with PyYAML is missing.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v promtool >/dev/null 2>&1 || { echo "SKIP: promtool not installed (apt-get install prometheus)"; exit 77; }
"$PY" -c 'import yaml' 2>/dev/null || { echo "SKIP: python3 without PyYAML (apt-get install python3-yaml)"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-deploy.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

promtool check rules "$ROOT/deploy/prometheus/alerts.yml" || fail "promtool check rules alerts.yml"
"$PY" "$ROOT/tests/server/deploy_check.py" static "$ROOT" "$TMP/pruned.yml" || fail "deploy_check.py static"

# scrape.yml names files under /etc/prometheus/infermetrics/ and a rule file beside itself: check a
# copy whose paths point at stand-ins here
mkdir -p "$TMP/cfg/infermetrics"
printf '%s\n' '-----BEGIN CERTIFICATE-----' 'stand-in' '-----END CERTIFICATE-----' >"$TMP/cfg/infermetrics/ca.crt"
printf 'secret\n' >"$TMP/cfg/infermetrics/password"
cp "$ROOT/deploy/prometheus/alerts.yml" "$TMP/cfg/infermetrics-alerts.yml"
printf 'scrape_configs:\n  - job_name: probe\n    kubernetes_sd_configs:\n      - role: pod\n' >"$TMP/k8s-probe.yml"
if promtool check config "$TMP/k8s-probe.yml" >"$TMP/probe.out" 2>&1; then
  src="$ROOT/deploy/prometheus/scrape.yml"
  echo "promtool supports kubernetes_sd_configs: checking scrape.yml whole"
else
  grep -q 'kubernetes_sd_configs not found' "$TMP/probe.out" || { cat "$TMP/probe.out" >&2; fail "promtool refused a minimal kubernetes_sd config"; }
  src="$TMP/pruned.yml"
  echo "note: this promtool ($(promtool --version 2>&1 | head -1)) is built without kubernetes_sd_configs;"
  echo "      the kubernetes_sd job was checked by deploy_check.py, promtool checks the other jobs"
fi
sed "s#/etc/prometheus/infermetrics/#$TMP/cfg/infermetrics/#g" "$src" >"$TMP/cfg/scrape.yml"
promtool check config "$TMP/cfg/scrape.yml" || fail "promtool check config scrape.yml"
grep -q 'job_name: infermetrics-tls' "$TMP/cfg/scrape.yml" || fail "the checked config has no TLS job"
# promtool really reads the TLS job (2.42 does not open ca_file): a basic_auth with both a
# password and a password_file must be refused
sed 's#^\( *\)password_file: .*$#&\n\1password: inline#' "$TMP/cfg/scrape.yml" >"$TMP/cfg/bad.yml"
grep -q 'password: inline' "$TMP/cfg/bad.yml" || fail "could not make the bad variant of scrape.yml"
if promtool check config "$TMP/cfg/bad.yml" >"$TMP/bad.out" 2>&1; then
  cat "$TMP/bad.out" >&2; fail "promtool accepted a basic_auth with both password and password_file"
fi
grep -qi 'password' "$TMP/bad.out" || { cat "$TMP/bad.out" >&2; fail "promtool's refusal does not name the password"; }
echo "the TLS job with both password and password_file refused: $(grep -io '[^:]*password[^:]*' "$TMP/bad.out" | head -1)"
echo "PASS"

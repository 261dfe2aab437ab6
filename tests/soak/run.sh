#!/usr/bin/env bash
# Soak test of the metrics server (issue 7): `bash tests/soak/run.sh [MINUTES]` (default 30; e.g.
# 2 for a smoke run). Builds the library (cargo, release) and tests/soak/soak.c, then runs the
# soak: a server with recording, churn and a scrape loop, plus hostile clients from a second
# process, for MINUTES. Samples go to target/soak/samples.csv and the output to target/soak/soak.log;
# the program prints a min/max/first/last table and exits non-zero if memory grew, threads or
# descriptors leaked, descriptors passed the connection cap + 16, or < 99 % of scrapes succeeded.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MINUTES=${1:-30}
SECONDS_TOTAL=$(awk -v m="$MINUTES" 'BEGIN { s = int(m * 60 + 0.5); if (s < 10) { exit 1 } print s }') || {
  echo "usage: $0 [MINUTES]  (at least 10 seconds' worth, e.g. 2 or 0.5)" >&2
  exit 2
}
OUT="$ROOT/target/soak"
mkdir -p "$OUT"

echo "== building libinfermetrics (cargo, release) and the soak program"
cargo build --release --lib -p infermetrics --quiet
cc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Werror \
  -I"$ROOT/include" -I"$ROOT/tests/server" "$ROOT/tests/soak/soak.c" \
  -L"$ROOT/target/release" -linfermetrics -Wl,-rpath,"$ROOT/target/release" -lpthread -lm \
  -o "$OUT/soak"

echo "== soak for $MINUTES minute(s) ($SECONDS_TOTAL s)"
set +e
"$OUT/soak" --seconds "$SECONDS_TOTAL" --csv "$OUT/samples.csv" 2>&1 | tee "$OUT/soak.log"
rc=${PIPESTATUS[0]}
set -e
echo "== samples: $OUT/samples.csv, log: $OUT/soak.log (exit $rc)"
exit "$rc"

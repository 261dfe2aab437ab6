#!/usr/bin/env bash
# Short fuzz runs of every cargo-fuzz target in fuzz/ (libFuzzer + AddressSanitizer):
#   api_ops         the C API as operations on a handle table, checked against a model
#   text_roundtrip  names/HELP/labels/values through the API, rendered, strictly parsed back
#   http            raw client bytes through the real HTTP connection (only when the library
#                   has exporter::fuzz_http_exchange)
#   negotiate_webconfig  Accept / Accept-Encoding strings through the negotiation, and bytes
#                   as a web-config.yml through its loader
#
#   tests/fuzz.sh [SECONDS]     SECONDS per target (default 60)
#
# Each target starts from its committed seed corpus (fuzz/corpus/<target>, read only) and writes
# what it finds to build/fuzz/corpus/<target>. Prints, per target, executions, exec/s, coverage
# (cov: edges, ft: features) and corpus size from libFuzzer's final stats; exits non-zero on any
# crash, leak, timeout (an input running over 10 s) or out-of-memory, and leaves the input that
# did it in build/fuzz/artifacts/<target>/ (reproduce: fuzz/target/*/release/<target> <file>).
# FUZZ_JOBS (default 2) targets run at once; FUZZ_TARGETS overrides the list. With the default
# 2 jobs the 4 targets take 2 rounds of SECONDS (as 3 did): add a fifth and the run takes a third.
# Needs cargo-fuzz (installed here with `cargo install --locked cargo-fuzz` when missing, about a
# minute) and the Rust toolchain; stable works through RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
JOBS=${FUZZ_JOBS:-2}
OUT=$ROOT/build/fuzz
export CARGO_TERM_COLOR=never RUSTC_BOOTSTRAP=1
START=$(date +%s)

if ! command -v cargo-fuzz >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
  echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install --quiet --locked cargo-fuzz
fi

TARGETS=${FUZZ_TARGETS:-"api_ops text_roundtrip negotiate_webconfig"}
FEATURES=()
if [ -z "${FUZZ_TARGETS:-}" ] && grep -rqs 'pub fn fuzz_http_exchange' src/exporter; then
  TARGETS="$TARGETS http"
  FEATURES=(--features http)
fi
case " $TARGETS " in *" http "*) FEATURES=(--features http) ;; esac

echo "== cargo fuzz build ($TARGETS)"
# a failed build must fail the script (and never leave an older binary to be run)
rm -f "$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release/"{api_ops,text_roundtrip,http,negotiate_webconfig}
mkdir -p "$OUT"
if ! (cd fuzz && cargo fuzz build "${FEATURES[@]}") >"$OUT/build.log" 2>&1; then
  grep -Ev '^\s+(Compiling|Checking)' "$OUT/build.log" | tail -60
  echo "cargo fuzz build failed (whole log: $OUT/build.log)"
  exit 1
fi
grep -Ev '^\s+(Compiling|Checking)' "$OUT/build.log" | grep -v '^$' || true
BIN=$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release
for t in $TARGETS; do [ -x "$BIN/$t" ] || { echo "fuzz target $t was not built"; exit 1; }; done
BUILT=$(date +%s)

rm -rf "$OUT/artifacts" "$OUT/logs"
mkdir -p "$OUT/logs"
export ASAN_OPTIONS="detect_odr_violation=0:abort_on_error=0:detect_leaks=1"
run_target() {
  local t=$1 dict=()
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" "$ROOT/fuzz/corpus/$t"
  [ -f "$ROOT/fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
  local rc=0
  # files a target writes (negotiate_webconfig's web-config.yml) stay under build/fuzz
  mkdir -p "$OUT/tmp/$t"
  TMPDIR="$OUT/tmp/$t" "$BIN/$t" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 -rss_limit_mb=2560 \
    -artifact_prefix="$OUT/artifacts/$t/" "${dict[@]}" "$OUT/corpus/$t" "$ROOT/fuzz/corpus/$t" \
    >"$OUT/logs/$t.log" 2>&1 || rc=$?
  echo $rc >"$OUT/logs/$t.rc"
}
for t in $TARGETS; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  echo "== fuzzing $t for $SECONDS_PER_TARGET s"
  run_target "$t" &
done
wait

fail=0
echo
printf '%-20s %10s %8s %7s %7s %7s %s\n' TARGET EXECS EXEC/S COV FT CORPUS RESULT
for t in $TARGETS; do
  log=$OUT/logs/$t.log
  rc=$(cat "$OUT/logs/$t.rc")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
  if [ "$rc" = 0 ]; then res=ok; else res="FAILED (exit $rc), see $log"; fail=1; fi
  printf '%-20s %10s %8s %7s %7s %7s %s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$res"
  if [ "$rc" != 0 ]; then
    grep -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|SUMMARY' "$log" | head -5 | sed 's/^/    /' || true
    grep -A3 'panicked at' "$log" | head -8 | sed 's/^/    /' || true
    ls "$OUT/artifacts/$t" | sed "s|^|    artifact: $OUT/artifacts/$t/|" || true
  fi
done
END=$(date +%s)
echo
echo "== fuzz: $(echo $TARGETS | wc -w) target(s) x ${SECONDS_PER_TARGET} s, $([ $fail = 0 ] && echo 'no crashes' || echo 'CRASHES'); build $((BUILT - START)) s, run $((END - BUILT)) s"
exit $fail

#!/usr/bin/env bash
# Issue 7's proof that the library never hurts its host, in one command (about 8-12 minutes on a
# 2-core machine from a clean checkout, less when the build trees exist):
#   1. tests/sanitize.sh   library under AddressSanitizer/LeakSanitizer, C/C++ tests under ASan+UBSan
#   2. tests/valgrind.sh   memcheck over the C/C++ test programs of the normal build (build/tests)
#   3. tests/fuzz.sh N     every fuzz target for N seconds (default 45)
#
#   tests/reliability.sh [FUZZ_SECONDS_PER_TARGET]
#
# Runs every stage even when one fails; exits non-zero if any failed; prints one line per stage
# with its wall time.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${1:-45}
mkdir -p build
declare -a SUMMARY
rc=0
stage() {  # name command...
  local name=$1 t0 t1 r
  shift
  echo; echo "== $name"
  t0=$(date +%s)
  "$@" 2>&1 | tee "build/reliability-$name.log"
  r=${PIPESTATUS[0]}
  t1=$(date +%s)
  SUMMARY+=("$(printf '%-9s %-6s %4d s  %s' "$name" "$([ "$r" = 0 ] && echo ok || echo FAILED)" $((t1 - t0)) "$(grep -E '^== (sanitize|valgrind|fuzz):' "build/reliability-$name.log" | tail -1 | sed 's/^== [a-z]*: //')")")
  [ "$r" = 0 ] || rc=1
}
stage sanitize bash tests/sanitize.sh
stage valgrind bash tests/valgrind.sh
stage fuzz bash tests/fuzz.sh "$FUZZ_SECONDS"
echo
echo "== reliability summary"
printf '%s\n' "${SUMMARY[@]}"
exit $rc

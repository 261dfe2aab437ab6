#!/usr/bin/env bash
# valgrind memcheck over the C and C++ test programs of the normal release build (the build
# tests/run.sh makes in build/tests; configured and built here if it is missing). Each CTest
# test whose command is one of our executables runs under
#   valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
# with its CTest arguments and environment. Fails on any failing test, any memcheck error and
# any definite leak. tests/valgrind.supp suppresses only things outside our code (each entry
# says why).
#
#   tests/valgrind.sh [CTEST_REGEX]
#
# CTEST_REGEX picks tests by name (default $VALGRIND_DEFAULT below: every C API, C++ and example
# test, and the server tests that are not about timing or load; '.' for every test that can run
# under valgrind). Left out always: the *_asan programs (AddressSanitizer and valgrind cannot
# share a process) and tests whose command is not a program of the build (shell scripts such as
# promtool/Prometheus, whose fixture is not ours to wrap; cmake; server_valgrind_groups, which
# runs valgrind itself). Per-test logs: build/tests/valgrind/<test>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${VALGRIND_BUILD:-$ROOT/build/tests}
# Server tests left out by default: server_hostile and the load/limit tests assert latencies
# (e.g. a scrape answered within 1 s beside 300 idle connections) that valgrind's 20-50x
# slowdown breaks, and take minutes under it.
VALGRIND_DEFAULT='^(c_.*|cpp_.*|example_.*|fake_nvml_selftest|server_(http|bind|null_args|env_.*|start_stop|keepalive|delete_inflight|collectors))$'
REGEX=${1:-$VALGRIND_DEFAULT}
JOBS=${VALGRIND_JOBS:-2}
export CARGO_TERM_COLOR=never
START=$(date +%s)

command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
if [ ! -f "$BUILD/CTestTestfile.cmake" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DINFERMETRICS_CARGO_TARGET_DIR="$ROOT/target" >/dev/null
fi
cmake --build "$BUILD" -j2 >/dev/null
BUILT=$(date +%s)

OUT=$BUILD/valgrind
rm -rf "$OUT" && mkdir -p "$OUT"
ctest --test-dir "$BUILD" --show-only=json-v1 -R "$REGEX" >"$OUT/tests.json"

# One line per test: name, environment, command; fields split by \x1e, words by \x1f (not
# whitespace, so an empty field stays a field)
# Only programs built in $BUILD are wrapped: not scripts, not cmake (cpp_compile_fail), not
# tests that start valgrind themselves (server_valgrind_groups runs through sh).
python3 - "$OUT/tests.json" "$BUILD" >"$OUT/tests.tsv" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
build = os.path.realpath(sys.argv[2]) + "/"
for t in d["tests"]:
    cmd = t.get("command") or []
    if not cmd or t["name"].endswith("_asan") or not os.path.realpath(cmd[0]).startswith(build):
        continue
    env = []
    for p in t.get("properties", []):
        if p["name"] == "ENVIRONMENT":
            env += p["value"]
    print("\x1e".join([t["name"], "\x1f".join(env), "\x1f".join(cmd)]))
EOF

VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --num-callers=40 --track-origins=yes --gen-suppressions=all
    --suppressions="$ROOT/tests/valgrind.supp")

# Per-test extra options. server_start_stop checks that 45 start/stop rounds grow the RSS by
# < 8 MiB; memcheck holds up to 20 MB of freed blocks back (--freelist-vol) to catch use after
# free, which that check would count as growth, so it gets a 1 MB queue.
declare -A EXTRA=([server_start_stop]="--freelist-vol=1000000")

run_one() {  # name env cmd -> writes $OUT/<name>.log and $OUT/<name>.rc
  local name=$1 envs=$2 cmd=$3 t0 t1 rc=0
  local -a e c x=()
  IFS=$'\x1f' read -r -a e <<<"$envs" || true
  IFS=$'\x1f' read -r -a c <<<"$cmd"
  [ -n "${EXTRA[$name]:-}" ] && read -r -a x <<<"${EXTRA[$name]}"
  t0=$(date +%s)
  env "${e[@]}" timeout 600 "${VG[@]}" "${x[@]}" "${c[@]}" >"$OUT/$name.log" 2>&1 || rc=$?
  t1=$(date +%s)
  echo "$rc $((t1 - t0))" >"$OUT/$name.rc"
}
count=0
while IFS=$'\x1e' read -r name envs cmd; do
  count=$((count + 1))
  # at most $JOBS at a time
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  run_one "$name" "$envs" "$cmd" &
done <"$OUT/tests.tsv"
wait

fail=0
printf '%-36s %6s %s\n' TEST SECONDS RESULT
while IFS=$'\x1e' read -r name _ _; do
  read -r rc secs <"$OUT/$name.rc"
  if [ "$rc" = 0 ]; then
    res=ok
  elif [ "$rc" = 99 ]; then
    res="MEMCHECK ERRORS (see $OUT/$name.log)"; fail=1
  elif [ "$rc" = 124 ]; then
    res="TIMED OUT"; fail=1
  else
    res="FAILED, exit $rc (see $OUT/$name.log)"; fail=1
  fi
  printf '%-36s %6s %s\n' "$name" "$secs" "$res"
  if [ "$res" != ok ]; then
    grep -E '^==[0-9]+== (Invalid|Conditional|Syscall|Mismatched|Source and dest|Argument|.*definitely lost|Process terminating|  (at|by) )' "$OUT/$name.log" | head -30 | sed 's/^/    /' || true
    grep -v '^==' "$OUT/$name.log" | grep -iE 'FAIL|panick' | head -10 | sed 's/^/    /' || true
  fi
done <"$OUT/tests.tsv"
END=$(date +%s)
echo
echo "== valgrind: $count test(s), $([ $fail = 0 ] && echo 'no errors' || echo 'FAILURES'); build $((BUILT - START)) s, run $((END - BUILT)) s"
exit $fail

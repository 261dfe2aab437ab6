#!/usr/bin/env bash
# Sanitizers: the library instrumented with AddressSanitizer (rustc -Zsanitizer=address) and the
# C, C++ and server CTest programs with ASan + UBSan (clang -fsanitize=address,undefined,
# -fno-sanitize-recover=all), run with LeakSanitizer on. Exits non-zero on any failing test and
# on any sanitizer report, including reports from processes whose exit status no test reads
# (the fixture server that the promtool/Prometheus scripts start and stop): every report is
# written to a log file (ASAN/UBSAN log_path) and the script fails if any log file appears.
#
#   tests/sanitize.sh [CTEST_REGEX]
#
# CTEST_REGEX (default: every test) picks tests by name, e.g. '^(c_|cpp_)' for the core API only.
# Environment: SANITIZE_BUILD (default build/sanitize), CC/CXX (default: the newest clang-N, else
# clang, else gcc), SANITIZE_EXCLUDE (tests never run; default below).
# Needs clang or gcc with libasan/libubsan, cmake, and the Rust toolchain (stable is fine:
# RUSTC_BOOTSTRAP=1 lets it take -Zsanitizer; see INFERMETRICS_SANITIZE in CMakeLists.txt).
#
# Library code is instrumented; the Rust standard library is not (it would need -Zbuild-std and
# the rust-src component), so a bad access inside std itself would go unseen.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REGEX=${1:-.}
BUILD=${SANITIZE_BUILD:-$ROOT/build/sanitize}
export CARGO_TERM_COLOR=never
START=$(date +%s)

# The newest clang there is (its ASan runtime is the one the test programs get), else gcc.
if [ -z "${CC:-}" ]; then
  CC=gcc CXX=g++
  for c in clang-21 clang-20 clang-19 clang-18 clang-17 clang-16 clang-15 clang; do
    if command -v "$c" >/dev/null && command -v "${c/clang/clang++}" >/dev/null; then
      CC=$c CXX=${c/clang/clang++}
      break
    fi
  done
fi
export CC CXX
# An ASan runtime without fork handlers (clang < 18, gcc 12's libasan) lets a child forked while
# another thread is inside the ASan allocator inherit its lock and hang: fork_busy_parent (50
# children of a busy parent) then fails for the runtime's sake, not ours. It runs when the
# runtime has them (Debian 12: apt-get install clang-19), and is skipped with a note otherwise.
ASAN_RT=$("$CC" -print-file-name=libclang_rt.asan-x86_64.a 2>/dev/null || true)
[ -f "$ASAN_RT" ] || ASAN_RT=$("$CC" -print-file-name=libclang_rt.asan.a 2>/dev/null || true)
[ -f "$ASAN_RT" ] || ASAN_RT=$("$CC" -print-file-name=libasan.so 2>/dev/null || true)
FORK_SAFE_RT=0
if [ -f "$ASAN_RT" ]; then
  syms=$( (nm --defined-only "$ASAN_RT"; nm -D --defined-only "$ASAN_RT") 2>/dev/null || true)
  [[ $syms == *InstallAtForkHandler* ]] && FORK_SAFE_RT=1
fi
# The runtime symbolizes reports with llvm-symbolizer (any version reads Rust's v0 names):
# clang-N's own if installed, else the default one.
for s in "$(dirname "$("$CC" -print-prog-name=clang 2>/dev/null)")/llvm-symbolizer" \
         /usr/lib/llvm-*/bin/llvm-symbolizer "$(command -v llvm-symbolizer || true)"; do
  if [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH=$s UBSAN_SYMBOLIZER_PATH=$s; break; fi
done
echo "== sanitizer build with $CC / $CXX (library: rustc -Zsanitizer=address)"

# a build tree configured with another compiler is reconfigured from scratch
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "^CMAKE_C_COMPILER:[A-Z]*=$(command -v "$CC")\$" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFERMETRICS_SANITIZE=address \
  -DINFERMETRICS_CARGO_TARGET_DIR="$ROOT/target/asan" -DINFERMETRICS_BUILD_EXAMPLES=ON \
  -DINFERMETRICS_INSTALL=OFF >/dev/null
cmake --build "$BUILD" -j2
BUILT=$(date +%s)

LOGS=$BUILD/sanitizer-logs
rm -rf "$LOGS" && mkdir -p "$LOGS"
SUPP=$ROOT/tests/lsan.supp
# detect_leaks: LeakSanitizer at every exit; abort_on_error=0: exit with a status, no core;
# log_path: one file per process that reports anything (ASan, LSan and UBSan share it), checked below.
ASAN_BASE="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$LOGS/report"
export ASAN_OPTIONS=$ASAN_BASE
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$LOGS/report"
export LSAN_OPTIONS="suppressions=$SUPP:print_suppressions=0"

rc=0
: >"$BUILD/ctest.log"
# run_ctest ARGS...: one ctest pass, appended to ctest.log; a failure sets rc=1
run_ctest() {
  local r=0
  ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 300 "$@" 2>&1 | tee -a "$BUILD/ctest.log" || r=$?
  [ "${PIPESTATUS[0]}" = 0 ] && [ $r = 0 ] || rc=1
}
# Not run under ASan at all:
#   server_valgrind_groups  runs its program under valgrind, which cannot host an ASan process
#   fake_nvml_selftest      tests the fake NVML alone (it never loads infermetrics); it calls
#                           the fake through function pointers typed int(*)() for functions
#                           returning an enum, which clang >= 17's -fsanitize=function reports,
#                           and its dlclose'd config cache reads as a leak
#   gpu_valgrind            runs its probe under valgrind (as server_valgrind_groups)
#   gpu_real_selftest       compiles its own probe with plain cc against the library, which
#                           here is the ASan build and needs the ASan runtime first
# and, only when the ASan runtime has no fork handlers (clang < 18, gcc 12):
#   fork_busy_parent        forks 50 children while 5 threads allocate: such an allocator does
#                           not lock its size-class regions across fork(), so a child can inherit
#                           one held and hang in malloc (seen with clang 14: children stuck in
#                           SizeClassAllocator64::GetFromAllocator). It passes in the normal build,
#                           under valgrind, and here with clang-19's runtime.
EXCLUDE=${SANITIZE_EXCLUDE:-'^(server_valgrind_groups|fake_nvml_selftest|gpu_valgrind|gpu_real_selftest)$'}
if [ "$FORK_SAFE_RT" != 1 ]; then
  echo "NOTE: $CC's ASan runtime ($ASAN_RT) has no fork handlers: fork_busy_parent is skipped (install clang-19 to run it)"
  EXCLUDE="$EXCLUDE|^fork_busy_parent\$"
fi
# server_start_stop checks that 45 start/stop rounds grow the RSS by < 8 MiB: ASan's quarantine
# (256 MiB of freed memory held back to catch use-after-free) defeats that check, so it runs on
# its own with the quarantine off (heap overflows, leaks and UBSan still apply).
# fork_dlclose unloads the library on purpose: what its statics own (the handle table's first
# chunk, the registry's maps: about 97 KB) is unreachable after dlclose, by design (families and
# handles live for the life of the library), so it runs with leak detection off; every other
# ASan and UBSan check applies.
run_ctest -R "$REGEX" -E "$EXCLUDE|^server_start_stop\$|^fork_dlclose\$"
if echo server_start_stop | grep -Eq -- "$REGEX"; then
  ASAN_OPTIONS="$ASAN_BASE:quarantine_size_mb=0" run_ctest -R '^server_start_stop$'
fi
if echo fork_dlclose | grep -Eq -- "$REGEX"; then
  ASAN_OPTIONS="$ASAN_BASE:detect_leaks=0" run_ctest -R '^fork_dlclose$'
fi

reports=$(find "$LOGS" -type f | sort)
if [ -n "$reports" ]; then
  echo
  echo "== sanitizer reports ($(echo "$reports" | wc -l) process(es))"
  for f in $reports; do echo "---- $f"; cat "$f"; done
  rc=1
fi
END=$(date +%s)
echo
echo "== sanitize: $(grep -E 'tests passed' "$BUILD/ctest.log" | paste -sd';' -); sanitizer reports: $(echo -n "$reports" | grep -c . || true); build $((BUILT - START)) s, tests $((END - BUILT)) s"
exit $rc

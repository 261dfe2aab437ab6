#!/usr/bin/env bash
# Packaging test: build infermetrics with CMake, install it into a temporary prefix, then build
# three consumer projects FROM SCRATCH against it and run them:
#   1. find_package(infermetrics 0.1 CONFIG REQUIRED): C++ app (shared) + C app (infermetrics::static)
#   2. add_subdirectory(infermetrics) of the source tree: the same two programs
#   3. pkg-config with plain gcc: C app shared, and static with `pkg-config --static`
# Each program records metrics, checks the snapshot text, serves on port 0 and GETs /metrics.
# Also checks the installed layout (soname, links, headers, package files), the pkg-config
# output, and that docs/cmake-cpp-python.md quotes the snippets compiled here.
#
# Usage: bash tests/consumers/run.sh
# Env:   INFERMETRICS_CARGO_TARGET_DIR  Cargo target dir to reuse (default: <repo>/target)
#        JOBS (default 2); KEEP_WORK=1 keeps the temporary directory.
# Needs: cmake >= 3.16, gcc, g++, pkg-config, cargo, binutils (readelf), python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/consumers"
CARGO_TARGET="${INFERMETRICS_CARGO_TARGET_DIR:-$ROOT/target}"
JOBS="${JOBS:-2}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-consumers.XXXXXX")"
PREFIX="$WORK/prefix"
if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir: $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi

CWARN="-Wall -Wextra -Wpedantic -Werror"
failures=0
step() { printf '\n=== %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
expect_eq() { # what expected got
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }
# run_app NAME BINARY [linkage: shared|static]
run_app() {
  local name="$1" bin="$2" linkage="$3" libs
  libs="$(needed "$bin")"
  case "$linkage" in
    shared) if [[ " $libs" == *" libinfermetrics.so.1 "* ]]; then pass "$name links libinfermetrics.so.1";
            else fail "$name: expected NEEDED libinfermetrics.so.1, got: $libs"; fi ;;
    static) if [[ "$libs" != *libinfermetrics* ]]; then pass "$name has libinfermetrics linked in statically";
            else fail "$name: expected no libinfermetrics in NEEDED, got: $libs"; fi ;;
  esac
  if (cd "$(dirname "$bin")" && timeout 60 "$bin"); then pass "$name runs (records, snapshot, GET /metrics)";
  else fail "$name exited with status $?"; fi
}
# copy_project DIR: a fresh consumer source dir with the project file and the shared sources
copy_project() {
  mkdir -p "$WORK/$1"
  cp "$HERE/app.cpp" "$HERE/app.c" "$HERE/common/http_get.h" "$WORK/$1/"
  cp "$HERE/$1/"* "$WORK/$1/"
}
consumer_cmake_flags=(-DCMAKE_BUILD_TYPE=Release
  -DCMAKE_C_STANDARD=11 -DCMAKE_C_EXTENSIONS=OFF -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_EXTENSIONS=OFF
  "-DCMAKE_C_FLAGS=$CWARN" "-DCMAKE_CXX_FLAGS=$CWARN")

step "snippets quoted in docs/cmake-cpp-python.md"
if python3 "$HERE/check_snippets.py"; then pass "docs quote the compiled snippets"; else fail "docs/cmake-cpp-python.md is out of date"; fi

step "build and install infermetrics into $PREFIX"
cmake -S "$ROOT" -B "$WORK/build" -DINFERMETRICS_CARGO_TARGET_DIR="$CARGO_TARGET" \
      -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_TESTING=OFF -DINFERMETRICS_BUILD_EXAMPLES=OFF >"$WORK/configure.log" \
  || { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" -j"$JOBS"
cmake --install "$WORK/build" --prefix "$PREFIX"

step "installed layout"
for f in lib/libinfermetrics.so.0.1.0 lib/libinfermetrics.a include/infermetrics.h include/infermetrics.hpp \
         lib/cmake/infermetrics/infermetricsConfig.cmake lib/cmake/infermetrics/infermetricsConfigVersion.cmake \
         lib/cmake/infermetrics/infermetricsTargets.cmake lib/pkgconfig/infermetrics.pc; do
  if [ -f "$PREFIX/$f" ]; then pass "installed $f"; else fail "missing $PREFIX/$f"; fi
done
if [ -f "$ROOT/include/tritonserver_compat.h" ]; then
  if [ -f "$PREFIX/include/tritonserver_compat.h" ]; then pass "installed include/tritonserver_compat.h";
  else fail "include/tritonserver_compat.h exists in the tree but was not installed"; fi
fi
# BUILD_TESTING=OFF: no test programs were built (examples are off too here)
built_tests="$(find "$WORK/build" -type f -perm -u+x \( -name 'test_*' -o -name 'c_test_*' \) | head -3)"
expect_eq "BUILD_TESTING=OFF builds no test programs" "" "$built_tests"
# stripped library, debug info split off into lib/.debug/ and found there by the debuglink
so="$PREFIX/lib/libinfermetrics.so.0.1.0"
so_size=$(stat -c %s "$so")
# stripped = no .symtab (the dynamic symbols stay in .dynsym); the size is printed for the record
if ! readelf -S "$so" | grep -q '\.symtab'; then pass "installed library is stripped ($so_size bytes)";
else fail "installed library has a .symtab ($so_size bytes): not stripped"; fi
a="$PREFIX/lib/libinfermetrics.a"
if [ -f "$a" ] && ! readelf -S "$a" 2>/dev/null | grep -q '\.debug_info'; then
  pass "installed static library has no debug info ($(stat -c %s "$a") bytes)"
else fail "installed static library carries debug info"; fi
if readelf -S -W "$so" | grep -q '\.debug_info'; then fail "installed library still has .debug_info";
else pass "installed library has no .debug_info"; fi
expect_eq "debuglink" "libinfermetrics.so.0.1.0.debug" \
  "$(readelf --string-dump=.gnu_debuglink "$so" 2>/dev/null | sed -n 's/^ *\[ *0\] *//p' | head -1)"
if [ -f "$PREFIX/lib/.debug/libinfermetrics.so.0.1.0.debug" ] && \
   readelf -S -W "$PREFIX/lib/.debug/libinfermetrics.so.0.1.0.debug" | grep -q '\.debug_info'; then
  pass "debug info installed as lib/.debug/libinfermetrics.so.0.1.0.debug"
else fail "lib/.debug/libinfermetrics.so.0.1.0.debug missing or without .debug_info"; fi
if command -v gdb >/dev/null; then
  if gdb -batch -ex "info line INFERMETRICS_MetricIncrement" "$so" 2>&1 | grep -q 'of "src/ffi/metric.rs"'; then
    pass "gdb finds source lines through the debuglink"
  else fail "gdb found no line information for INFERMETRICS_MetricIncrement"; fi
fi
expect_eq "soname" "libinfermetrics.so.1" \
  "$(readelf -d "$PREFIX/lib/libinfermetrics.so.0.1.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
expect_eq "link libinfermetrics.so.1" "libinfermetrics.so.0.1.0" "$(readlink "$PREFIX/lib/libinfermetrics.so.1" || true)"
expect_eq "link libinfermetrics.so" "libinfermetrics.so.1" "$(readlink "$PREFIX/lib/libinfermetrics.so" || true)"

step "pkg-config output"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
expect_eq "pkg-config --modversion" "0.1.0" "$(pkg-config --modversion infermetrics)"
expect_eq "pkg-config --cflags" "-I$PREFIX/include" "$(pkg-config --cflags infermetrics | xargs)"
expect_eq "pkg-config --libs" "-L$PREFIX/lib -linfermetrics" "$(pkg-config --libs infermetrics | xargs)"
static_libs="$(pkg-config --static --libs infermetrics | xargs)"
for l in -linfermetrics -lpthread -ldl -lgcc_s -lm; do
  if [[ " $static_libs " == *" $l "* ]]; then pass "pkg-config --static --libs names $l";
  else fail "pkg-config --static --libs: expected $l in '$static_libs'"; fi
done
echo "pkg-config --static --libs infermetrics: $static_libs"

step "consumer 1: find_package(infermetrics 0.1 CONFIG REQUIRED)"
copy_project find_package
cmake -S "$WORK/find_package" -B "$WORK/find_package/build" "${consumer_cmake_flags[@]}" \
      -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build "$WORK/find_package/build" -j"$JOBS"
run_app "find_package: app (C++, shared)" "$WORK/find_package/build/app" shared
run_app "find_package: app_c_static (C, static)" "$WORK/find_package/build/app_c_static" static
resolved="$(ldd "$WORK/find_package/build/app" | sed -n 's/.*libinfermetrics.so.1 => \([^ ]*\).*/\1/p')"
expect_eq "find_package: app loads the installed library" "$PREFIX/lib/libinfermetrics.so.1" "$resolved"
# SameMajorVersion: asking for 1.0 must not accept 0.1.0.
mkdir -p "$WORK/version"
printf 'cmake_minimum_required(VERSION 3.16)\nproject(v NONE)\nfind_package(infermetrics 1.0 CONFIG REQUIRED)\n' \
  >"$WORK/version/CMakeLists.txt"
if cmake -S "$WORK/version" -B "$WORK/version/build" -DCMAKE_PREFIX_PATH="$PREFIX" >"$WORK/version.log" 2>&1; then
  fail "find_package(infermetrics 1.0) accepted version 0.1.0"
elif grep -q "0.1.0" "$WORK/version.log"; then pass "find_package(infermetrics 1.0) rejects 0.1.0 (SameMajorVersion)";
else fail "find_package(infermetrics 1.0) failed for another reason: $(cat "$WORK/version.log")"; fi

step "consumer 2: add_subdirectory(infermetrics)"
copy_project add_subdirectory
ln -s "$ROOT" "$WORK/add_subdirectory/infermetrics"
cmake -S "$WORK/add_subdirectory" -B "$WORK/add_subdirectory/build" "${consumer_cmake_flags[@]}" \
      -DINFERMETRICS_CARGO_TARGET_DIR="$CARGO_TARGET" >/dev/null
cmake --build "$WORK/add_subdirectory/build" -j"$JOBS"
run_app "add_subdirectory: app (C++, shared)" "$WORK/add_subdirectory/build/app" shared
run_app "add_subdirectory: app_c_static (C, static)" "$WORK/add_subdirectory/build/app_c_static" static

step "consumer 3: pkg-config with plain gcc"
copy_project pkg-config
(cd "$WORK/pkg-config" && CFLAGS="-std=c11 $CWARN" sh ./build.sh)
LD_LIBRARY_PATH="$PREFIX/lib" run_app "pkg-config: app (C, shared)" "$WORK/pkg-config/app" shared
run_app "pkg-config: app_static (C, --static)" "$WORK/pkg-config/app_static" static

echo
if [ "$failures" -ne 0 ]; then echo "tests/consumers: $failures failure(s)"; exit 1; fi
echo "tests/consumers: all passed"

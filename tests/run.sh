#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what it needs, builds, then runs
#   1. cargo tests: core unit tests, header checks, fake-NVML smoke test, and the tests that call
#      the library through bindgen-generated bindings (API, concurrency, GPU collector)
#   2. CTest: C tests of the core API and the Triton compat header, server tests over real
#      sockets (promtool, a real Prometheus server), C++ wrapper tests, examples
#   3. Python: a ctypes-only test and the infermetrics Python module
#   4. consumer projects built against an installed prefix (find_package, add_subdirectory, pkg-config)
#   5. the Python wheel: sdist -> wheel -> fresh venv, examples and tests against it
#   6. proof of reliability (issue 7): the C/C++/server tests under AddressSanitizer + UBSan
#      (library built with -Zsanitizer=address), under valgrind memcheck, and a short run of
#      each fuzz target (libFuzzer) from its committed corpus
# Exits non-zero on the first failing stage; prints one summary line per stage, with its time.
# INFERMETRICS_QUICK=1 skips stages 5 and 6 (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing test dependencies (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    cmake make gcc g++ libc6-dev libclang-dev pkg-config binutils git curl \
    python3 python3-pytest python3-prometheus-client python3-yaml python3-venv python3-pip python3-setuptools python3-wheel \
    prometheus prometheus-cpp-dev valgrind clang clang-19 libclang-rt-19-dev >/dev/null
fi
PY=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pytest' 2>/dev/null; then PY=/usr/bin/python3; fi
$PY -c 'import pytest' 2>/dev/null || $PY -m pip install -q pytest

declare -a SUMMARY
T_STAGE=$(date +%s)
T_ALL=$T_STAGE
stage() {
  local now
  now=$(date +%s)
  echo "   (previous stage: $((now - T_STAGE)) s)"
  T_STAGE=$now
  echo
  echo "== $*"
}

stage "cargo build (release)"
cargo build --release --workspace

stage "cargo test"
cargo test --release --workspace 2>&1 | tee target/cargo-test.log
SUMMARY+=("cargo: $(grep -E '^test result' target/cargo-test.log | awk '{p+=$4; f+=$6} END {print p" passed, "f" failed"}')")

if git rev-parse --git-dir >/dev/null 2>&1; then
  stage "generated header is committed"
  git diff --exit-code -- include/infermetrics.h || { echo "include/infermetrics.h changed when built: commit it"; exit 1; }
fi

stage "CTest (C, C++, server, examples)"
cmake -S . -B build/tests -DCMAKE_BUILD_TYPE=Release -DINFERMETRICS_CARGO_TARGET_DIR="$ROOT/target" >/dev/null
cmake --build build/tests -j2
ctest --test-dir build/tests --output-on-failure -j2 --timeout 300 2>&1 | tee target/ctest.log
SUMMARY+=("ctest: $(grep -E 'tests passed' target/ctest.log | tail -1)")

stage "Python (ctypes and module)"
INFERMETRICS_LIBRARY="$ROOT/target/release/libinfermetrics.so" $PY -m pytest -q -p no:cacheprovider tests/python 2>&1 | tee target/pytest.log
SUMMARY+=("pytest: $(tail -1 target/pytest.log)")

if [ -f tests/consumers/run.sh ]; then
  stage "consumer projects against an installed prefix"
  bash tests/consumers/run.sh 2>&1 | tee target/consumers.log
  SUMMARY+=("consumers: $(tail -1 target/consumers.log)")
fi

if [ "${INFERMETRICS_QUICK:-0}" != 1 ]; then
  stage "Python wheel (sdist, wheel, fresh venv)"
  bash tests/python/wheel_test.sh 2>&1 | tee target/wheel.log
  SUMMARY+=("wheel: $(tail -1 target/wheel.log)")

  stage "AddressSanitizer + UBSan (library and tests instrumented)"
  bash tests/sanitize.sh 2>&1 | tee target/sanitize.log
  SUMMARY+=("sanitizers: $(tail -1 target/sanitize.log)")

  stage "valgrind memcheck"
  bash tests/valgrind.sh 2>&1 | tee target/valgrind.log
  SUMMARY+=("valgrind: $(tail -1 target/valgrind.log)")

  stage "fuzzing (short run per target)"
  if ! command -v cargo-fuzz >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
    cargo install --locked cargo-fuzz 2>&1 | tail -2
  fi
  bash tests/fuzz.sh "${INFERMETRICS_FUZZ_SECONDS:-45}" 2>&1 | tee target/fuzz.log
  SUMMARY+=("fuzz: $(tail -1 target/fuzz.log)")
fi

stage "done"
echo "== summary (whole run: $(( $(date +%s) - T_ALL )) s)"
printf '%s\n' "${SUMMARY[@]}"

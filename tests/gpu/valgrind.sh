#!/usr/bin/env bash
# tests/gpu/valgrind.sh GPU_PROBE FAKE_NVML: one server start, scrape and stop with the fake NVML
# loaded (every GPU family, the XID thread, MIG and GPM samples) under
#   valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite
# with tests/valgrind.supp. Exit 0 clean, 9 memcheck errors or a definite leak, 77 no valgrind.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PROBE=${1:?usage: valgrind.sh GPU_PROBE FAKE_NVML}
FAKE=${2:?usage: valgrind.sh GPU_PROBE FAKE_NVML}
command -v valgrind >/dev/null 2>&1 || { echo "SKIPPED: valgrind is not installed"; exit 77; }
LOG=$(mktemp "${TMPDIR:-/tmp}/infermetrics-gpu-valgrind.XXXXXX")
trap 'rm -f "$LOG"' EXIT
INFERMETRICS_NVML_LIBRARY=$FAKE FAKE_NVML_CONFIG=$HERE/fake_rich.conf \
  valgrind --tool=memcheck --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --num-callers=40 --suppressions="$HERE/../valgrind.supp" \
    "$PROBE" --interval 200 --wait-for nv_gpu_xid_errors_total --wait-for nv_mig_gr_engine_active \
    --wait-for nv_gpu_process_memory_used_bytes >/dev/null 2>"$LOG"
rc=$?
grep -E '^==[0-9]+== (ERROR SUMMARY|    definitely lost|Invalid|Conditional|Syscall)' "$LOG"
if [ $rc != 0 ]; then
  cat "$LOG" | tail -80
  echo "FAIL: valgrind exited $rc"
  exit $rc
fi
echo "PASS: clean under valgrind"

#!/bin/sh
# A stand-in for nvidia-smi, for tests/gpu/real_selftest.sh: `-L` lists the UUIDs of the rows
# in $FAKE_SMI_ROWS; `--query-gpu=... --format=csv,noheader,nounits` prints those rows (whose
# columns are the ones real.sh asks for, in its order).
case "${1:-}" in
  -L) awk -F', ' '{ printf "GPU %d: NVIDIA Fake GPU (UUID: %s)\n", NR - 1, $1 }' "$FAKE_SMI_ROWS" ;;
  --query-gpu=*) cat "$FAKE_SMI_ROWS" ;;
  *) echo "fake_smi.sh: unsupported arguments: $*" >&2; exit 2 ;;
esac

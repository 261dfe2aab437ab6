#!/bin/sh
# Builds the fake NVML into the directory given as $1 and prints the path of the library.
#   tests/fake_nvml/build.sh /tmp/fake-nvml               ->  /tmp/fake-nvml/libnvidia-ml.so.1
#   tests/fake_nvml/build.sh /tmp/fake-old --old-driver   ->  a driver before R535 / R460: no
#       nvmlDeviceGet{Current,Supported}ClocksEventReasons, nvmlDeviceGetRemappedRows,
#       nvmlDeviceGetGpuInstanceId
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ] || { [ $# -eq 2 ] && [ "$2" != --old-driver ]; }; then
  echo "usage: $0 OUTPUT_DIR [--old-driver]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
old=
[ $# -eq 2 ] && old=-DFAKE_NVML_OLD_DRIVER
mkdir -p "$1"
out=$(cd "$1" && pwd)/libnvidia-ml.so.1
${CC:-gcc} -std=c11 -Wall -Wextra -Wpedantic -Werror -shared -fPIC -O2 $old \
  -Wl,-soname,libnvidia-ml.so.1 -o "$out" "$here/fake_nvml.c" -lpthread
echo "$out"

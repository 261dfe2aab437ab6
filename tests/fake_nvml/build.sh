#!/bin/sh
# Builds the fake NVML into the directory given as $1 and prints the path of the library.
#   tests/fake_nvml/build.sh /tmp/fake-nvml   ->  /tmp/fake-nvml/libnvidia-ml.so.1
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 OUTPUT_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)/libnvidia-ml.so.1
${CC:-gcc} -std=c11 -Wall -Wextra -Wpedantic -Werror -shared -fPIC -O2 \
  -Wl,-soname,libnvidia-ml.so.1 -o "$out" "$here/fake_nvml.c" -lpthread
echo "$out"

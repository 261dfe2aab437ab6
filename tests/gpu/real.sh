#!/usr/bin/env bash
# tests/gpu/real.sh: on a machine with an NVIDIA driver, compares each of our GPU series with
# what nvidia-smi says about the same GPU at about the same moment, within stated tolerances,
# and prints a table. Needs no Rust there: the built library, gcc (it builds tests/gpu/gpu_probe.c
# against it), curl and python3.
#
#   tests/gpu/real.sh [LIBDIR]          LIBDIR holds libinfermetrics.so (default target/release)
#
# Exit 0: every comparison within tolerance; 1: a mismatch (the table says which); 77: skipped
# (no nvidia-smi, no driver, no GPU, or gcc/curl/python3 missing). NVIDIA_SMI=/path overrides the
# nvidia-smi program (tests/gpu/real_selftest.sh points it at a stub to test this script against
# the fake NVML); ROUNDS (default 5) is how many scrape + nvidia-smi pairs are taken, 1 s apart.
#
# Tolerances (a noisy reading passes if one round is within them; nvidia-smi prints MiB, MHz, %):
#   utilization, memory utilization   +-20 percentage points   (different sampling instants)
#   memory total                      +-1 MiB                   (nvidia-smi rounds to MiB)
#   memory used, free                 +-max(2 %, 64 MiB)
#   power draw                        +-max(15 %, 15 W)
#   power limit (enforced)            +-1 W
#   temperature                       +-3 degrees C
#   SM clock                          +-max(10 %, 100 MHz);  memory clock +-max(5 %, 50 MHz)
#   fan speed                         +-5 percentage points
#   ECC corrected / uncorrected (volatile totals)  exact
# Where nvidia-smi answers [N/A] / [Not Supported] (fan on an SXM board, ECC off, utilization on
# MIG), our series must be absent too.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIBDIR=${1:-$ROOT/target/release}
SMI=${NVIDIA_SMI:-nvidia-smi}
ROUNDS=${ROUNDS:-5}

skip() { echo "SKIPPED: $*"; exit 77; }
command -v "$SMI" >/dev/null 2>&1 || skip "no nvidia-smi (no NVIDIA driver on this machine)"
"$SMI" -L >/dev/null 2>&1 || skip "nvidia-smi -L failed: no driver loaded or no GPU"
[ -n "$("$SMI" -L 2>/dev/null)" ] || skip "nvidia-smi lists no GPU"
for tool in gcc curl python3; do
  command -v $tool >/dev/null 2>&1 || skip "$tool is not installed"
done
[ -f "$LIBDIR/libinfermetrics.so" ] || { echo "FAIL: no $LIBDIR/libinfermetrics.so (build it: cargo build --release --lib)"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/infermetrics-real.XXXXXX")
PROBE_PID=
cleanup() {
  [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null
  exec 3>&- 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

# the library's soname is libinfermetrics.so.1: a copied libinfermetrics.so alone needs the link
mkdir -p "$TMP/lib"
ln -s "$(cd "$LIBDIR" && pwd)/libinfermetrics.so" "$TMP/lib/libinfermetrics.so.1"
gcc -std=c11 -O2 -I"$ROOT/include" "$HERE/gpu_probe.c" -L"$LIBDIR" -linfermetrics \
  -Wl,-rpath,"$TMP/lib" -o "$TMP/gpu_probe" || { echo "FAIL: could not build gpu_probe"; exit 1; }

# the probe serves until its stdin closes: keep a pipe open on fd 3
mkfifo "$TMP/in"
INFERMETRICS_COLLECTORS=none,gpu INFERMETRICS_GPU_VENDORS=none,nvidia "$TMP/gpu_probe" --interval 500 --serve <"$TMP/in" >"$TMP/probe.out" 2>"$TMP/probe.err" &
PROBE_PID=$!
exec 3>"$TMP/in"
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's/^PORT //p' "$TMP/probe.out")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/probe.err"; echo "FAIL: gpu_probe did not start"; exit 1; }
sleep 2 # the first values, and a settled utilization

FIELDS=uuid,utilization.gpu,utilization.memory,memory.total,memory.used,memory.free,power.draw,enforced.power.limit,temperature.gpu,clocks.sm,clocks.mem,fan.speed,ecc.errors.corrected.volatile.total,ecc.errors.uncorrected.volatile.total
for r in $(seq "$ROUNDS"); do
  curl -sf --max-time 10 "http://127.0.0.1:$PORT/metrics" >"$TMP/scrape.$r" || { echo "FAIL: scrape $r failed"; exit 1; }
  "$SMI" --query-gpu="$FIELDS" --format=csv,noheader,nounits >"$TMP/smi.$r" 2>"$TMP/smi.err.$r" \
    || { cat "$TMP/smi.err.$r"; echo "FAIL: nvidia-smi --query-gpu failed"; exit 1; }
  [ "$r" = "$ROUNDS" ] || sleep 1
done
exec 3>&-
wait "$PROBE_PID" 2>/dev/null
PROBE_PID=

python3 - "$TMP" "$ROUNDS" <<'EOF'
import re, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
MIB = 1024 * 1024

def parse_scrape(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line.strip())
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out

def ours(s, family, uuid, **want):
    for labels, v in s.get(family, []):
        if labels.get("gpu_uuid") == uuid and all(labels.get(k) == w for k, w in want.items()):
            return v
    return None

def num(x):
    x = x.strip()
    try:
        return float(x)
    except ValueError:
        return None  # [N/A], [Not Supported], ...

# (name, our family + labels, nvidia-smi column, our value -> smi unit, tolerance(smi value), unit)
rel = lambda frac, floor: (lambda v: max(abs(v) * frac, floor))
CHECKS = [
    ("utilization", ("nv_gpu_utilization", {}), 1, lambda v: v * 100, lambda v: 20, "%"),
    ("memory utilization", ("nv_gpu_memory_utilization", {}), 2, lambda v: v * 100, lambda v: 20, "%"),
    ("memory total", ("nv_gpu_memory_total_bytes", {}), 3, lambda v: v / MIB, lambda v: 1, "MiB"),
    ("memory used", ("nv_gpu_memory_used_bytes", {}), 4, lambda v: v / MIB, rel(0.02, 64), "MiB"),
    ("memory free", ("nv_gpu_memory_free_bytes", {}), 5, lambda v: v / MIB, rel(0.02, 64), "MiB"),
    ("power draw", ("nv_gpu_power_usage", {}), 6, lambda v: v, rel(0.15, 15), "W"),
    ("power limit", ("nv_gpu_power_limit", {}), 7, lambda v: v, lambda v: 1, "W"),
    ("temperature", ("nv_gpu_temperature", {}), 8, lambda v: v, lambda v: 3, "C"),
    ("SM clock", ("nv_gpu_sm_clock_hertz", {}), 9, lambda v: v / 1e6, rel(0.10, 100), "MHz"),
    ("memory clock", ("nv_gpu_memory_clock_hertz", {}), 10, lambda v: v / 1e6, rel(0.05, 50), "MHz"),
    ("fan speed", ("nv_gpu_fan_speed_ratio", {"fan": "0"}), 11, lambda v: v * 100, lambda v: 5, "%"),
    ("ECC corrected", ("nv_gpu_ecc_errors_total", {"type": "corrected"}), 12, lambda v: v, lambda v: 0, ""),
    ("ECC uncorrected", ("nv_gpu_ecc_errors_total", {"type": "uncorrected"}), 13, lambda v: v, lambda v: 0, ""),
]

scrapes = [parse_scrape(f"{tmp}/scrape.{r}") for r in range(1, rounds + 1)]
smis = []
for r in range(1, rounds + 1):
    rows = {}
    for line in open(f"{tmp}/smi.{r}"):
        cols = [c.strip() for c in line.split(",")]
        if len(cols) >= 14:
            rows[cols[0]] = cols
    smis.append(rows)

uuids = sorted(smis[0])
fails = 0
def index_of(uuid):
    for labels, _ in scrapes[0].get("nv_gpu_info", []):
        if labels.get("gpu_uuid") == uuid:
            return labels.get("gpu_index", "?")
    return "?"

print(f"{'GPU':<24} {'series':<20} {'ours':>14} {'nvidia-smi':>14} {'tolerance':>12}  result")
for uuid in uuids:
    short = f"{index_of(uuid)} {uuid if len(uuid) <= 20 else uuid[:18] + '..'}"
    served = ours(scrapes[0], "nv_gpu_info", uuid)
    if served is None:
        print(f"{short:<24} {'nv_gpu_info':<20} {'absent':>14} {'present':>14} {'':>12}  FAIL")
        fails += 1
        continue
    for name, (family, want), col, conv, tol, unit in CHECKS:
        best = None  # (diff, ours, theirs, tolerance, presence_ok)
        for s, rows in zip(scrapes, smis):
            if uuid not in rows:
                continue
            theirs = num(rows[uuid][col])
            mine = ours(s, family, uuid, **want)
            if theirs is None or mine is None:
                cand = (0 if (theirs is None) == (mine is None) else float("inf"), mine, theirs, 0)
            else:
                m = conv(mine)
                cand = (abs(m - theirs) - tol(theirs), m, theirs, tol(theirs))
            if best is None or cand[0] < best[0]:
                best = cand
        if best is None:
            continue
        ok = best[0] <= 1e-9
        fails += 0 if ok else 1
        fmt = lambda v: "absent" if v is None else f"{v:.6g} {unit}".strip()
        both = best[1] is not None and best[2] is not None
        tol_text = ("+-" + format(best[3], ".4g")) if both else ("both absent" if ok else "")
        print(f"{short:<24} {name:<20} {fmt(best[1]):>14} {fmt(best[2]):>14} {tol_text:>12}  "
              f"{'ok' if ok else 'FAIL'}")
print()
print(f"{len(uuids)} GPU(s), {rounds} round(s): " + ("all within tolerance" if not fails else f"{fails} MISMATCH(ES)"))
sys.exit(1 if fails else 0)
EOF

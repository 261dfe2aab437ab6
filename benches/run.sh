#!/usr/bin/env bash
# Builds and runs the infermetrics benchmarks, then prints one comparison table.
# Reported figures only: nothing here fails on a slow result (a build or run error does fail).
#
#   benches/run.sh                  # full run (~1-2 minutes on 2 cores after the cargo build)
#   BENCH_N=2000000 benches/run.sh  # quicker, noisier
#
# Needs: cargo, gcc, g++; prometheus-cpp-dev (Debian) for the comparison (skipped if absent).
# Knobs: BENCH_N (calls per measurement, 20000000), BENCH_REPS (5), BENCH_HTTP_SECONDS (3),
#        BENCH_COLLECT_S (10), BENCH_CHURN_SERIES (1000000), BENCH_CHURN_OPS (20000),
#        BENCH_OUT (output folder, /tmp/infermetrics-bench).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIBDIR="$TARGET_DIR/release"
OUT="${BENCH_OUT:-/tmp/infermetrics-bench}"
mkdir -p "$OUT"
unset INFERMETRICS_INTERVAL_MS INFERMETRICS_PORT INFERMETRICS_ADDRESS || true

echo "== cargo build --release --lib -p infermetrics"
(cd "$ROOT" && cargo build --release --lib -p infermetrics)

CFLAGS=(-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -I"$ROOT/include" -I"$ROOT/benches")
# The .so carries the soname libinfermetrics.so.1; cargo leaves no file of that name, so the
# benches load it through a symlink in $OUT/lib.
mkdir -p "$OUT/lib"
ln -sf "$LIBDIR/libinfermetrics.so" "$OUT/lib/libinfermetrics.so.1"
LDFLAGS=(-L"$LIBDIR" -Wl,-rpath,"$OUT/lib" -linfermetrics -lpthread)

echo "== building benches into $OUT"
gcc "${CFLAGS[@]}" "$ROOT/benches/bench_record.c" -o "$OUT/bench_record" "${LDFLAGS[@]}"
gcc "${CFLAGS[@]}" "$ROOT/benches/bench_churn.c" -o "$OUT/bench_churn" "${LDFLAGS[@]}"
gcc "${CFLAGS[@]}" "$ROOT/benches/bench_series.c" -o "$OUT/bench_series" "${LDFLAGS[@]}" -lm
gcc "${CFLAGS[@]}" "$ROOT/benches/bench_scale.c" -o "$OUT/bench_scale" "${LDFLAGS[@]}" -lm

HAVE_SERVER=0
SYMS="$(nm -D --defined-only "$LIBDIR/libinfermetrics.so")"
if grep -q ' INFERMETRICS_ServerNew$' <<<"$SYMS"; then
  HAVE_SERVER=1
  gcc "${CFLAGS[@]}" "$ROOT/benches/bench_http.c" -o "$OUT/bench_http" "${LDFLAGS[@]}"
  gcc "${CFLAGS[@]}" "$ROOT/benches/bench_collect.c" -o "$OUT/bench_collect" "${LDFLAGS[@]}"
else
  echo "   (libinfermetrics.so has no INFERMETRICS_ServerNew yet: bench_http skipped)"
fi

HAVE_SCRAPE=0
if [ "$HAVE_SERVER" = 1 ] && grep -q ' INFERMETRICS_ServerOptionsSetWebConfig$' <<<"$SYMS" && [ -f /usr/include/openssl/ssl.h ]; then
  HAVE_SCRAPE=1
  gcc "${CFLAGS[@]}" "$ROOT/benches/bench_scrape.c" -o "$OUT/bench_scrape" "${LDFLAGS[@]}" -lssl -lcrypto
  # a self-signed certificate for 127.0.0.1 and the web-config.yml that serves TLS with it
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$OUT/tls.key" -out "$OUT/tls.crt" 2>/dev/null
  printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' "$OUT/tls.crt" "$OUT/tls.key" >"$OUT/web-config.yml"
fi

HAVE_GPU=0
if [ "$HAVE_SERVER" = 1 ] && grep -q ' INFERMETRICS_ServerOptionsSetGpuVendor$' <<<"$SYMS"; then
  HAVE_GPU=1
  FAKE_NVML="$(bash "$ROOT/tests/fake_nvml/build.sh" "$OUT/fake_nvml")"
  gcc "${CFLAGS[@]}" "$ROOT/benches/bench_gpu.c" -o "$OUT/bench_gpu" "${LDFLAGS[@]}" -ldl
fi

HAVE_PROMCPP=0
if [ -f /usr/include/prometheus/text_serializer.h ] && [ -f /usr/include/prometheus/exposer.h ]; then
  HAVE_PROMCPP=1
  g++ -std=c++17 -O2 -Wall -Wextra -Wpedantic -Werror -I"$ROOT/benches" "$ROOT/benches/bench_promcpp.cpp" \
    -o "$OUT/bench_promcpp" -lprometheus-cpp-pull -lprometheus-cpp-core -lpthread
else
  echo "   (prometheus-cpp not installed: apt-get install prometheus-cpp-dev; comparison skipped)"
fi

: >"$OUT/results.txt"
run() { # run NAME CMD...
  echo
  echo "== $1"
  shift
  "$@" | tee -a "$OUT/results.txt" | grep -v '^RESULT'
}
run "bench_record (infermetrics)" "$OUT/bench_record"
[ "$HAVE_PROMCPP" = 1 ] && run "bench_promcpp record" "$OUT/bench_promcpp" record
[ "$HAVE_SERVER" = 1 ] && run "bench_http (infermetrics server)" "$OUT/bench_http"
# collector CPU per interval with every group on (BENCH_COLLECT_S per configuration)
[ "$HAVE_SERVER" = 1 ] && run "bench_collect (collector CPU, every group on)" "$OUT/bench_collect"
# BENCH_CHURN_SERIES (1000000) series in one family; MetricNew/Delete latency with a render loop
run "bench_churn (MetricNew/MetricDelete while a huge family renders)" "$OUT/bench_churn"
# memory and create/delete cost per series, and 1..BENCH_THREADS threads on one counter
run "bench_series (infermetrics: cost of one series, contended counter)" "$OUT/bench_series"
[ "$HAVE_PROMCPP" = 1 ] && run "bench_promcpp series (prometheus-cpp: cost of one series)" "$OUT/bench_promcpp" series
# 1k..1M series (BENCH_SCALE_SIZES): memory, render and HTTP scrape time
[ "$HAVE_SERVER" = 1 ] && run "bench_scale (1k to 1M series)" "$OUT/bench_scale"
[ "$HAVE_PROMCPP" = 1 ] && run "bench_promcpp http (prometheus-cpp Exposer)" "$OUT/bench_promcpp" http
# 10k series: 0.0.4 / gzip / OpenMetrics / TLS scrapes, and prometheus-cpp's identity / gzip
[ "$HAVE_SCRAPE" = 1 ] && run "bench_scrape (10k-series scrape: plain, gzip, OpenMetrics, TLS)" "$OUT/bench_scrape" "$OUT/web-config.yml"
[ "$HAVE_PROMCPP" = 1 ] && run "bench_promcpp scrape (prometheus-cpp Exposer, 10k series)" "$OUT/bench_promcpp" scrape
# 8 fake GPUs, every group on: NVML calls and collector CPU per interval; no NVML call per scrape
[ "$HAVE_GPU" = 1 ] && run "bench_gpu (GPU collector, 8 fake GPUs)" "$OUT/bench_gpu" "$FAKE_NVML"

# Optional cross-check of the HTTP throughput with an independent load generator (apt: wrk).
wrk_check() { # wrk_check IMPL CMD...  (CMD serves 100 series and prints "PORT n")
  local impl="$1" port="" pid
  shift
  "$@" >"$OUT/serve.$impl.out" 2>/dev/null &
  pid=$!
  for _ in $(seq 50); do
    port="$(awk '/^PORT/{print $2}' "$OUT/serve.$impl.out")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -n "$port" ]; then
    for c in 1 2; do
      rps="$(wrk -t"$c" -c"$c" -d"${BENCH_HTTP_SECONDS:-3}"s "http://127.0.0.1:$port/metrics" | awk '/Requests\/sec/{print $2}')"
      printf "%-44s %10.0f\n" "$impl, wrk -t$c -c$c, 100 series (50 hist)" "$rps"
      printf "RESULT\t%s\twrk_100_%dc\t%s\n" "$impl" "$c" "$rps" >>"$OUT/results.txt"
    done
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
if command -v wrk >/dev/null && [ "$HAVE_SERVER" = 1 ]; then
  echo
  echo "== wrk cross-check (scrapes/s, keep-alive)"
  wrk_check infermetrics "$OUT/bench_http" serve 30
  [ "$HAVE_PROMCPP" = 1 ] && wrk_check promcpp "$OUT/bench_promcpp" serve 30
fi

echo
echo "== summary (ns/op; 'x raw' = ratio to the raw atomic CAS add timed in the same process)"
awk -F'\t' '
  $1 == "RESULT" { v[$2 "," $3] = $4 }
  function cell(impl, key, base,   x) {
    if (!((impl "," key) in v)) return sprintf("%10s %7s", "-", "-")
    x = v[impl "," key]
    if (base == "" && (x >= 1000 || x == int(x))) return sprintf("%10.0f %7s", x, "")
    if (base == "") return sprintf("%10.2f %7s", x, "")
    return sprintf("%10.2f %6.2fx", x, x / v[impl "," base])
  }
  function verdict(ok) { return ok ? "met" : "MISSED" }
  END {
    printf "%-38s %18s %18s  %s\n", "operation", "infermetrics", "prometheus-cpp", "target (infermetrics)"
    printf "%-38s %s %s\n", "raw atomic CAS add, 1 thread", cell("infermetrics", "raw", ""), cell("promcpp", "raw", "")
    printf "%-38s %s %s  <= 1.5x: %s\n", "counter increment", cell("infermetrics", "counter", "raw"), cell("promcpp", "counter", "raw"), verdict(v["infermetrics,counter"] <= 1.5 * v["infermetrics,raw"])
    printf "%-38s %s %s  <= 1.5x: %s\n", "gauge set", cell("infermetrics", "gauge", "raw"), cell("promcpp", "gauge", "raw"), verdict(v["infermetrics,gauge"] <= 1.5 * v["infermetrics,raw"])
    printf "%-38s %s %s  <= 3x: %s\n", "histogram observe (10 buckets)", cell("infermetrics", "histogram", "raw"), cell("promcpp", "histogram", "raw"), verdict(v["infermetrics,histogram"] <= 3 * v["infermetrics,raw"])
    printf "%-38s %s %s  <= 3x: %s\n", "summary observe (5 quantiles)", cell("infermetrics", "summary", "raw"), cell("promcpp", "summary", "raw"), verdict(v["infermetrics,summary"] <= 3 * v["infermetrics,raw"])
    printf "%-38s %s %s\n", "  summary, sustained tight loop", cell("infermetrics", "summary_tight", "raw"), cell("promcpp", "-", "")
    printf "%-38s %s %s\n", "counter increment with exemplar", cell("infermetrics", "counter_exemplar", "raw"), cell("promcpp", "-", "")
    printf "%-38s %s %s\n", "histogram observe with exemplar", cell("infermetrics", "histogram_exemplar", "raw"), cell("promcpp", "-", "")
    printf "%-38s %s %s\n", "ReportRequest, default config", cell("infermetrics", "report_request", "raw"), cell("promcpp", "-", "")
    printf "%-38s %s %s\n", "ReportRequest, +summaries+histograms", cell("infermetrics", "report_request_all", "raw"), cell("promcpp", "-", "")
    printf "%-38s %s %s\n", "  same, sustained tight loop", cell("infermetrics", "report_request_all_tight", "raw"), cell("promcpp", "-", "")
    printf "%-38s %s %s\n", "raw atomic CAS add, 2 threads", cell("infermetrics", "raw2", ""), cell("promcpp", "raw2", "")
    printf "%-38s %s %s\n", "counter increment, 2 threads", cell("infermetrics", "counter2", "raw2"), cell("promcpp", "counter2", "raw2")
    printf "%-38s %s %s\n", "  (2-thread overlap, raw; 2.00 = ideal)", cell("infermetrics", "overlap_raw2", ""), cell("promcpp", "overlap_raw2", "")
    printf "%-38s %s %s\n", "  (2-thread overlap, counter)", cell("infermetrics", "overlap_counter2", ""), cell("promcpp", "overlap_counter2", "")
    printf "\n%-38s %18s %18s\n", "render / serialize (median ms)", "infermetrics", "prometheus-cpp"
    printf "%-38s %s %s\n", "1k series", cell("infermetrics", "render_1k_ms", ""), cell("promcpp", "render_1k_ms", "")
    printf "%-38s %s %s  < 20 ms: %s\n", "10k series", cell("infermetrics", "render_10k_ms", ""), cell("promcpp", "render_10k_ms", ""), verdict(v["infermetrics,render_10k_ms"] < 20)
    if ("infermetrics,http_lat_100_med_ms" in v) {
      printf "\n%-38s %18s %18s\n", "HTTP /metrics", "infermetrics", "prometheus-cpp"
      printf "%-38s %s %s\n", "latency 100 series (50 hist), med ms", cell("infermetrics", "http_lat_100_med_ms", ""), cell("promcpp", "http_lat_100_med_ms", "")
      printf "%-38s %s %s\n", "latency 100 series (50 hist), p99 ms", cell("infermetrics", "http_lat_100_p99_ms", ""), cell("promcpp", "http_lat_100_p99_ms", "")
      printf "%-38s %s %s\n", "latency 1k series, median ms", cell("infermetrics", "http_lat_1k_med_ms", ""), cell("promcpp", "-", "")
      printf "%-38s %s %s  < 20 ms: %s\n", "latency 10k series, median ms", cell("infermetrics", "http_lat_10k_med_ms", ""), cell("promcpp", "-", ""), verdict(v["infermetrics,http_lat_10k_med_ms"] < 20)
      printf "%-38s %s %s\n", "latency 10k series, p99 ms", cell("infermetrics", "http_lat_10k_p99_ms", ""), cell("promcpp", "-", "")
      printf "%-38s %s %s  >= 20000/s: %s\n", "scrapes/s 100 series (50 hist), 1c", cell("infermetrics", "http_rps_100_1c", ""), cell("promcpp", "http_rps_100_1c", ""), verdict(v["infermetrics,http_rps_100_1c"] >= 20000)
      printf "%-38s %s %s  >= 20000/s: %s\n", "scrapes/s 100 series (50 hist), 2c", cell("infermetrics", "http_rps_100_2c", ""), cell("promcpp", "http_rps_100_2c", ""), verdict(v["infermetrics,http_rps_100_2c"] >= 20000)
      printf "%-38s %s %s  >= 20000/s: %s\n", "scrapes/s 100 counters, 1 conn", cell("infermetrics", "http_rps_100c_1c", ""), cell("promcpp", "http_rps_100c_1c", ""), verdict(v["infermetrics,http_rps_100c_1c"] >= 20000)
      printf "%-38s %s %s  >= 20000/s: %s\n", "scrapes/s 100 counters, 2 conns", cell("infermetrics", "http_rps_100c_2c", ""), cell("promcpp", "http_rps_100c_2c", ""), verdict(v["infermetrics,http_rps_100c_2c"] >= 20000)
      if ("infermetrics,wrk_100_1c" in v) {
        printf "%-38s %s %s\n", "wrk scrapes/s 100 series, 1 conn", cell("infermetrics", "wrk_100_1c", ""), cell("promcpp", "wrk_100_1c", "")
        printf "%-38s %s %s\n", "wrk scrapes/s 100 series, 2 conns", cell("infermetrics", "wrk_100_2c", ""), cell("promcpp", "wrk_100_2c", "")
      }
      printf "%-38s %s %s\n", "reconnects during 1-conn run", cell("infermetrics", "http_reconnects_100_1c", ""), cell("promcpp", "http_reconnects_100_1c", "")
      printf "%-38s %s\n", "increment wall ns/op, no scrapes", cell("infermetrics", "incr_idle_ns", "")
      printf "%-38s %s\n", "increment wall ns/op, scrape loop", cell("infermetrics", "incr_scraping_ns", "incr_idle_ns")
      printf "%-38s %s\n", "  (thread CPU ns/op, no scrapes)", cell("infermetrics", "incr_idle_cpu_ns", "")
      printf "%-38s %s\n", "  (thread CPU ns/op, scrape loop)", cell("infermetrics", "incr_scraping_cpu_ns", "incr_idle_cpu_ns")
      printf "%-38s %s\n", "server CPU, % of a core (idle, 2 s)", cell("infermetrics", "collector_cpu_pct", "")
      printf "%-38s %s\n", "  collector threads only, % of a core", cell("infermetrics", "collectors_only_cpu_pct", "")
      printf "%-38s %s\n", "  collector threads, ms per interval", cell("infermetrics", "collectors_only_ms_per_interval", "")
      if ("infermetrics,collect_all_cpu_pct" in v) {
        printf "%-38s %s  < 0.1%%: %s\n", "every group on, % of a core (2 s)", cell("infermetrics", "collect_all_cpu_pct", ""), verdict(v["infermetrics,collect_all_cpu_pct"] < 0.1)
        printf "%-38s %s\n", "  every group on, ms per interval", cell("infermetrics", "collect_all_ms_per_interval", "")
        printf "%-38s %s\n", "  Triton groups only, ms per interval", cell("infermetrics", "collect_triton_ms_per_interval", "")
      }
    }
    if ("infermetrics,scrape_text_med_ms" in v) {
      printf "\n%-38s %18s %18s\n", "10k-series scrape (median ms / bytes)", "infermetrics", "prometheus-cpp"
      n = split("text text_gzip om om_gzip tls_text tls_text_gzip", keys, " ")
      split("0.0.4 identity|0.0.4 gzip|OpenMetrics identity|OpenMetrics gzip|TLS 0.0.4 identity|TLS 0.0.4 gzip", names, "|")
      for (i = 1; i <= n; i++) {
        printf "%-38s %s %s\n", names[i] ", ms", cell("infermetrics", "scrape_" keys[i] "_med_ms", ""), cell("promcpp", "scrape_" keys[i] "_med_ms", "")
        printf "%-38s %s %s\n", names[i] ", bytes", cell("infermetrics", "scrape_" keys[i] "_bytes", ""), cell("promcpp", "scrape_" keys[i] "_bytes", "")
      }
    }
    if ("infermetrics,gpu_calls_per_interval" in v) {
      printf "\n%-38s %18s\n", "GPU collector, 8 fake GPUs, all groups", "infermetrics"
      printf "%-38s %s\n", "NVML calls per interval", cell("infermetrics", "gpu_calls_per_interval", "")
      printf "%-38s %s\n", "CPU ms per interval (fast + energy)", cell("infermetrics", "gpu_cpu_ms_per_interval", "")
      printf "%-38s %s\n", "XID thread CPU ms per second", cell("infermetrics", "gpu_xid_cpu_ms_per_s", "")
      printf "%-38s %s  < 0.1 %%: %s\n", "% of a core at the 2 s interval", cell("infermetrics", "gpu_cpu_pct_at_2s", ""), verdict(v["infermetrics,gpu_cpu_pct_at_2s"] < 0.1)
      printf "%-38s %s  == 0: %s\n", "NVML calls per 1000 scrapes", cell("infermetrics", "gpu_nvml_calls_per_1000_scrapes", ""), verdict(v["infermetrics,gpu_nvml_calls_per_1000_scrapes"] == 0)
    }
  }' "$OUT/results.txt"

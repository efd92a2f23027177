#!/usr/bin/env bash
# Runs the Google Benchmarks of the pricing core with repetitions and prints medians
# (the machine is shared and noisy: single runs mislead). Extra arguments go to the
# benchmark binary, for example --benchmark_filter=ZoneLookup.
# Writes the full JSON to <build>/bench/core_bench.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; echo "usage: scripts/bench-core.sh [--build-dir DIR] [benchmark flags]"; exit 0 ;;
  --build-dir) build=$2; shift 2 ;;
esac
if [ ! -x "$build/bin/core_bench" ]; then
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target core_bench)
fi
mkdir -p "$build/bench"
"$build/bin/core_bench" --benchmark_repetitions="${REPETITIONS:-7}" \
  --benchmark_report_aggregates_only=true --benchmark_min_time="${MIN_TIME:-0.5}" \
  --benchmark_out="$build/bench/core_bench.json" --benchmark_out_format=json "$@" |
  grep -E '^(Benchmark|-+$|BM_.*_median)'
echo "full results: $build/bench/core_bench.json"

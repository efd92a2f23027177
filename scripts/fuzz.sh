#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) and runs each for a
# bounded time from the committed seeds. A crash stops the run and leaves its input as
# build-fuzz/crashes/<target>-crash-*; add it to fuzz/regressions/<target>/ so that
# the unit tests replay it from then on.
#   scripts/fuzz.sh [--seconds N]   (per target; default 60, CI runs 20)
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=60
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz
mkdir -p build-fuzz/crashes
for target in event_decoder config_loader; do
  # A working corpus of its own, so the committed seeds stay small.
  corpus=build-fuzz/corpus/$target
  mkdir -p "$corpus"
  cp -n fuzz/corpus/$target/* "$corpus"/ 2>/dev/null || true
  if [ -d fuzz/regressions/$target ]; then cp -n fuzz/regressions/$target/* "$corpus"/ 2>/dev/null || true; fi
  echo "fuzz: $target for ${seconds}s"
  build-fuzz/fuzz_$target -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/crashes/$target- "$corpus" 2>build-fuzz/$target.log ||
    { tail -40 build-fuzz/$target.log; echo "fuzz: $target FAILED; input in build-fuzz/crashes/" >&2; exit 1; }
  grep -E "^stat::(number_of_executed_units|new_units_added)" build-fuzz/$target.log | tr '\n' ' '
  echo
done
echo "fuzz: no crash"

#!/usr/bin/env bash
# Configures, builds and runs the test suite. Usage:
#   scripts/test.sh                  # release build (build/)
#   scripts/test.sh --preset debug   # AddressSanitizer + UBSan build (build-debug/)
# Further arguments go to ctest, for example -R ZoneIndex or -L unit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
preset=release
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
if [ "${1:-}" = "--preset" ]; then
  preset=$2
  shift 2
fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" "$@"

#!/usr/bin/env bash
# What-if backtest on the April 2014 evening (16:00-23:00 New York time): today's
# replay configuration (config/nyc-replay.yaml) against a copy of it with another cap
# (2.0 unless --cap), over the same events. Writes <build>/demo/backtest/summary.md,
# report.html and diff.csv, and prints the city-wide figures.
# Builds the release preset first if the binary is missing, and makes the events as
# scripts/demo-replay.sh does (the same file, build/demo/events.jsonl).
#
#   scripts/demo-backtest.sh [--build-dir DIR] [--cap 2.0] [--drivers N]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
# shellcheck source=lib/demo.sh
. "$(dirname "$0")/lib/demo.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
cap=2.0
drivers=300
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --cap) cap=$2; shift 2 ;;
    --drivers) drivers=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done

demo_pricing "$root" "$build"
demo_events 2014-04-01T16:00 2014-04-01T23:00 "$drivers"
demo="$build/demo"
# B: the same configuration with another cap. Its zones path is made absolute, since
# a relative one is taken from the configuration file's own folder.
b="$demo/nyc-replay-cap-$cap.yaml"
sed -e "s|^    zones: .*|    zones: $root/data/nyc/taxi_zones.geojson|" \
    -e "s|^  name: ratio-v1|  name: ratio-v1\n  cap: $cap|" "$root/config/nyc-replay.yaml" >"$b"
"$pricing" backtest --config "$root/config/nyc-replay.yaml" --against "$b" --events "$events" \
  --out "$demo/backtest"

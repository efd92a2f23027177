#!/usr/bin/env bash
# Replays an evening of real NYC Uber pickups (1 April 2014, 16:00-23:00 New York time)
# with a reproducible synthetic driver fleet through the pricing core, writes every
# output message to <build>/demo/outputs.jsonl and prints the most-surging zones.
# Builds the release preset first if the binary is missing.
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
# shellcheck source=lib/demo.sh
. "$(dirname "$0")/lib/demo.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
from="2014-04-01T16:00"
to="2014-04-01T23:00"
drivers=300
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    --to) to=$2; shift 2 ;;
    --drivers) drivers=$2; shift 2 ;;
    -h|--help)
      echo "usage: $0 [--build-dir DIR] [--from YYYY-MM-DDTHH:MM] [--to ...] [--drivers N]"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done

demo_pricing "$root" "$build"
demo_events "$from" "$to" "$drivers"
outputs="$build/demo/outputs.jsonl"
"$pricing" replay --config "$root/config/nyc-replay.yaml" --events "$events" --out "$outputs" --top 10
echo "outputs: $outputs ($(wc -l <"$outputs") messages)"

#!/usr/bin/env bash
# Instructions per event on the processor's ingest path (bench/hot_path_profile.cc),
# counted by callgrind: repeatable on a shared, noisy machine where timings are not.
# Runs the profile for N and 2N events and prints (Ir(2N) - Ir(N)) / N, so set-up
# costs cancel. The events are the first 2N of a JSON Lines replay file (by default
# four evening hours of real pickups with a synthetic fleet, made with `pricing
# convert-uber`), delivered by a private single nats-server (the pinned one) that
# the script starts on a free port and stops.
#   scripts/bench-callgrind.sh [--build-dir DIR] [--config FILE] [--events FILE] [--count N]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
config="$root/config/nyc.yaml"
events=""
count=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
command -v valgrind >/dev/null || { echo "bench-callgrind: valgrind is missing; run scripts/install-deps.sh" >&2; exit 1; }
if [ ! -x "$build/bin/hot_path_profile" ] || [ ! -x "$build/bin/pricing" ]; then
  (cd "$root" && cmake --preset release >/dev/null &&
    cmake --build --preset release --target hot_path_profile pricing)
fi
# shellcheck source=lib/tools.sh
. "$root/scripts/lib/tools.sh"
server=$(tool_path nats-server)
work=$(mktemp -d /tmp/pricing-callgrind-XXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server" -a 127.0.0.1 -p "$port" -js -sd "$work/store" >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
if [ -z "$events" ]; then
  events="$work/events.jsonl"
  "$build/bin/pricing" convert-uber --csv "$root/data/nyc/uber-pickups-2014-04.csv" \
    --out "$events" --city nyc --from 2014-04-01T16:00 --to 2014-04-01T20:00 \
    --drivers 300 --seed 42 >/dev/null 2>"$work/convert.log" || { cat "$work/convert.log" >&2; exit 1; }
fi
instructions() {
  valgrind --tool=callgrind --toggle-collect='*HotPathEvent*' \
    --callgrind-out-file="$work/callgrind.$1" \
    "$build/bin/hot_path_profile" --config "$config" --events "$events" --count "$1" \
    --nats-url "nats://127.0.0.1:$port" \
    >"$work/profile.$1.log" 2>&1 || { cat "$work/profile.$1.log" >&2; exit 1; }
  sed -n 's/^summary: //p' "$work/callgrind.$1"
}
one=$(instructions "$count")
two=$(instructions $(( count * 2 )))
per_event=$(( (two - one) / count ))
echo "bench-callgrind: $per_event instructions per event (Ir $one for $count events, $two for $(( count * 2 )))"
grep hot_path_profile: "$work/profile.$(( count * 2 )).log"

#!/usr/bin/env bash
# The live demo on the NYC taxi zones: starts the 3-node JetStream cluster (if it is
# not running), the processor, and the load generator for a while, and prints surge
# changes as the processor publishes them. Leaves the cluster running for exploring;
# stop it with scripts/stop-nats-cluster.sh.
#   scripts/demo-live.sh [--rate 2000] [--duration 40]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
rate=2000
duration=40
build="$root/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
pricing="$build/bin/pricing"
if [ ! -x "$pricing" ]; then
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target pricing)
fi
"$root/scripts/start-nats-cluster.sh" | tail -4
export NATS_URL=$(cat "$root/.nats-cluster/urls")
log="$root/.nats-cluster/processor.log"
"$pricing" run --config "$root/config/nyc.yaml" >"$log" 2>&1 &
processor=$!
trap 'kill -TERM $processor 2>/dev/null; wait $processor 2>/dev/null || true' EXIT
until grep -q "processing LOCATION_EVENTS" "$log" 2>/dev/null; do
  kill -0 $processor 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.2
done
echo "processor running (log $log); generating $rate events/s for ${duration}s"
"$pricing" watch --config "$root/config/nyc.yaml" --subject 'ws.surge.nyc' --count $((duration / 5)) |
  cut -c1-200 &
watcher=$!
"$pricing" simulate --config "$root/config/nyc.yaml" --rate "$rate" --duration "$duration" 2>/dev/null
wait $watcher 2>/dev/null || true
echo
"$pricing" consumer info --config "$root/config/nyc.yaml"
echo
"$pricing" streams info --config "$root/config/nyc.yaml"

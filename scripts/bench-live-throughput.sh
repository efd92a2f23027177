#!/usr/bin/env bash
# Measures events/s the live processor sustains from a JetStream R3 stream next to a
# consumer that only fetches and acknowledges, on a fresh 3-node cluster of its own
# (ports 14222-14224, 16222.., 18222..; stopped afterwards). Results: Markdown on stdout.
#   scripts/bench-live-throughput.sh [--build-dir DIR] [--events N] [--rounds R]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
events=200000
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
if [ ! -x "$build/bin/live_throughput" ] || [ ! -x "$build/bin/pricing" ]; then
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target pricing live_throughput)
fi
work=$(mktemp -d)
trap '"$root/scripts/stop-nats-cluster.sh" --state-dir "$work/cluster" --wipe >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$root/scripts/start-nats-cluster.sh" --state-dir "$work/cluster" --base-port 14222 --no-streams >/dev/null
urls=$(cat "$work/cluster/urls")
# A window long enough that the whole preloaded backlog still counts when it is read.
cat > "$work/bench.yaml" <<YAML
window_seconds: 3600
interval_seconds: 5
nats_url: $urls
cities:
  nyc:
    zones: $root/data/nyc/taxi_zones.geojson
YAML
"$build/bin/live_throughput" --nats "$urls" --config "$work/bench.yaml" --pricing "$build/bin/pricing" \
  --events "$events" --rounds "$rounds"

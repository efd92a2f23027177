#!/usr/bin/env bash
# LOCATION_EVENTS stored with s2 compression and without, on the same generated data:
# for each round and each setting, a fresh 3-node R3 cluster of its own (ports
# 14222-14224, 16222.., 18222..; stopped afterwards), `pricing simulate` at a rate
# above what the cluster takes (so the achieved rate is the ingest rate), then the
# bytes the stream's files take on every node's disk. Results: Markdown on stdout.
#   scripts/bench-stream-compression.sh [--rate 40000] [--seconds 10] [--rounds 2]
#                                       [--build-dir build]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
rate=40000
seconds=10
rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
[ -x "$build/bin/pricing" ] || (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target pricing)
work=$(mktemp -d)
trap '"$root/scripts/stop-nats-cluster.sh" --state-dir "$work/cluster" --wipe >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "| round | compression | events stored | achieved ingest rate | bytes on disk per event (each node) | JetStream's own bytes per event |"
echo "|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  for compression in none s2; do
    "$root/scripts/stop-nats-cluster.sh" --state-dir "$work/cluster" --wipe >/dev/null 2>&1 || true
    "$root/scripts/start-nats-cluster.sh" --state-dir "$work/cluster" --base-port 14222 --no-streams >/dev/null
    urls=$(cat "$work/cluster/urls")
    cat > "$work/bench.yaml" <<YAML
nats_url: $urls
cities:
  nyc:
    zones: $root/data/nyc/taxi_zones.geojson
streams:
  definitions:
    LOCATION_EVENTS: {compression: $compression}
YAML
    "$build/bin/pricing" streams apply --config "$work/bench.yaml" >/dev/null 2>&1
    summary=$("$build/bin/pricing" simulate --config "$work/bench.yaml" --rate "$rate" \
      --duration "$seconds" --drivers 3000 --seed 7 2>&1 | grep 'simulate: sent' | tail -1)
    achieved=$(sed -E 's/.*\(([0-9.]+)\/s achieved.*/\1/' <<<"$summary")
    # Let every replica write what it was sent.
    sleep 2
    stored=$(curl -fsS "http://127.0.0.1:18222/jsz?streams=true&accounts=true" | python3 -c '
import json, sys
for a in json.load(sys.stdin)["account_details"]:
    for s in a.get("stream_detail", []):
        if s["name"] == "LOCATION_EVENTS":
            print(s["state"]["messages"], s["state"]["bytes"])')
    read -r messages logical <<<"$stored"
    per_node=""
    for i in 1 2 3; do
      bytes=$(du -sb "$work/cluster/nats-$i/jetstream/PRICING/streams/LOCATION_EVENTS/msgs" | cut -f1)
      per_node="$per_node${per_node:+ / }$(( bytes / messages ))"
    done
    printf '| %d | %s | %d | %.0f/s | %s B | %d B |\n' "$round" "$compression" "$messages" \
      "$achieved" "$per_node" "$(( logical / messages ))"
  done
done

#!/usr/bin/env bash
# The main job, live, in one command. Installs what is missing (scripts/install-deps.sh),
# builds the release preset, then starts:
#   - the 3-node JetStream cluster (scripts/start-nats-cluster.sh), unless it runs;
#   - the processor (`pricing run --config config/nyc.yaml`), with the live map;
#   - the generator, with the real April 2014 Uber pickups as the ride requests and a
#     synthetic fleet's pings (`pricing simulate --pickups ...`);
#   - Prometheus scraping the processor (scripts/start-prometheus.sh), unless it runs.
# Prints the URLs of the live map, /metrics, /readyz and Prometheus with the
# dashboards' main queries, and runs until Ctrl-C (or --duration S), then stops
# everything it started. Logs are in .nats-cluster/ (processor.log, generator.log).
#
#   scripts/demo-live.sh [--rate 2000] [--duration 0] [--build-dir DIR] [--no-install]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
rate=2000
duration=0
build="$root/build"
install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
config="$root/config/nyc.yaml"
state="$root/.nats-cluster"
pricing="$build/bin/pricing"

[ $install = 0 ] || "$root/scripts/install-deps.sh" | tail -1
# The release preset's folder is brought up to date (a no-op when it is); another
# --build-dir is taken as it is.
if [ ! -x "$pricing" ] || [ "$build" = "$root/build" ]; then
  echo "demo-live: building (release preset)"
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target pricing | tail -1)
fi

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
started_cluster=0 started_prometheus=0 processor="" generator=""
stop_all() {
  trap - EXIT INT TERM
  echo; echo "demo-live: stopping what it started"
  for pid in $generator $processor; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $generator $processor; do wait "$pid" 2>/dev/null || true; done
  [ $started_prometheus = 0 ] || "$root/scripts/start-prometheus.sh" --stop >/dev/null || true
  [ $started_cluster = 0 ] || "$root/scripts/stop-nats-cluster.sh" >/dev/null || true
  echo "demo-live: stopped"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

alive "$state/nats-1.pid" || started_cluster=1
"$root/scripts/start-nats-cluster.sh" | tail -2
export NATS_URL=$(cat "$state/urls")

"$pricing" run --config "$config" >"$state/processor.log" 2>&1 &
processor=$!
port=$(sed -n 's/^  port: \([0-9]*\).*/\1/p' "$config" | head -1)
until grep -q "processing LOCATION_EVENTS" "$state/processor.log" 2>/dev/null; do
  kill -0 "$processor" 2>/dev/null || { tail -20 "$state/processor.log" >&2; exit 1; }
  sleep 0.2
done

alive "$root/.prometheus/prometheus.pid" || started_prometheus=1
"$root/scripts/start-prometheus.sh" --target "127.0.0.1:$port" | tail -1

"$pricing" simulate --config "$config" --rate "$rate" --duration 0 \
  --pickups "$root/data/nyc/uber-pickups-2014-04.csv" >"$state/generator.log" 2>&1 &
generator=$!

# A Prometheus graph URL for a query (the dashboards' $__rate_interval as 1m).
graph() {
  python3 -c 'import sys, urllib.parse; print("http://127.0.0.1:9090/graph?g0.tab=0&g0.range_input=15m&g0.expr=" + urllib.parse.quote(sys.argv[1]))' "$1"
}
cat <<EOF

Running: a 3-node JetStream cluster, the processor and the generator ($rate events/s:
the real April 2014 pickups as requests, a synthetic fleet as drivers).

  live map        http://127.0.0.1:$port/map?city=nyc   (hover a zone: its last hour)
  metrics         http://127.0.0.1:$port/metrics
  readiness       http://127.0.0.1:$port/readyz
  Prometheus      http://127.0.0.1:9090
    zones surging      $(graph 'count(pricing_zone_multiplier{city="nyc"} > 1) or vector(0)')
    top 10 zones       $(graph 'topk(10, pricing_zone_multiplier{city="nyc"})')
    events read/s      $(graph 'sum by (kind) (rate(pricing_events_read_total{city="nyc"}[1m]))')
    event to price p99 $(graph 'histogram_quantile(0.99, sum by (le) (rate(pricing_event_to_publish_seconds_bucket{city="nyc"}[1m])))')

Logs: $state/processor.log, $state/generator.log.
EOF
if [ "$duration" = 0 ]; then
  echo "Ctrl-C stops everything it started."
  wait "$generator"
else
  echo "Stopping everything it started in $duration s."
  sleep "$duration" & wait $!
fi

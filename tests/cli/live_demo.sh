#!/usr/bin/env bash
# The README's first command, bounded: scripts/demo-live.sh brings up the cluster, the
# processor, the generator and Prometheus; the live map's zones change (ticks advance,
# zones surge), Prometheus scrapes the processor; and when it ends, everything it
# started is stopped.
#   live_demo.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
unset NATS_URL
src=$1 build=$2
log=$(mktemp)
fail() { echo "live demo: $*"; echo "--- its output:"; cat "$log"; exit 1; }
"$src/scripts/demo-live.sh" --duration 60 --no-install --build-dir "$build" >"$log" 2>&1 &
demo=$!
for _ in $(seq 1 120); do grep -q "live map" "$log" && break; sleep 0.5; done
grep -q "live map        http://127.0.0.1:8080/map?city=nyc" "$log" || fail "no live map URL"

# The zones change: the tick of a zone's price advances, and some zones surge.
tick() { curl -fsS "http://127.0.0.1:8080/api/zone?city=nyc&zone=161" | sed -n 's/.*"tick":\([0-9]*\).*/\1/p'; }
first=""
for _ in $(seq 1 60); do first=$(tick 2>/dev/null || true); [ -n "$first" ] && break; sleep 0.5; done
[ -n "$first" ] || fail "no price for zone 161"
second=$first
for _ in $(seq 1 40); do second=$(tick); [ "$second" -gt "$first" ] && break; sleep 0.5; done
[ "$second" -gt "$first" ] || fail "the tick of zone 161 stayed at $first"
surging=0
for _ in $(seq 1 40); do
  surging=$(curl -fsS http://127.0.0.1:8080/metrics | awk '/^pricing_zone_multiplier\{/ && $2 > 1 {n++} END {print n + 0}')
  [ "$surging" -gt 0 ] && break
  sleep 0.5
done
[ "$surging" -gt 0 ] || fail "no zone surged"
# Prometheus scrapes the processor.
scraped=""
for _ in $(seq 1 40); do
  scraped=$(curl -fsS 'http://127.0.0.1:9090/api/v1/query?query=pricing_ready' | grep -o '"result":\[{' || true)
  [ -n "$scraped" ] && break
  sleep 0.5
done
[ -n "$scraped" ] || fail "Prometheus has no pricing_ready"

# Ctrl-C: everything it started stops.
kill -INT "$demo"
wait "$demo" || true
grep -q "demo-live: stopped" "$log" || fail "it did not say it stopped"
for port in 4222 8080 9090; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then fail "port $port still answers"; fi
done
echo "live demo: zone 161 went from tick $first to $second, $surging zones surging, Prometheus scraping, all stopped"

#!/usr/bin/env bash
# The performance comparison: core NATS, JetStream R1 and R3 and Kafka, with a plain
# loopback socket as the harness's floor, open loop, over a sweep of message sizes,
# rates, partitions and client settings, then a search for each system's highest
# sustained rate; and the Google Benchmarks of the pricing core.
#
#   scripts/performance_comparison.sh [--quick | --smoke] [--out DIR]
#                                     [--kafka-brokers HOST:PORT] [--no-core-bench]
#                                     [--base-port 24222] [--backends a,b,...]
#                                     [--no-pipeline]
#
# Starts what it needs (a 3-node nats-server cluster of its own on ports 24222-24224,
# 26222.., 28222.., or from --base-port; librdkafka's mock Kafka cluster in its own process unless
# --kafka-brokers names a real one) and stops all of it afterwards. Writes DIR
# (default results/perf-<UTC time>): summary.md, report.html, cells.csv, cells.json,
# hgrm/*.hgrm, charts/*.svg and core_bench.json.
#
#   (default)  100 B and 1 KiB; 1k, 10k, 50k msg/s; 1 and 4 partitions; default and
#              tuned clients; 10 s per cell after 2 s of warm-up; max-rate search; the
#              pipeline (`pricing run` on JetStream R3 and on Kafka) at 1k, 5k and 20k
#              events/s for 30 s. Roughly an hour on two cores.
#   --quick    100 B and 1 KiB; 1k and 10k msg/s; 1 partition; both client settings;
#              5 s per cell; max-rate search on 100 B only; the pipeline at 1k and 5k
#              events/s for 15 s. About 12 minutes.
#   --smoke    every system and both pipelines once, briefly (CI): proves the paths,
#              measures nothing.
#   --backends only these systems (loopback, nats-core, jetstream-r1, jetstream-r3,
#              kafka); --no-pipeline skips `pricing run` end to end.
#
# Every mode but --smoke also runs a peer tool against the same cluster as an anchor:
# `nats bench js pub async` and `sync` (the pinned natscli), R3, 100-byte messages,
# written into summary.md beside the harness's own JetStream R3 figures.
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
mode=full
out=""
kafka_brokers=""
core_bench=1
base_port=24222
backends=()
pipeline_on=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick; shift ;;
    --smoke) mode=smoke; shift ;;
    --out) out=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --kafka-brokers) kafka_brokers=$2; shift 2 ;;
    --no-core-bench) core_bench=0; shift ;;
    --base-port) base_port=$2; shift 2 ;;
    --backends) backends=(--backends "$2"); shift 2 ;;
    --no-pipeline) pipeline_on=0; shift ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "performance_comparison: unknown argument '$1'" >&2
       echo "usage: scripts/performance_comparison.sh [--quick | --smoke] [--out DIR] [--build-dir DIR] [--kafka-brokers HOST:PORT] [--no-core-bench] [--base-port N] [--backends a,b] [--no-pipeline] (try --help)" >&2
       exit 2 ;;
  esac
done
[ -n "$out" ] || out="$root/results/perf-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
out=$(cd "$out" && pwd)

targets=(perf_compare kafka_mock_cluster pricing)
[ "$mode" = smoke ] || [ "$core_bench" = 0 ] || targets+=(core_bench)
missing=0
for t in "${targets[@]}"; do [ -x "$build/bin/$t" ] || missing=1; done
if [ "$missing" = 1 ]; then
  (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target "${targets[@]}")
fi

work=$(mktemp -d)
cleanup() {
  "$root/scripts/stop-nats-cluster.sh" --state-dir "$work/cluster" --wipe >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "starting a 3-node nats-server cluster (ports $base_port-$((base_port + 2)))" >&2
"$root/scripts/start-nats-cluster.sh" --state-dir "$work/cluster" --base-port "$base_port" --no-streams >/dev/null
urls=$(cat "$work/cluster/urls")
# What the servers' acknowledgements mean goes into every JetStream label.
. "$root/scripts/lib/tools.sh"
sync_interval=$(nats_sync_interval "${NATS_SYNC_INTERVAL:-$NATS_SYNC_INTERVAL_DEFAULT}")

kafka=(--kafka-mock "$build/bin/kafka_mock_cluster")
[ -z "$kafka_brokers" ] || kafka=(--kafka-brokers "$kafka_brokers")

pipeline=(--pricing "$build/bin/pricing" --zones "$root/data/nyc/taxi_zones.geojson")
case "$mode" in
  full)
    sweep=(--sizes 100,1024 --rates 1000,10000,50000 --partitions 1,4 --profiles default,tuned
           --seconds 10 --warmup 2 --find-max --search-seconds 5
           --pipeline-rates 1000,5000,20000 --pipeline-seconds 30) ;;
  quick)
    sweep=(--sizes 100,1024 --rates 1000,10000 --partitions 1 --profiles default,tuned
           --seconds 5 --warmup 1 --find-max --search-seconds 3 --search-sizes 100
           --pipeline-rates 1000,5000 --pipeline-seconds 15) ;;
  smoke)
    sweep=(--sizes 100 --rates 500 --partitions 2 --profiles tuned --seconds 1 --warmup 0.5
           --pipeline-rates 200 --pipeline-seconds 3) ;;
esac

if [ $pipeline_on -eq 0 ]; then
  pipeline=()
  for i in "${!sweep[@]}"; do
    case "${sweep[$i]:-}" in --pipeline-rates|--pipeline-seconds) unset 'sweep[i]' 'sweep[i+1]' ;; esac
  done
  sweep=("${sweep[@]}")
fi

echo "running the sweep ($mode); results in $out" >&2
"$build/bin/perf_compare" --out "$out" --nats "$urls" --nats-sync-interval "$sync_interval" \
  "${backends[@]}" "${kafka[@]}" "${sweep[@]}" "${pipeline[@]}"
python3 "$root/scripts/perf_report.py" "$out" >&2

if [ "$mode" != smoke ]; then
  # A peer tool on the same cluster, the same size and acknowledgements: natscli's own
  # JetStream publisher, closed loop (async: up to 500 in flight; sync: one at a time).
  nats=$(tool_path nats)
  echo "running nats bench (natscli $NATSCLI_VERSION) on the same cluster" >&2
  bench_line() {
    NATS_URL=$urls "$nats" --no-context bench js pub "$1" --create --replicas 3 --size 100B \
      --msgs "$2" --no-progress --purge --csv "$out/nats-bench-js-pub-$1-r3-100B.csv" perf.anchor 2>&1 |
      grep -o 'stats: .*' | head -1
  }
  async=$(bench_line async 200000)
  sync=$(bench_line sync 5000)
  NATS_URL=$urls "$nats" --no-context stream rm benchstream -f >/dev/null 2>&1 || true
  {
    echo
    echo "## Peer tool: nats bench (natscli $NATSCLI_VERSION), JetStream R3, 100 B, same cluster"
    echo
    echo "Closed loop, so a rate, not a latency at a fixed rate: compare the async rate with"
    echo "the harness's highest sustained jetstream-r3 rate, and the sync round trip with its"
    echo "ack latency at 1,000 msg/s."
    echo
    echo "- \`nats bench js pub async\` (200,000 messages, 500 in flight): $async"
    echo "- \`nats bench js pub sync\` (5,000 messages, one at a time): $sync"
  } >> "$out/summary.md"
fi

if [ "$mode" != smoke ] && [ "$core_bench" = 1 ]; then
  echo "running the pricing core's Google Benchmarks" >&2
  reps=7
  [ "$mode" = quick ] && reps=3
  "$build/bin/core_bench" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/core_bench.json" --benchmark_out_format=json |
    grep -E '^(Benchmark|-+$|BM_.*_median)' > "$out/core_bench.txt"
  {
    echo
    echo "## Pricing core (Google Benchmark, medians of $reps repetitions)"
    echo
    echo '```'
    cat "$out/core_bench.txt"
    echo '```'
  } >> "$out/summary.md"
fi
echo "done: $out/summary.md, $out/report.html" >&2

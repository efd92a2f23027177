#!/usr/bin/env bash
# The performance comparison: core NATS, JetStream R1 and R3 and Kafka, with a plain
# loopback socket as the harness's floor, open loop, over a sweep of message sizes,
# rates, partitions and client settings, then a search for each system's highest
# sustained rate; and the Google Benchmarks of the pricing core.
#
#   scripts/performance_comparison.sh [--quick | --smoke] [--out DIR] [--build-dir DIR]
#                                     [--kafka-brokers HOST:PORT | --kafka-mock]
#                                     [--no-core-bench] [--base-port 24222]
#                                     [--backends a,b,...] [--no-pipeline]
#
# Starts what it needs and stops all of it afterwards: a 3-node nats-server cluster of
# its own on ports 24222-24224, 26222.., 28222.. (or from --base-port), and a 3-node
# Kafka cluster (KRaft, scripts/start-kafka-cluster.sh, replication factor 3,
# min.insync.replicas 2) on BASE+5000.. (29222-29224; controllers 29322..).
# --kafka-brokers uses a running Kafka cluster instead; --kafka-mock librdkafka's mock
# cluster in a process of its own (in memory, nothing replicated: labelled
# kafka-mock). Writes DIR (default results/perf-<UTC time>): summary.md, report.html,
# cells.csv, cells.json, hgrm/*.hgrm, charts/*.svg and core_bench.json. Every cell
# reports the CPU (% of a core) of the servers and of the harness's clients, and the
# servers' resident memory.
#
#   (default)  100 B and 1 KiB; 1k, 10k, 50k msg/s; 1 and 4 partitions; default and
#              tuned clients, and for Kafka OMB's (linger.ms 1, batch.size 128 KiB); 10 s per cell after 2 s of warm-up; max-rate search; the
#              pipeline (`pricing run` on JetStream R3 and on Kafka) at 1k, 5k and 20k
#              events/s for 30 s, then a search for its highest sustained rate (20 s a
#              try). Hours on two cores (not timed since it runs a real Kafka).
#   --quick    100 B and 1 KiB; 1k and 10k msg/s; 1 partition; every client setting;
#              5 s per cell; max-rate search on 100 B only; the pipeline at 1k, 5k and
#              20k events/s for 15 s, then its max-rate search (10 s a try). About an
#              hour on two cores.
#   --smoke    every system, the failover runs and both pipelines once, briefly, with
#              one step of the pipeline's search (CI): proves the paths, measures
#              nothing.
#
# Every mode also runs the failover side by side: open loop at a fixed rate (2,000/s;
# 500/s in --smoke), the leader of the JetStream R3 stream and of the Kafka partition
# SIGKILLed a third of the way in and started again after: the publish outage, how long
# consumption stood still, acknowledged messages lost, duplicates.
#   --backends only these systems (loopback, nats-core, jetstream-r1, jetstream-r3,
#              jetstream-r3-pull, jetstream-r3-fsync, kafka, kafka-group,
#              kafka-fsync); jetstream-r3-pull reads through a durable pull consumer
#              with an ack per message and kafka-group through a consumer group that
#              stores and commits offsets, as `pricing run` does; --no-pipeline skips
#              `pricing run` end to end.
#
# Durability is matched in two profiles: replicated (jetstream-r3 on the default sync
# interval against kafka, acks=all, replication factor 3, min.insync.replicas 2) and
# fsync (jetstream-r3-fsync, sync_interval always, against kafka-fsync, the same with
# flush.messages=1 on the topic). The mock cannot fsync: with --kafka-mock there is no
# kafka-fsync row.
#
# Every mode but --smoke also runs peer tools against the same clusters as anchors,
# written into summary.md beside the harness's own figures: `nats bench js pub async`
# and `sync` (the pinned natscli), R3, 100-byte messages; and on a real Kafka, Kafka's
# own ProducerPerformance, acks=all, replication factor 3, 100-byte records, with the
# client's defaults and with OMB's settings.
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
mode=full
out=""
kafka_brokers=""
kafka_mock=0
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
    --kafka-mock) kafka_mock=1; shift ;;
    --no-core-bench) core_bench=0; shift ;;
    --base-port) base_port=$2; shift 2 ;;
    --backends) backends=(--backends "$2"); shift 2 ;;
    --no-pipeline) pipeline_on=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "performance_comparison: unknown argument '$1'" >&2
       echo "usage: scripts/performance_comparison.sh [--quick | --smoke] [--out DIR] [--build-dir DIR] [--kafka-brokers HOST:PORT | --kafka-mock] [--no-core-bench] [--base-port N] [--backends a,b] [--no-pipeline] (try --help)" >&2
       exit 2 ;;
  esac
done
if [ -n "$kafka_brokers" ] && [ $kafka_mock -eq 1 ]; then
  echo "performance_comparison: --kafka-brokers and --kafka-mock exclude each other" >&2
  exit 2
fi
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
  "$root/scripts/stop-nats-cluster.sh" --state-dir "$work/cluster-fsync" --wipe >/dev/null 2>&1 || true
  if [ -d "$work/kafka" ]; then
    "$root/scripts/stop-kafka-cluster.sh" --state-dir "$work/kafka" --wipe >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
echo "starting a 3-node nats-server cluster (ports $base_port-$((base_port + 2)))" >&2
"$root/scripts/start-nats-cluster.sh" --state-dir "$work/cluster" --base-port "$base_port" --no-streams >/dev/null
urls=$(cat "$work/cluster/urls")
# What the servers' acknowledgements mean goes into every JetStream label.
. "$root/scripts/lib/tools.sh"
sync_interval=$(nats_sync_interval "${NATS_SYNC_INTERVAL:-$NATS_SYNC_INTERVAL_DEFAULT}")

pids=(--nats-pid-files "$work/cluster/nats-1.pid,$work/cluster/nats-2.pid,$work/cluster/nats-3.pid")
# The fsync profile: a second cluster whose servers fsync every write before they
# acknowledge it (sync_interval always), against Kafka topics with flush.messages=1.
fsync_port=$((base_port + 10))
echo "starting a 3-node nats-server cluster with sync_interval always (ports $fsync_port-$((fsync_port + 2)))" >&2
NATS_SYNC_INTERVAL=always "$root/scripts/start-nats-cluster.sh" --state-dir "$work/cluster-fsync" \
  --base-port "$fsync_port" --no-streams >/dev/null
pids+=(--nats-fsync "$(cat "$work/cluster-fsync/urls")"
       --nats-fsync-pid-files "$work/cluster-fsync/nats-1.pid,$work/cluster-fsync/nats-2.pid,$work/cluster-fsync/nats-3.pid")
if [ $kafka_mock -eq 1 ]; then
  kafka=(--kafka-mock "$build/bin/kafka_mock_cluster")
elif [ -n "$kafka_brokers" ]; then
  kafka=(--kafka-brokers "$kafka_brokers")
else
  kafka_base=$((base_port + 5000))
  echo "starting a 3-node Kafka cluster (ports $kafka_base-$((kafka_base + 2)))" >&2
  # The smoke run measures nothing: C1 only, which compiles less and sooner.
  jvm_opts=${KAFKA_JVM_OPTS:-}
  [ "$mode" != smoke ] || jvm_opts="-XX:TieredStopAtLevel=1 $jvm_opts"
  KAFKA_JVM_OPTS=$jvm_opts "$root/scripts/start-kafka-cluster.sh" --state-dir "$work/kafka" --base-port "$kafka_base" \
    --no-topics >"$work/kafka-start.log" 2>&1 ||
    { cat "$work/kafka-start.log" >&2; exit 1; }
  kafka=(--kafka-brokers "$(cat "$work/kafka/bootstrap")"
         --kafka-pid-files "$work/kafka/kafka-1.pid,$work/kafka/kafka-2.pid,$work/kafka/kafka-3.pid")
  # The JVMs compile the produce, replicate and fetch paths as they go: a fresh broker
  # acknowledges seconds late at first. A run that is not recorded brings them up to speed.
  if [ "$mode" = smoke ]; then kafka+=(--kafka-warmup-seconds 10); else kafka+=(--kafka-warmup-seconds 20); fi
fi

pipeline=(--pricing "$build/bin/pricing" --zones "$root/data/nyc/taxi_zones.geojson")
case "$mode" in
  full)
    sweep=(--sizes 100,1024 --rates 1000,10000,50000 --partitions 1,4 --profiles default,tuned,omb
           --seconds 10 --warmup 2 --find-max --search-seconds 5
           --pipeline-rates 1000,5000,20000 --pipeline-seconds 30
           --pipeline-find-max --pipeline-search-seconds 20) ;;
  quick)
    sweep=(--sizes 100,1024 --rates 1000,10000 --partitions 1 --profiles default,tuned,omb
           --seconds 5 --warmup 1 --find-max --search-seconds 3 --search-sizes 100
           --pipeline-rates 1000,5000,20000 --pipeline-seconds 15
           --pipeline-find-max --pipeline-search-seconds 10) ;;
  smoke)
    sweep=(--sizes 100 --rates 500 --partitions 2 --profiles tuned,omb --seconds 1 --warmup 0.5
           --pipeline-rates 200 --pipeline-seconds 3
           --pipeline-find-max --pipeline-search-seconds 2 --pipeline-max-rate 400) ;;
esac

# Failover, side by side: the leader of a JetStream R3 stream and of a Kafka partition
# SIGKILLed a third of the way into an open-loop run, then started again (only nodes
# these scripts started: not with --kafka-brokers).
case "$mode" in
  full) failover=(--failover-rate 2000 --failover-seconds 30) ;;
  quick) failover=(--failover-rate 2000 --failover-seconds 20) ;;
  smoke) failover=(--failover-rate 500 --failover-seconds 9) ;;
esac
failover+=(--nats-state "$work/cluster"
           --nats-restart "'$root/scripts/start-nats-cluster.sh' --state-dir '$work/cluster' --base-port $base_port --no-streams >/dev/null")
if [ -d "$work/kafka" ]; then
  failover+=(--kafka-state "$work/kafka"
             --kafka-restart "KAFKA_JVM_OPTS='$jvm_opts' '$root/scripts/start-kafka-cluster.sh' --state-dir '$work/kafka' --base-port $kafka_base --no-topics >/dev/null")
fi

if [ $pipeline_on -eq 0 ]; then
  pipeline=()
  for i in "${!sweep[@]}"; do
    case "${sweep[$i]:-}" in
      --pipeline-rates|--pipeline-seconds|--pipeline-search-seconds|--pipeline-max-rate)
        unset 'sweep[i]' 'sweep[i+1]' ;;
      --pipeline-find-max) unset 'sweep[i]' ;;
    esac
  done
  sweep=("${sweep[@]}")
fi

echo "running the sweep ($mode); results in $out" >&2
"$build/bin/perf_compare" --out "$out" --nats "$urls" --nats-sync-interval "$sync_interval" \
  "${pids[@]}" "${backends[@]}" "${kafka[@]}" "${sweep[@]}" "${failover[@]}" "${pipeline[@]}"

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

if [ "$mode" != smoke ] && [ $kafka_mock -eq 0 ]; then
  # Kafka's own producer benchmark (ProducerPerformance, the tarball's
  # kafka-producer-perf-test) on the same cluster: 100-byte records, acks=all, a topic
  # of replication factor 3, with the client's defaults, with OMB's Kafka driver
  # settings (linger.ms 1, batch.size 128 KiB) and with librdkafka's batch defaults
  # (batch.size 1,000,000, linger.ms 5, as the harness's Kafka client sends). Two million
  # records: with 200,000 the JVM's start and warm-up are most of the run, and the
  # default client showed a third of its rate.
  bootstrap=${kafka_brokers:-$(cat "$work/kafka/bootstrap")}
  classpath=$(kafka_classpath)
  echo "running Kafka's ProducerPerformance ($KAFKA_VERSION) on the same cluster" >&2
  kafka_tool() { java -Xmx256m -cp "$classpath" "$@"; }
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
    --if-not-exists --topic perf-anchor --partitions 1 --replication-factor 3 >/dev/null 2>&1 || true
  producer_line() {
    # shellcheck disable=SC2086 # the extra settings are words
    kafka_tool org.apache.kafka.tools.ProducerPerformance --topic perf-anchor --num-records 2000000 \
      --record-size 100 --throughput -1 --producer-props bootstrap.servers="$bootstrap" acks=all $1 2>&1 |
      grep 'records sent' | tail -1
  }
  kafka_default=$(producer_line "")
  kafka_omb=$(producer_line "linger.ms=1 batch.size=131072")
  kafka_rdkafka=$(producer_line "linger.ms=5 batch.size=1000000")
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --delete \
    --topic perf-anchor >/dev/null 2>&1 || true
  {
    echo
    echo "## Peer tool: Kafka's ProducerPerformance ($KAFKA_VERSION), acks=all, RF 3, 100 B, same cluster"
    echo
    echo "Closed loop, as fast as the producer goes: compare its rate with the harness's highest"
    echo "sustained kafka rate, and its latencies (send to acknowledgement) with the harness's"
    echo "ack latency."
    echo
    echo "- client defaults, batch.size 16 KiB (2,000,000 records): ${kafka_default:-no result}"
    echo "- OMB's settings, linger.ms 1 and batch.size 128 KiB (2,000,000 records): ${kafka_omb:-no result}"
    echo "- librdkafka's batching, linger.ms 5 and batch.size 1,000,000, as the harness's"
    echo "  client sends (2,000,000 records): ${kafka_rdkafka:-no result}"
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
# Last, so that report.html has the peer tools' rows too.
python3 "$root/scripts/perf_report.py" "$out" >&2
echo "done: $out/summary.md, $out/report.html" >&2

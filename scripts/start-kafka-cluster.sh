#!/usr/bin/env bash
# Starts a 3-node Apache Kafka cluster (KRaft combined mode: every node is a broker and
# a controller) from the pinned broker (versions.env, fetched into .tools/ by
# scripts/install-deps.sh) with deploy/kafka/server.properties: replication factor 3,
# min.insync.replicas 2. Waits until every node serves, then creates or checks the
# topics of the configuration (`pricing streams apply` on a kafka backend). Running it
# again while the cluster is up is harmless: nodes already running are kept.
#
#   scripts/start-kafka-cluster.sh [--state-dir DIR] [--base-port 9092] [--config FILE]
#                                  [--build-dir DIR] [--no-topics] [--heap 512m]
#
# Environment:
#   KAFKA_JVM_OPTS   more JVM options for every node (e.g. -XX:TieredStopAtLevel=1, which
#                    compiles less and sooner: a fresh cluster on two cores settles faster)
#
# Ports: brokers BASE..BASE+2, controllers BASE+100..BASE+102 (defaults 9092-9094 and
# 9192-9194). Data and logs live in the state directory (default .kafka-cluster/ in the
# repository): STATE/kafka-N/data, STATE/kafka-N/server.log.
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.kafka-cluster"
base=9092
config="$root/config/nyc-kafka.yaml"
topics=1
heap=512m
build="$root/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) state=$2; shift 2 ;;
    --base-port) base=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-topics) topics=0; shift ;;
    --heap) heap=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
[[ "$heap" =~ ^[0-9]+[mg]$ ]] || { echo "start-kafka-cluster: --heap '$heap' is not a size such as 512m or 1g" >&2; exit 2; }

. "$root/scripts/lib/tools.sh"
classpath=$(kafka_classpath) || exit 1
command -v java >/dev/null || { echo "start-kafka-cluster: java is not on PATH: run scripts/install-deps.sh" >&2; exit 1; }
mkdir -p "$state"
state=$(cd "$state" && pwd)

bootstrap="" voters=""
for i in 1 2 3; do
  bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:$((base + i - 1))"
  voters="$voters${voters:+,}$i@127.0.0.1:$((base + 100 + i - 1))"
done

# One cluster id per state directory, made on first start.
if [ ! -s "$state/cluster-id" ]; then
  java -cp "$classpath" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 > "$state/cluster-id.tmp"
  [ -s "$state/cluster-id.tmp" ] || { echo "start-kafka-cluster: StorageTool made no cluster id" >&2; exit 1; }
  mv "$state/cluster-id.tmp" "$state/cluster-id"
fi
cluster_id=$(cat "$state/cluster-id")

started=()
seen=(0 0 0 0)  # per node: the lines of its server.log before this start
for i in 1 2 3; do
  name="kafka-$i"
  dir="$state/$name"
  pidfile="$state/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name: already running (pid $(cat "$pidfile"))"
    continue
  fi
  for port in $((base + i - 1)) $((base + 100 + i - 1)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "start-kafka-cluster: port $port is in use by another process; pick other ports with --base-port" >&2
      exit 1
    fi
  done
  mkdir -p "$dir/data"
  {
    cat "$root/deploy/kafka/server.properties"
    echo "node.id=$i"
    echo "controller.quorum.voters=$voters"
    echo "listeners=PLAINTEXT://127.0.0.1:$((base + i - 1)),CONTROLLER://127.0.0.1:$((base + 100 + i - 1))"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$((base + i - 1))"
    echo "log.dirs=$dir/data"
  } > "$dir/server.properties"
  jvm=(java -Xms"$heap" -Xmx"$heap" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
       -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
       -Djava.awt.headless=true -Dkafka.logs.dir="$dir"
       -Dlog4j2.configurationFile="$root/deploy/kafka/log4j2.yaml")
  # shellcheck disable=SC2206 # options are words, as in Kafka's own KAFKA_OPTS
  [ -n "${KAFKA_JVM_OPTS:-}" ] && jvm+=($KAFKA_JVM_OPTS)
  jvm+=(-cp "$classpath")
  # A node's storage is formatted once (a static voter list needs no other flag).
  if [ ! -f "$dir/data/meta.properties" ]; then
    "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      > "$dir/format.log" 2>&1 || { echo "start-kafka-cluster: formatting $name failed; see $dir/format.log" >&2; exit 1; }
  fi
  seen[i]=$(wc -l < "$dir/server.log" 2>/dev/null || echo 0)
  setsid "${jvm[@]}" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  started+=("$i")
  echo "$name: started (Kafka $KAFKA_VERSION, heap $heap, log $dir/server.log)"
done

echo "waiting for the nodes..."
deadline=$((SECONDS + 90))
for i in 1 2 3; do
  dir="$state/kafka-$i"
  # A restarted node's log holds its earlier start: only what this start wrote counts.
  # (awk reads the whole file: `grep -q` in a pipe would end it early, and pipefail fail it.)
  until awk -v from="${seen[i]}" 'NR > from && /Kafka Server started/ { found = 1 }
                                  END { exit !found }' "$dir/server.log" 2>/dev/null &&
        (exec 3<>"/dev/tcp/127.0.0.1/$((base + i - 1))") 2>/dev/null; do
    if ! kill -0 "$(cat "$state/kafka-$i.pid" 2>/dev/null)" 2>/dev/null; then
      echo "start-kafka-cluster: kafka-$i exited; see $dir/server.log and $dir/stdout.log" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "start-kafka-cluster: kafka-$i not serving after 90 s; see $dir/server.log" >&2
      exit 1
    fi
    sleep 0.5
  done
done
echo "cluster ready"
echo "$bootstrap" > "$state/bootstrap"

if [ $topics -eq 1 ]; then
  pricing="$build/bin/pricing"
  if [ ! -x "$pricing" ]; then
    (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target pricing)
  fi
  KAFKA_BROKERS=$bootstrap "$pricing" streams apply --config "$config"
fi

cat <<TXT

bootstrap:    $bootstrap
state:        $state
use it:       export KAFKA_BROKERS=$bootstrap
stop it:      scripts/stop-kafka-cluster.sh${state:+ --state-dir $state}
TXT

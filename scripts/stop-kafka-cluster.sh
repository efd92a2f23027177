#!/usr/bin/env bash
# Stops the nodes that scripts/start-kafka-cluster.sh started (by their pid files in the
# state directory) and nothing else: SIGTERM, which a broker answers with a controlled
# shutdown, then SIGKILL after 30 s. Data stays; --wipe removes the state directory.
#
#   scripts/stop-kafka-cluster.sh [--state-dir DIR] [--wipe]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.kafka-cluster"
wipe=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) state=$2; shift 2 ;;
    --wipe) wipe=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
pids=()
for pidfile in "$state"/kafka-*.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  name=$(basename "$pidfile" .pid)
  # Only a broker we started: the pid must still be a JVM running kafka.Kafka.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka "; then
    kill -TERM "$pid"
    pids+=("$pid:$name")
  else
    echo "$name: not running"
  fi
  rm -f "$pidfile"
done
# All three at once: a controlled shutdown of the last ones needs the quorum alive.
for entry in "${pids[@]}"; do
  pid=${entry%%:*} name=${entry#*:}
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; echo "$name: killed after 30 s"; } || echo "$name: stopped"
done
if [ $wipe -eq 1 ]; then rm -rf "$state"; echo "removed $state"; fi

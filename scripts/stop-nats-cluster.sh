#!/usr/bin/env bash
# Stops the nodes that scripts/start-nats-cluster.sh started (by their pid files in the
# state directory) and nothing else. Data stays; --wipe removes the state directory.
# Without --state-dir: the default folders of both the plain cluster (.nats-cluster/)
# and the secured one (.nats-cluster-secure/).
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
states=()
wipe=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) states+=("$2"); shift 2 ;;
    --wipe) wipe=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
[ ${#states[@]} -gt 0 ] || states=("$root/.nats-cluster" "$root/.nats-cluster-secure")
for state in "${states[@]}"; do
  [ -d "$state" ] || continue
  for pidfile in "$state"/nats-*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    name=$(basename "$pidfile" .pid)
    # Only a nats-server we started: the pid must still be a nats-server.
    if kill -0 "$pid" 2>/dev/null && grep -q nats-server "/proc/$pid/cmdline" 2>/dev/null; then
      kill -INT "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "$name: stopped"
    else
      echo "$name: not running"
    fi
    rm -f "$pidfile"
  done
  if [ $wipe -eq 1 ]; then rm -rf "$state"; echo "removed $state"; fi
done

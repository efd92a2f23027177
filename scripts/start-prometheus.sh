#!/usr/bin/env bash
# Starts Debian's Prometheus natively, next to the native cluster, scraping the
# processor's /metrics every 5 s: for people without Docker. Grafana is not packaged
# for Debian; the dashboards' queries work in Prometheus's own UI (Graph tab) too.
# Idempotent: a Prometheus it started earlier is kept.
#
#   scripts/start-prometheus.sh [--target HOST:PORT] [--port 9090] [--state-dir DIR]
#   scripts/start-prometheus.sh --stop
#
# The NATS dashboard reads the Prometheus NATS exporter, which only the Docker stack
# runs; natively, the cluster's own monitoring endpoints are on ports 8222-8224.
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.prometheus"
target=127.0.0.1:8080
port=9090
stop=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --state-dir) state=$2; shift 2 ;;
    --stop) stop=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done

pidfile="$state/prometheus.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [ $stop -eq 1 ]; then
  if running; then
    kill "$(cat "$pidfile")"
    echo "start-prometheus: stopped"
  else
    echo "start-prometheus: not running"
  fi
  rm -f "$pidfile"
  exit 0
fi

command -v prometheus >/dev/null || {
  echo "start-prometheus: prometheus is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
}
if running; then
  echo "start-prometheus: already running (pid $(cat "$pidfile")): http://127.0.0.1:$port"
  exit 0
fi
mkdir -p "$state/data"
cat > "$state/prometheus.yml" <<CONF
# Written by scripts/start-prometheus.sh
global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: pricing
    static_configs:
      - targets: ['$target']
CONF
nohup prometheus --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/data" \
  --web.listen-address="127.0.0.1:$port" > "$state/prometheus.log" 2>&1 &
echo $! > "$pidfile"
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
    echo "start-prometheus: http://127.0.0.1:$port scraping $target (log: $state/prometheus.log)"
    exit 0
  fi
  running || { cat "$state/prometheus.log" >&2; echo "start-prometheus: failed to start" >&2; exit 1; }
  sleep 0.1
done
echo "start-prometheus: not ready after 10 s; see $state/prometheus.log" >&2
exit 1

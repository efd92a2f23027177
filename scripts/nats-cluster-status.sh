#!/usr/bin/env bash
# Reports each node of the cluster started by scripts/start-nats-cluster.sh (process,
# health, JetStream meta leader), each node's last sequence of every stream, and each
# stream's leader, replicas and message count.
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.nats-cluster"
base=4222
config="$root/config/nyc.yaml"
build="$root/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) state=$2; shift 2 ;;
    --base-port) base=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done
printf "%-8s %-8s %-9s %-10s %s\n" node pid health "meta lead" "client url"
for i in 1 2 3; do
  name="nats-$i"
  pid=$(cat "$state/$name.pid" 2>/dev/null || echo -)
  port=$((base + 4000 + i - 1))
  health=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || echo down)
  leader=$(curl -fsS "http://127.0.0.1:$port/jsz" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("meta_cluster",{}).get("leader","-"))' 2>/dev/null || echo -)
  printf "%-8s %-8s %-9s %-10s %s\n" "$name" "$pid" "$health" "$leader" "nats://127.0.0.1:$((base + i - 1))"
done
echo
# Each node's own last sequence of every stream. Under traffic a follower trails by a
# moment; a node that stays behind after traffic stops has a replica that diverged
# (seen on nats-server 2.9.10 after a frozen leader resumed; docs/chaos.md).
python3 - "$base" <<'PY'
import json, sys, urllib.request
base = int(sys.argv[1])
seqs = {}
for n in (1, 2, 3):
    url = "http://127.0.0.1:%d/jsz?streams=true&accounts=true" % (base + 4000 + n - 1)
    try:
        doc = json.load(urllib.request.urlopen(url, timeout=5))
    except OSError:
        continue
    for account in doc.get("account_details") or []:
        for st in account.get("stream_detail") or []:
            seqs.setdefault(st["name"], {})[n] = st["state"]["last_seq"]
print("%-18s %-10s %-10s %-10s %s" % ("stream", "nats-1", "nats-2", "nats-3", "last sequences"))
for name in sorted(seqs):
    row = seqs[name]
    cells = [str(row.get(n, "-")) for n in (1, 2, 3)]
    print("%-18s %-10s %-10s %-10s %s" % (name, *cells, "agree" if len(set(row.values())) == 1 else "DIFFER"))
PY
echo
urls=$(cat "$state/urls" 2>/dev/null || echo "nats://127.0.0.1:$base")
NATS_URL=$urls "$build/bin/pricing" streams info --config "$config"

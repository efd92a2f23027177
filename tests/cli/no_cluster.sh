#!/usr/bin/env bash
# The commands that need NATS, started with no cluster to reach: each says so at once,
# naming the URL and how to start one; gives up after nats_connect_wait_seconds; and
# `pricing run` stops at once, cleanly, on SIGTERM while it waits.
#   no_cluster.sh PRICING_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
unset NATS_URL  # the configuration names the port nobody listens on
pricing=$1 src=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
# A port nobody listens on: one the kernel hands out and takes back.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
config="$dir/no-cluster.yaml"
sed -e "s|^nats_url: .*|nats_url: nats://127.0.0.1:$port\nnats_connect_wait_seconds: 2|" \
    -e "s|^    zones: .*|    zones: $src/data/nyc/taxi_zones.geojson|" \
    -e "s|^  port: 8080|  port: 0|" "$src/config/nyc.yaml" >"$config"
fail=0
ms() { date +%s%3N; }

# run: the warning as soon as it tries to connect (after loading the zones: a fraction
# of a second in a release build, seconds under the sanitizers), and SIGTERM obeyed
# at once while it waits, with exit 0.
"$pricing" run --config "$config" >"$dir/run.log" 2>&1 &
pid=$!
warned=0
for _ in $(seq 1 300); do
  grep -q "cannot reach NATS at nats://127.0.0.1:$port .*scripts/start-nats-cluster.sh" \
    "$dir/run.log" && { warned=1; break; }
  sleep 0.1
done
[ $warned = 1 ] || { echo "run: no warning within 30 s"; cat "$dir/run.log"; fail=1; }
start=$(ms)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
took=$(( $(ms) - start ))
if [ "$rc" != 0 ] || [ "$took" -gt 1500 ] || ! grep -q "stopped while connecting" "$dir/run.log"; then
  echo "run: SIGTERM took $took ms, exit $rc"; fail=1
fi

# streams and simulate: the same warning at once, and give up after the 2 s wait.
for cmd in "streams apply" "simulate"; do
  start=$(ms)
  rc=0; "$pricing" $cmd --config "$config" >"$dir/cmd.log" 2>&1 || rc=$?
  took=$(( $(ms) - start ))
  # The 2 s wait, after loading the zones (seconds under the sanitizers).
  if [ "$rc" != 1 ] || [ "$took" -gt 30000 ] ||
     ! grep -q "cannot reach NATS at nats://127.0.0.1:$port .*Retrying for 2 s more" "$dir/cmd.log"; then
    echo "$cmd: exit $rc after $took ms:"; cat "$dir/cmd.log"; fail=1
  fi
done
[ $fail = 0 ] && echo "no cluster: every command said so at once and stopped as told"
exit $fail

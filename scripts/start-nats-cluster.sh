#!/usr/bin/env bash
# Starts a 3-node NATS JetStream cluster from the pinned nats-server (versions.env,
# installed into .tools/ by scripts/install-deps.sh) with the config file
# deploy/nats/nats.conf, waits until every node is healthy and the JetStream meta
# leader is elected, then creates or updates the streams of the configuration.
# Running it again while the cluster is up is harmless: nodes already running are kept.
#
#   scripts/start-nats-cluster.sh [--state-dir DIR] [--base-port 4222] [--config FILE] [--build-dir DIR]
#                                 [--no-streams] [--docker] [--secure]
#
# --secure: TLS on client and route connections, mutual TLS for every client, and
# per-user subject permissions (deploy/nats/nats-secure.conf). A development CA and
# certificates for the nodes and for three users (processor, publisher, readonly) are
# generated with openssl into STATE/secure/ on first use (nothing secret is committed),
# with an environment file per user (STATE/secure/<user>.env: NATS_URL, NATS_CA,
# NATS_CERT, NATS_KEY) that `pricing` commands read. A fourth identity, `device`, is an
# nkey (scripts/gen-nkey.py) with the publisher's permissions: device.env adds
# NATS_NKEY and NATS_NKEY_SEED.
#
# Ports: clients BASE..BASE+2, routes BASE+2000.., monitoring BASE+4000.. (defaults
# 4222-4224, 6222-6224, 8222-8224). Data and logs live in the state directory
# (default .nats-cluster/ in the repository; with --secure, .nats-cluster-secure/, so that
# the secured cluster never restores the plain one's checkpoints or re-reads its events).
#
# Environment:
#   NATS_SYNC_INTERVAL   when a node fsyncs its store: "always" (before it acknowledges
#                        anything) or a duration (1s, 2m; default: versions.env). Either way a
#                        publish is acknowledged once a quorum (2 of 3) has it; with a
#                        duration, an acknowledged message can be in the nodes' page
#                        cache only, not on disk, for up to that long.
#   NATS_MAX_FILE_STORE  each node's JetStream store cap (default 8GB)
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
state=""
base=4222
config="$root/config/nyc.yaml"
streams=1
docker=0
secure=0
build="$root/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) state=$2; shift 2 ;;
    --base-port) base=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-streams) streams=0; shift ;;
    --docker) docker=1; shift ;;
    --secure) secure=1; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done

if [ -z "$state" ]; then
  state="$root/.nats-cluster"
  [ $secure -eq 0 ] || state="$root/.nats-cluster-secure"
fi
mkdir -p "$state"
state=$(cd "$state" && pwd)
# The password of the system account's user `sys` (nats.conf), made once per state
# directory; scripts/nats --system uses it.
if [ ! -s "$state/system-password" ]; then
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$state/system-password")
fi
NATS_SYSTEM_PASSWORD=$(cat "$state/system-password")
export NATS_SYSTEM_PASSWORD

if [ $docker -eq 1 ]; then
  if ! docker info >/dev/null 2>&1; then
    echo "start-nats-cluster: --docker needs a running Docker engine; none answers here" >&2
    exit 1
  fi
  # The same versions and sync interval as the native cluster.
  . "$root/scripts/lib/tools.sh"
  NATS_SYNC_INTERVAL_DEFAULT=$(nats_sync_interval "${NATS_SYNC_INTERVAL:-$NATS_SYNC_INTERVAL_DEFAULT}") || exit 2
  export NATS_SYNC_INTERVAL_DEFAULT
  compose=(docker-compose)
  docker compose version >/dev/null 2>&1 && compose=(docker compose)
  exec "${compose[@]}" --env-file "$root/versions.env" -f "$root/deploy/docker-compose-nats.yml" up -d --build
fi

. "$root/scripts/lib/tools.sh"
nats_server=$(tool_path nats-server) || exit 1
sync_interval=$(nats_sync_interval "${NATS_SYNC_INTERVAL:-$NATS_SYNC_INTERVAL_DEFAULT}") || exit 2
scheme=nats
conf="$root/deploy/nats/nats.conf"
if [ $secure -eq 1 ]; then
  scheme=tls
  conf="$root/deploy/nats/nats-secure.conf"
  tls="$state/secure"
  command -v openssl >/dev/null || { echo "start-nats-cluster: --secure needs openssl (scripts/install-deps.sh)" >&2; exit 1; }
  mkdir -p "$tls"
  chmod 700 "$tls"
  # Each file is made once, on first use (a state directory from an earlier version
  # gets only what it lacks).
  (
    cd "$tls"
    umask 077
    made=0
    if [ ! -f ca.pem ]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/O=pricing-dev/CN=pricing-dev-ca" \
        -keyout ca-key.pem -out ca.pem 2>/dev/null
      chmod 644 ca.pem
      made=1
    fi
    # name, subject, extensions
    issue() {
      [ -f "$1.pem" ] && return 0
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
      chmod 644 "$1.pem"
      made=1
    }
    # The nodes' certificate serves clients and, as a client, the routes.
    issue server "/O=pricing-dev/CN=pricing-nats" \
      "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:nats-1,DNS:nats-2,DNS:nats-3
extendedKeyUsage=serverAuth,clientAuth"
    for user in processor publisher readonly; do
      issue "$user" "/O=pricing-dev/CN=pricing-$user" "extendedKeyUsage=clientAuth"
    done
    # Devices (a fleet of event producers) prove who they are with an nkey; their
    # certificate only gets them through the TLS handshake (its subject names no user).
    issue device "/O=pricing-dev/CN=pricing-device" "extendedKeyUsage=clientAuth"
    if [ ! -f device.pub ]; then
      "$root/scripts/gen-nkey.py" device.nk > device.pub.tmp && mv device.pub.tmp device.pub
      chmod 644 device.pub
      made=1
    fi
    [ $made -eq 0 ] || echo "secure: generated a development CA, certificates and an nkey in $tls"
  )
  export NATS_TLS_CERT="$tls/server.pem" NATS_TLS_KEY="$tls/server-key.pem" NATS_TLS_CA="$tls/ca.pem"
  NATS_DEVICE_NKEY=$(cat "$tls/device.pub")
  export NATS_DEVICE_NKEY
fi
urls=""
for i in 1 2 3; do urls="$urls${urls:+,}$scheme://127.0.0.1:$((base + i - 1))"; done

for i in 1 2 3; do
  name="nats-$i"
  pidfile="$state/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name: already running (pid $(cat "$pidfile"))"
    continue
  fi
  # Someone else's server on our ports would answer the health checks below and be
  # taken for ours: refuse instead.
  for port in $((base + i - 1)) $((base + 2000 + i - 1)) $((base + 4000 + i - 1)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "start-nats-cluster: port $port is in use by another process; pick other ports with --base-port" >&2
      exit 1
    fi
  done
  mkdir -p "$state/$name"
  NATS_SERVER_NAME=$name \
  NATS_CLIENT_LISTEN=127.0.0.1:$((base + i - 1)) \
  NATS_HTTP_LISTEN=127.0.0.1:$((base + 4000 + i - 1)) \
  NATS_CLUSTER_LISTEN=127.0.0.1:$((base + 2000 + i - 1)) \
  NATS_ROUTE_1=nats://127.0.0.1:$((base + 2000)) \
  NATS_ROUTE_2=nats://127.0.0.1:$((base + 2001)) \
  NATS_ROUTE_3=nats://127.0.0.1:$((base + 2002)) \
  NATS_STORE_DIR="$state/$name" \
  NATS_MAX_FILE_STORE="${NATS_MAX_FILE_STORE:-8GB}" \
  NATS_SYNC_INTERVAL="$sync_interval" \
    setsid "$nats_server" -c "$conf" -P "$pidfile" -l "$state/$name.log" \
    </dev/null >/dev/null 2>&1 &
  echo "$name: started (nats-server $NATS_SERVER_VERSION, sync_interval $sync_interval, log $state/$name.log)"
done

echo "waiting for the nodes and the JetStream meta leader..."
deadline=$((SECONDS + 60))
while :; do
  ok=0 leader=""
  for i in 1 2 3; do
    port=$((base + 4000 + i - 1))
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      ok=$((ok + 1))
      l=$(curl -fsS "http://127.0.0.1:$port/jsz" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("meta_cluster",{}).get("leader",""))' 2>/dev/null || true)
      [ -n "$l" ] && leader=$l
    fi
  done
  [ $ok -eq 3 ] && [ -n "$leader" ] && break
  if [ $SECONDS -ge $deadline ]; then
    echo "start-nats-cluster: cluster not ready after 60 s ($ok/3 healthy, leader '${leader}'); see $state/*.log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "cluster ready: meta leader $leader"

if [ $streams -eq 1 ]; then
  pricing="$build/bin/pricing"
  if [ ! -x "$pricing" ]; then
    (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target pricing)
  fi
  # The meta leader answers the API a moment after it is elected: apply retries.
  if [ $secure -eq 1 ]; then
    NATS_URL=$urls NATS_CA="$tls/ca.pem" NATS_CERT="$tls/processor.pem" NATS_KEY="$tls/processor-key.pem" \
      "$pricing" streams apply --config "$config"
  else
    NATS_URL=$urls "$pricing" streams apply --config "$config"
  fi
fi
if [ $secure -eq 1 ]; then
  for user in processor publisher readonly; do
    printf 'export NATS_URL=%s\nexport NATS_CA=%s\nexport NATS_CERT=%s\nexport NATS_KEY=%s\n' \
      "$urls" "$tls/ca.pem" "$tls/$user.pem" "$tls/$user-key.pem" > "$tls/$user.env"
  done
  printf 'export NATS_URL=%s\nexport NATS_CA=%s\nexport NATS_CERT=%s\nexport NATS_KEY=%s\nexport NATS_NKEY=%s\nexport NATS_NKEY_SEED=%s\n' \
    "$urls" "$tls/ca.pem" "$tls/device.pem" "$tls/device-key.pem" "$NATS_DEVICE_NKEY" "$tls/device.nk" \
    > "$tls/device.env"
fi

echo "$urls" > "$state/urls"
if [ $secure -eq 1 ]; then
  secure_hint="source $tls/processor.env   (or publisher.env, readonly.env: TLS client certificates per user; device.env: an nkey)"
fi
cat <<TXT

client URLs:  $urls
monitoring:   http://127.0.0.1:$((base + 4000))  http://127.0.0.1:$((base + 4001))  http://127.0.0.1:$((base + 4002))
state:        $state
use it:       ${secure_hint:-export NATS_URL=$urls}
nats CLI:     scripts/nats stream report    (server-wide, as the system user: scripts/nats --system server report jetstream)
stop it:      scripts/stop-nats-cluster.sh${state:+ --state-dir $state}
TXT

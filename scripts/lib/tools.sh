# Sourced by the scripts: where the pinned tools of versions.env are installed.
#   tool_path nats-server    prints the pinned binary's path, or fails naming
#                            scripts/install-deps.sh when it is not installed.
# The tools live in .tools/<name>-<version>/ of the repository (scripts/install-deps.sh).
tools_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../versions.env
. "$tools_root/versions.env"

tool_version() {
  case "$1" in
    nats-server) echo "$NATS_SERVER_VERSION" ;;
    nats) echo "$NATSCLI_VERSION" ;;
    prometheus-nats-exporter) echo "$NATS_EXPORTER_VERSION" ;;
    kafka) echo "$KAFKA_VERSION" ;;
    *) echo "tools.sh: no pinned tool '$1'" >&2; return 2 ;;
  esac
}

tool_dir() { echo "$tools_root/.tools/$1-$(tool_version "$1")"; }

# The Kafka broker's class path (its jars), or fails naming scripts/install-deps.sh.
kafka_classpath() {
  local dir
  dir="$(tool_dir kafka)/libs"
  if ! ls "$dir"/kafka_2.13-*.jar >/dev/null 2>&1; then
    echo "$(basename "$0"): Kafka $(tool_version kafka) is not installed ($dir): run scripts/install-deps.sh" >&2
    return 1
  fi
  echo "$dir/*"
}

tool_path() {
  local path
  path="$(tool_dir "$1")/$1"
  if [ ! -x "$path" ]; then
    echo "$(basename "$0"): $1 $(tool_version "$1") is not installed ($path): run scripts/install-deps.sh" >&2
    return 1
  fi
  echo "$path"
}

# Checks a sync interval for nats.conf and prints it as the config file takes it from
# the environment: "always", or a duration in seconds or milliseconds ("2m" becomes
# "120s": nats.conf would read a bare 2m from the environment as a number).
nats_sync_interval() {
  case "$1" in
    always) echo always ;;
    *[0-9]ms) [[ "$1" =~ ^[0-9]+ms$ ]] && { echo "$1"; return 0; } ;;&
    *[0-9]s) [[ "$1" =~ ^[0-9]+s$ ]] && { echo "$1"; return 0; } ;;&
    *[0-9]m) [[ "$1" =~ ^[0-9]+m$ ]] && { echo "$(( ${1%m} * 60 ))s"; return 0; } ;;&
    *[0-9]h) [[ "$1" =~ ^[0-9]+h$ ]] && { echo "$(( ${1%h} * 3600 ))s"; return 0; } ;;&
    *)
      echo "$(basename "$0"): NATS_SYNC_INTERVAL '$1' is not allowed; use always or a duration such as 500ms, 10s, 2m, 1h" >&2
      return 2 ;;
  esac
}

#!/usr/bin/env bash
# Installs every build, test and run-time dependency:
#   - Debian 12 packages (compilers, libraries, Prometheus, Chromium, ...) with apt;
#   - the NATS tools pinned in versions.env (nats-server and the `nats` CLI), built from
#     their Go modules with `go install` into .tools/ of the repository (git-ignored),
#     one folder per tool and version;
#   - Apache Kafka's broker and its tools (versions.env), their jars fetched with Maven
#     into .tools/kafka-<version>/libs.
# Idempotent and non-interactive; a second run checks and returns in about a second.
# Run as root (or with sudo available) for the Debian packages.
#
#   scripts/install-deps.sh [--tools-only]
set -euo pipefail
# shellcheck source=lib/usage.sh
. "$(dirname "$0")/lib/usage.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
tools_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tools-only) tools_only=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) unknown_argument "$1" ;;
  esac
done

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-format curl
  # core libraries
  libeigen3-dev libyaml-cpp-dev libboost-dev libsimdjson-dev tzdata
  # messaging and observability (nats-server itself is built from versions.env below)
  libnats-dev librdkafka-dev prometheus-cpp-dev prometheus libcurl4-openssl-dev zlib1g-dev
  # the secure cluster's development CA, certificates and nkeys
  openssl
  # the chaos suite's network partition (ip netns, veth)
  iproute2
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-yaml
  # instruction counts of the ingest path (scripts/bench-callgrind.sh)
  valgrind
  # validates deploy/docker-compose-nats.yml (no Docker engine is needed)
  docker-compose
  # the Kafka brokers (a JVM) and the tool that fetches them
  openjdk-17-jre-headless maven
  # an independent Kafka client, to list the brokers (kcat -L)
  kcat
  # the live map test drives headless Chromium
  chromium
  # libFuzzer targets (fuzz/, scripts/fuzz.sh)
  clang libclang-rt-14-dev
)

if [ $tools_only -eq 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
    SUDO="sudo"
  fi
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} Debian packages already installed"
  else
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# The pinned Go tools. Each goes to .tools/<name>-<version>/<name>: a version change in
# versions.env installs the new one beside the old, and nothing half-built is taken
# for installed (a build goes to a temporary folder, then is moved into place).
. "$root/scripts/lib/tools.sh"
# The Prometheus NATS exporter is not among them: the module registry this project
# reaches refuses every version of github.com/nats-io/prometheus-nats-exporter; its
# pinned version serves the Docker Compose file's image only.
go_tools=(
  "nats-server github.com/nats-io/nats-server/v2@v$NATS_SERVER_VERSION"
  "nats github.com/nats-io/natscli/nats@v$NATSCLI_VERSION"
)
for entry in "${go_tools[@]}"; do
  read -r name module <<<"$entry"
  dir=$(tool_dir "$name")
  if [ -x "$dir/$name" ]; then
    echo "install-deps: $name $(tool_version "$name") already in $dir"
    continue
  fi
  command -v go >/dev/null || {
    echo "install-deps: building $name needs Go (the go command); it is not on PATH" >&2
    exit 1
  }
  echo "install-deps: building $name $(tool_version "$name") (go install $module)"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  # CGO off: static binaries that need nothing from the machine they were built on.
  GOBIN="$dir.partial" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" go install "$module"
  [ -x "$dir.partial/$name" ] || { echo "install-deps: go install built no $name" >&2; exit 1; }
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
done

# The Kafka broker: kafka_2.13's runtime dependencies are the release tarball's libs/,
# less the slf4j binding (versions.env), and kafka-tools for the peer benchmark
# (ProducerPerformance, the tarball's kafka-producer-perf-test). A small pom names
# them; Maven copies the jars.
kafka_dir=$(tool_dir kafka)
if ls "$kafka_dir"/libs/kafka_2.13-*.jar "$kafka_dir"/libs/kafka-tools-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
  echo "install-deps: kafka $KAFKA_VERSION already in $kafka_dir"
else
  command -v mvn >/dev/null || { echo "install-deps: fetching Kafka needs Maven (mvn); it is not on PATH" >&2; exit 1; }
  echo "install-deps: fetching kafka $KAFKA_VERSION (mvn dependency:copy-dependencies)"
  IFS=: read -r binding_group binding_artifact binding_version <<<"$KAFKA_SLF4J_BINDING"
  rm -rf "$kafka_dir.partial"
  mkdir -p "$kafka_dir.partial"
  cat > "$kafka_dir.partial/pom.xml" <<POM
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>pricing.local</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>$binding_group</groupId>
      <artifactId>$binding_artifact</artifactId>
      <version>$binding_version</version>
    </dependency>
  </dependencies>
</project>
POM
  (cd "$kafka_dir.partial" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory=libs)
  ls "$kafka_dir.partial"/libs/kafka_2.13-*.jar "$kafka_dir.partial"/libs/kafka-tools-"$KAFKA_VERSION".jar >/dev/null 2>&1 || {
    echo "install-deps: Maven fetched no kafka_2.13 or kafka-tools jar" >&2; exit 1; }
  rm -rf "$kafka_dir"
  mv "$kafka_dir.partial" "$kafka_dir"
fi
echo "install-deps: done"

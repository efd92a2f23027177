#!/usr/bin/env bash
# Installs every build, test and run-time dependency from Debian 12 packages.
# Idempotent and non-interactive; run as root (or with sudo available).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-format curl
  # core libraries
  libeigen3-dev libyaml-cpp-dev libboost-dev libsimdjson-dev tzdata
  # messaging and observability
  libnats-dev nats-server librdkafka-dev prometheus-cpp-dev prometheus libcurl4-openssl-dev zlib1g-dev
  # the secure cluster's development CA, certificates and nkeys
  openssl
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-yaml
  # validates deploy/docker-compose-nats.yml (no Docker engine is needed)
  docker-compose
  # the live map test drives headless Chromium
  chromium
  # libFuzzer targets (fuzz/, scripts/fuzz.sh)
  clang libclang-rt-14-dev
)

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
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"

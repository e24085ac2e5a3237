#!/usr/bin/env bash
# Installs exactly the Debian packages pgscale needs to build, run, test and benchmark.
# Idempotent: when every package is already present it only checks and exits (no apt-get update).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  libboost1.81-dev libssl-dev libpq-dev libyaml-cpp-dev libspdlog-dev libpg-query-dev
  libprotobuf-c-dev  # header only: libpg_query.a bundles the protobuf-c runtime; pg_query.pb-c.h needs protobuf-c.h
  # tests
  catch2 postgresql-15 postgresql-client-15 prometheus
  # benchmarks
  pgbouncer pgpool2 libbenchmark-dev
  # scripts
  procps iproute2 openssl
  # driver tests (tests/drivers): psycopg 3 and pgjdbc. node-pg is not listed: Debian's node-pg
  # cannot be installed next to the NodeSource nodejs of some machines (node-acorn needs nodejs:any);
  # node-postgres comes from npm instead (install_node_pg below).
  python3-psycopg libpostgresql-jdbc-java
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# node-postgres for tests/drivers, from the npm registry (the one driver Debian cannot give us here).
# Optional: without Node.js/npm or the registry the node_pg driver test skips and says why.
NODE_PG_VERSION=8.23.1
install_node_pg() {
  command -v npm >/dev/null 2>&1 || { echo "install-deps: no npm; node-postgres driver test will skip"; return 0; }
  local root
  root=$(npm root -g 2>/dev/null) || return 0
  if [ -f "$root/pg/package.json" ]; then return 0; fi
  echo "install-deps: npm install -g pg@$NODE_PG_VERSION"
  timeout 300 npm install -g --no-audit --no-fund "pg@$NODE_PG_VERSION" >/dev/null 2>&1 ||
    echo "install-deps: npm install of pg failed; node-postgres driver test will skip"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  install_node_pg
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "install-deps: installing ${missing[*]}"
# Package installs must not start system services (a default PostgreSQL on 5432, a pgbouncer,
# a pgpool, a prometheus): pgscale's scripts start exactly the servers they need, on their own ports.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
# Do not let postgresql-common create and start a default cluster.
$SUDO mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ] || ! grep -q '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
  echo 'create_main_cluster = false' | $SUDO tee -a /etc/postgresql-common/createcluster.conf >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_node_pg
echo "install-deps: done"

#!/usr/bin/env bash
# Fallback cluster for the benchmark when deploy/local-cluster.sh is not in the tree:
# shard 0 only (a primary on P and one streaming replica on P+1), same roles, TLS files and
# cluster.env variable names as the local-cluster contract, so bench/run.sh needs no second path.
#   mini-cluster.sh up DIR --base-port P     mini-cluster.sh down DIR
set -euo pipefail

PG_BIN=${PGSCALE_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: mini-cluster.sh up|down DIR [--base-port P]}
dir=${2:?DIR missing}
port=${PGSCALE_BASE_PORT:-15432}
if [ "${3:-}" = "--base-port" ]; then port=${4:?port missing}; fi

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

down() {
  local d
  for d in "$dir"/data/replica1 "$dir"/data/primary; do
    [ -f "$d/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$d" -m fast -w -t 30 stop >/dev/null || true
  done
}

up() {
  mkdir -p "$dir"/{data,run,tls,log}
  openssl req -new -x509 -days 30 -nodes -subj /CN=localhost -keyout "$dir/tls/server.key" \
    -out "$dir/tls/server.crt" >/dev/null 2>&1
  chmod 600 "$dir/tls/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  local app_pw mon_pw
  app_pw=$(openssl rand -hex 12)
  mon_pw=$(openssl rand -hex 12)
  as_pg "$PG_BIN/initdb" -D "$dir/data/primary" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --no-sync >"$dir/log/initdb.log"
  cat >>"$dir/data/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
max_connections = 300
shared_buffers = 128MB
ssl = on
ssl_cert_file = '$dir/tls/server.crt'
ssl_key_file = '$dir/tls/server.key'
wal_level = replica
max_wal_senders = 5
hot_standby = on
fsync = off
synchronous_commit = off
EOF
  echo "host replication replicator 127.0.0.1/32 scram-sha-256" >>"$dir/data/primary/pg_hba.conf"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data/primary" -l "$dir/log/primary.log" -w -t 60 start >/dev/null
  as_pg "$PG_BIN/psql" -h "$dir/run" -p "$port" -U postgres -qAt -v ON_ERROR_STOP=1 <<EOF
SET password_encryption = 'scram-sha-256';
CREATE ROLE app LOGIN PASSWORD '$app_pw';
CREATE ROLE pgscale_monitor LOGIN SUPERUSER PASSWORD '$mon_pw';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD '$mon_pw';
CREATE DATABASE appdb OWNER app;
EOF
  as_pg env PGPASSWORD="$mon_pw" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$port" \
    -U replicator -D "$dir/data/replica1" -R -X stream >"$dir/log/basebackup.log" 2>&1
  sed -i "s/^port = $port\$/port = $((port + 1))/" "$dir/data/replica1/postgresql.conf"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data/replica1" -l "$dir/log/replica1.log" -w -t 60 start >/dev/null
  cat >"$dir/cluster.env" <<EOF
PGSCALE_CLUSTER_DIR=$dir
PGSCALE_SOCKET_DIR=$dir/run
PGSCALE_PG_BIN=$PG_BIN
PGSCALE_S0_PRIMARY_PORT=$port
PGSCALE_S0_REPLICA1_PORT=$((port + 1))
PGSCALE_PROXY_PORT=$((port + 10))
PGSCALE_ADMIN_PORT=$((port + 11))
PGSCALE_APP_USER=app
PGSCALE_APP_PASSWORD=$app_pw
PGSCALE_APP_DB=appdb
PGSCALE_MONITOR_USER=pgscale_monitor
PGSCALE_MONITOR_PASSWORD=$mon_pw
PGSCALE_TLS_CERT=$dir/tls/server.crt
PGSCALE_TLS_KEY=$dir/tls/server.key
EOF
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: mini-cluster.sh up|down DIR [--base-port P]" >&2; exit 2 ;;
esac

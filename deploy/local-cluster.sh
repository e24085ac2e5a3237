#!/usr/bin/env bash
# A real local PostgreSQL 15 cluster on 127.0.0.1 for pgscale development and tests.
#
#   deploy/local-cluster.sh up     DIR [--base-port P] [--sync]
#   deploy/local-cluster.sh down   DIR
#   deploy/local-cluster.sh status DIR
#
# Layout (base port P, env PGSCALE_BASE_PORT, default 15432):
#   shard s0: s0-primary on P, streaming replicas s0-replica1 on P+1, s0-replica2 on P+2
#   shard s1: s1-primary on P+3, streaming replica s1-replica1 on P+4
#   pgscale (per the generated DIR/pgscale.yaml) on P+10, its admin HTTP on P+11.
# Replicas are made with pg_basebackup and stream through physical replication slots.
# Superuser `postgres` connects over the unix socket in DIR/run with trust; TCP needs SCRAM passwords
# (see DIR/cluster.env). PostgreSQL refuses to run as root, so when invoked as root the servers run
# as user `postgres` and DIR is chowned to it.
#
# `up` returns only when every replica streams. Run again on a DIR that holds a cluster, it starts
# whatever is stopped and reuses the cluster. `down` stops the servers of DIR and the daemons whose
# PIDs tests wrote to DIR/pids/*.pid, and nothing else. `status` exits 3 when a node is down.
set -euo pipefail

PG_BIN=${PGSCALE_PG_BIN:-/usr/lib/postgresql/15/bin}
STREAM_TIMEOUT=${PGSCALE_STREAM_TIMEOUT:-90}   # seconds `up` waits for every replica to stream
STOP_TIMEOUT=30                                 # seconds pg_ctl may take to stop one node
DEFAULT_BASE_PORT=15432

NODES=(s0-primary s0-replica1 s0-replica2 s1-primary s1-replica1)
PRIMARIES=(s0-primary s1-primary)
REPLICAS=(s0-replica1 s0-replica2 s1-replica1)
declare -A OFFSET=([s0-primary]=0 [s0-replica1]=1 [s0-replica2]=2 [s1-primary]=3 [s1-replica1]=4)
declare -A UPSTREAM=([s0-replica1]=s0-primary [s0-replica2]=s0-primary [s1-replica1]=s1-primary)

die() { echo "local-cluster: error: $*" >&2; exit 1; }
say() { echo "local-cluster: $*"; }

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

# --- running things as the server user ---------------------------------------------------------

if [[ $EUID -eq 0 ]]; then RUN_USER=postgres; else RUN_USER=$(id -un); fi

# Runs a command as the server user. From / because postgres cannot enter root's working dir.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# sql PORT SQL...: superuser over the socket; each SQL argument is sent as its own statement.
sql() {
  local port=$1; shift
  local args=()
  for s in "$@"; do args+=(-c "$s"); done
  "$PG_BIN/psql" -h "$RUN_DIR" -p "$port" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 "${args[@]}"
}

port_of() { echo $((BASE_PORT + OFFSET[$1])); }
data_of() { echo "$DATA_DIR/$1"; }
slot_of() { echo "${1//-/_}"; }   # slot names allow only [a-z0-9_]

# The postmaster PID of a data dir if that postmaster is alive, else nothing.
live_pid() {
  local pidfile="$1/postmaster.pid" pid
  [[ -f $pidfile ]] || return 1
  pid=$(head -n1 "$pidfile" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_busy() { ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }

# --- arguments ---------------------------------------------------------------------------------

parse_args() {
  CMD=${1:-}; shift || true
  DIR_ARG=""; BASE_PORT_ARG=""; SYNC=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --base-port) [[ $# -ge 2 ]] || die "--base-port needs a value"; BASE_PORT_ARG=$2; shift 2 ;;
      --base-port=*) BASE_PORT_ARG=${1#*=}; shift ;;
      --sync) SYNC=1; shift ;;
      -h|--help) usage ;;
      -*) die "unknown option $1" ;;
      *) [[ -z $DIR_ARG ]] || die "one DIR only (got '$DIR_ARG' and '$1')"; DIR_ARG=$1; shift ;;
    esac
  done
  case "$CMD" in up|down|status) ;; *) usage ;; esac
  [[ -n $DIR_ARG ]] || usage
  if [[ -z $BASE_PORT_ARG && -n ${PGSCALE_BASE_PORT:-} ]]; then BASE_PORT_ARG=$PGSCALE_BASE_PORT; fi
  if [[ -n $BASE_PORT_ARG ]]; then
    if ! [[ $BASE_PORT_ARG =~ ^[0-9]+$ ]] || ((BASE_PORT_ARG < 1024 || BASE_PORT_ARG > 65495)); then
      die "base port must be 1024..65495, got '$BASE_PORT_ARG'"
    fi
  fi
}

set_paths() {
  DIR=$1
  RUN_DIR=$DIR/run; DATA_DIR=$DIR/data; LOG_DIR=$DIR/logs; TLS_DIR=$DIR/tls; PID_DIR=$DIR/pids
  MARKER=$DIR/.local-cluster
}

# --- up ----------------------------------------------------------------------------------------

check_prerequisites() {
  [[ -x $PG_BIN/postgres ]] || die "no PostgreSQL 15 in $PG_BIN (run deploy/install-deps.sh)"
  for t in openssl ss; do command -v "$t" >/dev/null || die "'$t' not found (run deploy/install-deps.sh)"; done
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (run deploy/install-deps.sh)"
    command -v runuser >/dev/null || die "'runuser' not found"
  fi
}

# DIR must be empty, ours (an earlier, unfinished `up`), or hold a cluster (handled by the caller).
prepare_dir() {
  # Paths go into postgresql.conf between single quotes and into YAML: keep them plain.
  [[ $DIR =~ ^[A-Za-z0-9._/+-]+$ ]] || die "DIR '$DIR' may contain only letters, digits and . _ / + -"
  # A unix socket path is limited to 107 bytes.
  ((${#RUN_DIR} + 20 <= 107)) || die "DIR '$DIR' is too long for unix socket paths; use a shorter one"
  if [[ -f $MARKER ]]; then
    say "removing the remains of an unfinished 'up' in $DIR"
    stop_all_nodes quiet
    rm -rf "${DATA_DIR:?}" "$RUN_DIR" "$LOG_DIR" "$TLS_DIR" "$PID_DIR" "$DIR/pgscale.yaml" "$MARKER"
  elif [[ -n $(ls -A "$DIR") ]]; then
    die "$DIR is not empty and holds no cluster made by this script; choose an empty or new directory"
  fi
}

check_ports() {
  local n p busy=()
  for n in "${NODES[@]}"; do p=$(port_of "$n"); if port_busy "$p"; then busy+=("$p"); fi; done
  ((${#busy[@]} == 0)) || die "port(s) ${busy[*]} already in use on this machine; choose another --base-port"
  for p in $((BASE_PORT + 10)) $((BASE_PORT + 11)); do
    if port_busy "$p"; then say "warning: port $p (for pgscale) is already in use"; fi
  done
}

make_dirs() {
  touch "$MARKER"
  mkdir -p "$RUN_DIR" "$DATA_DIR" "$LOG_DIR" "$TLS_DIR" "$PID_DIR"
  chmod 0755 "$DIR" "$RUN_DIR" "$DATA_DIR" "$LOG_DIR"
  chmod 0700 "$TLS_DIR"
  chmod 1777 "$PID_DIR"   # any test (root or not) may register the daemons it starts
  if [[ $EUID -eq 0 ]]; then chown postgres: "$DIR" "$RUN_DIR" "$DATA_DIR" "$LOG_DIR" "$TLS_DIR"; fi
}

# As root the servers run as postgres, who must be able to walk down to DIR.
check_reachable() {
  [[ $EUID -eq 0 ]] || return 0
  chown postgres: "$DIR"
  chmod 0755 "$DIR"
  if ! as_pg test -w "$DIR"; then
    die "user postgres cannot reach $DIR (a parent directory is not traversable, e.g. /root is 0700);
       use a directory under /tmp or /var/tmp, or make every parent o+x"
  fi
}

make_tls() {
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.crt" >"$LOG_DIR/openssl.log" 2>&1 ||
    die "openssl failed: $(cat "$LOG_DIR/openssl.log")"
  chmod 0600 "$TLS_DIR/server.key"; chmod 0644 "$TLS_DIR/server.crt"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$TLS_DIR/server.key" "$TLS_DIR/server.crt"; fi
}

# Settings shared by every node (replicas inherit them through pg_basebackup). Small-machine tuning;
# max_connections leaves room for a 200-client direct baseline while the benchmark's proxies keep
# their idle server connections (six pgscale targets of 20, PgBouncer's 20, up to 200 Pgpool-II
# children): 300 was exhausted once a sixth pgscale target joined.
common_conf() {
  cat <<EOF

# ---- added by pgscale deploy/local-cluster.sh ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN_DIR'
max_connections = 600
shared_buffers = 64MB
work_mem = 4MB
maintenance_work_mem = 32MB
jit = off
password_encryption = scram-sha-256
ssl = on
ssl_cert_file = '$TLS_DIR/server.crt'
ssl_key_file = '$TLS_DIR/server.key'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
max_wal_size = 256MB
min_wal_size = 64MB
wal_log_hints = on                    # lets pg_rewind turn a failed primary into a standby
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s     # replicas report replay LSN often: lag is seen quickly
logging_collector = on
log_directory = '$LOG_DIR'
log_file_mode = 0644
log_rotation_age = 0
log_rotation_size = 0
log_line_prefix = '%m [%p] %q%u@%d/%a '
include_if_exists = 'node.conf'       # per-node: port, name, log file
EOF
}

write_node_conf() {
  local node=$1
  cat >"$(data_of "$node")/node.conf" <<EOF
# per-node settings of $node (deploy/local-cluster.sh)
port = $(port_of "$node")
cluster_name = '$node'
log_filename = '$node.log'
EOF
  if [[ $EUID -eq 0 ]]; then chown postgres: "$(data_of "$node")/node.conf"; fi
}

init_primary() {
  local node=$1 data
  data=$(data_of "$node")
  as_pg "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --no-locale --no-sync --no-instructions \
    --auth-local=trust --auth-host=scram-sha-256 >"$LOG_DIR/$node.initdb.log" 2>&1 ||
    { echo "initdb of $node failed, see $LOG_DIR/$node.initdb.log" >&2; return 1; }
  common_conf | as_pg tee -a "$data/postgresql.conf" >/dev/null
  write_node_conf "$node"
}

start_node() {
  local node=$1
  as_pg "$PG_BIN/pg_ctl" -D "$(data_of "$node")" -l "$LOG_DIR/$node.startup.log" -w -t 60 start \
    >/dev/null 2>&1 ||
    { echo "$node did not start, see $LOG_DIR/$node.startup.log and $LOG_DIR/$node.log" >&2; return 1; }
}

# Runs "FUNC ARG" for every ARG in parallel and fails if any failed.
parallel() {
  local fn=$1; shift
  local pids=() a rc=0
  for a in "$@"; do "$fn" "$a" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

# Roles are created on s0-primary; s1-primary gets the very same SCRAM verifiers, so one verifier in
# pgscale.yaml is valid on every server (SCRAM pass-through needs the servers' salt and iterations).
create_roles() {
  local p0 p1 verifiers
  p0=$(port_of s0-primary); p1=$(port_of s1-primary)
  sql "$p0" "CREATE ROLE replicator LOGIN REPLICATION PASSWORD '$REPL_PASSWORD'" \
    "CREATE ROLE pgscale_monitor LOGIN SUPERUSER PASSWORD '$MONITOR_PASSWORD'" \
    "CREATE ROLE app LOGIN PASSWORD '$APP_PASSWORD'" \
    "CREATE DATABASE appdb OWNER app" >/dev/null
  verifiers=$(sql "$p0" "SELECT rolname || ' ' || rolpassword FROM pg_authid
                         WHERE rolname IN ('replicator', 'pgscale_monitor', 'app') ORDER BY rolname")
  APP_VERIFIER=$(awk '$1 == "app" {print $2}' <<<"$verifiers")
  [[ $APP_VERIFIER == SCRAM-SHA-256\$* ]] || die "app's password is not a SCRAM verifier: '$APP_VERIFIER'"
  sql "$p1" "CREATE ROLE replicator LOGIN REPLICATION PASSWORD '$(awk '$1 == "replicator" {print $2}' <<<"$verifiers")'" \
    "CREATE ROLE pgscale_monitor LOGIN SUPERUSER PASSWORD '$(awk '$1 == "pgscale_monitor" {print $2}' <<<"$verifiers")'" \
    "CREATE ROLE app LOGIN PASSWORD '$APP_VERIFIER'" \
    "CREATE DATABASE appdb OWNER app" >/dev/null
}

make_replica() {
  local node=$1 up data slot
  up=${UPSTREAM[$node]}; data=$(data_of "$node"); slot=$(slot_of "$node")
  as_pg "$PG_BIN/pg_basebackup" -h "$RUN_DIR" -p "$(port_of "$up")" -U replicator -D "$data" \
    -X stream -c fast -C -S "$slot" --no-sync >"$LOG_DIR/$node.basebackup.log" 2>&1 ||
    { echo "pg_basebackup of $node failed, see $LOG_DIR/$node.basebackup.log" >&2; return 1; }
  write_node_conf "$node"
  # TCP with a password, as a repointed standby would connect after a failover.
  as_pg tee -a "$data/postgresql.auto.conf" >/dev/null <<EOF
primary_conninfo = 'host=127.0.0.1 port=$(port_of "$up") user=replicator password=$REPL_PASSWORD application_name=$node'
primary_slot_name = '$slot'
EOF
  as_pg touch "$data/standby.signal"
}

replicas_of() {
  local r
  for r in "${REPLICAS[@]}"; do if [[ ${UPSTREAM[$r]} == "$1" ]]; then echo "$r"; fi; done
}

# Synchronous replication: a commit on a primary waits for any one of its replicas.
apply_sync_mode() {
  local p names value
  for p in "${PRIMARIES[@]}"; do
    if ((SYNC)); then
      names=$(replicas_of "$p" | sed 's/.*/"&"/' | paste -sd, | sed 's/,/, /g')
      value="ANY 1 ($names)"
      sql "$(port_of "$p")" "ALTER SYSTEM SET synchronous_standby_names = '$value'" "SELECT pg_reload_conf()" >/dev/null
    else
      sql "$(port_of "$p")" "ALTER SYSTEM RESET synchronous_standby_names" "SELECT pg_reload_conf()" >/dev/null
    fi
  done
}

# Bounded wait until every primary's pg_stat_replication lists all its replicas as streaming (and,
# with --sync, as quorum standbys).
wait_streaming() {
  local deadline=$((SECONDS + STREAM_TIMEOUT)) p want got ok sync_cond=""
  ((SYNC)) && sync_cond="AND sync_state IN ('quorum', 'sync')"
  while :; do
    ok=1
    for p in "${PRIMARIES[@]}"; do
      want=$(replicas_of "$p" | sort | paste -sd,)
      got=$(sql "$(port_of "$p")" "SELECT coalesce(string_agg(application_name, ',' ORDER BY application_name), '')
              FROM pg_stat_replication WHERE state = 'streaming' $sync_cond" 2>/dev/null || true)
      [[ $got == "$want" ]] || ok=0
    done
    ((ok)) && return 0
    if ((SECONDS >= deadline)); then
      echo "local-cluster: error: replicas not all streaming after ${STREAM_TIMEOUT}s:" >&2
      for p in "${PRIMARIES[@]}"; do
        echo "  $p pg_stat_replication:" >&2
        sql "$(port_of "$p")" "SELECT application_name, state, sync_state FROM pg_stat_replication" >&2 || true
      done
      echo "  logs: $LOG_DIR" >&2
      return 1
    fi
    sleep 0.2
  done
}

yaml_node() {
  local node=$1 role=primary prio=100
  if [[ -n ${UPSTREAM[$node]:-} ]]; then role=replica; prio=$((100 - 10 * ${node##*replica})); fi
  echo "      - {name: $node, host: 127.0.0.1, port: $(port_of "$node"), role: $role, priority: $prio, weight: 1}"
}

write_pgscale_yaml() {
  local tmp=$DIR/pgscale.yaml.tmp
  cat >"$tmp" <<EOF
# pgscale topology for the local cluster in $DIR (base port $BASE_PORT),
# generated by deploy/local-cluster.sh. Reference: README.md.
listen:
  address: 127.0.0.1
  port: $((BASE_PORT + 10))
  tls: {mode: allow, cert_file: $TLS_DIR/server.crt, key_file: $TLS_DIR/server.key}
admin: {http_address: 127.0.0.1, http_port: $((BASE_PORT + 11))}
log: {level: info}
users:
  # password: the SCRAM verifier of role app, copied from pg_authid (identical on every server),
  # so pgscale verifies clients and logs in to the servers without knowing the plaintext.
  - {name: app, auth: scram-sha-256, password: "$APP_VERIFIER", databases: [appdb]}
pool: {mode: transaction, max_size: 20}
routing: {read_write_split: true}
monitor: {user: pgscale_monitor, password: "$MONITOR_PASSWORD", database: postgres}
failover: {enabled: false}
sharding: {virtual_shards: 1024}
shards:
  - name: s0
    buckets: [[0, 511]]
    nodes:
$(yaml_node s0-primary)
$(yaml_node s0-replica1)
$(yaml_node s0-replica2)
  - name: s1
    buckets: [[512, 1023]]
    nodes:
$(yaml_node s1-primary)
$(yaml_node s1-replica1)
EOF
  chmod 0644 "$tmp"
  mv "$tmp" "$DIR/pgscale.yaml"
}

# Written last: its presence means the cluster is complete.
write_cluster_env() {
  local tmp=$DIR/cluster.env.tmp
  cat >"$tmp" <<EOF
# Local pgscale cluster, written by deploy/local-cluster.sh. Source it: . $DIR/cluster.env
PGSCALE_CLUSTER_DIR=$DIR
PGSCALE_SOCKET_DIR=$RUN_DIR
PGSCALE_PG_BIN=$PG_BIN
PGSCALE_BASE_PORT=$BASE_PORT
PGSCALE_S0_PRIMARY_PORT=$(port_of s0-primary)
PGSCALE_S0_REPLICA1_PORT=$(port_of s0-replica1)
PGSCALE_S0_REPLICA2_PORT=$(port_of s0-replica2)
PGSCALE_S1_PRIMARY_PORT=$(port_of s1-primary)
PGSCALE_S1_REPLICA1_PORT=$(port_of s1-replica1)
PGSCALE_PROXY_PORT=$((BASE_PORT + 10))
PGSCALE_ADMIN_PORT=$((BASE_PORT + 11))
PGSCALE_APP_USER=app
PGSCALE_APP_PASSWORD=$APP_PASSWORD
PGSCALE_APP_DB=appdb
PGSCALE_MONITOR_USER=pgscale_monitor
PGSCALE_MONITOR_PASSWORD=$MONITOR_PASSWORD
PGSCALE_REPLICATION_USER=replicator
PGSCALE_REPLICATION_PASSWORD=$REPL_PASSWORD
PGSCALE_TLS_CERT=$TLS_DIR/server.crt
PGSCALE_TLS_KEY=$TLS_DIR/server.key
PGSCALE_CONFIG=$DIR/pgscale.yaml
PGSCALE_PID_DIR=$PID_DIR
PGSCALE_SERVER_USER=$RUN_USER
PGSCALE_SYNC=$SYNC
EOF
  chmod 0644 "$tmp"   # a throw-away local cluster: tests running as any user must read it
  mv "$tmp" "$DIR/cluster.env"
}

# On failure during a fresh `up`: stop what was started, keep files for the post-mortem.
up_failed() {
  local rc=$?
  trap - EXIT
  if ((rc != 0)); then
    echo "local-cluster: 'up' failed; stopping the nodes it started (logs kept in $LOG_DIR)" >&2
    stop_all_nodes quiet || true
  fi
  exit $rc
}

cmd_up() {
  check_prerequisites
  mkdir -p "$DIR_ARG" || die "cannot create $DIR_ARG"
  set_paths "$(cd "$DIR_ARG" && pwd -P)"
  if [[ -f $DIR/cluster.env ]]; then reuse_cluster; return; fi
  prepare_dir
  BASE_PORT=${BASE_PORT_ARG:-$DEFAULT_BASE_PORT}
  check_ports
  check_reachable
  local t0=$SECONDS
  trap up_failed EXIT
  make_dirs
  APP_PASSWORD=$(openssl rand -hex 12)
  MONITOR_PASSWORD=$(openssl rand -hex 12)
  REPL_PASSWORD=$(openssl rand -hex 12)
  make_tls
  say "initdb of ${PRIMARIES[*]} in $DATA_DIR"
  parallel init_primary "${PRIMARIES[@]}" || die "initdb failed"
  parallel start_node "${PRIMARIES[@]}" || die "a primary did not start"
  create_roles
  say "pg_basebackup of ${REPLICAS[*]}"
  parallel make_replica "${REPLICAS[@]}" || die "pg_basebackup failed"
  parallel start_node "${REPLICAS[@]}" || die "a replica did not start"
  apply_sync_mode
  wait_streaming || exit 1
  write_pgscale_yaml
  write_cluster_env
  rm -f "$MARKER"
  trap - EXIT
  say "cluster up in $((SECONDS - t0))s (sync replication: $( ((SYNC)) && echo on || echo off))"
  print_summary
}

# `up` on a DIR that already holds a cluster: start whatever is stopped, wait for streaming.
reuse_cluster() {
  load_env
  if [[ -n $BASE_PORT_ARG && $BASE_PORT_ARG != "$BASE_PORT" ]]; then
    die "$DIR holds a cluster on base port $BASE_PORT, not $BASE_PORT_ARG ('down' it and remove $DIR first)"
  fi
  local n stopped=()
  for n in "${NODES[@]}"; do live_pid "$(data_of "$n")" >/dev/null || stopped+=("$n"); done
  if ((${#stopped[@]})); then
    say "starting ${stopped[*]} of the existing cluster in $DIR"
    parallel start_node "${stopped[@]}" || die "a node did not start"
  else
    say "reusing the running cluster in $DIR"
  fi
  apply_sync_mode
  wait_streaming || exit 1
  sed -i "s/^PGSCALE_SYNC=.*/PGSCALE_SYNC=$SYNC/" "$DIR/cluster.env"
  print_summary
}

print_summary() {
  cmd_status_body || true
  echo
  echo "  config:   $DIR/pgscale.yaml"
  echo "  env:      . $DIR/cluster.env     (export PGSCALE_CLUSTER_DIR=$DIR for the tests)"
  echo "  psql:     psql -h $RUN_DIR -p $BASE_PORT -U postgres    # superuser, socket"
  echo "  app:      postgresql://app:$APP_PASSWORD@127.0.0.1:$BASE_PORT/appdb  (pgscale: port $((BASE_PORT + 10)))"
  echo "  stop:     $0 down $DIR"
}

load_env() {
  [[ -f $DIR/cluster.env ]] || die "no cluster in $DIR (no cluster.env)"
  local PGSCALE_BASE_PORT=""
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
  BASE_PORT=${PGSCALE_BASE_PORT:-$PGSCALE_S0_PRIMARY_PORT}
  APP_PASSWORD=$PGSCALE_APP_PASSWORD
}

# --- status ------------------------------------------------------------------------------------

cmd_status_body() {
  local n port rc=0 row
  printf '%-12s %-8s %-6s %-8s %s\n' NODE ROLE PORT STATE LSN
  for n in "${NODES[@]}"; do
    port=$(port_of "$n")
    if ! live_pid "$(data_of "$n")" >/dev/null; then
      printf '%-12s %-8s %-6s %-8s %s\n' "$n" - "$port" down -; rc=3; continue
    fi
    row=$(sql "$port" "SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END || ' ' ||
                 CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn()::text, '-') || ' (replayed)'
                      ELSE pg_current_wal_lsn()::text || ' (current)' END" 2>/dev/null) ||
      { printf '%-12s %-8s %-6s %-8s %s\n' "$n" '?' "$port" 'no-conn' -; rc=3; continue; }
    printf '%-12s %-8s %-6s %-8s %s\n' "$n" "${row%% *}" "$port" running "${row#* }"
  done
  return $rc
}

cmd_status() {
  [[ -d $DIR_ARG ]] || die "no such directory $DIR_ARG"
  set_paths "$(cd "$DIR_ARG" && pwd -P)"
  load_env
  cmd_status_body
}

# --- down --------------------------------------------------------------------------------------

# Daemons that tests registered in DIR/pids/NAME.pid. A PID is signalled only if its process started
# before the file was written: a recycled PID belongs to someone else.
stop_registered_pids() {
  [[ -d $PID_DIR ]] || return 0
  local f pid started mtime pids=() files=()
  for f in "$PID_DIR"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(head -n1 "$f" | tr -dc 0-9)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      started=$(date -d "$(ps -o lstart= -p "$pid")" +%s 2>/dev/null || echo 0)
      mtime=$(stat -c %Y "$f")
      if ((started <= mtime + 1)); then
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        say "stopping $(basename "$f" .pid) (pid $pid)"
      fi
    fi
    files+=("$f")
  done
  local deadline=$((SECONDS + 20)) alive
  while ((${#pids[@]})); do
    alive=()
    for pid in "${pids[@]}"; do if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); fi; done
    pids=("${alive[@]+"${alive[@]}"}")
    ((${#pids[@]})) || break
    if ((SECONDS >= deadline)); then
      say "killing ${pids[*]} (did not exit on SIGTERM within 20s)"
      kill -KILL "${pids[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  if ((${#files[@]})); then rm -f "${files[@]}"; fi
}

stop_node() {
  local data=$1 pid
  pid=$(live_pid "$data") || return 0
  if as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t "$STOP_TIMEOUT" stop >/dev/null 2>&1; then return 0; fi
  # pg_ctl could not: signal the postmaster by PID, after checking it really serves this data dir
  # (a postmaster's working directory is its data directory).
  pid=$(live_pid "$data") || return 0
  if [[ $(readlink -f "/proc/$pid/cwd" 2>/dev/null) != "$(readlink -f "$data")" ]]; then
    echo "local-cluster: pid $pid in $data/postmaster.pid is not its postmaster; not touching it" >&2
    return 1
  fi
  kill -QUIT "$pid" 2>/dev/null || true   # immediate shutdown
  local i
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_all_nodes() {
  local quiet=${1:-} d dirs=() running=()
  [[ -d $DATA_DIR ]] || return 0
  for d in "$DATA_DIR"/*/; do
    d=${d%/}
    [[ -f $d/PG_VERSION ]] || continue
    dirs+=("$d")
    if live_pid "$d" >/dev/null; then running+=("$(basename "$d")"); fi
  done
  ((${#running[@]})) || return 0
  [[ $quiet == quiet ]] || say "stopping ${running[*]}"
  parallel stop_node "${dirs[@]}"
}

cmd_down() {
  if [[ ! -d $DIR_ARG ]]; then say "no such directory $DIR_ARG: nothing to stop"; return 0; fi
  set_paths "$(cd "$DIR_ARG" && pwd -P)"
  stop_registered_pids
  stop_all_nodes || die "some node could not be stopped"
  say "cluster in $DIR is down (data kept; remove the directory to discard it)"
}

main() {
  parse_args "$@"
  case "$CMD" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
  esac
}

main "$@"

# shellcheck shell=bash
# Start/stop PgBouncer, Pgpool-II and pgscale for bench/run.sh (sourced).
# Each start_* fills T_PORT[name] and T_PID[name], or T_ERR[name] with why it is not available.
# Needs: LIB, WORK, PG_BIN, POOL_SIZE, PGPOOL_CHILDREN, the cluster.env variables.

declare -gA T_PORT=() T_PID=() T_ERR=()

# The app user's SCRAM verifier, as PostgreSQL stores it: PgBouncer and pgscale authenticate
# clients with it (no clear-text password in their files).
app_verifier() {
  su_psql "$PGSCALE_S0_PRIMARY_PORT" \
    "SELECT rolpassword FROM pg_authid WHERE rolname = '$PGSCALE_APP_USER'"
}

# Replica ports of shard 0 present in cluster.env (the fallback cluster has one, the full two).
replica_ports() {
  local v
  for v in PGSCALE_S0_REPLICA1_PORT PGSCALE_S0_REPLICA2_PORT; do
    [ -n "${!v:-}" ] && echo "${!v}"
  done
  return 0
}

# The app user's secret for client authentication BENCH_CLIENT_AUTH (default scram-sha-256: the
# verifier; md5, bench/login.sh only: the clear-text password, from which either proxy answers
# md5 and still logs in to PostgreSQL with SCRAM).
client_auth() { echo "${BENCH_CLIENT_AUTH:-scram-sha-256}"; }
client_secret() {
  if [ "$(client_auth)" = md5 ]; then echo "$PGSCALE_APP_PASSWORD"; else app_verifier; fi
}

# start_pgbouncer NAME PORT [SERVER_HOST]: SERVER_HOST (default 127.0.0.1) may be the cluster's
# unix-socket directory, PGSCALE_SOCKET_DIR (target pgbouncer-unix): everything else is the same.
start_pgbouncer() {
  local name=$1 port=$2 server_host=${3:-127.0.0.1} dir="$WORK/$1" err pid
  mkdir -p "$dir"
  printf '"%s" "%s"\n' "$PGSCALE_APP_USER" "$(client_secret)" >"$dir/userlist.txt"
  fill_template "$LIB/pgbouncer.ini.in" "$dir/pgbouncer.ini" PORT="$port" DIR="$dir" SERVER_HOST="$server_host" \
    AUTH_TYPE="$(client_auth)" \
    APP_DB="$PGSCALE_APP_DB" PRIMARY_PORT="$PGSCALE_S0_PRIMARY_PORT" POOL_SIZE="$POOL_SIZE" \
    TLS_CERT="$dir/server.crt" TLS_KEY="$dir/server.key"
  # Own copies of the cert/key: the daemon runs as postgres and wants a 0600 key it owns.
  cp "$PGSCALE_TLS_CERT" "$dir/server.crt"
  cp "$PGSCALE_TLS_KEY" "$dir/server.key"
  chmod 600 "$dir/userlist.txt" "$dir/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  # The daemon runs as postgres (as_pg_daemon): it must be able to open the server's socket.
  if [[ $server_host == /* ]] && ! as_pg test -S "$server_host/.s.PGSQL.$PGSCALE_S0_PRIMARY_PORT" -a \
    -w "$server_host/.s.PGSQL.$PGSCALE_S0_PRIMARY_PORT" 2>/dev/null; then
    T_ERR[$name]="pgbouncer not started: its user ($(if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi)) cannot open the socket $server_host/.s.PGSQL.$PGSCALE_S0_PRIMARY_PORT"
    T_PORT[$name]=$port
    return 0
  fi
  if ! (as_pg_daemon pgbouncer -d -q "$dir/pgbouncer.ini") >"$dir/start.log" 2>&1; then
    T_ERR[$name]="pgbouncer failed to start: $(tail -n 3 "$dir/start.log" "$dir/pgbouncer.log" 2>/dev/null | tr '\n' ' ')"
    return 0
  fi
  sleep 0.3
  pid=$(tr -dc 0-9 2>/dev/null <"$dir/pgbouncer.pid" || true)
  if ! err=$(wait_serving "$port" 15 "$pid"); then
    T_ERR[$name]="pgbouncer not serving: $err $(tail -n 2 "$dir/pgbouncer.log" 2>/dev/null | tr '\n' ' ')"
  fi
  T_PID[$name]=$pid
  T_PORT[$name]=$port
}

pgpool_backends() {
  local i=0 p
  for p in "$PGSCALE_S0_PRIMARY_PORT" $(replica_ports); do
    # Reads go to the replicas only (weight 0 on the primary), as with pgscale's split.
    local w=1
    [ "$i" = 0 ] && [ -n "$(replica_ports)" ] && w=0
    printf "backend_hostname%d = '127.0.0.1'\nbackend_port%d = %s\nbackend_weight%d = %s\n" \
      "$i" "$i" "$p" "$i" "$w"
    printf "backend_data_directory%d = '/nonexistent'\nbackend_flag%d = 'ALLOW_TO_FAILOVER'\n" "$i" "$i"
    i=$((i + 1))
  done
}

start_pgpool() { # NAME PORT SSL(on|off) CHILDREN
  local name=$1 port=$2 ssl=$3 children=$4 dir="$WORK/$1" err pid
  mkdir -p "$dir"
  fill_template "$LIB/pgpool.conf.in" "$dir/pgpool.conf" PORT="$port" PCP_PORT="$((port + 1))" \
    DIR="$dir" BACKENDS="$(pgpool_backends)" CHILDREN="$children" CONN_LIFE=5 SSL="$ssl" \
    MON_USER="$PGSCALE_MONITOR_USER" TLS_CERT="$dir/server.crt" TLS_KEY="$dir/server.key"
  cp "$LIB/pool_hba.conf.in" "$dir/pool_hba.conf"
  # Pgpool-II must log in to every backend itself for SCRAM, so it needs the passwords
  # (the TEXT prefix = clear text; AES-encrypted entries would need a key file as well).
  printf '%s:TEXT%s\n%s:TEXT%s\n' "$PGSCALE_APP_USER" "$PGSCALE_APP_PASSWORD" \
    "$PGSCALE_MONITOR_USER" "$PGSCALE_MONITOR_PASSWORD" >"$dir/pool_passwd"
  printf 'bench:%s\n' "$(printf 'unused' | md5sum | cut -d' ' -f1)" >"$dir/pcp.conf"
  cp "$PGSCALE_TLS_CERT" "$dir/server.crt"
  cp "$PGSCALE_TLS_KEY" "$dir/server.key"
  chmod 600 "$dir/pool_passwd" "$dir/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  # -n (foreground, in the background here) keeps its log on our file; -D ignores a stale
  # pgpool_status from an earlier run in this dir (all backends start "up").
  # setsid: its own session, as every daemon here has (see start_pgscale).
  (as_pg_daemon setsid pgpool -n -D -f "$dir/pgpool.conf" -a "$dir/pool_hba.conf" -F "$dir/pcp.conf") \
    >>"$dir/pgpool.log" 2>&1 &
  local i
  for ((i = 0; i < 40; i++)); do
    pid=$(tr -dc 0-9 2>/dev/null <"$dir/pgpool.pid" || true)  # the file is NUL-padded
    [ -n "$pid" ] && break
    sleep 0.25
  done
  if ! err=$(wait_serving "$port" 20 "$pid"); then
    T_ERR[$name]="pgpool not serving: $err $(grep -E 'ERROR|FATAL' "$dir/pgpool.log" | tail -n 2 | tr '\n' ' ')"
  fi
  T_PID[$name]=$pid
  T_PORT[$name]=$port
}

write_pgscale_yaml() { # FILE PORT ADMIN_PORT SPLIT(true|false)
  local file=$1 port=$2 admin=$3 split=$4 p i=1
  local poll=${PGSCALE_BUSY_POLL_US:-}  # written only when set: a baseline binary may predate the key
  [ "$poll" = 0 ] && poll=""
  local auto=${PGSCALE_AUTO_PREPARE:-}  # likewise: only for the target that turns it on
  # Every node's host: 127.0.0.1 (TCP), or a unix-socket directory such as PGSCALE_SOCKET_DIR
  # (target pgscale-ap-unix: pgscale then connects to <dir>/.s.PGSQL.<port>, the port stays).
  local host=${PGSCALE_SERVER_HOST:-127.0.0.1}
  {
    cat <<EOF
# Derived by bench/run.sh from the cluster's cluster.env and pg_authid: shard 0 only (the
# pgbench tables are not sharded), pool.max_size = PgBouncer's default_pool_size.
listen: {address: 127.0.0.1, port: $port, workers: ${PGSCALE_WORKERS:-0},${poll:+ busy_poll_us: $poll,}
         max_client_connections: 11000,
         tls: {mode: allow, cert_file: "$PGSCALE_TLS_CERT", key_file: "$PGSCALE_TLS_KEY"}}
admin: {http_address: 127.0.0.1, http_port: $admin}
log: {level: warn}
users:
  - {name: $PGSCALE_APP_USER, auth: $(client_auth), password: "$(client_secret)", databases: [$PGSCALE_APP_DB]}
pool: {mode: transaction, max_size: $POOL_SIZE, min_idle: 0, server_tls: disable${auto:+, auto_prepare: $auto}}
routing: {read_write_split: $split, replica_selection: least_outstanding, no_replica: primary}
monitor: {user: $PGSCALE_MONITOR_USER, password: "$PGSCALE_MONITOR_PASSWORD", database: postgres}
shards:
  - name: s0
    buckets: [[0, 1023]]
    nodes:
      - {name: s0-primary, host: "$host", port: $PGSCALE_S0_PRIMARY_PORT, role: primary}
EOF
    for p in $(replica_ports); do
      echo "      - {name: s0-replica$i, host: \"$host\", port: $p, role: replica}"
      i=$((i + 1))
    done
  } >"$file"
}

start_pgscale() { # NAME PORT SPLIT [BINARY]
  local name=$1 port=$2 split=$3 bin=${4:-$PGSCALE_BIN} dir="$WORK/$1" err pid
  mkdir -p "$dir"
  T_PORT[$name]=$port
  if [ ! -x "$bin" ]; then
    T_ERR[$name]="pgscale not available: no executable at $bin (build it, or set PGSCALE_BIN)"
    return 0
  fi
  write_pgscale_yaml "$dir/pgscale.yaml" "$port" "$((port + 1))" "$split"
  if ! err=$("$bin" --config "$dir/pgscale.yaml" --check 2>&1); then
    T_ERR[$name]="pgscale not available: --check rejected the config: $(tr '\n' ' ' <<<"$err" | cut -c1-300)"
    return 0
  fi
  # Its own session (setsid execs in place here: a background job of a script is no process group
  # leader, so $! stays pgscale's PID), as a daemon has: PgBouncer -d and pg_ctl call setsid()
  # themselves. With the kernel's autogroup scheduling (sched_autogroup_enabled=1) a proxy left in
  # this script's session shares one CPU share with pgbench, the load generator, while the other
  # proxies and PostgreSQL get one each (measured: twice the context switches per transaction).
  (ulimit -n 20000 2>/dev/null; exec setsid "$bin" --config "$dir/pgscale.yaml") >"$dir/pgscale.log" 2>&1 &
  pid=$!
  T_PID[$name]=$pid
  if ! err=$(wait_serving "$port" 15 "$pid"); then
    T_ERR[$name]="pgscale not available: $err $(tail -n 2 "$dir/pgscale.log" | tr '\n' ' ' | cut -c1-300)"
  fi
}

# check_alive NAME: a proxy that died during the benchmark is marked unavailable from then on.
check_alive() {
  local n=$1 pid=${T_PID[$1]:-} log
  [ "$n" = direct ] || [ -z "$pid" ] || [ -n "${T_ERR[$n]:-}" ] && return 0
  # kill -0 succeeds on a zombie (a crashed child not reaped yet): look at its state as well.
  kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && return 0
  local st=0
  wait "$pid" 2>/dev/null || st=$?   # our child (pgscale, pgpool): its exit status; else 127
  log=$(ls "$WORK/$n"/*.log 2>/dev/null | head -n 1)
  T_ERR[$n]="${n%%-*} not available: process $pid exited during the benchmark ($(
    if [ "$st" -gt 128 ] && [ "$st" != 255 ]; then echo "killed by SIG$(kill -l $((st - 128)))"
    elif [ "$st" = 127 ]; then echo "status unknown"; else echo "exit status $st"; fi)); last log line: $(
    if [ -n "$log" ]; then tail -n 1 "$log" | cut -c1-200; fi)"
  log "$n: ${T_ERR[$n]}"
}

stop_all_proxies() {
  local n
  for n in "${!T_PID[@]}"; do
    case $n in
      pgpool*) stop_pid "$n" "${T_PID[$n]}" INT ;;  # SIGINT = fast shutdown (SIGTERM waits for clients)
      *) stop_pid "$n" "${T_PID[$n]}" TERM ;;
    esac
  done
}

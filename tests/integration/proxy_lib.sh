# shellcheck shell=bash
# Helpers for the proxy integration tests (tests/integration/proxy_*_test.sh). Source AFTER lib.sh.
#
# Every test runs against a *target*: PGSCALE_TEST_TARGET=pgscale (default) starts a pgscale of its
# own on a port of its own, in front of the shard-0 primary; PGSCALE_TEST_TARGET=direct points the
# very same assertions at the primary itself. Running the direct mode is how a test proves it
# asserts PostgreSQL's real behaviour before it is used to judge pgscale.
#
# Provides: make_config, start_pgscale, proxy_target_start, tpsql, super_psql, expect_* checks,
# proxy_test_done (exit status 1 when any check failed). Unlike lib.sh's assert_* (which stop at
# the first failure), these checks count and go on, so one run reports every broken behaviour;
# errexit is therefore switched off.

# ---- environment (lib.sh normally did this; keep working without it) ------------------------
if [[ -z "${PGSCALE_CLUSTER_DIR:-}" ]]; then
  echo "skipped: PGSCALE_CLUSTER_DIR is not set (run through tests/run.sh, or deploy/local-cluster.sh up DIR and export PGSCALE_CLUSTER_DIR=DIR)"
  exit 77
fi
if [[ -z "${PGSCALE_S0_PRIMARY_PORT:-}" ]]; then
  if [[ ! -r "$PGSCALE_CLUSTER_DIR/cluster.env" ]]; then
    echo "skipped: $PGSCALE_CLUSTER_DIR/cluster.env not readable"
    exit 77
  fi
  set -a
  # shellcheck disable=SC1091
  source "$PGSCALE_CLUSTER_DIR/cluster.env"
  set +a
fi

PROXY_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROXY_REPO_DIR="$(cd "$PROXY_LIB_DIR/../.." && pwd)"
PGSCALE_TEST_TARGET="${PGSCALE_TEST_TARGET:-pgscale}"
PGSCALE_SOCKET_DIR="${PGSCALE_SOCKET_DIR:-$PGSCALE_CLUSTER_DIR/run}"
PGSCALE_PG_BIN="${PGSCALE_PG_BIN:-/usr/lib/postgresql/15/bin}"

# The build's bin directory holds pgscale and the client test programs (tests/clients). ctest
# passes PGSCALE_BIN_DIR; by hand, the first build*/bin holding pgscale is used.
if [[ -z "${PGSCALE_BIN_DIR:-}" || ! -x "$PGSCALE_BIN_DIR/pgscale" ]]; then
  for _d in "$PROXY_REPO_DIR/build/bin" "$PROXY_REPO_DIR"/build-*/bin; do
    if [[ -x "$_d/pgscale" ]]; then PGSCALE_BIN_DIR="$_d"; break; fi
  done
fi

# client_bin NAME: path of a tests/clients program (PGSCALE_CLIENTS_BIN_DIR, else PGSCALE_BIN_DIR).
client_bin() {
  local d
  for d in "${PGSCALE_CLIENTS_BIN_DIR:-}" "${PGSCALE_BIN_DIR:-}"; do
    if [[ -n "$d" && -x "$d/$1" ]]; then echo "$d/$1"; return 0; fi
  done
  return 1
}

set +e

PROXY_TMP="$(mktemp -d "${TMPDIR:-/tmp}/pgscale-proxytest.XXXXXX")"
PROXY_FAILS=0
PROXY_CHECKS=0
PGSCALE_PID=""
_PROXY_PIDS=()

# ---- checks ---------------------------------------------------------------------------------
pass() { PROXY_CHECKS=$((PROXY_CHECKS + 1)); echo "ok   - $1"; }
tfail() { PROXY_CHECKS=$((PROXY_CHECKS + 1)); PROXY_FAILS=$((PROXY_FAILS + 1)); echo "FAIL - $1"; }
# expect_eq DESC EXPECTED ACTUAL
expect_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else tfail "$1: expected [$2], got [$3]"; fi
}
# expect_match DESC ERE ACTUAL
expect_match() {
  if [[ "$3" =~ $2 ]]; then pass "$1"; else tfail "$1: expected to match /$2/, got [$3]"; fi
}
# expect_le DESC LIMIT ACTUAL (integers)
expect_le() {
  if [[ "$3" =~ ^[0-9]+$ ]] && (( $3 <= $2 )); then pass "$1"; else tfail "$1: expected <= $2, got [$3]"; fi
}
# expect_gt DESC LIMIT ACTUAL (integers)
expect_gt() {
  if [[ "$3" =~ ^[0-9]+$ ]] && (( $3 > $2 )); then pass "$1"; else tfail "$1: expected > $2, got [$3]"; fi
}
proxy_test_done() {
  if [[ -n "$PGSCALE_PID" ]]; then
    if kill -0 "$PGSCALE_PID" 2>/dev/null; then pass "pgscale (pid $PGSCALE_PID) still running at the end"
    else tfail "pgscale (pid $PGSCALE_PID) died during the test"; fi
  fi
  echo "# $PROXY_CHECKS checks, $PROXY_FAILS failed (target: $PGSCALE_TEST_TARGET, port ${TARGET_PORT:-?})"
  if (( PROXY_FAILS > 0 )); then
    if [[ -n "${PGSCALE_LOG:-}" && -r "$PGSCALE_LOG" ]]; then
      echo "# last lines of the pgscale log ($PGSCALE_LOG):"; tail -n 40 "$PGSCALE_LOG" | sed 's/^/#   /'
    fi
    exit 1
  fi
  exit 0
}

# ---- process cleanup (by PID only) ----------------------------------------------------------
# With lib.sh, pgscale runs under its start_daemon (stopped by lib.sh's EXIT trap) and this cleanup
# is registered with at_exit; without lib.sh, this file stops what it started.
_proxy_cleanup() {
  local pid i
  for pid in "${_PROXY_PIDS[@]+"${_PROXY_PIDS[@]}"}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PGSCALE_CLUSTER_DIR/pids/pgscale-test-$pid.pid"
  done
  if [[ -n "${PROXY_KEEP_TMP:-}" ]]; then echo "# kept $PROXY_TMP"; else rm -rf "$PROXY_TMP"; fi
}
if declare -F at_exit >/dev/null; then
  at_exit _proxy_cleanup
else
  trap _proxy_cleanup EXIT
fi

# ---- psql helpers ---------------------------------------------------------------------------
TARGET_HOST=127.0.0.1
TARGET_PORT=""
# tpsql [psql args...]: the app user on the target, over TCP (SCRAM).
tpsql() {
  PGPASSWORD="$PGSCALE_APP_PASSWORD" PGCONNECT_TIMEOUT=10 psql -X -q -h "$TARGET_HOST" -p "$TARGET_PORT" \
    -U "$PGSCALE_APP_USER" -d "$PGSCALE_APP_DB" "$@"
}
# super_psql [psql args...]: superuser on the shard-0 primary over its unix socket.
super_psql() {
  psql -X -q -h "$PGSCALE_SOCKET_DIR" -p "$PGSCALE_S0_PRIMARY_PORT" -U postgres -d postgres "$@"
}
# server_conns_of_app: server connections of the app user to appdb on the primary right now.
server_conns_of_app() {
  super_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$PGSCALE_APP_USER' AND datname = '$PGSCALE_APP_DB' AND backend_type = 'client backend'"
}

# server_clock: the primary's clock now (a timestamptz literal for app_backends_since).
server_clock() { super_psql -At -c "SELECT clock_timestamp()"; }
# app_backends_since T [detail]: the app user's client backends on the primary that started at or after
# T (server_clock). A test that checks pgscale's pool limit counts only these: a backend left by an
# earlier test of the suite (they share one cluster) or by the test's own direct set-up connection
# (PostgreSQL ends it asynchronously) started before T; every backend of a pgscale whose pool was
# still empty at T, including one it let go of that has not exited yet, started after it.
# With `detail`: one line per backend instead of the count.
app_backends_since() {
  local where="backend_type = 'client backend' AND usename = '$PGSCALE_APP_USER' AND backend_start >= '$1'"
  if [[ "${2:-}" == detail ]]; then
    super_psql -At -F ' ' -c "SELECT pid, client_port, state, backend_start, application_name FROM pg_stat_activity WHERE $where ORDER BY backend_start"
  else
    super_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE $where"
  fi
}
# app_backends_before T: the app user's client backends older than T, one line each (diagnostics).
app_backends_before() {
  super_psql -At -F ' ' -c "SELECT pid, client_port, state, backend_start, application_name, left(query, 60) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = '$PGSCALE_APP_USER' AND backend_start < '$1' ORDER BY backend_start"
}

# ---- config ---------------------------------------------------------------------------------
# make_config OUT PORT [key=value ...]: a pgscale YAML for this cluster, every statement to the
# shard-0 primary. Keys: max_size pool_mode tls_mode startup_timeout max_clients checkout_timeout
# log_level workers busy_poll_us auto_prepare server_host (the nodes' host: default 127.0.0.1, or the
# cluster's socket directory for the unix-domain socket). Generated fresh from cluster.env (+ the app user's SCRAM verifier read from
# pg_authid, as the cluster's own pgscale.yaml does) so the test does not depend on that file's layout.
make_config() {
  local out="$1" port="$2"; shift 2
  local max_size=20 pool_mode=transaction tls_mode=allow startup_timeout=10s max_clients=10000
  local checkout_timeout=5s log_level=info workers=2 busy_poll_us=0 auto_prepare=false server_host=127.0.0.1 kv
  for kv in "$@"; do
    case "$kv" in
      max_size=*) max_size="${kv#*=}" ;;
      pool_mode=*) pool_mode="${kv#*=}" ;;
      tls_mode=*) tls_mode="${kv#*=}" ;;
      startup_timeout=*) startup_timeout="${kv#*=}" ;;
      max_clients=*) max_clients="${kv#*=}" ;;
      checkout_timeout=*) checkout_timeout="${kv#*=}" ;;
      log_level=*) log_level="${kv#*=}" ;;
      workers=*) workers="${kv#*=}" ;;
      busy_poll_us=*) busy_poll_us="${kv#*=}" ;;
      auto_prepare=*) auto_prepare="${kv#*=}" ;;
      server_host=*) server_host="${kv#*=}" ;;
      *) echo "make_config: unknown override $kv" >&2; return 1 ;;
    esac
  done
  local verifier
  verifier="$(super_psql -At -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$PGSCALE_APP_USER'")" || return 1
  if [[ "$verifier" != SCRAM-SHA-256* ]]; then echo "make_config: no SCRAM verifier for $PGSCALE_APP_USER" >&2; return 1; fi
  cat >"$out" <<EOF
# generated by tests/integration/proxy_lib.sh for a test
listen:
  address: 127.0.0.1
  port: $port
  workers: $workers
  busy_poll_us: $busy_poll_us
  max_client_connections: $max_clients
  startup_timeout: $startup_timeout
  tls:
    mode: $tls_mode
    cert_file: $PGSCALE_TLS_CERT
    key_file: $PGSCALE_TLS_KEY
admin:
  http_address: 127.0.0.1
  http_port: 0
log:
  level: $log_level
users:
  - name: $PGSCALE_APP_USER
    auth: scram-sha-256
    password: "$verifier"
    databases: [$PGSCALE_APP_DB]
pool:
  mode: $pool_mode
  max_size: $max_size
  min_idle: 0
  connect_timeout: 5s
  checkout_timeout: $checkout_timeout
  auto_prepare: $auto_prepare
monitor:
  user: $PGSCALE_MONITOR_USER
  password: "$PGSCALE_MONITOR_PASSWORD"
  database: postgres
shards:
  - name: s0
    buckets: [[0, 1023]]
    nodes:
      - {name: s0-primary, host: "$server_host", port: $PGSCALE_S0_PRIMARY_PORT, role: primary}
EOF
}

# port_open PORT: true when 127.0.0.1:PORT accepts a TCP connection.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_pgscale CONFIG PORT: run pgscale in the background, wait (bounded) until PORT accepts
# connections; sets PGSCALE_PID and PGSCALE_LOG. The EXIT trap stops it by PID.
start_pgscale() {
  local config="$1" port="$2" i
  if [[ -z "${PGSCALE_BIN_DIR:-}" || ! -x "$PGSCALE_BIN_DIR/pgscale" ]]; then
    tfail "pgscale binary not found (set PGSCALE_BIN_DIR; tried ${PGSCALE_BIN_DIR:-build*/bin})"
    return 1
  fi
  if port_open "$port"; then tfail "port $port is already in use before pgscale started"; return 1; fi
  if declare -F start_daemon >/dev/null; then
    mkdir -p "$PGSCALE_LOG_DIR"
    start_daemon "pgscale-test-$port" "$PGSCALE_BIN_DIR/pgscale" --config "$config"
    PGSCALE_PID=$DAEMON_PID
    PGSCALE_LOG="$PGSCALE_LOG_DIR/pgscale-test-$port.log"
  else
    PGSCALE_LOG="$PROXY_TMP/pgscale-$port.log"
    "$PGSCALE_BIN_DIR/pgscale" --config "$config" >"$PGSCALE_LOG" 2>&1 &
    PGSCALE_PID=$!
    _PROXY_PIDS+=("$PGSCALE_PID")
    if mkdir -p "$PGSCALE_CLUSTER_DIR/pids" 2>/dev/null; then
      echo "$PGSCALE_PID" >"$PGSCALE_CLUSTER_DIR/pids/pgscale-test-$PGSCALE_PID.pid" 2>/dev/null || true
    fi
  fi
  for ((i = 0; i < 150; i++)); do
    if ! kill -0 "$PGSCALE_PID" 2>/dev/null; then
      tfail "pgscale exited during start-up; log:"; sed 's/^/#   /' "$PGSCALE_LOG"; return 1
    fi
    if port_open "$port"; then return 0; fi
    sleep 0.1
  done
  tfail "pgscale did not accept connections on port $port within 15 s; log:"; sed 's/^/#   /' "$PGSCALE_LOG"
  return 1
}

# proxy_target_start PORT [overrides...]: sets TARGET_PORT to a fresh pgscale (target pgscale) or
# to the shard-0 primary (target direct). Exits the script (status 1) if pgscale does not start.
proxy_target_start() {
  local port="$1"; shift
  TARGET_HOST=127.0.0.1
  case "$PGSCALE_TEST_TARGET" in
    direct) TARGET_PORT="$PGSCALE_S0_PRIMARY_PORT"; echo "# target: PostgreSQL directly on port $TARGET_PORT" ;;
    pgscale)
      TARGET_PORT="$port"
      make_config "$PROXY_TMP/pgscale-$port.yaml" "$port" "$@" || { tfail "make_config"; proxy_test_done; }
      start_pgscale "$PROXY_TMP/pgscale-$port.yaml" "$port" || proxy_test_done
      echo "# target: pgscale pid $PGSCALE_PID on port $port ($*)" ;;
    *) echo "PGSCALE_TEST_TARGET must be pgscale or direct" >&2; exit 2 ;;
  esac
}

# psql_sqlstate OUTPUT: the SQLSTATE of the first "ERROR:  XXXXX:" / "FATAL:  XXXXX:" line of a
# psql run with VERBOSITY verbose.
psql_sqlstate() {
  grep -oE '(ERROR|FATAL): +[0-9A-Z]{5}' <<<"$1" | head -n 1 | grep -oE '[0-9A-Z]{5}$'
}

# run_client_program NAME POOL_MAX [catch2 args...]: runs a tests/clients program against the
# current target (bounded), prints its output, and checks that it passed.
run_client_program() {
  local name="$1" pool_max="$2" bin out status; shift 2
  if ! bin="$(client_bin "$name")"; then
    tfail "$name not built (looked in ${PGSCALE_CLIENTS_BIN_DIR:-} ${PGSCALE_BIN_DIR:-})"
    return 1
  fi
  out="$(PGSCALE_TEST_HOST="$TARGET_HOST" PGSCALE_TEST_PORT="$TARGET_PORT" PGSCALE_TEST_TARGET="$PGSCALE_TEST_TARGET" \
    PGSCALE_TEST_PID="${PGSCALE_PID:-0}" PGSCALE_TEST_POOL_MAX="$pool_max" \
    timeout 280 "$bin" "$@" 2>&1)"
  status=$?
  sed 's/^/#   /' <<<"$out"
  expect_eq "$name $* passed (exit status)" "0" "$status"
}

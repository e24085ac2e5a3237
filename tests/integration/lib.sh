# shellcheck shell=bash
# Sourced by tests/integration/*_test.sh (bash). Loads the local cluster's description
# ($PGSCALE_CLUSTER_DIR/cluster.env, made by deploy/local-cluster.sh) or exits 77, which ctest
# reports as "skipped", printing why. Then offers small helpers:
#
#   psql_su  [-d DB] PORT SQL...    superuser `postgres` over the unix socket (default db postgres)
#   psql_app [-d DB] PORT SQL...    role app over TCP with its SCRAM password (default db appdb)
#   sqlstate_su / sqlstate_app [-d DB] PORT SQL   SQLSTATE the statement ends with (00000 = success)
#   wait_until TIMEOUT_S CMD...     polls CMD every 0.1 s; returns 1 once TIMEOUT_S has passed
#   fail MSG / log MSG / assert_eq / assert_ne / assert_contains / assert_ok / assert_fails
#   test_port N                     base port + N, for N in 12..40 (the ports tests may use)
#   register_pid NAME PID           DIR/pids/NAME.pid: `local-cluster.sh down` stops it too
#   start_daemon NAME CMD...        runs CMD in the background, output in DIR/logs/NAME.log,
#                                   registers its PID; stopped when the test script exits
#   pgscale_config OUT PORT ADMIN_PORT   copy of DIR/pgscale.yaml listening on other ports
#   wait_port PORT TIMEOUT_S        waits until something listens on 127.0.0.1:PORT
#   at_exit CMD                     runs CMD when the script exits (do not `trap ... EXIT` yourself)
#
# Every command a test runs must be bounded in time: psql gets connect_timeout and
# statement_timeout below, polling goes through wait_until.
set -euo pipefail

TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

log() { echo "[$TEST_NAME] $*"; }
fail() { echo "FAIL [$TEST_NAME]: $*" >&2; exit 1; }
skip() { echo "skipped [$TEST_NAME]: $*"; exit 77; }

if [[ -z ${PGSCALE_CLUSTER_DIR:-} ]]; then
  skip "PGSCALE_CLUSTER_DIR is not set (run tests/run.sh, or: deploy/local-cluster.sh up DIR && export PGSCALE_CLUSTER_DIR=DIR)"
fi
if [[ ! -f $PGSCALE_CLUSTER_DIR/cluster.env ]]; then
  skip "no cluster.env in PGSCALE_CLUSTER_DIR=$PGSCALE_CLUSTER_DIR (is the cluster up?)"
fi
set -a
# shellcheck disable=SC1091
. "$PGSCALE_CLUSTER_DIR/cluster.env"
set +a

PGSCALE_SOURCE_DIR=${PGSCALE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PGSCALE_BIN_DIR=${PGSCALE_BIN_DIR:-$PGSCALE_SOURCE_DIR/build/bin}
export PGSCALE_BIN=$PGSCALE_BIN_DIR/pgscale   # the daemon under test
PGSCALE_PID_DIR=${PGSCALE_PID_DIR:-$PGSCALE_CLUSTER_DIR/pids}
PGSCALE_LOG_DIR=$PGSCALE_CLUSTER_DIR/logs
PSQL=$PGSCALE_PG_BIN/psql
# No statement of a test may hang forever.
export PGOPTIONS="${PGOPTIONS:-} -c statement_timeout=60s"
export PGCONNECT_TIMEOUT=10

# _db_arg DEFAULT "$@": sets DB and SHIFT from an optional leading "-d DB".
_db_arg() {
  DB=$1; SHIFT=0
  if [[ ${2:-} == -d ]]; then DB=$3; SHIFT=2; fi
}

psql_su() {
  _db_arg postgres "$@"; shift "$SHIFT"
  local port=$1; shift
  local args=() s
  for s in "$@"; do args+=(-c "$s"); done
  "$PSQL" -h "$PGSCALE_SOCKET_DIR" -p "$port" -U postgres -d "$DB" -XAtq -v ON_ERROR_STOP=1 "${args[@]}"
}

psql_app() {
  _db_arg "$PGSCALE_APP_DB" "$@"; shift "$SHIFT"
  local port=$1; shift
  local args=() s
  for s in "$@"; do args+=(-c "$s"); done
  PGPASSWORD=$PGSCALE_APP_PASSWORD "$PSQL" "host=127.0.0.1 port=$port user=$PGSCALE_APP_USER dbname=$DB" \
    -XAtq -v ON_ERROR_STOP=1 "${args[@]}"
}

# Runs one statement, prints the SQLSTATE it ended with (psql's :SQLSTATE; 00000 on success).
# Prints "none" when psql could not even run the statement (e.g. no connection).
_sqlstate() {
  local sql=$1 out state; shift
  # Terminated by exactly one ';' so the statement runs before the \echo, not after it.
  while [[ $sql =~ [[:space:]\;]$ ]]; do sql=${sql%?}; done
  out=$(printf '%s;\n\\echo SQLSTATE :SQLSTATE\n' "$sql" |
          "$@" -XAtq -v ON_ERROR_STOP=0 -f - 2>/dev/null || true)
  state=$(sed -n 's/^SQLSTATE //p' <<<"$out" | tail -n1)
  echo "${state:-none}"
}
sqlstate_su() {
  _db_arg postgres "$@"; shift "$SHIFT"
  _sqlstate "$2" "$PSQL" -h "$PGSCALE_SOCKET_DIR" -p "$1" -U postgres -d "$DB"
}
sqlstate_app() {
  _db_arg "$PGSCALE_APP_DB" "$@"; shift "$SHIFT"
  PGPASSWORD=$PGSCALE_APP_PASSWORD _sqlstate "$2" "$PSQL" \
    "host=127.0.0.1 port=$1 user=$PGSCALE_APP_USER dbname=$DB"
}

wait_until() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout)) i
  for ((i = 0; i < timeout * 20 + 1; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
  return 1
}

assert_eq() {   # EXPECTED ACTUAL [WHAT]
  [[ $1 == "$2" ]] || fail "${3:-value}: expected '$1', got '$2'"
}
assert_ne() {   # UNEXPECTED ACTUAL [WHAT]
  [[ $1 != "$2" ]] || fail "${3:-value}: must not be '$1'"
}
assert_contains() {   # HAYSTACK NEEDLE [WHAT]
  [[ $1 == *"$2"* ]] || fail "${3:-output}: '$2' not found in: $1"
}
assert_ok() {   # CMD...
  "$@" || fail "command failed: $*"
}
assert_fails() {   # CMD...
  if "$@" >/dev/null 2>&1; then fail "command succeeded but must fail: $*"; fi
}

test_port() {
  local n=$1
  ((n >= 12 && n <= 40)) || fail "test_port $n: tests own base+12 .. base+40 only"
  echo $((PGSCALE_BASE_PORT + n))
}

register_pid() {   # NAME PID
  mkdir -p "$PGSCALE_PID_DIR"
  echo "$2" >"$PGSCALE_PID_DIR/$1.pid"
}

# at_exit CMD: run CMD (a string, eval'ed) when the test script exits, before its daemons stop.
# Use it instead of `trap ... EXIT`, which would replace lib.sh's own trap.
_AT_EXIT=()
at_exit() { _AT_EXIT+=("$1"); }

# Daemons started by this script, stopped (SIGTERM, then SIGKILL after 20 s) when it exits.
_DAEMONS=()
_stop_daemons() {
  local rc=$? entry name pid i
  set +e
  for entry in "${_AT_EXIT[@]+"${_AT_EXIT[@]}"}"; do eval "$entry"; done
  for entry in "${_DAEMONS[@]+"${_DAEMONS[@]}"}"; do
    name=${entry%%:*}; pid=${entry#*:}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PGSCALE_PID_DIR/$name.pid"
  done
  exit "$rc"
}
trap _stop_daemons EXIT

start_daemon() {   # NAME CMD...  (sets DAEMON_PID)
  local name=$1; shift
  "$@" >"$PGSCALE_LOG_DIR/$name.log" 2>&1 &
  DAEMON_PID=$!
  register_pid "$name" "$DAEMON_PID"
  _DAEMONS+=("$name:$DAEMON_PID")
}

pgscale_config() {   # OUT PORT ADMIN_PORT
  sed -e "/^listen:/,/^[a-z]/s/^  port: $PGSCALE_PROXY_PORT\$/  port: $2/" \
      -e "s/http_port: $PGSCALE_ADMIN_PORT}/http_port: $3}/" "$PGSCALE_CONFIG" >"$1"
  grep -q "^  port: $2\$" "$1" || fail "pgscale_config: could not set the listen port in $1"
}

wait_port() {   # PORT TIMEOUT_S
  wait_until "$2" bash -c "ss -Hltn '( sport = :$1 )' | grep -q ."
}

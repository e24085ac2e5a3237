# shellcheck shell=bash
# Helpers for the read/write split tests (tests/integration/routing_*_test.sh). Each test starts
# its own pgscale in front of shard 0's primary AND both replicas, with a fast monitor, on a port
# of its own (P+21..P+29). Sourcing this file is the whole preamble of such a test: it sources
# lib.sh (when present) and proxy_lib.sh, skips (77) when the target is PostgreSQL directly, and
# sets P, R1, R2 (shard 0's primary and replica ports).
ROUTING_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! declare -F make_config >/dev/null; then
  # shellcheck disable=SC1091
  if [[ -r "$ROUTING_LIB_DIR/lib.sh" ]]; then
    source "$ROUTING_LIB_DIR/lib.sh"
    TEST_NAME=$(basename "$0" .sh)  # lib.sh named it after its caller, this file
  fi
  # shellcheck disable=SC1091
  source "$ROUTING_LIB_DIR/proxy_lib.sh"
fi
if [[ "$PGSCALE_TEST_TARGET" == direct ]]; then echo "skipped: routing needs pgscale"; exit 77; fi
# shellcheck disable=SC2034  # used by the tests
P="$PGSCALE_S0_PRIMARY_PORT" R1="$PGSCALE_S0_REPLICA1_PORT" R2="$PGSCALE_S0_REPLICA2_PORT"

# routing_on_exit FUNC: run FUNC when the test exits, before pgscale is stopped and tmp removed.
routing_on_exit() {
  if declare -F at_exit >/dev/null; then at_exit "$1"; else trap "$1; _proxy_cleanup" EXIT; fi
}

# routing_config OUT PORT [key=value ...]: keys lag_bytes lag_time no_replica ryw selection interval
# checkout_timeout auto_prepare server_host.
routing_config() {
  local out="$1" port="$2"; shift 2
  local lag_bytes=16MB lag_time=5s no_replica=primary ryw=true selection=least_outstanding interval=200ms kv
  local checkout_timeout=5s auto_prepare=false server_host=127.0.0.1
  for kv in "$@"; do
    case "$kv" in
      lag_bytes=*) lag_bytes="${kv#*=}" ;;
      lag_time=*) lag_time="${kv#*=}" ;;
      no_replica=*) no_replica="${kv#*=}" ;;
      ryw=*) ryw="${kv#*=}" ;;
      selection=*) selection="${kv#*=}" ;;
      interval=*) interval="${kv#*=}" ;;
      checkout_timeout=*) checkout_timeout="${kv#*=}" ;;
      auto_prepare=*) auto_prepare="${kv#*=}" ;;
      server_host=*) server_host="${kv#*=}" ;;
      *) echo "routing_config: unknown override $kv" >&2; return 1 ;;
    esac
  done
  make_config "$out" "$port" max_size=30 checkout_timeout="$checkout_timeout" auto_prepare="$auto_prepare" \
    server_host="$server_host" || return 1
  # make_config ends with the shard list holding the primary only: add the replicas, routing and a
  # fast monitor (the generated monitor: section is replaced).
  python3 - "$out" <<EOF || return 1
import sys
p = sys.argv[1]
s = open(p).read()
head, _, _ = s.partition("monitor:\n")
s = head + """monitor:
  user: $PGSCALE_MONITOR_USER
  password: "$PGSCALE_MONITOR_PASSWORD"
  database: postgres
  interval: $interval
  timeout: 1s
  failure_threshold: 2
  ban_time: 2s
routing:
  read_write_split: true
  replica_selection: $selection
  max_replica_lag: {bytes: $lag_bytes, time: $lag_time}
  no_replica: $no_replica
  read_your_writes: $ryw
shards:
  - name: s0
    buckets: [[0, 1023]]
    nodes:
      - {name: s0-primary, host: "$server_host", port: $PGSCALE_S0_PRIMARY_PORT, role: primary}
      - {name: s0-replica1, host: "$server_host", port: $PGSCALE_S0_REPLICA1_PORT, role: replica}
      - {name: s0-replica2, host: "$server_host", port: $PGSCALE_S0_REPLICA2_PORT, role: replica}
"""
open(p, "w").write(s)
EOF
}

# routing_start PORT [overrides]: writes the config and starts pgscale; TARGET_PORT=PORT.
routing_start() {
  local port="$1"; shift
  ROUTING_CONFIG="$PROXY_TMP/routing-$port.yaml"
  routing_config "$ROUTING_CONFIG" "$port" "$@" || { tfail "cannot write the routing config"; proxy_test_done; }
  TARGET_PORT="$port"
  start_pgscale "$ROUTING_CONFIG" "$port" || proxy_test_done
}

# replica_psql N [psql args]: superuser on shard-0 replica N (1 or 2) over its socket.
replica_psql() {
  local n="$1"; shift
  local port="PGSCALE_S0_REPLICA${n}_PORT"
  psql -X -q -h "$PGSCALE_SOCKET_DIR" -p "${!port}" -U postgres -d postgres "$@"
}

# ports_of_reads N: N plain reads, each its own transaction, on ONE new client session; prints
# the server port of each (one per line).
ports_of_reads() {
  local n="$1" i
  for ((i = 0; i < n; i++)); do echo "SELECT inet_server_port();"; done | tpsql -At -f - 2>&1
}

# port_of SQL: runs SQL (one simple Query, maybe several statements) on a new session and prints
# the last column of its last numeric line (the server port the test's SELECT returned).
port_of() {
  tpsql -At -c "$1" 2>&1 | awk -F'|' '{print $NF}' | grep -E '^[0-9]+$' | tail -n 1
}

# wait_replay_caught_up: both shard-0 replicas replayed what the primary has written (bounded 30 s).
wait_replay_caught_up() {
  local lsn i a b
  lsn="$(super_psql -At -c 'SELECT pg_current_wal_lsn()')"
  for ((i = 0; i < 300; i++)); do
    a="$(replica_psql 1 -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)"
    b="$(replica_psql 2 -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)"
    [[ "$a" == t && "$b" == t ]] && return 0
    sleep 0.1
  done
  return 1
}

# wait_reads_on PORTS_REGEX MIN_DISTINCT: polls (bounded 20 s) until a batch of 20 reads has
# every port matching the regex and MIN_DISTINCT distinct ports. Prints the last batch's ports.
wait_reads_on() {
  local re="$1" min="$2" i out bad distinct
  for ((i = 0; i < 40; i++)); do
    out="$(ports_of_reads 20)"
    bad="$(grep -cvE "^($re)$" <<<"$out")"
    distinct="$(sort -u <<<"$out" | grep -cE '^[0-9]+$')"
    if [[ "$bad" == 0 ]] && (( distinct >= min )); then echo "$out" | sort | uniq -c | tr '\n' ' '; return 0; fi
    sleep 0.5
  done
  echo "$out" | sort | uniq -c | tr '\n' ' '
  return 1
}

# Replica-kill tests (routing_replica_kill*_test.sh) ---------------------------------------------
# as_postgres CMD...: PostgreSQL's binaries refuse to run as root.
as_postgres() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# kill_test_prepare: pgbench tables through pgscale ($TARGET_PORT), replayed, reads on both
# replicas. Sets PGB (the pgbench command line, without options) and exports PGPASSWORD.
kill_test_prepare() {
  export PGPASSWORD="$PGSCALE_APP_PASSWORD"
  PGB=(pgbench -h 127.0.0.1 -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB")
  "${PGB[@]}" -i -s 2 -q >"$PROXY_TMP/init.log" 2>&1
  expect_eq "pgbench -i through pgscale" 0 $?
  wait_replay_caught_up || tfail "replicas did not replay pgbench -i"
  local dist
  dist="$(wait_reads_on "$R1|$R2" 2)"
  expect_eq "before: reads on both replicas ($dist)" 0 $?
}

# kill_test_verdict PID: waits (bounded, 60 s) for the background pgbench PID writing
# $PROXY_TMP/pgbench.log, then checks that no transaction failed and no client was aborted; on an
# abort it prints what pgscale decided for the reads on the dying replicas.
kill_test_verdict() {
  local bench="$1" i rc aborted log="$PROXY_TMP/pgbench.log"
  for ((i = 0; i < 600; i++)); do kill -0 "$bench" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$bench" 2>/dev/null && { kill "$bench"; tfail "pgbench still running after 60 s"; }
  wait "$bench"; rc=$?
  sed 's/^/# pgbench: /' "$log" | grep -E 'processed|failed|tps|error|abort' | head -20
  expect_eq "pgbench exit status" 0 "$rc"
  expect_match "pgbench: zero failed transactions" 'number of failed transactions: 0 ' "$(cat "$log")"
  aborted="$(grep -c 'aborted' "$log")"
  expect_eq "pgbench: no client aborted" 0 "$aborted"
  if [[ "$aborted" != 0 ]]; then
    grep -E ': lost |not retried|retrying elsewhere|re-sent' "$PGSCALE_LOG" | head -40 | sed 's/^/# pgscale: /'
  fi
}

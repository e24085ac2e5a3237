#!/usr/bin/env bash
# pgscale benchmark: the same pgbench cases against PostgreSQL directly, PgBouncer, Pgpool-II and
# pgscale, interleaved and repeated, on a throw-away local cluster; writes a Markdown report.
#
#   bench/run.sh [--quick] [--out FILE] [--base-port P] [--keep] [--build DIR]
#
# Environment: PGSCALE_BIN (default build/bin/pgscale), IDLE_CLIENTS_BIN (default
# build/bin/idle_clients, built on demand), CLASSIFIER_BENCH (default build/bin/classifier_bench),
# BENCH_DURATION / BENCH_REPS / BENCH_SCALE / BENCH_IDLE_CLIENTS / BENCH_C200_MODES ("simple extended
# prepared": which -M modes get a 200-client case) override the mode's settings,
# BENCH_CASES (regex on case ids) and BENCH_TARGETS (space-separated) narrow a run.
# PGSCALE_BASE_BIN (optional): a second pgscale binary (e.g. before a change) run as target
# "pgscale-base" in every case, interleaved with the others, so before/after come from one run.
# BENCH_BUSY_POLL_US (default 200): listen.busy_poll_us of target "pgscale-poll", run in the
# 1-client cases and at 32 and 200 clients with -M simple (the others run pgscale's defaults).
# Target "pgscale-ap" (pool.auto_prepare: true) runs every -M simple case and the TPC-B-like one.
# Targets "pgbouncer-unix" and "pgscale-ap-unix" (the proxy colocated with PostgreSQL): PgBouncer and
# pgscale-ap as above, but their server hop goes over the cluster's unix-domain socket
# (PGSCALE_SOCKET_DIR) instead of loopback TCP; clients still use TCP 127.0.0.1. Same cases as
# pgscale-ap (every -M simple case and the TPC-B-like one).
# Ports (base P, default 25800): the cluster's nodes P..P+4 (P+10/P+11 are its own pgscale.yaml's,
# unused here), the proxies P+20..P+39 (see start_targets).
# --build DIR: where the binaries are (default build/; the variables above override it).
set -euo pipefail

# PGSCALE_ROOT: the source tree, when this script runs from a copy (a run is unaffected by edits).
ROOT=${PGSCALE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
LIB=$(cd "$(dirname "$0")" && pwd)/lib
# shellcheck source=lib/common.sh
source "$LIB/common.sh"
# shellcheck source=lib/proxies.sh
source "$LIB/proxies.sh"
# shellcheck source=lib/cases.sh
source "$LIB/cases.sh"
# shellcheck source=lib/idle.sh
source "$LIB/idle.sh"
# shellcheck source=lib/report.sh
source "$LIB/report.sh"

QUICK=0
OUT=""
BUILD_DIR=$ROOT/build
BASE_PORT=${PGSCALE_BENCH_BASE_PORT:-25800}
KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --out) OUT=${2:?--out needs a file}; shift ;;
    --base-port) BASE_PORT=${2:?--base-port needs a port}; shift ;;
    --keep) KEEP=1 ;;
    --build) BUILD_DIR=$(cd "${2:?--build needs a directory}" && pwd); shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

# quick (~5 min): one short run per case and target, 200 clients only with -M simple.
if [ "$QUICK" = 1 ]; then MODE=quick; SCALE=2; DURATION=2; REPS=1; IDLE_N=1000; C200_MODES=simple
else MODE=full; SCALE=10; DURATION=8; REPS=3; IDLE_N=10000; C200_MODES="simple extended prepared"; fi  # ~47 min
C200_MODES=${BENCH_C200_MODES:-$C200_MODES}
SCALE=${BENCH_SCALE:-$SCALE}
DURATION=${BENCH_DURATION:-$DURATION}
REPS=${BENCH_REPS:-$REPS}
IDLE_N=${BENCH_IDLE_CLIENTS:-$IDLE_N}
POOL_SIZE=20            # pgscale pool.max_size = PgBouncer default_pool_size (per node / per db+user)
PGPOOL_CHILDREN=200     # Pgpool-II needs one child per concurrent client: the largest -c below
PGSCALE_BIN=${PGSCALE_BIN:-$BUILD_DIR/bin/pgscale}
PGSCALE_BASE_BIN=${PGSCALE_BASE_BIN:-}
BUSY_POLL_US=${BENCH_BUSY_POLL_US:-200}  # listen.busy_poll_us of target pgscale-poll
CLASSIFIER_BENCH=${CLASSIFIER_BENCH:-$BUILD_DIR/bin/classifier_bench}
PG_BIN=/usr/lib/postgresql/15/bin
[ "$(id -u)" = 0 ] || log "not root: PostgreSQL/PgBouncer/Pgpool run as the current user"

ensure_idle_clients() {
  IDLE_CLIENTS_BIN=${IDLE_CLIENTS_BIN:-$BUILD_DIR/bin/idle_clients}
  [ -x "$IDLE_CLIENTS_BIN" ] && return 0
  log "building idle_clients into $BUILD_DIR"
  { [ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD_DIR" >/dev/null; } &&
    cmake --build "$BUILD_DIR" --target idle_clients -j2 >/dev/null ||
    log "could not build idle_clients: the idle-client case will be skipped"
}

check_ports_free() {
  local p busy
  for p in $(seq "$BASE_PORT" $((BASE_PORT + 39))); do
    busy=$(ss -Hltn "sport = :$p" 2>/dev/null | head -n 1)
    [ -z "$busy" ] || die "port $p is in use: pick another range with --base-port"
  done
}

CLUSTER_SCRIPT=""
IDLE_PID=""
cleanup() {
  local rc=$?
  set +e
  [ -n "$IDLE_PID" ] && stop_pid idle_clients "$IDLE_PID" TERM
  stop_all_proxies
  if [ -n "$CLUSTER_SCRIPT" ]; then
    log "stopping the cluster"
    "$CLUSTER_SCRIPT" down "$WORK/cluster" >/dev/null 2>&1
  fi
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}

start_cluster() {
  CLUSTER_SCRIPT=$ROOT/deploy/local-cluster.sh
  CLUSTER_KIND="deploy/local-cluster.sh (shard 0: primary + replicas)"
  CLUSTER=$WORK/cluster  # fresh: started and initialised here
  use_cluster
  MAX_CONN=$(su_psql "$PGSCALE_S0_PRIMARY_PORT" 'SHOW max_connections')
  wait_replicas_caught_up
}

# Replicas must have the pgbench tables before reads are sent to them.
wait_replicas_caught_up() {
  local lsn p i
  lsn=$(su_psql "$PGSCALE_S0_PRIMARY_PORT" 'SELECT pg_current_wal_lsn()')
  for p in $(replica_ports); do
    for ((i = 0; i < 120; i++)); do
      [ "$(su_psql "$p" "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break
      sleep 0.5
    done
  done
}

start_targets() {
  T_PORT[direct]=$PGSCALE_S0_PRIMARY_PORT
  log "starting PgBouncer, Pgpool-II (plain and TLS) and pgscale (split off and on)"
  # Ports P+20..P+39: each target its own; pgpool takes port+1 for PCP, pgscale port+1 for admin.
  start_pgbouncer pgbouncer $((BASE_PORT + 20))
  start_pgpool pgpool $((BASE_PORT + 22)) off "$PGPOOL_CHILDREN"
  start_pgpool pgpool-tls $((BASE_PORT + 24)) on 16
  start_pgscale pgscale $((BASE_PORT + 26)) false
  start_pgscale pgscale-rw $((BASE_PORT + 28)) true
  PGSCALE_BUSY_POLL_US=$BUSY_POLL_US start_pgscale pgscale-poll $((BASE_PORT + 32)) false
  PGSCALE_AUTO_PREPARE=true start_pgscale pgscale-ap $((BASE_PORT + 34)) false
  # Colocated deployment: the proxy's server hop over PostgreSQL's unix-domain socket.
  start_pgbouncer pgbouncer-unix $((BASE_PORT + 36)) "$PGSCALE_SOCKET_DIR"
  PGSCALE_AUTO_PREPARE=true PGSCALE_SERVER_HOST=$PGSCALE_SOCKET_DIR \
    start_pgscale pgscale-ap-unix $((BASE_PORT + 38)) false
  local t extra=""
  if [ -n "$PGSCALE_BASE_BIN" ]; then
    start_pgscale pgscale-base $((BASE_PORT + 30)) false "$PGSCALE_BASE_BIN"
    extra=pgscale-base
  fi
  for t in pgbouncer pgpool pgpool-tls pgscale pgscale-rw pgscale-poll pgscale-ap pgbouncer-unix \
    pgscale-ap-unix $extra; do
    if [ -n "${T_ERR[$t]:-}" ]; then log "$t: ${T_ERR[$t]}"; else log "$t: serving on ${T_PORT[$t]}"; fi
  done
}

main() {
  command -v pgbouncer >/dev/null && command -v pgpool >/dev/null ||
    die "pgbouncer and pgpool2 are needed: run deploy/install-deps.sh"
  check_ports_free
  # idle_clients and the proxies it connects to need ~10,000 descriptors each.
  ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  ensure_idle_clients
  WORK=$(mktemp -d /tmp/pgscale-bench.XXXXXX)
  chmod 755 "$WORK"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  define_cases
  log "mode $MODE: scale $SCALE, $REPS x ${DURATION}s per case and target; budget $(budget_text)"
  start_cluster
  start_targets
  run_idle_case
  run_all_cases
  run_classifier_bench
  FINISHED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
  [ -n "$OUT" ] || OUT=$ROOT/bench/results/$(date -u +%Y-%m-%d)-$(hostname -s).md
  mkdir -p "$(dirname "$OUT")"
  write_report >"$OUT"
  log "report written to $OUT"
}

main

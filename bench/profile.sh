#!/usr/bin/env bash
# Profile pgscale under one pgbench load: syscalls and context switches per transaction, a flat CPU
# profile of the proxy (perf, or callgrind where perf cannot count), and the same pgbench run
# directly against PostgreSQL for the baseline.
#
#   bench/profile.sh [--clients N] [--mode simple|extended|prepared] [--seconds S] [--base-port P]
#                    [--cluster DIR] [--bin PGSCALE] [--tool perf|callgrind|none] [--out DIR]
#                    [--no-compare]   (skip the direct and PgBouncer runs)
#                    (env PGSCALE_WORKERS sets listen.workers, default 0 = one per CPU;
#                     env PGSCALE_BUSY_POLL_US sets listen.busy_poll_us, default 0 = off)
#
# --cluster DIR reuses (or creates and keeps) a local cluster there, so repeated profiles of
# rebuilt binaries skip the set-up; without it a throw-away cluster is made and removed.
# Output in --out (default /tmp/pgscale-profile.<pid>): summary.txt, perf.txt or callgrind.txt.
# Plain TCP (sslmode=disable), as in bench/run.sh.
set -euo pipefail

# PGSCALE_ROOT: the source tree, when this script runs from a copy (a run is unaffected by edits).
ROOT=${PGSCALE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
LIB=$(cd "$(dirname "$0")" && pwd)/lib
# shellcheck source=lib/common.sh
source "$LIB/common.sh"
# shellcheck source=lib/proxies.sh
source "$LIB/proxies.sh"

COMPARE=1 CLIENTS=32 MODE=simple SECONDS_RUN=10 BASE_PORT=26800 CLUSTER="" TOOL=perf OUT="" SCALE=10
PGSCALE_BIN=${PGSCALE_BIN:-$ROOT/build-bench/bin/pgscale}
while [ $# -gt 0 ]; do
  case $1 in
    --clients) CLIENTS=$2; shift ;;
    --mode) MODE=$2; shift ;;
    --seconds) SECONDS_RUN=$2; shift ;;
    --base-port) BASE_PORT=$2; shift ;;
    --cluster) CLUSTER=$2; shift ;;
    --bin) PGSCALE_BIN=$2; shift ;;
    --tool) TOOL=$2; shift ;;
    --no-compare) COMPARE=0 ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done
OUT=${OUT:-/tmp/pgscale-profile.$$}
mkdir -p "$OUT"
WORK=$OUT/work
mkdir -p "$WORK"
chmod 755 "$OUT" "$WORK"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK"
standalone_setup

use_cluster
start_pgscale pgscale $((BASE_PORT + 30)) false
[ -z "${T_ERR[pgscale]:-}" ] || die "${T_ERR[pgscale]}"
PID=${T_PID[pgscale]}

# run_pgbench PORT SECONDS: prints pgbench's tps line value.
run_pgbench() {
  PGSSLMODE=disable PGPASSWORD=$PGSCALE_APP_PASSWORD "$PG_BIN/pgbench" -n -S -M "$MODE" -c "$CLIENTS" \
    -j $((CLIENTS < 2 ? 1 : 2)) -T "$2" -h 127.0.0.1 -p "$1" -U "$PGSCALE_APP_USER" \
    "$PGSCALE_APP_DB" 2>/dev/null | awk '/^tps = / {print $3; exit}'
}
# Per-thread context switches and CPU ticks of a process (default: pgscale), from /proc.
proc_counters() {
  local ctx=0 t v pid=${1:-$PID}
  for t in /proc/"$pid"/task/*; do
    v=$(awk '/^voluntary_ctxt_switches/ {s += $2} END {print s}' "$t/status")
    ctx=$((ctx + v))
  done
  echo "$ctx $(awk '{print $14 + $15}' "/proc/$pid/stat")"
}

# count_syscalls PORT PID LABEL: syscalls and context switches per transaction, counted by the
# kernel's tracepoints (cheap, unlike strace) on connections opened before counting starts.
count_syscalls() {
  local ev=syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait
  ev+=,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_futex,syscalls:sys_enter_write,syscalls:sys_enter_read
  ev+=,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,context-switches
  PGSSLMODE=disable PGPASSWORD=$PGSCALE_APP_PASSWORD "$PG_BIN/pgbench" -n -S -M "$MODE" -c "$CLIENTS" \
    -j $((CLIENTS < 2 ? 1 : 2)) -T $((SECONDS_RUN + 4)) -h 127.0.0.1 -p "$1" -U "$PGSCALE_APP_USER" \
    "$PGSCALE_APP_DB" >"$WORK/sys-$3.out" 2>&1 &
  local bp=$! t0 t1 q
  q="SELECT sum(xact_commit) FROM pg_stat_database WHERE datname = '$PGSCALE_APP_DB'"
  sleep 3  # connected and running
  t0=$(su_psql "$PGSCALE_S0_PRIMARY_PORT" "$q")
  perf stat -x, -e "$ev" -p "$2" -o "$WORK/sys-$3.csv" -- sleep "$SECONDS_RUN" >/dev/null 2>&1 || true
  t1=$(su_psql "$PGSCALE_S0_PRIMARY_PORT" "$q")
  wait "$bp" || true
  # A proxy sends exactly two messages per -S transaction (the query to the server, the answer to
  # the client), each with one send() when the socket takes it: sendto/2 counts transactions more
  # exactly than pg_stat_database (whose counters are flushed lazily), which is shown as a check.
  awk -F, -v db="$((t1 - t0))" -v who="$3" '$1 ~ /^[0-9]+$/ { v[NR] = $1; name = $3; sub(/.*sys_enter_/, "", name); k[NR] = name
      if (name == "sendto") n = $1 / 2 }
    END { printf "%s per transaction (%d by sendto/2, %d by pg_stat_database):", who, n, db
      for (i = 1; i <= NR; i++) if (n > 0 && v[i] > 0 && k[i] != "sendto") printf " %s %.2f", k[i], v[i] / n
      print "" }' "$WORK/sys-$3.csv" >>"$OUT/summary.txt"
}

log "warm-up"
run_pgbench "${T_PORT[pgscale]}" 3 >/dev/null
direct=-
[ "$COMPARE" = 1 ] && direct=$(run_pgbench "$PGSCALE_S0_PRIMARY_PORT" "$SECONDS_RUN")
read -r ctx0 cpu0 < <(proc_counters)
plain=$(run_pgbench "${T_PORT[pgscale]}" "$SECONDS_RUN")
read -r ctx1 cpu1 < <(proc_counters)
tx=$(awk -v t="$plain" -v s="$SECONDS_RUN" 'BEGIN {printf "%d", t * s}')
{
  echo "pgbench -S -M $MODE -c $CLIENTS, ${SECONDS_RUN}s; binary $PGSCALE_BIN"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "direct tps $direct"
  echo "pgscale tps $plain"
  awk -v c="$((ctx1 - ctx0))" -v u="$((cpu1 - cpu0))" -v n="$tx" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    if (n > 0) printf "pgscale per transaction: %.2f voluntary context switches, %.1f us CPU (user+sys)\n", c / n, u / hz * 1e6 / n }'
} >"$OUT/summary.txt"
# The same for PgBouncer (transaction pooling, same pool size), for comparison.
[ "$COMPARE" = 1 ] && start_pgbouncer pgbouncer $((BASE_PORT + 34))
if [ "$COMPARE" = 1 ] && [ -z "${T_ERR[pgbouncer]:-}" ]; then
  run_pgbench "${T_PORT[pgbouncer]}" 3 >/dev/null
  read -r ctx0 cpu0 < <(proc_counters "${T_PID[pgbouncer]}")
  bouncer=$(run_pgbench "${T_PORT[pgbouncer]}" "$SECONDS_RUN")
  read -r ctx1 cpu1 < <(proc_counters "${T_PID[pgbouncer]}")
  awk -v t="$bouncer" -v s="$SECONDS_RUN" -v c="$((ctx1 - ctx0))" -v u="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    n = t * s; printf "pgbouncer tps %s\n", t
    if (n > 0) printf "pgbouncer per transaction: %.2f voluntary context switches, %.1f us CPU (user+sys)\n", c / n, u / hz * 1e6 / n }' \
    >>"$OUT/summary.txt"
  count_syscalls "${T_PORT[pgbouncer]}" "${T_PID[pgbouncer]}" pgbouncer
  stop_pid pgbouncer "${T_PID[pgbouncer]}" TERM
  unset 'T_PID[pgbouncer]'
fi

count_syscalls "${T_PORT[pgscale]}" "$PID" pgscale

case $TOOL in
  perf)
    log "perf record"
    perf record -F 4000 -o "$WORK/perf.data" -p "$PID" -- sleep "$SECONDS_RUN" >/dev/null 2>&1 &
    ppid=$!
    run_pgbench "${T_PORT[pgscale]}" "$SECONDS_RUN" >/dev/null
    wait "$ppid" || true
    { perf report -i "$WORK/perf.data" --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n 12
      echo
      perf report -i "$WORK/perf.data" --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n 70
    } >"$OUT/perf.txt" || true
    ;;
  callgrind)
    # Instructions per transaction: exact and immune to the machine's load, so a before/after
    # comparison needs no repetitions. Valgrind runs one thread at a time: slow, hence -t.
    log "callgrind (slow)"
    write_pgscale_yaml "$WORK/cg.yaml" $((BASE_PORT + 32)) $((BASE_PORT + 33)) false
    # One output file per thread: the worker threads do the per-transaction work; thread 1 (main)
    # runs the control loop — the monitor's libpq logins (PBKDF2 for SCRAM; valgrind's slowness
    # makes them time out and reconnect), admin HTTP, pool maintenance — not per-transaction work.
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$WORK/callgrind.out" --instr-atstart=no \
      "$PGSCALE_BIN" --config "$WORK/cg.yaml" >"$WORK/callgrind.log" 2>&1 &
    cpid=$!
    wait_serving $((BASE_PORT + 32)) 60 "$cpid" >/dev/null || die "pgscale under valgrind did not serve"
    cg_tx=$((CLIENTS * 400))
    callgrind_control -i on "$cpid" >/dev/null
    PGSSLMODE=disable PGPASSWORD=$PGSCALE_APP_PASSWORD "$PG_BIN/pgbench" -n -S -M "$MODE" -c "$CLIENTS" -j 1 \
      -t 400 -h 127.0.0.1 -p $((BASE_PORT + 32)) -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" >"$WORK/cg-pgbench.out" 2>&1 || true
    callgrind_control -i off "$cpid" >/dev/null
    kill -TERM "$cpid"
    wait "$cpid" || true
    local_total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(/,/, "", $1); print $1 }'; }
    workers=0 control=0
    for f in "$WORK"/callgrind.out-*; do
      v=$(local_total "$f")
      if [[ $f == *-01 ]]; then control=${v:-0}; else workers=$((workers + ${v:-0})); fi
    done
    callgrind_annotate --inclusive=no "$WORK"/callgrind.out-02 2>/dev/null | head -n 70 >"$OUT/callgrind.txt" || true
    # The CLIENTS logins (SCRAM) are inside the window too: small against cg_tx transactions.
    awk -v tx="$cg_tx" -v w="$workers" -v c="$control" 'BEGIN {
        printf "callgrind: %.0f instructions per transaction in the worker threads (control thread: %.0f more; %d transactions, logins included)\n", w / tx, c / tx, tx }' \
      >>"$OUT/summary.txt"
    ;;
esac
cat "$OUT/summary.txt"
log "output in $OUT"

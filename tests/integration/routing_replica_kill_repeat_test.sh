#!/usr/bin/env bash
# Resilience under repeated failures: one pgbench -S -M simple run (20 clients, 36 s) while the
# two replicas are killed in turn (`pg_ctl stop -m immediate`, six kills, each replica started
# again before the other is killed). Every kill hits reads at every stage of their answer: not yet
# sent, queued behind the previous answer, half flushed with the backend's 57P01 notice. None of
# those may reach a client as an error: zero failed transactions and no client aborted.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2

replica_ctl() {  # replica_ctl N start|stop
  local data="$PGSCALE_CLUSTER_DIR/data/s0-replica$1"
  if [[ "$2" == stop ]]; then
    as_postgres "$PGSCALE_PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1
  else
    as_postgres "$PGSCALE_PG_BIN/pg_ctl" -D "$data" -l "$PGSCALE_CLUSTER_DIR/logs/s0-replica$1.startup.log" \
      -w -t 60 start >/dev/null 2>&1
  fi
}
restart_replicas() {
  local n
  for n in 1 2; do replica_psql "$n" -At -c "SELECT 1" >/dev/null 2>&1 || replica_ctl "$n" start; done
}
routing_on_exit restart_replicas

routing_start $((P + 28))
kill_test_prepare

"${PGB[@]}" -S -M "${ROUTING_KILL_MODE:-simple}" -c 20 -j 4 -T 36 -n >"$PROXY_TMP/pgbench.log" 2>&1 &
bench=$!
for n in 1 2 1 2 1 2; do
  sleep 4
  replica_ctl "$n" stop
  expect_gt "replica$n stopped (immediate) under load: psql exit status" 0 \
    "$(replica_psql "$n" -At -c "SELECT 1" >/dev/null 2>&1; echo $?)"
  sleep 1
  replica_ctl "$n" start
  expect_eq "replica$n started again" 0 $?
done
kill_test_verdict "$bench"
retries="$(grep -c 'retrying elsewhere' "$PGSCALE_LOG")"
expect_gt "pgscale retried reads of the killed replicas elsewhere ($retries)" 0 "$retries"

dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "both replicas serve reads again after their bans ($dist)" 0 $?
proxy_test_done

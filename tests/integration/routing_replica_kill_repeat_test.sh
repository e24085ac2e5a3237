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

as_postgres() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
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
export PGPASSWORD="$PGSCALE_APP_PASSWORD"
PGB=(pgbench -h 127.0.0.1 -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB")
"${PGB[@]}" -i -s 2 -q >"$PROXY_TMP/init.log" 2>&1
expect_eq "pgbench -i through pgscale" 0 $?
wait_replay_caught_up || tfail "replicas did not replay pgbench -i"
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "before: reads on both replicas ($dist)" 0 $?

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
for ((i = 0; i < 600; i++)); do kill -0 "$bench" 2>/dev/null || break; sleep 0.1; done
kill -0 "$bench" 2>/dev/null && { kill "$bench"; tfail "pgbench still running after 60 s"; }
wait "$bench"; rc=$?
sed 's/^/# pgbench: /' "$PROXY_TMP/pgbench.log" | grep -E 'processed|failed|tps|error|abort' | head -20
expect_eq "pgbench exit status" 0 "$rc"
expect_match "pgbench: zero failed transactions" 'number of failed transactions: 0 ' "$(cat "$PROXY_TMP/pgbench.log")"
aborted="$(grep -c 'aborted' "$PROXY_TMP/pgbench.log")"
expect_eq "pgbench: no client aborted" 0 "$aborted"
if [[ "$aborted" != 0 ]]; then  # what pgscale decided for the reads on the dying replicas
  grep -E ': lost |not retried|retrying elsewhere|re-sent' "$PGSCALE_LOG" | head -40 | sed 's/^/# pgscale: /'
fi
retries="$(grep -c 'retrying elsewhere' "$PGSCALE_LOG")"
expect_gt "pgscale retried reads of the killed replicas elsewhere ($retries)" 0 "$retries"

dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "both replicas serve reads again after their bans ($dist)" 0 $?
proxy_test_done

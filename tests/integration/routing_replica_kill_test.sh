#!/usr/bin/env bash
# Resilience: pgbench -S (20 clients, 20 s) through pgscale while replica1 is stopped with
# `pg_ctl stop -m immediate` finishes with zero failed transactions: reads that were on the dying
# replica are re-sent elsewhere before any byte reached the client, and the replica is banned.
# Replica1 is started again at the end so the cluster stays whole.
# ROUTING_KILL_MODE=prepared (routing_replica_kill_prepared_test.sh) runs pgbench -M prepared: the
# reads then Bind shared prepared statements, which the retry prepares on the new server first.
# ROUTING_KILL_MODE=auto (routing_replica_kill_auto_test.sh) runs pgbench -M simple with
# pool.auto_prepare on: pgscale itself turns the reads into Bind/Execute of its statements.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2
# `pg_ctl stop -m immediate` makes every backend send a NoticeResponse WARNING 57P01 before it
# closes; the relay treats it like a FATAL (not relayed, server lost), so a read not yet answered is
# retried elsewhere -- also when the notice follows, in the same read, the complete answer to the
# previous query and the client's next query was already forwarded to the dying server.

R1_DATA="$PGSCALE_CLUSTER_DIR/data/s0-replica1"
restart_replica1() {
  replica_psql 1 -At -c "SELECT 1" >/dev/null 2>&1 && return 0
  as_postgres "$PGSCALE_PG_BIN/pg_ctl" -D "$R1_DATA" -l "$PGSCALE_CLUSTER_DIR/logs/s0-replica1.startup.log" \
    -w -t 60 start >/dev/null 2>&1
}
routing_on_exit restart_replica1

MODE="${ROUTING_KILL_MODE:-simple}"
if [[ "$MODE" == prepared ]]; then
  routing_start $((P + 27))
elif [[ "$MODE" == auto ]]; then
  routing_start $((P + 29)) auto_prepare=true
  MODE=simple
else
  routing_start $((P + 23))
fi
echo "# pgbench -S -M $MODE"
kill_test_prepare

"${PGB[@]}" -S -M "$MODE" -c 20 -j 4 -T 20 -n >"$PROXY_TMP/pgbench.log" 2>&1 &
bench=$!
sleep 5
as_postgres "$PGSCALE_PG_BIN/pg_ctl" -D "$R1_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1
expect_gt "replica1 stopped (immediate) under load: psql exit status" 0 "$(replica_psql 1 -At -c "SELECT 1" >/dev/null 2>&1; echo $?)"
kill_test_verdict "$bench"
processed="$(grep -oE 'number of transactions actually processed: [0-9]+' "$PROXY_TMP/pgbench.log" | grep -oE '[0-9]+$')"
expect_gt "pgbench processed transactions" 1000 "${processed:-0}"
expect_match "pgscale logged the retry of a read elsewhere" 'retrying elsewhere|banning it' "$(cat "$PGSCALE_LOG")"

# While replica1 is down, reads go to replica2 only.
out="$(ports_of_reads 20)"
expect_eq "replica1 down: reads on replica2 only" 20 "$(grep -c "^$R2$" <<<"$out")"

restart_replica1
expect_eq "replica1 started again" 0 $?
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "replica1 back after its ban and a passing check ($dist)" 0 $?
proxy_test_done

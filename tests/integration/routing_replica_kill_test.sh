#!/usr/bin/env bash
# Resilience: pgbench -S (20 clients, 20 s) through pgscale while replica1 is stopped with
# `pg_ctl stop -m immediate` finishes with zero failed transactions: reads that were on the dying
# replica are re-sent elsewhere before any byte reached the client, and the replica is banned.
# Replica1 is started again at the end so the cluster stays whole.
# ROUTING_KILL_MODE=prepared (routing_replica_kill_prepared_test.sh) runs pgbench -M prepared: the
# reads then Bind shared prepared statements, which the retry prepares on the new server first.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2
# `pg_ctl stop -m immediate` makes every backend send a NoticeResponse WARNING 57P01 before it
# closes; the relay treats it like a FATAL (not relayed, server lost), so a read not yet answered is
# retried elsewhere -- also when the notice follows, in the same read, the complete answer to the
# previous query and the client's next query was already forwarded to the dying server.

R1_DATA="$PGSCALE_CLUSTER_DIR/data/s0-replica1"
as_postgres() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
restart_replica1() {
  replica_psql 1 -At -c "SELECT 1" >/dev/null 2>&1 && return 0
  as_postgres "$PGSCALE_PG_BIN/pg_ctl" -D "$R1_DATA" -l "$PGSCALE_CLUSTER_DIR/logs/s0-replica1.startup.log" \
    -w -t 60 start >/dev/null 2>&1
}
routing_on_exit restart_replica1

MODE="${ROUTING_KILL_MODE:-simple}"
if [[ "$MODE" == prepared ]]; then routing_start $((P + 27)); else routing_start $((P + 23)); fi
echo "# pgbench -S -M $MODE"
export PGPASSWORD="$PGSCALE_APP_PASSWORD"
PGB=(pgbench -h 127.0.0.1 -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB")
"${PGB[@]}" -i -s 2 -q >"$PROXY_TMP/init.log" 2>&1
expect_eq "pgbench -i through pgscale" 0 $?
wait_replay_caught_up || tfail "replicas did not replay pgbench -i"
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "before: reads on both replicas ($dist)" 0 $?

"${PGB[@]}" -S -M "$MODE" -c 20 -j 4 -T 20 -n >"$PROXY_TMP/pgbench.log" 2>&1 &
bench=$!
sleep 5
as_postgres "$PGSCALE_PG_BIN/pg_ctl" -D "$R1_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1
expect_gt "replica1 stopped (immediate) under load: psql exit status" 0 "$(replica_psql 1 -At -c "SELECT 1" >/dev/null 2>&1; echo $?)"
for ((i = 0; i < 600; i++)); do kill -0 "$bench" 2>/dev/null || break; sleep 0.1; done
kill -0 "$bench" 2>/dev/null && { kill "$bench"; tfail "pgbench still running after 60 s"; }
wait "$bench"; rc=$?
sed 's/^/# pgbench: /' "$PROXY_TMP/pgbench.log" | grep -E 'processed|failed|tps|error|abort' | head -20
expect_eq "pgbench exit status" 0 "$rc"
expect_match "pgbench: zero failed transactions" 'number of failed transactions: 0 ' "$(cat "$PROXY_TMP/pgbench.log")"
aborted="$(grep -c 'aborted' "$PROXY_TMP/pgbench.log")"
expect_eq "pgbench: no client aborted" 0 "$aborted"
if [[ "$aborted" != 0 ]]; then  # what pgscale decided for the reads on the dying replica
  grep -E 'aborted' "$PROXY_TMP/pgbench.log" | head -5 | sed 's/^/# pgbench: /'
  grep -E ': lost |not retried|retrying elsewhere|re-sent' "$PGSCALE_LOG" | head -40 | sed 's/^/# pgscale: /'
fi
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

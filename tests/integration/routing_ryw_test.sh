#!/usr/bin/env bash
# Read-your-writes: 20 clients each loop INSERT-then-SELECT-own-row through pgscale while replay
# lags (replica1 paused for part of the run; the lag budget is large so only read-your-writes
# protects them): no client ever misses its own row.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2

resume_replay() { replica_psql 1 -At -c "SELECT pg_wal_replay_resume()" >/dev/null 2>&1; }
routing_on_exit resume_replay

CLIENTS=20 LOOPS=60
# ROUTING_TEST_RYW=false shows the test can fail (stale reads of own rows without read-your-writes).
routing_start $((P + 24)) lag_bytes=1GB lag_time=off ryw="${ROUTING_TEST_RYW:-true}"
super_psql -d "$PGSCALE_APP_DB" -c "SET client_min_messages = warning; DROP TABLE IF EXISTS rt_ryw; CREATE TABLE rt_ryw (c int, i int); GRANT ALL ON rt_ryw TO $PGSCALE_APP_USER" >/dev/null
wait_replay_caught_up || tfail "replicas did not catch up before the test"
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "before: reads on both replicas ($dist)" 0 $?

# Each client: one session; per loop one INSERT (its own transaction) then one SELECT of that row
# (another transaction, routed afresh). Prints "<i> <count>" per loop.
for ((c = 1; c <= CLIENTS; c++)); do
  for ((i = 1; i <= LOOPS; i++)); do
    echo "INSERT INTO rt_ryw VALUES ($c, $i);"
    echo "SELECT $i, count(*), inet_server_port() FROM rt_ryw WHERE c = $c AND i = $i;"
  done >"$PROXY_TMP/client-$c.sql"
done
pids=()
for ((c = 1; c <= CLIENTS; c++)); do
  tpsql -At -F ' ' -f "$PROXY_TMP/client-$c.sql" >"$PROXY_TMP/client-$c.out" 2>&1 &
  pids+=($!)
done
sleep 0.3
replica_psql 1 -At -c "SELECT pg_wal_replay_pause()" >/dev/null 2>&1
sleep 2
resume_replay
for pid in "${pids[@]}"; do
  for ((k = 0; k < 600; k++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill "$pid" 2>/dev/null
  wait "$pid"
done

missed=0 answers=0 on_replica=0
for ((c = 1; c <= CLIENTS; c++)); do
  answers=$((answers + $(grep -cE '^[0-9]+ [0-9]+ [0-9]+$' "$PROXY_TMP/client-$c.out")))
  missed=$((missed + $(grep -cE '^[0-9]+ 0 [0-9]+$' "$PROXY_TMP/client-$c.out")))
  on_replica=$((on_replica + $(grep -cE "^[0-9]+ [0-9]+ ($R1|$R2)$" "$PROXY_TMP/client-$c.out")))
  grep -E 'ERROR|FATAL' "$PROXY_TMP/client-$c.out" | head -3 | sed "s/^/# client $c: /"
done
echo "# $answers own-row reads, $on_replica of them served by a replica, $missed missed"
expect_eq "every own-row read answered" $((CLIENTS * LOOPS)) "$answers"
expect_eq "no client missed its own row" 0 "$missed"
expect_eq "inserted rows" $((CLIENTS * LOOPS)) "$(super_psql -d "$PGSCALE_APP_DB" -At -c 'SELECT count(*) FROM rt_ryw')"
super_psql -d "$PGSCALE_APP_DB" -c "DROP TABLE IF EXISTS rt_ryw" >/dev/null
proxy_test_done

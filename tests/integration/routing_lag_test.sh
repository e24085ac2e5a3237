#!/usr/bin/env bash
# Lag budget: a replica whose replay is paused (pg_wal_replay_pause) while the primary writes more
# WAL than routing.max_replica_lag.bytes stops getting reads, and gets them again after
# pg_wal_replay_resume().
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2

resume_replay() { replica_psql 1 -At -c "SELECT pg_wal_replay_resume()" >/dev/null 2>&1; }
routing_on_exit resume_replay

routing_start $((P + 22)) lag_bytes=256kB lag_time=off
super_psql -d "$PGSCALE_APP_DB" -c "SET client_min_messages = warning; DROP TABLE IF EXISTS rt_lag; CREATE TABLE rt_lag (a int, pad text); GRANT ALL ON rt_lag TO $PGSCALE_APP_USER" >/dev/null
wait_replay_caught_up || tfail "replicas did not catch up before the test"
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "before: reads on both replicas ($dist)" 0 $?

expect_eq "replay paused on replica1" "" "$(replica_psql 1 -At -c "SELECT pg_wal_replay_pause()" 2>&1)"
# ~2 MB of WAL, far beyond the 256 kB budget.
super_psql -d "$PGSCALE_APP_DB" -c "INSERT INTO rt_lag SELECT g, repeat('x', 200) FROM generate_series(1, 8000) g" >/dev/null
dist="$(wait_reads_on "$R2" 1)"
expect_eq "paused replica1 beyond the lag budget gets no reads ($dist)" 0 $?
# Stays out while still paused (a second look after more monitor rounds).
sleep 1
out="$(ports_of_reads 20)"
expect_eq "still no read on the paused replica1" 0 "$(grep -c "^$R1$" <<<"$out")"
expect_eq "and none on the primary while replica2 is fresh" 0 "$(grep -c "^$P$" <<<"$out")"

resume_replay
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "after resume: replica1 serves reads again ($dist)" 0 $?

super_psql -d "$PGSCALE_APP_DB" -c "SET client_min_messages = warning; DROP TABLE IF EXISTS rt_lag" >/dev/null
proxy_test_done

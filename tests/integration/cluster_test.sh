#!/usr/bin/env bash
# The local cluster is real: roles are what pgscale.yaml says, replicas are hot standbys that stream
# from their primary, a write on each primary is replayed by its replicas, and a replica rejects
# writes with SQLSTATE 25006 (read_only_sql_transaction).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

S0P=$PGSCALE_S0_PRIMARY_PORT; S1P=$PGSCALE_S1_PRIMARY_PORT
declare -A REPLICAS_OF=(
  [$S0P]="$PGSCALE_S0_REPLICA1_PORT $PGSCALE_S0_REPLICA2_PORT"
  [$S1P]="$PGSCALE_S1_REPLICA1_PORT"
)
declare -A STREAMS_OF=([$S0P]="s0-replica1,s0-replica2" [$S1P]="s1-replica1")
REPLAY_TIMEOUT=30
TABLE=cluster_test_$$_$RANDOM

# --- roles ---------------------------------------------------------------------------------------
for p in $S0P $PGSCALE_S0_REPLICA1_PORT $PGSCALE_S0_REPLICA2_PORT $S1P $PGSCALE_S1_REPLICA1_PORT; do
  want=f
  [[ -n ${REPLICAS_OF[$p]:-} ]] || want=t
  assert_eq "$want" "$(psql_su "$p" "SELECT pg_is_in_recovery()")" "pg_is_in_recovery() on port $p"
done
log "primaries are not in recovery, every replica is"

for p in $S0P $S1P; do
  streams=$(psql_su "$p" "SELECT string_agg(application_name, ',' ORDER BY application_name)
                          FROM pg_stat_replication WHERE state = 'streaming'")
  assert_eq "${STREAMS_OF[$p]}" "$streams" "streaming replicas in pg_stat_replication on port $p"
  slots=$(psql_su "$p" "SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'physical' AND active")
  assert_eq "$(tr ',' '\n' <<<"${STREAMS_OF[$p]}" | wc -l)" "$slots" "active physical slots on port $p"
done
log "pg_stat_replication shows every expected stream, each through an active physical slot"

# pgscale.yaml carries app's SCRAM verifier; it must be the one every server has.
verifier=$(sed -n 's/.*name: app, auth: scram-sha-256, password: "\([^"]*\)".*/\1/p' "$PGSCALE_CONFIG")
assert_contains "$verifier" "SCRAM-SHA-256\$4096:" "app verifier in pgscale.yaml"
for p in $S0P $S1P; do
  assert_eq "$verifier" "$(psql_su "$p" "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")" \
    "app's verifier on port $p"
done
assert_eq t "$(psql_su "$S0P" "SELECT rolsuper FROM pg_roles WHERE rolname = '$PGSCALE_MONITOR_USER'")" \
  "monitor role is superuser"
log "app's SCRAM verifier is identical on both primaries and in pgscale.yaml"

# SCRAM over TLS, with the certificate verified against its own name (CN/SAN localhost).
ssl=$(PGPASSWORD=$PGSCALE_APP_PASSWORD "$PSQL" "host=localhost port=$S0P user=app dbname=appdb \
        sslmode=verify-full sslrootcert=$PGSCALE_TLS_CERT" -XAtq \
        -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") || fail "TLS login as app failed"
assert_eq t "$ssl" "TLS in use for app's connection"
assert_fails env PGPASSWORD=wrong-password "$PSQL" "host=127.0.0.1 port=$S0P user=app dbname=appdb" -XAtqc "SELECT 1"
log "app logs in with SCRAM over verified TLS; a wrong password is refused"

# --- replication -------------------------------------------------------------------------------
at_exit "psql_app $S0P 'DROP TABLE IF EXISTS $TABLE' >/dev/null 2>&1; psql_app $S1P 'DROP TABLE IF EXISTS $TABLE' >/dev/null 2>&1"
replica_has_row() { [[ $(psql_app "$1" "SELECT v FROM $TABLE WHERE id = 1") == "$2" ]]; }
replica_replayed() {   # PORT LSN: the replica's replay position has reached LSN
  [[ $(psql_su "$1" "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$2') >= 0") == t ]]
}

for p in $S0P $S1P; do
  token="written-on-$p-$RANDOM$RANDOM"
  psql_app "$p" "CREATE TABLE $TABLE (id int PRIMARY KEY, v text NOT NULL)" \
    "INSERT INTO $TABLE VALUES (1, '$token')" >/dev/null
  lsn=$(psql_su "$p" "SELECT pg_current_wal_lsn()")
  for r in ${REPLICAS_OF[$p]}; do
    wait_until "$REPLAY_TIMEOUT" replica_replayed "$r" "$lsn" ||
      fail "replica on port $r did not replay $lsn of primary $p within ${REPLAY_TIMEOUT}s"
    wait_until "$REPLAY_TIMEOUT" replica_has_row "$r" "$token" ||
      fail "row written on primary $p not visible on replica $r within ${REPLAY_TIMEOUT}s"
    # A hot standby refuses writes: SQLSTATE 25006 read_only_sql_transaction.
    assert_eq 25006 "$(sqlstate_app "$r" "INSERT INTO $TABLE VALUES (2, 'x')")" "INSERT on replica $r"
    assert_eq 25006 "$(sqlstate_su "$r" "CREATE TABLE ${TABLE}_x (i int)")" "CREATE TABLE on replica $r"
    assert_eq 0 "$(psql_app "$r" "SELECT count(*) FROM $TABLE WHERE id = 2")" "rows after refused INSERT on $r"
  done
  log "primary $p: write replayed by replicas ${REPLICAS_OF[$p]}; they reject writes with 25006"
done
assert_eq 00000 "$(sqlstate_app "$S0P" "INSERT INTO $TABLE VALUES (2, 'y')")" "INSERT on primary (control)"

# --- synchronous mode (local-cluster.sh up --sync) ---------------------------------------------
if [[ ${PGSCALE_SYNC:-0} == 1 ]]; then
  for p in $S0P $S1P; do
    assert_contains "$(psql_su "$p" "SHOW synchronous_standby_names")" "ANY 1" "synchronous_standby_names on $p"
    assert_eq 0 "$(psql_su "$p" "SELECT count(*) FROM pg_stat_replication WHERE sync_state NOT IN ('quorum', 'sync')")" \
      "asynchronous standbys of $p in --sync mode"
  done
  log "synchronous replication: every standby is a quorum member"
fi

log "PASS"

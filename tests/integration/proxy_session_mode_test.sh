#!/usr/bin/env bash
# pool.mode session: a client keeps one server connection for its whole session, so session state
# (SET, temp tables, SQL PREPARE, WITH HOLD cursors) works as on a direct connection; the server is
# reset before the next client gets it. SET pgscale.route (no effect in this mode) never fails.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 21))
proxy_target_start "$PORT" pool_mode=session max_size=2

out="$(tpsql -At <<'EOF_SQL' 2>&1
SELECT pg_backend_pid() AS p1 \gset
BEGIN; SELECT 1; COMMIT;
SELECT pg_backend_pid() = :p1 AS same_server;
SET work_mem = '7MB';
BEGIN; SELECT 2; COMMIT;
SHOW work_mem;
CREATE TEMP TABLE proxy_session_tmp AS SELECT g FROM generate_series(1, 5) g;
SELECT count(*) FROM proxy_session_tmp;
PREPARE proxy_session_q(int) AS SELECT $1 * 3;
EXECUTE proxy_session_q(14);
BEGIN; DECLARE proxy_session_c CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 3) g; COMMIT;
FETCH ALL FROM proxy_session_c;
EOF_SQL
)"
expect_eq "session state kept across transactions" $'1\nt\n2\n7MB\n5\n42\n1\n2\n3' "$out"

# The next client on the same (max 2) pool sees none of that session's state.
out="$(tpsql -At -c "SHOW work_mem" -c "SELECT count(*) FROM pg_prepared_statements" \
  -c "SELECT count(*) FROM pg_class WHERE relname = 'proxy_session_tmp' AND relpersistence = 't'" 2>&1)"
expect_eq "a later client starts clean" "$(super_psql -At -c 'SHOW work_mem')"$'\n0\n0' "$out"

# Three clients at once on a pool of 2 in session mode: the third waits for a server until one of
# the first two disconnects (each holds it 0.5 s, well within checkout_timeout 5 s).
pids=()
for i in 1 2 3; do
  # timeout: a client that never gets a server must fail the test, not hang it.
  PGPASSWORD="$PGSCALE_APP_PASSWORD" timeout 30 psql -X -q -At -h "$TARGET_HOST" -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" \
    -d "$PGSCALE_APP_DB" -c "SELECT pg_sleep(0.5), $i" >"$PROXY_TMP/s$i.out" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"  # only these: a bare `wait` would also wait for pgscale itself
for i in 1 2 3; do expect_eq "concurrent session client $i" "|$i" "$(cat "$PROXY_TMP/s$i.out")"; done

# SET pgscale.route has nothing to route here (a session keeps its server, on the primary), but
# every spelling that works in transaction mode must not fail here either — also once the session
# has its server, and through the extended protocol (PostgreSQL refuses the unquoted `primary`).
if [[ "$PGSCALE_TEST_TARGET" != direct ]]; then
  out="$(tpsql -At -v ON_ERROR_STOP=1 -c "SELECT 1" -c "SET pgscale.route = primary" -c "SET pgscale.route TO replica;" \
    -c "SET SESSION pgscale.route = 'auto'" -c "RESET pgscale.route" -c "SELECT 2" 2>&1)"
  expect_eq "session mode: SET pgscale.route, any spelling, no error" $'1\n2' "$out"
  if /usr/bin/python3 -c 'from psycopg import pq; pq.PGconn.enter_pipeline_mode' 2>/dev/null; then
    ci="host=127.0.0.1 port=$TARGET_PORT user=$PGSCALE_APP_USER password=$PGSCALE_APP_PASSWORD dbname=$PGSCALE_APP_DB"
    for mode in "" --named; do
      # shellcheck disable=SC2086
      out="$(timeout 30 /usr/bin/python3 "$HERE/routing_pipeline.py" $mode "$ci" 0 "SELECT 1" "SET pgscale.route = primary" \
        "SET SESSION pgscale.route TO replica;" "SELECT 2" 2>&1)"
      expect_eq "session mode, extended${mode:+ $mode}: SET pgscale.route, no error" "ok 1|ok|ok|ok 2" "$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
    done
  else
    echo "# psycopg 3 not installed for /usr/bin/python3: extended-protocol directive cases skipped"
  fi
fi
proxy_test_done

#!/usr/bin/env bash
# pool.mode session: a client keeps one server connection for its whole session, so session state
# (SET, temp tables, SQL PREPARE, WITH HOLD cursors) works as on a direct connection; the server is
# reset before the next client gets it.
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
proxy_test_done

#!/usr/bin/env bash
# pool.auto_prepare (proxy/auto_prepare.hpp): simple-protocol Queries run as server-side prepared
# statements and the client cannot tell. Against a pool of one server connection: every answer
# (rows, column types, command tags, errors) equals the direct connection's, run after run (the
# first run tries the shape, later ones run it prepared); the statement really is prepared on the
# server; a shape the server refuses costs the client nothing (one error where PostgreSQL gives
# one, never a stray reply); writes inside a transaction block commit or roll back as sent, and a
# shape met only inside blocks is tried later, outside one;
# pgbench -S -M simple runs with zero failed transactions.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 24))
proxy_target_start "$PORT" auto_prepare=true max_size=1 workers=1

direct() {
  PGPASSWORD="$PGSCALE_APP_PASSWORD" PGCONNECT_TIMEOUT=10 psql -X -q -At -F'|' -h 127.0.0.1 \
    -p "$PGSCALE_S0_PRIMARY_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" "$@" 2>&1
}
through() { tpsql -At -F'|' "$@" 2>&1; }

direct -c "DROP TABLE IF EXISTS auto_t" -c "CREATE TABLE auto_t (id int PRIMARY KEY, v numeric, b bigint, s text)" \
  -c "INSERT INTO auto_t SELECT g, g * 1.5, g * 3000000000, 'row ' || g FROM generate_series(1, 20) g" >/dev/null

queries=(
  "SELECT v, b, s FROM auto_t WHERE id = 3"
  "SELECT v, b, s FROM auto_t WHERE id = 4"
  "SELECT id, pg_typeof(1), pg_typeof(2.5), pg_typeof(3000000000), pg_typeof(99999999999999999999) FROM auto_t WHERE id = 1"
  "SELECT id FROM auto_t WHERE b > 30000000000 ORDER BY 1 LIMIT 3"
  "SELECT count(*), sum(v) FROM auto_t WHERE id IN (1, 2, 3) AND v BETWEEN 0 AND 100"
  "SELECT id % 3, count(*) FROM auto_t GROUP BY 1 ORDER BY 1"
  "SELECT 1::numeric(10,2), round(2.345, 2), -7, - 7.5, 1e3, .5"
  "SELECT -2147483648, pg_typeof(-2147483648), pg_typeof(-9223372036854775808)"
  "SELECT a[2] FROM (SELECT ARRAY[10, 20, 30] AS a) x"
  "SELECT id FROM auto_t WHERE id = 5 /* a comment */ -- and another"
  "SELECT FROM auto_t WHERE id = 2"
  "SELECT id FROM auto_t WHERE id = 999"
  "SELECT x FROM auto_t WHERE id = 1"
  "SELECT 1/0 FROM auto_t WHERE id = 1"
  "SELECT 2147483647 + 1"
)
for q in "${queries[@]}"; do
  want="$(direct -c "$q")"
  for run in 1 2 3; do
    expect_eq "run $run: $q" "$want" "$(through -c "$q")"
  done
done

# psql -c with several statements in one Query: not one statement, sent as it is.
expect_eq "two statements in one Query" "$(direct -c 'SELECT 1; SELECT 2')" "$(through -c 'SELECT 1; SELECT 2')"

# Writes: a transaction block that commits and one that rolls back; an implicit one.
out="$(through -c "BEGIN" -c "UPDATE auto_t SET v = v + 1 WHERE id = 7" -c "SELECT v FROM auto_t WHERE id = 7" \
  -c "COMMIT" -c "BEGIN" -c "UPDATE auto_t SET v = v + 100 WHERE id = 7" -c "ROLLBACK" \
  -c "INSERT INTO auto_t VALUES (21, 1.25, 5, 'x')" -c "DELETE FROM auto_t WHERE id = 21 RETURNING v")"
expect_eq "writes through the rewrite" "$(printf '%s\n' 11.5 1.25)" "$out"
expect_eq "the committed value, read directly" "11.5" "$(direct -c 'SELECT v FROM auto_t WHERE id = 7')"
expect_eq "no row 21 left" "0" "$(direct -c 'SELECT count(*) FROM auto_t WHERE id = 21')"

# An error inside a block: the block is aborted as PostgreSQL has it, and ROLLBACK recovers.
out="$(through -c "BEGIN" -c "SELECT 1/0 FROM auto_t WHERE id = 2" -c "SELECT v FROM auto_t WHERE id = 2" -c "ROLLBACK" \
  -c "SELECT v FROM auto_t WHERE id = 2")"
want="$(direct -c "BEGIN" -c "SELECT 1/0 FROM auto_t WHERE id = 2" -c "SELECT v FROM auto_t WHERE id = 2" -c "ROLLBACK" \
  -c "SELECT v FROM auto_t WHERE id = 2")"
expect_eq "an aborted block" "$want" "$out"

if [[ "$PGSCALE_TEST_TARGET" == pgscale ]]; then
  # One server connection: the statements it holds are pgscale's prepared shapes.
  prepared="$(through -c "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'pgscale_s%' ORDER BY statement")"
  expect_match "the lookup shape is prepared on the server" "SELECT v, b, s FROM auto_t WHERE id = \\\$1" "$prepared"
  expect_match "the write shape is prepared on the server" "DELETE FROM auto_t WHERE id = \\\$1 RETURNING v" "$prepared"
  # Met only inside transaction blocks: tried at a later quiet moment (a Query outside any block).
  expect_match "a shape met inside blocks is prepared later" "UPDATE auto_t SET v = v \\+ \\\$1 WHERE id = \\\$2" "$prepared"
  if grep -q 'SELECT x FROM auto_t' <<<"$prepared"; then tfail "a refused shape is not prepared"; else pass "a refused shape is not prepared"; fi
  if grep -q 'SELECT 1; SELECT 2' <<<"$prepared"; then tfail "two statements are not prepared"; else pass "two statements are not prepared"; fi
fi

script="$PROXY_TMP/auto.sql"
printf '%s\n' '\set id random(1, 20)' 'SELECT v FROM auto_t WHERE id = :id;' \
  'SELECT CASE WHEN :id BETWEEN 1 AND 20 THEN 1 ELSE 1/0 END;' >"$script"
out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" timeout 60 pgbench -n -f "$script" -M simple -c 8 -j 2 -T 3 \
  -h "$TARGET_HOST" -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" 2>&1)"
status=$?
echo "$out" | grep -E '^(number of transactions actually processed|number of failed|tps)' | sed 's/^/# /'
expect_eq "pgbench -M simple: exit status" "0" "$status"
expect_match "pgbench -M simple: zero failed transactions" "number of failed transactions: 0 " "$out"

direct -c "DROP TABLE IF EXISTS auto_t" >/dev/null
proxy_test_done

#!/usr/bin/env bash
# psql through pgscale behaves like psql against PostgreSQL: queries, multi-statement strings,
# errors and notices relayed verbatim, transactions, COPY of 100,000 rows in and out intact.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 12))
proxy_target_start "$PORT"
T=proxy_psql_t

# --- basic queries --------------------------------------------------------------------------
expect_eq "SELECT 1" "1" "$(tpsql -At -c 'SELECT 1' 2>&1)"
expect_eq "current_user and database" "$PGSCALE_APP_USER|$PGSCALE_APP_DB" \
  "$(tpsql -At -c 'SELECT current_user, current_database()' 2>&1)"
expect_eq "generate_series sum" "50005000" "$(tpsql -At -c 'SELECT sum(g) FROM generate_series(1,10000) g' 2>&1)"
expect_eq "server_version reported" "$(super_psql -At -c 'SHOW server_version')" "$(tpsql -At -c 'SHOW server_version' 2>&1)"
expect_eq "NULL and unicode" "|héllo wörld ✓" "$(tpsql -At -c "SELECT NULL::text, 'héllo wörld ✓'" 2>&1)"
expect_eq "wide row (1 MB text)" "1048576" "$(tpsql -At -c "SELECT length(repeat('x', 1048576))" 2>&1)"
expect_eq "large result (20,000 rows) intact" "20000 $(seq 1 20000 | md5sum | cut -d' ' -f1)" \
  "$(tpsql -At -c 'SELECT g FROM generate_series(1,20000) g' | { out=$(cat); echo "$(wc -l <<<"$out") $(md5sum <<<"$out" | cut -d' ' -f1)"; })"

tpsql -c "DROP TABLE IF EXISTS $T; CREATE TABLE $T (id int PRIMARY KEY, v text)" >/dev/null 2>&1
expect_eq "table created" "0" "$(tpsql -At -c "SELECT count(*) FROM $T" 2>&1)"

# --- multi-statement strings (one Query message, an implicit transaction) --------------------
expect_eq "multi-statement: every result shown" $'1\n2\n3' "$(tpsql -At -c 'SELECT 1; SELECT 2; SELECT 3' 2>&1)"
out="$(tpsql -At -c "INSERT INTO $T VALUES (1, 'a'); INSERT INTO $T VALUES (2, 'b'); SELECT count(*) FROM $T" 2>&1)"
expect_eq "multi-statement writes then read" "2" "$out"
out="$(tpsql -At -c "INSERT INTO $T VALUES (3, 'c'); SELECT 1/0; INSERT INTO $T VALUES (4, 'd')" 2>&1)"
expect_match "multi-statement error reported" "division by zero" "$out"
expect_eq "multi-statement with an error is rolled back as a whole" "2" "$(tpsql -At -c "SELECT count(*) FROM $T" 2>&1)"

# --- errors and notices relayed verbatim (all fields: SQLSTATE, message, detail, hint, position,
# location), compared with the same script run against the primary directly ----------------------
cat >"$PROXY_TMP/errors.sql" <<EOF
\set VERBOSITY verbose
SELECT 1/0;
\echo state=:LAST_ERROR_SQLSTATE
SELECT * FROM proxy_psql_no_such_table;
\echo state=:LAST_ERROR_SQLSTATE
INSERT INTO $T VALUES (1, 'dup');
\echo state=:LAST_ERROR_SQLSTATE
SELEC 1;
\echo state=:LAST_ERROR_SQLSTATE
DO \$\$BEGIN RAISE EXCEPTION 'custom failure %', 7 USING ERRCODE = 'P0042', DETAIL = 'the detail', HINT = 'the hint'; END\$\$;
\echo state=:LAST_ERROR_SQLSTATE
DO \$\$BEGIN RAISE NOTICE 'notice number %', 1; RAISE WARNING 'warning number %', 2; END\$\$;
SELECT 'still alive' AS after_errors;
EOF
via_target="$(tpsql -f "$PROXY_TMP/errors.sql" 2>&1)"
direct="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" psql -X -q -h 127.0.0.1 -p "$PGSCALE_S0_PRIMARY_PORT" \
  -U "$PGSCALE_APP_USER" -d "$PGSCALE_APP_DB" -f "$PROXY_TMP/errors.sql" 2>&1)"
expect_match "22012 division_by_zero" "ERROR:  22012: division by zero" "$via_target"
expect_match "42P01 undefined_table" 'ERROR:  42P01: relation "proxy_psql_no_such_table" does not exist' "$via_target"
expect_match "23505 unique_violation with detail" 'ERROR:  23505: duplicate key value violates unique constraint.*DETAIL:  Key \(id\)=\(1\) already exists' "$via_target"
expect_match "42601 syntax error" 'ERROR:  42601: syntax error at or near "SELEC"' "$via_target"
expect_match "custom SQLSTATE, detail and hint" 'ERROR:  P0042: custom failure 7.*DETAIL:  the detail.*HINT:  the hint' "$via_target"
expect_match "NoticeResponse relayed (NOTICE)" "NOTICE:  00000: notice number 1" "$via_target"
expect_match "NoticeResponse relayed (WARNING)" "WARNING:  01000: warning number 2" "$via_target"
expect_match "session usable after errors" "still alive" "$via_target"
expect_eq "SQLSTATEs seen by psql" $'state=22012\nstate=42P01\nstate=23505\nstate=42601\nstate=P0042' \
  "$(grep '^state=' <<<"$via_target")"
expect_eq "whole error/notice output identical to a direct connection" "$direct" "$via_target"

# --- transactions ----------------------------------------------------------------------------
tpsql -c "BEGIN; INSERT INTO $T VALUES (10, 'rolled back'); ROLLBACK;" >/dev/null 2>&1
expect_eq "ROLLBACK discards" "0" "$(tpsql -At -c "SELECT count(*) FROM $T WHERE id = 10" 2>&1)"
tpsql -c "BEGIN; INSERT INTO $T VALUES (11, 'committed'); COMMIT;" >/dev/null 2>&1
expect_eq "COMMIT persists (seen by a new connection)" "committed" "$(tpsql -At -c "SELECT v FROM $T WHERE id = 11" 2>&1)"
out="$(tpsql -At <<EOF 2>&1
\set VERBOSITY verbose
BEGIN;
INSERT INTO $T VALUES (12, 'x');
SELECT 1/0;
SELECT 1;
\echo in_failed_tx=:LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) FROM $T WHERE id = 12;
BEGIN;
INSERT INTO $T VALUES (13, 'y');
SAVEPOINT s1;
INSERT INTO $T VALUES (13, 'dup');
ROLLBACK TO SAVEPOINT s1;
INSERT INTO $T VALUES (14, 'z');
COMMIT;
SELECT string_agg(id::text, ',' ORDER BY id) FROM $T WHERE id IN (13, 14);
EOF
)"
expect_match "statement in a failed transaction gets 25P02" "ERROR:  25P02: current transaction is aborted" "$out"
expect_match "25P02 seen as LAST_ERROR_SQLSTATE" "in_failed_tx=25P02" "$out"
expect_match "ROLLBACK after an error, then the session works" $'\n0\n' "$out"
expect_match "savepoint rollback keeps the rest of the transaction" "13,14" "$out"
out="$(tpsql -At <<'EOF' 2>&1
BEGIN;
SELECT txid_current() AS x, pg_backend_pid() AS p \gset
SELECT pg_sleep(0.1);
SELECT txid_current() = :x AND pg_backend_pid() = :p;
COMMIT;
EOF
)"
expect_eq "statements of one transaction stay on one server" $'\nt' "$out"

# --- COPY 100,000 rows in (FROM STDIN) and out (TO STDOUT) -----------------------------------
# Text-format rows with tabs, backslashes, NULLs and non-ASCII, generated deterministically.
awk 'BEGIN { for (i = 1; i <= 100000; i++) {
  v = (i % 7 == 0) ? "\\N" : sprintf("row %d \\\\ tab\\there é%d", i, i * 31 % 1000);
  printf "%d\t%s\t%d\n", i, v, i * 3 } }' >"$PROXY_TMP/copy_in.tsv"
in_md5="$(md5sum <"$PROXY_TMP/copy_in.tsv" | cut -d' ' -f1)"
tpsql -c "DROP TABLE IF EXISTS ${T}_copy; CREATE TABLE ${T}_copy (id int, v text, n bigint)" >/dev/null 2>&1
out="$(tpsql -c "\\copy ${T}_copy FROM '$PROXY_TMP/copy_in.tsv'" 2>&1)"
expect_eq "COPY FROM STDIN: no error" "" "$out"
expect_eq "COPY in: row count, NULLs, sum" "100000|14285|15000150000" \
  "$(tpsql -At -c "SELECT count(*), count(*) FILTER (WHERE v IS NULL), sum(n) FROM ${T}_copy" 2>&1)"
expect_eq "COPY in: content md5 identical to a direct read" \
  "$(super_psql -d "$PGSCALE_APP_DB" -At -c "SELECT md5(string_agg(id || ':' || coalesce(v, '<null>') || ':' || n, '|' ORDER BY id)) FROM ${T}_copy")" \
  "$(tpsql -At -c "SELECT md5(string_agg(id || ':' || coalesce(v, '<null>') || ':' || n, '|' ORDER BY id)) FROM ${T}_copy" 2>&1)"
expect_eq "COPY in: a sample row" 'row 5 \ tab	here é155' "$(tpsql -At -c "SELECT v FROM ${T}_copy WHERE id = 5" 2>&1)"
tpsql -c "\\copy (SELECT id, v, n FROM ${T}_copy ORDER BY id) TO '$PROXY_TMP/copy_out.tsv'" >/dev/null 2>&1
expect_eq "COPY TO STDOUT: 100000 lines" "100000" "$(wc -l <"$PROXY_TMP/copy_out.tsv")"
expect_eq "COPY out is byte-identical to what went in" "$in_md5" "$(md5sum <"$PROXY_TMP/copy_out.tsv" | cut -d' ' -f1)"
# A COPY that fails midway (bad row 50,000) is rolled back and the session keeps working.
sed '50000s/^50000\t/notanint\t/' "$PROXY_TMP/copy_in.tsv" >"$PROXY_TMP/copy_bad.tsv"
out="$(tpsql -v VERBOSITY=verbose -c "\\copy ${T}_copy FROM '$PROXY_TMP/copy_bad.tsv'" -c "SELECT 'after copy error'" 2>&1)"
expect_match "failed COPY: 22P02 relayed" "22P02: invalid input syntax for type integer" "$out"
expect_match "failed COPY: session continues" "after copy error" "$out"
expect_eq "failed COPY inserted nothing" "100000" "$(tpsql -At -c "SELECT count(*) FROM ${T}_copy" 2>&1)"

tpsql -c "DROP TABLE IF EXISTS $T; DROP TABLE IF EXISTS ${T}_copy" >/dev/null 2>&1
proxy_test_done

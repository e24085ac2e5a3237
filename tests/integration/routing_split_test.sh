#!/usr/bin/env bash
# Read/write split through pgscale: plain reads spread over both shard-0 replicas; every write
# class runs on the primary (the statement itself returns inet_server_port()).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2

routing_start $((P + 21))

tpsql -c "DROP TABLE IF EXISTS rt_split, rt_into; CREATE TABLE rt_split (id int PRIMARY KEY, v int);
          INSERT INTO rt_split SELECT g, g FROM generate_series(1, 10) g;
          DROP SEQUENCE IF EXISTS rt_seq; CREATE SEQUENCE rt_seq;
          CREATE OR REPLACE FUNCTION rt_vol() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1';
          CREATE OR REPLACE FUNCTION rt_stable() RETURNS int STABLE LANGUAGE sql AS 'SELECT 2'" >/dev/null 2>&1
wait_replay_caught_up || tfail "replicas did not replay the setup"

# Plain reads: only replicas, both of them.
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "plain reads go to both replicas and never the primary ($dist)" 0 $?

# Every write class -> the primary. Each string is ONE simple Query (every statement counts).
declare -A writes=(
  [insert]="INSERT INTO rt_split VALUES (100, 1) ON CONFLICT (id) DO UPDATE SET v = rt_split.v + 1 RETURNING inet_server_port()"
  [update]="UPDATE rt_split SET v = v + 1 WHERE id = 1 RETURNING inet_server_port()"
  [delete]="DELETE FROM rt_split WHERE id = 10 RETURNING inet_server_port()"
  [writable_cte]="WITH u AS (UPDATE rt_split SET v = v + 1 WHERE id = 2 RETURNING id) SELECT inet_server_port() FROM u"
  [for_update]="SELECT inet_server_port() FROM rt_split WHERE id = 3 FOR UPDATE"
  [for_share_subquery]="SELECT inet_server_port() FROM (SELECT id FROM rt_split WHERE id = 3 FOR SHARE) s"
  [nextval]="SELECT nextval('rt_seq') > 0, inet_server_port()"
  [setval]="SELECT setval('rt_seq', 5) > 0, inet_server_port()"
  [advisory]="SELECT pg_advisory_xact_lock(42) IS NULL, inet_server_port()"
  [volatile_fn]="SELECT rt_vol(), inet_server_port()"
  [select_into]="DROP TABLE IF EXISTS rt_into; SELECT * INTO rt_into FROM rt_split; SELECT inet_server_port()"
  [ddl_multi]="CREATE TABLE IF NOT EXISTS rt_ddl (a int); SELECT inet_server_port()"
  [lock]="BEGIN; LOCK TABLE rt_split IN SHARE MODE; SELECT inet_server_port(); COMMIT"
  [notify]="NOTIFY rt_channel; SELECT inet_server_port()"
  [txn_block]="BEGIN; SELECT inet_server_port(); COMMIT"
  [explain_analyze]="EXPLAIN ANALYZE DELETE FROM rt_split WHERE id = -1; SELECT inet_server_port()"
  [hint]="/* pgscale: primary */ SELECT inet_server_port()"
  [parse_error]="SELECT inet_server_port(); SELEC 1"
)
for k in "${!writes[@]}"; do
  [[ "$k" == parse_error ]] && continue
  expect_eq "$k runs on the primary" "$P" "$(port_of "${writes[$k]}")"
done
# A string that does not parse goes to the primary, which reports the error.
err="$(tpsql -At -c "${writes[parse_error]}" 2>&1)"
expect_match "unparsable string: PostgreSQL's syntax error" 'syntax error' "$err"

# Read-only block -> a replica; SET pgscale.route = primary -> the primary for the session.
expect_match "BEGIN READ ONLY runs on a replica" "^($R1|$R2)$" \
  "$(port_of "BEGIN READ ONLY; SELECT inet_server_port(); COMMIT")"
# (unquoted: pgscale answers it; PostgreSQL would reject the reserved word `primary`)
sess="$(printf 'SET pgscale.route = primary;\nSELECT inet_server_port();\nSELECT inet_server_port();\nSET pgscale.route = auto;\nSELECT inet_server_port();\n' | tpsql -At -f - 2>&1)"
expect_eq "SET pgscale.route = primary then auto" "$P $P" "$(sed -n 1,2p <<<"$sess" | tr '\n' ' ' | sed 's/ $//')"
expect_match "... auto reads from a replica again" "^($R1|$R2)$" "$(sed -n 3p <<<"$sess")"
sess="$(printf "SET pgscale.route = 'primary';\nSELECT inet_server_port();\nRESET pgscale.route;\nSELECT inet_server_port();\n" | tpsql -At -f - 2>&1)"
expect_eq "SET pgscale.route = 'primary' (quoted, also passed to PostgreSQL)" "$P" "$(sed -n 1p <<<"$sess")"
expect_match "... RESET pgscale.route reads from a replica again" "^($R1|$R2)$" "$(sed -n 2p <<<"$sess")"

# A user function learnt from the primary's catalog: STABLE -> replicas (after the refresh that
# meeting an unknown name triggers; bounded 20 s), VOLATILE stays on the primary.
stable_port=""
for ((i = 0; i < 40; i++)); do
  stable_port="$(port_of "SELECT rt_stable(), inet_server_port()")"
  [[ "$stable_port" == "$R1" || "$stable_port" == "$R2" ]] && break
  sleep 0.5
done
expect_match "STABLE user function runs on a replica once the catalog knows it" "^($R1|$R2)$" "$stable_port"
expect_eq "VOLATILE user function still on the primary" "$P" "$(port_of "SELECT rt_vol(), inet_server_port()")"

tpsql -c "DROP TABLE IF EXISTS rt_split, rt_into, rt_ddl; DROP SEQUENCE IF EXISTS rt_seq;
          DROP FUNCTION IF EXISTS rt_vol(); DROP FUNCTION IF EXISTS rt_stable()" >/dev/null 2>&1
proxy_test_done

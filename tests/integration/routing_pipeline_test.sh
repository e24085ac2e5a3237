#!/usr/bin/env bash
# A write pipelined after a read that went to a replica (libpq pipeline mode, the write sent
# before the read's ReadyForQuery came back) runs on the primary: pgscale forwards the read, waits
# for the replica's ReadyForQuery 'I', then attaches the primary for the write (check_route).
# With pool.checkout_timeout shorter than the read, the write gets an error in its place and the
# pipeline goes on. A read and a write in ONE implicit transaction (no Sync between them), sent in
# separate TCP segments, both run on the primary. SET pgscale.route inside a transaction block (any spelling) is answered by
# pgscale and takes effect for the next transaction; through the extended protocol (unnamed or
# prepared, pipelined or not) every spelling works as well. Pipelines that change session state get
# their replies in order, with and without TLS, several clients at once; an implicit transaction
# sent at once over TLS is held until its Sync as over plain TCP.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2
if ! /usr/bin/python3 -c 'from psycopg import pq; pq.PGconn.enter_pipeline_mode' 2>/dev/null; then
  echo "skipped: psycopg 3 (libpq pipeline mode) is not installed for /usr/bin/python3"; exit 77
fi

routing_start $((P + 25))
FAST_PORT=$((P + 26))
tpsql -c "DROP TABLE IF EXISTS rt_pipe; CREATE TABLE rt_pipe (id serial PRIMARY KEY, port int)" >/dev/null 2>&1
wait_replay_caught_up || tfail "replicas did not replay the setup"
dist="$(wait_reads_on "$R1|$R2" 2)"
expect_eq "reads on the replicas before the pipeline tests ($dist)" 0 $?

conninfo() { echo "host=127.0.0.1 port=$1 user=$PGSCALE_APP_USER password=$PGSCALE_APP_PASSWORD dbname=$PGSCALE_APP_DB"; }
pipeline() {  # [--named] PORT GAP SQL...
  local flags=() port
  if [[ "$1" == --* ]]; then flags=("$1"); shift; fi
  port="$1"; shift
  timeout 60 /usr/bin/python3 "$HERE/routing_pipeline.py" "${flags[@]}" "$(conninfo "$port")" "$@" 2>&1
}
# parallel_pipelines SSLMODE REGEX ARGS...: 4 clients at once, 8 runs each, of routing_pipeline.py
# ARGS; prints the runs whose output (lines joined by |) does not match REGEX.
parallel_pipelines() {
  local ssl="$1" re="$2" pids=() k i out got
  shift 2
  for k in 1 2 3 4; do
    for ((i = 0; i < 8; i++)); do
      out="$(PGSSLMODE=$ssl timeout 15 /usr/bin/python3 "$HERE/routing_pipeline.py" "$@" 2>&1)"
      got="$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
      [[ "$got" =~ $re ]] || echo "client $k run $i: $got"
    done >"$PROXY_TMP/parallel-$k.out" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$PROXY_TMP"/parallel-*.out
}
# pg_sleep is volatile: the hint keeps the slow read on a replica.
READ="/* pgscale: replica */ SELECT pg_sleep(1.5), inet_server_port()"
WRITE="INSERT INTO rt_pipe (port) VALUES (inet_server_port()) RETURNING inet_server_port()"

# read (slow, on a replica) | write sent 0.3 s later, while the read runs.
out="$(pipeline "$TARGET_PORT" 0.3 "$READ" "$WRITE")"
echo "$out" | sed 's/^/# pipeline: /'
expect_match "pipelined read ran on a replica" "^ok ($R1|$R2)$" "$(sed -n 1p <<<"$out")"
expect_eq "pipelined write after it ran on the primary, no error" "ok $P" "$(sed -n 2p <<<"$out")"
expect_eq "the row was written once, by the primary" "1|$P" "$(super_psql -d "$PGSCALE_APP_DB" -At -c "SELECT count(*), max(port) FROM rt_pipe")"

# read | read | write | read: the second read stays with the first (same replica, no switch), the
# write moves to the primary, the last read is a new transaction (read-your-writes: primary).
out="$(pipeline "$TARGET_PORT" 0.2 "$READ" "SELECT inet_server_port()" "$WRITE" "SELECT inet_server_port()")"
echo "$out" | sed 's/^/# pipeline: /'
first="$(sed -n 1p <<<"$out" | cut -d' ' -f2)"
expect_match "read 1 on a replica" "^($R1|$R2)$" "$first"
expect_eq "read 2, pipelined behind read 1, on the same replica" "ok $first" "$(sed -n 2p <<<"$out")"
expect_eq "write 3 on the primary" "ok $P" "$(sed -n 3p <<<"$out")"
expect_eq "read 4 after the write, no error" ok "$(sed -n 4p <<<"$out" | cut -d' ' -f1)"
expect_eq "two rows written" 2 "$(super_psql -d "$PGSCALE_APP_DB" -At -c "SELECT count(*) FROM rt_pipe")"

# One implicit transaction (no Sync between): a plain read flushed first, the write 0.3 s later in
# another TCP segment. pgscale holds the read until the Sync arrives and sends both to the
# primary (on a replica the write would fail with 25006).
out="$(timeout 60 /usr/bin/python3 "$HERE/routing_pipeline.py" --one-sync "$(conninfo "$TARGET_PORT")" 0.3 \
  "SELECT inet_server_port()" "$WRITE" 2>&1)"
echo "$out" | sed 's/^/# one implicit transaction: /'
expect_eq "read of an implicit transaction that later writes: on the primary" "ok $P" "$(sed -n 1p <<<"$out")"
expect_eq "its write, in a later segment: on the primary, no error" "ok $P" "$(sed -n 2p <<<"$out")"
expect_eq "three rows written" 3 "$(super_psql -d "$PGSCALE_APP_DB" -At -c "SELECT count(*) FROM rt_pipe")"

# The wait for the replica is bounded by pool.checkout_timeout: the write gets an error in its
# place (after the read's rows), the read after it runs normally.
routing_start "$FAST_PORT" checkout_timeout=500ms
dist="$(wait_reads_on "$R1|$R2" 2)"
out="$(pipeline "$FAST_PORT" 0.2 "$READ" "$WRITE" "SELECT 'after'")"
echo "$out" | sed 's/^/# pipeline (checkout_timeout 500ms): /'
expect_match "slow read still answered" "^ok ($R1|$R2)$" "$(sed -n 1p <<<"$out")"
expect_match "write refused after the bounded wait" "^error 53300 .*checkout_timeout" "$(sed -n 2p <<<"$out")"
expect_eq "next pipelined statement answered" "ok after" "$(sed -n 3p <<<"$out")"
expect_eq "the refused write wrote nothing" 3 "$(super_psql -d "$PGSCALE_APP_DB" -At -c "SELECT count(*) FROM rt_pipe")"
TARGET_PORT=$((P + 25))

# SET pgscale.route inside a transaction block, every spelling that works outside one: answered
# by pgscale (no error), the block stays where it is, the next transaction follows it.
for spelling in "SET pgscale.route = primary;" "SET pgscale.route = 'primary';" "SET pgscale.route TO primary;" \
                "SET SESSION pgscale.route = primary;" "set pgscale.route to 'primary' ;"; do
  out="$(printf 'BEGIN READ ONLY;\n%s\nSELECT inet_server_port();\nCOMMIT;\nSELECT inet_server_port();\nSELECT inet_server_port();\n' \
    "$spelling" | tpsql -At -v ON_ERROR_STOP=1 -f - 2>&1)"
  expect_match "[$spelling] in a READ ONLY block: no error, block stays on its replica" "^($R1|$R2)$" "$(sed -n 1p <<<"$out")"
  expect_eq "[$spelling] next transactions on the primary" "$P $P" "$(sed -n 2,3p <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
  expect_eq "[$spelling] nothing else printed" 3 "$(wc -l <<<"$out")"
done
for spelling in "SET pgscale.route = auto;" "SET pgscale.route = 'auto';" "SET pgscale.route TO replica;" \
                "SET SESSION pgscale.route = replica;" "RESET pgscale.route;"; do
  out="$(printf 'SET pgscale.route = primary;\nBEGIN;\n%s\nSELECT inet_server_port();\nCOMMIT;\nSELECT inet_server_port();\n' \
    "$spelling" | tpsql -At -v ON_ERROR_STOP=1 -f - 2>&1)"
  expect_eq "[$spelling] in a read-write block: no error, block stays on the primary" "$P" "$(sed -n 1p <<<"$out")"
  expect_match "[$spelling] next read on a replica" "^($R1|$R2)$" "$(sed -n 2p <<<"$out")"
  expect_eq "[$spelling] nothing else printed" 2 "$(wc -l <<<"$out")"
done
# Through the extended protocol (a JDBC Statement.execute, PQexecParams, a prepared statement)
# every spelling works too, also the unquoted reserved word `primary` PostgreSQL's grammar refuses:
# no error, and the connection's next transactions follow the directive.
for mode in "" --named; do
  for spelling in "SET pgscale.route = primary" "SET pgscale.route TO primary;" "SET SESSION pgscale.route = 'primary'"; do
    # shellcheck disable=SC2086
    out="$(pipeline $mode "$TARGET_PORT" 0 "$spelling" "SELECT inet_server_port()" "SELECT inet_server_port()")"
    expect_eq "[extended${mode:+ $mode}: $spelling] no error, then the primary" "ok|ok $P|ok $P" "$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
  done
done

# A pipeline whose first transaction changes session state (its ReadyForQuery waits while pgscale
# reads the settings back) and whose next messages pgscale answers itself (ParseComplete of a
# statement the server has): every reply in its place, the server kept until all are answered —
# also when writes to the client wait (TLS) and several such clients run at once. Both went wrong
# before (a ParseComplete ahead of the ReadyForQuery; a server released with a Bind unanswered, the
# client waiting forever): each run failed ~1 in 10 then.
for ssl in disable require; do
  bad="$(parallel_pipelines "$ssl" '^ok\|ok [0-9]+\|ok [0-9]+$' --named "$(conninfo "$TARGET_PORT")" 0 \
    "SET statement_timeout = '1min'" "SELECT inet_server_port()" "SELECT inet_server_port()")"
  [[ -z "$bad" ]] && echo "# sslmode=$ssl: 32 pipelines answered in order" || echo "$bad" | head -5 | sed 's/^/# /'
  expect_eq "[sslmode=$ssl] 4 clients x 8 pipelined SET + named statements: every reply, in order" 0 "$(grep -c . <<<"$bad")"
done

# One implicit transaction sent at once over TLS: the read's and the write's records arrive
# together, and OpenSSL holds the write's while the read is looked at (the socket shows nothing
# more to read). pgscale reads on until the Sync: both on the primary (before, ~1 in 8 of these
# went to a replica and failed with 25006).
bad="$(parallel_pipelines require "^ok $P\\|ok $P\$" --one-sync "$(conninfo "$TARGET_PORT")" 0 "SELECT inet_server_port()" "$WRITE")"
[[ -z "$bad" ]] && echo "# TLS, one implicit transaction: 32 pipelines on the primary" || echo "$bad" | head -5 | sed 's/^/# /'
expect_eq "[sslmode=require] 4 clients x 8 read+write in one implicit transaction: all on the primary" 0 "$(grep -c . <<<"$bad")"
expect_eq "... every row written by the primary" 0 \
  "$(super_psql -d "$PGSCALE_APP_DB" -At -c "SELECT count(*) FROM rt_pipe WHERE port <> $P")"

# One statement at a time (psycopg 3 runs each through the extended protocol; prepare=True makes
# it a named prepared statement): the directive takes effect for the connection's next reads.
out="$(timeout 60 /usr/bin/python3 - "$(conninfo "$TARGET_PORT")" <<'PY' 2>&1
import sys
import psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as c:
    for sql, prepare in (("SET pgscale.route = primary", False), ("SET pgscale.route TO replica", True),
                         ("SET pgscale.route = primary", True), ("SET pgscale.route = 'auto'", False)):
        c.execute(sql, prepare=prepare)
        print(c.execute("SELECT inet_server_port()").fetchone()[0])
PY
)"
expect_match "[extended, one at a time] primary, replica, primary (prepared), auto" \
  "^$P\|($R1|$R2)\|$P\|($R1|$R2)$" "$(tr '\n' '|' <<<"$out" | sed 's/|$//')"

# The directive is pgscale's, not the server's: what a server runs for it in transaction pooling
# (a Parse must reach one) leaves no value on the pooled connection, which the client's next
# transaction (the same server here: the directive says primary) or any other client could see.
# Before, the quoted SET itself ran there and `primary` stayed visible.
out="$(timeout 60 /usr/bin/python3 - "$(conninfo "$TARGET_PORT")" <<'PY' 2>&1
import sys
import psycopg
show = "/* pgscale: primary */ SELECT coalesce(current_setting('pgscale.route', true), '')"
with psycopg.connect(sys.argv[1], autocommit=True) as c, psycopg.connect(sys.argv[1], autocommit=True) as other:
    for prepare in (False, True, False, True):
        c.execute("SET pgscale.route = primary", prepare=prepare)
        print("own=%r other=%r" % (c.execute(show).fetchone()[0], other.execute(show).fetchone()[0]))
PY
)"
echo "$out" | sed 's/^/# /'
expect_eq "[extended] the directive leaves no pgscale.route value on a pooled server" 4 \
  "$(grep -c "^own='' other=''$" <<<"$out")"

# A failed block: the server answers (25P02) as for any statement, the directive is not taken.
out="$(printf 'BEGIN;\nSELECT 1/0;\nSET pgscale.route = primary;\nROLLBACK;\nSELECT inet_server_port();\n' | tpsql -At -f - 2>&1)"
expect_match "directive in a failed block: PostgreSQL's error" "current transaction is aborted|syntax error" "$out"
expect_match "... and reads still go to a replica" "($R1|$R2)$" "$(tail -n 1 <<<"$out")"

tpsql -c "DROP TABLE IF EXISTS rt_pipe" >/dev/null 2>&1
proxy_test_done

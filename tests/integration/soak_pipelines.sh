#!/usr/bin/env bash
# Soak: many clients at once send pipelines through pgscale for SOAK_SECONDS (default 120), each run
# a pick of the mixes below, over TLS or plain TCP at random, against two pgscales (pool.auto_prepare
# off and on) with the read/write split on. Every run's replies are checked (order, node, no error
# but the intended one, no hang). The three relay bugs of session 11 each showed in about 1 of 10
# such runs; the ctest cases (routing_pipeline_test.sh) run only 32 per mix.
#
#   PGSCALE_CLUSTER_DIR=DIR [SOAK_SECONDS=120] [SOAK_CLIENTS=6] bash tests/integration/soak_pipelines.sh
#
# Not a ctest test (its name does not end in _test.sh): run it by hand or from a soak job.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh; P R1 R2
/usr/bin/python3 -c 'from psycopg import pq; pq.PGconn.enter_pipeline_mode' 2>/dev/null ||
  { echo "skipped: psycopg 3 (libpq pipeline mode) is not installed for /usr/bin/python3"; exit 77; }
SECONDS_TOTAL=${SOAK_SECONDS:-120}
CLIENTS=${SOAK_CLIENTS:-6}
[[ $SECONDS_TOTAL =~ ^[1-9][0-9]*$ && $CLIENTS =~ ^[1-9][0-9]?$ ]] || { tfail "SOAK_SECONDS, SOAK_CLIENTS (1-99)"; proxy_test_done; }

routing_start $((P + 27))
PLAIN_PORT=$TARGET_PORT
routing_start $((P + 28)) auto_prepare=true
AP_PORT=$TARGET_PORT
tpsql -c "DROP TABLE IF EXISTS soak_rows; CREATE TABLE soak_rows (id serial PRIMARY KEY, port int)" >/dev/null 2>&1
wait_replay_caught_up || tfail "replicas did not replay the setup"

WRITE="INSERT INTO soak_rows (port) VALUES (inet_server_port()) RETURNING inet_server_port()"
N='[0-9]+'
# mix NUMBER: sets MODE, WANT (a regex over the replies joined by |) and SQLS.
mix() {
  case $1 in
    0) MODE=--named WANT="^ok\|ok $N\|ok $N$" SQLS=("SET statement_timeout = '1min'" "SELECT inet_server_port()" "SELECT inet_server_port()") ;;
    1) MODE="" WANT="^ok\|ok $N\|ok $N$" SQLS=("SET search_path = public" "SELECT inet_server_port()" "SELECT inet_server_port()") ;;
    2) MODE=--named WANT="^ok\|ok $P\|ok $P$" SQLS=("SET pgscale.route = primary" "SELECT inet_server_port()" "SELECT inet_server_port()") ;;
    3) MODE=--one-sync WANT="^ok $P\|ok $P$" SQLS=("SELECT inet_server_port()" "$WRITE") ;;
    4) MODE="" WANT="^ok $N\|ok $P\|ok $N$" SQLS=("SELECT inet_server_port()" "$WRITE" "SELECT inet_server_port()") ;;
    5) MODE=--named WANT="^ok 20000\|ok\|ok $N\|ok 500$" SQLS=("SELECT repeat('x', 500), g FROM generate_series(1, 20000) g"
         "SET statement_timeout = 0" "SELECT inet_server_port()" "SELECT repeat('y', 50), g FROM generate_series(1, 500) g") ;;
    6) MODE="" WANT="^ok\|error 22012 [^|]*\|ok $N$" SQLS=("SET statement_timeout = 0" "SELECT 1/0" "SELECT inet_server_port()") ;;
  esac
}
MIXES=7

# client K: runs random mixes until the deadline; one line per run: "ok" or what went wrong.
client() {
  local k=$1 deadline=$2 i=0 m ssl port out got rc
  RANDOM=$((k * 7919 + $$))
  while ((SECONDS < deadline && i < 100000)); do
    m=$((RANDOM % MIXES)) ssl=$([[ $((RANDOM % 2)) == 0 ]] && echo disable || echo require)
    port=$([[ $((RANDOM % 2)) == 0 ]] && echo "$PLAIN_PORT" || echo "$AP_PORT")
    mix "$m"
    # shellcheck disable=SC2086
    out="$(PGSSLMODE=$ssl timeout 30 /usr/bin/python3 "$HERE/routing_pipeline.py" $MODE \
      "host=127.0.0.1 port=$port user=$PGSCALE_APP_USER password=$PGSCALE_APP_PASSWORD dbname=$PGSCALE_APP_DB" 0 "${SQLS[@]}" 2>&1)"
    rc=$?
    got="$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
    if [[ $rc == 0 && "$got" =~ $WANT ]]; then echo ok; else echo "mix $m sslmode=$ssl port $port rc=$rc: $got"; fi
    i=$((i + 1))
  done
}

deadline=$((SECONDS + SECONDS_TOTAL))
echo "# $CLIENTS clients for ${SECONDS_TOTAL}s, ports $PLAIN_PORT (auto_prepare off) and $AP_PORT (on)"
pids=()
for ((k = 1; k <= CLIENTS; k++)); do
  client "$k" "$deadline" >"$PROXY_TMP/soak-$k.out" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
runs=$(cat "$PROXY_TMP"/soak-*.out | wc -l)
bad=$(cat "$PROXY_TMP"/soak-*.out | grep -v '^ok$')
echo "# $runs pipelines, $(grep -c . <<<"$bad") failed"
[[ -n "$bad" ]] && head -n 10 <<<"$bad" | sed 's/^/# /'
expect_eq "some pipelines ran" 1 "$((runs > 0))"
expect_eq "every pipeline answered in order, on the right node, without a hang" 0 "$(grep -c . <<<"$bad")"
expect_eq "every row written by the primary" 0 \
  "$(super_psql -d "$PGSCALE_APP_DB" -At -c "SELECT count(*) FROM soak_rows WHERE port <> $P")"
tpsql -c "DROP TABLE IF EXISTS soak_rows" >/dev/null 2>&1
proxy_test_done

#!/usr/bin/env bash
# pgbench in the simple, extended and prepared protocol modes at 50 clients through a pgscale whose
# pool holds at most 10 server connections: zero failed transactions, and the primary never sees
# more than 10 connections of the app user. -M prepared makes every client prepare the same named
# statements (P_0...) once and execute them on whichever server serves each transaction (issue 4):
# the primary must hold them under pgscale's shared names only, at most once per connection.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 13))
POOL_MAX=10
CLIENTS=50
DURATION="${PGSCALE_PGBENCH_SECONDS:-5}"
proxy_target_start "$PORT" "max_size=$POOL_MAX" pool_mode=transaction checkout_timeout=30s

# Initialise directly on the primary: the point here is the benchmark traffic, and `-i` uses COPY
# and DDL that proxy_psql_test.sh covers through pgscale already.
out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" pgbench -i -s 1 -q -h 127.0.0.1 -p "$PGSCALE_S0_PRIMARY_PORT" \
  -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" 2>&1)"
expect_eq "pgbench -i exit status" "0" "$?"
expect_eq "pgbench_accounts ready" "100000" "$(tpsql -At -c 'SELECT count(*) FROM pgbench_accounts' 2>&1)"

# sample_server_conns OUTFILE: every 0.2 s, the number of app connections on the primary.
sample_server_conns() {
  local out="$1" i
  for ((i = 0; i < 600; i++)); do
    server_conns_of_app >>"$out" 2>/dev/null || true
    [[ -e "$PROXY_TMP/stop_sampling" ]] && break
    sleep 0.2
  done
}

for mode in simple extended prepared; do
  rm -f "$PROXY_TMP/stop_sampling" "$PROXY_TMP/conns_$mode"
  sample_server_conns "$PROXY_TMP/conns_$mode" &
  sampler=$!
  out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" timeout $((DURATION + 60)) pgbench -n -M "$mode" -c "$CLIENTS" -j 2 \
    -T "$DURATION" -h "$TARGET_HOST" -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" 2>&1)"
  status=$?
  touch "$PROXY_TMP/stop_sampling"
  wait "$sampler"
  echo "$out" | grep -E '^(query mode|number of clients|number of transactions actually processed|number of failed transactions|tps|latency average)' | sed "s/^/# [$mode] /"
  expect_eq "pgbench -M $mode: exit status" "0" "$status"
  expect_match "pgbench -M $mode: zero failed transactions" "number of failed transactions: 0 " "$out"
  processed="$(grep -oE 'number of transactions actually processed: [0-9]+' <<<"$out" | grep -oE '[0-9]+$')"
  expect_gt "pgbench -M $mode: transactions processed" 0 "${processed:-}"
  expect_eq "pgbench -M $mode: no client aborted" "" "$(grep -iE 'client [0-9]+ aborted|error' <<<"$out" | head -n 3)"
  max_conns="$(sort -n "$PROXY_TMP/conns_$mode" | tail -n 1)"
  echo "# [$mode] most app connections seen on the primary: ${max_conns:-none}"
  if [[ "$PGSCALE_TEST_TARGET" == pgscale ]]; then
    expect_le "pgbench -M $mode: server connections used <= pool max_size $POOL_MAX" "$POOL_MAX" "${max_conns:-}"
    expect_gt "pgbench -M $mode: server connections were observed" 0 "${max_conns:-}"
  else
    # Directly every client is a server connection: proves the sampler sees them.
    expect_gt "pgbench -M $mode: direct clients seen by the sampler" "$POOL_MAX" "${max_conns:-}"
  fi
done

if [[ "$PGSCALE_TEST_TARGET" == pgscale ]]; then
  # After -M prepared: the 50 clients' statements were shared, not prepared per client.
  pgbench_stmts="$(tpsql -At -c "SELECT count(*) FROM pg_prepared_statements" 2>&1)"
  expect_eq "a fresh server transaction sees no client-named statement" "0" \
    "$(tpsql -At -c "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'P\_%'" 2>&1)"
  echo "# statements prepared on the server serving this psql: $pgbench_stmts"
fi

expect_gt "history rows written by the runs" 0 "$(tpsql -At -c 'SELECT count(*) FROM pgbench_history' 2>&1)"
proxy_test_done

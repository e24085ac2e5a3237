#!/usr/bin/env bash
# Issue 4: `pgbench -M prepared -c 100 -j 2 -T 10` through a transaction pool of 10 servers: zero
# failed transactions, some processed, and the primary never sees more than 10 app connections.
# Named prepared statements must be re-prepared on whichever server serves each transaction.
# PGSCALE_TEST_TARGET=direct runs the same against the primary itself.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 33))
POOL_MAX=10
CLIENTS=100
DURATION="${PGSCALE_PGBENCH_SECONDS:-10}"
proxy_target_start "$PORT" "max_size=$POOL_MAX" pool_mode=transaction checkout_timeout=30s

# Initialised directly on the primary: the point is the -M prepared traffic through pgscale.
out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" timeout 120 pgbench -i -s 1 -q -h 127.0.0.1 -p "$PGSCALE_S0_PRIMARY_PORT" \
  -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" 2>&1)"
expect_eq "pgbench -i exit status" "0" "$?"

# Only backends started from here on are counted (app_backends_since): pgscale's pool is still empty,
# while pgbench -i's backend or one an earlier test left may still be there.
since="$(server_clock)"
expect_match "server clock read" '^[0-9]{4}-' "$since"
app_backends_before "$since" | sed 's/^/# app backend older than this run (not counted): /'
rm -f "$PROXY_TMP/stop_sampling"
( for ((i = 0; i < 600; i++)); do
    n="$(app_backends_since "$since" 2>/dev/null)"
    if [[ "$n" =~ ^[0-9]+$ ]]; then
      echo "$n" >>"$PROXY_TMP/conns"
      if [[ "$PGSCALE_TEST_TARGET" == pgscale ]] && (( n > POOL_MAX )); then
        app_backends_since "$since" detail | sed "s/^/# over the limit ($n): /" >>"$PROXY_TMP/over"
      fi
    fi
    [[ -e "$PROXY_TMP/stop_sampling" ]] && break
    sleep 0.2
  done ) &
sampler=$!
out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" timeout $((DURATION + 60)) pgbench -n -M prepared -c "$CLIENTS" -j 2 \
  -T "$DURATION" -h "$TARGET_HOST" -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" 2>&1)"
status=$?
touch "$PROXY_TMP/stop_sampling"
wait "$sampler"
grep -E '^(query mode|number of clients|number of transactions actually processed|number of failed transactions|tps)' \
  <<<"$out" | sed 's/^/# /'
expect_eq "pgbench -M prepared: exit status" "0" "$status"
expect_match "pgbench -M prepared: zero failed transactions" "number of failed transactions: 0 " "$out"
processed="$(grep -oE 'number of transactions actually processed: [0-9]+' <<<"$out" | grep -oE '[0-9]+$')"
expect_gt "pgbench -M prepared: transactions processed" 0 "${processed:-}"
errors="$(grep -iE 'aborted|error' <<<"$out" | head -n 5)"
expect_eq "pgbench -M prepared: no client aborted, no error" "" "$errors"
[[ -r "$PROXY_TMP/over" ]] && head -n 40 "$PROXY_TMP/over"
max_conns="$(sort -n "$PROXY_TMP/conns" | tail -n 1)"
echo "# most app connections seen on the primary: ${max_conns:-none}"
if [[ "$PGSCALE_TEST_TARGET" == pgscale ]]; then
  expect_le "server connections used <= pool max_size $POOL_MAX" "$POOL_MAX" "${max_conns:-}"
  expect_gt "server connections were observed" 0 "${max_conns:-}"
else
  expect_gt "direct: every client is a server connection" "$POOL_MAX" "${max_conns:-}"
fi
proxy_test_done

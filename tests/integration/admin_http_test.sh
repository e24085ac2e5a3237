#!/usr/bin/env bash
# Admin HTTP through a real pgscale on the local cluster: /metrics is valid Prometheus text
# (promtool) and shows the pool a client used and the monitor's view of the node; /health says ok;
# /status is JSON with the pool; unknown paths get 404; a non-GET gets 405; idle clients park and
# are served again (pgscale_client_sessions_parked).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

if [[ "$PGSCALE_TEST_TARGET" != pgscale ]]; then
  echo "# admin HTTP is pgscale's own: nothing to check directly"
  exit 0
fi
PORT=$((PGSCALE_S0_PRIMARY_PORT + 38))
ADMIN=$((PGSCALE_S0_PRIMARY_PORT + 39))
CONF="$PROXY_TMP/admin.yaml"
make_config "$CONF" "$PORT" || { tfail "make_config"; proxy_test_done; }
sed -i "s/^  http_port: 0$/  http_port: $ADMIN/" "$CONF"
start_pgscale "$CONF" "$PORT" || { tfail "pgscale started"; proxy_test_done; }
TARGET_HOST=127.0.0.1
TARGET_PORT="$PORT"

# http METHOD PATH: the raw HTTP/1.0 response (bash's /dev/tcp; no curl needed), bounded by timeout.
http() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "%s %s HTTP/1.0\r\nHost: x\r\n\r\n" "$1" "$2" >&3 && cat <&3' \
    "$ADMIN" "$1" "$2"
}
body() { sed '1,/^\r$/d'; }

expect_eq "a query through pgscale" "1" "$(tpsql -At -c 'SELECT 1')"

# The monitor's first round may take a moment: wait (bounded) for the node to show as up.
metrics=""
for _ in $(seq 1 50); do
  metrics="$(http GET /metrics | body)"
  [[ "$metrics" == *'pgscale_node_up{node="s0-primary",shard="s0",role="primary"} 1'* ]] && break
  sleep 0.2
done
expect_match "/metrics: node up as primary" 'pgscale_node_up\{node="s0-primary",shard="s0",role="primary"\} 1' "$metrics"
expect_match "/metrics: the app pool has a server connection" \
  "pgscale_pool_server_connections\\{node=\"s0-primary\",database=\"$PGSCALE_APP_DB\",user=\"$PGSCALE_APP_USER\"\\} [1-9]" "$metrics"
expect_match "/metrics: pins by reason" 'pgscale_pins_total\{reason="listen"\} [0-9]+' "$metrics"
if out="$(printf '%s\n' "$metrics" | promtool check metrics 2>&1)"; then pass "promtool check metrics"; else tfail "promtool check metrics: $out"; fi

expect_match "/metrics content type" 'Content-Type: text/plain; version=0.0.4' "$(http GET /metrics | head -5)"
expect_match "/health 200 ok" '^HTTP/1.0 200' "$(http GET /health | head -1)"
status="$(http GET /status | body)"
expect_match "/status JSON names the pool" "\"node\":\"s0-primary\",\"database\":\"$PGSCALE_APP_DB\",\"user\":\"$PGSCALE_APP_USER\"" "$status"
expect_match "unknown path 404" '^HTTP/1.0 404' "$(http GET /nope | head -1)"
expect_match "POST 405" '^HTTP/1.0 405' "$(http POST /metrics | head -1)"
expect_eq "pgscale still serves after the admin requests" "2" "$(tpsql -At -c 'SELECT 2')"

# Idle clients park (after about a second without a query they wait outside Asio's reactor,
# holding only their socket and session) and are served again when they send: one client quiet
# from its login on, one quiet after a first query (plain TCP: a TLS session waits in Asio).
parked_now() { http GET /metrics | body | awk '$1 == "pgscale_client_sessions_parked" {print $2}'; }
# wait_parked N: the parked-sessions gauge once it reads N, or its last reading after ~4 s.
wait_parked() {
  local n=""
  for _ in $(seq 1 40); do
    n="$(parked_now)"
    [[ "$n" == "$1" ]] && break
    sleep 0.1
  done
  echo "$n"
}
( sleep 5; echo 'SELECT 31;' ) | PGSSLMODE=disable tpsql -At >"$PROXY_TMP/park1.out" 2>&1 &
park1=$!
( echo 'SELECT 32;'; sleep 5; echo 'SELECT 33;' ) | PGSSLMODE=disable tpsql -At >"$PROXY_TMP/park2.out" 2>&1 &
park2=$!
expect_eq "/metrics: both idle clients parked" "2" "$(wait_parked 2)"
wait "$park1"
wait "$park2"
expect_eq "a client quiet since its login is served after parking" "31" "$(cat "$PROXY_TMP/park1.out")"
expect_eq "a client quiet after a query is served after parking" $'32\n33' "$(cat "$PROXY_TMP/park2.out")"
expect_eq "/metrics: no session parked once they left" "0" "$(wait_parked 0)"
proxy_test_done

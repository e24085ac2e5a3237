#!/usr/bin/env bash
# Limits through pgscale: over listen.max_client_connections a client gets 53300; with a pool of one
# server held by a transaction, another client gets an error naming the pool after checkout_timeout.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 22))
if [[ "$PGSCALE_TEST_TARGET" != pgscale ]]; then
  echo "# pgscale-only limits (max_client_connections, checkout_timeout): nothing to check directly"
  exit 0
fi
proxy_target_start "$PORT" max_clients=5 max_size=1 checkout_timeout=1s
PGSCALE_TEST_MAX_CLIENTS=5 run_client_program libpq_client_test 1 '[limits]'
proxy_test_done

#!/usr/bin/env bash
# Issue 4: 100 clients over a transaction pool of 5 servers interleave protocol-level prepared
# statements, SET/RESET/set_config, transactions with SET LOCAL, DEALLOCATE and DISCARD ALL, each
# verifying it only ever sees its own state (tests/integration/txpool_clients.cpp).
# PGSCALE_TEST_TARGET=direct runs the same program against the primary itself.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 30))
POOL_MAX=5
proxy_target_start "$PORT" "max_size=$POOL_MAX" pool_mode=transaction checkout_timeout=30s
run_client_program txpool_clients "$POOL_MAX"
proxy_test_done

#!/usr/bin/env bash
# Issue 4: pinning (tests/integration/txpool_pinning.cpp). Temp tables, SQL PREPARE, WITH HOLD
# cursors, LISTEN/NOTIFY, session advisory locks and SET ROLE through a transaction pool of 3
# servers; then, through a pool of ONE server with a 1 s checkout timeout, a second client gets
# 53300 while the first is pinned and is served once the state is dropped or its client left.
# PGSCALE_TEST_TARGET=direct runs the same program against the primary itself.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 31))
proxy_target_start "$PORT" max_size=3 pool_mode=transaction checkout_timeout=10s
run_client_program txpool_pinning 3 '~[pool1]'

PORT1=$((PGSCALE_S0_PRIMARY_PORT + 32))
proxy_target_start "$PORT1" max_size=1 pool_mode=transaction checkout_timeout=1s
run_client_program txpool_pinning 1 '[pool1]'
proxy_test_done

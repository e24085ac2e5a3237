#!/usr/bin/env bash
# Cancel through pgscale: PQcancel of pg_sleep(30) returns 57014 (elapsed time printed), a wrong
# key cancels nothing, a cancel reaches only its own client (tests/clients/libpq_concurrency_test.cpp).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 17))
proxy_target_start "$PORT" max_size=10
run_client_program libpq_client_test 10 '[cancel]'
proxy_test_done

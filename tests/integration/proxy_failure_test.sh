#!/usr/bin/env bash
# Failure semantics through pgscale: a client vanishing mid-transaction leaves no dirty server;
# a server killed mid-transaction gives the client an error and its next transaction works.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 20))
proxy_target_start "$PORT" max_size=10
run_client_program libpq_client_test 10 '[failure]'
proxy_test_done

#!/usr/bin/env bash
# libpq through pgscale (tests/clients/libpq_client_test.cpp): PQexec, PQexecParams, pipeline mode,
# COPY both ways, TLS, and the [prepared] cases (named statements across transactions and clients,
# shared by pgscale between clients and re-prepared on whichever server serves them; issue 4).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 16))
proxy_target_start "$PORT" max_size=10
run_client_program libpq_client_test 10 '~[cancel]~[auth]~[failure]'
proxy_test_done

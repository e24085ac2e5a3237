#!/usr/bin/env bash
# Bad input through pgscale (tests/clients/bad_input_test.cpp, raw sockets): malformed and
# oversized frames, bad versions, SSLRequest + injected plaintext, silent clients (startup_timeout 2s),
# garbage: 08P01 then close, never a hang; a good client and pgscale keep working after each.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 19))
proxy_target_start "$PORT" max_size=10 startup_timeout=2s tls_mode=allow
run_client_program bad_input_test 10
proxy_test_done

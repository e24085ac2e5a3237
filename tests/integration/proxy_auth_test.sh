#!/usr/bin/env bash
# Client authentication through pgscale: SCRAM-SHA-256 with the right password works; a wrong
# password and an unknown user are refused with 28P01, an unknown database with 3D000, exactly the
# messages PostgreSQL gives (SQLSTATEs checked by tests/clients/libpq_client_test.cpp [auth]).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 18))
proxy_target_start "$PORT" max_size=5

# apsql USER PASSWORD DB [sslmode]: one connection attempt, prints psql's output, returns its status.
apsql() {
  PGPASSWORD="$2" psql -X -At "host=127.0.0.1 port=$TARGET_PORT user=$1 dbname=$3 sslmode=${4:-disable} connect_timeout=10" \
    -c 'SELECT current_user' 2>&1
}

out="$(apsql "$PGSCALE_APP_USER" "$PGSCALE_APP_PASSWORD" "$PGSCALE_APP_DB")"
expect_eq "right password: connected as the app user" "$PGSCALE_APP_USER" "$out"
out="$(apsql "$PGSCALE_APP_USER" "$PGSCALE_APP_PASSWORD" "$PGSCALE_APP_DB" require)"
expect_eq "right password over TLS" "$PGSCALE_APP_USER" "$out"
out="$(apsql "$PGSCALE_APP_USER" wrong-password "$PGSCALE_APP_DB")"
expect_match "wrong password refused" "FATAL:  password authentication failed for user \"$PGSCALE_APP_USER\"" "$out"
out="$(apsql "$PGSCALE_APP_USER" "" "$PGSCALE_APP_DB")"
expect_match "empty password refused" "(password authentication failed|no password supplied)" "$out"
out="$(apsql proxy_auth_nobody whatever "$PGSCALE_APP_DB")"
expect_match "unknown user refused like a wrong password" 'FATAL:  password authentication failed for user "proxy_auth_nobody"' "$out"
out="$(apsql "$PGSCALE_APP_USER" "$PGSCALE_APP_PASSWORD" proxy_auth_nodb)"
expect_match "unknown database refused" 'FATAL:  database "proxy_auth_nodb" does not exist' "$out"
# Failed attempts leave the door open for the right one.
out="$(apsql "$PGSCALE_APP_USER" "$PGSCALE_APP_PASSWORD" "$PGSCALE_APP_DB")"
expect_eq "right password still works after refusals" "$PGSCALE_APP_USER" "$out"

run_client_program libpq_client_test 5 '[auth]'
proxy_test_done

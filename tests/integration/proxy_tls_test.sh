#!/usr/bin/env bash
# Client-side TLS: psql "sslmode=require" works through pgscale (the client's own view: \conninfo),
# the configured certificate is the one served (sslmode=verify-ca against it), and with
# listen.tls.mode require a plaintext client (sslmode=disable) is refused. A first query that
# arrives with the login's last message, in the same segment, is answered (TLS and plain).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT_ALLOW=$((PGSCALE_S0_PRIMARY_PORT + 14))
PORT_REQUIRE=$((PGSCALE_S0_PRIMARY_PORT + 15))

# cpsql PORT SSLMODE [psql args]: the app user with an explicit sslmode.
cpsql() {
  local port="$1" mode="$2"; shift 2
  PGPASSWORD="$PGSCALE_APP_PASSWORD" PGCONNECT_TIMEOUT=10 psql -X -q \
    "host=127.0.0.1 port=$port user=$PGSCALE_APP_USER dbname=$PGSCALE_APP_DB sslmode=$mode sslrootcert=$PGSCALE_TLS_CERT" "$@"
}

# --- tls.mode allow: both kinds of client work, each sees what it asked for --------------------
proxy_target_start "$PORT_ALLOW" tls_mode=allow
out="$(cpsql "$TARGET_PORT" require -At -c '\conninfo' -c 'SELECT 40 + 2' 2>&1)"
expect_match "sslmode=require: client reports an SSL connection" "SSL connection \(protocol: TLSv1\.[23]" "$out"
expect_match "sslmode=require: query works" $'\n42' "$out"
out="$(cpsql "$TARGET_PORT" verify-ca -c '\conninfo' -At -c "SELECT md5(repeat('tls', 500000))" 2>&1)"
expect_match "sslmode=verify-ca against the configured certificate" "SSL connection" "$out"
expect_match "1.5 MB result over TLS intact" "$(printf 'tls%.0s' $(seq 1 500000) | md5sum | cut -d' ' -f1)" "$out"
out="$(cpsql "$TARGET_PORT" require -At -c "SELECT length(string_agg(md5(g::text), '')) FROM generate_series(1, 50000) g" 2>&1)"
expect_eq "large aggregate over TLS" "1600000" "$out"
out="$(cpsql "$TARGET_PORT" disable -c '\conninfo' -c 'SELECT 1' 2>&1)"
expect_match "sslmode=disable accepted when TLS is optional" "You are connected" "$out"
if grep -q "SSL connection" <<<"$out"; then tfail "sslmode=disable must not use TLS: $out"; else pass "sslmode=disable is plaintext"; fi
# A client that sends its first query together with its last login message (in one TCP segment;
# over TLS two records): PostgreSQL answers it. pgscale did not: over TLS the record sat in
# OpenSSL's input while pgscale waited for the socket; over plain TCP the query came in with the
# password message and pgscale waited for more before looking at it.
# Also with a 60 KiB query: more ciphertext than the server's TLS layer takes in one read.
for mode in tls --plain; do
  for size in "" --big; do
    for i in 1 2 3; do
      # shellcheck disable=SC2046
      out="$(timeout 30 python3 "$HERE/early_query.py" $([[ $mode == --plain ]] && echo --plain) $size 127.0.0.1 \
        "$TARGET_PORT" "$PGSCALE_APP_USER" "$PGSCALE_APP_PASSWORD" "$PGSCALE_APP_DB" 2>&1)"
      expect_eq "first query${size:+ (60 KiB)} sent with the login's last message ($mode), answered (try $i)" \
        "early query answered" "$out"
    done
  done
done
# COPY through TLS (copy data crosses many TLS records).
seq 1 30000 >"$PROXY_TMP/tls_copy.txt"
cpsql "$TARGET_PORT" require -c 'DROP TABLE IF EXISTS proxy_tls_t' >/dev/null 2>&1
out="$(cpsql "$TARGET_PORT" require -At -c 'CREATE TABLE proxy_tls_t (n int)' \
  -c "\\copy proxy_tls_t FROM '$PROXY_TMP/tls_copy.txt'" -c 'SELECT count(*), sum(n) FROM proxy_tls_t' -c 'DROP TABLE proxy_tls_t' 2>&1)"
expect_eq "COPY FROM STDIN over TLS" "30000|450015000" "$out"

# --- tls.mode require: plaintext refused, TLS works -------------------------------------------
if [[ "$PGSCALE_TEST_TARGET" == pgscale ]]; then
  saved_pid="$PGSCALE_PID"
  proxy_target_start "$PORT_REQUIRE" tls_mode=require
  out="$(cpsql "$TARGET_PORT" disable -c 'SELECT 1' 2>&1)"
  status=$?
  expect_eq "tls require: sslmode=disable refused (psql exit status 2)" "2" "$status"
  expect_match "tls require: refusal is an error message from the server" "FATAL:" "$out"
  echo "# refusal seen by psql: $(tr '\n' ' ' <<<"$out")"
  out="$(cpsql "$TARGET_PORT" require -c '\conninfo' -At -c 'SELECT 7' 2>&1)"
  expect_match "tls require: sslmode=require works" "SSL connection" "$out"
  expect_match "tls require: query result" $'\n7' "$out"
  # psql's default sslmode=prefer upgrades to TLS and works.
  out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" psql -X -At "host=127.0.0.1 port=$TARGET_PORT user=$PGSCALE_APP_USER dbname=$PGSCALE_APP_DB" -c 'SELECT 8' 2>&1)"
  expect_eq "tls require: sslmode=prefer (default) works" "8" "$out"
  if kill -0 "$saved_pid" 2>/dev/null; then pass "first pgscale still running"; else tfail "first pgscale died"; fi
else
  echo "# tls.mode require is pgscale configuration: the refusal checks run only against pgscale"
fi
proxy_test_done

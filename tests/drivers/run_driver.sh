#!/usr/bin/env bash
# run_driver.sh DRIVER: runs the driver test program DRIVER (psycopg | pgjdbc | node_pg) against the
# target: PGSCALE_TEST_TARGET=pgscale (default) starts a pgscale of its own in transaction mode with
# a pool of 3 servers for the program's 20 connections; PGSCALE_TEST_TARGET=direct runs it against
# the shard-0 primary itself (which validates the program). Exits 77 (skipped) with the reason when
# the driver is not installed (deploy/install-deps.sh installs psycopg 3 and pgjdbc).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INTEGRATION="$HERE/../integration"
# shellcheck disable=SC1091
[[ -r "$INTEGRATION/lib.sh" ]] && source "$INTEGRATION/lib.sh"
# shellcheck disable=SC1091
source "$INTEGRATION/proxy_lib.sh"

DRIVER="${1:-}"
POOL_MAX=3
PGJDBC_JAR=/usr/share/java/postgresql.jar
# node-postgres: Debian's node-pg (/usr/share/nodejs) or a global npm install (`npm install -g pg`).
NODE_PATH_DEB=/usr/share/nodejs
if command -v npm >/dev/null; then NODE_PATH_DEB="$NODE_PATH_DEB:$(npm root -g 2>/dev/null)"; fi
case "$DRIVER" in
  psycopg)
    if ! /usr/bin/python3 -c 'import psycopg' 2>/dev/null; then
      echo "skipped: psycopg 3 is not installed for /usr/bin/python3 (apt-get install python3-psycopg)"; exit 77
    fi
    CMD=(/usr/bin/python3 "$HERE/psycopg_test.py")
    OFFSET=34 ;;
  pgjdbc)
    if [[ ! -r $PGJDBC_JAR ]] || ! command -v java >/dev/null; then
      echo "skipped: pgjdbc ($PGJDBC_JAR, apt-get install libpostgresql-jdbc-java) or java is missing"; exit 77
    fi
    # Single-file source launch: compiled in memory, no build step.
    CMD=(java -cp "$PGJDBC_JAR" "$HERE/PgjdbcTest.java")
    OFFSET=35 ;;
  node_pg)
    if ! command -v node >/dev/null || ! NODE_PATH="$NODE_PATH_DEB:${NODE_PATH:-}" node -e "require('pg')" 2>/dev/null; then
      echo "skipped: node-postgres is not installed (require('pg') fails with NODE_PATH=$NODE_PATH_DEB:${NODE_PATH:-}; Debian: node-pg, or npm install -g pg)"; exit 77
    fi
    CMD=(env "NODE_PATH=$NODE_PATH_DEB:${NODE_PATH:-}" node "$HERE/node_pg_test.js")
    OFFSET=36 ;;
  *) echo "usage: run_driver.sh psycopg|pgjdbc|node_pg" >&2; exit 2 ;;
esac

proxy_target_start "$((PGSCALE_S0_PRIMARY_PORT + OFFSET))" "max_size=$POOL_MAX" pool_mode=transaction \
  checkout_timeout=30s
out="$(TXPOOL_HOST="$TARGET_HOST" TXPOOL_PORT="$TARGET_PORT" TXPOOL_USER="$PGSCALE_APP_USER" \
  TXPOOL_PASSWORD="$PGSCALE_APP_PASSWORD" TXPOOL_DB="$PGSCALE_APP_DB" PGOPTIONS= timeout 240 "${CMD[@]}" 2>&1)"
status=$?
sed 's/^/#   /' <<<"$out" | tail -n 60
expect_eq "$DRIVER test program passed (exit status)" "0" "$status"
expect_match "$DRIVER test program reported its checks" "[1-9][0-9]* checks, 0 mismatches" "$out"
proxy_test_done

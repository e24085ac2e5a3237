#!/usr/bin/env bash
# Nodes reached over PostgreSQL's unix-domain socket (node host = the socket directory, as libpq
# reads host): the monitor sees them, reads go to the replicas and writes to the primary over
# the socket (inet_server_addr() is NULL there), a client reads its own write, auto_prepare runs
# pgbench without a failure, a cancel reaches the backend over the socket, and a directory without
# the server's socket is a clear connection error for the client.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/routing_lib.sh"  # lib.sh, proxy_lib.sh, skip unless the target is pgscale; P R1 R2

routing_start $((P + 35)) server_host="$PGSCALE_SOCKET_DIR" auto_prepare=true

# Each line: the server's port and whether the session came over the unix-domain socket.
where='SELECT current_setting($$port$$) || $$ $$ || (inet_server_addr() IS NULL)::text'

tpsql -c "DROP TABLE IF EXISTS rt_unix; CREATE TABLE rt_unix (id int PRIMARY KEY, v int)" >/dev/null 2>&1
wait_replay_caught_up || tfail "replicas did not replay the setup"

# Reads: both replicas (the monitor must have found them healthy over their sockets), bounded 20 s.
reads=""
for ((i = 0; i < 40; i++)); do
  reads="$(for ((k = 0; k < 20; k++)); do echo "$where;"; done | tpsql -At -f - 2>&1 | sort | uniq -c | tr '\n' ' ')"
  grep -q "$R1 true" <<<"$reads" && grep -q "$R2 true" <<<"$reads" && break
  sleep 0.5
done
expect_match "plain reads on both replicas over the socket ($reads)" "^ *[0-9]+ ($R1|$R2) true +[0-9]+ ($R1|$R2) true *$" "$reads"

# A write on the primary over the socket, and the same client reads it back at once.
out="$(tpsql -At -c "INSERT INTO rt_unix VALUES (1, 42) RETURNING current_setting('port') || ' ' || (inet_server_addr() IS NULL)::text" -c "SELECT v FROM rt_unix WHERE id = 1" 2>&1 | tr '\n' ' ')"
expect_eq "write on the primary over the socket, then read your own write" "$P true 42 " "$out"
out="$(tpsql -At -c "BEGIN" -c "UPDATE rt_unix SET v = v + 1 WHERE id = 1" -c "$where" -c "COMMIT" 2>&1 | tr '\n' ' ')"
expect_eq "a transaction block on the primary over the socket" "$P true " "$out"

# auto_prepare over the socket: numbers become parameters of statements prepared on the server.
script="$PROXY_TMP/unix.sql"
printf '\\set id random(1, 1)\nSELECT v FROM rt_unix WHERE id = :id;\nUPDATE rt_unix SET v = v + 1 WHERE id = :id;\n' >"$script"
out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" timeout 60 pgbench -n -f "$script" -M simple -c 4 -j 2 -T 3 \
  -h 127.0.0.1 -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" 2>&1)"
status=$?
expect_eq "pgbench over the socket: exit status" "0" "$status"
expect_match "pgbench over the socket: zero failed transactions" "number of failed transactions: 0 " "$out"
on_socket="$(super_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$PGSCALE_APP_USER' AND client_addr IS NULL AND backend_type = 'client backend'")"
expect_gt "pgscale's server connections to the primary are on the socket" 0 "$on_socket"

# A cancel goes to the backend over its socket (pg_sleep is a read: it runs on a replica).
run_client_program libpq_client_test 30 '[cancel]'

# A directory without the server's socket: the client gets pgscale's connection error, naming it.
BAD_PORT=$((P + 36))
make_config "$PROXY_TMP/bad.yaml" "$BAD_PORT" server_host="$PROXY_TMP/no-such-dir" || tfail "make_config"
start_pgscale "$PROXY_TMP/bad.yaml" "$BAD_PORT" || proxy_test_done
out="$(TARGET_PORT=$BAD_PORT tpsql -c "SELECT 1" 2>&1)"
expect_match "missing socket: the client's error names the socket" \
  "FATAL: +cannot connect to $PROXY_TMP/no-such-dir/.s.PGSQL.$P: No such file or directory" "$out"
expect_match "missing socket: SQLSTATE 08006 (pgscale's log)" \
  "FATAL 08006 cannot connect to $PROXY_TMP/no-such-dir/.s.PGSQL.$P" "$(cat "$PGSCALE_LOG")"

tpsql -c "DROP TABLE IF EXISTS rt_unix" >/dev/null 2>&1
proxy_test_done

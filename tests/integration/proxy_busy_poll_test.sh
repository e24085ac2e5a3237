#!/usr/bin/env bash
# listen.busy_poll_us (proxy/worker_loop.hpp): workers that poll before they sleep relay exactly as
# sleeping ones do — pgbench at 1 client (where they poll) and at 16 clients in the extended
# protocol (two workers, pool of 4: checkouts wait, wake-ups cross threads), zero failed
# transactions and the right answers — and pgscale still stops promptly and cleanly on SIGTERM.
# No tables: a pgbench script computes on random values and checks nothing goes astray.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
[[ -r "$HERE/lib.sh" ]] && source "$HERE/lib.sh"
# shellcheck disable=SC1091
source "$HERE/proxy_lib.sh"

PORT=$((PGSCALE_S0_PRIMARY_PORT + 23))
proxy_target_start "$PORT" busy_poll_us=200 workers=2 max_size=4 checkout_timeout=30s

if [[ "$PGSCALE_TEST_TARGET" == pgscale ]]; then
  expect_match "start-up log names the polling" "workers poll up to 200 us" "$(cat "$PGSCALE_LOG")"
fi

script="$PROXY_TMP/poll.sql"
printf '%s\n' '\set v random(1, 1000000)' 'SELECT :v::int + 1 AS w \gset' \
  'SELECT CASE WHEN :w = :v + 1 THEN 1 ELSE 1/0 END;' >"$script"
for run in "1 simple" "16 extended"; do
  read -r clients mode <<<"$run"
  out="$(PGPASSWORD="$PGSCALE_APP_PASSWORD" timeout 60 pgbench -n -f "$script" -M "$mode" -c "$clients" \
    -j $((clients > 1 ? 2 : 1)) -T 3 -h "$TARGET_HOST" -p "$TARGET_PORT" -U "$PGSCALE_APP_USER" \
    "$PGSCALE_APP_DB" 2>&1)"
  status=$?
  echo "$out" | grep -E '^(number of transactions actually processed|number of failed|tps)' | sed "s/^/# [c$clients $mode] /"
  expect_eq "pgbench -c $clients -M $mode: exit status" "0" "$status"
  expect_match "pgbench -c $clients -M $mode: zero failed transactions" "number of failed transactions: 0 " "$out"
  processed="$(grep -oE 'number of transactions actually processed: [0-9]+' <<<"$out" | grep -oE '[0-9]+$')"
  expect_gt "pgbench -c $clients -M $mode: transactions processed" 100 "${processed:-0}"
done
expect_eq "a psql query after the runs" "42" "$(tpsql -At -c 'SELECT 40 + 2' 2>&1)"

if [[ "$PGSCALE_TEST_TARGET" == pgscale ]]; then
  # Idle now, and polling ended: SIGTERM must stop it (drain with no client: at once).
  kill -TERM "$PGSCALE_PID"
  stopped=no
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$PGSCALE_PID" 2>/dev/null; then stopped=yes; break; fi
    sleep 0.1
  done
  expect_eq "pgscale stopped within 10 s of SIGTERM" "yes" "$stopped"
  [[ "$stopped" == yes ]] && PGSCALE_PID=""  # stopped on purpose: not "died during the test"
fi
proxy_test_done

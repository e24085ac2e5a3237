# shellcheck shell=bash
# Markdown report of bench/run.sh (sourced); reads $WORK/results.tsv, $WORK/idle.tsv.

declare -gA LABEL=([direct]="direct" [pgbouncer]="PgBouncer" [pgpool]="Pgpool-II"
  [pgscale]="pgscale (split off)" [pgscale-rw]="pgscale (split on)" [pgscale-base]="pgscale baseline"
  [pgscale-poll]="pgscale (split off, busy polling)" [pgscale-ap]="pgscale (split off, auto_prepare)"
  [pgbouncer-unix]="PgBouncer (unix socket to server)"
  [pgscale-ap-unix]="pgscale (split off, auto_prepare, unix socket to server)")

# tps VALUE: whole transactions per second ("-" stays).
tps() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.0f", v; else printf "%s", v }'; }

# col CASE TARGET FIELD: the ok runs' values of one results.tsv column (5 tps, 6 avg, 7 p50, 8 p99,
# 10 initial connection time).
col() { awk -F'\t' -v c="$1" -v t="$2" -v f="$3" '$1 == c && $2 == t && $4 == "ok" {print $f}' "$WORK/results.tsv"; }

# med CASE TARGET FIELD: median of that column (word-split on purpose: one number per run).
med() {
  # shellcheck disable=SC2046
  median $(col "$1" "$2" "$3")
}

# runs_in CASE TARGET: the case has TARGET and this run selected it.
runs_in() { [[ " ${CASE_TARGETS[$1]} " == *" $2 "* ]] && target_selected "$2"; }

ratio() { # A B -> A/B with 2 decimals, or n/a
  awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

delta_us() { # A_ms B_ms -> (A-B) in µs
  awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%+.0f", (a - b) * 1000; else printf "n/a" }'
}

pgscale_version() {
  local v
  if [ -x "$PGSCALE_BIN" ] && v=$("$PGSCALE_BIN" --version 2>&1); then echo "${v%%$'\n'*}"
  else echo "not available (no working $PGSCALE_BIN)"; fi
}

report_machine() {
  cat <<EOF
## Machine

| | |
|---|---|
| host | $(hostname -s) |
| CPUs (nproc) | $(nproc) |
| CPU model | $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) |
| memory | $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) |
| kernel | $(uname -r) |
| load average at start / end | $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg) |

## Versions

| | |
|---|---|
| PostgreSQL | $("$PG_BIN/postgres" --version) |
| pgbench | $("$PG_BIN/pgbench" --version) |
| PgBouncer | $(pgbouncer --version 2>&1 | head -n 1) |
| Pgpool-II | $(pgpool --version 2>&1 | head -n 1) |
| pgscale | $(pgscale_version) |
| git commit | $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo " (work tree modified)") |
EOF
}

report_settings() {
  cat <<EOF

## Settings

- mode **$MODE**: pgbench scale $SCALE, each case ${DURATION} s per run, $REPS repetition(s), targets
  interleaved within each repetition (direct, PgBouncer, Pgpool-II, pgscale, ...); figures are medians.
  Started $STARTED, finished $FINISHED.
- cluster: $CLUSTER_KIND; max_connections $MAX_CONN; everything on 127.0.0.1 over TCP (except the
  server hop of the two "unix socket to server" targets, below), SCRAM-SHA-256 client authentication
  everywhere; pgbench -j 2 (-j 1 for one client), per-transaction logs for p50/p99.
  pgbench's -T clock includes opening the clients' connections while its tps excludes that time, so
  runs without -C get -T ${DURATION} + (1 + clients/40) s, Pgpool-II ${DURATION} + (2 + clients/16) s (its
  children log in slowly), and a run that processed nothing within that is retried once with more
  time; "initial connect ms" is pgbench's figure.
- "proxy CPU µs/tx": user+system CPU of the proxy's processes (Pgpool-II: all its children) during the
  run, divided by the transactions pgbench reports; "pgbench CPU µs/tx" the same for the client;
  "PostgreSQL CPU µs/tx" the same for every process of the cluster (primary and replicas, exited
  backends included): what a proxy makes the server spend per transaction. They
  move far less with the machine's load than TPS. With \`-C\` every login makes pgbench derive the
  SCRAM key (4096 PBKDF2-SHA-256 rounds): milliseconds of client CPU per connection, which on two
  shared cores bounds the TPS of every target whatever the proxy spends.
- PgBouncer: pool_mode=transaction, default_pool_size=$POOL_SIZE, max_client_conn=11000, auth_file with
  the app user's SCRAM verifier, client TLS allowed, no TLS to the server. PgBouncer before 1.21 does
  not track protocol-level prepared statements in transaction mode, so \`-M prepared\` with more clients
  than one fails there ("prepared statement ... already exists / does not exist"): that is expected.
- Pgpool-II: streaming_replication mode, load_balance_mode=on with reads to the replicas (weight 0 on
  the primary), num_init_children=$PGPOOL_CHILDREN, max_pool=1, no watchdog, health check every 5 s.
  The TLS case uses a second Pgpool-II instance with ssl=on (Pgpool-II's ssl also encrypts its
  backend connections, which would slow every other case); num_init_children=16 there.
- pgscale: pool.max_size=$POOL_SIZE per node, transaction pooling, listen TLS allowed, no server
  TLS; "split off" = routing.read_write_split false (everything to the primary), "split on" = reads to
  the replicas; "busy polling" = split off with listen.busy_poll_us $BUSY_POLL_US (a worker out of work
  polls its sockets that long before it sleeps, while a CPU is free; off by default); "auto_prepare" =
  split off with pool.auto_prepare on (simple-protocol Queries run as prepared statements; off by
  default). Binary:
  \`$PGSCALE_BIN\`.
- "unix socket to server" (the proxy colocated with PostgreSQL): a second PgBouncer, configured
  exactly as the first, and pgscale split off with auto_prepare, whose connections to PostgreSQL go
  over its unix-domain socket ($PGSCALE_SOCKET_DIR, \`local trust\`, so no server login) instead of
  loopback TCP. Clients reach them over TCP 127.0.0.1 like every other target. Both proxies get the
  same server hop, so their ratio stays a fair proxy-vs-proxy comparison; direct is pgbench over TCP
  as always, so ratios to direct include what the proxy saves on its own server hop.
- Process models differ: PgBouncer is one single-threaded process multiplexing every client over
  $POOL_SIZE server connections (transaction pooling). Pgpool-II forks num_init_children processes, each
  serving ONE client for the client's whole session and keeping its own cached backend connection per
  node: it is session-level pooling, so N concurrent clients need N processes and up to N server
  connections on every node, and clients beyond num_init_children wait in the listen queue. pgscale
  is one process multiplexing clients over per-node pools (transaction pooling) with one worker
  thread (two cores or fewer; one per core above).
- Every server and proxy runs in its own session, as daemons do (PgBouncer -d and pg_ctl call
  setsid(); pgscale and Pgpool-II are started with setsid): with the kernel's autogroup scheduling
  ($(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo ?) = sched_autogroup_enabled)
  a process left in pgbench's session would share pgbench's CPU share.
- Noise: this machine is shared (load averages above); treat differences under ~10 % as noise.
EOF
}

report_case() { # CASE
  local id=$1 t tps runs fails d_tps b_tps s_tps d_p50 s_p50
  printf '\n### %s\n\n| target | TPS (median) | runs ok | latency avg ms | p50 ms | p99 ms | initial connect ms | proxy CPU µs/tx | pgbench CPU µs/tx | PostgreSQL CPU µs/tx | TPS of each run |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n' \
    "${CASE_TITLE[$id]}"
  for t in ${CASE_TARGETS[$id]}; do
    target_selected "$t" || continue
    runs=$(col "$id" "$t" 5 | wc -l)
    tps=$(med "$id" "$t" 5)
    printf '| %s | %s | %s/%s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$t]}" "$(tps "$tps")" "$runs" "$REPS" \
      "$(med "$id" "$t" 6)" "$(med "$id" "$t" 7)" "$(med "$id" "$t" 8)" "$(med "$id" "$t" 10)" \
      "$(med "$id" "$t" 11)" "$(med "$id" "$t" 12)" "$(med "$id" "$t" 13)" \
      "$(for v in $(col "$id" "$t" 5); do tps "$v"; printf ' '; done)"
  done
  d_tps=$(med "$id" direct 5); b_tps=$(med "$id" pgbouncer 5); s_tps=$(med "$id" pgscale 5)
  d_p50=$(med "$id" direct 7); s_p50=$(med "$id" pgscale 7)
  printf '\npgscale/direct TPS **%s**, pgscale/PgBouncer TPS **%s**, pgscale added p50 vs direct %s µs' \
    "$(ratio "$s_tps" "$d_tps")" "$(ratio "$s_tps" "$b_tps")" "$(delta_us "$s_p50" "$d_p50")"
  [[ " ${CASE_TARGETS[$id]} " == *" pgscale-rw "* ]] &&
    printf '; split on / split off TPS **%s**' "$(ratio "$(med "$id" pgscale-rw 5)" "$s_tps")"
  [[ " ${CASE_TARGETS[$id]} " == *" pgscale-poll "* ]] &&
    printf '; with busy polling: TPS / pgscale **%s**, added p50 vs direct %s µs' \
      "$(ratio "$(med "$id" pgscale-poll 5)" "$s_tps")" "$(delta_us "$(med "$id" pgscale-poll 7)" "$d_p50")"
  [[ " ${CASE_TARGETS[$id]} " == *" pgscale-ap "* ]] &&
    printf '; with auto_prepare: TPS / direct **%s**, / PgBouncer **%s**, added p50 vs direct %s µs' \
      "$(ratio "$(med "$id" pgscale-ap 5)" "$d_tps")" "$(ratio "$(med "$id" pgscale-ap 5)" "$b_tps")" \
      "$(delta_us "$(med "$id" pgscale-ap 7)" "$d_p50")"
  if runs_in "$id" pgscale-ap-unix && runs_in "$id" pgbouncer-unix; then
    printf '; colocated (unix socket to server): pgscale auto_prepare TPS / direct **%s**, / PgBouncer (unix) **%s**, added p50 vs direct %s µs' \
      "$(ratio "$(med "$id" pgscale-ap-unix 5)" "$d_tps")" \
      "$(ratio "$(med "$id" pgscale-ap-unix 5)" "$(med "$id" pgbouncer-unix 5)")" \
      "$(delta_us "$(med "$id" pgscale-ap-unix 7)" "$d_p50")"
  fi
  runs_in "$id" pgbouncer-unix &&
    printf '; PgBouncer (unix) added p50 vs direct %s µs' "$(delta_us "$(med "$id" pgbouncer-unix 7)" "$d_p50")"
  [[ " ${CASE_TARGETS[$id]} " == *" pgscale-base "* ]] &&
    printf '; pgscale / pgscale baseline TPS **%s**, p50 %s µs' "$(ratio "$s_tps" "$(med "$id" pgscale-base 5)")" \
      "$(delta_us "$s_p50" "$(med "$id" pgscale-base 7)")"
  printf '; PgBouncer added p50 vs direct %s µs.\n' "$(delta_us "$(med "$id" pgbouncer 7)" "$d_p50")"
  fails=$(awk -F'\t' -v c="$id" -v labels="$(for t in "${!LABEL[@]}"; do printf '%s=%s;' "$t" "${LABEL[$t]}"; done)" '
      BEGIN { n = split(labels, kv, ";"); for (i = 1; i <= n; i++) { split(kv[i], p, "="); name[p[1]] = p[2] } }
      $1 == c && $4 == "unavailable" { printf "- %s: %s\n", name[$2], $9 }
      $1 == c && $4 == "fail" { printf "- %s, run %s failed: %s\n", name[$2], $3, $9 }' "$WORK/results.tsv")
  [ -z "$fails" ] || printf '\nFailed or skipped:\n\n%s\n' "$fails"
}

report_summary() {
  local id base_h="" base_s=""
  [ -n "${PGSCALE_BASE_BIN:-}" ] && base_h=" pgscale baseline | pgscale/baseline |" && base_s="---:|---:|"
  printf '\n## Summary (median TPS)\n\n| case | direct | PgBouncer | Pgpool-II | pgscale | pgscale split on | pgscale/direct | pgscale/PgBouncer |%s\n|---|---:|---:|---:|---:|---:|---:|---:|%s\n' \
    "$base_h" "$base_s"
  for id in "${CASE_IDS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |' "$id" "$(tps "$(med "$id" direct 5)")" \
      "$(tps "$(med "$id" pgbouncer 5)")" "$(tps "$(med "$id" pgpool 5)")" "$(tps "$(med "$id" pgscale 5)")" \
      "$(tps "$(med "$id" pgscale-rw 5)")" "$(ratio "$(med "$id" pgscale 5)" "$(med "$id" direct 5)")" \
      "$(ratio "$(med "$id" pgscale 5)" "$(med "$id" pgbouncer 5)")"
    [ -n "$base_h" ] && printf ' %s | %s |' "$(tps "$(med "$id" pgscale-base 5)")" \
      "$(ratio "$(med "$id" pgscale 5)" "$(med "$id" pgscale-base 5)")"
    printf '\n'
  done
  printf '\n"-" = no successful run (see the case below for why).\n'
}

report_idle() {
  printf '\n## Memory with idle authenticated clients (target %s)\n\n' "$IDLE_N"
  printf 'RSS is summed over all processes of the proxy (VmRSS; counts shared pages once per process),\n'
  printf 'PSS likewise (shared pages divided among sharers). Per client = (with - before) / clients held.\n'
  printf 'Pgpool-II is asked for at most num_init_children (%s) clients: one child process serves one\n' "$PGPOOL_CHILDREN"
  printf 'client session, further clients would only wait in its listen queue.\n\n'
  printf '| proxy | clients held | processes | RSS before KiB | RSS with KiB | KiB/client (RSS) | PSS before KiB | PSS with KiB | KiB/client (PSS) | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
  awk -F'\t' -v OFS=' | ' '{
      per = ($3 > 0 && $4 ~ /^[0-9]+$/ && $5 ~ /^[0-9]+$/) ? sprintf("%.2f", ($5 - $4) / $3) : "n/a"
      pper = ($3 > 0 && $6 ~ /^[0-9]+$/ && $7 ~ /^[0-9]+$/) ? sprintf("%.2f", ($7 - $6) / $3) : "n/a"
      print "| " ($1 == "pgbouncer" ? "PgBouncer" : $1 == "pgpool" ? "Pgpool-II" : $1), $3 " of " $2, $8, $4, $5, per, $6, $7, pper, $9 " |" }' "$WORK/idle.tsv"
}

# idle_per_client TARGET: KiB of RSS per idle client held ("n/a" when not measured).
idle_per_client() {
  awk -F'\t' -v t="$1" '$1 == t && $3 > 0 && $4 ~ /^[0-9]+$/ && $5 ~ /^[0-9]+$/ { printf "%.2f", ($5 - $4) / $3; f = 1 }
    END { if (!f) printf "n/a" }' "$WORK/idle.tsv"
}

# classifier_ns NAME: the real time per iteration of one Google Benchmark line, in ns.
classifier_ns() {
  awk -v n="$1" '$1 == n {
      v = $2; u = $3
      if (u == "us") v *= 1000; else if (u == "ms") v *= 1e6; else if (u == "s") v *= 1e9
      printf "%.0f", v; f = 1; exit }
    END { if (!f) printf "n/a" }' "$CLASSIFIER_OUT"
}

# verdict VALUE OP LIMIT: "met" / "not met" / "not measured" (OP is >= or <=).
verdict() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v !~ /^[-+]?[0-9.]+$/) { printf "not measured"; exit }
    ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
    printf "%s", ok ? "**met**" : "**not met**" }'
}

report_targets() {
  local s32 b32 d32 a32 c16 bc16 t16 bt16 p1 p1poll p1ap idle cls
  s32=$(med select-simple-c32 pgscale 5); b32=$(med select-simple-c32 pgbouncer 5); d32=$(med select-simple-c32 direct 5)
  c16=$(med connect-c16 pgscale 5); bc16=$(med connect-c16 pgbouncer 5)
  t16=$(med connect-tls-c16 pgscale 5); bt16=$(med connect-tls-c16 pgbouncer 5)
  p1=$(delta_us "$(med select-simple-c1 pgscale 7)" "$(med select-simple-c1 direct 7)")
  p1poll=$(delta_us "$(med select-simple-c1 pgscale-poll 7)" "$(med select-simple-c1 direct 7)")
  idle=$(idle_per_client pgscale)
  cls=$(classifier_ns BM_cached_pgbench_select/real_time/threads:1)
  printf '\n## Issue 6 targets\n\n| target | goal | measured | verdict |\n|---|---|---|---|\n'
  printf '| -S -M simple -c 32 vs PgBouncer | ≥ 1.20× | %s× | %s |\n' "$(ratio "$s32" "$b32")" "$(verdict "$(ratio "$s32" "$b32")" '>=' 1.2)"
  printf '| -S -M simple -c 32 vs direct | ≥ 0.90× | %s× | %s |\n' "$(ratio "$s32" "$d32")" "$(verdict "$(ratio "$s32" "$d32")" '>=' 0.9)"
  a32=$(med select-simple-c32 pgscale-ap 5)
  printf '| the same with pool.auto_prepare | (≥ 1.20×, ≥ 0.90×) | %s× PgBouncer, %s× direct | %s, %s |\n' \
    "$(ratio "$a32" "$b32")" "$(ratio "$a32" "$d32")" "$(verdict "$(ratio "$a32" "$b32")" '>=' 1.2)" \
    "$(verdict "$(ratio "$a32" "$d32")" '>=' 0.9)"
  printf '| added p50 latency, -S -M simple, 1 client | ≤ 15 µs | %s µs | %s |\n' "$p1" "$(verdict "$p1" '<=' 15)"
  printf '| the same with listen.busy_poll_us %s | (≤ 15 µs) | %s µs | %s |\n' "$BUSY_POLL_US" "$p1poll" "$(verdict "$p1poll" '<=' 15)"
  p1ap=$(delta_us "$(med select-simple-c1 pgscale-ap 7)" "$(med select-simple-c1 direct 7)")
  printf '| the same with pool.auto_prepare | (≤ 15 µs) | %s µs | %s |\n' "$p1ap" "$(verdict "$p1ap" '<=' 15)"
  # The colocated deployment: both proxies reach PostgreSQL over its unix-domain socket.
  local u32 bu32 p1u
  u32=$(med select-simple-c32 pgscale-ap-unix 5); bu32=$(med select-simple-c32 pgbouncer-unix 5)
  printf '| colocated (unix-socket server hop): -S -M simple -c 32, pgscale auto_prepare vs PgBouncer, both on the socket | (≥ 1.20×) | %s× | %s |\n' \
    "$(ratio "$u32" "$bu32")" "$(verdict "$(ratio "$u32" "$bu32")" '>=' 1.2)"
  printf '| colocated (unix-socket server hop): -S -M simple -c 32, pgscale auto_prepare vs direct (TCP) | (≥ 0.90×) | %s× | %s |\n' \
    "$(ratio "$u32" "$d32")" "$(verdict "$(ratio "$u32" "$d32")" '>=' 0.9)"
  p1u=$(delta_us "$(med select-simple-c1 pgscale-ap-unix 7)" "$(med select-simple-c1 direct 7)")
  printf '| colocated (unix-socket server hop): added p50, -S -M simple, 1 client, pgscale auto_prepare vs direct (TCP) | (≤ 15 µs) | %s µs | %s |\n' \
    "$p1u" "$(verdict "$p1u" '<=' 15)"
  printf '| -C -c 16 vs PgBouncer | ≥ 1.50× | %s× | %s |\n' "$(ratio "$c16" "$bc16")" "$(verdict "$(ratio "$c16" "$bc16")" '>=' 1.5)"
  printf '| -C -c 16 with TLS vs PgBouncer | (≥ 1.50×) | %s× | %s |\n' "$(ratio "$t16" "$bt16")" "$(verdict "$(ratio "$t16" "$bt16")" '>=' 1.5)"
  printf '| memory per idle client (RSS, %s clients) | ≤ 1 KiB | %s KiB | %s |\n' "$IDLE_N" "$idle" "$(verdict "$idle" '<=' 1)"
  printf '| cached classification (1 thread) | ≤ 300 ns | %s ns | %s |\n' "$cls" "$(verdict "$cls" '<=' 300)"
  printf '\npgbench logs latencies in whole µs; on a loaded 2-core machine the p50 difference at 1 client\n'
  printf 'moves by tens of µs between runs: compare it with PgBouncer'"'"'s in the same case below.\n'
  printf '\nProxy CPU per transaction (median, µs; steadier than TPS here): -S -M simple -c 32 pgscale %s, PgBouncer %s;\n' \
    "$(med select-simple-c32 pgscale 11)" "$(med select-simple-c32 pgbouncer 11)"
  printf -- '-C -c 16 pgscale %s, PgBouncer %s, while pgbench itself spends %s µs per connection through pgscale;\n' \
    "$(med connect-c16 pgscale 11)" "$(med connect-c16 pgbouncer 11)" "$(med connect-c16 pgscale 12)"
  printf 'colocated (unix-socket server hop), -S -M simple -c 32: pgscale auto_prepare %s, PgBouncer %s.\n' \
    "$(med select-simple-c32 pgscale-ap-unix 11)" "$(med select-simple-c32 pgbouncer-unix 11)"
}

write_report() {
  local id
  echo "# pgscale benchmark — $(date -u +%Y-%m-%d) on $(hostname -s) ($MODE)"
  echo
  echo "Produced by \`bench/run.sh$([ "$QUICK" = 1 ] && echo ' --quick')\`. Absolute figures depend on the machine and"
  echo "its load; the ratios between targets measured in the same run are what to compare."
  echo
  report_machine
  report_settings
  report_targets
  report_summary
  printf '\n## Cases\n'
  for id in "${CASE_IDS[@]}"; do report_case "$id"; done
  report_idle
  printf '\n## Classifier micro-benchmark\n\n```\n%s\n```\n' "$(cat "$CLASSIFIER_OUT")"
}

# shellcheck shell=bash
# The benchmark cases of bench/run.sh (sourced). Results go to $WORK/results.tsv:
#   case  target  rep  status(ok|fail|unavailable)  tps  lat_avg_ms  p50_ms  p99_ms  note  conn_ms
# and the idle-client case to $WORK/idle.tsv.

declare -ga CASE_IDS=()
declare -gA CASE_TITLE=() CASE_ARGS=() CASE_CLIENTS=() CASE_TLS=() CASE_TARGETS=()
RUN_OVERHEAD_S=2   # per pgbench run: start, log aggregation, slot checks (measured ~1.5-2 s)

add_case() { # ID CLIENTS TLS(0|1) "TARGETS" "PGBENCH ARGS" TITLE
  [[ $1 =~ ${BENCH_CASES:-.} ]] || return 0
  CASE_IDS+=("$1")
  CASE_CLIENTS[$1]=$2
  CASE_TLS[$1]=$3
  CASE_TARGETS[$1]=$4
  CASE_ARGS[$1]=$5
  CASE_TITLE[$1]=$6
}

define_cases() {
  local base="direct pgbouncer pgpool pgscale" split="direct pgbouncer pgpool pgscale pgscale-rw"
  local m c t unix="pgbouncer-unix pgscale-ap-unix"
  if [ -n "${PGSCALE_BASE_BIN:-}" ]; then base+=" pgscale-base"; split+=" pgscale-base"; fi
  for m in simple extended prepared; do
    for c in 1 32 200; do
      [ "$c" = 200 ] && [[ " $C200_MODES " != *" $m "* ]] && continue
      t=$base
      [ "$m" = simple ] && [ "$c" != 1 ] && t=$split
      # Busy polling pays at low concurrency; at 32 and 200 it must cost nothing (worker_loop.hpp).
      { [ "$c" = 1 ] || [ "$m" = simple ]; } && t+=" pgscale-poll"
      # auto_prepare changes what a simple-protocol Query costs the server (proxy/auto_prepare.hpp).
      # The colocated pair (server hop over the unix-domain socket) runs where pgscale-ap does.
      [ "$m" = simple ] && t+=" pgscale-ap $unix"
      add_case "select-$m-c$c" "$c" 0 "$t" "-S -M $m" "pgbench -S -M $m, $c client$([ "$c" = 1 ] || echo s)"
    done
  done
  add_case tpcb-c32 32 0 "$split pgscale-ap $unix" "" "pgbench default TPC-B-like script, 32 clients"
  add_case connect-c16 16 0 "$base" "-S -C" "pgbench -S -C (new connection per transaction), 16 clients"
  add_case connect-tls-c16 16 1 "$base" "-S -C" \
    "pgbench -S -C with TLS (sslmode=require), 16 clients"
}

# pgbench's -T clock includes opening the clients' connections (SCRAM for each, slow on a loaded
# 2-core machine), and its tps excludes that time: give the run that much longer so the measured
# window stays about DURATION. Not for -C, where connecting is what is measured.
# Pgpool-II is slow to take new clients (each child authenticates its client and, when its cached
# backend connections expired, logs in to every node): it gets more.
connect_allowance() { # CASE TARGET
  if [[ ${CASE_ARGS[$1]} == *-C* ]]; then echo 0
  elif [[ ${2:-} == pgpool* ]]; then echo $((2 + CASE_CLIENTS[$1] / 16))
  else echo $((1 + CASE_CLIENTS[$1] / 40)); fi
}

budget_text() {
  local id t runs=0 secs=0
  for id in "${CASE_IDS[@]}"; do
    for t in ${CASE_TARGETS[$id]}; do
      target_selected "$t" || continue
      runs=$((runs + REPS))
      secs=$((secs + REPS * (DURATION + $(connect_allowance "$id" "$t") + RUN_OVERHEAD_S)))
    done
  done
  # Set-up (cluster, pgbench -i) ~30 s; idle clients ~10 s + one SCRAM login per 7 ms for each of
  # three proxies (measured on 2 loaded cores); classifier micro-benchmark ~15 s.
  local idle=$((3 * (10 + IDLE_N * 7 / 1000)))
  secs=$((secs + 30 + idle + 15))
  echo "$runs pgbench runs of ${DURATION}s (+ connect allowance + ~${RUN_OVERHEAD_S}s overhead each)," \
    "~0.5 min setup, ~$((idle / 60)) min idle clients = ~$((secs / 60)) min" \
    "(less while pgscale is not available)"
}

target_selected() { [ -z "${BENCH_TARGETS:-}" ] || [[ " $BENCH_TARGETS " == *" $1 "* ]]; }

# The server process that will count this run's connections against max_connections.
wait_for_slots() { # CLIENTS
  local need=$1 used i
  for ((i = 0; i < 40; i++)); do
    used=$(su_psql "$PGSCALE_S0_PRIMARY_PORT" \
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    [ $((used + need + 5)) -le "$MAX_CONN" ] && return 0
    sleep 0.5
  done
  log "only $((MAX_CONN - used)) server slots free for $need clients; running anyway"
}

# run_one CASE TARGET REP [ALLOWANCE]: one pgbench run, one line in results.tsv. A run that
# spent all its time connecting is retried once with a much longer allowance.
run_one() {
  local id=$1 target=$2 rep=$3 allow=${4:-$(connect_allowance "$1" "$2")} inst=$2 dir ssl=disable
  local clients=${CASE_CLIENTS[$1]} rc=0
  [ "${CASE_TLS[$id]}" = 1 ] && ssl=require && [ "$target" = pgpool ] && inst=pgpool-tls
  dir=$WORK/runs/$id.$target.$rep
  mkdir -p "$dir"
  [ "$target" = direct ] || [[ $target == pgpool* ]] && wait_for_slots "$clients"
  local settled
  settled=$(settle_cpu)
  [ "$settled" -ge 2 ] && log "$id $target rep $rep: waited ${settled}s for the machine to go quiet"
  # CPU of the proxy's processes and of pgbench (a child of this shell) around the run.
  local proxy_pid="" p0 p1 k0 k1 s0 s1 me=$BASHPID  # this shell, not the $(...) subshells below
  [ "$target" = direct ] || proxy_pid=${T_PID[$inst]:-}
  p0=$(tree_cpu_ticks "$proxy_pid")
  k0=$(children_cpu_ticks "$me")
  s0=$(cluster_cpu_ticks)
  # shellcheck disable=SC2086  # CASE_ARGS is a word list on purpose
  PGPASSWORD=$PGSCALE_APP_PASSWORD PGSSLMODE=$ssl timeout $((DURATION + 90)) \
    "$PG_BIN/pgbench" -n ${CASE_ARGS[$id]} -c "$clients" -j $((clients < 2 ? 1 : 2)) -T $((DURATION + allow)) \
    --log --log-prefix="$dir/tx" -h 127.0.0.1 -p "${T_PORT[$inst]}" -U "$PGSCALE_APP_USER" \
    "$PGSCALE_APP_DB" >"$dir/out" 2>"$dir/err" || rc=$?
  k1=$(children_cpu_ticks "$me")
  p1=$(tree_cpu_ticks "$proxy_pid")
  s1=$(cluster_cpu_ticks)
  local tps lat conn pct note="" status=ok ntx proxy_us client_us server_us
  ntx=$(awk '/actually processed:/ { split($NF, a, "/"); print a[1]; exit }' "$dir/out")
  proxy_us=$(cpu_us_per_tx "$p0" "$p1" "$ntx")
  client_us=$(cpu_us_per_tx "$k0" "$k1" "$ntx")
  server_us=$(cpu_us_per_tx "$s0" "$s1" "$ntx")
  [ "$target" = direct ] && proxy_us=-
  tps=$(awk '/^tps = / {print $3; exit}' "$dir/out")
  conn=$(awk '/^initial connection time = / {print $5; exit}' "$dir/out")
  lat=$(awk '/^latency average = / {print $4; exit}' "$dir/out")
  pct=$(percentiles "$dir"/tx.*)
  rm -f "$dir"/tx.*
  if [ -z "$tps" ] && [ -z "${4:-}" ] && grep -q 'actually processed: 0$' "$dir/out"; then
    log "$id $target rep $rep: no transaction within ${allow}s of connecting; retrying with more time"
    rm -rf "$dir"
    run_one "$id" "$target" "$rep" $((5 + allow * 3))
    return 0
  fi
  if [ "$rc" != 0 ] || [ -z "$tps" ]; then
    status=fail
    note="exit $rc: $({ grep -m1 -E 'error|ERROR|FATAL|abort' "$dir/err" || true; } | cut -c1-300)"
    [ "$note" = "exit $rc: " ] && note="exit $rc: $(head -c 300 "$dir/err" | tr '\n' ' ')"
    [ "$note" = "exit $rc: " ] && note="exit $rc, no tps line: $(grep -m1 'actually processed' "$dir/out" || true)"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$target" "$rep" "$status" "${tps:--}" \
    "${lat:--}" "$(cut -d' ' -f1 <<<"$pct")" "$(cut -d' ' -f2 <<<"$pct")" "$(one_line "$note")" "${conn:--}" \
    "$proxy_us" "$client_us" "$server_us" >>"$WORK/results.tsv"
  log "$id $target rep $rep: $status tps=${tps:--} p50=$(cut -d' ' -f1 <<<"$pct")ms ${note:0:120}"
}

# Targets interleaved inside each repetition (A B C D A B C D ...), so drift hits all alike.
run_all_cases() {
  local id rep t inst
  : >"$WORK/results.tsv"
  for id in "${CASE_IDS[@]}"; do
    for t in ${CASE_TARGETS[$id]}; do
      target_selected "$t" || continue
      inst=$t
      [ "${CASE_TLS[$id]}" = 1 ] && [ "$t" = pgpool ] && inst=pgpool-tls
      check_alive "$inst"
      if [ -n "${T_ERR[$inst]:-}" ]; then
        printf '%s\t%s\t-\tunavailable\t-\t-\t-\t-\t%s\n' "$id" "$t" "$(one_line "${T_ERR[$inst]}")" >>"$WORK/results.tsv"
      fi
    done
    for ((rep = 1; rep <= REPS; rep++)); do
      for t in ${CASE_TARGETS[$id]}; do
        target_selected "$t" || continue
        inst=$t
        [ "${CASE_TLS[$id]}" = 1 ] && [ "$t" = pgpool ] && inst=pgpool-tls
        [ -n "${T_ERR[$inst]:-}" ] && continue
        run_one "$id" "$t" "$rep"
        check_alive "$inst"
        if [ -n "${T_ERR[$inst]:-}" ]; then
          printf '%s\t%s\t-\tunavailable\t-\t-\t-\t-\t%s\n' "$id" "$t" "$(one_line "${T_ERR[$inst]}")" >>"$WORK/results.tsv"
        fi
      done
    done
  done
}

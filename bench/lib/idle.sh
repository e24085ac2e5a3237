# shellcheck shell=bash
# Memory per idle client and the classifier micro-benchmark, for bench/run.sh (sourced).
# $WORK/idle.tsv: target  requested  ok  rss_before  rss_with  pss_before  pss_with  nproc  note

# idle_one TARGET COUNT: hold COUNT authenticated idle clients on TARGET and sample its memory.
# The client side pays a 4096-round PBKDF2 per SCRAM login (~5 ms of CPU here), hence the timeout.
idle_one() {
  local t=$1 n=$2 pid=${T_PID[$1]} before with res ok=0 note="" i timeout_s=$((60 + $2 / 25))
  local ready=$WORK/idle-$t.ready
  before=$(mem_kib "$pid")
  PGPASSWORD=$PGSCALE_APP_PASSWORD "$IDLE_CLIENTS_BIN" --host 127.0.0.1 --port "${T_PORT[$t]}" \
    --user "$PGSCALE_APP_USER" --dbname "$PGSCALE_APP_DB" --count "$n" --timeout "$timeout_s" \
    --hold 300 --ready-file "$ready" >"$WORK/idle-$t.out" 2>&1 &
  IDLE_PID=$!
  for ((i = 0; i < (timeout_s + 30) * 4; i++)); do
    [ -f "$ready" ] && break
    kill -0 "$IDLE_PID" 2>/dev/null || break
    sleep 0.25
  done
  # Settle before sampling: the last logins finish their allocations, and a proxy that returns
  # freed heap pages after a wave of logins (pgscale trims at most once a second, a second after
  # sessions park) has done so; steady-state idle memory is what a deployment pays.
  sleep 5
  with=$(mem_kib "$pid")
  stop_pid idle_clients "$IDLE_PID" TERM
  IDLE_PID=""
  res=$(cat "$ready" 2>/dev/null || tail -n 1 "$WORK/idle-$t.out")
  ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$res")
  [ "${ok:-0}" = "$n" ] || note=$(sed -n 's/.*\(failed=.*\)/\1/p' <<<"$res" | cut -c1-300)
  [ -n "$res" ] || note="idle_clients produced no result: $(tail -n 2 "$WORK/idle-$t.out" | tr '\n' ' ')"
  check_alive "$t"
  if [ -n "${T_ERR[$t]:-}" ]; then
    note="$note; ${T_ERR[$t]}"
    with="- - -"  # measured after the process had gone: meaningless
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$n" "${ok:-0}" "$(cut -d' ' -f1 <<<"$before")" \
    "$(cut -d' ' -f1 <<<"$with")" "$(cut -d' ' -f2 <<<"$before")" "$(cut -d' ' -f2 <<<"$with")" \
    "$(cut -d' ' -f3 <<<"$with")" "$(one_line "$note")" >>"$WORK/idle.tsv"
  log "idle $t: ${ok:-0}/$n clients, RSS $(cut -d' ' -f1 <<<"$before") -> $(cut -d' ' -f1 <<<"$with") KiB"
  sleep 2  # let the proxy see the disconnects before the next target
}

run_idle_case() {
  local t n
  : >"$WORK/idle.tsv"
  if [ ! -x "${IDLE_CLIENTS_BIN:-}" ]; then
    printf 'all\t%s\t0\t-\t-\t-\t-\t-\tidle_clients not built\n' "$IDLE_N" >>"$WORK/idle.tsv"
    return 0
  fi
  for t in pgbouncer pgpool pgscale ${PGSCALE_BASE_BIN:+pgscale-base}; do
    target_selected "$t" || continue
    if [ -n "${T_ERR[$t]:-}" ]; then
      printf '%s\t%s\t0\t-\t-\t-\t-\t-\t%s\n' "$t" "$IDLE_N" "$(one_line "${T_ERR[$t]}")" >>"$WORK/idle.tsv"
      continue
    fi
    n=$IDLE_N
    # One Pgpool-II child serves one client for the client's whole session: more than
    # num_init_children clients just wait in the listen queue, so ask for what it can hold.
    [ "$t" = pgpool ] && [ "$n" -gt "$PGPOOL_CHILDREN" ] && n=$PGPOOL_CHILDREN
    [ "$t" = pgpool ] && wait_for_slots "$n"
    idle_one "$t" "$n"
  done
}

run_classifier_bench() {
  CLASSIFIER_OUT=$WORK/classifier_bench.out
  if [ ! -x "$CLASSIFIER_BENCH" ]; then
    echo "not run: no executable at $CLASSIFIER_BENCH (set CLASSIFIER_BENCH or build target classifier_bench)" \
      >"$CLASSIFIER_OUT"
    return 0
  fi
  log "running $CLASSIFIER_BENCH"
  local args=()
  [ "$QUICK" = 1 ] && args=(--benchmark_min_time=0.1)
  timeout 600 "$CLASSIFIER_BENCH" "${args[@]}" >"$CLASSIFIER_OUT" 2>&1 ||
    echo "(classifier_bench exited with status $?)" >>"$CLASSIFIER_OUT"
}

# shellcheck shell=bash
# Helpers shared by bench/run.sh and bench/lib/proxies.sh (sourced, not executed).

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# PostgreSQL, PgBouncer and Pgpool-II refuse to run as root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# as_pg_daemon CMD...: like as_pg, but without runuser's PAM session (pam_limits would reset
# RLIMIT_NOFILE to 1024); 10,000 idle clients need about as many descriptors in the proxy.
as_pg_daemon() {
  ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}

# fill_template IN OUT NAME=VALUE...: replaces every @NAME@ in IN.
fill_template() {
  local in=$1 out=$2 kv name val content
  shift 2
  content=$(<"$in")
  for kv in "$@"; do
    name=${kv%%=*}
    val=${kv#*=}
    content=${content//@$name@/$val}
  done
  printf '%s\n' "$content" >"$out"
}

# superuser psql over the cluster's unix socket (trust).
su_psql() { # PORT SQL
  as_pg "$PG_BIN/psql" -h "$PGSCALE_SOCKET_DIR" -p "$1" -U postgres -qAtX -v ON_ERROR_STOP=1 -c "$2"
}

# app_query HOST PORT SSLMODE SQL: one authenticated query as the app user over TCP.
app_query() {
  PGPASSWORD=$PGSCALE_APP_PASSWORD PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -qAtX \
    "host=$1 port=$2 user=$PGSCALE_APP_USER dbname=$PGSCALE_APP_DB sslmode=$3" -c "$4" 2>&1
}

# wait_serving PORT SECONDS PID: waits (bounded) until an app-user query succeeds through PORT.
# Prints the last error on failure; fails early when PID (if given) has exited.
wait_serving() {
  local port=$1 secs=$2 pid=${3:-} out="" i
  for ((i = 0; i < secs * 4; i++)); do
    if out=$(app_query 127.0.0.1 "$port" disable 'SELECT 1') && [ "$out" = 1 ]; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited; last error: $(tr '\n' ' ' <<<"$out")"
      return 1
    fi
    sleep 0.25
  done
  echo "no successful query within ${secs}s: $(tr '\n' ' ' <<<"$out")"
  return 1
}

# tree_pids PID: PID and all its descendants (Pgpool-II forks a child per client slot).
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      keep[root] = 1; changed = 1
      while (changed) {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
      }
      for (p in keep) print p
    }'
}

# tree_cpu_ticks PID: user+system clock ticks of PID and its descendants ("" -> 0).
tree_cpu_ticks() {
  local total=0 p v
  [ -n "$1" ] || { echo 0; return 0; }
  for p in $(tree_pids "$1"); do
    # Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# children_cpu_ticks SHELL_PID: user+system ticks of that shell's waited-for children (cutime +
# cstime; a child's own waited-for children, e.g. pgbench under timeout, are included).
# settle_cpu: waits (at most 10 s) until the machine is nearly idle — under 20 % of its CPUs busy
# over 250 ms (/proc/stat; steal time not counted as busy) — so that work one run left behind
# (a proxy or PostgreSQL still busy after pgbench ended) is not charged to the next target in the
# rotation. Costs 0.25 s per run when the machine is quiet. Prints the seconds waited.
settle_cpu() {
  local i a b busy total waited=0
  for ((i = 0; i < 40; i++)); do
    a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8; exit}' /proc/stat)
    sleep 0.25
    b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8; exit}' /proc/stat)
    busy=$(( ${b% *} - ${a% *} )); total=$(( ${b#* } - ${a#* } ))
    if (( total > 0 && busy * 5 < total )); then break; fi
    waited=$((waited + 1))
  done
  echo $((waited / 4))
}

children_cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $14 + $15}'; }

# cluster_cpu_ticks: user+system ticks of every PostgreSQL process of the cluster in CLUSTER (each
# postmaster with its live children, plus what its exited children used: cutime + cstime). Tells
# whether a proxy makes the server work more per transaction.
cluster_cpu_ticks() {
  local total=0 pidfile pm v
  for pidfile in "$CLUSTER"/data/*/postmaster.pid; do
    [ -f "$pidfile" ] || continue
    pm=$(head -n 1 "$pidfile" 2>/dev/null) || continue
    [[ $pm =~ ^[0-9]+$ ]] || continue
    v=$(tree_cpu_ticks "$pm")
    total=$((total + ${v:-0}))
    v=$(children_cpu_ticks "$pm" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# cpu_us_per_tx TICKS0 TICKS1 TRANSACTIONS: microseconds of CPU per transaction, or "-".
cpu_us_per_tx() {
  awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    if (n ~ /^[0-9]+$/ && n > 0 && a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/) printf "%.0f", (b - a) * 1e6 / hz / n
    else printf "-" }'
}

# mem_kib PID: "RSS_KIB PSS_KIB NPROC" summed over the process tree. RSS counts shared pages once
# per process (it overstates multi-process proxies); PSS divides shared pages among sharers.
mem_kib() {
  local rss=0 pss=0 n=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    [ -n "$v" ] || continue
    rss=$((rss + v))
    n=$((n + 1))
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    pss=$((pss + ${v:-0}))
  done
  echo "$rss $pss $n"
}

# stop_pid NAME PID SIGNAL: signal, wait up to 20 s for the whole tree to go, then SIGKILL it.
stop_pid() {
  local name=$1 pid=$2 sig=${3:-TERM} tree i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  tree=$(tree_pids "$pid")
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 80; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  for p in $tree; do
    if kill -0 "$p" 2>/dev/null; then
      log "$name: process $p still alive after SIG$sig, sending SIGKILL"
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
}

# percentiles FILE...: "p50_ms p99_ms count" from pgbench per-transaction logs (column 3 = µs).
percentiles() {
  { cat "$@" 2>/dev/null || true; } | awk '{print $3}' | sort -n | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "- - 0"; exit }
      i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1
      i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
      printf "%.3f %.3f %d\n", v[i50] / 1000, v[i99] / 1000, NR
    }'
}

# one_line TEXT: TEXT without tabs or newlines (it goes into a TSV column).
one_line() { tr '\t\n\r' '   ' <<<"$1" | sed 's/ *$//'; }

# median of the numeric arguments ("-" when none).
median() {
  printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "-"; exit }
      if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# use_cluster: the local cluster in CLUSTER (started on BASE_PORT unless it runs already, logs in
# WORK), its cluster.env exported, pgbench's tables at scale SCALE made once (a marker file in
# CLUSTER). bench/run.sh starts a fresh one in its WORK; profile.sh and login.sh may reuse one.
use_cluster() {
  if ! "$ROOT/deploy/local-cluster.sh" status "$CLUSTER" >/dev/null 2>&1; then
    log "starting the cluster in $CLUSTER on ports $BASE_PORT.."
    "$ROOT/deploy/local-cluster.sh" up "$CLUSTER" --base-port "$BASE_PORT" >"$WORK/cluster-up.log" 2>&1 ||
      die "cluster did not start: $(tail -n 5 "$WORK/cluster-up.log")"
  fi
  set -a
  # shellcheck source=/dev/null
  source "$CLUSTER/cluster.env"
  set +a
  PG_BIN=${PGSCALE_PG_BIN:-$PG_BIN}
  if [ ! -f "$CLUSTER/pgbench-initialized" ]; then
    log "pgbench -i -s $SCALE on $PGSCALE_APP_DB"
    PGPASSWORD=$PGSCALE_APP_PASSWORD "$PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 \
      -p "$PGSCALE_S0_PRIMARY_PORT" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" >"$WORK/pgbench-init.log" 2>&1 ||
      die "pgbench -i failed: $(tail -n 3 "$WORK/pgbench-init.log")"
    touch "$CLUSTER/pgbench-initialized"
  fi
}

# standalone_setup [RM_WORK]: for bench/profile.sh and bench/login.sh, which reuse a cluster
# (--cluster) or make a throw-away one in WORK: sets PG_BIN, POOL_SIZE and CLUSTER, and traps EXIT
# to stop the proxies they started and a throw-away cluster (and to remove WORK when RM_WORK=1).
standalone_setup() {
  PG_BIN=/usr/lib/postgresql/15/bin
  POOL_SIZE=20
  OWN_CLUSTER=0
  RM_WORK=${1:-0}
  [ -n "$CLUSTER" ] || { CLUSTER=$WORK/cluster; OWN_CLUSTER=1; }
  trap standalone_cleanup EXIT
  trap 'exit 130' INT TERM
}
standalone_cleanup() {
  set +e
  stop_all_proxies
  [ "$OWN_CLUSTER" = 1 ] && "$ROOT/deploy/local-cluster.sh" down "$CLUSTER" >/dev/null 2>&1
  [ "$RM_WORK" = 1 ] && rm -rf "$WORK"
}

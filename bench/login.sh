#!/usr/bin/env bash
# The cost of a login: pgbench -S -C (a new connection per transaction) through pgscale and
# PgBouncer, side by side, with SCRAM-SHA-256 and with md5 client authentication.
#
#   bench/login.sh [--rounds N] [--seconds S] [--clients C] [--base-port P] [--cluster DIR]
#                  [--bin PGSCALE] [--out FILE.md]
#
# Why md5 as well: with SCRAM, pgbench derives the client key (4,096 PBKDF2 rounds, milliseconds
# of CPU) at every login, which fills this machine's cores and hides what the proxies spend; md5
# costs the client next to nothing, so TPS there shows the proxies' own login path. The proxy
# CPU per login (its process's user + system time over the run, divided by the logins) is
# reported for both, and is the steadier figure. Rounds are interleaved (pgscale, PgBouncer,
# pgscale, ...) and medians reported; each run waits for the machine to go quiet first.
# Both proxies: transaction pooling, pool size 20, the server hop over TCP, plain TCP clients.
# In md5 mode their user files hold the clear-text password (to answer md5 and still log in to
# PostgreSQL with SCRAM); the files live in the run's temp dir.
set -euo pipefail

ROOT=${PGSCALE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
LIB=$(cd "$(dirname "$0")" && pwd)/lib
# shellcheck source=lib/common.sh
source "$LIB/common.sh"
# shellcheck source=lib/proxies.sh
source "$LIB/proxies.sh"

ROUNDS=3 SECONDS_RUN=10 CLIENTS=16 BASE_PORT=26900 CLUSTER="" OUT="" SCALE=10
PGSCALE_BIN=${PGSCALE_BIN:-$ROOT/build/bin/pgscale}
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --seconds) SECONDS_RUN=$2; shift ;;
    --clients) CLIENTS=$2; shift ;;
    --base-port) BASE_PORT=$2; shift ;;
    --cluster) CLUSTER=$2; shift ;;
    --bin) PGSCALE_BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done
[[ $ROUNDS =~ ^[1-9][0-9]?$ && $SECONDS_RUN =~ ^[1-9][0-9]*$ && $CLIENTS =~ ^[1-9][0-9]*$ ]] ||
  die "--rounds (1-99), --seconds and --clients take positive integers"
[ -x "$PGSCALE_BIN" ] || die "no pgscale at $PGSCALE_BIN (build it, or pass --bin)"
command -v pgbouncer >/dev/null || die "pgbouncer is not installed (deploy/install-deps.sh)"
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y-%m-%d)-login.md}
WORK=$(mktemp -d /tmp/pgscale-login.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK"
standalone_setup 1

use_cluster

# Four proxies: pgscale and PgBouncer, each once per client authentication method.
TARGETS=(pgscale-scram pgbouncer-scram pgscale-md5 pgbouncer-md5)
port=$((BASE_PORT + 30))
for t in "${TARGETS[@]}"; do
  BENCH_CLIENT_AUTH=${t#*-}
  [ "$BENCH_CLIENT_AUTH" = scram ] && BENCH_CLIENT_AUTH=scram-sha-256
  export BENCH_CLIENT_AUTH
  case $t in
    pgscale-*) start_pgscale "$t" "$port" false ;;
    *) start_pgbouncer "$t" "$port" ;;
  esac
  [ -z "${T_ERR[$t]:-}" ] || die "${T_ERR[$t]}"
  port=$((port + 2))
done
unset BENCH_CLIENT_AUTH

# run_one TARGET: appends "target tps cpu_us_per_login pgbench_cpu_us_per_login" to results.
run_one() {
  local t=$1 pid=${T_PID[$1]} c0 c1 p0 p1 tps n out
  settle_cpu >/dev/null
  c0=$(tree_cpu_ticks "$pid")
  p0=$(children_cpu_ticks $$)  # this shell's waited-for children: pgbench
  out=$(PGSSLMODE=disable PGPASSWORD=$PGSCALE_APP_PASSWORD "$PG_BIN/pgbench" -n -S -C -c "$CLIENTS" -j 2 \
    -T "$SECONDS_RUN" -h 127.0.0.1 -p "${T_PORT[$t]}" -U "$PGSCALE_APP_USER" "$PGSCALE_APP_DB" 2>&1) || true
  c1=$(tree_cpu_ticks "$pid")
  p1=$(children_cpu_ticks $$)
  tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
  n=$(awk '/^number of transactions actually processed:/ {print $NF; exit}' <<<"$out")
  [[ $n =~ ^[0-9]+$ ]] || { log "$t: pgbench failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"; return 0; }
  printf '%s\t%s\t%s\t%s\n' "$t" "$tps" "$(cpu_us_per_tx "$c0" "$c1" "$n")" "$(cpu_us_per_tx "$p0" "$p1" "$n")" \
    >>"$WORK/results.tsv"
  log "$t: $(tps "$tps") TPS, proxy $(cpu_us_per_tx "$c0" "$c1" "$n") µs CPU per login"
}
tps() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.0f", v; else printf "-" }'; }

: >"$WORK/results.tsv"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
  log "round $r/$ROUNDS"
  for t in "${TARGETS[@]}"; do
    check_alive "$t"
    [ -z "${T_ERR[$t]:-}" ] || die "${T_ERR[$t]}"
    run_one "$t"
  done
done

col() { awk -F'\t' -v t="$1" -v c="$2" '$1 == t {print $c}' "$WORK/results.tsv"; }
med() { median $(col "$1" "$2"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
mkdir -p "$(dirname "$OUT")"
{
  echo "# Login cost: pgbench -S -C -c $CLIENTS through pgscale and PgBouncer"
  echo
  echo "Written by \`bench/login.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $ROUNDS interleaved rounds of" \
    "${SECONDS_RUN} s per target, medians. Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo))," \
    "kernel $(uname -r), load at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)." \
    "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $(pgbouncer --version 2>&1 | head -n 1)," \
    "pgscale $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (work tree modified)')."
  echo
  echo "| client auth | pgscale TPS | PgBouncer TPS | pgscale / PgBouncer | pgscale CPU µs per login | PgBouncer CPU µs per login | pgbench CPU µs per login (via pgscale) |"
  echo "|---|---|---|---|---|---|---|"
  for a in scram md5; do
    s=$(med "pgscale-$a" 2) b=$(med "pgbouncer-$a" 2)
    printf '| %s | %s | %s | %s× | %s | %s | %s |\n' "$([ $a = scram ] && echo SCRAM-SHA-256 || echo md5)" \
      "$(tps "$s")" "$(tps "$b")" "$(ratio "$s" "$b")" "$(med "pgscale-$a" 3)" "$(med "pgbouncer-$a" 3)" "$(med "pgscale-$a" 4)"
  done
  echo
  echo "Every run (target, TPS, proxy CPU µs per login, pgbench CPU µs per login):"
  echo
  echo '```'
  cat "$WORK/results.tsv"
  echo '```'
} >"$OUT"
log "report: $OUT"
cat "$OUT"

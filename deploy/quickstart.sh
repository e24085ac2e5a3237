#!/usr/bin/env bash
# From a fresh clone to a running pgscale in one command:
#   install the Debian packages, build pgscale, bring up the local PostgreSQL cluster (2 shards,
#   primaries with streaming replicas) in DIR, then run pgscale in the foreground with the generated
#   DIR/pgscale.yaml and print the psql connection string. Ctrl-C stops pgscale and the cluster.
#
#   deploy/quickstart.sh [DIR] [--base-port P] [--no-build]
#   DIR default ./.cluster; P default 15432 (env PGSCALE_BASE_PORT works too); --no-build skips
#   installing and building and runs the pgscale already built in build/ (env PGSCALE_BUILD_DIR).
#
# Running it again on the same DIR reuses the cluster (its data and passwords survive).
# To remove everything: deploy/local-cluster.sh down DIR && rm -rf DIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${PGSCALE_BUILD_DIR:-$ROOT/build}
DIR=""
NO_BUILD=0
CLUSTER_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base-port) [[ $# -ge 2 ]] || { echo "quickstart: --base-port needs a value" >&2; exit 2; }
                 CLUSTER_ARGS+=(--base-port "$2"); shift 2 ;;
    --base-port=*) CLUSTER_ARGS+=(--base-port "${1#*=}"); shift ;;
    --no-build) NO_BUILD=1; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "quickstart: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) [[ -z $DIR ]] || { echo "quickstart: one DIR only" >&2; exit 2; }; DIR=$1; shift ;;
  esac
done
DIR=${DIR:-$PWD/.cluster}

step() { echo; echo "==> $*"; }

if ((NO_BUILD == 0)); then
  step "installing dependencies"
  "$ROOT/deploy/install-deps.sh" </dev/null

  step "building pgscale in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target pgscale
fi
PGSCALE=$BUILD_DIR/bin/pgscale
[[ -x $PGSCALE ]] || { echo "quickstart: no pgscale binary at $PGSCALE" >&2; exit 1; }

step "starting the local cluster in $DIR"
"$ROOT/deploy/local-cluster.sh" up "$DIR" "${CLUSTER_ARGS[@]}"
DIR=$(cd "$DIR" && pwd -P)
# shellcheck disable=SC1091
. "$DIR/cluster.env"

PGSCALE_PID=""
stopping=0
shutdown() {
  local rc=${1:-0}
  ((stopping)) && return
  stopping=1
  trap '' INT TERM
  if [[ -n $PGSCALE_PID ]] && kill -0 "$PGSCALE_PID" 2>/dev/null; then
    echo; echo "==> stopping pgscale (pid $PGSCALE_PID)"
    kill -TERM "$PGSCALE_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 400; i++)); do kill -0 "$PGSCALE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PGSCALE_PID" 2>/dev/null || true
  fi
  rm -f "$PGSCALE_PID_DIR/pgscale.pid"
  echo "==> stopping the cluster (data kept in $DIR; remove it to start afresh)"
  "$ROOT/deploy/local-cluster.sh" down "$DIR" || rc=1
  exit "$rc"
}
trap 'shutdown 1' EXIT
trap 'shutdown 0' INT TERM

proxy_listening() { ss -Hltn "( sport = :$PGSCALE_PROXY_PORT )" 2>/dev/null | grep -q .; }
if proxy_listening; then
  echo "quickstart: port $PGSCALE_PROXY_PORT (pgscale's) is already in use by another process" >&2
  exit 1
fi

step "starting pgscale --config $DIR/pgscale.yaml (Ctrl-C stops pgscale and the cluster)"
# In the background of this script so that the script can watch it, stop it and then the cluster.
"$PGSCALE" --config "$DIR/pgscale.yaml" &
PGSCALE_PID=$!
echo "$PGSCALE_PID" >"$PGSCALE_PID_DIR/pgscale.pid"

# Bounded wait until pgscale listens; if it exits instead, report why and stop the cluster.
for ((i = 0; i < 150; i++)); do
  if ! kill -0 "$PGSCALE_PID" 2>/dev/null; then
    rc=0; wait "$PGSCALE_PID" || rc=$?
    echo "quickstart: pgscale exited with status $rc before it listened on port $PGSCALE_PROXY_PORT" \
         "(its messages are above); stopping the cluster" >&2
    PGSCALE_PID=""
    shutdown 1
  fi
  proxy_listening && break
  sleep 0.1
done
if ! proxy_listening; then
  echo "quickstart: pgscale is running but does not listen on port $PGSCALE_PROXY_PORT after 15s; stopping" >&2
  shutdown 1
fi

cat <<EOF

pgscale is serving on 127.0.0.1:$PGSCALE_PROXY_PORT (admin HTTP: http://127.0.0.1:$PGSCALE_ADMIN_PORT/metrics)

  psql "postgresql://$PGSCALE_APP_USER:$PGSCALE_APP_PASSWORD@127.0.0.1:$PGSCALE_PROXY_PORT/$PGSCALE_APP_DB"

  servers directly (superuser):  psql -h $PGSCALE_SOCKET_DIR -p $PGSCALE_S0_PRIMARY_PORT -U postgres
  cluster state:                 $ROOT/deploy/local-cluster.sh status $DIR
  Ctrl-C stops pgscale and the cluster.
EOF

# pgscale exiting by itself (crash, or SIGTERM from elsewhere) also brings the cluster down.
rc=0; wait "$PGSCALE_PID" || rc=$?
if ((stopping == 0)); then
  PGSCALE_PID=""
  echo "quickstart: pgscale exited with status $rc" >&2
  shutdown "$rc"
fi

#!/usr/bin/env bash
# Every test from a fresh clone, in one command:
#   install the Debian packages, configure and build, bring up a throw-away PostgreSQL cluster on free
#   ports in a temp dir, run ctest (labels unit and integration), and always tear the cluster down.
#
#   tests/run.sh [--unit-only] [--no-build]
#   --unit-only  no cluster, unit tests only
#   --no-build   skip installing and building (quick re-run of the tests on an existing build)
#
# Exits non-zero on any failure; ctest's summary is the last thing printed (after a failure the
# cluster's server logs are kept in BUILD_DIR/cluster-logs). Env:
#   PGSCALE_BUILD_DIR  build directory (default: build/ in the repo)
#   PGSCALE_JOBS       parallel compile jobs (default: nproc)
#   CTEST_ARGS         extra ctest arguments, e.g. "-R config" (word-split)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${PGSCALE_BUILD_DIR:-$ROOT/build}
JOBS=${PGSCALE_JOBS:-$(nproc)}
UNIT_ONLY=0
NO_BUILD=0
for arg in "$@"; do
  case "$arg" in
    --unit-only) UNIT_ONLY=1 ;;
    --no-build) NO_BUILD=1 ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT" || exit 1
read -r -a EXTRA_CTEST <<<"${CTEST_ARGS:-}"

step() { echo; echo "==> $*"; }

if ((NO_BUILD == 0)); then
  step "installing dependencies (deploy/install-deps.sh)"
  deploy/install-deps.sh </dev/null || { echo "run.sh: deploy/install-deps.sh failed" >&2; exit 1; }

  step "configuring and building in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" </dev/null || { echo "run.sh: cmake configure failed" >&2; exit 1; }
  cmake --build "$BUILD_DIR" -j"$JOBS" </dev/null || { echo "run.sh: build failed" >&2; exit 1; }
elif [[ ! -f $BUILD_DIR/CTestTestfile.cmake ]]; then
  echo "run.sh: --no-build, but $BUILD_DIR holds no build" >&2; exit 1
fi

if ((UNIT_ONLY)); then
  unset PGSCALE_CLUSTER_DIR
  step "unit tests"
  exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 -L '^unit$' "${EXTRA_CTEST[@]}"
fi

# A base port P such that P..P+40 (cluster, pgscale, ports tests pick) are all free.
listening_ports() { ss -Hltn 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -un; }
# Below the kernel's ephemeral range: a port in it can be taken at any moment by the local end of
# an outgoing connection (the tests open thousands), and pgscale's listen() then fails with
# EADDRINUSE (seen: txpool tests on 39030/39036 in a CI run).
pick_base_port() {
  local try base busy p ok lo slots
  lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
  slots=$(( (${lo:-32768} - 20000 - 41) / 50 ))
  ((slots >= 10)) || slots=400  # an unusual range: the old 20000..39950
  for ((try = 0; try < 30; try++)); do
    base=$((20000 + (RANDOM % slots) * 50))   # 20000.. (ephemeral start - 41), multiples of 50
    busy=$(listening_ports)
    ok=1
    for ((p = base; p <= base + 40; p++)); do
      if grep -qx "$p" <<<"$busy"; then ok=0; break; fi
    done
    if ((ok)); then echo "$base"; return 0; fi
  done
  return 1
}

CLUSTER_DIR=$(mktemp -d /tmp/pgscale-test.XXXXXX) || exit 1
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  # Quiet: ctest's summary must stay the last lines. Only a failed teardown speaks.
  if ! "$ROOT/deploy/local-cluster.sh" down "$CLUSTER_DIR" >"$CLUSTER_DIR.down.log" 2>&1; then
    echo "run.sh: teardown of the cluster in $CLUSTER_DIR failed:" >&2
    cat "$CLUSTER_DIR.down.log" >&2
    rc=1
  else
    # Keep the servers' logs of a failed run for the post-mortem (CI can archive them).
    if ((rc != 0)) && [[ -d $CLUSTER_DIR/logs ]]; then
      rm -rf "$BUILD_DIR/cluster-logs" && cp -r "$CLUSTER_DIR/logs" "$BUILD_DIR/cluster-logs" 2>/dev/null
    fi
    rm -rf "$CLUSTER_DIR"
  fi
  rm -f "$CLUSTER_DIR.down.log"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

BASE_PORT=$(pick_base_port) || { echo "run.sh: no free range of 41 ports from 20000 below the ephemeral ports" >&2; exit 1; }
step "starting a throw-away cluster in $CLUSTER_DIR (base port $BASE_PORT)"
"$ROOT/deploy/local-cluster.sh" up "$CLUSTER_DIR" --base-port "$BASE_PORT" </dev/null ||
  { echo "run.sh: the local cluster did not come up (logs: $CLUSTER_DIR/logs)" >&2
    tail -n 20 "$CLUSTER_DIR"/logs/*.log 2>/dev/null >&2; exit 1; }
export PGSCALE_CLUSTER_DIR=$CLUSTER_DIR

# One ctest run, so that one summary lists every failure: unit tests run two at a time, the
# integration tests (RUN_SERIAL) alone.
step "unit and integration tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 -L '^(unit|integration)$' "${EXTRA_CTEST[@]}" </dev/null

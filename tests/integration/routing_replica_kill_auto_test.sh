#!/usr/bin/env bash
# routing_replica_kill_test.sh with pool.auto_prepare on: pgbench -S -M simple's Queries run as
# pgscale's prepared statements (proxy/auto_prepare.hpp); a read whose replica is killed before
# answering is re-sent to another node, and pgbench sees zero failed transactions.
ROUTING_KILL_MODE=auto exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/routing_replica_kill_test.sh"

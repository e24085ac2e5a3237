#!/usr/bin/env bash
# routing_replica_kill_test.sh with pgbench -S -M prepared: reads Bind shared prepared statements
# (pgscale_s<id> on each server); a read whose replica is killed before answering is re-sent to
# another node after the statement was prepared there, and pgbench sees zero failed transactions.
ROUTING_KILL_MODE=prepared exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/routing_replica_kill_test.sh"

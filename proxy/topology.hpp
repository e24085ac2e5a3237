#pragma once
// Immutable snapshots of what the monitor observed about every node. The monitor builds a new
// Topology after each round of checks (or a ban) and swaps it into a TopologyStore; workers call
// TopologyStore::current() once per transaction and read that snapshot without any lock.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/lsn.hpp"

namespace pgscale {

using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// What pg_is_in_recovery() said at the last successful check.
enum class ObservedRole { unknown, primary, in_recovery };

// unknown: never checked successfully and not yet failure_threshold failures (e.g. at start).
enum class NodeHealth { unknown, up, down };

const char* to_string(ObservedRole role);
const char* to_string(NodeHealth health);

struct NodeState {
  config::NodeConfig config;               // name, host, port, configured role, priority, weight
  size_t shard = 0;                        // index into Topology::shards

  NodeHealth health = NodeHealth::unknown;
  // Set by Monitor::report_failure (router saw the replica fail); cleared by the first passing
  // check after it expires, so a banned replica comes back only after proving itself again.
  std::optional<SteadyClock::time_point> banned_until;
  bool fenced = false;                     // failover: never route here until an operator re-adds it
  ObservedRole observed_role = ObservedRole::unknown;
  bool role_mismatch = false;              // observed role differs from the configured one
  uint32_t consecutive_failures = 0;
  std::optional<SteadyClock::time_point> last_check;  // when the last check finished
  std::string last_error;                  // of the last failed check; empty after a success

  // When the check that produced the WAL positions below was sent: they describe the node at or
  // after this instant (read-your-writes compares it with a commit time).
  std::optional<SteadyClock::time_point> observed_at;
  std::optional<Lsn> current_lsn;          // pg_current_wal_lsn(), primaries only
  std::optional<Lsn> receive_lsn;          // pg_last_wal_receive_lsn(), in recovery only
  std::optional<Lsn> replay_lsn;           // pg_last_wal_replay_lsn(), in recovery only
  std::optional<Millis> replay_timestamp_age;  // now() - pg_last_xact_replay_timestamp() on the node
  bool replay_paused = false;              // pg_is_wal_replay_paused()

  // Replicas only; nullopt = unknown (never measured). See replication_lag.hpp for the definitions.
  std::optional<uint64_t> lag_bytes;
  std::optional<Millis> lag_time;

  bool is_up() const { return health == NodeHealth::up; }
  bool is_banned() const { return banned_until.has_value(); }
};

struct ShardState {
  std::string name;
  std::vector<NodeState> nodes;
};

struct Topology {
  uint64_t version = 0;                    // 0 = nothing checked yet; +1 per published snapshot
  SteadyClock::time_point published_at{};
  std::vector<ShardState> shards;

  const NodeState* find(std::string_view node_name) const;

  // The node that may take writes: up, not fenced, observed NOT in recovery. Never a node in
  // recovery, whatever the YAML says. Several candidates (split brain): the configured primary
  // first, then higher priority, then higher current LSN. nullptr when there is none.
  const NodeState* primary(size_t shard) const;

  // Replicas a read may go to: up, not banned, not fenced, observed in recovery, and within
  // `limit` (each bound that is set must be known and not exceeded). Configuration order.
  std::vector<const NodeState*> eligible_replicas(size_t shard,
                                                  const config::ReplicaLagLimit& limit) const;

  // Read-your-writes: has `node` replayed everything up to `lsn`? A node observed as primary has
  // everything; a node of unknown role has nothing we can vouch for.
  static bool replica_replayed_past(const NodeState& node, Lsn lsn);

  // Highest current LSN among this shard's primaries observed this round (for read-your-writes:
  // a position observed at or after `observed_at`). nullopt without an observed primary.
  std::optional<Lsn> primary_lsn(size_t shard) const;
};

// Holds the current snapshot; safe for any number of concurrent readers and one writer.
class TopologyStore {
 public:
  TopologyStore();
  std::shared_ptr<const Topology> current() const { return current_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const Topology> topology) {
    current_.store(std::move(topology), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const Topology>> current_;
};

}  // namespace pgscale

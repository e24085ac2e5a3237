#include "proxy/topology.hpp"

#include <tuple>

namespace pgscale {

const char* to_string(ObservedRole role) {
  switch (role) {
    case ObservedRole::primary: return "primary";
    case ObservedRole::in_recovery: return "in_recovery";
    case ObservedRole::unknown: break;
  }
  return "unknown";
}

const char* to_string(NodeHealth health) {
  switch (health) {
    case NodeHealth::up: return "up";
    case NodeHealth::down: return "down";
    case NodeHealth::unknown: break;
  }
  return "unknown";
}

const NodeState* Topology::find(std::string_view node_name) const {
  for (const auto& shard : shards)
    for (const auto& node : shard.nodes)
      if (node.config.name == node_name) return &node;
  return nullptr;
}

const NodeState* Topology::primary(size_t shard) const {
  if (shard >= shards.size()) return nullptr;
  const NodeState* best = nullptr;
  auto rank = [](const NodeState& n) {
    return std::make_tuple(n.config.role == config::NodeRole::primary, n.config.priority,
                           n.current_lsn.value_or(Lsn{}));
  };
  for (const auto& node : shards[shard].nodes) {
    if (!node.is_up() || node.fenced || node.observed_role != ObservedRole::primary) continue;
    if (best == nullptr || rank(node) > rank(*best)) best = &node;
  }
  return best;
}

namespace {

bool within_limit(const NodeState& node, const config::ReplicaLagLimit& limit) {
  if (limit.bytes && (!node.lag_bytes || *node.lag_bytes > *limit.bytes)) return false;
  if (limit.time && (!node.lag_time || *node.lag_time > *limit.time)) return false;
  return true;
}

}  // namespace

std::vector<const NodeState*> Topology::eligible_replicas(
    size_t shard, const config::ReplicaLagLimit& limit) const {
  std::vector<const NodeState*> out;
  if (shard >= shards.size()) return out;
  for (const auto& node : shards[shard].nodes) {
    if (!node.is_up() || node.is_banned() || node.fenced) continue;
    if (node.observed_role != ObservedRole::in_recovery) continue;
    if (within_limit(node, limit)) out.push_back(&node);
  }
  return out;
}

bool Topology::replica_replayed_past(const NodeState& node, Lsn lsn) {
  if (node.observed_role == ObservedRole::primary) return true;
  if (node.observed_role != ObservedRole::in_recovery) return false;
  return node.replay_lsn && *node.replay_lsn >= lsn;
}

std::optional<Lsn> Topology::primary_lsn(size_t shard) const {
  const NodeState* p = primary(shard);
  if (p == nullptr) return std::nullopt;
  return p->current_lsn;
}

TopologyStore::TopologyStore() : current_(std::make_shared<const Topology>()) {}

}  // namespace pgscale

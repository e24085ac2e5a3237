#include "proxy/router.hpp"

namespace pgscale::proxy {

std::optional<Route> Router::route(const config::Config& cfg, const RouteRequest& /*req*/) {
  if (cfg.shards.empty() || cfg.shards[0].nodes.empty()) return std::nullopt;
  const auto& nodes = cfg.shards[0].nodes;
  // The YAML's primary; a shard without one (mid-failover edit) falls back to its first node so
  // PostgreSQL itself reports "read-only transaction" instead of pgscale refusing everything.
  for (const auto& n : nodes) {
    if (n.role == config::NodeRole::primary) return Route{0, config::NodeRole::primary, &n};
  }
  return Route{0, nodes[0].role, &nodes[0]};
}

}  // namespace pgscale::proxy

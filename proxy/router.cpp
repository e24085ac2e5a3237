#include "proxy/router.hpp"

#include <random>

namespace pgscale::proxy {

std::optional<Route> Router::route(const config::Config& cfg, const RouteRequest& /*req*/) {
  const config::NodeConfig* n = configured_primary(cfg);
  if (n == nullptr) return std::nullopt;
  return Route{0, n->role, n};
}

Choice Router::choose(const config::Config& cfg, const Topology& topo, TargetDecision decision,
                      const RywState* ryw, const std::vector<std::string>* exclude) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  SelectInput in{cfg, topo, decision, ryw, exclude, {}, ticket_.fetch_add(1, std::memory_order_relaxed), 0.0};
  if (decision.target == Target::replica) {
    in.random01 = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    if (cfg.routing.replica_selection == config::ReplicaSelection::least_outstanding) {
      in.outstanding = [this](std::string_view node) { return outstanding(node); };
    }
  }
  return select_node(in);
}

std::shared_ptr<std::atomic<int64_t>> Router::counter(const std::string& node) {
  std::lock_guard lk(mu_);
  auto& c = counters_[node];
  if (!c) c = std::make_shared<std::atomic<int64_t>>(0);
  return c;
}

OutstandingTicket Router::take_ticket(const std::string& node) { return OutstandingTicket(counter(node)); }

int64_t Router::outstanding(std::string_view node) const {
  std::lock_guard lk(mu_);
  auto it = counters_.find(node);
  return it == counters_.end() ? 0 : it->second->load(std::memory_order_relaxed);
}

}  // namespace pgscale::proxy

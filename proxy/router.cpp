#include "proxy/router.hpp"

#include <random>
#include <string>
#include <vector>

namespace pgscale::proxy {

std::optional<Route> Router::route(const config::Config& cfg, const RouteRequest& /*req*/) {
  const config::NodeConfig* n = configured_primary(cfg);
  if (n == nullptr) return std::nullopt;
  return Route{0, n->role, n};
}

Choice Router::choose(const config::Config& cfg, const Topology& topo, TargetDecision decision,
                      const RywState* ryw, const std::vector<std::string>* exclude) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  SelectInput in{cfg, topo, decision, ryw, exclude, {}, 0, 0.0};
  if (decision.target == Target::replica) {
    // Only replica picks use the ticket: a primary decision leaves the shared counter's cache
    // line alone (every worker's transactions would otherwise bounce it between cores).
    in.ticket = ticket_.fetch_add(1, std::memory_order_relaxed);
    in.random01 = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    if (cfg.routing.replica_selection == config::ReplicaSelection::least_outstanding) {
      in.outstanding = [this](std::string_view node) { return outstanding(node); };
    }
  }
  return select_node(in);
}

namespace {

// Per worker thread: the counters it has used, by router and node. The map only grows and a
// counter lives as long as anyone holds it, so a copy of the pointer stays right: a transaction's
// ticket and the least_outstanding reads (once per candidate) take no lock and search no map.
struct ThreadCounter {
  uint64_t router = 0;
  std::string node;
  std::shared_ptr<std::atomic<int64_t>> counter;
};
constexpr size_t kMaxThreadCounters = 64;  // beyond it (many routers or nodes) start afresh
thread_local std::vector<ThreadCounter> t_counters;

std::atomic<uint64_t> g_next_router_id{1};

}  // namespace

Router::Router() : id_(g_next_router_id.fetch_add(1, std::memory_order_relaxed)) {}

const Router::Counter* Router::thread_counter(std::string_view node) const {
  for (const ThreadCounter& t : t_counters) {
    if (t.router == id_ && t.node == node) return &t.counter;
  }
  return nullptr;
}

const Router::Counter& Router::remember(std::string_view node, Counter c) const {
  if (t_counters.size() >= kMaxThreadCounters) t_counters.clear();
  t_counters.push_back(ThreadCounter{id_, std::string(node), std::move(c)});
  return t_counters.back().counter;
}

Router::Counter Router::counter(const std::string& node) {
  std::lock_guard lk(mu_);
  auto& c = counters_[node];
  if (!c) c = std::make_shared<std::atomic<int64_t>>(0);
  return c;
}

OutstandingTicket Router::take_ticket(const std::string& node) {
  const Counter* c = thread_counter(node);
  return OutstandingTicket(c ? *c : remember(node, counter(node)));
}

int64_t Router::outstanding(std::string_view node) const {
  if (const Counter* c = thread_counter(node)) return (*c)->load(std::memory_order_relaxed);
  Counter found;
  {
    std::lock_guard lk(mu_);
    auto it = counters_.find(node);
    if (it == counters_.end()) return 0;  // no ticket yet: not copied, it may be created later
    found = it->second;
  }
  return remember(node, std::move(found))->load(std::memory_order_relaxed);
}

}  // namespace pgscale::proxy

#pragma once
// The router: which node serves the next transaction. The decision itself is pure
// (route_policy.hpp); Router adds the process-wide state it needs — the outstanding-transaction
// count per node (least_outstanding) and the round-robin position — and is shared by all workers.
#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/route_policy.hpp"

namespace pgscale::proxy {

struct RouteRequest {
  std::string_view first_statement;  // Query text or Parse text when known; may be empty
  bool in_transaction = false;       // the client is inside a transaction block
};

struct Route {
  size_t shard = 0;
  config::NodeRole role = config::NodeRole::primary;
  const config::NodeConfig* node = nullptr;  // points into the config snapshot the caller holds
};

// One transaction in flight on a node; the count drops when the ticket is destroyed or reset.
class OutstandingTicket {
 public:
  OutstandingTicket() = default;
  explicit OutstandingTicket(std::shared_ptr<std::atomic<int64_t>> c) : c_(std::move(c)) {
    if (c_) c_->fetch_add(1, std::memory_order_relaxed);
  }
  OutstandingTicket(OutstandingTicket&& o) noexcept : c_(std::move(o.c_)) {}
  OutstandingTicket& operator=(OutstandingTicket&& o) noexcept {
    if (this != &o) {
      reset();
      c_ = std::move(o.c_);
    }
    return *this;
  }
  OutstandingTicket(const OutstandingTicket&) = delete;
  OutstandingTicket& operator=(const OutstandingTicket&) = delete;
  ~OutstandingTicket() { reset(); }
  void reset() {
    if (c_) c_->fetch_sub(1, std::memory_order_relaxed);
    c_.reset();
  }

 private:
  std::shared_ptr<std::atomic<int64_t>> c_;
};

class Router {
 public:
  Router();

  // Shard 0's primary as the YAML says (the greeting and session-mode pool; no topology needed).
  // nullopt when the topology has no node.
  static std::optional<Route> route(const config::Config& cfg, const RouteRequest& req);

  // A node for a transaction decided as `decision` (select_node with this router's counters).
  Choice choose(const config::Config& cfg, const Topology& topo, TargetDecision decision,
                const RywState* ryw, const std::vector<std::string>* exclude);

  OutstandingTicket take_ticket(const std::string& node);
  int64_t outstanding(std::string_view node) const;

 private:
  using Counter = std::shared_ptr<std::atomic<int64_t>>;
  Counter counter(const std::string& node);
  // The counter of `node` from this thread's copy of the map (no lock), null when not copied yet.
  const Counter* thread_counter(std::string_view node) const;
  const Counter& remember(std::string_view node, Counter c) const;

  const uint64_t id_;  // tells this Router's entries in the per-thread copies from a former one's
  std::atomic<uint64_t> ticket_{0};
  mutable std::mutex mu_;  // guards the map only; counters are atomics
  std::map<std::string, std::shared_ptr<std::atomic<int64_t>>, std::less<>> counters_;
};

}  // namespace pgscale::proxy

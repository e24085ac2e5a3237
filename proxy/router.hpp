#pragma once
// The seam between a session and the pools: which node serves the next transaction.
// Issue 3: always shard 0's primary. Issue 5 adds classification (first statement, transaction
// state, session hints) and replica selection behind this same call.
#include <cstddef>
#include <optional>
#include <string_view>

#include "config/config.hpp"

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

class Router {
 public:
  // nullopt when the topology has no node to serve the request (empty shard list).
  static std::optional<Route> route(const config::Config& cfg, const RouteRequest& req);
};

}  // namespace pgscale::proxy

// What /metrics and /status say: read from the runtime's live state, never from a cache that could
// drift. Families are documented in config/README.md's "Metrics" section.
#include <fmt/format.h>

#include "proxy/admin_http.hpp"
#include "proxy/auto_prepare.hpp"
#include "proxy/metrics.hpp"
#include "proxy/session_state.hpp"
#include "proxy/version.hpp"

namespace pgscale::proxy {

namespace {
using Type = MetricsWriter::Type;

std::string json_escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void render_pools(MetricsWriter& w, const std::vector<std::shared_ptr<Pool>>& pools) {
  struct Row {
    const ServerSpec* spec;
    PoolStats stats;
  };
  std::vector<Row> rows;
  rows.reserve(pools.size());
  for (const auto& p : pools) rows.push_back({&p->spec(), p->stats()});
  auto each = [&](std::string_view name, std::string_view help, auto value) {
    w.family(name, Type::gauge, help);
    for (const auto& r : rows) {
      w.sample({{"node", r.spec->node_name}, {"database", r.spec->database}, {"user", r.spec->user}},
               static_cast<double>(value(r.stats)));
    }
  };
  each("pgscale_pool_server_connections", "Server connections of the pool, open or opening.",
       [](const PoolStats& s) { return s.size; });
  each("pgscale_pool_idle_server_connections", "Server connections idle in the pool.",
       [](const PoolStats& s) { return s.idle; });
  each("pgscale_pool_active_server_connections", "Server connections checked out by clients.",
       [](const PoolStats& s) { return s.size >= s.idle ? s.size - s.idle : 0; });
  each("pgscale_pool_waiting_clients", "Clients waiting for a server connection of the pool.",
       [](const PoolStats& s) { return s.waiting; });
}
void render_topology(MetricsWriter& w, const pgscale::Topology& topo) {
  std::vector<const pgscale::NodeState*> nodes;
  for (const auto& shard : topo.shards) {
    for (const auto& n : shard.nodes) nodes.push_back(&n);
  }
  auto shard_name = [&](const pgscale::NodeState& n) -> std::string_view {
    return n.shard < topo.shards.size() ? std::string_view(topo.shards[n.shard].name) : std::string_view();
  };
  w.family("pgscale_node_up", Type::gauge,
           "1 when the monitor's last checks passed (health up), 0 when down or not yet known.");
  for (const auto* n : nodes) {
    w.sample({{"node", n->config.name}, {"shard", shard_name(*n)}, {"role", pgscale::to_string(n->observed_role)}},
             n->is_up() ? 1 : 0);
  }
  w.family("pgscale_node_banned", Type::gauge, "1 while a replica is banned after a failure the router saw.");
  for (const auto* n : nodes) w.sample({{"node", n->config.name}, {"shard", shard_name(*n)}}, n->is_banned() ? 1 : 0);
  w.family("pgscale_node_role_mismatch", Type::gauge, "1 when the observed role differs from the YAML's.");
  for (const auto* n : nodes) w.sample({{"node", n->config.name}, {"shard", shard_name(*n)}}, n->role_mismatch ? 1 : 0);
  w.family("pgscale_replica_lag_bytes", Type::gauge, "Replay lag of a replica behind its primary, in WAL bytes.");
  for (const auto* n : nodes) {
    if (n->lag_bytes) w.sample({{"node", n->config.name}, {"shard", shard_name(*n)}}, static_cast<double>(*n->lag_bytes));
  }
  w.family("pgscale_replica_lag_seconds", Type::gauge, "Replay lag of a replica behind its primary, in seconds.");
  for (const auto* n : nodes) {
    if (n->lag_time) {
      w.sample({{"node", n->config.name}, {"shard", shard_name(*n)}}, static_cast<double>(n->lag_time->count()) / 1000.0);
    }
  }
  w.family("pgscale_topology_version", Type::gauge, "Snapshots the monitor has published (0 = no check done yet).");
  w.sample(static_cast<double>(topo.version));
}
}  // namespace

std::string render_metrics(Runtime& rt, std::chrono::steady_clock::time_point started) {
  MetricsWriter w;
  w.family("pgscale_build_info", Type::gauge, "pgscale version (value is always 1).");
  w.sample({{"version", kVersion}}, 1);
  w.family("pgscale_uptime_seconds", Type::gauge, "Seconds since pgscale started.");
  w.sample(seconds_since(started));
  w.family("pgscale_client_connections", Type::gauge, "Client connections open now (all states).");
  w.sample(rt.clients.load());
  w.family("pgscale_client_sessions", Type::gauge, "Client sessions alive now (accepted and not yet closed).");
  w.sample(static_cast<double>(rt.session_count()));
  w.family("pgscale_client_sessions_parked", Type::gauge,
           "Client sessions idle long enough (about a second without a query) to wait outside the I/O reactor, "
           "holding only their socket and session object.");
  w.sample(rt.parked_clients.load(std::memory_order_relaxed));
  w.family("pgscale_draining", Type::gauge, "1 while pgscale drains after SIGTERM/SIGINT.");
  w.sample(rt.draining.load() ? 1 : 0);
  render_pools(w, rt.pools().all());
  if (auto topo = rt.topology()) render_topology(w, *topo);
  auto& pins = pin_counters();
  w.family("pgscale_pinned_clients", Type::gauge,
           "Clients pinned to their server connection now (state that cannot be replayed).");
  w.sample(static_cast<double>(pins.pinned_clients.load()));
  w.family("pgscale_pins_total", Type::counter, "Times a client became pinned to its server, by reason.");
  for (size_t i = 0; i < kPinReasons; ++i) {
    w.sample({{"reason", pin_reason_name(static_cast<PinReason>(i))}}, static_cast<double>(pins.pins_total[i].load()));
  }
  auto& ap = auto_prepare_counters();
  w.family("pgscale_auto_prepare_total", Type::counter,
           "pool.auto_prepare: Queries run as pgscale's prepared statements (executed), shapes tried with a Parse "
           "(tried), tries a server refused (refused).");
  w.sample({{"event", "executed"}}, static_cast<double>(ap.executed.load()));
  w.sample({{"event", "tried"}}, static_cast<double>(ap.tried.load()));
  w.sample({{"event", "refused"}}, static_cast<double>(ap.refused.load()));
  return w.take();
}

std::string render_status(Runtime& rt, std::chrono::steady_clock::time_point started) {
  std::string out = fmt::format(R"({{"version":"{}","uptime_seconds":{:.3f},"draining":{},"clients":{},"pools":[)",
                                kVersion, seconds_since(started), rt.draining.load() ? "true" : "false",
                                rt.clients.load());
  bool first = true;
  for (const auto& p : rt.pools().all()) {
    auto s = p->stats();
    const auto& spec = p->spec();
    out += fmt::format(R"({}{{"node":"{}","database":"{}","user":"{}","size":{},"idle":{},"waiting":{}}})",
                       first ? "" : ",", json_escape(spec.node_name), json_escape(spec.database),
                       json_escape(spec.user), s.size, s.idle, s.waiting);
    first = false;
  }
  out += "]}\n";
  return out;
}

}  // namespace pgscale::proxy

// The monitor's rounds: configuration, concurrent checks, applying results, publishing snapshots.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <exception>
#include <map>
#include <tuple>

#include "proxy/function_catalog.hpp"
#include "proxy/monitor.hpp"
#include "proxy/monitor_state.hpp"

namespace pgscale {

namespace asio = boost::asio;

namespace {

// One statement, one round trip. pg_is_in_recovery() is evaluated once (FROM clause), and the CASE
// branches keep pg_current_wal_lsn() (an error during recovery) and the replica functions apart.
// The replay age is computed on the node itself (clock_timestamp(), not the start of the query).
constexpr const char* kCheckSql =
    "SELECT r,"
    " CASE WHEN r THEN NULL ELSE pg_current_wal_lsn() END,"
    " CASE WHEN r THEN pg_last_wal_receive_lsn() END,"
    " CASE WHEN r THEN pg_last_wal_replay_lsn() END,"
    " CASE WHEN r THEN (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
    " * 1000)::bigint END,"
    " CASE WHEN r THEN pg_is_wal_replay_paused() END"
    " FROM pg_is_in_recovery() AS r";

bool parse_optional_lsn(const std::optional<std::string>& text, std::optional<Lsn>& out) {
  if (!text) return true;
  out = parse_lsn(*text);
  return out.has_value();
}

}  // namespace

bool Monitor::CheckOutcome::parse(const PqResult& r) {
  if (r.rows.size() != 1 || r.rows[0].size() != 6 || !r.rows[0][0]) {
    error = "unexpected check result shape";
    return false;
  }
  const auto& row = r.rows[0];
  role = *row[0] == "t" ? ObservedRole::in_recovery : ObservedRole::primary;
  if (!parse_optional_lsn(row[1], current) || !parse_optional_lsn(row[2], receive) ||
      !parse_optional_lsn(row[3], replay)) {
    error = "unparsable LSN in check result";
    return false;
  }
  if (row[4]) {
    long long ms = 0;
    auto [p, ec] = std::from_chars(row[4]->data(), row[4]->data() + row[4]->size(), ms);
    if (ec != std::errc{} || p != row[4]->data() + row[4]->size()) {
      error = "unparsable replay age";
      return false;
    }
    replay_age = Millis{ms};
  }
  paused = row[5] && *row[5] == "t";
  return true;
}

void Monitor::apply_config(const config::Config& config) {
  const bool settings_changed =
      config.monitor.user != settings_.user || config.monitor.password != settings_.password ||
      config.monitor.database != settings_.database || config.monitor.timeout != settings_.timeout ||
      config.pool.server_tls != server_tls_;
  settings_ = config.monitor;
  server_tls_ = config.pool.server_tls;
  // pg_proc is per database: user functions live in the databases clients use, so the catalog is
  // read from each database a user lists (plus monitor.database) and merged, most volatile first.
  catalog_databases_ = {config.monitor.database};
  for (const auto& u : config.users) {
    for (const auto& db : u.databases) {
      if (catalog_databases_.size() >= kMaxCatalogDatabases) break;
      if (std::find(catalog_databases_.begin(), catalog_databases_.end(), db) == catalog_databases_.end())
        catalog_databases_.push_back(db);
    }
  }

  std::map<std::string, std::unique_ptr<NodeRuntime>, std::less<>> old_nodes;
  std::map<std::string, WalHistory, std::less<>> old_history;
  for (auto& shard : shards_) {
    old_history.emplace(shard->name, std::move(shard->history));
    for (auto& node : shard->nodes) old_nodes.emplace(node->state.config.name, std::move(node));
  }
  shards_.clear();
  for (size_t si = 0; si < config.shards.size(); ++si) {
    const auto& sc = config.shards[si];
    auto shard = std::make_unique<ShardRuntime>();
    shard->name = sc.name;
    if (auto h = old_history.find(sc.name); h != old_history.end()) shard->history = std::move(h->second);
    for (const auto& nc : sc.nodes) {
      std::unique_ptr<NodeRuntime> node;
      auto it = old_nodes.find(nc.name);
      if (it != old_nodes.end() && it->second->state.config.host == nc.host &&
          it->second->state.config.port == nc.port) {
        node = std::move(it->second);  // same server: keep its state and connection
      } else {
        node = std::make_unique<NodeRuntime>();
        spdlog::info("monitor: watching {} at {}:{}", nc.name, nc.host, nc.port);
      }
      if (it != old_nodes.end()) old_nodes.erase(it);
      node->state.config = nc;
      node->state.shard = si;
      if (settings_changed || !node->conn) {
        node->conn = std::make_unique<PqConn>(strand_);
        node->params.reset();
      }
      shard->nodes.push_back(std::move(node));
    }
    shards_.push_back(std::move(shard));
  }
  for (auto& [name, node] : old_nodes) spdlog::info("monitor: no longer watching {}", name);
}

asio::awaitable<void> Monitor::run() {
  while (!stopping_) {
    if (pending_config_) {
      apply_config(*pending_config_);
      pending_config_.reset();
    }
    const auto started = SteadyClock::now();
    round_requested_ = false;
    co_await run_round();
    if (stopping_) break;
    publish();
    co_await fetch_catalog();
    if (stopping_) break;
    co_await wait_next_round(started);
  }
  for (auto& shard : shards_)
    for (auto& node : shard->nodes) node->conn->close();
}

asio::awaitable<void> Monitor::wait_next_round(SteadyClock::time_point started) {
  // check_now() shortens the wait, but rounds still start at least kMinGap apart: a router asking
  // after every commit must not turn the monitor into a load generator.
  constexpr auto kMinGap = std::chrono::milliseconds{20};
  for (int i = 0; i < 1000 && !stopping_ && !pending_config_; ++i) {
    const auto target = round_requested_ ? started + std::min<SteadyClock::duration>(kMinGap, settings_.interval)
                                         : started + settings_.interval;
    if (SteadyClock::now() >= target) break;
    wake_timer_.expires_at(target);
    co_await wake_timer_.async_wait(asio::as_tuple(asio::use_awaitable));  // cancelled = look again
  }
}

asio::awaitable<void> Monitor::run_round() {
  // Every check of the round shares one deadline, so a dead node costs the round at most
  // monitor.timeout and never delays another node's check (they all run concurrently).
  const auto deadline = SteadyClock::now() + settings_.timeout;
  size_t pending = 0;
  asio::steady_timer all_done(strand_, SteadyClock::time_point::max());
  for (auto& shard : shards_) {
    for (auto& node : shard->nodes) {
      node->outcome = CheckOutcome{};
      ++pending;
      auto on_done = [&pending, &all_done, n = node.get()](std::exception_ptr e) {
        if (e) {
          n->outcome.completed = true;
          n->outcome.error = "internal error in check";
        }
        if (--pending == 0) all_done.cancel();
      };
      asio::co_spawn(strand_, check_node(*node, deadline), asio::bind_executor(strand_, on_done));
    }
  }
  // Bounded: each check ends by its deadline (or at once on stop, which cancels connections).
  while (pending > 0) co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  for (auto& shard : shards_) apply_round(*shard);
}

asio::awaitable<void> Monitor::check_node(NodeRuntime& node, PqDeadline deadline) {
  CheckOutcome out;
  out.sent_at = SteadyClock::now();
  const auto& nc = node.state.config;
  if (!node.conn->connected()) {
    if (!node.params) {
      std::string error;
      node.params = co_await resolve_host_params(nc.host, nc.port, extra_params(), deadline, error);
      if (!node.params) out.error = "resolve: " + error;
    }
    if (out.error.empty()) {
      auto r = co_await node.conn->connect(*node.params, deadline);
      if (!r.ok()) {
        out.error = "connect: " + r.error;
        node.params.reset();  // look the name up again next time
      }
      out.sent_at = SteadyClock::now();  // the LSNs describe the node after this instant
    }
  }
  if (out.error.empty()) {
    auto r = co_await node.conn->query(kCheckSql, deadline);
    if (!r.ok()) out.error = "check: " + r.error;
    else out.parse(r);
  }
  out.completed = true;
  out.finished_at = SteadyClock::now();
  node.outcome = std::move(out);
}

asio::awaitable<void> Monitor::fetch_catalog() {
  // Unknown names in client statements must not make every round query pg_proc.
  constexpr auto kMinGap = std::chrono::seconds{5};
  if (!catalog_sink_ || catalog_need_ == CatalogNeed::none) co_return;
  const auto started = SteadyClock::now();
  if (catalog_need_ == CatalogNeed::requested && last_catalog_fetch_ && started - *last_catalog_fetch_ < kMinGap)
    co_return;  // stays requested: fetched at a later round
  const NodeRuntime* source = nullptr;
  for (const auto& shard : shards_) {
    for (const auto& node : shard->nodes) {
      const auto& s = node->state;
      if (s.is_up() && !s.fenced && s.observed_role == ObservedRole::primary && node->params) source = node.get();
      if (source != nullptr) break;
    }
    if (source != nullptr) break;
  }
  if (source == nullptr) co_return;  // no primary yet: try after the next round
  last_catalog_fetch_ = started;
  std::string error;
  PqResult all;
  for (const auto& db : catalog_databases_) {
    PqParams params = *source->params;
    for (auto& [k, v] : params) {
      if (k == "dbname") v = db;
    }
    const auto deadline = SteadyClock::now() + settings_.timeout;
    catalog_conn_ = std::make_unique<PqConn>(strand_);
    auto c = co_await catalog_conn_->connect(params, deadline);
    PqResult rows;
    if (c.ok()) rows = co_await catalog_conn_->query(kFunctionCatalogSql, deadline);
    catalog_conn_.reset();
    if (stopping_) co_return;
    if (!c.ok() || !rows.ok()) {  // e.g. a database that does not exist (yet): skip it
      spdlog::debug("monitor: function catalog of database {}: {}", db, c.ok() ? rows.error : c.error);
      continue;
    }
    all.rows.insert(all.rows.end(), std::make_move_iterator(rows.rows.begin()), std::make_move_iterator(rows.rows.end()));
  }
  std::shared_ptr<const classifier::MapFunctionCatalog> catalog;
  if (all.rows.empty()) error = "no database answered";
  else catalog = build_function_catalog(all, error);
  if (!catalog) {
    spdlog::warn("monitor: function catalog from {} failed: {}", source->state.config.name, error);
    co_return;
  }
  spdlog::info("monitor: function catalog from {}: {} names", source->state.config.name, catalog->size());
  catalog_need_ = CatalogNeed::none;
  catalog_sink_(std::move(catalog));
}

void Monitor::apply_outcome(NodeRuntime& node) {
  auto& o = node.outcome;
  auto& s = node.state;
  if (!o.completed) return;
  s.last_check = o.finished_at;
  if (!o.error.empty()) {
    ++s.consecutive_failures;
    s.last_error = o.error;
    if (s.consecutive_failures >= std::max<uint32_t>(1, settings_.failure_threshold) &&
        s.health != NodeHealth::down) {
      spdlog::warn("monitor: {} is down after {} failed checks: {}", s.config.name, s.consecutive_failures, o.error);
      s.health = NodeHealth::down;
    } else {
      spdlog::debug("monitor: check of {} failed ({}): {}", s.config.name, s.consecutive_failures, o.error);
    }
    return;
  }
  if (s.health != NodeHealth::up)
    spdlog::info("monitor: {} is up{}", s.config.name, s.health == NodeHealth::down ? " again" : "");
  s.health = NodeHealth::up;
  s.consecutive_failures = 0;
  s.last_error.clear();
  s.observed_role = o.role;
  s.observed_at = o.sent_at;
  s.current_lsn = o.current;
  s.receive_lsn = o.receive;
  s.replay_lsn = o.replay;
  s.replay_timestamp_age = o.replay_age;
  s.replay_paused = o.paused;
  if (s.banned_until && o.sent_at >= *s.banned_until) {  // a check begun after the ban
    s.banned_until.reset();
    spdlog::info("monitor: ban of {} lifted (passed a check after the ban time)", s.config.name);
  }
  note_role(node);
}

void Monitor::note_role(NodeRuntime& node) {
  auto& s = node.state;
  const bool configured_primary = s.config.role == config::NodeRole::primary;
  s.role_mismatch = s.observed_role != ObservedRole::unknown &&
                    configured_primary != (s.observed_role == ObservedRole::primary);
  if (s.observed_role == node.logged_role) return;  // warn once per change, not every check
  if (s.role_mismatch)
    spdlog::warn("monitor: {} is configured as {} but is {}", s.config.name,
                 configured_primary ? "primary" : "replica",
                 s.observed_role == ObservedRole::primary ? "a primary (not in recovery)" : "in recovery");
  else if (node.logged_role != ObservedRole::unknown)
    spdlog::info("monitor: {} is {} again, as configured", s.config.name, to_string(s.observed_role));
  node.logged_role = s.observed_role;
}

void Monitor::apply_round(ShardRuntime& shard) {
  for (auto& node : shard.nodes) apply_outcome(*node);
  // The primary position of *this* round (same choice as Topology::primary): replica lag is
  // measured against it, never against a position from another round.
  const NodeRuntime* primary = nullptr;
  auto rank = [](const NodeRuntime& n) {
    return std::make_tuple(n.state.config.role == config::NodeRole::primary,
                           n.state.config.priority, n.state.current_lsn.value_or(Lsn{}));
  };
  for (const auto& node : shard.nodes) {
    const auto& s = node->state;
    if (!node->outcome.completed || !node->outcome.error.empty() || s.fenced) continue;
    if (s.observed_role != ObservedRole::primary || !s.current_lsn) continue;
    if (primary == nullptr || rank(*node) > rank(*primary)) primary = node.get();
  }
  if (primary != nullptr) shard.history.record(primary->outcome.sent_at, *primary->state.current_lsn);
  for (auto& node : shard.nodes) {
    auto& s = node->state;
    if (s.observed_role != ObservedRole::in_recovery) {
      s.lag_bytes.reset();
      s.lag_time.reset();
      continue;
    }
    if (!node->outcome.completed || !node->outcome.error.empty()) continue;  // keep last estimate
    // Without a primary this round the last known primary position is used: a dead primary
    // writes nothing, so the replicas' distance to it is still their lag.
    auto est = shard.history.estimate(s.replay_lsn, node->outcome.finished_at, s.replay_timestamp_age);
    s.lag_bytes = est.bytes;
    s.lag_time = est.time;
  }
}

void Monitor::publish() {
  auto topology = std::make_shared<Topology>();
  topology->version = ++version_;
  topology->published_at = SteadyClock::now();
  topology->shards.reserve(shards_.size());
  for (const auto& shard : shards_) {
    ShardState out{shard->name, {}};
    out.nodes.reserve(shard->nodes.size());
    for (const auto& node : shard->nodes) out.nodes.push_back(node->state);
    topology->shards.push_back(std::move(out));
  }
  store_.publish(std::move(topology));
}

}  // namespace pgscale

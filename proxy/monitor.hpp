#pragma once
// The health-and-lag monitor: one persistent libpq connection per node (non-blocking, pq_conn.hpp),
// one single-round-trip check per node every monitor.interval, all nodes of a round checked
// concurrently and the round bounded by monitor.timeout; after each round an immutable Topology
// is published to the TopologyStore. Everything runs on the monitor's own strand; the public
// methods other threads call only post to it.
//
// Lifetime: start() once; before destroying the Monitor, stop() and wait for it to complete (the
// loop coroutine references the Monitor). Calls posted from other threads (report_failure, ...)
// must not outlive it either: stop the monitor before the io_context's last run returns.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/pq_conn.hpp"
#include "proxy/replication_lag.hpp"
#include "proxy/topology.hpp"

namespace pgscale {

namespace classifier {
class FunctionCatalog;
}

class Monitor {
 public:
  Monitor(boost::asio::any_io_executor executor, const config::Config& config, TopologyStore& store);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Starts the loop; the first round runs at once (until it completes the store holds version 0,
  // which has every node in health `unknown`).
  void start();

  // Stops checking, closes every monitor connection; completes when the loop has ended.
  boost::asio::awaitable<void> stop();
  void stop(std::function<void()> on_stopped);  // same, with a callback (any thread)

  // SIGHUP: nodes added/removed/changed, new interval/timeout/thresholds. Applied before the next
  // round, which starts at once. Nodes keep their state (and connection) when name, host and port
  // are unchanged. Thread-safe.
  void update_config(const config::Config& config);

  // The router saw `node_name` fail (connection error before any byte reached the client). A
  // replica is banned for monitor.ban_time and returns after the ban expires *and* a check
  // passes; a new snapshot is published at once. Ignored for a node observed as primary (there is
  // nowhere else to send writes; failover decides about primaries). Thread-safe.
  void report_failure(std::string_view node_name);

  // Failover: a fenced node never gets traffic (Topology::primary / eligible_replicas skip it).
  void set_fenced(std::string_view node_name, bool fenced);

  // Run a round now instead of at the next interval (e.g. read-your-writes wants a primary LSN
  // observed after a commit). A call during a round makes another round follow it at once.
  void check_now();

  // Receives the function volatility catalog of a primary's pg_proc (function_catalog.hpp), called
  // on the monitor's strand (keep it short: Classifier::set_context). Fetched after the first
  // round that sees a primary, after each update_config, and on refresh_function_catalog()
  // (at most once per 5 s, for names the classifier did not know). Thread-safe.
  using CatalogSink = std::function<void(std::shared_ptr<const classifier::FunctionCatalog>)>;
  void set_function_catalog_sink(CatalogSink sink);
  void refresh_function_catalog();

 private:
  struct CheckOutcome;
  struct NodeRuntime;
  struct ShardRuntime;

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> run_round();
  boost::asio::awaitable<void> wait_next_round(SteadyClock::time_point started);
  boost::asio::awaitable<void> check_node(NodeRuntime& node, PqDeadline deadline);
  boost::asio::awaitable<void> stop_on_strand();
  boost::asio::awaitable<void> fetch_catalog();
  void apply_config(const config::Config& config);
  void apply_round(ShardRuntime& shard);
  void apply_outcome(NodeRuntime& node);
  void note_role(NodeRuntime& node);
  void publish();
  NodeRuntime* find(std::string_view node_name);
  PqParams extra_params() const;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  TopologyStore& store_;
  config::MonitorConfig settings_;
  config::ServerTlsMode server_tls_ = config::ServerTlsMode::disable;
  std::vector<std::unique_ptr<ShardRuntime>> shards_;
  std::optional<config::Config> pending_config_;
  boost::asio::steady_timer wake_timer_;      // between rounds; cancelled to run a round now
  boost::asio::steady_timer finished_timer_;  // cancelled when the loop ends (stop waits on it)
  enum class CatalogNeed { none, forced, requested };
  CatalogSink catalog_sink_;
  CatalogNeed catalog_need_ = CatalogNeed::forced;
  std::optional<SteadyClock::time_point> last_catalog_fetch_;
  std::unique_ptr<PqConn> catalog_conn_;      // only while a fetch runs
  static constexpr size_t kMaxCatalogDatabases = 16;
  std::vector<std::string> catalog_databases_;  // monitor.database + users' databases
  uint64_t version_ = 0;
  bool round_requested_ = false;  // check_now() since the current round began
  bool started_ = false;
  bool stopping_ = false;
  bool finished_ = true;
};

}  // namespace pgscale

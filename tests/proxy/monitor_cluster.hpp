#pragma once
// Helpers for the monitor integration tests: the cluster from $PGSCALE_CLUSTER_DIR/cluster.env, a
// Config for it, blocking superuser SQL from the test thread (never from an io_context thread),
// and an io_context running the Monitor on two threads.
#include <libpq-fe.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "proxy/monitor.hpp"
#include "proxy/topology.hpp"

namespace pgscale::test {

struct Cluster {
  std::map<std::string, std::string> env;
  std::string get(const std::string& key) const;
  uint16_t port(const std::string& key) const;
  std::string dir() const { return get("PGSCALE_CLUSTER_DIR"); }

  static const Cluster& instance();  // loads cluster.env once; FAILs the test if unreadable
};

// Two shards as deploy/local-cluster.sh makes them; fast checks so the tests are quick.
config::Config cluster_config();

// Blocking superuser SQL over the unix socket; returns the first column of the first row (or "").
// REQUIREs success.
std::string sql(uint16_t port, const std::string& statement);

// Polls `pred` on the current snapshot every 20 ms for at most `limit`; returns the snapshot that
// satisfied it, or nullptr.
std::shared_ptr<const Topology> wait_for(const TopologyStore& store,
                                         const std::function<bool(const Topology&)>& pred,
                                         std::chrono::milliseconds limit = std::chrono::seconds{30});

// Runs a Monitor for the lifetime of the object (start on construction, stop + join on
// destruction).
class MonitorRunner {
 public:
  explicit MonitorRunner(const config::Config& config);
  ~MonitorRunner();
  Monitor& monitor() { return *monitor_; }
  TopologyStore& store() { return store_; }

 private:
  boost::asio::io_context io_;
  TopologyStore store_;
  std::unique_ptr<Monitor> monitor_;
  std::vector<std::thread> threads_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
};

// A TCP port on 127.0.0.1 with nothing listening (bound once to get it from the kernel, then closed).
uint16_t closed_port();

// pg_ctl as the server user (runuser -u postgres when root); returns the exit status.
int pg_ctl(const std::string& node, const std::string& action);

}  // namespace pgscale::test

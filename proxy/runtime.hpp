#pragma once
// State shared by all workers: the current config snapshot, pools, cancel keys, TLS contexts,
// client count and the live-session list (for drain). Everything here is thread-safe.
#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

#include <boost/asio/ssl/context.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"
#include "proxy/cancel.hpp"
#include "proxy/classifier.hpp"
#include "proxy/pool.hpp"
#include "proxy/router.hpp"
#include "proxy/topology.hpp"

namespace pgscale {
class Monitor;
}

namespace pgscale::proxy {

class ClientSession;

class Runtime {
 public:
  explicit Runtime(std::shared_ptr<const config::Config> cfg);
  ~Runtime();

  std::shared_ptr<const config::Config> config() const { return cfg_.load(); }
  // Reload: pools, the classifier's read-safe list and the monitor's node list follow.
  void set_config(std::shared_ptr<const config::Config> cfg);
  // (Re)loads the client TLS certificate; false with a reason when it cannot be used.
  bool load_client_tls(const config::TlsConfig& tls, std::string& error);
  // nullptr when listen.tls.mode is disable or no certificate is loaded.
  std::shared_ptr<asio::ssl::context> client_tls() const { return client_tls_.load(); }
  asio::ssl::context& server_tls() { return server_tls_; }

  PoolManager& pools() { return pools_; }
  CancelRegistry& cancels() { return cancels_; }

  // --- routing (issue 5) ---
  // The monitor runs on a strand of `control` (the main thread's io_context): started once the
  // workers run, updated by set_config, stopped (awaited) before the drain ends, and destroyed by
  // reset_monitor() before that io_context goes away. An unreachable node never stops start-up:
  // the monitor only marks it down.
  void start_monitor(asio::any_io_executor control);
  asio::awaitable<void> stop_monitor();
  void reset_monitor();
  // Null-safe, thread-safe monitor calls (no-ops before start / after stop).
  void report_failure(std::string_view node);
  void check_now();
  void refresh_function_catalog();

  std::shared_ptr<const Topology> topology() const { return topology_.current(); }
  TopologyStore& topology_store() { return topology_; }
  const classifier::Classifier& classifier() const { return classifier_; }
  Router& router() { return router_; }

  std::atomic<uint32_t> clients{0};
  // Sessions waiting outside Asio's reactor for their idle client (client_park.cpp).
  std::atomic<uint32_t> parked_clients{0};
  std::atomic<bool> draining{false};

  // Live sessions, for drain: an intrusive list whose links live in the sessions (no node
  // allocated per client). Touched once per connect/disconnect, never per message.
  struct SessionLink {
    ClientSession* prev = nullptr;
    ClientSession* next = nullptr;
  };
  void add_session(ClientSession& s);
  void remove_session(ClientSession& s);  // no-op when `s` is not in the list
  void for_each_session(const std::function<void(const std::shared_ptr<ClientSession>&)>& fn);
  size_t session_count() const;

 private:
  std::atomic<std::shared_ptr<const config::Config>> cfg_;
  std::atomic<std::shared_ptr<asio::ssl::context>> client_tls_;
  asio::ssl::context server_tls_;
  PoolManager pools_;
  CancelRegistry cancels_;
  void apply_classifier_context(const config::Config& cfg);

  TopologyStore topology_;
  classifier::Classifier classifier_;
  Router router_;
  std::unique_ptr<Monitor> monitor_;
  std::atomic<bool> monitor_running_{false};
  std::mutex catalog_mu_;  // catalog_ is set on the monitor's strand, read on reload
  std::shared_ptr<const classifier::FunctionCatalog> catalog_;
  mutable std::mutex sessions_mu_;
  ClientSession* sessions_head_ = nullptr;
  size_t sessions_count_ = 0;
};

}  // namespace pgscale::proxy

#pragma once
// State shared by all workers: the current config snapshot, pools, cancel keys, TLS contexts,
// client count and the live-session list (for drain). Everything here is thread-safe.
#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

#include <boost/asio/ssl/context.hpp>

#include "config/config.hpp"
#include "proxy/cancel.hpp"
#include "proxy/pool.hpp"

namespace pgscale::proxy {

class ClientSession;

class Runtime {
 public:
  explicit Runtime(std::shared_ptr<const config::Config> cfg);

  std::shared_ptr<const config::Config> config() const { return cfg_.load(); }
  void set_config(std::shared_ptr<const config::Config> cfg);
  // (Re)loads the client TLS certificate; false with a reason when it cannot be used.
  bool load_client_tls(const config::TlsConfig& tls, std::string& error);
  // nullptr when listen.tls.mode is disable or no certificate is loaded.
  std::shared_ptr<asio::ssl::context> client_tls() const { return client_tls_.load(); }
  asio::ssl::context& server_tls() { return server_tls_; }

  PoolManager& pools() { return pools_; }
  CancelRegistry& cancels() { return cancels_; }

  std::atomic<uint32_t> clients{0};
  std::atomic<bool> draining{false};

  // Live sessions, for drain. Touched once per connect/disconnect, never per message.
  using SessionList = std::list<std::weak_ptr<ClientSession>>;
  SessionList::iterator add_session(std::weak_ptr<ClientSession> s);
  void remove_session(SessionList::iterator it);
  void for_each_session(const std::function<void(const std::shared_ptr<ClientSession>&)>& fn);
  size_t session_count() const;

 private:
  std::atomic<std::shared_ptr<const config::Config>> cfg_;
  std::atomic<std::shared_ptr<asio::ssl::context>> client_tls_;
  asio::ssl::context server_tls_;
  PoolManager pools_;
  CancelRegistry cancels_;
  mutable std::mutex sessions_mu_;
  SessionList sessions_;
};

}  // namespace pgscale::proxy

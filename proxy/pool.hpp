#pragma once
// Server connection pools, one per (node, database, user, startup-parameter signature), shared by
// all workers (see session.hpp for why). The mutex guards only plain data; it is never held
// across a co_await: connecting happens outside it after reserving a slot, and waiters sleep on
// their own timer which checkin() wakes by posting to the waiter's executor.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "proxy/server_conn.hpp"

namespace pgscale::proxy {

struct PoolLimits {
  uint32_t max_size = 20;
  uint32_t min_idle = 0;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds checkout_timeout{5000};
  std::chrono::milliseconds idle_timeout{600000};
  std::chrono::milliseconds max_lifetime{3600000};
  config::ServerTlsMode tls = config::ServerTlsMode::disable;
  static PoolLimits from(const config::PoolConfig& p);
};

struct PoolStats {
  uint32_t size = 0;  // open + connecting
  uint32_t idle = 0;
  uint32_t waiting = 0;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  Pool(std::string name, ServerSpec spec, PoolLimits limits, asio::ssl::context& tls_ctx);

  struct Checkout {
    std::shared_ptr<ServerConn> conn;
    bool timed_out = false;
    std::string error;         // why there is no connection (for the client and the log)
    std::string server_error;  // raw ErrorResponse frame when the server refused us
  };
  // A connection for a session running on `ex`: an idle one, a new one when under max_size, or
  // the next one checked in, waiting at most checkout_timeout.
  asio::awaitable<Checkout> checkout(asio::any_io_executor ex);
  // The idle-connection case of checkout() without a coroutine frame (the hot path of
  // transaction pooling); null when none is idle: then co_await checkout(). Unlike checkout() it
  // does not peek at the connection (one recv per transaction): the caller checks that it is
  // alive before use, as a transaction-mode session does anyway (client_route.cpp).
  std::shared_ptr<ServerConn> try_checkout(const asio::any_io_executor& ex);
  // Returns a connection. `reusable` = it is idle ('I', nothing pending) and clean.
  void checkin(std::shared_ptr<ServerConn> conn, bool reusable);

  void set_credentials(ServerCredentials creds);
  bool has_credentials() const;
  void set_limits(PoolLimits limits);
  // No longer in the topology: idle connections close now, busy ones at checkin.
  void retire();
  // ParameterStatus set of the last connection made (so greeting a client needs no checkout).
  std::shared_ptr<const Params> cached_params() const;
  // Periodic upkeep: idle_timeout, max_lifetime, min_idle.
  void maintain(asio::any_io_executor ex);
  const std::string& name() const noexcept { return name_; }
  const ServerSpec& spec() const noexcept { return spec_; }
  PoolStats stats() const;

 private:
  struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : executor(ex), timer(ex), since(Clock::now()) {}
    asio::any_io_executor executor;
    asio::steady_timer timer;
    std::shared_ptr<ServerConn> conn;  // handed over by checkin
    bool slot = false;                 // allowed to open a new connection instead
    Clock::time_point since;           // queued at (bounds how long it may be passed over)
  };
  std::shared_ptr<Waiter> pick_waiter_locked(const asio::any_io_executor& home);
  // A waiter for `ex`: a spare one when there is (its timer is already registered with the
  // worker's timer service: no service lookup, no allocation), else a new one.
  std::shared_ptr<Waiter> new_waiter_locked(const asio::any_io_executor& ex);
  // Keeps a finished waiter for reuse, unless something else still refers to it (a wake-up
  // posted to its worker and not yet run would cancel the next wait on its timer).
  void recycle_locked(std::shared_ptr<Waiter> w);
  asio::awaitable<Checkout> open_new(asio::any_io_executor ex);
  // `peek`: discard connections that look dead (a recv per connection looked at).
  std::shared_ptr<ServerConn> take_idle_locked(const asio::any_io_executor& ex, bool peek);
  bool expired_locked(const ServerConn& c, Clock::time_point now) const;
  void release_slot_locked();
  // Closes a connection gracefully and frees its slot afterwards; callable with or without mu_.
  void discard(std::shared_ptr<ServerConn> conn);

  static void wake(const std::shared_ptr<Waiter>& w);

  const std::string name_;
  const ServerSpec spec_;
  asio::ssl::context& tls_ctx_;
  mutable std::mutex mu_;
  PoolLimits limits_;
  ServerCredentials creds_;
  bool has_creds_ = false;
  bool retired_ = false;
  uint32_t size_ = 0;
  std::vector<std::shared_ptr<ServerConn>> idle_;  // LIFO: hot connections stay hot
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::vector<std::shared_ptr<Waiter>> spare_waiters_;  // emptied by retire(), before shutdown
  std::shared_ptr<const Params> params_;
};

// All pools, keyed by their name. Lookups take a short lock once per client login.
class PoolManager {
 public:
  explicit PoolManager(asio::ssl::context& tls_ctx) : tls_ctx_(tls_ctx) {}
  std::shared_ptr<Pool> get(const ServerSpec& spec, const PoolLimits& limits);
  // Applies a reloaded config: new limits everywhere; pools of nodes gone or moved retire.
  void apply(const config::Config& cfg);
  void maintain(asio::any_io_executor ex);
  // Shutdown: closes every idle connection while the io_contexts still exist.
  void close_all();
  std::vector<std::pair<std::string, PoolStats>> stats() const;
  // Every pool (for /metrics): a snapshot of the list, the pools themselves are live.
  std::vector<std::shared_ptr<Pool>> all() const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<Pool>> out;
    for (const auto& kv : pools_) out.push_back(kv.second);
    return out;
  }
  static std::string pool_name(const ServerSpec& spec);

 private:
  asio::ssl::context& tls_ctx_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Pool>> pools_;
};

}  // namespace pgscale::proxy

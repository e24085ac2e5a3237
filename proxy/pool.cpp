#include "proxy/pool.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace pgscale::proxy {

namespace {
// How long a discarded connection may hold its slot waiting for its backend to exit (a statement
// it still runs is cancelled after 100 ms; a backend ignoring even that is the server's problem).
constexpr std::chrono::milliseconds kDiscardLimit{5000};

// An idle server that sent something (PostgreSQL's FATAL before a termination) or closed is dead;
// find out before a client's transaction does. One non-blocking recv per checkout.
bool looks_dead(ServerConn& c) {
  char b;
  ssize_t n = ::recv(c.stream().socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}
}  // namespace

PoolLimits PoolLimits::from(const config::PoolConfig& p) {
  return {p.max_size,        p.min_idle,     p.connect_timeout, p.checkout_timeout,
          p.idle_timeout,    p.max_lifetime, p.server_tls};
}

Pool::Pool(std::string name, ServerSpec spec, PoolLimits limits, asio::ssl::context& tls_ctx)
    : name_(std::move(name)), spec_(std::move(spec)), tls_ctx_(tls_ctx), limits_(limits) {}

asio::awaitable<Pool::Checkout> Pool::checkout(asio::any_io_executor ex) {
  std::shared_ptr<Waiter> waiter;
  std::chrono::milliseconds wait_for;
  {
    std::lock_guard lk(mu_);
    if (auto c = take_idle_locked(ex, true)) {
      Checkout out;
      out.conn = std::move(c);
      co_return out;
    }
    if (size_ < limits_.max_size) {
      ++size_;
    } else {
      waiter = new_waiter_locked(ex);
      waiters_.push_back(waiter);
    }
    wait_for = limits_.checkout_timeout;
  }
  if (!waiter) co_return co_await open_new(ex);
  waiter->timer.expires_after(wait_for);
  co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  {
    std::lock_guard lk(mu_);
    if (waiter->conn) {
      Checkout out;
      out.conn = std::move(waiter->conn);
      recycle_locked(std::move(waiter));
      co_return out;
    }
    if (!waiter->slot) {
      std::erase(waiters_, waiter);
      recycle_locked(std::move(waiter));
      Checkout out;
      out.timed_out = true;
      out.error = fmt::format("no server connection available in pool {} within {} ms (max_size {})",
                              name_, wait_for.count(), limits_.max_size);
      co_return out;
    }
    recycle_locked(std::move(waiter));
  }
  co_return co_await open_new(ex);  // checkin handed us a free slot
}

std::shared_ptr<ServerConn> Pool::try_checkout(const asio::any_io_executor& ex) {
  std::lock_guard lk(mu_);
  return take_idle_locked(ex, false);
}

asio::awaitable<Pool::Checkout> Pool::open_new(asio::any_io_executor ex) {
  ServerCredentials creds;
  ServerSpec spec = spec_;
  {
    std::lock_guard lk(mu_);
    creds = creds_;
    spec.connect_timeout = limits_.connect_timeout;
    spec.tls = limits_.tls;
  }
  ConnectError err;
  auto conn = co_await ServerConn::connect(ex, spec, creds, tls_ctx_, err);
  std::lock_guard lk(mu_);
  if (!conn) {
    --size_;
    release_slot_locked();  // let a waiter try, it may have better luck
    spdlog::warn("pool {}: {}", name_, err.message);
    co_return Checkout{nullptr, false, std::move(err.message), std::move(err.server_error)};
  }
  spdlog::debug("pool {}: opened {}", name_, conn->describe());
  // Shared, and replaced only when a server reports different ones: sessions greet their
  // clients from it, and a worker reuses the greeting it built for the same pointer.
  if (!params_ || *params_ != conn->parameters()) params_ = std::make_shared<const Params>(conn->parameters());
  Checkout out;
  out.conn = std::move(conn);
  co_return out;
}

std::shared_ptr<ServerConn> Pool::take_idle_locked(const asio::any_io_executor& ex, bool peek) {
  if (idle_.empty()) return nullptr;  // the usual case under load: no clock read
  auto now = Clock::now();
  // Prefer a connection registered with the caller's worker; look at a few hot ones only.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t n = idle_.size(), k = 0; k < n && (pass == 1 || k < 4); ++k) {
      size_t i = n - 1 - k;
      if (pass == 0 && idle_[i]->home() != ex) continue;
      auto c = std::move(idle_[i]);
      idle_.erase(idle_.begin() + static_cast<ptrdiff_t>(i));
      if (expired_locked(*c, now) || (peek && looks_dead(*c))) {
        discard(std::move(c));  // its slot is freed once the backend is gone
        return take_idle_locked(ex, peek);  // bounded: idle_ shrank
      }
      return c;
    }
  }
  return nullptr;
}

bool Pool::expired_locked(const ServerConn& c, Clock::time_point now) const {
  return retired_ || now - c.created() >= limits_.max_lifetime;
}

void Pool::checkin(std::shared_ptr<ServerConn> conn, bool reusable) {
  if (!conn) return;
  {
    std::lock_guard lk(mu_);
    if (reusable && !expired_locked(*conn, Clock::now()) && size_ <= limits_.max_size) {
      conn->touch();
      if (!waiters_.empty()) {
        auto w = pick_waiter_locked(conn->home());
        w->conn = std::move(conn);
        wake(w);
        return;
      }
      idle_.push_back(std::move(conn));
      return;
    }
  }
  discard(std::move(conn));
}

// Ends the connection and frees its slot only once the backend is gone (ServerConn::shut_down):
// the server's process count stays <= max_size while connections are replaced (expired,
// dead-looking, dirty, or given up by a session mid-statement). Posted, never run inline: callers
// may hold mu_, and co_spawn alone dispatches — on the connection's own thread it would run up to
// the lock below at once.
void Pool::discard(std::shared_ptr<ServerConn> conn) {
  auto home = conn->home();
  asio::post(home, [self = shared_from_this(), conn = std::move(conn)]() mutable {
    auto ex = conn->home();
    asio::co_spawn(ex, [self, conn]() -> asio::awaitable<void> {
      co_await conn->shut_down(kDiscardLimit);
      std::lock_guard lk(self->mu_);
      --self->size_;
      self->release_slot_locked();
    }, asio::detached);
  });
}

// The waiter a checked-in connection goes to: one on the connection's own worker when there is
// one near the front of the queue (the server socket is registered with that worker's reactor, so
// a session elsewhere pays a cross-thread wake-up for every message it reads), else the oldest.
// Never passes over a waiter that has already waited a while: FIFO fairness is only bent by a
// millisecond.
std::shared_ptr<Pool::Waiter> Pool::pick_waiter_locked(const asio::any_io_executor& home) {
  constexpr size_t kLookAhead = 8;
  constexpr auto kMaxBypass = std::chrono::milliseconds(1);
  auto chosen = waiters_.begin();
  if ((*chosen)->executor != home && Clock::now() - (*chosen)->since < kMaxBypass) {
    size_t n = std::min(waiters_.size(), kLookAhead);
    for (size_t i = 1; i < n; ++i) {
      if (waiters_[i]->executor == home) {
        chosen = waiters_.begin() + static_cast<ptrdiff_t>(i);
        break;
      }
    }
  }
  auto w = std::move(*chosen);
  if (chosen == waiters_.begin()) {
    waiters_.pop_front();  // the usual case, without the general erase's shifting
  } else {
    waiters_.erase(chosen);
  }
  return w;
}

std::shared_ptr<Pool::Waiter> Pool::new_waiter_locked(const asio::any_io_executor& ex) {
  for (auto it = spare_waiters_.rbegin(); it != spare_waiters_.rend(); ++it) {
    if ((*it)->executor != ex) continue;
    auto w = std::move(*it);
    spare_waiters_.erase(std::next(it).base());
    w->since = Clock::now();
    return w;
  }
  return std::make_shared<Waiter>(ex);
}

void Pool::recycle_locked(std::shared_ptr<Waiter> w) {
  constexpr std::size_t kMaxSpare = 64;
  // Spares hold timers of the workers' io_contexts: none may outlive retire() (shutdown).
  if (retired_ || w.use_count() != 1 || spare_waiters_.size() >= kMaxSpare) return;
  w->conn.reset();
  w->slot = false;
  spare_waiters_.push_back(std::move(w));
}

void Pool::release_slot_locked() {
  if (waiters_.empty() || size_ >= limits_.max_size) return;
  auto w = waiters_.front();
  waiters_.pop_front();
  w->slot = true;
  ++size_;
  wake(w);
}

void Pool::wake(const std::shared_ptr<Waiter>& w) {
  // The timer belongs to the waiter's worker: cancel it there, not from another thread. A worker
  // is one thread, so when that is this thread the cancel can run now (it only queues the
  // waiter's completion), saving a post and a scheduler round trip per hand-over.
  const auto* io = w->executor.target<asio::io_context::executor_type>();
  if (io && io->running_in_this_thread()) {
    w->timer.cancel();
    return;
  }
  asio::post(w->executor, [w] { w->timer.cancel(); });
}

void Pool::set_credentials(ServerCredentials creds) {
  std::lock_guard lk(mu_);
  creds_ = std::move(creds);
  has_creds_ = true;
}

bool Pool::has_credentials() const {
  std::lock_guard lk(mu_);
  return has_creds_;
}

void Pool::set_limits(PoolLimits limits) {
  std::lock_guard lk(mu_);
  limits_ = limits;
  while (size_ < limits_.max_size && !waiters_.empty()) release_slot_locked();
}

void Pool::retire() {
  std::lock_guard lk(mu_);
  retired_ = true;
  spare_waiters_.clear();
  for (auto& c : idle_) c->stream().close();
  size_ -= static_cast<uint32_t>(idle_.size());
  idle_.clear();
}

std::shared_ptr<const Params> Pool::cached_params() const {
  std::lock_guard lk(mu_);
  return params_;
}

void Pool::maintain(asio::any_io_executor ex) {
  uint32_t to_open = 0;
  {
    std::lock_guard lk(mu_);
    auto now = Clock::now();
    // Oldest idle first (front of the LIFO stack); keep min_idle of them unless past lifetime.
    for (size_t i = 0; i < idle_.size();) {
      auto& c = *idle_[i];
      bool idle_too_long = now - c.last_used() >= limits_.idle_timeout && idle_.size() > limits_.min_idle;
      if (expired_locked(c, now) || idle_too_long || looks_dead(c)) {
        discard(std::move(idle_[i]));  // its slot is freed once the backend is gone
        idle_.erase(idle_.begin() + static_cast<ptrdiff_t>(i));
        continue;
      }
      ++i;
    }
    if (!retired_ && has_creds_ && idle_.size() < limits_.min_idle && size_ < limits_.max_size) {
      to_open = std::min(limits_.min_idle - static_cast<uint32_t>(idle_.size()), limits_.max_size - size_);
      size_ += to_open;
    }
  }
  for (uint32_t i = 0; i < to_open; ++i) {
    asio::co_spawn(ex, [self = shared_from_this(), ex]() -> asio::awaitable<void> {
      auto r = co_await self->open_new(ex);
      if (r.conn) self->checkin(std::move(r.conn), true);
    }, asio::detached);
  }
}

PoolStats Pool::stats() const {
  std::lock_guard lk(mu_);
  return {size_, static_cast<uint32_t>(idle_.size()), static_cast<uint32_t>(waiters_.size())};
}

std::string PoolManager::pool_name(const ServerSpec& spec) {
  std::string name = fmt::format("{}/{}@{}({}:{})", spec.user, spec.database, spec.node_name,
                                 spec.host, spec.port);
  if (!spec.params.empty()) {
    name += "?";
    for (const auto& [k, v] : spec.params) name += k + "=" + v + "&";
    name.pop_back();
  }
  return name;
}

std::shared_ptr<Pool> PoolManager::get(const ServerSpec& spec, const PoolLimits& limits) {
  std::string name = pool_name(spec);
  std::lock_guard lk(mu_);
  auto& p = pools_[name];
  if (!p) p = std::make_shared<Pool>(name, spec, limits, tls_ctx_);
  return p;
}

void PoolManager::apply(const config::Config& cfg) {
  auto limits = PoolLimits::from(cfg.pool);
  std::lock_guard lk(mu_);
  for (auto it = pools_.begin(); it != pools_.end();) {
    // A pool survives when its node still exists with the same address.
    std::string_view name = it->first;
    bool alive = false;
    for (const auto& shard : cfg.shards) {
      for (const auto& n : shard.nodes) {
        std::string tag = fmt::format("@{}({}:{})", n.name, n.host, n.port);
        alive = alive || name.find(tag) != std::string_view::npos;
      }
    }
    if (alive) {
      it->second->set_limits(limits);
      ++it;
    } else {
      spdlog::info("pool {}: node left the topology, retiring", it->first);
      it->second->retire();
      it = pools_.erase(it);  // sessions holding it keep it alive until they check in
    }
  }
}

void PoolManager::maintain(asio::any_io_executor ex) {
  std::vector<std::shared_ptr<Pool>> all;
  {
    std::lock_guard lk(mu_);
    for (auto& [k, p] : pools_) all.push_back(p);
  }
  for (auto& p : all) p->maintain(ex);
}

void PoolManager::close_all() {
  std::lock_guard lk(mu_);
  for (auto& [k, p] : pools_) p->retire();
  pools_.clear();
}

std::vector<std::pair<std::string, PoolStats>> PoolManager::stats() const {
  std::lock_guard lk(mu_);
  std::vector<std::pair<std::string, PoolStats>> out;
  for (auto& [k, p] : pools_) out.emplace_back(k, p->stats());
  return out;
}

}  // namespace pgscale::proxy

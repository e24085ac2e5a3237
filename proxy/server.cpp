#include "proxy/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/load.hpp"
#include "proxy/check.hpp"
#include "proxy/client_session.hpp"
#include "proxy/worker_loop.hpp"

namespace pgscale::proxy {

namespace {
// listen.workers: 0. On two cores or fewer one worker: pgscale shares the machine with the clients
// and PostgreSQL, and a second worker mostly adds cross-thread wake-ups (a pooled server socket is
// registered with one worker, its session may run on the other). Measured with pgbench -S -c 32 on
// 2 cores: 1 worker made 0.39 voluntary context switches and 60 us CPU per transaction against
// 1.40 and 66 us with 2, no futex calls (0.37 with 2), the same TPS within noise at 32 clients and
// more at 1 client. Above two cores: one per core.
unsigned default_workers(unsigned cores) { return cores <= 2 ? 1u : cores; }

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

void log_busy_poll(uint32_t us) {
  if (!CpuGate().available()) {
    spdlog::warn("listen.busy_poll_us: /proc/loadavg is not readable, so a free CPU cannot be told; "
                 "workers sleep at once (busy polling off)");
    return;
  }
  spdlog::info("workers poll up to {} us before they sleep, while a CPU is free", us);
  if (auto quota = cpu_quota(); !quota.empty())
    spdlog::warn("listen.busy_poll_us with a CPU quota (cgroup cpu.max {}): polling uses it up", quota);
}
}

Server::Server(std::string config_path, config::Config cfg)
    : config_path_(std::move(config_path)),
      rt_(std::make_shared<const config::Config>(std::move(cfg))) {}

Server::~Server() {
  stop_workers();
  rt_.reset_monitor();  // its strand and timers belong to control_, destroyed after this body
}

int Server::run() {
  auto cfg = rt_.config();
  std::string tls_error;
  if (!rt_.load_client_tls(cfg->listen.tls, tls_error)) {
    spdlog::critical("{}", tls_error);
    return 2;
  }
  error_code ec;
  auto addr = asio::ip::make_address(cfg->listen.address, ec);
  if (ec) {
    spdlog::critical("listen.address {}: {}", cfg->listen.address, ec.message());
    return 2;
  }
  tcp::endpoint ep(addr, cfg->listen.port);
  unsigned n = cfg->listen.workers ? cfg->listen.workers : default_workers(std::thread::hardware_concurrency());
  if (n > 1) {
    // SO_REUSEPORT would let this process join another one (same user) already listening there,
    // silently sharing its clients: take the port alone once first, so that is "in use" as usual.
    tcp::acceptor probe(control_);
    listen_on(probe, ep, false, ec);
  }
  for (unsigned i = 0; i < n; ++i) {
    // Concurrency hint 1: exactly one thread runs each worker. Asio then queues what the worker
    // posts to itself (coroutine resumptions, Wakeup) on that thread's private queue, without the
    // scheduler's mutex and wake-up path; other threads may still post (locking stays on).
    workers_.push_back(std::make_unique<asio::io_context>(1));
    guards_.emplace_back(workers_.back()->get_executor());
    // Each worker accepts its own clients (SO_REUSEPORT: the kernel spreads connections over
    // the workers' listening sockets), so a new client never costs a hand-over between threads.
    acceptors_.push_back(std::make_unique<tcp::acceptor>(*workers_.back()));
    if (!ec) listen_on(*acceptors_.back(), ep, n > 1, ec);
  }
  if (ec) {
    spdlog::critical("cannot listen on {}:{}: {}", cfg->listen.address, cfg->listen.port, ec.message());
    return 1;
  }
  if (cfg->admin.http_port != 0) {
    admin_ = std::make_unique<AdminHttp>(control_, rt_);
    std::string admin_error;
    if (!admin_->start(cfg->admin.http_address, cfg->admin.http_port, admin_error)) {
      spdlog::critical("{}", admin_error);
      return 1;
    }
    spdlog::info("admin HTTP on {}:{} (/metrics /health /status)", cfg->admin.http_address, admin_->port());
  }
  for (unsigned i = 0; i < n; ++i) {
    asio::co_spawn(*workers_[i], accept_loop(*acceptors_[i]), asio::detached);
    threads_.emplace_back([ctx = workers_[i].get(), poll = std::chrono::microseconds(cfg->listen.busy_poll_us)] {
      run_worker(*ctx, poll);
    });
  }
  spdlog::info("pgscale listening on {}:{} with {} workers, pool mode {}, tls {}", cfg->listen.address,
               cfg->listen.port, n, config::to_string(cfg->pool.mode), config::to_string(cfg->listen.tls.mode));
  if (cfg->listen.busy_poll_us != 0) log_busy_poll(cfg->listen.busy_poll_us);
  // The monitor's first round runs in the background: a node that does not answer is marked down
  // later, it never delays or stops start-up (until then reads go to the YAML's primary).
  rt_.start_monitor(control_.get_executor());
  asio::co_spawn(control_, maintenance_loop(), asio::detached);
  asio::co_spawn(control_, signal_loop(), [this](std::exception_ptr) { control_.stop(); });
  control_.run();
  stop_workers();
  spdlog::info("pgscale stopped");
  return 0;
}

void Server::listen_on(tcp::acceptor& acceptor, const tcp::endpoint& ep, bool shared, error_code& ec) {
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && shared) {
    int on = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
      ec.assign(errno, asio::error::get_system_category());
  }
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
}

// Runs on the acceptor's worker, and so do the sessions it starts: they never leave that thread.
asio::awaitable<void> Server::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;  // drain closed it
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer backoff(acceptor.get_executor(), std::chrono::milliseconds(50));  // e.g. EMFILE
      co_await backoff.async_wait(kTuple);
      continue;
    }
    rt_.clients.fetch_add(1);
    auto session = std::make_shared<ClientSession>(rt_, std::move(sock));
    asio::co_spawn(acceptor.get_executor(), [session]() { return session->run(); }, asio::detached);
  }
}

asio::awaitable<void> Server::signal_loop() {
  asio::signal_set signals(control_, SIGHUP, SIGTERM, SIGINT);
  for (int i = 0; i < 1000000; ++i) {
    auto [ec, sig] = co_await signals.async_wait(kTuple);
    if (ec) co_return;
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    spdlog::info("signal {}: draining", sig);
    co_await drain();
    if (admin_) admin_->stop();  // /health said 503 while draining; now nothing listens
    co_await rt_.stop_monitor();
    co_return;
  }
}

asio::awaitable<void> Server::maintenance_loop() {
  asio::steady_timer timer(control_);
  while (!stopping_) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(kTuple);
    if (!stopping_) rt_.pools().maintain(control_.get_executor());
  }
}

void Server::reload() {
  auto result = config::load_file(config_path_);
  if (!result.ok()) {
    spdlog::error("reload of {} failed, keeping the running configuration:\n{}", config_path_,
                  format_errors(result.errors));
    return;
  }
  auto old = rt_.config();
  auto cfg = std::make_shared<const config::Config>(std::move(*result.config));
  if (cfg->listen.address != old->listen.address || cfg->listen.port != old->listen.port ||
      cfg->listen.workers != old->listen.workers) {
    spdlog::warn("reload: listen address/port/workers changes need a restart; ignored");
  }
  if (!(cfg->admin == old->admin)) spdlog::warn("reload: admin HTTP address/port changes need a restart; ignored");
  std::string tls_error;
  if (!rt_.load_client_tls(cfg->listen.tls, tls_error)) {
    spdlog::error("reload: {}; keeping the running configuration", tls_error);
    return;
  }
  spdlog::set_level(spdlog::level::from_str(cfg->log.level));
  rt_.set_config(cfg);
  spdlog::info("reloaded {}: {} users, {} shards", config_path_, cfg->users.size(), cfg->shards.size());
}

asio::awaitable<void> Server::drain() {
  stopping_ = true;
  rt_.draining.store(true);
  for (auto& a : acceptors_) {  // an acceptor belongs to its worker's thread
    asio::post(a->get_executor(), [a = a.get()] {
      error_code ignored;
      a->close(ignored);
    });
  }
  rt_.for_each_session([](const std::shared_ptr<ClientSession>& s) {
    asio::post(s->executor(), [s] { s->begin_drain(); });
  });
  auto timeout = rt_.config()->pool.drain_timeout;
  auto until = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(control_);
  // Sessions leave once their transaction is over (begin_drain / release_server).
  while (rt_.session_count() > 0 && std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(kTuple);
  }
  size_t left = rt_.session_count();
  if (left > 0) spdlog::warn("drain timeout ({} ms): closing {} sessions", timeout.count(), left);
  else spdlog::info("drain complete");
}

void Server::stop_workers() {
  guards_.clear();
  for (auto& w : workers_) w->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  rt_.pools().close_all();  // before the io_contexts their sockets belong to go away
}

}  // namespace pgscale::proxy

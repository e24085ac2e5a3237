#pragma once
// The daemon's process-level part: listener, worker threads, signals, reload, drain.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.hpp"
#include "proxy/admin_http.hpp"
#include "proxy/runtime.hpp"

namespace pgscale::proxy {

class Server {
 public:
  Server(std::string config_path, config::Config cfg);
  ~Server();
  // Binds, serves until SIGTERM/SIGINT and the drain finish. Returns the process exit code.
  int run();

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> signal_loop();
  asio::awaitable<void> maintenance_loop();
  asio::awaitable<void> drain();
  void reload();
  asio::io_context& next_worker();
  void stop_workers();

  std::string config_path_;
  Runtime rt_;
  asio::io_context control_{1};  // run by the main thread only (see the workers' hint)
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
  tcp::acceptor acceptor_;
  std::unique_ptr<AdminHttp> admin_;  // admin.http_port != 0; after control_: destroyed before it
  size_t next_ = 0;
  bool stopping_ = false;
};

}  // namespace pgscale::proxy

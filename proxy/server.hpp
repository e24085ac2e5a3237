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
  static void listen_on(tcp::acceptor& acceptor, const tcp::endpoint& ep, bool shared, error_code& ec);
  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor);
  asio::awaitable<void> signal_loop();
  asio::awaitable<void> maintenance_loop();
  asio::awaitable<void> drain();
  void reload();
  void stop_workers();

  std::string config_path_;
  Runtime rt_;
  asio::io_context control_{1};  // run by the main thread only (see the workers' hint)
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
  // One per worker, on its io_context; after workers_, so destroyed before the io_contexts.
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::unique_ptr<AdminHttp> admin_;  // admin.http_port != 0; after control_: destroyed before it
  bool stopping_ = false;
};

}  // namespace pgscale::proxy

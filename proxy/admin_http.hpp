#pragma once
// The admin HTTP endpoint (admin.http_address:admin.http_port; port 0 = off), on the control
// io_context, apart from the client path:
//   GET /metrics  Prometheus text format 0.0.4 (admin_metrics.cpp renders it)
//   GET /health   200 "ok" while serving, 503 while draining (for load balancers / k8s probes)
//   GET /status   JSON: version, uptime, clients, pools
// Small and defensive: requests over 8 KiB, methods other than GET/HEAD and slow clients (5 s per
// request) get an error and are closed; at most 64 admin connections at once.
#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/runtime.hpp"

namespace pgscale::proxy {

class AdminHttp {
 public:
  AdminHttp(asio::io_context& ctx, Runtime& rt);
  // Binds and starts accepting; false with a reason when the address cannot be used.
  bool start(const std::string& address, uint16_t port, std::string& error);
  void stop();
  uint16_t port() const noexcept { return port_; }

  // What a GET of `path` answers (status, content type, body): the routing table, testable alone.
  struct Reply {
    unsigned status = 200;
    std::string content_type;
    std::string body;
  };
  Reply handle(std::string_view path) const;

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket);

  asio::io_context& ctx_;
  Runtime& rt_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  int open_ = 0;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point started_;
};

// Renders every pgscale_ metric from the runtime's live state (admin_metrics.cpp).
std::string render_metrics(Runtime& rt, std::chrono::steady_clock::time_point started);
std::string render_status(Runtime& rt, std::chrono::steady_clock::time_point started);

}  // namespace pgscale::proxy

#include "proxy/admin_http.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace pgscale::proxy {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxRequest = 8 * 1024;
constexpr int kMaxConnections = 64;
constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr int kMaxRequestsPerConnection = 100;
}  // namespace

AdminHttp::AdminHttp(asio::io_context& ctx, Runtime& rt)
    : ctx_(ctx), rt_(rt), acceptor_(ctx), started_(std::chrono::steady_clock::now()) {}

bool AdminHttp::start(const std::string& address, uint16_t port, std::string& error) {
  error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) {
    error = "admin.http_address " + address + ": " + ec.message();
    return false;
  }
  tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec) {
    error = "cannot listen for admin HTTP on " + address + ":" + std::to_string(port) + ": " + ec.message();
    return false;
  }
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(ctx_, accept_loop(), asio::detached);
  return true;
}

void AdminHttp::stop() {
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
}

AdminHttp::Reply AdminHttp::handle(std::string_view path) const {
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(rt_, started_)};
  }
  if (path == "/health") {
    if (rt_.draining.load()) return {503, "text/plain", "draining\n"};
    return {200, "text/plain", "ok\n"};
  }
  if (path == "/status") return {200, "application/json", render_status(rt_, started_)};
  return {404, "text/plain", "not found: try /metrics, /health or /status\n"};
}

asio::awaitable<void> AdminHttp::accept_loop() {
  while (!stopped_) {
    auto [ec, sock] = co_await acceptor_.async_accept(kTuple);
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) co_return;
      asio::steady_timer backoff(ctx_, std::chrono::milliseconds(50));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    if (open_ >= kMaxConnections) continue;  // dropped: the socket closes here
    ++open_;
    asio::co_spawn(ctx_, serve(std::move(sock)), [this](std::exception_ptr) { --open_; });
  }
}

asio::awaitable<void> AdminHttp::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buf(kMaxRequest);
  for (int i = 0; i < kMaxRequestsPerConnection && !stopped_; ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxRequest);
    parser.body_limit(kMaxRequest);
    stream.expires_after(kRequestTimeout);
    auto [ec, n] = co_await http::async_read(stream, buf, parser, kTuple);
    if (ec) break;  // EOF, timeout, or a request over the limits: close
    auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::server, "pgscale");
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain");
      res.body() = "only GET and HEAD\n";
    } else {
      Reply r = handle(std::string_view(req.target().data(), req.target().size()));
      res.result(r.status);
      res.set(http::field::content_type, r.content_type);
      if (req.method() == http::verb::get) res.body() = std::move(r.body);
      else res.content_length(r.body.size());
    }
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get) res.prepare_payload();
    stream.expires_after(kRequestTimeout);
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    if (wec || !res.keep_alive()) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace pgscale::proxy

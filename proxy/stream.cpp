#include "proxy/stream.hpp"

#include "config/config.hpp"
#include "proxy/reactor_readiness.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace pgscale::proxy {

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
}

Stream::Stream(StreamSocket socket) : socket_(std::move(socket)) {
  error_code ignored;
  // Small request/response messages: never let Nagle delay a ReadyForQuery. (A socket not yet
  // connected gets it from connect_server_socket, and only over TCP.)
  if (socket_.is_open()) socket_.set_option(tcp::no_delay(true), ignored);
}

Stream::~Stream() = default;

asio::awaitable<size_t> Stream::read_some(asio::mutable_buffer buf, error_code& ec) {
  auto [e, n] = co_await async_read_some(buf, kTuple);
  ec = e;
  co_return n;
}

size_t Stream::recv_now(asio::mutable_buffer buf, error_code& ec, bool& empty) noexcept {
  ssize_t n = ::recv(socket_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
  if (n > 0) return static_cast<size_t>(n);
  if (n == 0) {
    ec = asio::error::eof;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    empty = true;
  } else if (errno != EINTR) {
    ec.assign(errno, asio::error::get_system_category());
  }
  return 0;
}

asio::awaitable<void> Stream::wait_readable(error_code& ec) {
  ec = {};
  if (closed_) {
    ec = asio::error::bad_descriptor;
    co_return;
  }
  if (tls_pending()) co_return;
  std::tie(ec) = co_await socket_.async_wait(StreamSocket::wait_read, kTuple);
}

// Bytes a TLS read can return without the socket: decrypted ones (SSL_pending), a record OpenSSL
// has begun (SSL_has_pending), and records Asio already read from the socket into the BIO pair it
// feeds OpenSSL from (pending on OpenSSL's read end) — a client that sends its first query with its
// last login message puts both records in one segment, and the socket then shows nothing more.
bool Stream::tls_pending() const noexcept {
  if (!tls_) return false;
  SSL* ssl = tls_->native_handle();
  if (SSL_pending(ssl) > 0 || SSL_has_pending(ssl) == 1) return true;
  BIO* rbio = SSL_get_rbio(ssl);
  return rbio && BIO_ctrl_pending(rbio) > 0;
}

asio::awaitable<void> Stream::read_exact(asio::mutable_buffer buf, error_code& ec) {
  if (closed_) {
    ec = asio::error::bad_descriptor;
  } else if (tls_) {
    std::tie(ec, std::ignore) = co_await asio::async_read(*tls_, buf, kTuple);
  } else {
    std::tie(ec, std::ignore) = co_await asio::async_read(socket_, buf, kTuple);
  }
}

asio::awaitable<void> Stream::write_all(std::string_view bytes, error_code& ec) {
  auto buf = asio::buffer(bytes.data(), bytes.size());
  if (closed_) {
    ec = asio::error::bad_descriptor;
  } else if (tls_) {
    std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, buf, kTuple);
  } else {
    // Most writes here are small (login replies, errors) and the socket takes them at once:
    // sent directly, the coroutine goes on without a trip through the io_context's queue
    // (which would also poll the reactor once more). The rest, if any, the Asio way.
    ec = {};
    size_t n = try_write(bytes, ec);
    if (ec || n == bytes.size()) co_return;
    std::tie(ec, std::ignore) = co_await asio::async_write(socket_, buf + n, kTuple);
  }
}

size_t Stream::try_write(std::string_view bytes, error_code& ec) noexcept {
  if (closed_ || tls_ || bytes.empty()) return 0;
  // MSG_NOSIGNAL as Asio's own sends: a closed peer is an error code, not SIGPIPE.
  ssize_t n = ::send(socket_.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n >= 0) return static_cast<size_t>(n);
  if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ec.assign(errno, asio::error::get_system_category());
  return 0;
}

asio::awaitable<void> Stream::start_tls(asio::ssl::context& ctx,
                                        asio::ssl::stream_base::handshake_type type,
                                        error_code& ec) {
  tls_ = std::make_unique<asio::ssl::stream<StreamSocket&>>(socket_, ctx);
  std::tie(ec) = co_await tls_->async_handshake(type, kTuple);
}

void Stream::cancel() noexcept {
  error_code ignored;
  socket_.cancel(ignored);
}

void Stream::close() noexcept {
  error_code ignored;
  closed_ = true;
  if (!keep_descriptor_) {
    close_descriptor();
    return;
  }
  socket_.shutdown(StreamSocket::shutdown_send, ignored);
  socket_.cancel(ignored);
}

void Stream::close_descriptor() noexcept {
  error_code ignored;
  closed_ = true;
  socket_.shutdown(StreamSocket::shutdown_both, ignored);
  socket_.close(ignored);
}

asio::awaitable<bool> Stream::wait_peer_close(int max_reads) {
  // Raw socket reads even under TLS: the bytes are dropped, only the EOF matters.
  char buf[4096];
  for (int i = 0; i < max_reads && socket_.is_open(); ++i) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), kTuple);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) co_return true;
    if (ec) co_return false;
  }
  co_return false;
}

std::string Stream::peer() const {
  error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (ec) return "?";
  const int family = ep.protocol().family();
  if (family != AF_INET && family != AF_INET6) return "?";  // clients are TCP
  tcp::endpoint ip;
  if (ep.size() > ip.capacity()) return "?";
  std::memcpy(ip.data(), ep.data(), ep.size());
  ip.resize(ep.size());
  if (ip.address().is_v4()) {  // by hand: address_v4::to_string goes through inet_ntop and sprintf
    const auto b = ip.address().to_v4().to_bytes();
    return fmt::format("{}.{}.{}.{}:{}", b[0], b[1], b[2], b[3], ip.port());
  }
  return ip.address().to_string() + ":" + std::to_string(ip.port());
}

// GCC 12 reports a false -Wmismatched-new-delete for this coroutine frame (as in pq_conn.cpp):
// Asio allocates frames with its recycling allocator and frees them with the matching delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<bool> connect_server_socket(StreamSocket& socket, const std::string& host, uint16_t port,
                                            std::string& error) {
  if (config::is_socket_directory(host)) {
    const std::string path = config::socket_path(host, port);
    if (path.size() > config::kMaxSocketPath) {  // validation refuses it; Asio would throw
      error = "unix-domain socket path too long: " + path;
      co_return false;
    }
    auto [ec] = co_await socket.async_connect(asio::local::stream_protocol::endpoint(path), kTuple);
    if (ec) error = "cannot connect to " + path + ": " + ec.message();
    co_return !ec;
  }
  tcp::resolver resolver(socket.get_executor());
  auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), kTuple);
  if (rec) {
    error = "cannot resolve " + host + ": " + rec.message();
    co_return false;
  }
  error_code ec = asio::error::host_not_found;
  for (const auto& entry : results) {
    error_code ignored;
    socket.close(ignored);
    std::tie(ec) = co_await socket.async_connect(entry.endpoint(), kTuple);
    if (!ec || ec == asio::error::operation_aborted) break;
  }
  if (ec) {
    error = "cannot connect to " + host + ":" + std::to_string(port) + ": " + ec.message();
    co_return false;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  co_return true;
}
#pragma GCC diagnostic pop

Deadline::Deadline(const asio::any_io_executor& ex) : state_(std::make_shared<State>(ex)) {}

Deadline::~Deadline() { disarm(); }

void Deadline::arm(std::chrono::milliseconds d, std::function<void()> on_expire) {
  state_->armed = true;
  state_->expired = false;
  uint64_t gen = ++state_->generation;
  state_->on_expire = std::move(on_expire);
  state_->timer.expires_after(d);
  // The handler keeps the state alive, and checks `armed`, so a disarm() that races with an
  // already-queued expiry does nothing.
  state_->timer.async_wait([s = state_, gen](error_code ec) {
    if (ec || !s->armed || s->generation != gen) return;
    s->armed = false;
    s->expired = true;
    if (s->on_expire) s->on_expire();
  });
}

void Deadline::disarm() noexcept {
  if (!state_) return;
  state_->armed = false;
  state_->on_expire = nullptr;
  state_->timer.cancel();
}

bool Deadline::expired() const noexcept { return state_->expired; }

}  // namespace pgscale::proxy

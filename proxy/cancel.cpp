#include "proxy/cancel.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/crypto.hpp"
#include "protocol/startup.hpp"
#include "proxy/stream.hpp"

namespace pgscale::proxy {

namespace {
CancelKey random_key() {
  CancelKey k;
  unsigned char b[8];
  if (!protocol::random_bytes(b, sizeof b)) {  // the per-thread block: no RAND_bytes per login
    // The RNG only fails without entropy; a key from a weaker source still works, it is only
    // easier to guess, so log loudly rather than refuse clients.
    spdlog::error("cancel: the random generator failed, using a weaker key");
    uint64_t x = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) * 0x9E3779B97F4A7C15ull;
    std::memcpy(b, &x, 8);
  }
  uint32_t pid = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  k.process_id = static_cast<int32_t>(pid & 0x7fffffff);  // positive, like a real pid
  k.secret_key = static_cast<int32_t>((uint32_t{b[4]} << 24) | (uint32_t{b[5]} << 16) |
                                      (uint32_t{b[6]} << 8) | b[7]);
  return k;
}
}  // namespace

CancelKey CancelRegistry::add(std::shared_ptr<CancelSlot> slot) {
  std::lock_guard lk(mu_);
  for (int attempt = 0; attempt < 16; ++attempt) {
    CancelKey k = random_key();
    if (slots_.try_emplace(pack(k), slot).second) return k;
  }
  CancelKey k = random_key();  // 16 collisions in a 2^63 space: the RNG is broken; still unique-ish
  slots_[pack(k)] = slot;
  return k;
}

void CancelRegistry::bind(CancelKey key, const std::shared_ptr<CancelSlot>& slot) {
  std::lock_guard lk(mu_);
  auto it = slots_.find(pack(key));
  if (it != slots_.end()) it->second = slot;
}

void CancelRegistry::remove(CancelKey key) {
  std::lock_guard lk(mu_);
  slots_.erase(pack(key));
}

std::optional<CancelTarget> CancelRegistry::lookup(CancelKey key) const {
  std::shared_ptr<CancelSlot> slot;
  {
    std::lock_guard lk(mu_);
    auto it = slots_.find(pack(key));
    if (it == slots_.end()) return std::nullopt;
    slot = it->second.lock();
  }
  if (!slot) return std::nullopt;
  return slot->get();
}

size_t CancelRegistry::size() const {
  std::lock_guard lk(mu_);
  return slots_.size();
}

boost::asio::awaitable<void> send_cancel(boost::asio::any_io_executor ex, CancelTarget target,
                                         std::chrono::milliseconds timeout) {
  namespace asio = boost::asio;
  constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
  StreamSocket sock(ex);
  Deadline deadline(ex);
  deadline.arm(timeout, [&sock] {
    error_code ignored;
    sock.close(ignored);
  });
  std::string error;
  if (!co_await connect_server_socket(sock, target.host, target.port, error)) {
    spdlog::warn("cancel: {}", error);
    co_return;
  }
  std::string pkt;
  protocol::encode_cancel_request(pkt, {target.server_key.process_id, target.server_key.secret_key});
  auto [wec, n] = co_await asio::async_write(sock, asio::buffer(pkt), tuple);
  if (wec) spdlog::warn("cancel: write to {}:{} failed: {}", target.host, target.port, wec.message());
  // PostgreSQL closes the connection after processing the request; waiting for that makes the
  // cancel happen before we report it done (and our own close cannot race the server reading).
  char b;
  co_await sock.async_read_some(asio::buffer(&b, 1), tuple);
  deadline.disarm();
}

}  // namespace pgscale::proxy

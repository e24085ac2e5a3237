#pragma once
// Query cancellation (PostgreSQL docs 55.2.8). pgscale hands each client its own random
// (process id, secret key); the registry maps that key to where the client's query runs right
// now. A CancelRequest for a known key is forwarded, with the server's own key, to that server;
// anything else is ignored silently, as PostgreSQL does (no oracle for guessing keys).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace pgscale::proxy {

struct CancelKey {
  int32_t process_id = 0;
  int32_t secret_key = 0;
};

// Where a client's statement runs: the server and the key that server gave pgscale.
struct CancelTarget {
  std::string host;
  uint16_t port = 0;
  CancelKey server_key;
};

// Owned by a session; shared with the registry so a cancel arriving on another worker can read the
// current target under the slot's own small lock (never held across a co_await). The lock is a
// one-byte spin lock, not a std::mutex (40 bytes): every client holds a slot, it is taken twice
// per transaction by its own session and only by a rare CancelRequest besides, for a few
// instructions (a copy of the target), so it practically never spins.
class CancelSlot {
 public:
  void set(CancelTarget t) {
    Guard g(busy_);
    target_ = std::move(t);
  }
  void clear() {
    Guard g(busy_);
    target_.reset();
  }
  std::optional<CancelTarget> get() const {
    Guard g(busy_);
    return target_;
  }

 private:
  struct Guard {
    std::atomic_flag& f;
    explicit Guard(std::atomic_flag& flag) : f(flag) {
      while (f.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
    }
    ~Guard() { f.clear(std::memory_order_release); }
  };
  mutable std::atomic_flag busy_;
  std::optional<CancelTarget> target_;
};

class CancelRegistry {
 public:
  // Registers a slot under a fresh random key (unique among live clients). The slot may be
  // empty (bind it later): a lookup then finds nothing, as for an unknown key.
  CancelKey add(std::shared_ptr<CancelSlot> slot);
  // Points a registered key at another slot (or none). No-op for an unknown key.
  void bind(CancelKey key, const std::shared_ptr<CancelSlot>& slot);
  void remove(CancelKey key);
  std::optional<CancelTarget> lookup(CancelKey key) const;
  size_t size() const;

 private:
  static uint64_t pack(CancelKey k) {
    return (uint64_t{static_cast<uint32_t>(k.process_id)} << 32) | static_cast<uint32_t>(k.secret_key);
  }
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<CancelSlot>> slots_;
};

// A client's slot, made at first use and dropped when the client idles (a parked session runs
// nothing a cancel could stop): its registry key stays, so a CancelRequest meanwhile finds no
// slot and is ignored. Saves the slot's allocation (~90 B) for every idle client.
class LazyCancelSlot {
 public:
  void bind(CancelRegistry* registry, CancelKey key) {
    registry_ = registry;
    key_ = key;
  }
  CancelSlot* operator->() {
    if (!slot_) make();
    return slot_.get();
  }
  explicit operator bool() const noexcept { return slot_ != nullptr; }
  bool bound() const noexcept { return registry_ != nullptr; }
  CancelKey key() const noexcept { return key_; }
  void release() noexcept {
    if (slot_ && registry_) registry_->bind(key_, nullptr);
    slot_.reset();
  }

 private:
  void make() {
    slot_ = std::make_shared<CancelSlot>();
    if (registry_) registry_->bind(key_, slot_);
  }
  CancelRegistry* registry_ = nullptr;
  CancelKey key_;
  std::shared_ptr<CancelSlot> slot_;
};

// Sends a CancelRequest for `target` (new TCP connection, bounded by `timeout`), as libpq's
// PQcancel does. Errors are logged, never reported to anyone: cancel is best effort by design.
boost::asio::awaitable<void> send_cancel(boost::asio::any_io_executor ex, CancelTarget target,
                                         std::chrono::milliseconds timeout);

}  // namespace pgscale::proxy

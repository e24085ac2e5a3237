// Parked client sockets outside Asio's reactor: see client_park.hpp.
#include "proxy/client_park.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "proxy/client_session.hpp"

namespace pgscale::proxy {

boost::asio::execution_context::id ParkedSockets::id;

namespace {
constexpr int kBatch = 64;      // events per epoll_wait
constexpr int kMaxRounds = 64;  // batches per wake-up before yielding to the worker's other work
constexpr auto kTrimDelay = std::chrono::seconds(1);  // after a park: let the others of a wave park too
constexpr size_t kTrimMinFree = size_t{4} << 20;

// glibc gives freed memory back to the system only from the top of the heap: the pages that a
// wave of sessions touched while they worked (buffers, coroutine frames, ~8 KiB per client after
// one query each) stay resident after they all went idle, between the sessions' live objects.
// When the heap's free memory grew by kTrimMinFree since its low point after the last trim (a
// wave of sessions went idle) and exceeds what is in use, malloc_trim returns those pages
// (madvise; they are faulted in again when used). A steady workload, whose free memory does not
// grow, is not trimmed again and again. At most once a second in the whole process (all
// workers), never per transaction: sessions park after a second without a server.
void trim_heap_if_worth() {
  static std::mutex mu;
  static std::chrono::steady_clock::time_point last{};
  static size_t free_low = 0;  // the heap's free bytes at their lowest since the last trim
  std::unique_lock lk(mu, std::try_to_lock);
  if (!lk) return;  // another worker checks right now
  const auto now = std::chrono::steady_clock::now();
  if (now - last < kTrimDelay) return;
  last = now;
  const struct mallinfo2 mi = ::mallinfo2();
  free_low = std::min(free_low, mi.fordblks);
  if (mi.fordblks < free_low + kTrimMinFree || mi.fordblks < mi.uordblks) return;
  ::malloc_trim(0);
  free_low = mi.fordblks;  // trimmed pages still count as free: only new growth trims again
}

// Plain operator new for the parked wait's operation: Asio's default recycling allocator hands
// it a cached block of whatever size some earlier operation or coroutine frame freed (often
// larger), and a parked wait lives as long as the client idles.
template <class T>
struct ExactAllocator {
  using value_type = T;
  ExactAllocator() = default;
  template <class U>
  ExactAllocator(const ExactAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(const ExactAllocator<U>&) const noexcept { return true; }
};
}  // namespace

// The wait holds the session (as the coroutine frames did); a drain ends it too (begin_drain).
void ClientSession::park() {
  drop_cold();
  cancel_slot_.release();  // no server: nothing to cancel until the next attach
  if (!idle_check_armed_) idle_check_.release();  // nobody waits on it: ~150 bytes once used
  const auto* io = ex_.target<asio::io_context::executor_type>();
  // Plain TCP waits in the worker's epoll set of parked sockets, outside Asio's reactor.
  if (io && !client_.is_tls() && asio::use_service<ParkedSockets>(io->context()).park(*this)) return;
  auto wake = [self = shared_from_this()](error_code) { self->resume_from_park(); };
  // Bound to the worker's io_context executor itself (8 bytes) rather than to the 56-byte
  // any_io_executor the operation would otherwise keep a second copy of; same context either way.
  if (io) {
    client_.async_wait_readable(asio::bind_executor(*io, asio::bind_allocator(ExactAllocator<void>(), std::move(wake))));
  } else {
    client_.async_wait_readable(asio::bind_allocator(ExactAllocator<void>(), std::move(wake)));
  }
}

void ClientSession::resume_from_park() {
  parked_ = false;
  unparked_ = true;
  asio::co_spawn(ex_, [self = shared_from_this()]() { return self->run_then_end_or_park(self->client_loop()); },
                 asio::detached);
}

ParkedSockets::ParkedSockets(boost::asio::io_context& ctx)
    : boost::asio::execution_context::service(ctx), executor_(ctx.get_executor()), epoll_(ctx), trim_timer_(ctx) {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    spdlog::warn("epoll_create1 for parked clients failed ({}): idle clients wait through Asio", errno);
    return;
  }
  error_code ec;
  epoll_.assign(fd, ec);
  if (ec) ::close(fd);
}

ParkedSockets::~ParkedSockets() = default;

bool ParkedSockets::park(ClientSession& s) {
  if (!epoll_.is_open()) return false;
  auto& sock = s.client_.socket();
  error_code ec;
  auto local = sock.local_endpoint(ec);
  if (ec) return false;
  int fd = sock.release(ec);
  if (ec) return false;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = &s;
  if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    sock.assign(local.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      s.client_gone_ = true;
    }
    return false;
  }
  s.parked_fd_ = fd;
  s.parked_v6_ = local.protocol().family() == AF_INET6;
  auto self = s.shared_from_this();
  s.park_next_ = std::move(head_);
  if (s.park_next_) s.park_next_->park_prev_ = &s;
  s.park_prev_ = nullptr;
  head_ = std::move(self);
  ++count_;
  s.rt_.parked_clients.fetch_add(1, std::memory_order_relaxed);
  if (!armed_) arm();
  if (!trim_armed_) arm_trim();
  return true;
}

void ParkedSockets::arm_trim() {
  trim_armed_ = true;
  trim_timer_.expires_after(kTrimDelay);
  trim_timer_.async_wait([this](error_code ec) {
    trim_armed_ = false;
    if (!ec) trim_heap_if_worth();
  });
}

std::shared_ptr<ClientSession> ParkedSockets::unlink(ClientSession& s) {
  std::shared_ptr<ClientSession>& slot = s.park_prev_ ? s.park_prev_->park_next_ : head_;
  std::shared_ptr<ClientSession> self = std::move(slot);  // owns s from here
  slot = std::move(s.park_next_);
  if (slot) slot->park_prev_ = s.park_prev_;
  s.park_prev_ = nullptr;
  --count_;
  s.rt_.parked_clients.fetch_sub(1, std::memory_order_relaxed);
  return self;
}

// The descriptor goes back to Asio and the client loop runs again (it reads what came, or sees
// EOF / the drain).
void ParkedSockets::wake(ClientSession& s) {
  int fd = s.parked_fd_;
  ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
  auto self = unlink(s);
  s.parked_fd_ = -1;
  error_code ec;
  s.client_.socket().assign(StreamSocket::protocol_type(s.parked_v6_ ? AF_INET6 : AF_INET, IPPROTO_TCP), fd, ec);
  if (ec) {
    spdlog::warn("client {}: cannot watch the socket again: {}", s.peer_, ec.message());
    ::close(fd);
    s.client_gone_ = true;  // the client loop ends at once, the session finishes
  }
  s.resume_from_park();
}

void ParkedSockets::resume(ClientSession& s) {
  if (s.parked_fd_ >= 0) wake(s);
}

void ParkedSockets::arm() {
  armed_ = true;
  epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](error_code ec) {
    armed_ = false;
    if (!ec) on_ready();
  });
}

void ParkedSockets::on_ready() {
  epoll_event evs[kBatch];
  for (int round = 0; round < kMaxRounds && count_ > 0; ++round) {
    int n = ::epoll_wait(epoll_.native_handle(), evs, kBatch, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) wake(*static_cast<ClientSession*>(evs[i].data.ptr));
    if (n < kBatch) break;
    if (round + 1 == kMaxRounds) {  // more are ready: carry on after the worker's queued work
      boost::asio::post(epoll_.get_executor(), [this] { on_ready(); });
      return;
    }
  }
  if (count_ > 0 && !armed_) arm();
}

// The io_context goes away: the parked sessions are dropped with their descriptors, as Asio
// drops the pending operations (and with them the sessions) of the others.
void ParkedSockets::shutdown() {
  for (size_t i = 0; head_ && i < (size_t{1} << 32); ++i) {
    ClientSession& s = *head_;
    auto self = unlink(s);
    if (s.parked_fd_ >= 0) ::close(s.parked_fd_);
    s.parked_fd_ = -1;
  }
  error_code ignored;
  epoll_.close(ignored);
  trim_timer_.cancel();
}

}  // namespace pgscale::proxy

#pragma once
// A byte stream that is a plain socket (TCP, or a unix-domain socket to a colocated PostgreSQL)
// or TLS over it, decided after the socket exists (SSLRequest on either side).
// Coroutine-friendly: every operation returns an error_code instead of throwing, because EOF and
// resets are expected outcomes on a proxy.
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "proxy/reactor_readiness.hpp"

namespace pgscale::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
// Any stream socket: clients come over TCP, a server may also be reached over its unix-domain
// socket. A tcp::socket converts into one (Asio moves the descriptor and its reactor state).
using StreamSocket = asio::generic::stream_protocol::socket;

class Stream {
 public:
  explicit Stream(StreamSocket socket);
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  // Reads what is available (at least one byte) into `buf`; n = 0 with ec on EOF/error.
  asio::awaitable<size_t> read_some(asio::mutable_buffer buf, error_code& ec);
  // The same as an Asio operation, completing with (error_code, size_t): the hot path's reads
  // co_await it directly and so make no coroutine frame of their own.
  template <class Token>
  auto async_read_some(asio::mutable_buffer buf, Token&& token) {
    return asio::async_initiate<Token, void(error_code, size_t)>(
        [this](auto handler, asio::mutable_buffer b) { start_read(std::move(handler), b); }, token, buf);
  }
  // Waits until a read would not block (bytes, EOF or an error), holding no buffer meanwhile: an
  // idle session can free its buffers first (ByteBuffer::release). With TLS it returns at once
  // when OpenSSL already holds decrypted bytes. Costs one epoll_ctl (Asio re-arms the socket),
  // where a read_some on a drained socket costs no system call (reactor_readiness.hpp): for
  // waits off the hot path (idle sessions, the unsynced-batch hold).
  asio::awaitable<void> wait_readable(error_code& ec);
  // wait_readable for a session that keeps no coroutine while it waits: `handler(error_code)`
  // is posted (never run inline) when a read would not block, or at once when OpenSSL already
  // holds decrypted bytes or the stream is closed.
  template <class Handler>
  void async_wait_readable(Handler&& handler) {
    if (closed_ || (tls_ && tls_pending())) {
      error_code ec = closed_ ? error_code(asio::error::bad_descriptor) : error_code();
      asio::post(socket_.get_executor(), [h = std::forward<Handler>(handler), ec]() mutable { h(ec); });
      return;
    }
    socket_.async_wait(StreamSocket::wait_read, std::forward<Handler>(handler));
  }
  // Reads exactly buf.size() bytes.
  asio::awaitable<void> read_exact(asio::mutable_buffer buf, error_code& ec);
  asio::awaitable<void> write_all(std::string_view bytes, error_code& ec);
  // What the socket takes now, without waiting and without a coroutine (plain TCP; 0 with TLS or
  // when closed): the hot path's writes nearly always go out whole this way, and write_all sends
  // the rest. Only when no other write is in progress on this stream (the callers' rule anyway).
  size_t try_write(std::string_view bytes, error_code& ec) noexcept;
  // TLS handshake as server or client; afterwards every read/write goes through TLS.
  asio::awaitable<void> start_tls(asio::ssl::context& ctx, asio::ssl::stream_base::handshake_type t,
                                  error_code& ec);
  bool is_tls() const noexcept { return tls_ != nullptr; }
  // Cancels pending operations (timeouts, drain). Safe to call while a read is pending.
  void cancel() noexcept;
  // Ends the stream: pending operations fail (operation_aborted), later ones fail at once, and
  // is_open() turns false. A stream made with keep_descriptor_on_close() only shuts down sending
  // (the peer reads EOF) and keeps its descriptor until close_descriptor() or destruction, so the
  // owner can still see the peer hang up (wait_peer_close).
  void close() noexcept;
  void keep_descriptor_on_close() noexcept { keep_descriptor_ = true; }
  // After close(): reads and drops what the peer still sends until it closes its end (EOF, n = 0)
  // or an error. Bounded by `max_reads`; cancel it with close_descriptor() (e.g. from a Deadline).
  // False when it did not see the peer close (no descriptor left, error, limit).
  asio::awaitable<bool> wait_peer_close(int max_reads);
  // Closes the descriptor for good (any pending wait_peer_close ends).
  void close_descriptor() noexcept;
  bool has_descriptor() const noexcept { return socket_.is_open(); }
  bool is_open() const noexcept { return !closed_ && socket_.is_open(); }
  StreamSocket& socket() noexcept { return socket_; }
  std::string peer() const;  // "addr:port" for logs

 // (Public only for the associator specialisation at the end of this file.)
  template <class Handler>
  struct ReadDone;

 private:
  template <class Handler>
  void start_read(Handler handler, asio::mutable_buffer buf);
  // Completes `handler` later (never inside the initiating call, as Asio requires).
  template <class Handler>
  void post_result(Handler handler, error_code ec, size_t n);
  bool tls_pending() const noexcept;
  // One non-blocking recv(): bytes, or ec (EOF, error), or `empty` (EAGAIN), or nothing (EINTR).
  size_t recv_now(asio::mutable_buffer buf, error_code& ec, bool& empty) noexcept;
  StreamSocket socket_;
  std::unique_ptr<asio::ssl::stream<StreamSocket&>> tls_;
  bool closed_ = false;
  bool keep_descriptor_ = false;
};

// Clears the readiness flag after a short read that completed inline from the reactor (see
// start_read and reactor_readiness.hpp), then hands the result on.
template <class Handler>
struct Stream::ReadDone {
  Handler handler;
  StreamSocket* socket;  // only touched on success: the Stream is alive then
  size_t size;
  bool queued;  // queued with the flag clear, on the socket's own thread
  void operator()(error_code ec, size_t n) {
    if (queued && !ec && n > 0 && n < size) reactor_readiness::mark_drained_here(*socket);
    std::move(handler)(ec, n);
  }
};

template <class Handler>
void Stream::post_result(Handler handler, error_code ec, size_t n) {
  auto ex = asio::get_associated_executor(handler, socket_.get_executor());
  asio::post(ex, [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
}

template <class Handler>
void Stream::start_read(Handler handler, asio::mutable_buffer buf) {
  if (closed_) return post_result(std::move(handler), asio::error::bad_descriptor, 0);
  if (tls_) return tls_->async_read_some(buf, std::move(handler));
  // On the socket's own thread keep Asio's readiness flag exact: read at once only when
  // something may be there, and clear the flag when a read leaves nothing.
  const bool here = reactor_readiness::owned_by_this_thread(socket_);
  if (here && buf.size() > 0 && reactor_readiness::maybe_readable_here(socket_)) {
    error_code ec;
    bool empty = false;
    size_t n = recv_now(buf, ec, empty);
    if (n > 0 || ec) {
      if (n > 0 && n < buf.size()) reactor_readiness::mark_drained_here(socket_);
      return post_result(std::move(handler), ec, n);
    }
    if (empty) reactor_readiness::mark_drained_here(socket_);
  }
  // With the flag clear Asio queues the read without trying it; the next edge completes it, and
  // the completion runs inline from the reactor (the handler's executor is this thread's), before
  // any other event is looked at: clearing the flag after a short read then loses no edge. A read
  // Asio tries at once completes through the scheduler's queue instead: its result is left alone.
  const bool queued = here && !reactor_readiness::maybe_readable_here(socket_);
  socket_.async_read_some(buf, ReadDone<Handler>{std::move(handler), &socket_, buf.size(), queued});
}

// Connects `socket` to a PostgreSQL server at host:port: the unix-domain socket for a socket
// directory host (config::is_socket_directory), else over TCP to each address the name resolves to in turn (TCP_NODELAY set). On failure
// `error` says what failed ("cannot resolve ...", "cannot connect to ..."). Cancel it by closing
// the socket (a Deadline).
asio::awaitable<bool> connect_server_socket(StreamSocket& socket, const std::string& host, uint16_t port,
                                            std::string& error);

// A one-shot timeout: arm() starts it, on expiry it runs the callback (usually Stream::cancel),
// disarm() (or destruction) makes a pending expiry harmless. Lives on the caller's executor.
class Deadline {
 public:
  explicit Deadline(const asio::any_io_executor& ex);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  void arm(std::chrono::milliseconds d, std::function<void()> on_expire);
  void disarm() noexcept;
  bool expired() const noexcept;

 private:
  struct State {
    asio::steady_timer timer;
    std::function<void()> on_expire;
    bool armed = false;
    bool expired = false;
    uint64_t generation = 0;  // a queued expiry of an earlier arm() must not fire this one
    explicit State(const asio::any_io_executor& ex) : timer(ex) {}
  };
  std::shared_ptr<State> state_;
};

// A steady_timer made on first use: a session has several that most sessions never (or
// rarely) wait on, and an Asio timer is 120 bytes (it holds its own any_io_executor). Until
// expires_at/expires_after is called the expiry is "never" (waits end by cancel()).
class LazyTimer {
 public:
  using time_point = asio::steady_timer::time_point;
  using duration = asio::steady_timer::duration;
  explicit LazyTimer(const asio::any_io_executor* ex) : ex_(ex) {}
  void expires_at(time_point t) { get().expires_at(t); }
  void expires_after(duration d) { get().expires_after(d); }
  template <class Token>
  auto async_wait(Token&& token) {
    return get().async_wait(std::forward<Token>(token));
  }
  size_t cancel() { return timer_ ? timer_->cancel() : 0; }
  // Frees the timer (the next use makes a new one). Only while nobody waits on it: the owner
  // knows (e.g. a session that parks runs nothing).
  void release() noexcept { timer_.reset(); }

 private:
  asio::steady_timer& get() {
    if (!timer_) {
      timer_ = std::make_unique<asio::steady_timer>(*ex_);
      timer_->expires_at(time_point::max());
    }
    return *timer_;
  }
  const asio::any_io_executor* ex_;  // the owner's; outlives this
  std::unique_ptr<asio::steady_timer> timer_;
};

// A wake-up call for one waiting coroutine, without a timer: a steady_timer wait that becomes
// the reactor's earliest timer re-arms its timerfd (one timerfd_settime syscall), which a waiter
// parked once per transaction must not cost. notify()/cancel() with nobody waiting do nothing:
// the waiter re-checks its condition before it waits. The completion is posted to the waiter's
// executor, never run inside notify().
class Wakeup {
  using Handler = asio::any_completion_handler<void(error_code)>;

 public:
  explicit Wakeup(const asio::any_io_executor& ex) : ex_(&ex) {}
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Completes with success on notify(), operation_aborted on cancel().
  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [this](auto handler) {
          // Not operator=: Boost 1.81's move assignment wraps the handler in itself endlessly.
          Handler(std::move(handler)).swap(waiter_);
        },
        token);
  }
  void notify() { complete(error_code{}); }
  void cancel() { complete(asio::error::operation_aborted); }
  bool waiting() const noexcept { return static_cast<bool>(waiter_); }

 private:
  void complete(error_code ec) {
    if (!waiter_) return;
    asio::post(*ex_, [h = Handler(std::move(waiter_)), ec]() mutable { std::move(h)(ec); });
  }
  const asio::any_io_executor* ex_;  // the owner's; outlives this
  Handler waiter_;
};

}  // namespace pgscale::proxy

// ReadDone runs where, and allocates how, the handler it wraps would: forward every associator
// (executor, allocator, cancellation slot), as Asio's own handler wrappers do.
template <template <typename, typename> class Associator, typename Handler, typename DefaultCandidate>
struct boost::asio::associator<Associator, pgscale::proxy::Stream::ReadDone<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const pgscale::proxy::Stream::ReadDone<Handler>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler);
  }
  static auto get(const pgscale::proxy::Stream::ReadDone<Handler>& h, const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler, c);
  }
};

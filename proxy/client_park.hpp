#pragma once
// Parked client sockets outside Asio's reactor (issue 6: memory per idle client).
//
// A session with nothing to do waits for its client's next message. Waiting through Asio costs
// the socket's reactor state (~180 bytes, held while the descriptor is registered) and the
// pending wait operation (~180 bytes) for as long as the client idles. Here the descriptor is
// released from Asio instead and put into one epoll set per worker io_context (the kernel keeps
// that registration; the process keeps only a list link): when the client sends something (or
// hangs up) the descriptor goes back to Asio and the session's client loop starts again.
// Plain TCP only (a TLS session may hold decrypted bytes in OpenSSL: it waits through Asio).
// Everything runs on the worker's own thread: no locks.
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace pgscale::proxy {

class ClientSession;

class ParkedSockets final : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;
  explicit ParkedSockets(boost::asio::io_context& ctx);
  ~ParkedSockets() override;

  // Takes `s`'s socket out of Asio and holds `s` until its client sends or hangs up (or
  // resume()). False when that cannot be done: the socket is then as before (or, if it could
  // not be given back to Asio, closed and the session marked gone), and the caller waits the
  // Asio way.
  bool park(ClientSession& s);
  // Ends the wait of a session parked here now (drain): its client loop runs again.
  void resume(ClientSession& s);
  size_t parked() const noexcept { return count_; }
  // The io_context's executor as an any_io_executor that lives as long as the io_context: the
  // sessions on it refer to this one instead of each keeping a 56-byte copy.
  const boost::asio::any_io_executor& executor() const noexcept { return executor_; }

 private:
  void shutdown() override;
  void arm();
  void on_ready();
  std::shared_ptr<ClientSession> unlink(ClientSession& s);
  void wake(ClientSession& s);
  void arm_trim();

  boost::asio::any_io_executor executor_;
  boost::asio::posix::stream_descriptor epoll_;  // the epoll set, registered with the io_context
  bool armed_ = false;
  // Sessions that park have just freed their buffers and coroutine frames: a moment later the
  // heap is checked for pages to give back (trim_heap_if_worth in client_park.cpp).
  boost::asio::steady_timer trim_timer_;
  bool trim_armed_ = false;
  size_t count_ = 0;
  // Parked sessions, each owned by the link before it (head_ owns the first): the list is what
  // keeps a parked session alive.
  std::shared_ptr<ClientSession> head_;
};

}  // namespace pgscale::proxy

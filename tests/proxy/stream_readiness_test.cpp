// Stream::read_some keeps Asio's readiness flag exact (reactor_readiness.hpp): a short read clears
// it, bytes or EOF that arrive later set it again, and a read queued while it is clear still
// completes when the peer writes. Real loopback sockets, one io_context, as a worker runs them.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/version.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "proxy/reactor_readiness.hpp"
#include "proxy/stream.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using pgscale::proxy::Stream;
namespace readiness = pgscale::proxy::reactor_readiness;

namespace {

struct Pair {
  asio::io_context io{1};
  // A worker always has work (acceptor, timers); without it run_for() would not poll the reactor
  // while no operation is queued, and an idle socket's events would never be looked at.
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  tcp::socket peer{io};
  std::optional<Stream> stream;

  Pair() {
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acc.local_endpoint());
    stream.emplace(acc.accept());
  }
  void send(const std::string& s) { asio::write(peer, asio::buffer(s)); }
};

struct ReadResult {
  bool done = false;
  std::string data;
  boost::system::error_code ec;
};

// Starts one read_some on the stream; the result fills `out` when it completes.
void start_read(Pair& p, ReadResult& out) {
  asio::co_spawn(
      p.io,
      [&p, &out]() -> asio::awaitable<void> {
        char buf[256];
        size_t n = co_await p.stream->read_some(asio::buffer(buf), out.ec);
        out.data.assign(buf, n);
        out.done = true;
      },
      asio::detached);
}

// Runs the io_context until `out` is done, at most ~2 s.
void run_until_done(Pair& p, ReadResult& out) {
  for (int i = 0; i < 200 && !out.done; ++i) {
    p.io.restart();
    p.io.run_for(std::chrono::milliseconds(10));
  }
}

// Runs the io_context (with nothing queued on the stream) until the reactor has set the flag,
// at most ~0.5 s; true when it did.
bool wait_until_flag_set(Pair& p) {
  for (int i = 0; i < 50; ++i) {
    p.io.restart();
    p.io.run_for(std::chrono::milliseconds(10));
    if (readiness::maybe_readable(p.stream->socket())) return true;
  }
  return false;
}

// One read_some to its end; the result.
ReadResult read_once(Pair& p) {
  ReadResult r;
  start_read(p, r);
  run_until_done(p, r);
  return r;
}

// A read started while nothing is there (it must still be pending after the loop ran), then
// completed by `bytes` from the peer.
ReadResult read_pending_then(Pair& p, const std::string& bytes) {
  ReadResult r;
  start_read(p, r);
  p.io.restart();
  p.io.run_for(std::chrono::milliseconds(20));
  CHECK_FALSE(r.done);
  p.send(bytes);
  run_until_done(p, r);
  return r;
}

}  // namespace

TEST_CASE("the readiness flag is readable on the Asio this project builds with") {
#if BOOST_VERSION == 108100
  CHECK(readiness::supported());
#else
  SUCCEED("another Asio: the flag is not used and reads behave as plain Asio reads");
#endif
}

TEST_CASE("a short read clears the flag and a later write still completes a queued read") {
  Pair p;
  p.send("hello");
  ReadResult first = read_once(p);
  REQUIRE(first.done);
  CHECK_FALSE(first.ec);
  CHECK(first.data == "hello");
  // (The edge of "hello" may still be reported after the read took the bytes: that sets the flag
  // again, harmlessly. A read completed by the reactor leaves no such stale edge behind.)

  ReadResult second = read_pending_then(p, "world!");
  REQUIRE(second.done);
  CHECK_FALSE(second.ec);
  CHECK(second.data == "world!");
  if (readiness::supported()) CHECK_FALSE(readiness::maybe_readable(p.stream->socket()));

  // Queued while the flag is clear (no recv() tried): the next bytes still complete it.
  ReadResult third = read_pending_then(p, "again");
  REQUIRE(third.done);
  CHECK(third.data == "again");
}

TEST_CASE("bytes that arrive while no read is queued set the flag again and are read") {
  Pair p;
  p.send("a");
  REQUIRE(read_once(p).data == "a");

  p.send("later");
  // Let the reactor see the edge with no read queued (as for an idle pooled connection).
  CHECK(wait_until_flag_set(p));

  ReadResult second = read_once(p);
  REQUIRE(second.done);
  CHECK(second.data == "later");
}

TEST_CASE("the peer's close sets the flag of an idle socket and the read sees EOF") {
  Pair p;
  p.send("x");
  REQUIRE(read_once(p).data == "x");
  // Completed by the reactor: leaves the flag clear (see above).
  REQUIRE(read_pending_then(p, "y").data == "y");
  if (readiness::supported()) REQUIRE_FALSE(readiness::maybe_readable(p.stream->socket()));

  p.peer.close();
  CHECK(wait_until_flag_set(p));

  ReadResult second = read_once(p);
  REQUIRE(second.done);
  CHECK(second.ec == asio::error::eof);
}

TEST_CASE("a read that fills the buffer leaves the flag set so the rest is read at once") {
  Pair p;
  p.send(std::string(300, 'z'));  // more than read_some's 256-byte buffer
  ReadResult first;
  start_read(p, first);
  run_until_done(p, first);
  REQUIRE_FALSE(first.data.empty());
  if (first.data.size() == 256) CHECK(readiness::maybe_readable(p.stream->socket()));
  std::string all = first.data;
  for (int i = 0; i < 5 && all.size() < 300; ++i) {
    ReadResult more;
    start_read(p, more);
    run_until_done(p, more);
    REQUIRE(more.done);
    all += more.data;
  }
  CHECK(all == std::string(300, 'z'));
}

// A pool frees the slot of a discarded server connection only once the server has hung up
// (ServerConn::shut_down), so PostgreSQL never counts more of the pool's backends than max_size.
// The "server" here is a plain local TCP socket: what is checked is what pgscale sends and when it
// considers the peer gone, which does not depend on PostgreSQL.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>

#include <array>
#include <memory>

#include "proxy/server_conn.hpp"

using namespace pgscale::proxy;
using namespace std::chrono_literals;

namespace {

struct Peers {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  tcp::socket server{io};  // PostgreSQL's end
  std::shared_ptr<ServerConn> conn;

  Peers() {
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    conn = std::make_shared<ServerConn>(std::move(client), "s0-primary", "127.0.0.1", acceptor.local_endpoint().port());
  }
  // Runs the io_context for a while (bounded): handlers that are due run, nothing is awaited.
  void spin(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
  // What the server end can read now, until EOF (true) or nothing more is there (false).
  bool server_reads_to_eof(std::string& got) {
    server.non_blocking(true);
    std::array<char, 256> buf{};
    for (int i = 0; i < 100; ++i) {
      error_code ec;
      size_t n = server.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::eof) return true;
      if (ec) return false;
      got.append(buf.data(), n);
    }
    return false;
  }
};

}  // namespace

TEST_CASE("a closed server stream sends FIN but keeps watching its peer", "[pool][discard]") {
  Peers p;
  p.conn->stream().close();
  CHECK_FALSE(p.conn->stream().is_open());
  CHECK(p.conn->stream().has_descriptor());
  std::string got;
  CHECK(p.server_reads_to_eof(got));  // the backend reads EOF and exits
  CHECK(got.empty());

  // Reads after close() fail at once instead of reading the late reply.
  bool failed = false;
  asio::co_spawn(p.io, [&]() -> asio::awaitable<void> {
    std::array<char, 16> buf{};
    error_code ec;
    co_await p.conn->stream().read_some(asio::buffer(buf), ec);
    failed = ec == asio::error::bad_descriptor;
  }, asio::detached);
  p.spin(200ms);
  CHECK(failed);

  // The peer hanging up is still seen.
  bool closed = false;
  asio::co_spawn(p.io, [&]() -> asio::awaitable<void> { closed = co_await p.conn->stream().wait_peer_close(8); },
                 asio::detached);
  p.spin(50ms);
  CHECK_FALSE(closed);
  p.server.close();
  p.spin(500ms);
  CHECK(closed);
}

TEST_CASE("shut_down sends Terminate and returns only after the server hung up", "[pool][discard]") {
  Peers p;
  bool done = false;
  asio::co_spawn(p.io, [&]() -> asio::awaitable<void> {
    co_await p.conn->shut_down(std::chrono::milliseconds(10000));
    done = true;
  }, asio::detached);
  std::string got;
  bool eof = false;
  for (int i = 0; i < 50 && !eof; ++i) {
    p.spin(20ms);
    eof = p.server_reads_to_eof(got);
  }
  CHECK(eof);
  CHECK(got == std::string("X\0\0\0\4", 5));
  CHECK_FALSE(done);  // the server has not closed its end: the slot stays taken

  // A backend still running a statement reads the EOF only after it: it is sent a CancelRequest.
  tcp::socket cancel(p.io);
  bool accepted = false;
  p.acceptor.async_accept(cancel, [&](error_code ec) { accepted = !ec; });
  for (int i = 0; i < 50 && !accepted; ++i) p.spin(100ms);
  REQUIRE(accepted);
  std::array<unsigned char, 16> req{};
  error_code ec;
  asio::read(cancel, asio::buffer(req), ec);
  REQUIRE_FALSE(ec);
  CHECK(req[3] == 16);  // length 16, code 80877102 = 0x04D2162E (PostgreSQL docs 55.2.8)
  CHECK((req[4] == 0x04 && req[5] == 0xD2 && req[6] == 0x16 && req[7] == 0x2E));
  CHECK_FALSE(done);

  p.server.close();  // the backend exits
  for (int i = 0; i < 50 && !done; ++i) p.spin(100ms);
  CHECK(done);
  CHECK_FALSE(p.conn->stream().has_descriptor());
}

TEST_CASE("shut_down of a connection its session already closed waits for the server too", "[pool][discard]") {
  Peers p;
  p.conn->stream().close();  // a session gave the server up mid-statement
  bool done = false;
  asio::co_spawn(p.io, [&]() -> asio::awaitable<void> {
    co_await p.conn->shut_down(std::chrono::milliseconds(10000));
    done = true;
  }, asio::detached);
  std::string got;
  bool eof = false;
  for (int i = 0; i < 50 && !eof; ++i) {
    p.spin(20ms);
    eof = p.server_reads_to_eof(got);
  }
  CHECK(eof);
  CHECK(got.empty());  // no Terminate on a stream that is closed: the FIN says it all
  CHECK_FALSE(done);
  p.server.close();
  for (int i = 0; i < 50 && !done; ++i) p.spin(100ms);
  CHECK(done);
}

TEST_CASE("shut_down gives up after its limit when the server never hangs up", "[pool][discard]") {
  Peers p;
  bool done = false;
  asio::co_spawn(p.io, [&]() -> asio::awaitable<void> {
    co_await p.conn->shut_down(std::chrono::milliseconds(300));
    done = true;
  }, asio::detached);
  for (int i = 0; i < 100 && !done; ++i) p.spin(100ms);
  CHECK(done);
  CHECK_FALSE(p.conn->stream().has_descriptor());
}

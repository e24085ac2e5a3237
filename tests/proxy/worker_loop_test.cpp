// run_worker with busy polling (worker_loop.hpp) still does everything ctx.run() does: posted
// handlers, timers, socket reads that complete while it polls and after it has gone to sleep, and
// it returns when the io_context is stopped or runs out of work. Real loopback sockets.
#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "proxy/worker_loop.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using pgscale::proxy::parse_runnable;
using pgscale::proxy::run_worker;

namespace {

// Runs run_worker on its own thread; true when it returned within the limit.
struct WorkerThread {
  std::future<void> done;
  WorkerThread(asio::io_context& io, std::chrono::microseconds poll)
      : done(std::async(std::launch::async, [&io, poll] { run_worker(io, poll); })) {}
  bool returned_within(std::chrono::seconds limit) { return done.wait_for(limit) == std::future_status::ready; }
};

}  // namespace

TEST_CASE("the runnable count is read from /proc/loadavg's fourth field", "[worker_loop]") {
  CHECK(parse_runnable("0.52 0.31 0.20 2/345 6789\n") == 2);
  CHECK(parse_runnable("12.00 9.50 7.25 17/2048 1") == 17);
  CHECK_FALSE(parse_runnable(""));
  CHECK_FALSE(parse_runnable("0.52 0.31 0.20"));
  CHECK_FALSE(parse_runnable("0.52 0.31 0.20 x/345 6789"));
  CHECK_FALSE(parse_runnable("0.52 0.31 0.20 2 345"));
  CHECK_FALSE(parse_runnable("0.52 0.31 0.20 -1/345 6789"));
}

TEST_CASE("this machine's /proc/loadavg parses", "[worker_loop]") {
  pgscale::proxy::CpuGate gate;
  REQUIRE(gate.available());  // Linux: run_worker would otherwise never poll
  (void)gate.cpu_free();      // answers either way; must not block or crash
}

TEST_CASE("a polling worker runs handlers, timers and socket reads, and stops", "[worker_loop]") {
  for (auto poll : {0us, 200us, 10000us}) {
    CAPTURE(poll.count());
    asio::io_context io{1};
    auto work = asio::make_work_guard(io);
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket writer(io);
    writer.connect(acc.local_endpoint());
    tcp::socket reader = acc.accept();

    std::atomic<int> posted{0}, timers{0}, reads{0};
    asio::post(io, [&] { ++posted; });
    asio::steady_timer timer(io, 20ms);
    timer.async_wait([&](boost::system::error_code ec) { timers += !ec; });
    std::array<char, 4> buf{};
    // Two reads: one whose bytes come while the worker may still be polling, one after a pause
    // long enough that it has gone to sleep in the reactor.
    asio::async_read(reader, asio::buffer(buf), [&](boost::system::error_code ec, size_t n) {
      reads += !ec && n == 4;
      asio::async_read(reader, asio::buffer(buf), [&](boost::system::error_code ec2, size_t n2) {
        reads += !ec2 && n2 == 4;
      });
    });

    WorkerThread worker(io, poll);
    std::this_thread::sleep_for(1ms);
    REQUIRE(writer.send(asio::buffer("abcd", 4)) == 4);
    std::this_thread::sleep_for(100ms);
    REQUIRE(writer.send(asio::buffer("efgh", 4)) == 4);
    for (int i = 0; i < 500 && reads < 2; ++i) std::this_thread::sleep_for(10ms);
    CHECK(posted == 1);
    CHECK(timers == 1);
    CHECK(reads == 2);
    CHECK(std::string(buf.data(), 4) == "efgh");

    io.stop();
    CHECK(worker.returned_within(5s));
  }
}

TEST_CASE("a polling worker returns when its work runs out", "[worker_loop]") {
  asio::io_context io{1};
  std::atomic<int> ran{0};
  asio::steady_timer timer(io, 5ms);
  timer.async_wait([&](boost::system::error_code) { ++ran; });
  WorkerThread worker(io, 10000us);
  CHECK(worker.returned_within(5s));
  CHECK(ran == 1);
}

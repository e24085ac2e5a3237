// PqConn against the real cluster: non-blocking connect/query, deadlines, errors.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include "monitor_cluster.hpp"
#include "proxy/pq_conn.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgscale::PqConn;
using pgscale::PqParams;
using pgscale::PqResult;
using pgscale::test::Cluster;

namespace {

PqParams params(uint16_t port, const char* sslmode = "prefer") {
  const auto& c = Cluster::instance();
  return {{"hostaddr", "127.0.0.1"}, {"port", std::to_string(port)},
          {"user", c.get("PGSCALE_MONITOR_USER")}, {"password", c.get("PGSCALE_MONITOR_PASSWORD")},
          {"dbname", "postgres"}, {"sslmode", sslmode}, {"gssencmode", "disable"}};
}

auto deadline(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

// Runs `body` as a coroutine on a single-threaded io_context and returns its result.
template <typename T>
T run(std::function<asio::awaitable<T>(asio::io_context&)> body) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, body(io), asio::use_future);
  io.run();
  return fut.get();
}

}  // namespace

TEST_CASE("PqConn connects (TLS and plain) and returns rows and NULLs", "[pq_conn]") {
  for (const char* sslmode : {"require", "disable"}) {
    INFO("sslmode " << sslmode);
    auto r = run<PqResult>([&](asio::io_context& io) -> asio::awaitable<PqResult> {
      PqConn conn(io.get_executor());
      auto c = co_await conn.connect(params(Cluster::instance().port("PGSCALE_S0_PRIMARY_PORT"), sslmode), deadline(10s));
      if (!c.ok()) co_return c;
      co_return co_await conn.query("SELECT 1 AS one, NULL::text AS nothing, 'x''y' AS s; SELECT pg_is_in_recovery()::text, current_setting('ssl')", deadline(10s));
    });
    INFO(r.error);
    REQUIRE(r.ok());
    REQUIRE(r.rows.size() == 1);  // the last row-returning statement
    CHECK(r.rows[0][0] == std::optional<std::string>("false"));
    CHECK(r.columns.size() == 2);
  }
  auto r = run<PqResult>([&](asio::io_context& io) -> asio::awaitable<PqResult> {
    PqConn conn(io.get_executor());
    auto c = co_await conn.connect(params(Cluster::instance().port("PGSCALE_S0_PRIMARY_PORT")), deadline(10s));
    if (!c.ok()) co_return c;
    co_return co_await conn.query("SELECT 1 AS one, NULL::text AS nothing, 'x''y' AS s", deadline(10s));
  });
  REQUIRE(r.ok());
  CHECK(r.columns == std::vector<std::string>{"one", "nothing", "s"});
  CHECK(r.rows[0][0] == std::optional<std::string>("1"));
  CHECK_FALSE(r.rows[0][1].has_value());
  CHECK(r.rows[0][2] == std::optional<std::string>("x'y"));
}

TEST_CASE("PqConn: a server error keeps the connection, a deadline closes it", "[pq_conn]") {
  struct Out { PqResult bad, after, slow; bool connected_after_error = false, connected_after_timeout = true; };
  auto out = run<Out>([](asio::io_context& io) -> asio::awaitable<Out> {
    Out o;
    PqConn conn(io.get_executor());
    auto c = co_await conn.connect(params(Cluster::instance().port("PGSCALE_S0_REPLICA1_PORT")), deadline(10s));
    // (No co_await inside ?: — GCC 12 miscompiles temporaries there.)
    if (!c.ok()) {
      o.bad = c;
      co_return o;
    }
    o.bad = co_await conn.query("SELECT pg_current_wal_lsn()", deadline(10s));  // error in recovery
    o.connected_after_error = conn.connected();
    o.after = co_await conn.query("SELECT 42", deadline(10s));
    o.slow = co_await conn.query("SELECT pg_sleep(30)", deadline(300ms));
    o.connected_after_timeout = conn.connected();
    co_return o;
  });
  CHECK_FALSE(out.bad.ok());
  CHECK(out.bad.sqlstate == "55000");  // object_not_in_prerequisite_state: recovery is in progress
  CHECK(out.connected_after_error);
  REQUIRE(out.after.ok());
  CHECK(out.after.rows[0][0] == std::optional<std::string>("42"));
  CHECK(out.slow.error.find("timeout") != std::string::npos);
  CHECK_FALSE(out.connected_after_timeout);
}

TEST_CASE("PqConn never blocks its thread: a timer fires while a query runs", "[pq_conn]") {
  // One thread: if query() blocked it, the 50 ms timer could only complete after the 1 s query.
  asio::io_context io;
  std::vector<std::string> order;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    PqConn conn(io.get_executor());
    auto c = co_await conn.connect(params(Cluster::instance().port("PGSCALE_S0_PRIMARY_PORT")), deadline(10s));
    if (!c.ok()) { order.push_back("connect failed: " + c.error); co_return; }
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      asio::steady_timer t(io, 50ms);
      co_await t.async_wait(asio::use_awaitable);
      order.push_back("timer");
    }, asio::detached);
    auto r = co_await conn.query("SELECT pg_sleep(1)", deadline(10s));
    order.push_back(r.ok() ? "query" : "query failed: " + r.error);
  }, asio::detached);
  io.run();
  CHECK(order == std::vector<std::string>{"timer", "query"});
}

TEST_CASE("PqConn: a closed port fails, a bad password fails, cancel ends a wait", "[pq_conn]") {
  const uint16_t dead = pgscale::test::closed_port();
  auto refused = run<PqResult>([&](asio::io_context& io) -> asio::awaitable<PqResult> {
    PqConn conn(io.get_executor());
    co_return co_await conn.connect(params(dead), deadline(5s));
  });
  CHECK_FALSE(refused.ok());
  CHECK(refused.error.find("timeout") == std::string::npos);  // refused, not timed out

  auto bad_password = run<PqResult>([&](asio::io_context& io) -> asio::awaitable<PqResult> {
    PqConn conn(io.get_executor());
    auto p = params(Cluster::instance().port("PGSCALE_S0_PRIMARY_PORT"));
    for (auto& [k, v] : p)
      if (k == "password") v = "wrong";
    co_return co_await conn.connect(p, deadline(10s));
  });
  CHECK_FALSE(bad_password.ok());
  CHECK(bad_password.error.find("password authentication failed") != std::string::npos);

  auto cancelled = run<PqResult>([&](asio::io_context& io) -> asio::awaitable<PqResult> {
    PqConn conn(io.get_executor());
    auto c = co_await conn.connect(params(Cluster::instance().port("PGSCALE_S0_PRIMARY_PORT")), deadline(10s));
    if (!c.ok()) co_return c;
    asio::steady_timer t(io, 100ms);
    t.async_wait([&](auto) { conn.cancel(); });
    co_return co_await conn.query("SELECT pg_sleep(30)", deadline(60s));
  });
  CHECK(cancelled.error.find("cancelled") != std::string::npos);
}

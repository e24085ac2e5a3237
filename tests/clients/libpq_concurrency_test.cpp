// libpq through the target with several clients at once: many clients over a small pool, cancel
// (right key, wrong key, the other client untouched), and failure semantics mid-transaction.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <thread>
#include <vector>

#include "tests/clients/client_env.hpp"

using namespace pgscale::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

Conn must_connect(const std::string& extra = "") {
  Conn c = connect(target_conninfo(extra));
  INFO("target: " << describe_target() << ": " << PQerrorMessage(c.get()));
  REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
  return c;
}

// Waits (bounded) for the result of an async query; returns null on timeout.
Result wait_result(PGconn* c, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (PQisBusy(c)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return nullptr;
    pollfd p{PQsocket(c), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
    if (PQconsumeInput(c) == 0) break;
  }
  Result r(PQgetResult(c));
  while (Result extra{PQgetResult(c)}) {}
  return r;
}

// Sends a raw CancelRequest (PostgreSQL protocol 53.2.7) to the target with the given key.
void send_cancel_request(int32_t pid, int32_t key) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(target().port));
  ::inet_pton(AF_INET, target().host.c_str(), &addr.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const uint32_t msg[4] = {htonl(16), htonl(80877102), htonl(static_cast<uint32_t>(pid)), htonl(static_cast<uint32_t>(key))};
  REQUIRE(::send(fd, msg, sizeof msg, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof msg));
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, 2000);  // the server closes the cancel connection; don't wait longer than that
  ::close(fd);
}

}  // namespace

TEST_CASE("many clients over a small pool: 60 connections, transactions interleaved", "[many]") {
  constexpr int kClients = 60;
  constexpr int kRounds = 5;
  Conn setup = must_connect();
  REQUIRE(PQresultStatus(exec(setup.get(), "DROP TABLE IF EXISTS libpq_many_t").get()) == PGRES_COMMAND_OK);
  REQUIRE(PQresultStatus(exec(setup.get(), "CREATE TABLE libpq_many_t (client int, round int, ok bool)").get()) ==
          PGRES_COMMAND_OK);
  std::vector<Conn> conns;
  for (int i = 0; i < kClients; ++i) conns.push_back(must_connect());

  std::atomic<int> failures{0};
  std::atomic<int> peak_server_conns{0};
  std::atomic<bool> done{false};
  std::vector<std::string> errors(kClients);
  std::thread sampler([&] {
    Conn su = connect(super_conninfo());
    const std::string q = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = '" +
                          cluster().get("PGSCALE_APP_USER") + "'";
    for (int i = 0; i < 600 && !done; ++i) {
      Result r = exec(su.get(), q);
      if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
        peak_server_conns = std::max(peak_server_conns.load(), std::atoi(PQgetvalue(r.get(), 0, 0)));
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      PGconn* c = conns[i].get();
      for (int round = 0; round < kRounds; ++round) {
        const bool commit = (i + round) % 2 == 0;  // alternate COMMIT and ROLLBACK
        const std::string ins = "INSERT INTO libpq_many_t VALUES (" + std::to_string(i) + ", " + std::to_string(round) +
                                ", " + (commit ? "true" : "false") + ")";
        for (const std::string& sql : {std::string("BEGIN"), ins, std::string("SELECT pg_sleep(0.02)"),
                                       std::string(commit ? "COMMIT" : "ROLLBACK")}) {
          Result r = exec(c, sql);
          const auto st = PQresultStatus(r.get());
          if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            errors[i] = sql + ": " + PQresultErrorMessage(r.get()) + PQerrorMessage(c);
            ++failures;
            return;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  sampler.join();
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    CHECK(errors[i].empty());
  }
  CHECK(failures == 0);
  CHECK(scalar(setup.get(), "SELECT count(*) FROM libpq_many_t") == std::to_string(kClients * kRounds / 2));
  CHECK(scalar(setup.get(), "SELECT count(*) FROM libpq_many_t WHERE NOT ok") == "0");
  std::printf("many clients: %d clients, peak app connections on the primary %d (pool max %d)\n", kClients,
              peak_server_conns.load(), target().pool_max);
  CHECK(peak_server_conns > 0);
  if (target().is_pgscale && target().pool_max > 0) CHECK(peak_server_conns <= target().pool_max);
  if (!target().is_pgscale) CHECK(peak_server_conns >= kClients);
  CHECK(PQresultStatus(exec(setup.get(), "DROP TABLE libpq_many_t").get()) == PGRES_COMMAND_OK);
  CHECK(pgscale_alive());
}

TEST_CASE("cancel: PQcancel stops pg_sleep(30) with 57014, the session stays usable", "[cancel]") {
  Conn c = must_connect();
  REQUIRE(PQsendQuery(c.get(), "SELECT pg_sleep(30)") == 1);
  std::this_thread::sleep_for(300ms);  // let the query reach a server
  const auto start = Clock::now();
  PGcancel* cancel = PQgetCancel(c.get());
  REQUIRE(cancel != nullptr);
  char err[256] = {};
  CHECK(PQcancel(cancel, err, sizeof err) == 1);
  PQfreeCancel(cancel);
  Result r = wait_result(c.get(), 5s);  // a hang guard, not a performance threshold
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  std::printf("cancel: PQcancel -> result in %lld ms (%s)\n", static_cast<long long>(elapsed), describe_target().c_str());
  REQUIRE(r != nullptr);
  CHECK(PQresultStatus(r.get()) == PGRES_FATAL_ERROR);
  CHECK(sqlstate(r.get()) == "57014");
  CHECK(error_primary(r.get()) == "canceling statement due to user request");
  CHECK(scalar(c.get(), "SELECT 'usable after cancel'") == "usable after cancel");

  // A cancel while idle cancels nothing later.
  cancel = PQgetCancel(c.get());
  CHECK(PQcancel(cancel, err, sizeof err) == 1);
  PQfreeCancel(cancel);
  std::this_thread::sleep_for(300ms);
  CHECK(scalar(c.get(), "SELECT pg_sleep(0.5)::text || 'slept'") == "slept");
}

TEST_CASE("cancel: a wrong key cancels nothing; a cancel reaches only its own client", "[cancel]") {
  Conn a = must_connect();
  Conn b = must_connect();
  REQUIRE(PQsendQuery(a.get(), "SELECT pg_sleep(2), 'a finished'") == 1);
  REQUIRE(PQsendQuery(b.get(), "SELECT pg_sleep(2), 'b finished'") == 1);
  std::this_thread::sleep_for(300ms);
  // Same pid as a's BackendKeyData, keys that cannot all be right.
  send_cancel_request(PQbackendPID(a.get()), 0);
  send_cancel_request(PQbackendPID(a.get()), 12345);
  send_cancel_request(PQbackendPID(a.get()), -1);
  PGcancel* cancel_b = PQgetCancel(b.get());
  char err[256] = {};
  CHECK(PQcancel(cancel_b, err, sizeof err) == 1);
  PQfreeCancel(cancel_b);

  Result rb = wait_result(b.get(), 10s);
  REQUIRE(rb != nullptr);
  CHECK(sqlstate(rb.get()) == "57014");
  Result ra = wait_result(a.get(), 10s);
  REQUIRE(ra != nullptr);
  INFO("a: " << PQresultErrorMessage(ra.get()));
  CHECK(PQresultStatus(ra.get()) == PGRES_TUPLES_OK);
  if (PQresultStatus(ra.get()) == PGRES_TUPLES_OK) CHECK(std::string(PQgetvalue(ra.get(), 0, 1)) == "a finished");
  CHECK(scalar(a.get(), "SELECT 'a ok'") == "a ok");
  CHECK(scalar(b.get(), "SELECT 'b ok'") == "b ok");
  CHECK(pgscale_alive());
}

TEST_CASE("failure: a client vanishing mid-transaction leaves no dirty server behind", "[failure]") {
  Conn setup = must_connect();
  REQUIRE(PQresultStatus(exec(setup.get(), "DROP TABLE IF EXISTS libpq_fail_t").get()) == PGRES_COMMAND_OK);
  REQUIRE(PQresultStatus(exec(setup.get(), "CREATE TABLE libpq_fail_t (id int PRIMARY KEY, v int)").get()) ==
          PGRES_COMMAND_OK);
  REQUIRE(PQresultStatus(exec(setup.get(), "INSERT INTO libpq_fail_t VALUES (1, 0)").get()) == PGRES_COMMAND_OK);
  {
    Conn victim = must_connect();
    REQUIRE(PQresultStatus(exec(victim.get(), "BEGIN").get()) == PGRES_COMMAND_OK);
    Result r = exec(victim.get(), "UPDATE libpq_fail_t SET v = 99 WHERE id = 1 /* libpq_fail_marker */");
    REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
    CHECK(server_connections("libpq_fail_marker", "idle in transaction") == 1);
    ::shutdown(PQsocket(victim.get()), SHUT_RDWR);  // vanish without Terminate
  }
  int left = -1;
  for (int i = 0; i < 100; ++i) {  // bounded: 10 s
    left = server_connections("libpq_fail_marker", "idle in transaction");
    if (left == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  CHECK(left == 0);
  // The row lock is gone and the update was rolled back.
  REQUIRE(PQresultStatus(exec(setup.get(), "BEGIN").get()) == PGRES_COMMAND_OK);
  REQUIRE(PQresultStatus(exec(setup.get(), "SET LOCAL lock_timeout = '5s'").get()) == PGRES_COMMAND_OK);
  Result r = exec(setup.get(), "UPDATE libpq_fail_t SET v = v + 1 WHERE id = 1 RETURNING v");
  INFO(PQresultErrorMessage(r.get()));
  CHECK(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "1");
  exec(setup.get(), "COMMIT");
  CHECK(PQresultStatus(exec(setup.get(), "DROP TABLE libpq_fail_t").get()) == PGRES_COMMAND_OK);
}

TEST_CASE("failure: the server connection dies mid-transaction; the client gets an error, then works", "[failure]") {
  Conn c = must_connect();
  REQUIRE(PQresultStatus(exec(c.get(), "BEGIN").get()) == PGRES_COMMAND_OK);
  const std::string server_pid = scalar(c.get(), "SELECT pg_backend_pid()");
  REQUIRE(server_pid.find('<') == std::string::npos);
  Conn su = connect(super_conninfo());
  REQUIRE(PQstatus(su.get()) == CONNECTION_OK);
  CHECK(scalar(su.get(), "SELECT pg_terminate_backend(" + server_pid + ")") == "t");
  std::this_thread::sleep_for(300ms);
  Result r = exec(c.get(), "SELECT 'inside the dead transaction'");
  const std::string state = sqlstate(r.get());
  std::printf("failure: query after the server died -> status %s, SQLSTATE '%s', message: %s%s\n",
              PQresStatus(PQresultStatus(r.get())), state.c_str(), PQresultErrorMessage(r.get()), PQerrorMessage(c.get()));
  CHECK(PQresultStatus(r.get()) == PGRES_FATAL_ERROR);
  if (!target().is_pgscale) {
    // PostgreSQL: FATAL 57P01, then the connection is gone (libpq reports the loss, the FATAL's
    // text included, without a SQLSTATE).
    const std::string text = std::string(PQresultErrorMessage(r.get())) + PQerrorMessage(c.get());
    CHECK(text.find("terminating connection due to administrator command") != std::string::npos);
    CHECK(PQstatus(c.get()) == CONNECTION_BAD);
    return;
  }
  // pgscale: the loss is reported (08006, or the server's 57P01 relayed) ...
  CHECK((state == "08006" || state == "57P01"));
  // ... and, in transaction mode, the client's next transaction works on a fresh server.
  REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
  exec(c.get(), "ROLLBACK");
  CHECK(scalar(c.get(), "SELECT 'next transaction works'") == "next transaction works");
  const std::string new_pid = scalar(c.get(), "SELECT pg_backend_pid()");
  CHECK(new_pid != server_pid);
  CHECK(pgscale_alive());
}

TEST_CASE("limits: clients over max_client_connections get 53300; a full pool times out naming it", "[limits]") {
  const char* max_clients_env = std::getenv("PGSCALE_TEST_MAX_CLIENTS");
  if (!target().is_pgscale || max_clients_env == nullptr || target().pool_max != 1) {
    WARN("pgscale-only (needs PGSCALE_TEST_MAX_CLIENTS and a pool of max_size 1): skipped for " << describe_target());
    return;
  }
  const int max_clients = std::atoi(max_clients_env);
  std::vector<Conn> conns;
  for (int i = 0; i < max_clients; ++i) conns.push_back(must_connect());
  const auto over = connect_verbose(target_conninfo(), 15s);
  INFO("client number " << max_clients + 1 << ": " << over.message);
  CHECK_FALSE(over.ok);
  CHECK(over.sqlstate == "53300");
  conns.pop_back();
  std::this_thread::sleep_for(300ms);  // let pgscale see the close
  conns.push_back(must_connect());
  CHECK(scalar(conns.back().get(), "SELECT 'room again'") == "room again");

  // Pool of one server: client 0 holds it in a transaction, client 1 waits past checkout_timeout.
  REQUIRE(PQresultStatus(exec(conns[0].get(), "BEGIN").get()) == PGRES_COMMAND_OK);
  REQUIRE(scalar(conns[0].get(), "SELECT 'holding'") == "holding");
  const auto start = Clock::now();
  Result r = exec(conns[1].get(), "SELECT 'never'");
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  const std::string msg = PQresultErrorMessage(r.get());
  std::printf("limits: checkout timeout after %lld ms: SQLSTATE %s: %s", static_cast<long long>(waited),
              sqlstate(r.get()).c_str(), msg.c_str());
  CHECK(PQresultStatus(r.get()) == PGRES_FATAL_ERROR);
  CHECK((msg.find("s0-primary") != std::string::npos || msg.find("pool") != std::string::npos));
  REQUIRE(PQresultStatus(exec(conns[0].get(), "COMMIT").get()) == PGRES_COMMAND_OK);
  if (PQstatus(conns[1].get()) == CONNECTION_OK) {
    exec(conns[1].get(), "ROLLBACK");
    CHECK(scalar(conns[1].get(), "SELECT 'served once the pool is free'") == "served once the pool is free");
  }
  CHECK(pgscale_alive());
}

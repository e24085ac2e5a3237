// Session state that cannot be replayed pins a client to its server (issue 4): temporary tables,
// SQL PREPARE, DECLARE ... WITH HOLD, LISTEN, session advisory locks, SET ROLE. Each case checks the
// state survives the client's transactions while other clients run theirs, stays invisible to
// them, and that once the state is dropped (or its client leaves) nobody finds a trace of it.
//
// Target: client_env.hpp. Through pgscale the wrapper tests/integration/txpool_pinning.sh runs
// `~[pool1]` against a pool of 3 servers and `[pool1]` against a pool of ONE server with a short
// checkout timeout, where a second client must get 53300 while the first is pinned and must get
// the server once the state is gone. Directly (no pool) the same state assertions hold; the
// blocking ones only apply to a pgscale with PGSCALE_TEST_POOL_MAX=1.
#include <catch2/catch.hpp>
#include <poll.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/clients/client_env.hpp"

using namespace pgscale::testing;
using namespace std::chrono_literals;

namespace {

Conn must_connect(const std::string& app) {
  Conn c = connect(target_conninfo("options='' application_name=" + app));
  INFO("target: " << describe_target() << ": " << PQerrorMessage(c.get()));
  REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
  return c;
}

void must_exec(PGconn* c, const std::string& sql) {
  Result r = exec(c, sql);
  INFO(sql << " -> " << PQresultErrorMessage(r.get()));
  REQUIRE((PQresultStatus(r.get()) == PGRES_COMMAND_OK || PQresultStatus(r.get()) == PGRES_TUPLES_OK));
}

std::string state_of(PGconn* c, const std::string& sql) {
  Result r = exec(c, sql);
  if (PQresultStatus(r.get()) == PGRES_COMMAND_OK || PQresultStatus(r.get()) == PGRES_TUPLES_OK) return "00000";
  return sqlstate(r.get()).empty() ? std::string("<") + PQerrorMessage(c) + ">" : sqlstate(r.get());
}

// A role the app user may SET ROLE to (created once by the superuser).
void ensure_role() {
  Conn su = connect(super_conninfo());
  REQUIRE(PQstatus(su.get()) == CONNECTION_OK);
  const std::string app = cluster().get("PGSCALE_APP_USER");
  must_exec(su.get(), "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'txpool_role') THEN "
                      "CREATE ROLE txpool_role NOLOGIN; END IF; END$$");
  must_exec(su.get(), "SET client_min_messages = warning; GRANT txpool_role TO " + app);
}

// Other clients running short transactions (with their own SET) while a pinned client is idle:
// through pgscale they take whatever servers are free. None may see the pinned client's state.
struct Churn {
  std::vector<Conn> conns;
  explicit Churn(int n) {
    for (int i = 0; i < n; ++i) conns.push_back(must_connect("txpool_churn" + std::to_string(i)));
  }
  void run(int rounds, const std::string& must_be_zero_sql) {
    for (int r = 0; r < rounds; ++r) {
      for (auto& c : conns) {
        must_exec(c.get(), "BEGIN; SET LOCAL statement_timeout = 12345; SELECT pg_backend_pid(); COMMIT");
        INFO("churn client sees another client's state: " << must_be_zero_sql);
        CHECK(scalar(c.get(), must_be_zero_sql) == "0");
        CHECK(scalar(c.get(), "SHOW statement_timeout") != "12345ms");
      }
    }
  }
};

// Waits (bounded) until `c` has a notification; the connection stays idle meanwhile.
std::unique_ptr<PGnotify, void (*)(void*)> wait_notify(PGconn* c, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(PQconsumeInput(c) == 1);
    if (PGnotify* n = PQnotifies(c)) return {n, PQfreemem};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{PQsocket(c), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return {nullptr, PQfreemem};
}

bool pool_of_one() { return target().is_pgscale && target().pool_max == 1; }

// Directly, a backend ends asynchronously after its client hung up (its locks go with it): wait,
// bounded, until PostgreSQL has no backend `pid` any more. Through pgscale, pg_backend_pid() names
// a pooled server that stays, and pgscale itself must reset it before anyone else gets it.
void wait_backend_gone(const std::string& pid) {
  if (target().is_pgscale) return;
  Conn su = connect(super_conninfo());
  REQUIRE(PQstatus(su.get()) == CONNECTION_OK);
  for (int i = 0; i < 100; ++i) {
    if (scalar(su.get(), "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "0") return;
    std::this_thread::sleep_for(50ms);
  }
  FAIL("backend " << pid << " still there 5 s after its client disconnected");
}

}  // namespace

TEST_CASE("a temporary table survives its client's transactions and stays invisible to others", "[pin][temp]") {
  Conn a = must_connect("txpool_a");
  Conn b = must_connect("txpool_b");
  Churn churn(3);
  const std::string visible = "SELECT count(*) FROM pg_class WHERE relname = 'txp_tt' AND pg_table_is_visible(oid)";
  must_exec(a.get(), "CREATE TEMP TABLE txp_tt (v int)");
  for (int i = 1; i <= 5; ++i) {
    must_exec(a.get(), "BEGIN; INSERT INTO txp_tt VALUES (" + std::to_string(i) + "); COMMIT");
    must_exec(a.get(), "INSERT INTO txp_tt VALUES (100)");  // autocommit transaction
    churn.run(2, visible);
  }
  must_exec(a.get(), "BEGIN; INSERT INTO txp_tt VALUES (1000); ROLLBACK");
  CHECK(scalar(a.get(), "SELECT sum(v) FROM txp_tt") == "515");
  CHECK(state_of(b.get(), "SELECT * FROM txp_tt") == "42P01");
  // B's own temporary table of the same name: each client sees its own rows.
  must_exec(b.get(), "CREATE TEMP TABLE txp_tt (v int); INSERT INTO txp_tt VALUES (7)");
  churn.run(2, visible);
  CHECK(scalar(b.get(), "SELECT sum(v) FROM txp_tt") == "7");
  CHECK(scalar(a.get(), "SELECT sum(v) FROM txp_tt") == "515");
  must_exec(a.get(), "DROP TABLE txp_tt");
  must_exec(b.get(), "DROP TABLE txp_tt");
  CHECK(state_of(a.get(), "SELECT * FROM txp_tt") == "42P01");
  churn.run(1, visible);
}

TEST_CASE("LISTEN: an idle listener gets NOTIFY from another client, across its transactions", "[pin][listen]") {
  Conn a = must_connect("txpool_listener");
  Conn b = must_connect("txpool_notifier");
  Churn churn(3);
  must_exec(a.get(), "LISTEN txp_ch1");
  must_exec(a.get(), "BEGIN; SELECT 1; COMMIT");
  churn.run(2, "SELECT count(*) FROM pg_listening_channels()");
  must_exec(b.get(), "BEGIN; NOTIFY txp_ch1, 'rolled back'; ROLLBACK");  // never delivered
  must_exec(b.get(), "NOTIFY txp_ch1, 'first'");
  must_exec(b.get(), "BEGIN; NOTIFY txp_ch1, 'second'; NOTIFY txp_ch_other, 'not listened'; COMMIT");
  for (const char* want : {"first", "second"}) {
    auto n = wait_notify(a.get(), 10s);
    REQUIRE(n != nullptr);
    CHECK(std::string(n->relname) == "txp_ch1");
    CHECK(std::string(n->extra) == want);
  }
  // After UNLISTEN nothing on txp_ch1 arrives: the next notification A sees is the one on txp_ch2.
  must_exec(a.get(), "UNLISTEN txp_ch1");
  must_exec(b.get(), "NOTIFY txp_ch1, 'after unlisten'");
  churn.run(1, "SELECT count(*) FROM pg_listening_channels()");
  must_exec(a.get(), "LISTEN txp_ch2");
  must_exec(b.get(), "NOTIFY txp_ch2, 'marker'");
  auto n = wait_notify(a.get(), 10s);
  REQUIRE(n != nullptr);
  CHECK(std::string(n->relname) == "txp_ch2");
  CHECK(std::string(n->extra) == "marker");
  CHECK(scalar(a.get(), "SELECT string_agg(c, ',') FROM pg_listening_channels() c") == "txp_ch2");
  must_exec(a.get(), "UNLISTEN *");
  CHECK(scalar(a.get(), "SELECT count(*) FROM pg_listening_channels()") == "0");
}

TEST_CASE("SQL PREPARE / EXECUTE across transactions; other clients do not have it", "[pin][prepare]") {
  Conn a = must_connect("txpool_a");
  Conn b = must_connect("txpool_b");
  Churn churn(3);
  must_exec(a.get(), "PREPARE txp_q (int) AS SELECT $1 + 100");
  must_exec(a.get(), "BEGIN; SELECT 1; COMMIT");
  churn.run(2, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'txp_q'");
  CHECK(scalar(a.get(), "EXECUTE txp_q(1)") == "101");
  must_exec(a.get(), "BEGIN");
  CHECK(scalar(a.get(), "EXECUTE txp_q(2)") == "102");
  must_exec(a.get(), "COMMIT");
  CHECK(state_of(b.get(), "EXECUTE txp_q(1)") == "26000");
  CHECK(scalar(a.get(), "SELECT statement FROM pg_prepared_statements WHERE name = 'txp_q'") ==
        "PREPARE txp_q (int) AS SELECT $1 + 100");
  must_exec(a.get(), "DEALLOCATE txp_q");
  CHECK(state_of(a.get(), "EXECUTE txp_q(3)") == "26000");
}

TEST_CASE("DECLARE ... WITH HOLD: a cursor FETCHed across transactions", "[pin][cursor]") {
  Conn a = must_connect("txpool_a");
  Conn b = must_connect("txpool_b");
  Churn churn(3);
  must_exec(a.get(), "DECLARE txp_cur CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 10) g ORDER BY g");
  CHECK(scalar(a.get(), "FETCH 3 FROM txp_cur") == "1");
  churn.run(2, "SELECT count(*) FROM pg_cursors WHERE name = 'txp_cur'");
  must_exec(a.get(), "BEGIN");
  CHECK(scalar(a.get(), "FETCH 2 FROM txp_cur") == "4");
  must_exec(a.get(), "COMMIT");
  Result r = exec(a.get(), "FETCH 10 FROM txp_cur");
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(PQntuples(r.get()) == 5);
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "6");
  CHECK(state_of(b.get(), "FETCH 1 FROM txp_cur") == "34000");
  must_exec(a.get(), "CLOSE txp_cur");
  CHECK(state_of(a.get(), "FETCH 1 FROM txp_cur") == "34000");
}

TEST_CASE("a session advisory lock is held across its client's transactions", "[pin][advisory]") {
  Conn a = must_connect("txpool_a");
  Conn b = must_connect("txpool_b");
  Churn churn(3);
  must_exec(a.get(), "SELECT pg_advisory_lock(424242)");
  for (int i = 0; i < 3; ++i) {
    must_exec(a.get(), "BEGIN; SELECT 1; COMMIT");
    churn.run(1, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242 AND pid = pg_backend_pid()");
    CHECK(scalar(b.get(), "SELECT pg_try_advisory_lock(424242)") == "f");
  }
  CHECK(scalar(a.get(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242 AND "
                        "pid = pg_backend_pid()") == "1");
  CHECK(scalar(a.get(), "SELECT pg_advisory_unlock(424242)") == "t");
  CHECK(scalar(b.get(), "SELECT pg_try_advisory_lock(424242)") == "t");
  CHECK(scalar(b.get(), "SELECT pg_advisory_unlock(424242)") == "t");
}

TEST_CASE("SET ROLE holds across transactions and never reaches another client", "[pin][role]") {
  ensure_role();
  Conn a = must_connect("txpool_a");
  Conn b = must_connect("txpool_b");
  Churn churn(3);
  const std::string app = cluster().get("PGSCALE_APP_USER");
  must_exec(a.get(), "SET ROLE txpool_role");
  must_exec(a.get(), "BEGIN; SELECT 1; COMMIT");
  churn.run(2, "SELECT count(*) FROM (SELECT current_user) u WHERE current_user <> '" + app + "'");
  CHECK(scalar(a.get(), "SELECT current_user") == "txpool_role");
  CHECK(scalar(b.get(), "SELECT current_user") == app);
  must_exec(a.get(), "RESET ROLE");
  CHECK(scalar(a.get(), "SELECT current_user") == app);
}

namespace {

// B's statement while A holds the only server of a pool of one: 53300 after the checkout timeout.
void expect_blocked(Conn& b, const std::string& why) {
  if (!pool_of_one()) return;
  Result r = exec(b.get(), "SELECT 1");
  INFO("while A is pinned by " << why << ": " << PQresultErrorMessage(r.get()) << PQerrorMessage(b.get()));
  CHECK(PQresultStatus(r.get()) == PGRES_FATAL_ERROR);
  CHECK(sqlstate(r.get()) == "53300");
}

// B gets a server (reconnecting if the refusal closed its connection).
void expect_served(Conn& b, const std::string& why) {
  if (PQstatus(b.get()) != CONNECTION_OK) b = must_connect("txpool_b");
  INFO("after A dropped " << why);
  CHECK(scalar(b.get(), "SELECT 'served'") == "served");
}

struct PinCase {
  const char* reason;
  const char* pin;
  const char* use;    // still works in A's later transactions
  const char* unpin;
};

}  // namespace

TEST_CASE("pool of one server: a pinned client holds it; dropping the state frees it", "[pool1]") {
  ensure_role();
  const PinCase cases[] = {
      {"temp_table", "CREATE TEMP TABLE txp_p1 (v int)", "INSERT INTO txp_p1 VALUES (1)", "DROP TABLE txp_p1"},
      {"sql_prepare", "PREPARE txp_p1 AS SELECT 1", "EXECUTE txp_p1", "DEALLOCATE txp_p1"},
      {"hold_cursor", "DECLARE txp_p1 CURSOR WITH HOLD FOR SELECT 1", "MOVE ABSOLUTE 0 IN txp_p1", "CLOSE txp_p1"},
      {"listen", "LISTEN txp_p1", "SELECT 1", "UNLISTEN txp_p1"},
      {"advisory_lock", "SELECT pg_advisory_lock(4343)", "SELECT 1", "SELECT pg_advisory_unlock(4343)"},
      {"role", "SET ROLE txpool_role", "SELECT 1", "RESET ROLE"},
      {"discard_all", "CREATE TEMP TABLE txp_p1 (v int); PREPARE txp_p2 AS SELECT 1", "EXECUTE txp_p2",
       "DISCARD ALL"},
  };
  Conn a = must_connect("txpool_a");
  Conn b = must_connect("txpool_b");
  for (const auto& pc : cases) {
    SECTION(pc.reason) {
      INFO("pin reason " << pc.reason);
      must_exec(a.get(), pc.pin);
      for (int i = 0; i < 2; ++i) {
        must_exec(a.get(), std::string("BEGIN; ") + pc.use + "; COMMIT");
        expect_blocked(b, pc.reason);
        must_exec(a.get(), pc.use);
      }
      must_exec(a.get(), pc.unpin);
      expect_served(b, pc.reason);
      must_exec(a.get(), "SELECT 1");  // A gets a server again too
    }
  }
}

TEST_CASE("pool of one server: a pinned client leaving frees its server, reset", "[pool1]") {
  ensure_role();
  Conn b = must_connect("txpool_b");
  std::string a_pid;
  {
    Conn a = must_connect("txpool_a");
    a_pid = scalar(a.get(), "SELECT pg_backend_pid()");
    must_exec(a.get(), "CREATE TEMP TABLE txp_left (v int); PREPARE txp_left AS SELECT 1; "
                       "DECLARE txp_left CURSOR WITH HOLD FOR SELECT 1; LISTEN txp_left; "
                       "SELECT pg_advisory_lock(4444); SET statement_timeout = 23456; SET ROLE txpool_role");
    expect_blocked(b, "everything");
  }  // A disconnects while pinned
  wait_backend_gone(a_pid);
  // Through a pool of one, B now runs on A's former server: nothing of A's may be left there.
  expect_served(b, "everything by disconnecting");
  CHECK(state_of(b.get(), "SELECT * FROM txp_left") == "42P01");
  CHECK(state_of(b.get(), "EXECUTE txp_left") == "26000");
  CHECK(state_of(b.get(), "FETCH 1 FROM txp_left") == "34000");
  CHECK(scalar(b.get(), "SELECT count(*) FROM pg_listening_channels()") == "0");
  CHECK(scalar(b.get(), "SELECT pg_try_advisory_lock(4444)") == "t");
  CHECK(scalar(b.get(), "SELECT pg_advisory_unlock(4444)") == "t");
  CHECK(scalar(b.get(), "SHOW statement_timeout") != "23456ms");
  CHECK(scalar(b.get(), "SELECT current_user") == cluster().get("PGSCALE_APP_USER"));
  CHECK(scalar(b.get(), "SHOW application_name") == "txpool_b");
}

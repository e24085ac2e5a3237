// ServerConn::query and SessionState against real PostgreSQL 15 (shard 0's primary of the local
// cluster): settings are read back by the inspect query and replayed on a second connection; each
// pin reason is seen after its statement and gone after its undo.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <string>

#include "proxy/server_conn.hpp"
#include "proxy/session_state.hpp"

using namespace pgscale::proxy;
using namespace std::chrono_literals;

// GCC 12 reports a false -Wmismatched-new-delete for coroutine lambdas: Asio allocates frames with
// its recycling allocator and frees them with the matching operator delete (as in proxy/pq_conn.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {

std::map<std::string, std::string> cluster_env() {
  std::map<std::string, std::string> env;
  const char* dir = std::getenv("PGSCALE_CLUSTER_DIR");
  REQUIRE(dir != nullptr);
  std::ifstream in(std::string(dir) + "/cluster.env");
  REQUIRE(in.good());
  std::string line;
  for (int i = 0; i < 1000 && std::getline(in, line); ++i) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string v = line.substr(eq + 1);
    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"')) v = v.substr(1, v.size() - 2);
    env[line.substr(0, eq)] = v;
  }
  return env;
}

// Runs `body` as a coroutine on a fresh io_context; rethrows what it threw (Catch REQUIREs).
void run(std::function<asio::awaitable<void>()> body) {
  asio::io_context io;
  std::exception_ptr failure;
  asio::co_spawn(io, body(), [&](std::exception_ptr e) { failure = e; });
  io.run_for(120s);
  if (failure) std::rethrow_exception(failure);
}

struct Login {
  std::string user, password, database;
};

asio::awaitable<std::shared_ptr<ServerConn>> connect(const Login& login) {
  static auto env = cluster_env();
  static asio::ssl::context tls(asio::ssl::context::tls_client);
  ServerSpec spec;
  spec.node_name = "s0-primary";
  spec.host = "127.0.0.1";
  spec.port = static_cast<uint16_t>(std::stoi(env.at("PGSCALE_S0_PRIMARY_PORT")));
  spec.user = login.user;
  spec.database = login.database;
  ServerCredentials creds;
  creds.password = login.password;
  ConnectError err;
  auto conn = co_await ServerConn::connect(co_await asio::this_coro::executor, spec, creds, tls, err);
  INFO(err.message);
  REQUIRE(conn);
  co_return conn;
}

Login app_login() {
  auto env = cluster_env();
  return {env.at("PGSCALE_APP_USER"), env.at("PGSCALE_APP_PASSWORD"), env.at("PGSCALE_APP_DB")};
}

Login superuser_login() {
  auto env = cluster_env();
  return {env.at("PGSCALE_MONITOR_USER"), env.at("PGSCALE_MONITOR_PASSWORD"), env.at("PGSCALE_APP_DB")};
}

// A statement of "the client": noted, run, then the inspect query if the state asks for one.
asio::awaitable<void> client_runs(ServerConn& c, SessionState& st, const std::string& sql) {
  INFO(sql);
  st.note(analyze_effects(sql));
  auto r = co_await c.query(sql, 10s);
  REQUIRE(r);
  if (st.needs_inspect()) {
    auto ir = co_await c.query(st.inspect_sql(), 10s);
    REQUIRE(ir);
    REQUIRE(st.apply_inspect(*ir, c.settings()));
  }
}

asio::awaitable<std::string> show(ServerConn& c, const std::string& name) {
  auto r = co_await c.query("SHOW " + name, 10s);
  REQUIRE(r);
  REQUIRE(r->sets.size() == 1);
  REQUIRE(r->sets[0].size() == 1);
  REQUIRE(r->sets[0][0].size() == 1);
  REQUIRE(r->sets[0][0][0]);
  co_return *r->sets[0][0][0];
}

}  // namespace

TEST_CASE("ServerConn::query: result sets, errors, timeouts", "[server_query]") {
  run([]() -> asio::awaitable<void> {
    auto c = co_await connect(app_login());
    auto r = co_await c->query("SELECT 1 AS a, NULL::text AS b; SET pgscale_test.x = 'y'; "
                               "SELECT 'p' UNION ALL SELECT 'q''r'",
                               10s);
    REQUIRE(r);
    REQUIRE(r->sets.size() == 3);
    REQUIRE(r->sets[0].size() == 1);
    CHECK(r->sets[0][0][0] == std::optional<std::string>("1"));
    CHECK_FALSE(r->sets[0][0][1].has_value());
    CHECK(r->sets[1].empty());
    REQUIRE(r->sets[2].size() == 2);
    CHECK(r->sets[2][1][0] == std::optional<std::string>("q'r"));
    CHECK(c->idle());

    // An error ends at ReadyForQuery 'I': nullopt, yet the connection is usable.
    CHECK_FALSE(co_await c->query("SELECT 1/0", 10s));
    CHECK(c->idle());
    CHECK(co_await show(*c, "pgscale_test.x") == "y");

    // application_name changes are noted from ParameterStatus.
    REQUIRE(co_await c->query("SET application_name = 'renamed'", 10s));
    CHECK(c->app_name() == "renamed");
    CHECK(c->settings() == Settings{{"application_name", "renamed"}});

    // A reply that does not come in time: nullopt and not reusable. (The backend sleeps on after
    // the socket closes: kept short so it does not linger beside later tests on the shared cluster.)
    CHECK_FALSE(co_await c->query("SELECT pg_sleep(3)", 300ms));
    CHECK_FALSE(c->idle());

    // reset() still works (pool.reset_query).
    auto d = co_await connect(app_login());
    CHECK(co_await d->reset("DISCARD ALL", 10s));
    CHECK_FALSE(co_await d->reset("SELECT no_such_column", 10s));
  });
}

TEST_CASE("settings: read back by the inspect query, replayed on another connection", "[server_query]") {
  run([]() -> asio::awaitable<void> {
    auto a = co_await connect(app_login());
    auto b = co_await connect(app_login());
    SessionState st(Settings{{"application_name", "itest"}});
    // The client's first server: its application_name is set by replay.
    const std::string first = st.replay_sql(a->settings());
    REQUIRE(first.find("application_name") != std::string::npos);
    REQUIRE(co_await a->query(first, 10s));
    a->settings() = st.settings();
    CHECK(a->app_name() == "itest");

    co_await client_runs(*a, st,
                         "SET search_path = public, \"o'brien\"; SET statement_timeout = '7s'; "
                         "SET TimeZone = 'America/New_York'; SET application_name = E'it''s \\\\ here'");
    co_await client_runs(*a, st, "BEGIN; SET LOCAL work_mem = '9MB'; SET DateStyle = 'SQL, DMY'; ROLLBACK");
    CHECK_FALSE(st.pinned());
    const Settings& s = st.settings();
    auto value = [&](const std::string& name) -> std::string {
      for (const auto& [k, v] : s) {
        if (k == name) return v;
      }
      return "<absent>";
    };
    CHECK(value("search_path") == "public, \"o'brien\"");
    CHECK(value("statement_timeout") == "7000");
    CHECK(value("TimeZone") == "America/New_York");
    CHECK(value("application_name") == "it's \\ here");
    CHECK(value("work_mem") == "<absent>");   // SET LOCAL
    CHECK(value("DateStyle") == "<absent>");  // rolled back
    CHECK(a->settings() == s);

    const std::string replay = st.replay_sql(b->settings());
    INFO(replay);
    REQUIRE(co_await b->query(replay, 10s));
    b->settings() = st.settings();
    for (const char* name : {"search_path", "statement_timeout", "TimeZone", "application_name", "DateStyle"}) {
      INFO(name);
      CHECK(co_await show(*a, name) == co_await show(*b, name));
    }
    CHECK(co_await show(*b, "search_path") == "public, \"o'brien\"");
    CHECK(co_await show(*b, "statement_timeout") == "7s");
    CHECK(b->app_name() == "it's \\ here");
    CHECK(st.replay_sql(b->settings()).empty());

    // RESET on a: the inspect drops it, and the replay on b RESETs it there.
    co_await client_runs(*a, st, "RESET statement_timeout");
    const std::string back = st.replay_sql(b->settings());
    CHECK(back.find("RESET \"statement_timeout\"") != std::string::npos);
    REQUIRE(co_await b->query(back, 10s));
    b->settings() = st.settings();
    CHECK(co_await show(*b, "statement_timeout") == "0");
    CHECK(co_await show(*b, "search_path") == "public, \"o'brien\"");

    // The inspect after DISCARD ALL: settings back to the startup ones, application_name the client's.
    co_await client_runs(*a, st, "DISCARD ALL");
    st.discard_all();
    auto ir = co_await a->query(st.inspect_sql(), 10s);
    REQUIRE(ir);
    REQUIRE(st.apply_inspect(*ir, a->settings()));
    CHECK(st.settings() == Settings{{"application_name", "itest"}});
    CHECK(st.replay_sql(a->settings()) == "SELECT pg_catalog.set_config(E'application_name', E'itest', false);");

    // The pin checks run with SET LOCAL statement_timeout = 0, which must not leak into what the
    // settings part reads (it comes first).
    REQUIRE(co_await b->query(st.replay_sql(b->settings()), 10s));  // b serves the client now
    b->settings() = st.settings();
    co_await client_runs(*b, st, "SET statement_timeout = '250ms'; LISTEN tiny_timeout");
    CHECK(st.pinned_for(PinReason::listen));
    bool found = false;
    for (const auto& [k, v] : st.settings()) found = found || (k == "statement_timeout" && v == "250");
    CHECK(found);
    co_await client_runs(*b, st, "UNLISTEN *");
    CHECK_FALSE(st.pinned());
  });
}

namespace {

struct PinCase {
  PinReason reason;
  const char* take;
  const char* undo;
};

}  // namespace

TEST_CASE("pins: each reason seen after its statement and gone after its undo", "[server_query]") {
  run([]() -> asio::awaitable<void> {
    auto su = co_await connect(superuser_login());
    const std::string login = app_login().user;
    REQUIRE(co_await su->query("DO $$ BEGIN CREATE ROLE pgscale_state_test NOLOGIN; "
                               "EXCEPTION WHEN duplicate_object THEN NULL; END $$; "
                               "GRANT pgscale_state_test TO \"" + login + "\"",
                               10s));
    auto c = co_await connect(app_login());
    SessionState st;
    const PinCase cases[] = {
        {PinReason::temp_table, "CREATE TEMP TABLE pin_t (a int)", "DROP TABLE pin_t"},
        {PinReason::temp_table, "SELECT 1 AS a INTO TEMP pin_u", "DISCARD TEMP"},
        {PinReason::sql_prepare, "PREPARE pin_p AS SELECT 1", "DEALLOCATE pin_p"},
        {PinReason::hold_cursor, "DECLARE pin_c CURSOR WITH HOLD FOR SELECT 1", "CLOSE pin_c"},
        {PinReason::listen, "LISTEN pin_chan", "UNLISTEN *"},
        {PinReason::advisory_lock, "SELECT pg_advisory_lock(4242)", "SELECT pg_advisory_unlock_all()"},
        {PinReason::advisory_lock, "SELECT pg_try_advisory_lock_shared(4243)", "SELECT pg_advisory_unlock_shared(4243)"},
        {PinReason::role, "SET ROLE pgscale_state_test", "RESET ROLE"},
    };
    for (const auto& pc : cases) {
      INFO(pc.take);
      const auto i = static_cast<size_t>(pc.reason);
      const uint64_t before = pin_counters().pins_total[i].load();
      co_await client_runs(*c, st, pc.take);
      CHECK(st.pinned_for(pc.reason));
      CHECK(st.pinned());
      CHECK(pin_counters().pins_total[i].load() == before + 1);
      co_await client_runs(*c, st, pc.undo);
      CHECK_FALSE(st.pinned_for(pc.reason));
      CHECK_FALSE(st.pinned());
    }

    // What ends with its transaction never pins.
    co_await client_runs(*c, st, "BEGIN; CREATE TEMP TABLE pin_x (a int) ON COMMIT DROP; COMMIT");
    CHECK_FALSE(st.pinned());
    CHECK_FALSE(analyze_effects("BEGIN; SELECT pg_advisory_xact_lock(1); SET LOCAL ROLE pgscale_state_test; COMMIT").any());
    // A statement that fails half-way: the server's truth decides (nothing was created).
    st.note(analyze_effects("CREATE TEMP TABLE pin_y (a int); SELECT 1/0"));
    CHECK_FALSE(co_await c->query("CREATE TEMP TABLE pin_y (a int); SELECT 1/0", 10s));
    auto ir = co_await c->query(st.inspect_sql(), 10s);
    REQUIRE(ir);
    REQUIRE(st.apply_inspect(*ir, c->settings()));
    CHECK_FALSE(st.pinned());

    // SET SESSION AUTHORIZATION (superuser only) pins for role too.
    SessionState sst;
    co_await client_runs(*su, sst, "SET SESSION AUTHORIZATION \"" + login + "\"");
    CHECK(sst.pinned_for(PinReason::role));
    co_await client_runs(*su, sst, "RESET SESSION AUTHORIZATION");
    CHECK_FALSE(sst.pinned());
  });
}

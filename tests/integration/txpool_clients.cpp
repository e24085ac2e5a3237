// Many clients over few servers (issue 4): each client interleaves, in a random order, protocol-level
// prepared statements (names shared between clients with different texts, identical texts under
// different names), SET/RESET/set_config of search_path, statement_timeout, TimeZone and
// application_name, explicit transactions with SET LOCAL, COMMIT, ROLLBACK and errors, DEALLOCATE
// and DISCARD ALL. After every step it checks that it sees exactly its own state: the values it set
// are unique to it (and change per round), so another client's leaked setting, a lost SET, a
// statement prepared with another client's text or one that survived DISCARD ALL is a mismatch.
//
// Target: client_env.hpp (PostgreSQL directly unless PGSCALE_TEST_PORT names a pgscale), so the same
// assertions are validated against PostgreSQL. Knobs: TXPOOL_CLIENTS (100), TXPOOL_ROUNDS (40),
// TXPOOL_SEED (fixed default, printed), TXPOOL_DEADLINE_S (240: the whole run is bounded).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/clients/client_env.hpp"
#include "tests/integration/txpool_client.hpp"

using namespace pgscale::testing;
using namespace std::chrono_literals;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::atoi(v) : fallback;
}

void create_schemas(int clients) {
  Conn c = connect(direct_conninfo());
  REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
  std::string sql =
      "SET client_min_messages = warning; DROP TABLE IF EXISTS public.txpool_t; "
      "CREATE TABLE public.txpool_t (v int); INSERT INTO public.txpool_t VALUES (-1);";
  for (int i = 0; i < clients; ++i) {
    const std::string s = "txpool_s" + std::to_string(i);
    sql += "DROP SCHEMA IF EXISTS " + s + " CASCADE; CREATE SCHEMA " + s + "; CREATE TABLE " + s +
           ".txpool_t (v int); INSERT INTO " + s + ".txpool_t VALUES (" + std::to_string(i) + ");";
  }
  Result r = exec(c.get(), sql);
  INFO(PQresultErrorMessage(r.get()));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
}

// What a fresh session shows: read on a direct connection with the same conninfo options.
txpool::Defaults server_defaults() {
  Conn c = connect(direct_conninfo(txpool::kConnExtra));
  REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
  txpool::Defaults d;
  d.search_path = scalar(c.get(), "SELECT current_setting('search_path')");
  d.statement_timeout = scalar(c.get(), "SELECT current_setting('statement_timeout')");
  d.timezone = scalar(c.get(), "SELECT current_setting('TimeZone')");
  REQUIRE(d.timezone.find('<') == std::string::npos);
  return d;
}

// Counts the app user's backends on the shard-0 primary that this run made: only those started at or
// after `since_` (the server's clock when the workload began). A backend left by an earlier test of
// the same suite (they share one cluster), or by this program's own direct set-up connections, which
// PostgreSQL ends asynchronously, started before that and is not one of pgscale's: counting it made
// a full-suite run see max_size + 1. Every backend pgscale opens for this run starts after `since_`
// (its pool is empty until the first client logs in), including one it has let go of but that has
// not exited yet, so the count stays exact for what the pool limit promises.
class BackendSampler {
 public:
  BackendSampler() : su_(connect(super_conninfo())), user_(cluster().get("PGSCALE_APP_USER")) {
    REQUIRE(PQstatus(su_.get()) == CONNECTION_OK);
    since_ = scalar(su_.get(), "SELECT clock_timestamp()");
    REQUIRE(since_.find('<') == std::string::npos);
    report("app backends older than this run (not counted)", "backend_start < '" + since_ + "'");
  }
  int count() {
    const std::string v = scalar(su_.get(), "SELECT count(*) FROM pg_stat_activity WHERE " + app() + " AND " + mine());
    INFO("sample: " << v);
    REQUIRE(v.find('<') == std::string::npos);
    return std::stoi(v);
  }
  // Prints the counted backends (when a sample is over the limit: which ones they were).
  void report_mine(const char* why) { report(why, mine()); }

 private:
  std::string app() const { return "backend_type = 'client backend' AND usename = '" + user_ + "'"; }
  std::string mine() const { return "backend_start >= '" + since_ + "'"; }
  void report(const char* why, const std::string& where) {
    Result r = exec(su_.get(), "SELECT pid, coalesce(client_port, -1), coalesce(state, ''), backend_start, "
                               "application_name, left(query, 60) FROM pg_stat_activity WHERE " + app() + " AND " + where +
                               " ORDER BY backend_start");
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) == 0) return;
    std::printf("# %s: %d\n", why, PQntuples(r.get()));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      std::printf("#   pid %s port %s state '%s' since %s app '%s' query '%s'\n", PQgetvalue(r.get(), i, 0),
                  PQgetvalue(r.get(), i, 1), PQgetvalue(r.get(), i, 2), PQgetvalue(r.get(), i, 3),
                  PQgetvalue(r.get(), i, 4), PQgetvalue(r.get(), i, 5));
    }
  }
  Conn su_;
  std::string user_;
  std::string since_;
};

}  // namespace

TEST_CASE("many clients over few servers each see only their own prepared statements and settings",
          "[txpool][clients]") {
  const int clients = env_int("TXPOOL_CLIENTS", 100);
  const int rounds = env_int("TXPOOL_ROUNDS", 40);
  const unsigned seed = static_cast<unsigned>(env_int("TXPOOL_SEED", 20261126));
  const int deadline_s = env_int("TXPOOL_DEADLINE_S", 240);
  INFO("target: " << describe_target() << ", " << clients << " clients, " << rounds << " rounds, seed " << seed);
  create_schemas(clients);
  const txpool::Defaults defaults = server_defaults();
  const std::string conninfo = target_conninfo(txpool::kConnExtra);

  BackendSampler sampler;  // before the first client connects: pgscale's pool is still empty
  std::vector<std::unique_ptr<txpool::Client>> workers;
  for (int i = 0; i < clients; ++i) {
    workers.push_back(std::make_unique<txpool::Client>(i, conninfo, defaults, seed + static_cast<unsigned>(i)));
  }
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&finished, &w, rounds] {
      w->run(rounds);
      finished.fetch_add(1);
    });
  }
  // Sample the app user's server connections on the primary while the clients run: through pgscale
  // they must stay within the pool (pgscale_test_pool_max); directly every client is one.
  int max_server_conns = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(deadline_s);
  while (finished.load() < clients && std::chrono::steady_clock::now() < deadline) {
    const int n = sampler.count();
    if (target().is_pgscale && target().pool_max > 0 && n > target().pool_max && n > max_server_conns) {
      sampler.report_mine("app backends over the pool limit");
    }
    max_server_conns = std::max(max_server_conns, n);
    std::this_thread::sleep_for(200ms);
  }
  if (finished.load() < clients) {
    // Blocked clients cannot be joined; report and leave (the process exit closes their sockets).
    std::fprintf(stderr, "FAIL: %d of %d clients still running after %d s (target %s)\n", clients - finished.load(),
                 clients, deadline_s, describe_target().c_str());
    for (auto& w : workers) w->print_errors(stderr, 3);
    std::fflush(stderr);
    std::_Exit(1);
  }
  for (auto& t : threads) t.join();

  long checks = 0, errors = 0, connected = 0;
  for (auto& w : workers) {
    checks += w->checks();
    errors += w->mismatches();
    connected += w->connected() ? 1 : 0;
    w->print_errors(stdout, 5);
  }
  std::printf("# %s: %d clients x %d rounds, %ld checks, %ld mismatches, most app server connections seen %d\n",
              describe_target().c_str(), clients, rounds, checks, errors, max_server_conns);
  CHECK(connected == clients);
  CHECK(errors == 0);
  CHECK(checks >= static_cast<long>(clients) * rounds);
  CHECK(pgscale_alive());
  if (target().is_pgscale && target().pool_max > 0) {
    CHECK(max_server_conns <= target().pool_max);
  }
}

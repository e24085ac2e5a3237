// The Monitor against the real local cluster (deploy/local-cluster.sh via tests/run.sh).
#include <catch2/catch.hpp>

#include "monitor_cluster.hpp"
#include "proxy/classifier.hpp"
#include "proxy/lsn.hpp"

using namespace std::chrono_literals;
using pgscale::Lsn;
using pgscale::NodeHealth;
using pgscale::NodeState;
using pgscale::ObservedRole;
using pgscale::Topology;
using pgscale::test::Cluster;
using pgscale::test::cluster_config;
using pgscale::test::MonitorRunner;
using pgscale::test::sql;
using pgscale::test::wait_for;

namespace {

const NodeState& node(const Topology& t, const char* name) {
  const NodeState* n = t.find(name);
  INFO("node " << name);
  REQUIRE(n != nullptr);
  return *n;
}

bool all_up(const Topology& t) {
  if (t.shards.empty()) return false;
  for (const auto& s : t.shards)
    for (const auto& n : s.nodes)
      if (!n.is_up()) return false;
  return true;
}

bool replicas_caught_up(const Topology& t) {
  for (const auto& s : t.shards)
    for (const auto& n : s.nodes)
      if (n.observed_role == ObservedRole::in_recovery && n.lag_bytes != 0u) return false;
  return all_up(t);
}

// Resumes replay even when an assertion fails, so later tests find a healthy cluster.
struct ResumeReplay {
  uint16_t port;
  ~ResumeReplay() { sql(port, "SELECT pg_wal_replay_resume()"); }
};

}  // namespace

TEST_CASE("monitor sees roles as they are and no lag at rest", "[monitor]") {
  MonitorRunner runner(cluster_config());
  auto t = wait_for(runner.store(), replicas_caught_up);
  REQUIRE(t != nullptr);
  CHECK(t->version >= 1);
  for (const char* p : {"s0-primary", "s1-primary"}) {
    const auto& n = node(*t, p);
    CHECK(n.observed_role == ObservedRole::primary);
    CHECK_FALSE(n.role_mismatch);
    CHECK(n.current_lsn.has_value());
    CHECK_FALSE(n.replay_lsn.has_value());
    CHECK(n.consecutive_failures == 0u);
    CHECK(n.last_check.has_value());
  }
  for (const char* r : {"s0-replica1", "s0-replica2", "s1-replica1"}) {
    const auto& n = node(*t, r);
    CHECK(n.observed_role == ObservedRole::in_recovery);
    CHECK_FALSE(n.role_mismatch);
    REQUIRE(n.replay_lsn.has_value());
    CHECK(n.receive_lsn.has_value());
    CHECK_FALSE(n.current_lsn.has_value());
    CHECK_FALSE(n.replay_paused);
    CHECK(n.lag_bytes == 0u);
    CHECK(n.lag_time == 0ms);  // caught up: zero, whatever the age of the last replayed commit
  }
  REQUIRE(t->primary(0) != nullptr);
  CHECK(t->primary(0)->config.name == "s0-primary");
  REQUIRE(t->primary(1) != nullptr);
  CHECK(t->primary(1)->config.name == "s1-primary");
  pgscale::config::ReplicaLagLimit strict{0, 0ms};
  CHECK(t->eligible_replicas(0, strict).size() == 2);
  CHECK(t->eligible_replicas(1, strict).size() == 1);
  // Read-your-writes: every replica has replayed the primary's position of this round.
  const Lsn p0 = *t->primary_lsn(0);
  CHECK(Topology::replica_replayed_past(node(*t, "s0-replica1"), p0));
  CHECK_FALSE(Topology::replica_replayed_past(node(*t, "s0-replica1"), Lsn{p0.value + 1}));
  // Versions only grow.
  auto later = wait_for(runner.store(), [&](const Topology& x) { return x.version > t->version; });
  REQUIRE(later != nullptr);
}

TEST_CASE("paused replay: the byte lag grows, then returns to zero after resume", "[monitor]") {
  const auto& c = Cluster::instance();
  const uint16_t primary = c.port("PGSCALE_S0_PRIMARY_PORT");
  const uint16_t replica = c.port("PGSCALE_S0_REPLICA1_PORT");
  MonitorRunner runner(cluster_config());
  REQUIRE(wait_for(runner.store(), replicas_caught_up) != nullptr);

  ResumeReplay guard{replica};
  sql(replica, "SELECT pg_wal_replay_pause()");
  REQUIRE(wait_for(runner.store(), [](const Topology& t) { const auto* r = t.find("s0-replica1"); return r && r->replay_paused; }));
  sql(primary, "CREATE TABLE IF NOT EXISTS pgscale_monitor_test (id int, pad text)");
  sql(primary, "INSERT INTO pgscale_monitor_test SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g");
  const auto inserted = std::chrono::steady_clock::now();  // the next primary sample includes it

  auto lagging = wait_for(runner.store(), [inserted](const Topology& t) {
    const auto* r = t.find("s0-replica1");
    const auto* r2 = t.find("s0-replica2");
    const auto* p = t.find("s0-primary");
    return r && r2 && p && p->observed_at && *p->observed_at > inserted &&
           r->lag_bytes.value_or(0) > 0 && r2->lag_bytes == 0u;
  });
  REQUIRE(lagging != nullptr);
  const auto& r1 = node(*lagging, "s0-replica1");
  const auto& p = node(*lagging, "s0-primary");
  // Exact arithmetic against the primary's position of the same round.
  REQUIRE(p.current_lsn.has_value());
  REQUIRE(r1.replay_lsn.has_value());
  CHECK(*r1.lag_bytes == pgscale::lsn_bytes_behind(*p.current_lsn, *r1.replay_lsn));
  CHECK(*r1.lag_bytes > 100u * 2000u);  // at least the inserted payload (sampled after the insert)
  REQUIRE(r1.lag_time.has_value());
  CHECK(*r1.lag_time > 0ms);
  CHECK(r1.replay_paused);
  CHECK(r1.is_up());  // lagging is not down: the router decides by the lag budget
  // Out of a byte budget smaller than its lag, still in one larger than it.
  pgscale::config::ReplicaLagLimit tight{*r1.lag_bytes - 1, std::nullopt};
  auto eligible = lagging->eligible_replicas(0, tight);
  REQUIRE(eligible.size() == 1);
  CHECK(eligible[0]->config.name == "s0-replica2");
  pgscale::config::ReplicaLagLimit loose{*r1.lag_bytes, std::nullopt};
  CHECK(lagging->eligible_replicas(0, loose).size() == 2);
  // A write "committed" at the primary's position is not visible on the paused replica.
  CHECK_FALSE(Topology::replica_replayed_past(r1, *p.current_lsn));
  CHECK(Topology::replica_replayed_past(node(*lagging, "s0-replica2"), *p.current_lsn));

  sql(replica, "SELECT pg_wal_replay_resume()");
  auto recovered = wait_for(runner.store(), [](const Topology& t) {
    const auto* r = t.find("s0-replica1");
    return r && r->lag_bytes == 0u && !r->replay_paused;
  });
  REQUIRE(recovered != nullptr);
  CHECK(node(*recovered, "s0-replica1").lag_time == 0ms);
  sql(primary, "DROP TABLE pgscale_monitor_test");
}

TEST_CASE("a node on a closed port goes down without holding up the others", "[monitor]") {
  auto cfg = cluster_config();
  pgscale::config::NodeConfig ghost;
  ghost.name = "s0-ghost";
  ghost.host = "127.0.0.1";
  ghost.port = pgscale::test::closed_port();
  cfg.shards[0].nodes.push_back(ghost);
  MonitorRunner runner(cfg);

  auto t = wait_for(runner.store(), [](const Topology& x) {
    const auto* g = x.find("s0-ghost");
    return g && g->health == NodeHealth::down;
  });
  REQUIRE(t != nullptr);
  const auto& g = node(*t, "s0-ghost");
  CHECK(g.consecutive_failures >= 3u);
  CHECK_FALSE(g.last_error.empty());
  CHECK(g.last_error.find("timeout") == std::string::npos);  // refused, well within the timeout
  CHECK(g.observed_role == ObservedRole::unknown);
  CHECK_FALSE(g.is_up());
  // Every real node was checked in the same rounds and is up, with fresh lag figures.
  for (const auto& n : t->shards[0].nodes) {
    if (n.config.name == "s0-ghost") continue;
    CHECK(n.is_up());
    CHECK(n.last_check.has_value());
  }
  for (const auto* r : t->eligible_replicas(0, {std::nullopt, std::nullopt}))
    CHECK(r->config.name != "s0-ghost");

  // SIGHUP without the ghost: it disappears, the others keep their state.
  auto reduced = cluster_config();
  runner.monitor().update_config(reduced);
  auto after = wait_for(runner.store(), [](const Topology& x) { return x.find("s0-ghost") == nullptr; });
  REQUIRE(after != nullptr);
  CHECK(node(*after, "s0-primary").is_up());
  CHECK(after->shards[0].nodes.size() == 3);
}

TEST_CASE("a stopped replica goes down and comes back when restarted", "[monitor]") {
  MonitorRunner runner(cluster_config());
  REQUIRE(wait_for(runner.store(), replicas_caught_up) != nullptr);
  struct Restart {
    ~Restart() { pgscale::test::pg_ctl("s1-replica1", "start"); }
  } restart_guard;
  REQUIRE(pgscale::test::pg_ctl("s1-replica1", "stop") == 0);
  auto down = wait_for(runner.store(), [](const Topology& t) {
    const auto* n = t.find("s1-replica1");
    return n && n->health == NodeHealth::down;
  });
  REQUIRE(down != nullptr);
  CHECK(node(*down, "s1-replica1").consecutive_failures >= 3u);
  CHECK(down->eligible_replicas(1, {std::nullopt, std::nullopt}).empty());
  CHECK(node(*down, "s1-primary").is_up());

  REQUIRE(pgscale::test::pg_ctl("s1-replica1", "start") == 0);
  auto up = wait_for(runner.store(), [](const Topology& t) {
    const auto* n = t.find("s1-replica1");
    return n && n->is_up() && n->lag_bytes == 0u;
  }, 60s);
  REQUIRE(up != nullptr);
  CHECK(node(*up, "s1-replica1").consecutive_failures == 0u);
  CHECK(up->eligible_replicas(1, {0, 0ms}).size() == 1);
}

TEST_CASE("report_failure bans a replica until the ban passed and a check passed", "[monitor]") {
  MonitorRunner runner(cluster_config());
  REQUIRE(wait_for(runner.store(), replicas_caught_up) != nullptr);
  runner.monitor().report_failure("s0-replica2");
  runner.monitor().report_failure("s0-primary");  // primaries are never banned
  auto banned = wait_for(runner.store(), [](const Topology& t) { const auto* n = t.find("s0-replica2"); return n && n->is_banned(); });
  REQUIRE(banned != nullptr);
  CHECK_FALSE(node(*banned, "s0-primary").is_banned());
  auto eligible = banned->eligible_replicas(0, {std::nullopt, std::nullopt});
  REQUIRE(eligible.size() == 1);
  CHECK(eligible[0]->config.name == "s0-replica1");
  auto back = wait_for(runner.store(), [](const Topology& t) { const auto* n = t.find("s0-replica2"); return n && !n->is_banned(); });
  REQUIRE(back != nullptr);
  const auto& r2 = node(*back, "s0-replica2");
  REQUIRE(r2.last_check.has_value());
  REQUIRE(node(*banned, "s0-replica2").banned_until.has_value());
  CHECK(*r2.last_check >= *node(*banned, "s0-replica2").banned_until);  // returned via a check
  CHECK(back->eligible_replicas(0, {std::nullopt, std::nullopt}).size() == 2);
}

TEST_CASE("a role that differs from the YAML is flagged; writes never go to a node in recovery",
          "[monitor]") {
  auto cfg = cluster_config();
  std::swap(cfg.shards[0].nodes[0].role, cfg.shards[0].nodes[1].role);  // YAML is wrong
  MonitorRunner runner(cfg);
  auto t = wait_for(runner.store(), all_up);
  REQUIRE(t != nullptr);
  CHECK(node(*t, "s0-primary").role_mismatch);
  CHECK(node(*t, "s0-replica1").role_mismatch);
  CHECK_FALSE(node(*t, "s0-replica2").role_mismatch);
  REQUIRE(t->primary(0) != nullptr);
  CHECK(t->primary(0)->config.name == "s0-primary");  // observed, not configured
  runner.monitor().set_fenced("s0-primary", true);
  auto fenced = wait_for(runner.store(), [](const Topology& x) { const auto* n = x.find("s0-primary"); return n && n->fenced; });
  REQUIRE(fenced != nullptr);
  CHECK(fenced->primary(0) == nullptr);  // the configured "primary" is in recovery: still no
}

TEST_CASE("the function catalog comes from the primary's pg_proc and refreshes on demand",
          "[monitor]") {
  using pgscale::classifier::FunctionCatalog;
  using pgscale::classifier::Volatility;
  const uint16_t primary = Cluster::instance().port("PGSCALE_S0_PRIMARY_PORT");
  sql(primary, "CREATE OR REPLACE FUNCTION pgscale_mon_stable() RETURNS int STABLE LANGUAGE sql AS 'SELECT 1'");
  sql(primary, "DROP FUNCTION IF EXISTS pgscale_mon_late()");
  struct Drop {
    uint16_t port;
    ~Drop() {
      sql(port, "DROP FUNCTION IF EXISTS pgscale_mon_stable()");
      sql(port, "DROP FUNCTION IF EXISTS pgscale_mon_late()");
    }
  } drop{primary};

  std::atomic<std::shared_ptr<const FunctionCatalog>> latest;
  std::atomic<int> deliveries{0};
  MonitorRunner runner(cluster_config());
  runner.monitor().set_function_catalog_sink([&](std::shared_ptr<const FunctionCatalog> c) {
    latest.store(std::move(c));
    ++deliveries;
  });
  auto got = [&](const char* name, Volatility v) {
    return wait_for(runner.store(), [&](const Topology&) {
      auto c = latest.load();
      return c && c->volatility(name) == v;
    }) != nullptr;
  };
  REQUIRE(got("pgscale_mon_stable", Volatility::stable));
  CHECK(latest.load()->volatility("nextval") == Volatility::volatile_);
  CHECK(latest.load()->volatility("lower") == Volatility::immutable);
  CHECK(latest.load()->volatility("pgscale_mon_late") == Volatility::unknown);

  sql(primary, "CREATE FUNCTION pgscale_mon_late() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1'");
  runner.monitor().refresh_function_catalog();  // the classifier met an unknown name
  CHECK(got("pgscale_mon_late", Volatility::volatile_));
  CHECK(deliveries.load() >= 2);
}

TEST_CASE("check_now runs a round at once: a primary LSN observed after a commit", "[monitor]") {
  const auto& c = Cluster::instance();
  const uint16_t primary = c.port("PGSCALE_S0_PRIMARY_PORT");
  auto cfg = cluster_config();
  cfg.monitor.interval = std::chrono::hours{1};  // without check_now there is no second round
  MonitorRunner runner(cfg);
  auto first = wait_for(runner.store(), all_up);
  REQUIRE(first != nullptr);

  sql(primary, "CREATE TABLE IF NOT EXISTS pgscale_monitor_ryw (x int)");
  sql(primary, "INSERT INTO pgscale_monitor_ryw VALUES (1)");
  const auto commit_lsn = pgscale::parse_lsn(sql(primary, "SELECT pg_current_wal_lsn()"));
  REQUIRE(commit_lsn.has_value());
  runner.monitor().check_now();
  auto fresh = wait_for(runner.store(), [&](const Topology& t) {
    auto lsn = t.primary_lsn(0);
    return lsn && *lsn >= *commit_lsn;
  });
  REQUIRE(fresh != nullptr);
  CHECK(fresh->version > first->version);
  // Replicas become usable for this client's reads once a round shows them past the commit.
  auto replayed = wait_for(runner.store(), [&](const Topology& t) {
    runner.monitor().check_now();
    const auto* r1 = t.find("s0-replica1");
    const auto* r2 = t.find("s0-replica2");
    return r1 && r2 && Topology::replica_replayed_past(*r1, *commit_lsn) &&
           Topology::replica_replayed_past(*r2, *commit_lsn);
  });
  REQUIRE(replayed != nullptr);
  sql(primary, "DROP TABLE pgscale_monitor_ryw");
}

#include <catch2/catch.hpp>

#include <algorithm>

#include "config/diff.hpp"
#include "config/load.hpp"
#include "helpers.hpp"

using namespace pgscale::config;

namespace {

Config base() {
  const LoadResult r = load_file(pgscale::config::test::example("pgscale.yaml"));
  REQUIRE(r.ok());
  return *r.config;
}

bool contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

}  // namespace

TEST_CASE("identical configs have an empty diff", "[config][diff]") {
  const ConfigDiff d = diff(base(), base());
  CHECK(d.empty());
  CHECK_FALSE(d.has_reloadable_changes());
  CHECK(describe(d).empty());
}

TEST_CASE("users added, removed and changed; passwords never printed", "[config][diff]") {
  Config a = base(), b = base();
  b.users[0].password = "new-secret";
  b.users[0].databases.push_back("other");
  b.users.erase(b.users.begin() + 1);                     // report removed
  b.users.push_back(UserConfig{"etl", AuthMethod::trust, "", "", {}});
  const ConfigDiff d = diff(a, b);
  CHECK(d.users_added == std::vector<std::string>{"etl"});
  CHECK(d.users_removed == std::vector<std::string>{"report"});
  REQUIRE(d.users_changed.size() == 1);
  CHECK(d.users_changed[0].name == "app");
  REQUIRE(d.users_changed[0].fields.size() == 2);
  CHECK(d.users_changed[0].fields[0].path == "password");
  CHECK(d.users_changed[0].fields[0].after == "(hidden)");
  CHECK(d.users_changed[0].fields[1].after == "[appdb, other]");
  const auto lines = describe(d);
  CHECK(contains(lines, "user app changed: password, databases"));
  CHECK_FALSE(contains(lines, "new-secret"));
  CHECK(d.needs_restart.empty());
}

TEST_CASE("pool settings changes are listed field by field", "[config][diff]") {
  Config a = base(), b = base();
  b.pool.max_size = 30;
  b.pool.idle_timeout = Millis{60000};
  const ConfigDiff d = diff(a, b);
  REQUIRE(d.pool.size() == 2);
  CHECK(d.pool[0].path == "pool.max_size");
  CHECK(d.pool[0].before == "20");
  CHECK(d.pool[0].after == "30");
  CHECK(contains(describe(d), "pool.idle_timeout: 10min -> 1min"));
  CHECK(d.has_reloadable_changes());
}

TEST_CASE("nodes added, removed and changed by name across shards", "[config][diff]") {
  Config a = base(), b = base();
  b.shards[0].nodes[1].port = 16000;                      // s0-replica1 changed
  b.shards[0].nodes.pop_back();                           // s0-replica2 removed
  b.shards[1].nodes.push_back(NodeConfig{"s1-replica2", "127.0.0.1", 15437, NodeRole::replica, 100, 1});
  auto moved = b.shards[1].nodes[1];                      // s1-replica1 moves to s0
  b.shards[1].nodes.erase(b.shards[1].nodes.begin() + 1);
  b.shards[0].nodes.push_back(moved);
  const ConfigDiff d = diff(a, b);
  CHECK(d.nodes_added == std::vector<std::string>{"s1-replica2"});
  CHECK(d.nodes_removed == std::vector<std::string>{"s0-replica2"});
  REQUIRE(d.nodes_changed.size() == 2);
  CHECK(d.nodes_changed[0].name == "s0-replica1");
  CHECK(d.nodes_changed[0].fields[0].path == "port");
  CHECK(d.nodes_changed[1].name == "s1-replica1");
  CHECK(d.nodes_changed[1].fields[0].path == "shard");
  CHECK(contains(describe(d), "node s0-replica1 changed: port: 15433 -> 16000"));
}

TEST_CASE("a promoted node shows as a role change", "[config][diff]") {
  Config a = base(), b = base();
  std::swap(b.shards[0].nodes[0].role, b.shards[0].nodes[1].role);
  const ConfigDiff d = diff(a, b);
  REQUIRE(d.nodes_changed.size() == 2);
  CHECK(contains(describe(d), "node s0-primary changed: role: primary -> replica"));
}

TEST_CASE("moved buckets and added shards", "[config][diff]") {
  Config a = base(), b = base();
  b.shards[0].buckets = {{0, 255}};
  b.shards[1].buckets = {{256, 1023}};
  b.shards.push_back(ShardConfig{"s2", {}, {}});
  const ConfigDiff d = diff(a, b);
  CHECK(d.buckets.size() == 2);
  CHECK(contains(describe(d), "shards.s0.buckets: [0..511] -> [0..255]"));
  CHECK(d.shards_added == std::vector<std::string>{"s2"});
  CHECK(d.needs_restart.empty());
}

TEST_CASE("listen, workers, admin port and virtual_shards need a restart", "[config][diff]") {
  Config a = base(), b = base();
  b.listen.port = 7432;
  b.listen.address = "0.0.0.0";
  b.listen.workers = 8;
  b.listen.busy_poll_us = 100;
  b.admin.http_port = 7433;
  b.sharding.virtual_shards = 2048;
  const ConfigDiff d = diff(a, b);
  CHECK(d.needs_restart.size() == 6);
  CHECK_FALSE(d.has_reloadable_changes());
  CHECK_FALSE(d.empty());
  const auto lines = describe(d);
  CHECK(contains(lines, "listen.port: 6432 -> 7432 (needs restart, ignored)"));
  CHECK(contains(lines, "listen.workers: 0 -> 8 (needs restart, ignored)"));
  CHECK(contains(lines, "listen.busy_poll_us: 0 -> 100 (needs restart, ignored)"));
  CHECK(contains(lines, "sharding.virtual_shards: 1024 -> 2048 (needs restart, ignored)"));
}

TEST_CASE("routing, monitor, failover and log changes are reloadable", "[config][diff]") {
  Config a = base(), b = base();
  b.routing.max_replica_lag.bytes.reset();
  b.monitor.password = "s3cret";
  b.failover.enabled = true;
  b.log.level = "debug";
  b.listen.max_client_connections = 5;
  const ConfigDiff d = diff(a, b);
  CHECK(d.other.size() == 5);
  CHECK(d.needs_restart.empty());
  const auto lines = describe(d);
  CHECK(contains(lines, "routing.max_replica_lag.bytes: 16MB -> off"));
  CHECK(contains(lines, "monitor.password: (hidden) -> (hidden)"));
  CHECK_FALSE(contains(lines, "s3cret"));
  CHECK(contains(lines, "log.level: info -> debug"));
}

// Topology helpers on hand-built snapshots: what the router relies on.
#include <catch2/catch.hpp>

#include <thread>

#include "proxy/topology.hpp"

using namespace std::chrono_literals;
using pgscale::Lsn;
using pgscale::NodeHealth;
using pgscale::NodeState;
using pgscale::ObservedRole;
using pgscale::Topology;
using pgscale::TopologyStore;
using pgscale::config::NodeRole;
using pgscale::config::ReplicaLagLimit;

namespace {

NodeState node(std::string name, NodeRole configured, ObservedRole observed,
               NodeHealth health = NodeHealth::up) {
  NodeState n;
  n.config.name = std::move(name);
  n.config.host = "127.0.0.1";
  n.config.role = configured;
  n.observed_role = observed;
  n.health = health;
  return n;
}

NodeState replica(std::string name, uint64_t lag_bytes, std::chrono::milliseconds lag_time,
                  uint64_t replay = 0) {
  NodeState n = node(std::move(name), NodeRole::replica, ObservedRole::in_recovery);
  n.lag_bytes = lag_bytes;
  n.lag_time = lag_time;
  n.replay_lsn = Lsn{replay};
  return n;
}

Topology one_shard(std::vector<NodeState> nodes) {
  Topology t;
  t.version = 1;
  t.shards.push_back({"s0", std::move(nodes)});
  return t;
}

std::vector<std::string> names(const std::vector<const NodeState*>& v) {
  std::vector<std::string> out;
  for (auto* n : v) out.push_back(n->config.name);
  return out;
}

}  // namespace

TEST_CASE("primary(): only an up node observed out of recovery", "[topology]") {
  auto t = one_shard({node("p", NodeRole::primary, ObservedRole::in_recovery),
                      node("r", NodeRole::replica, ObservedRole::in_recovery)});
  CHECK(t.primary(0) == nullptr);  // the YAML says primary, but it is in recovery: no writes
  t.shards[0].nodes[1].observed_role = ObservedRole::primary;  // promoted replica
  REQUIRE(t.primary(0) != nullptr);
  CHECK(t.primary(0)->config.name == "r");
  t.shards[0].nodes[1].health = NodeHealth::down;
  CHECK(t.primary(0) == nullptr);
  t.shards[0].nodes[1].health = NodeHealth::unknown;
  CHECK(t.primary(0) == nullptr);
  CHECK(t.primary(7) == nullptr);  // no such shard
}

TEST_CASE("primary(): fenced never, configured primary preferred in a split brain", "[topology]") {
  auto t = one_shard({node("r", NodeRole::replica, ObservedRole::primary),
                      node("p", NodeRole::primary, ObservedRole::primary)});
  t.shards[0].nodes[0].config.priority = 1000;
  REQUIRE(t.primary(0) != nullptr);
  CHECK(t.primary(0)->config.name == "p");
  t.shards[0].nodes[1].fenced = true;
  REQUIRE(t.primary(0) != nullptr);
  CHECK(t.primary(0)->config.name == "r");
  t.shards[0].nodes[1].current_lsn = Lsn{5};
  t.shards[0].nodes[0].current_lsn = Lsn{9};
  CHECK(t.primary_lsn(0) == Lsn{9});
}

TEST_CASE("eligible_replicas(): up, in recovery, not banned, within the lag budget", "[topology]") {
  auto t = one_shard({node("p", NodeRole::primary, ObservedRole::primary),
                      replica("fresh", 0, 0ms), replica("far-bytes", 64 << 20, 10ms),
                      replica("far-time", 100, 9000ms), replica("banned", 0, 0ms),
                      replica("down", 0, 0ms), replica("promoted", 0, 0ms),
                      replica("unknown-lag", 0, 0ms)});
  auto& n = t.shards[0].nodes;
  n[4].banned_until = pgscale::SteadyClock::now() + 30s;
  n[5].health = NodeHealth::down;
  n[6].observed_role = ObservedRole::primary;
  n[7].lag_bytes.reset();
  n[7].lag_time.reset();

  ReplicaLagLimit both{16u << 20, 5000ms};
  CHECK(names(t.eligible_replicas(0, both)) == std::vector<std::string>{"fresh"});

  ReplicaLagLimit bytes_only{16u << 20, std::nullopt};
  CHECK(names(t.eligible_replicas(0, bytes_only)) ==
        std::vector<std::string>{"fresh", "far-time"});

  ReplicaLagLimit time_only{std::nullopt, 5000ms};
  CHECK(names(t.eligible_replicas(0, time_only)) ==
        std::vector<std::string>{"fresh", "far-bytes"});

  ReplicaLagLimit none{std::nullopt, std::nullopt};  // unknown lag is fine when nothing is limited
  CHECK(names(t.eligible_replicas(0, none)) ==
        std::vector<std::string>{"fresh", "far-bytes", "far-time", "unknown-lag"});

  ReplicaLagLimit exact{100, 9000ms};  // limits are inclusive
  CHECK(names(t.eligible_replicas(0, exact)) == std::vector<std::string>{"fresh", "far-time"});
  CHECK(t.eligible_replicas(3, both).empty());
}

TEST_CASE("replica_replayed_past(): read-your-writes", "[topology]") {
  auto r = replica("r", 0, 0ms, 1000);
  CHECK(Topology::replica_replayed_past(r, Lsn{999}));
  CHECK(Topology::replica_replayed_past(r, Lsn{1000}));
  CHECK_FALSE(Topology::replica_replayed_past(r, Lsn{1001}));
  r.replay_lsn.reset();
  CHECK_FALSE(Topology::replica_replayed_past(r, Lsn{0}));
  auto p = node("p", NodeRole::primary, ObservedRole::primary);
  CHECK(Topology::replica_replayed_past(p, Lsn{~0ull}));
  auto u = node("u", NodeRole::replica, ObservedRole::unknown);
  u.replay_lsn = Lsn{5000};
  CHECK_FALSE(Topology::replica_replayed_past(u, Lsn{1}));
}

TEST_CASE("find() and TopologyStore swap snapshots atomically", "[topology]") {
  TopologyStore store;
  auto first = store.current();
  REQUIRE(first != nullptr);
  CHECK(first->version == 0);
  CHECK(first->shards.empty());

  auto next = std::make_shared<Topology>(one_shard({replica("r1", 0, 0ms)}));
  next->version = 2;
  store.publish(next);
  CHECK(first->version == 0);  // a reader's snapshot never changes under it
  auto now = store.current();
  CHECK(now->version == 2);
  REQUIRE(now->find("r1") != nullptr);
  CHECK(now->find("nope") == nullptr);

  // Concurrent readers and a writer: every snapshot seen is complete and versions never go back.
  std::atomic<bool> ok{true};
  std::thread reader([&] {
    uint64_t last = 0;
    for (int i = 0; i < 20000; ++i) {
      auto s = store.current();
      if (s->version < last || s->shards.size() != 1) ok = false;
      last = s->version;
    }
  });
  for (uint64_t v = 3; v < 2000; ++v) {
    auto t = std::make_shared<Topology>(one_shard({replica("r1", 0, 0ms)}));
    t->version = v;
    store.publish(std::move(t));
  }
  reader.join();
  CHECK(ok);
}

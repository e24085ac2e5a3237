// Router seam (issue 3: shard 0's primary) and the cancel-key registry.
#include <catch2/catch.hpp>

#include <memory>
#include <set>

#include "proxy/cancel.hpp"
#include "proxy/router.hpp"

using namespace pgscale;

TEST_CASE("router sends everything to shard 0's primary") {
  config::Config cfg;
  config::ShardConfig s0;
  s0.name = "s0";
  s0.nodes.push_back({"r1", "127.0.0.1", 5433, config::NodeRole::replica, 100, 1});
  s0.nodes.push_back({"p", "127.0.0.1", 5432, config::NodeRole::primary, 100, 1});
  cfg.shards.push_back(s0);
  auto r = proxy::Router::route(cfg, {"select 1", false});
  REQUIRE(r);
  CHECK(r->shard == 0);
  REQUIRE(r->node != nullptr);
  CHECK(r->node->name == "p");
  CHECK(r->role == config::NodeRole::primary);
}

TEST_CASE("router without nodes returns nothing") {
  config::Config cfg;
  CHECK_FALSE(proxy::Router::route(cfg, {}));
}

TEST_CASE("cancel registry: known key finds the current target, unknown and removed keys do not") {
  proxy::CancelRegistry reg;
  auto slot = std::make_shared<proxy::CancelSlot>();
  auto key = reg.add(slot);
  CHECK(key.process_id > 0);
  CHECK_FALSE(reg.lookup(key));  // registered but not running anything
  slot->set({"127.0.0.1", 5432, {42, 7}});
  auto t = reg.lookup(key);
  REQUIRE(t);
  CHECK(t->port == 5432);
  CHECK(t->server_key.process_id == 42);
  CHECK(t->server_key.secret_key == 7);
  CHECK_FALSE(reg.lookup({key.process_id, key.secret_key ^ 1}));
  reg.remove(key);
  CHECK_FALSE(reg.lookup(key));
}

TEST_CASE("cancel keys are unique across many clients") {
  proxy::CancelRegistry reg;
  std::vector<std::shared_ptr<proxy::CancelSlot>> slots;
  std::set<std::pair<int32_t, int32_t>> keys;
  for (int i = 0; i < 1000; ++i) {
    slots.push_back(std::make_shared<proxy::CancelSlot>());
    auto k = reg.add(slots.back());
    keys.insert({k.process_id, k.secret_key});
  }
  CHECK(keys.size() == 1000);
  CHECK(reg.size() == 1000);
}

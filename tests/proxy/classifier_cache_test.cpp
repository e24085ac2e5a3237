// The cached Classifier: hits for constant-only differences, never a changed route, bounded size,
// invalidation on a new context, and concurrent use from several threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "proxy/classifier.hpp"

using namespace pgscale::classifier;

TEST_CASE("cache: constants differ → hit with the same class", "[classifier][cache]") {
  Classifier cl({}, 100);
  const auto a = cl.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
  const auto b = cl.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 2");
  CHECK(a->route == RouteClass::replica_safe);
  CHECK(a.get() == b.get());  // the very same cached result
  const auto st = cl.stats();
  CHECK(st.hits == 1);
  CHECK(st.inserts == 1);
  const auto c = cl.classify("SELECT nextval('a')");
  const auto d = cl.classify("SELECT nextval('b')");
  CHECK(c->route == RouteClass::primary);
  CHECK(d->route == RouteClass::primary);
  CHECK(cl.stats().hits == 2);
}

TEST_CASE("cache: hints are part of the key", "[classifier][cache]") {
  Classifier cl({}, 100);
  CHECK(cl.classify("SELECT 1")->route == RouteClass::replica_safe);
  CHECK(cl.classify("/* pgscale: primary */ SELECT 1")->route == RouteClass::primary);
  CHECK(cl.classify("/* pgscale: primary */ SELECT 2")->route == RouteClass::primary);
  CHECK(cl.classify("SELECT 3")->route == RouteClass::replica_safe);
  CHECK(cl.classify("/* pgscale: replica */ SELECT random()")->route == RouteClass::replica_safe);
  CHECK(cl.classify("SELECT random()")->route == RouteClass::primary);
}

TEST_CASE("cache: SET values and directives are never served from the cache", "[classifier][cache]") {
  Classifier cl({}, 100);
  auto a = cl.classify("SET pgscale.route = 'primary'");
  auto b = cl.classify("SET pgscale.route = 'replica'");
  REQUIRE(a->route_directive);
  REQUIRE(b->route_directive);
  CHECK(*a->route_directive == RouteDirective::primary);
  CHECK(*b->route_directive == RouteDirective::replica);
  CHECK(a->directive_only);
  auto s1 = cl.classify("SET search_path = 'a'");
  auto s2 = cl.classify("SET search_path = 'b'");
  REQUIRE(s1->session.size() == 1);
  REQUIRE(s2->session.size() == 1);
  CHECK(s1->session[0].value == "'a'");
  CHECK(s2->session[0].value == "'b'");
  auto e1 = cl.classify("EXPLAIN (ANALYZE 0) DELETE FROM t");
  auto e2 = cl.classify("EXPLAIN (ANALYZE 1) DELETE FROM t");
  CHECK(e1->route == RouteClass::replica_safe);
  CHECK(e2->route == RouteClass::primary);
  CHECK(cl.stats().hits == 0);
}

TEST_CASE("cache: bounded size with eviction", "[classifier][cache]") {
  Classifier cl({}, 64);
  for (int i = 0; i < 500; ++i) {
    const std::string sql = "SELECT c" + std::to_string(i) + " FROM t WHERE a = 1";
    CHECK(cl.classify(sql)->route == RouteClass::replica_safe);
  }
  const auto st = cl.stats();
  CHECK(st.inserts == 500);
  CHECK(st.evictions >= 500 - 64);
  CHECK(st.inserts - st.evictions <= 64);
}

TEST_CASE("cache: a new context invalidates results", "[classifier][cache]") {
  Classifier cl({}, 100);
  auto r1 = cl.classify("SELECT my_fn(1)");
  CHECK(r1->route == RouteClass::primary);
  REQUIRE(r1->unknown_functions == std::vector<std::string>{"my_fn"});
  auto cat = std::make_shared<MapFunctionCatalog>();
  cat->add("my_fn", Volatility::stable);
  cat->add("vol_fn", Volatility::volatile_);
  cl.set_context({cat, {}});
  CHECK(cl.classify("SELECT my_fn(2)")->route == RouteClass::replica_safe);
  CHECK(cl.classify("SELECT vol_fn(2)")->route == RouteClass::primary);
  CHECK(cl.classify("SELECT vol_fn(3)")->route == RouteClass::primary);  // from the cache
  cl.set_context({cat, {"vol_fn"}});                                     // read_safe_functions
  CHECK(cl.classify("SELECT vol_fn(4)")->route == RouteClass::replica_safe);
}

TEST_CASE("cache: concurrent use from several threads", "[classifier][cache]") {
  Classifier cl({}, 256);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cl, &wrong, t] {
      for (int i = 0; i < 3000; ++i) {
        const int n = (i * 7 + t) % 400;
        const bool write = n % 3 == 0;
        const std::string sql = write ? "UPDATE t" + std::to_string(n % 50) + " SET a = " + std::to_string(i)
                                      : "SELECT b FROM t" + std::to_string(n % 50) + " WHERE a = " + std::to_string(i);
        const auto r = cl.classify(sql);
        if (r->route != (write ? RouteClass::primary : RouteClass::replica_safe)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
  const auto st = cl.stats();
  CHECK(st.hits + st.misses == 4 * 3000);
  CHECK(st.hits > st.misses);
}

TEST_CASE("memo: the very same text again is answered without a cache probe, counted as a hit", "[classifier][cache]") {
  Classifier cl({}, 100);
  const std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 7";
  CHECK(cl.recent(sql) == nullptr);  // never classified: recent() does not parse
  const auto a = cl.classify(sql);
  CHECK(cl.recent(sql).get() == a.get());
  const std::string copy = sql;  // another buffer, same text
  CHECK(cl.classify(copy).get() == a.get());
  CHECK(cl.classify(sql).get() == a.get());
  CHECK(cl.stats().hits == 2);
  CHECK(cl.stats().misses == 1);
  CHECK(cl.recent("SELECT abalance FROM pgbench_accounts WHERE aid = 8") == nullptr);
  // Not cacheable (depends on a literal) but exactly this text: the memo may answer it.
  const std::string set = "SET search_path = 'a'";
  const auto s1 = cl.classify(set);
  const auto s2 = cl.classify(set);
  CHECK(s1.get() == s2.get());
  REQUIRE(s2->session.size() == 1);
  CHECK(s2->session[0].value == "'a'");
  // Another Classifier does not see this one's memo.
  Classifier other({}, 100);
  CHECK(other.recent(sql) == nullptr);
}

TEST_CASE("memo: a new context invalidates remembered texts too", "[classifier][cache]") {
  Classifier cl({}, 100);
  const std::string sql = "SELECT my_fn(1)";
  CHECK(cl.classify(sql)->route == RouteClass::primary);
  REQUIRE(cl.recent(sql));
  auto cat = std::make_shared<MapFunctionCatalog>();
  cat->add("my_fn", Volatility::stable);
  cl.set_context({cat, {}});
  CHECK(cl.recent(sql) == nullptr);
  CHECK(cl.classify(sql)->route == RouteClass::replica_safe);
}

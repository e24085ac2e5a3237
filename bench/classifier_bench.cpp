// Classifier cost per statement: cached (pgbench -S with varying aid), uncached (a statement mix
// through the full libpg_query path), and the literal-stripping normaliser alone.
//   build-*/bin/classifier_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "proxy/classifier.hpp"
#include "proxy/classifier_normalize.hpp"

using namespace pgscale::classifier;

namespace {

std::vector<std::string> pgbench_select(std::size_t n) {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < n; ++i) {
    v.push_back("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(i * 7919 % 100000 + 1) + ";");
  }
  return v;
}

const std::vector<std::string>& mix() {
  static const std::vector<std::string> v = {
      "SELECT abalance FROM pgbench_accounts WHERE aid = 42",
      "UPDATE pgbench_accounts SET abalance = abalance + -1234 WHERE aid = 42",
      "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, CURRENT_TIMESTAMP)",
      "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
      "WHERE o.created_at > now() - interval '1 day' ORDER BY o.id DESC LIMIT 50",
      "WITH x AS (DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT 10 "
      "FOR UPDATE SKIP LOCKED) RETURNING *) SELECT count(*) FROM x",
      "SELECT nextval('orders_id_seq')",
      "BEGIN READ ONLY",
      "SET search_path = app, public",
      "SELECT lower(name), count(*) FROM users GROUP BY 1 HAVING count(*) > 1",
      "COPY t TO STDOUT",
  };
  return v;
}

void BM_cached_pgbench_select(benchmark::State& state) {
  static Classifier cl({}, 10000);
  const auto sqls = pgbench_select(4096);
  cl.classify(sqls[0]);  // warm: one parse, then every aid hits the same entry
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = cl.classify(sqls[i++ & 4095]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_cached_pgbench_select)->Threads(1)->Threads(2)->UseRealTime();

void BM_uncached_mix(benchmark::State& state) {
  const ClassifierContext ctx;
  const auto& sqls = mix();
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = classify(sqls[i++ % sqls.size()], ctx);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_uncached_mix);

void BM_uncached_pgbench_select(benchmark::State& state) {
  const ClassifierContext ctx;
  const auto sqls = pgbench_select(1024);
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = classify(sqls[i++ & 1023], ctx);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_uncached_pgbench_select);

void BM_normalize_pgbench_select(benchmark::State& state) {
  const auto sqls = pgbench_select(1024);
  std::string key;
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = normalize(sqls[i++ & 1023], key);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(key.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_normalize_pgbench_select);

void BM_normalize_mix(benchmark::State& state) {
  const auto& sqls = mix();
  std::string key;
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = normalize(sqls[i++ % sqls.size()], key);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(key.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_normalize_mix);

// Calibration on a shared machine: hashing the same statement once (std::hash) — the classifier's
// cached path is normalise + hash + shard probe, so compare against this.
void BM_baseline_hash_pgbench_select(benchmark::State& state) {
  const auto sqls = pgbench_select(1024);
  std::size_t i = 0;
  for (auto _ : state) {
    auto h = std::hash<std::string>{}(sqls[i++ & 1023]);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_hash_pgbench_select);

}  // namespace

BENCHMARK_MAIN();

// Hostile input: the loader must never throw or crash, and must never return "valid" together with
// errors, whatever bytes it is given.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <random>

#include "config/load.hpp"
#include "helpers.hpp"

using pgscale::config::LoadResult;
using pgscale::config::load_string;

namespace {

std::string full_example() {
  std::ifstream in(pgscale::config::test::example("pgscale.yaml"));
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void require_consistent(const LoadResult& r) {
  REQUIRE(r.ok() == r.errors.empty());
  for (const auto& e : r.errors) REQUIRE_FALSE(e.message.empty());
}

}  // namespace

TEST_CASE("every prefix of the full example loads without throwing", "[config][robustness]") {
  const std::string yaml = full_example();
  REQUIRE(yaml.size() > 1000);
  size_t valid = 0;
  for (size_t n = 0; n <= yaml.size(); ++n) {
    LoadResult r;
    REQUIRE_NOTHROW(r = load_string(std::string_view(yaml).substr(0, n)));
    require_consistent(r);
    valid += r.ok() ? 1 : 0;
  }
  CHECK(load_string(yaml).ok());
  CHECK(valid >= 1);  // at least the whole file
}

TEST_CASE("random byte mutations of the full example load without throwing", "[config][robustness]") {
  const std::string yaml = full_example();
  std::mt19937 rng(12345);  // fixed seed: reproducible
  const std::string alphabet = "{}[],:-#&*!|>'\"%@` \n\t0123456789abcxyzSCRAM$=";
  for (int i = 0; i < 1000; ++i) {
    std::string mutated = yaml;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      mutated[rng() % mutated.size()] = alphabet[rng() % alphabet.size()];
    }
    LoadResult r;
    REQUIRE_NOTHROW(r = load_string(mutated));
    require_consistent(r);
  }
}

TEST_CASE("deeply nested and oversized values are errors, not crashes", "[config][robustness]") {
  std::string deep = "listen: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  LoadResult r;
  REQUIRE_NOTHROW(r = load_string(deep));
  CHECK_FALSE(r.ok());
  REQUIRE_NOTHROW(r = load_string("sharding: {virtual_shards: 4294967295}\nusers: [{name: a, auth: "
                                  "trust}]\nshards: [{name: s, nodes: [{name: n, host: h, role: "
                                  "primary}]}]\n"));
  CHECK(r.ok());  // one shard owns all 2^32-1 buckets: no per-bucket memory is needed
  REQUIRE_NOTHROW(r = load_string("listen: {port: 99999999999999999999999}\n"));
  CHECK(pgscale::config::test::has_error(r.errors, "listen.port", "must be 1..65535"));
}

// Integration: the pgscale.yaml that deploy/local-cluster.sh writes for a real cluster loads and
// validates (real TLS files, real SCRAM verifier from pg_authid) and describes that cluster.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "config/load.hpp"
#include "proxy/check.hpp"

namespace {

// cluster.env: KEY=VALUE lines (sourceable shell, no quoting needed for our values).
std::map<std::string, std::string> read_env(const std::string& path) {
  std::map<std::string, std::string> env;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'')) {
      value = value.substr(1, value.size() - 2);
    }
    env[line.substr(0, eq)] = value;
  }
  return env;
}

}  // namespace

TEST_CASE("the local cluster's generated pgscale.yaml is valid and matches cluster.env",
          "[config][integration]") {
  const std::string dir = std::getenv("PGSCALE_CLUSTER_DIR");
  auto env = read_env(dir + "/cluster.env");
  REQUIRE(!env["PGSCALE_S0_PRIMARY_PORT"].empty());
  const auto r = pgscale::config::load_file(dir + "/pgscale.yaml");
  INFO(pgscale::format_errors(r.errors));
  REQUIRE(r.ok());
  const auto& c = *r.config;
  CHECK(std::to_string(c.listen.port) == env["PGSCALE_PROXY_PORT"]);
  CHECK(std::to_string(c.admin.http_port) == env["PGSCALE_ADMIN_PORT"]);
  CHECK(c.listen.tls.cert_file == env["PGSCALE_TLS_CERT"]);
  REQUIRE(c.shards.size() == 2);
  CHECK(c.shards[0].nodes.size() == 3);
  CHECK(c.shards[1].nodes.size() == 2);
  CHECK(std::to_string(c.shards[0].nodes[0].port) == env["PGSCALE_S0_PRIMARY_PORT"]);
  CHECK(c.shards[0].nodes[0].role == pgscale::config::NodeRole::primary);
  CHECK(std::to_string(c.shards[1].nodes[1].port) == env["PGSCALE_S1_REPLICA1_PORT"]);
  REQUIRE_FALSE(c.users.empty());
  CHECK(c.users[0].name == env["PGSCALE_APP_USER"]);
  CHECK(c.users[0].password.rfind("SCRAM-SHA-256$", 0) == 0);  // syntax checked by validation
  CHECK(pgscale::run_check(dir + "/pgscale.yaml", stdout) == 0);
}

#include <catch2/catch.hpp>

#include "config/validate.hpp"
#include "helpers.hpp"

using namespace pgscale::config;
using pgscale::config::test::dump;
using pgscale::config::test::has_error;
using pgscale::config::test::load_with;

namespace {

// A valid two-shard Config built in code: validate() works without YAML too.
Config valid_config() {
  Config c;
  c.users.push_back(UserConfig{"app", AuthMethod::trust, "", "", {}});
  ShardConfig s0{"s0", {{0, 511}}, {}};
  s0.nodes.push_back(NodeConfig{"s0-p", "127.0.0.1", 15432, NodeRole::primary, 100, 1});
  s0.nodes.push_back(NodeConfig{"s0-r", "127.0.0.1", 15433, NodeRole::replica, 100, 1});
  ShardConfig s1{"s1", {{512, 1023}}, {}};
  s1.nodes.push_back(NodeConfig{"s1-p", "127.0.0.1", 15435, NodeRole::primary, 100, 1});
  c.shards = {s0, s1};
  return c;
}

const char* kVerifier =
    "SCRAM-SHA-256$4096:cGdzY2FsZS1leGFtcGxlIQ==$kv3wgy/lVY0FngUiVz7kZqzUL7LKSuhtFtuupO2uNPc=:"
    "cJg9nqhY4ivOIilZrgTPwe5X/YBx3ZG7N4su4N7SPis=";

}  // namespace

TEST_CASE("a valid config built in code has no errors", "[config][validate]") {
  const auto errors = validate(valid_config());
  INFO(dump(errors));
  CHECK(errors.empty());
}

TEST_CASE("bucket gaps are reported precisely", "[config][validate]") {
  Config c = valid_config();
  c.shards[0].buckets = {{0, 99}, {200, 511}};
  c.shards[1].buckets = {{512, 1000}};
  const auto errors = validate(c);
  INFO(dump(errors));
  CHECK(has_error(errors, "shards", "buckets 100..199 are not assigned to any shard"));
  CHECK(has_error(errors, "shards", "buckets 1001..1023 are not assigned to any shard"));
  CHECK(errors.size() == 2);
  c.shards[0].buckets = {{1, 511}};
  c.shards[1].buckets = {{512, 1023}};
  CHECK(has_error(validate(c), "shards", "bucket 0 is not assigned to any shard"));
}

TEST_CASE("bucket overlaps name both ranges", "[config][validate]") {
  Config c = valid_config();
  c.shards[1].buckets = {{500, 1023}};
  const auto errors = validate(c);
  INFO(dump(errors));
  REQUIRE(errors.size() == 1);
  CHECK(has_error(errors, "shards[1].buckets[0]",
                  "buckets 500..511 already assigned by shards[0].buckets[0] (shard s0)"));
  c.shards[1].buckets = {{512, 1023}, {7, 7}};
  CHECK(has_error(validate(c), "shards[1].buckets[1]", "bucket 7 already assigned"));
}

TEST_CASE("bucket ranges must be ordered and inside virtual_shards", "[config][validate]") {
  Config c = valid_config();
  c.shards[0].buckets = {{511, 0}};
  CHECK(has_error(validate(c), "shards[0].buckets[0]", "first 511 is greater than last 0"));
  c = valid_config();
  c.shards[1].buckets = {{512, 2047}};
  CHECK(has_error(validate(c), "shards[1].buckets[0]",
                  "bucket 2047 is out of range 0..1023 (sharding.virtual_shards = 1024)"));
  c = valid_config();
  c.sharding.virtual_shards = 0;
  CHECK(has_error(validate(c), "sharding.virtual_shards", "at least 1"));
}

TEST_CASE("each shard has nodes and exactly one primary", "[config][validate]") {
  Config c = valid_config();
  c.shards[0].nodes[1].role = NodeRole::primary;
  c.shards[1].nodes[0].role = NodeRole::replica;
  auto errors = validate(c);
  CHECK(has_error(errors, "shards[0].nodes", "exactly one node must have role primary (found 2)"));
  CHECK(has_error(errors, "shards[1].nodes", "(found 0)"));
  c = valid_config();
  c.shards[1].nodes.clear();
  CHECK(has_error(validate(c), "shards[1].nodes", "at least one node is required"));
  c.shards.clear();
  CHECK(has_error(validate(c), "shards", "at least one shard is required"));
}

TEST_CASE("node and shard names and addresses are unique and present", "[config][validate]") {
  Config c = valid_config();
  c.shards[1].nodes[0].name = "s0-p";
  c.shards[1].nodes[0].port = 15433;
  c.shards[1].name = "s0";
  auto errors = validate(c);
  INFO(dump(errors));
  CHECK(has_error(errors, "shards[1].nodes[0].name",
                  "duplicate node name 's0-p' (also shards[0].nodes[0].name)"));
  CHECK(has_error(errors, "shards[1].nodes[0]",
                  "duplicate address 127.0.0.1:15433 (also shards[0].nodes[1])"));
  CHECK(has_error(errors, "shards[1].name", "duplicate shard name 's0'"));
  c = valid_config();
  c.shards[0].nodes[0].name = "";
  c.shards[0].nodes[0].host = "";
  c.shards[0].nodes[1].port = 0;
  c.shards[1].name = "";
  errors = validate(c);
  CHECK(has_error(errors, "shards[0].nodes[0].name", "required"));
  CHECK(has_error(errors, "shards[0].nodes[0].host", "required"));
  CHECK(has_error(errors, "shards[0].nodes[1].port", "must be 1..65535"));
  CHECK(has_error(errors, "shards[1].name", "required"));
}

TEST_CASE("a node host may be a unix-domain socket directory", "[config][validate]") {
  CHECK(is_socket_directory("/var/run/postgresql"));
  CHECK_FALSE(is_socket_directory("db.example.com"));
  CHECK_FALSE(is_socket_directory(""));
  CHECK(socket_path("/var/run/postgresql", 5432) == "/var/run/postgresql/.s.PGSQL.5432");
  CHECK(socket_path("/run/pg//", 5433) == "/run/pg/.s.PGSQL.5433");
  CHECK(socket_path("/", 5432) == "/.s.PGSQL.5432");
  Config c = valid_config();
  c.shards[0].nodes[0].host = "/var/run/postgresql";
  c.shards[0].nodes[1].host = "/var/run/postgresql/";  // same directory, other port: no duplicate
  auto errors = validate(c);
  INFO(dump(errors));
  CHECK(errors.empty());
  c.pool.server_tls = ServerTlsMode::prefer;  // prefer: plain on the socket, as libpq does
  CHECK(validate(c).empty());
  c.pool.server_tls = ServerTlsMode::require;
  errors = validate(c);
  CHECK(has_error(errors, "shards[0].nodes[0].host",
                  "a unix-domain socket directory has no TLS, but pool.server_tls is require"));
  CHECK_FALSE(has_error(errors, "shards[1].nodes[0].host",
                        "a unix-domain socket directory has no TLS, but pool.server_tls is require"));
  c = valid_config();
  c.shards[0].nodes[0].host = "/" + std::string(96, 'd');  // + "/.s.PGSQL.15432" = 112 bytes
  errors = validate(c);
  CHECK(has_error(errors, "shards[0].nodes[0].host",
                  "socket directory too long: " + c.shards[0].nodes[0].host +
                      "/.s.PGSQL.15432 is over the 107 bytes a unix-domain socket path may have"));
  c.shards[0].nodes[0].host = "/" + std::string(91, 'd');  // 107 bytes: fits
  CHECK(validate(c).empty());
  c = valid_config();  // the same socket, with and without the trailing slash
  c.shards[0].nodes[0].host = "/run/pg/";
  c.shards[0].nodes[1].host = "/run/pg";
  c.shards[0].nodes[1].port = 15432;
  CHECK(has_error(validate(c), "shards[0].nodes[1]", "duplicate address /run/pg/.s.PGSQL.15432 (also shards[0].nodes[0])"));
}

TEST_CASE("users: present, unique, password fits the auth method", "[config][validate]") {
  Config c = valid_config();
  c.users.clear();
  CHECK(has_error(validate(c), "users", "at least one user is required"));
  c = valid_config();
  c.users.push_back(UserConfig{"app", AuthMethod::trust, "", "", {}});
  c.users.push_back(UserConfig{"", AuthMethod::trust, "", "", {}});
  c.users.push_back(UserConfig{"s", AuthMethod::scram_sha_256, "", "", {"db", "db", ""}});
  c.users.push_back(UserConfig{"m", AuthMethod::md5, kVerifier, "", {}});
  c.users.push_back(UserConfig{"x", AuthMethod::scram_sha_256,
                               "md53d98b169ba17dadcdf22c93e4460674f", "", {}});
  const auto errors = validate(c);
  INFO(dump(errors));
  CHECK(has_error(errors, "users[1].name", "duplicate user name 'app'"));
  CHECK(has_error(errors, "users[2].name", "required"));
  CHECK(has_error(errors, "users[3].password", "required for auth scram-sha-256"));
  CHECK(has_error(errors, "users[3].databases[1]", "listed twice"));
  CHECK(has_error(errors, "users[3].databases[2]", "must not be empty"));
  CHECK(has_error(errors, "users[4].password", "a SCRAM verifier cannot verify md5"));
  CHECK(has_error(errors, "users[5].password", "an md5 hash cannot verify scram-sha-256"));
  CHECK(errors.size() == 7);
}

TEST_CASE("SCRAM verifiers are checked for syntax", "[config][validate]") {
  std::string why;
  CHECK(is_valid_scram_verifier(kVerifier, &why));
  CHECK_FALSE(is_valid_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==", &why));
  CHECK_FALSE(is_valid_scram_verifier("SCRAM-SHA-256$0:c2FsdA==$a:b", &why));
  CHECK(why.find("iteration count") != std::string::npos);
  CHECK_FALSE(is_valid_scram_verifier("SCRAM-SHA-256$4096:!!!$a:b", &why));
  CHECK(why.find("salt") != std::string::npos);
  CHECK_FALSE(is_valid_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ=", &why));
  CHECK(why.find("32 bytes") != std::string::npos);
  Config c = valid_config();
  c.users[0] = UserConfig{"app", AuthMethod::scram_sha_256, "SCRAM-SHA-256$x", "", {}};
  CHECK(has_error(validate(c), "users[0].password", "must be SCRAM-SHA-256$<iterations>"));
  c.users[0].password = "plaintext is fine";
  CHECK(validate(c).empty());
  CHECK(is_md5_hash("md53d98b169ba17dadcdf22c93e4460674f"));
  CHECK_FALSE(is_md5_hash("md5-not-a-hash"));
}

TEST_CASE("pool sizes and timeouts", "[config][validate]") {
  Config c = valid_config();
  c.pool.max_size = 0;
  CHECK(has_error(validate(c), "pool.max_size", "at least 1"));
  c = valid_config();
  c.pool.min_idle = 21;
  CHECK(has_error(validate(c), "pool.min_idle", "must not exceed pool.max_size (21 > 20)"));
  c = valid_config();
  c.pool.connect_timeout = Millis{0};
  c.pool.checkout_timeout = Millis{0};
  auto errors = validate(c);
  CHECK(has_error(errors, "pool.connect_timeout", "greater than 0"));
  CHECK(has_error(errors, "pool.checkout_timeout", "greater than 0"));
}

TEST_CASE("listen, admin and log rules", "[config][validate]") {
  Config c = valid_config();
  c.listen.port = 0;
  c.listen.address = "";
  c.listen.max_client_connections = 0;
  c.listen.startup_timeout = Millis{0};
  c.log.level = "loud";
  auto errors = validate(c);
  CHECK(has_error(errors, "listen.port", "must be 1..65535"));
  CHECK(has_error(errors, "listen.address", "must not be empty"));
  CHECK(has_error(errors, "listen.max_client_connections", "at least 1"));
  CHECK(has_error(errors, "listen.startup_timeout", "greater than 0"));
  CHECK(has_error(errors, "log.level", "got 'loud'"));
  c = valid_config();
  c.admin.http_port = c.listen.port;
  CHECK(has_error(validate(c), "admin.http_port", "same address and port as listen"));
  c.admin.http_port = 0;  // 0 = off is fine
  CHECK(validate(c).empty());
}

TEST_CASE("TLS allow/require needs readable certificate and key files", "[config][validate]") {
  Config c = valid_config();
  c.listen.tls.mode = TlsMode::require;
  auto errors = validate(c);
  CHECK(has_error(errors, "listen.tls.cert_file", "required when listen.tls.mode is require"));
  CHECK(has_error(errors, "listen.tls.key_file", "required"));
  c.listen.tls.mode = TlsMode::allow;
  c.listen.tls.cert_file = "/nonexistent/server.crt";
  pgscale::config::test::TempDir dir;
  c.listen.tls.key_file = dir.write("server.key", "key");
  errors = validate(c);
  INFO(dump(errors));
  CHECK(has_error(errors, "listen.tls.cert_file", "'/nonexistent/server.crt' does not exist"));
  CHECK_FALSE(has_error(errors, "listen.tls.key_file"));
  c.listen.tls.cert_file = dir.path();  // a directory is not a certificate
  CHECK(has_error(validate(c), "listen.tls.cert_file", "not a regular file"));
  c.listen.tls.cert_file = dir.write("server.crt", "cert");
  CHECK(validate(c).empty());
  c.listen.tls = TlsConfig{TlsMode::disable, "/nonexistent", ""};  // unused when disabled
  CHECK(validate(c).empty());
}

TEST_CASE("monitor, failover, routing and sharded-table rules", "[config][validate]") {
  Config c = valid_config();
  c.monitor.user = "";
  c.monitor.database = "";
  c.monitor.interval = Millis{0};
  c.monitor.timeout = Millis{0};
  c.monitor.failure_threshold = 0;
  c.failover.enabled = true;
  c.failover.hold_timeout = Millis{0};
  c.failover.promote_timeout = Millis{0};
  c.routing.read_safe_functions = {""};
  c.sharding.tables = {{"orders", "id"}, {"orders", ""}, {"", "k"}};
  const auto errors = validate(c);
  INFO(dump(errors));
  CHECK(has_error(errors, "monitor.user", "must not be empty"));
  CHECK(has_error(errors, "monitor.database", "must not be empty"));
  CHECK(has_error(errors, "monitor.interval", "greater than 0"));
  CHECK(has_error(errors, "monitor.timeout", "greater than 0"));
  CHECK(has_error(errors, "monitor.failure_threshold", "at least 1"));
  CHECK(has_error(errors, "failover.hold_timeout", "greater than 0"));
  CHECK(has_error(errors, "failover.promote_timeout", "greater than 0"));
  CHECK(has_error(errors, "routing.read_safe_functions[0]", "must not be empty"));
  CHECK(has_error(errors, "sharding.tables[1].name", "duplicate sharded table 'orders'"));
  CHECK(has_error(errors, "sharding.tables[1].key", "required"));
  CHECK(has_error(errors, "sharding.tables[2].name", "required"));
  CHECK(errors.size() == 11);
}

TEST_CASE("weighted_random needs a replica with weight", "[config][validate]") {
  Config c = valid_config();
  c.routing.replica_selection = ReplicaSelection::weighted_random;
  CHECK(validate(c).empty());
  c.shards[0].nodes[1].weight = 0;
  CHECK(has_error(validate(c), "shards[0].nodes", "weighted_random needs a replica with weight > 0"));
}

TEST_CASE("validation errors from YAML get the line of their value", "[config][validate]") {
  const LoadResult r = load_with("pool: {max_size: 2, min_idle: 3}\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].path == "pool.min_idle");
  CHECK(r.errors[0].line == 14);
}

TEST_CASE("the broken example lists every mistake with its path", "[config][validate]") {
  const LoadResult r = load_file(pgscale::config::test::example("broken.yaml"));
  INFO(dump(r.errors));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"listen.prot", "did you mean 'port'?"},
      {"listen.tls.cert_file", "required"},
      {"listen.tls.key_file", "required"},
      {"log.level", "got 'verbose'"},
      {"users[0].password", "32 bytes"},
      {"users[1].name", "duplicate user name 'app'"},
      {"users[1].auth", "got 'password'"},
      {"pool.min_idle", "must not exceed pool.max_size"},
      {"pool.idle_timeout", "ambiguous"},
      {"routing.read_write_split", "must be true or false"},
      {"routing.max_replica_lag.bytes", "unknown unit 'MiB'"},
      {"sharding.tables[0].key", "required"},
      {"shards[0].nodes", "exactly one node must have role primary (found 2)"},
      {"shards[0].nodes[1]", "duplicate address 127.0.0.1:15432"},
      {"shards[1].buckets[0]", "buckets 400..500 already assigned by shards[0].buckets[0]"},
      {"shards", "buckets 1001..1023 are not assigned to any shard"},
      {"shards[1].nodes[0].name", "duplicate node name 's0-primary'"},
      {"shards[1].nodes[0].port", "must be 1..65535"},
      {"shards[1].nodes[0].role", "got 'leader'"},
  };
  for (const auto& [path, needle] : expected) {
    INFO(path);
    CHECK(has_error(r.errors, path, needle));
  }
  CHECK(r.errors.size() == expected.size());
}

#include <catch2/catch.hpp>

#include "config/load.hpp"
#include "helpers.hpp"

using namespace pgscale::config;
using pgscale::config::test::dump;
using pgscale::config::test::example;
using pgscale::config::test::has_error;
using pgscale::config::test::load_with;

TEST_CASE("minimal example loads with every default", "[config][load]") {
  const LoadResult r = load_file(example("minimal.yaml"));
  INFO(dump(r.errors));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  const Config d;  // the struct defaults are the documented defaults
  CHECK(c.listen.address == "127.0.0.1");
  CHECK(c.listen.port == 6432);
  CHECK(c.pool.max_size == d.pool.max_size);
  CHECK(c.pool.idle_timeout == Millis{600000});
  CHECK(c.routing.max_replica_lag.bytes == 16u * 1024 * 1024);
  CHECK(c.monitor.user == "pgscale_monitor");
  CHECK(c.sharding.virtual_shards == 1024);
  REQUIRE(c.shards.size() == 1);
  // A single shard without `buckets` owns all of them.
  REQUIRE(c.shards[0].buckets.size() == 1);
  CHECK(c.shards[0].buckets[0].first == 0);
  CHECK(c.shards[0].buckets[0].last == 1023);
  CHECK(c.users[0].auth == AuthMethod::trust);
}

TEST_CASE("full annotated example loads every key", "[config][load]") {
  const LoadResult r = load_file(example("pgscale.yaml"));
  INFO(dump(r.errors));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.admin.http_port == 6433);
  REQUIRE(c.users.size() == 2);
  CHECK(c.users[0].password.rfind("SCRAM-SHA-256$4096:", 0) == 0);
  CHECK(c.users[0].databases == std::vector<std::string>{"appdb"});
  CHECK(c.users[1].auth == AuthMethod::md5);
  CHECK(c.pool.max_lifetime == Millis{3600000});
  CHECK(c.routing.replica_selection == ReplicaSelection::least_outstanding);
  CHECK(c.routing.max_replica_lag.time == Millis{5000});
  REQUIRE(c.sharding.tables.size() == 2);
  CHECK(c.sharding.tables[1].name == "public.order_items");
  CHECK(c.sharding.tables[1].key == "customer_id");
  REQUIRE(c.shards.size() == 2);
  CHECK(c.shards[1].buckets[0].first == 512);
  REQUIRE(c.shards[0].nodes.size() == 3);
  CHECK(c.shards[0].nodes[1].weight == 2);
  CHECK(c.shards[0].nodes[2].priority == 50);
  CHECK(c.shards[1].nodes[1].role == NodeRole::replica);
}

TEST_CASE("every section's values are read", "[config][load]") {
  const LoadResult r = load_with(R"(
listen: {address: 0.0.0.0, port: 7000, workers: 4, busy_poll_us: 150, max_client_connections: 50, startup_timeout: 3s}
admin: {http_address: 0.0.0.0, http_port: 7001}
log: {level: debug}
pool: {mode: session, max_size: 5, min_idle: 2, connect_timeout: 1s, checkout_timeout: 2s,
       idle_timeout: 0, max_lifetime: 2h, drain_timeout: 1min, prepared_statement_cache: 0,
       server_tls: prefer, reset_query: "", auto_prepare: true}
routing: {read_write_split: false, replica_selection: round_robin,
          max_replica_lag: {bytes: off, time: 500ms}, no_replica: error, read_your_writes: no,
          read_safe_functions: [now, random], classifier_cache_size: 7}
monitor: {user: mon, password: pw, database: db, interval: 2s, timeout: 1s, failure_threshold: 5,
          ban_time: 1min}
failover: {enabled: true, hold_timeout: 4s, promote_timeout: 8s}
sharding: {virtual_shards: 1024, tables: [{name: t, key: k}]}
)");
  INFO(dump(r.errors));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.listen.address == "0.0.0.0");
  CHECK(c.listen.workers == 4);
  CHECK(c.listen.busy_poll_us == 150);
  CHECK(c.listen.max_client_connections == 50);
  CHECK(c.listen.startup_timeout == Millis{3000});
  CHECK(c.admin.http_port == 7001);
  CHECK(c.log.level == "debug");
  CHECK(c.pool.mode == PoolMode::session);
  CHECK(c.pool.min_idle == 2);
  CHECK(c.pool.idle_timeout == Millis{0});
  CHECK(c.pool.drain_timeout == Millis{60000});
  CHECK(c.pool.server_tls == ServerTlsMode::prefer);
  CHECK(c.pool.reset_query.empty());
  CHECK(c.pool.auto_prepare);
  CHECK_FALSE(c.routing.read_write_split);
  CHECK_FALSE(c.routing.max_replica_lag.bytes.has_value());
  CHECK(c.routing.max_replica_lag.time == Millis{500});
  CHECK(c.routing.no_replica == NoReplicaPolicy::error);
  CHECK_FALSE(c.routing.read_your_writes);
  CHECK(c.routing.read_safe_functions == std::vector<std::string>{"now", "random"});
  CHECK(c.routing.classifier_cache_size == 7);
  CHECK(c.monitor.failure_threshold == 5);
  CHECK(c.monitor.ban_time == Millis{60000});
  CHECK(c.failover.enabled);
  CHECK(c.failover.promote_timeout == Millis{8000});
}

TEST_CASE("unknown keys are errors with their path and a suggestion", "[config][load]") {
  const LoadResult r = load_with("listen: {prot: 7000}\npoool: {}\n");
  CHECK_FALSE(r.ok());
  CHECK(has_error(r.errors, "listen.prot", "unknown key (did you mean 'port'?)"));
  CHECK(has_error(r.errors, "poool", "did you mean 'pool'?"));
  const LoadResult n = load_with("shards_extra: 1\n");
  CHECK(has_error(n.errors, "shards_extra", "unknown key"));
  const LoadResult deep = load_string(R"(
users: [{name: a, auth: trust, passwrd: x}]
shards: [{name: s, nodes: [{name: n, host: h, role: primary, wieght: 3}]}]
)");
  CHECK(has_error(deep.errors, "users[0].passwrd", "did you mean 'password'?"));
  CHECK(has_error(deep.errors, "shards[0].nodes[0].wieght", "did you mean 'weight'?"));
}

TEST_CASE("wrong types are errors with their path", "[config][load]") {
  const LoadResult r = load_with(R"(
listen: {port: abc, address: [a, b]}
admin: 5
pool: {max_size: -1, min_idle: 1.5}
routing: {read_write_split: maybe, read_safe_functions: now}
monitor: {failure_threshold: {a: 1}}
)");
  CHECK_FALSE(r.ok());
  CHECK(has_error(r.errors, "listen.port", "must be an integer"));
  CHECK(has_error(r.errors, "listen.address", "must be a string"));
  CHECK(has_error(r.errors, "admin", "must be a mapping"));
  CHECK(has_error(r.errors, "pool.max_size", "must be 0..4294967295"));
  CHECK(has_error(r.errors, "pool.min_idle", "must be an integer"));
  CHECK(has_error(r.errors, "routing.read_write_split", "must be true or false"));
  CHECK(has_error(r.errors, "routing.read_safe_functions", "must be a list"));
  CHECK(has_error(r.errors, "monitor.failure_threshold", "must be an integer"));
  CHECK(r.errors.size() == 8);
}

TEST_CASE("out of range ports and bad enums name the value", "[config][load]") {
  const LoadResult r = load_string(R"(
users: [{name: a, auth: plain}]
pool: {mode: sessions}
shards:
  - name: s0
    nodes: [{name: n, host: h, port: 70000, role: primary}, {name: m, host: h, port: 0}]
)");
  CHECK(has_error(r.errors, "shards[0].nodes[0].port", "must be 1..65535"));
  CHECK(has_error(r.errors, "shards[0].nodes[1].port", "must be 1..65535"));
  CHECK(has_error(r.errors, "users[0].auth", "must be one of scram-sha-256, md5, trust (got 'plain')"));
  CHECK(has_error(r.errors, "pool.mode", "got 'sessions'"));
}

TEST_CASE("bad durations and sizes are errors with their path", "[config][load]") {
  const LoadResult r = load_with(R"(
pool: {connect_timeout: 5, idle_timeout: 10m, max_lifetime: forever}
routing: {max_replica_lag: {bytes: 16MiB, time: [1]}}
)");
  CHECK(has_error(r.errors, "pool.connect_timeout", "needs a unit"));
  CHECK(has_error(r.errors, "pool.idle_timeout", "ambiguous"));
  CHECK(has_error(r.errors, "pool.max_lifetime", "must be a duration"));
  CHECK(has_error(r.errors, "routing.max_replica_lag.bytes", "unknown unit 'MiB'"));
  CHECK(has_error(r.errors, "routing.max_replica_lag.time", "must be a duration"));
  CHECK(r.errors.size() == 5);
}

TEST_CASE("a YAML syntax error is one error with line and column", "[config][load]") {
  const LoadResult r = load_string("listen:\n  port: 6432\n  address: [127.0.0.1\nusers: []\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].path.empty());
  CHECK(r.errors[0].message.find("YAML syntax error") == 0);
  CHECK(r.errors[0].line >= 3);
  CHECK(r.errors[0].column > 0);
  CHECK(to_string(r.errors[0]).rfind("line ", 0) == 0);
  CHECK_FALSE(r.ok());
}

TEST_CASE("duplicate keys and a non-mapping document are errors", "[config][load]") {
  const LoadResult dup = load_with("log: {level: info}\nlog: {level: debug}\n");
  CHECK(has_error(dup.errors, "log", "duplicate key"));
  const LoadResult list = load_string("- a\n- b\n");
  REQUIRE_FALSE(list.errors.empty());
  CHECK(list.errors[0].message.find("the document must be a mapping") == 0);
}

TEST_CASE("errors carry the line and column of the offending value", "[config][load]") {
  const LoadResult r = load_string(
      "users:\n"
      "  - {name: a, auth: trust}\n"
      "shards:\n"
      "  - name: s0\n"
      "    nodes:\n"
      "      - {name: n, host: h, port: 99999, role: primary}\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].path == "shards[0].nodes[0].port");
  CHECK(r.errors[0].line == 6);
  CHECK(r.errors[0].column == 34);
  CHECK(to_string(r.errors[0]) ==
        "shards[0].nodes[0].port: must be 1..65535 (got 99999) (line 6, column 34)");
}

TEST_CASE("an empty value keeps the default; an empty file lacks users and shards", "[config][load]") {
  const LoadResult r = load_with("pool:\n  max_size:\nlisten:\n");
  INFO(dump(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config->pool.max_size == 20);
  const LoadResult empty = load_string("");
  CHECK(has_error(empty.errors, "users", "at least one user"));
  CHECK(has_error(empty.errors, "shards", "at least one shard"));
  CHECK(empty.errors.size() == 2);
}

TEST_CASE("several shards need explicit buckets", "[config][load]") {
  const LoadResult r = load_string(R"(
users: [{name: a, auth: trust}]
shards:
  - {name: s0, nodes: [{name: a, host: h, port: 1, role: primary}]}
  - {name: s1, buckets: [[0, 1023]], nodes: [{name: b, host: h, port: 2, role: primary}]}
)");
  CHECK(has_error(r.errors, "shards[0].buckets", "required when there are several shards"));
  CHECK(r.errors.size() == 1);  // no invented gap/overlap report on top
}

TEST_CASE("bucket ranges accept single buckets and reject malformed ranges", "[config][load]") {
  const LoadResult ok = load_string(R"(
users: [{name: a, auth: trust}]
sharding: {virtual_shards: 4}
shards:
  - {name: s0, buckets: [0, [1, 2]], nodes: [{name: a, host: h, port: 1, role: primary}]}
  - {name: s1, buckets: [3], nodes: [{name: b, host: h, port: 2, role: primary}]}
)");
  INFO(dump(ok.errors));
  REQUIRE(ok.ok());
  CHECK(ok.config->shards[0].buckets.size() == 2);
  CHECK(ok.config->shards[1].buckets[0].first == 3);
  const LoadResult bad = load_string(R"(
users: [{name: a, auth: trust}]
shards:
  - {name: s0, buckets: [[0, 1, 2], [x, 5], -3], nodes: [{name: a, host: h, port: 1, role: primary}]}
)");
  CHECK(has_error(bad.errors, "shards[0].buckets[0]", "must be a range [first, last]"));
  CHECK(has_error(bad.errors, "shards[0].buckets[1][0]", "bucket number"));
  CHECK(has_error(bad.errors, "shards[0].buckets[2]", "bucket number"));
  CHECK(bad.errors.size() == 3);
}

TEST_CASE("a file with five mistakes yields five errors in file order", "[config][load]") {
  pgscale::config::test::TempDir dir;
  const std::string path = dir.write("five.yaml", R"(listen:
  port: 65536
users:
  - {name: app, auth: trust}
  - {name: app, auth: trust}
pool: {max_size: 5, min_idle: 6}
shards:
  - name: s0
    buckets: [[0, 1023]]
    nodes:
      - {name: p, host: 127.0.0.1, port: 5432, role: primary, colour: blue}
      - {name: r, host: 127.0.0.1, port: 5433, role: primary}
)");
  const LoadResult r = load_file(path);
  INFO(dump(r.errors));
  REQUIRE(r.errors.size() == 5);
  CHECK(r.errors[0].path == "listen.port");
  CHECK(r.errors[1].path == "users[1].name");
  CHECK(r.errors[2].path == "pool.min_idle");
  CHECK(r.errors[3].path == "shards[0].nodes");  // two primaries; the list starts at column 7
  CHECK(r.errors[4].path == "shards[0].nodes[0].colour");
}

TEST_CASE("a missing or unreadable file is one error naming it", "[config][load]") {
  const LoadResult r = load_file("/nonexistent/pgscale.yaml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("cannot read /nonexistent/pgscale.yaml") == 0);
  pgscale::config::test::TempDir dir;
  const LoadResult d = load_file(dir.path());
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0].message.find("is a directory") != std::string::npos);
}

TEST_CASE("relative TLS files are resolved against the config file's directory", "[config][load]") {
  pgscale::config::test::TempDir dir;
  dir.write("server.crt", "cert");
  dir.write("server.key", "key");
  const std::string path = dir.write("pgscale.yaml", std::string(pgscale::config::test::kValidBase) +
                                                         "listen: {tls: {mode: require, cert_file: "
                                                         "server.crt, key_file: server.key}}\n");
  const LoadResult r = load_file(path);
  INFO(dump(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config->listen.tls.cert_file == dir.path() + "/server.crt");
  CHECK(r.config->listen.tls.key_file == dir.path() + "/server.key");
}

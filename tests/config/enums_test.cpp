#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace pgscale::config;

TEST_CASE("every enum spelling parses back to itself", "[config][enums]") {
  for (auto v : {TlsMode::disable, TlsMode::allow, TlsMode::require}) {
    CHECK(parse_tls_mode(to_string(v)) == v);
  }
  for (auto v : {ServerTlsMode::disable, ServerTlsMode::prefer, ServerTlsMode::require}) {
    CHECK(parse_server_tls_mode(to_string(v)) == v);
  }
  for (auto v : {AuthMethod::scram_sha_256, AuthMethod::md5, AuthMethod::trust}) {
    CHECK(parse_auth_method(to_string(v)) == v);
  }
  for (auto v : {PoolMode::transaction, PoolMode::session}) CHECK(parse_pool_mode(to_string(v)) == v);
  for (auto v : {ReplicaSelection::least_outstanding, ReplicaSelection::round_robin,
                 ReplicaSelection::weighted_random}) {
    CHECK(parse_replica_selection(to_string(v)) == v);
  }
  for (auto v : {NoReplicaPolicy::primary, NoReplicaPolicy::error}) {
    CHECK(parse_no_replica_policy(to_string(v)) == v);
  }
  for (auto v : {NodeRole::primary, NodeRole::replica}) CHECK(parse_node_role(to_string(v)) == v);
  CHECK(to_string(AuthMethod::scram_sha_256) == "scram-sha-256");
}

TEST_CASE("unknown enum spellings and log levels are rejected", "[config][enums]") {
  CHECK_FALSE(parse_tls_mode("on"));
  CHECK_FALSE(parse_auth_method("scram"));
  CHECK_FALSE(parse_pool_mode("Transaction"));  // spellings are exact
  CHECK_FALSE(parse_node_role("leader"));
  CHECK(is_known_log_level("debug"));
  CHECK_FALSE(is_known_log_level("verbose"));
}

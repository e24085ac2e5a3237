#pragma once
// The topology schema as plain structs. Loading, validation and diffing live in config/*.cpp;
// nothing YAML-specific appears in this header (DESIGN.md: config/ hides YAML).
// Every struct compares with == (defaulted), which the reload diff relies on.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgscale::config {

using Millis = std::chrono::milliseconds;

enum class TlsMode { disable, allow, require };          // client side (listen.tls.mode)
enum class ServerTlsMode { disable, prefer, require };   // pgscale -> PostgreSQL
enum class AuthMethod { scram_sha_256, md5, trust };
enum class PoolMode { transaction, session };
enum class ReplicaSelection { least_outstanding, round_robin, weighted_random };
enum class NoReplicaPolicy { primary, error };
enum class NodeRole { primary, replica };

struct TlsConfig {
  TlsMode mode = TlsMode::disable;
  std::string cert_file;   // PEM; required unless mode == disable
  std::string key_file;
  bool operator==(const TlsConfig&) const = default;
};

struct ListenConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 6432;
  unsigned workers = 0;                     // 0 = number of cores
  // A worker with nothing to do polls its sockets this long before it sleeps, while a CPU is free
  // (proxy/worker_loop.hpp). 0 = off: sleep at once, as every event loop does.
  uint32_t busy_poll_us = 0;
  uint32_t max_client_connections = 10000;
  Millis startup_timeout{10000};            // a client must finish startup + auth within this
  TlsConfig tls;
  bool operator==(const ListenConfig&) const = default;
};

struct AdminConfig {
  std::string http_address = "127.0.0.1";
  uint16_t http_port = 0;                   // /metrics /status /health; 0 = off
  bool operator==(const AdminConfig&) const = default;
};

struct UserConfig {
  std::string name;
  AuthMethod auth = AuthMethod::scram_sha_256;
  // For scram-sha-256: a verifier "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" (what
  // `pgscale --hash-password` prints, or pg_authid.rolpassword) or a plaintext password.
  // For md5: "md5<hex>" as in pg_authid, or plaintext. Ignored for trust.
  std::string password;
  // Password pgscale uses to log in to the servers as this user. Empty: with a SCRAM verifier equal
  // to the server's, pgscale reuses the ClientKey proven by the client (SCRAM pass-through);
  // with a plaintext `password`, that is used.
  std::string server_password;
  std::vector<std::string> databases;       // empty = any database
  bool operator==(const UserConfig&) const = default;
};

struct PoolConfig {
  PoolMode mode = PoolMode::transaction;
  uint32_t max_size = 20;                   // server connections per (node, database, user)
  uint32_t min_idle = 0;
  Millis connect_timeout{5000};
  Millis checkout_timeout{5000};            // a client waiting longer gets an error naming the pool
  Millis idle_timeout{600000};
  Millis max_lifetime{3600000};
  Millis drain_timeout{30000};              // SIGTERM: how long open transactions may finish
  uint32_t prepared_statement_cache = 256;  // per server connection, LRU
  bool auto_prepare = false;                // simple-protocol Queries run as prepared statements
  ServerTlsMode server_tls = ServerTlsMode::disable;
  std::string reset_query = "DISCARD ALL";
  bool operator==(const PoolConfig&) const = default;
};

struct ReplicaLagLimit {
  std::optional<uint64_t> bytes;            // unset = no byte limit
  std::optional<Millis> time;               // unset = no time limit
  bool operator==(const ReplicaLagLimit&) const = default;
};

struct RoutingConfig {
  bool read_write_split = true;
  ReplicaSelection replica_selection = ReplicaSelection::least_outstanding;
  ReplicaLagLimit max_replica_lag{16u * 1024 * 1024, Millis{5000}};
  NoReplicaPolicy no_replica = NoReplicaPolicy::primary;
  bool read_your_writes = true;
  std::vector<std::string> read_safe_functions;  // volatile functions still safe on replicas
  uint32_t classifier_cache_size = 10000;
  bool operator==(const RoutingConfig&) const = default;
};

struct MonitorConfig {
  std::string user = "pgscale_monitor";
  std::string password;
  std::string database = "postgres";
  Millis interval{1000};
  Millis timeout{2000};
  uint32_t failure_threshold = 3;           // consecutive failed checks -> down
  Millis ban_time{30000};
  bool operator==(const MonitorConfig&) const = default;
};

struct FailoverConfig {
  bool enabled = false;
  Millis hold_timeout{10000};               // new writes wait this long for a new primary
  Millis promote_timeout{30000};
  bool operator==(const FailoverConfig&) const = default;
};

struct ShardedTable {
  std::string name;                         // table name, optionally schema-qualified
  std::string key;                          // shard key column
  bool operator==(const ShardedTable&) const = default;
};

struct ShardingConfig {
  uint32_t virtual_shards = 1024;
  std::vector<ShardedTable> tables;
  bool operator==(const ShardingConfig&) const = default;
};

// A node host as libpq reads it: an absolute path is the directory of the server's unix-domain
// socket, anything else a TCP host name or address.
inline bool is_socket_directory(std::string_view host) { return !host.empty() && host.front() == '/'; }
// The server's socket in a socket directory: "<dir>/.s.PGSQL.<port>" (trailing slashes dropped).
std::string socket_path(std::string_view dir, uint16_t port);
inline constexpr size_t kMaxSocketPath = 107;  // sockaddr_un's sun_path, less its NUL

struct NodeConfig {
  std::string name;
  std::string host;                         // see is_socket_directory
  uint16_t port = 5432;
  NodeRole role = NodeRole::replica;
  int32_t priority = 100;                   // failover tie-break, higher wins
  uint32_t weight = 1;                      // weighted_random replica selection
  bool operator==(const NodeConfig&) const = default;
};

struct BucketRange {
  uint32_t first = 0;                       // inclusive
  uint32_t last = 0;                        // inclusive
  bool operator==(const BucketRange&) const = default;
};

struct ShardConfig {
  std::string name;
  std::vector<BucketRange> buckets;
  std::vector<NodeConfig> nodes;
  bool operator==(const ShardConfig&) const = default;
};

struct LogConfig {
  std::string level = "info";               // trace debug info warn error
  bool operator==(const LogConfig&) const = default;
};

struct Config {
  ListenConfig listen;
  AdminConfig admin;
  LogConfig log;
  std::vector<UserConfig> users;
  PoolConfig pool;
  RoutingConfig routing;
  MonitorConfig monitor;
  FailoverConfig failover;
  ShardingConfig sharding;
  std::vector<ShardConfig> shards;
  bool operator==(const Config&) const = default;
};

// --- enum <-> YAML spelling (config.cpp). parse_* return nullopt for an unknown spelling. ---
std::string_view to_string(TlsMode v);
std::string_view to_string(ServerTlsMode v);
std::string_view to_string(AuthMethod v);
std::string_view to_string(PoolMode v);
std::string_view to_string(ReplicaSelection v);
std::string_view to_string(NoReplicaPolicy v);
std::string_view to_string(NodeRole v);
std::optional<TlsMode> parse_tls_mode(std::string_view s);
std::optional<ServerTlsMode> parse_server_tls_mode(std::string_view s);
std::optional<AuthMethod> parse_auth_method(std::string_view s);
std::optional<PoolMode> parse_pool_mode(std::string_view s);
std::optional<ReplicaSelection> parse_replica_selection(std::string_view s);
std::optional<NoReplicaPolicy> parse_no_replica_policy(std::string_view s);
std::optional<NodeRole> parse_node_role(std::string_view s);

// Log levels accepted in log.level (spdlog's names): trace debug info warn error critical off.
bool is_known_log_level(std::string_view level);

}  // namespace pgscale::config

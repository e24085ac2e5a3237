#include "config/config.hpp"

#include <array>
#include <utility>

namespace pgscale::config {
namespace {

// One table per enum: the YAML spelling is defined exactly once and used both ways.
template <class E, size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<TlsMode, 3> kTlsModes{{
    {TlsMode::disable, "disable"}, {TlsMode::allow, "allow"}, {TlsMode::require, "require"}}};
constexpr Names<ServerTlsMode, 3> kServerTlsModes{{{ServerTlsMode::disable, "disable"},
                                                   {ServerTlsMode::prefer, "prefer"},
                                                   {ServerTlsMode::require, "require"}}};
constexpr Names<AuthMethod, 3> kAuthMethods{{{AuthMethod::scram_sha_256, "scram-sha-256"},
                                             {AuthMethod::md5, "md5"},
                                             {AuthMethod::trust, "trust"}}};
constexpr Names<PoolMode, 2> kPoolModes{{{PoolMode::transaction, "transaction"},
                                         {PoolMode::session, "session"}}};
constexpr Names<ReplicaSelection, 3> kReplicaSelections{
    {{ReplicaSelection::least_outstanding, "least_outstanding"},
     {ReplicaSelection::round_robin, "round_robin"},
     {ReplicaSelection::weighted_random, "weighted_random"}}};
constexpr Names<NoReplicaPolicy, 2> kNoReplicaPolicies{{{NoReplicaPolicy::primary, "primary"},
                                                        {NoReplicaPolicy::error, "error"}}};
constexpr Names<NodeRole, 2> kNodeRoles{{{NodeRole::primary, "primary"},
                                         {NodeRole::replica, "replica"}}};

template <class E, size_t N>
std::string_view name_of(const Names<E, N>& table, E v) {
  for (const auto& [value, name] : table) {
    if (value == v) return name;
  }
  return "?";
}

template <class E, size_t N>
std::optional<E> value_of(const Names<E, N>& table, std::string_view s) {
  for (const auto& [value, name] : table) {
    if (name == s) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(TlsMode v) { return name_of(kTlsModes, v); }
std::string_view to_string(ServerTlsMode v) { return name_of(kServerTlsModes, v); }
std::string_view to_string(AuthMethod v) { return name_of(kAuthMethods, v); }
std::string_view to_string(PoolMode v) { return name_of(kPoolModes, v); }
std::string_view to_string(ReplicaSelection v) { return name_of(kReplicaSelections, v); }
std::string_view to_string(NoReplicaPolicy v) { return name_of(kNoReplicaPolicies, v); }
std::string_view to_string(NodeRole v) { return name_of(kNodeRoles, v); }

std::optional<TlsMode> parse_tls_mode(std::string_view s) { return value_of(kTlsModes, s); }
std::optional<ServerTlsMode> parse_server_tls_mode(std::string_view s) {
  return value_of(kServerTlsModes, s);
}
std::optional<AuthMethod> parse_auth_method(std::string_view s) {
  return value_of(kAuthMethods, s);
}
std::optional<PoolMode> parse_pool_mode(std::string_view s) { return value_of(kPoolModes, s); }
std::optional<ReplicaSelection> parse_replica_selection(std::string_view s) {
  return value_of(kReplicaSelections, s);
}
std::optional<NoReplicaPolicy> parse_no_replica_policy(std::string_view s) {
  return value_of(kNoReplicaPolicies, s);
}
std::optional<NodeRole> parse_node_role(std::string_view s) { return value_of(kNodeRoles, s); }

bool is_known_log_level(std::string_view level) {
  for (std::string_view known : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (level == known) return true;
  }
  return false;
}

std::string socket_path(std::string_view dir, uint16_t port) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  std::string path(dir);
  if (path != "/") path += '/';
  return path + ".s.PGSQL." + std::to_string(port);
}

}  // namespace pgscale::config

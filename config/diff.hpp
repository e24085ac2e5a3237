#pragma once
// What changed between the running Config and a re-read file (SIGHUP). The daemon applies the
// reloadable part and logs `needs_restart` entries as "needs restart, ignored".
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pgscale::config {

struct FieldChange {
  std::string path;    // "pool.max_size", "listen.port"; for nodes: "host", "port", "shard"...
  std::string before;  // printable values; secrets are shown as "(hidden)"
  std::string after;
};

struct NamedChange {
  std::string name;                 // user or node name
  std::vector<FieldChange> fields;  // what differs
};

struct ConfigDiff {
  std::vector<std::string> users_added, users_removed;
  std::vector<NamedChange> users_changed;   // auth, password, server_password, databases
  std::vector<FieldChange> pool;            // pool.* (apply to new server connections)
  std::vector<std::string> nodes_added, nodes_removed;  // by node name, across all shards
  std::vector<NamedChange> nodes_changed;   // shard, host, port, role, priority, weight
  std::vector<std::string> shards_added, shards_removed;
  std::vector<FieldChange> buckets;         // "shards.<name>.buckets": moved bucket ranges
  std::vector<FieldChange> other;           // reloadable: log, routing, monitor, failover,
                                            // sharding.tables, listen limits/timeouts
  std::vector<FieldChange> needs_restart;   // listen address/port/workers/tls, admin HTTP
                                            // address/port, sharding.virtual_shards

  bool empty() const;
  bool has_reloadable_changes() const;  // anything besides needs_restart
};

ConfigDiff diff(const Config& before, const Config& after);

// One human line per change, for the reload log: "pool.max_size: 20 -> 30",
// "user app changed: password", "node s0-r added", "listen.port: 6432 -> 6433 (needs restart,
// ignored)".
std::vector<std::string> describe(const ConfigDiff& d);

}  // namespace pgscale::config

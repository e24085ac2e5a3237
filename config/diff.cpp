#include "config/diff.hpp"

#include <map>

#include "config/units.hpp"

namespace pgscale::config {
namespace {

std::string text(const std::string& v) { return v.empty() ? "\"\"" : v; }
std::string text(bool v) { return v ? "true" : "false"; }
std::string text(Millis v) { return format_duration(v); }
template <class E>
  requires std::is_enum_v<E>
std::string text(E v) {
  return std::string(to_string(v));
}
template <class I>
  requires std::is_integral_v<I>
std::string text(I v) {
  return std::to_string(v);
}
std::string text(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + s;
  return out + "]";
}
std::string text(const std::vector<BucketRange>& v) {
  std::string out = "[";
  for (const auto& r : v) {
    out += (out.size() > 1 ? ", " : "") + std::to_string(r.first) + ".." + std::to_string(r.last);
  }
  return out + "]";
}
std::string text(const std::optional<uint64_t>& v) { return v ? format_size(*v) : "off"; }
std::string text(const std::optional<Millis>& v) { return v ? format_duration(*v) : "off"; }
std::string text(const std::vector<ShardedTable>& v) {
  std::string out = "[";
  for (const auto& t : v) out += (out.size() > 1 ? ", " : "") + t.name + "(" + t.key + ")";
  return out + "]";
}

// Appends a FieldChange when the values differ; secrets never reach a log line.
class Changes {
 public:
  explicit Changes(std::vector<FieldChange>& out) : out_(out) {}
  template <class T>
  void field(const std::string& path, const T& a, const T& b, bool secret = false) {
    if (a == b) return;
    out_.push_back(secret ? FieldChange{path, "(hidden)", "(hidden)"}
                          : FieldChange{path, text(a), text(b)});
  }

 private:
  std::vector<FieldChange>& out_;
};

void diff_listen_admin(const Config& a, const Config& b, ConfigDiff& d) {
  Changes restart(d.needs_restart), other(d.other);
  restart.field("listen.address", a.listen.address, b.listen.address);
  restart.field("listen.port", a.listen.port, b.listen.port);
  restart.field("listen.workers", a.listen.workers, b.listen.workers);
  restart.field("listen.busy_poll_us", a.listen.busy_poll_us, b.listen.busy_poll_us);
  restart.field("listen.tls.mode", a.listen.tls.mode, b.listen.tls.mode);
  restart.field("listen.tls.cert_file", a.listen.tls.cert_file, b.listen.tls.cert_file);
  restart.field("listen.tls.key_file", a.listen.tls.key_file, b.listen.tls.key_file);
  restart.field("admin.http_address", a.admin.http_address, b.admin.http_address);
  restart.field("admin.http_port", a.admin.http_port, b.admin.http_port);
  restart.field("sharding.virtual_shards", a.sharding.virtual_shards, b.sharding.virtual_shards);
  other.field("listen.max_client_connections", a.listen.max_client_connections,
              b.listen.max_client_connections);
  other.field("listen.startup_timeout", a.listen.startup_timeout, b.listen.startup_timeout);
  other.field("log.level", a.log.level, b.log.level);
  other.field("sharding.tables", a.sharding.tables, b.sharding.tables);
}

void diff_pool(const PoolConfig& a, const PoolConfig& b, ConfigDiff& d) {
  Changes c(d.pool);
  c.field("pool.mode", a.mode, b.mode);
  c.field("pool.max_size", a.max_size, b.max_size);
  c.field("pool.min_idle", a.min_idle, b.min_idle);
  c.field("pool.connect_timeout", a.connect_timeout, b.connect_timeout);
  c.field("pool.checkout_timeout", a.checkout_timeout, b.checkout_timeout);
  c.field("pool.idle_timeout", a.idle_timeout, b.idle_timeout);
  c.field("pool.max_lifetime", a.max_lifetime, b.max_lifetime);
  c.field("pool.drain_timeout", a.drain_timeout, b.drain_timeout);
  c.field("pool.prepared_statement_cache", a.prepared_statement_cache, b.prepared_statement_cache);
  c.field("pool.auto_prepare", a.auto_prepare, b.auto_prepare);
  c.field("pool.server_tls", a.server_tls, b.server_tls);
  c.field("pool.reset_query", a.reset_query, b.reset_query);
}

void diff_routing_monitor(const Config& a, const Config& b, ConfigDiff& d) {
  Changes c(d.other);
  const RoutingConfig &ra = a.routing, &rb = b.routing;
  c.field("routing.read_write_split", ra.read_write_split, rb.read_write_split);
  c.field("routing.replica_selection", ra.replica_selection, rb.replica_selection);
  c.field("routing.max_replica_lag.bytes", ra.max_replica_lag.bytes, rb.max_replica_lag.bytes);
  c.field("routing.max_replica_lag.time", ra.max_replica_lag.time, rb.max_replica_lag.time);
  c.field("routing.no_replica", ra.no_replica, rb.no_replica);
  c.field("routing.read_your_writes", ra.read_your_writes, rb.read_your_writes);
  c.field("routing.read_safe_functions", ra.read_safe_functions, rb.read_safe_functions);
  c.field("routing.classifier_cache_size", ra.classifier_cache_size, rb.classifier_cache_size);
  const MonitorConfig &ma = a.monitor, &mb = b.monitor;
  c.field("monitor.user", ma.user, mb.user);
  c.field("monitor.password", ma.password, mb.password, true);
  c.field("monitor.database", ma.database, mb.database);
  c.field("monitor.interval", ma.interval, mb.interval);
  c.field("monitor.timeout", ma.timeout, mb.timeout);
  c.field("monitor.failure_threshold", ma.failure_threshold, mb.failure_threshold);
  c.field("monitor.ban_time", ma.ban_time, mb.ban_time);
  c.field("failover.enabled", a.failover.enabled, b.failover.enabled);
  c.field("failover.hold_timeout", a.failover.hold_timeout, b.failover.hold_timeout);
  c.field("failover.promote_timeout", a.failover.promote_timeout, b.failover.promote_timeout);
}

void diff_users(const Config& a, const Config& b, ConfigDiff& d) {
  std::map<std::string, const UserConfig*> before;
  for (const auto& u : a.users) before.emplace(u.name, &u);
  for (const auto& u : b.users) {
    auto it = before.find(u.name);
    if (it == before.end()) {
      d.users_added.push_back(u.name);
      continue;
    }
    NamedChange nc{u.name, {}};
    Changes c(nc.fields);
    c.field("auth", it->second->auth, u.auth);
    c.field("password", it->second->password, u.password, true);
    c.field("server_password", it->second->server_password, u.server_password, true);
    c.field("databases", it->second->databases, u.databases);
    if (!nc.fields.empty()) d.users_changed.push_back(std::move(nc));
    before.erase(it);
  }
  for (const auto& u : a.users) {
    if (before.count(u.name)) d.users_removed.push_back(u.name);
  }
}

struct PlacedNode {
  const NodeConfig* node;
  const std::string* shard;
};

std::map<std::string, PlacedNode> nodes_by_name(const Config& c) {
  std::map<std::string, PlacedNode> out;
  for (const auto& s : c.shards) {
    for (const auto& n : s.nodes) out.emplace(n.name, PlacedNode{&n, &s.name});
  }
  return out;
}

void diff_nodes(const Config& a, const Config& b, ConfigDiff& d) {
  const auto before = nodes_by_name(a);
  const auto after = nodes_by_name(b);
  for (const auto& [name, p] : after) {
    auto it = before.find(name);
    if (it == before.end()) {
      d.nodes_added.push_back(name);
      continue;
    }
    const NodeConfig &x = *it->second.node, &y = *p.node;
    NamedChange nc{name, {}};
    Changes c(nc.fields);
    c.field("shard", *it->second.shard, *p.shard);
    c.field("host", x.host, y.host);
    c.field("port", x.port, y.port);
    c.field("role", x.role, y.role);
    c.field("priority", x.priority, y.priority);
    c.field("weight", x.weight, y.weight);
    if (!nc.fields.empty()) d.nodes_changed.push_back(std::move(nc));
  }
  for (const auto& [name, p] : before) {
    if (!after.count(name)) d.nodes_removed.push_back(name);
  }
}

void diff_shards(const Config& a, const Config& b, ConfigDiff& d) {
  std::map<std::string, const ShardConfig*> before;
  for (const auto& s : a.shards) before.emplace(s.name, &s);
  Changes c(d.buckets);
  for (const auto& s : b.shards) {
    auto it = before.find(s.name);
    if (it == before.end()) {
      d.shards_added.push_back(s.name);
      continue;
    }
    c.field("shards." + s.name + ".buckets", it->second->buckets, s.buckets);
    before.erase(it);
  }
  for (const auto& s : a.shards) {
    if (before.count(s.name)) d.shards_removed.push_back(s.name);
  }
}

std::string line(const FieldChange& f) { return f.path + ": " + f.before + " -> " + f.after; }

std::string fields_text(const NamedChange& c, bool with_values) {
  std::string out;
  for (const auto& f : c.fields) {
    out += (out.empty() ? "" : ", ") +
           (with_values ? line(f) : f.path);
  }
  return out;
}

}  // namespace

bool ConfigDiff::has_reloadable_changes() const {
  return !users_added.empty() || !users_removed.empty() || !users_changed.empty() ||
         !pool.empty() || !nodes_added.empty() || !nodes_removed.empty() ||
         !nodes_changed.empty() || !shards_added.empty() || !shards_removed.empty() ||
         !buckets.empty() || !other.empty();
}

bool ConfigDiff::empty() const { return !has_reloadable_changes() && needs_restart.empty(); }

ConfigDiff diff(const Config& before, const Config& after) {
  ConfigDiff d;
  diff_listen_admin(before, after, d);
  diff_pool(before.pool, after.pool, d);
  diff_routing_monitor(before, after, d);
  diff_users(before, after, d);
  diff_shards(before, after, d);
  diff_nodes(before, after, d);
  return d;
}

std::vector<std::string> describe(const ConfigDiff& d) {
  std::vector<std::string> out;
  for (const auto& n : d.users_added) out.push_back("user " + n + " added");
  for (const auto& n : d.users_removed) out.push_back("user " + n + " removed");
  for (const auto& c : d.users_changed) out.push_back("user " + c.name + " changed: " + fields_text(c, false));
  for (const auto& f : d.pool) out.push_back(line(f));
  for (const auto& n : d.shards_added) out.push_back("shard " + n + " added");
  for (const auto& n : d.shards_removed) out.push_back("shard " + n + " removed");
  for (const auto& f : d.buckets) out.push_back(line(f));
  for (const auto& n : d.nodes_added) out.push_back("node " + n + " added");
  for (const auto& n : d.nodes_removed) out.push_back("node " + n + " removed");
  for (const auto& c : d.nodes_changed) out.push_back("node " + c.name + " changed: " + fields_text(c, true));
  for (const auto& f : d.other) out.push_back(line(f));
  for (const auto& f : d.needs_restart) out.push_back(line(f) + " (needs restart, ignored)");
  return out;
}

}  // namespace pgscale::config

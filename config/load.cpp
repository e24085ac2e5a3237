#include "config/load.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "config/detail/yaml_reader.hpp"
#include "config/validate.hpp"

namespace pgscale::config {
namespace {

using detail::MapScope;
using detail::Reader;
using detail::read_bool;
using detail::read_duration;
using detail::read_enum;
using detail::read_string;
using detail::read_string_list;
using detail::read_uint;

constexpr int64_t kU32 = std::numeric_limits<uint32_t>::max();

void read_tls(MapScope& parent, TlsConfig& tls) {
  MapScope m(parent.reader(), parent.get("tls"), parent.path_of("tls"));
  read_enum(m, "mode", tls.mode, parse_tls_mode, "disable, allow, require");
  read_string(m, "cert_file", tls.cert_file);
  read_string(m, "key_file", tls.key_file);
}

void read_listen(MapScope& root, ListenConfig& l) {
  MapScope m(root.reader(), root.get("listen"), "listen");
  read_string(m, "address", l.address);
  read_uint(m, "port", l.port, 1, 65535);
  read_uint(m, "workers", l.workers, 0, 1024);
  read_uint(m, "busy_poll_us", l.busy_poll_us, 0, 10000);
  read_uint(m, "max_client_connections", l.max_client_connections, 1, kU32);
  read_duration(m, "startup_timeout", l.startup_timeout);
  read_tls(m, l.tls);
}

void read_admin(MapScope& root, AdminConfig& a) {
  MapScope m(root.reader(), root.get("admin"), "admin");
  read_string(m, "http_address", a.http_address);
  read_uint(m, "http_port", a.http_port, 0, 65535);
}

void read_log(MapScope& root, LogConfig& l) {
  MapScope m(root.reader(), root.get("log"), "log");
  read_string(m, "level", l.level);
}

void read_users(MapScope& root, std::vector<UserConfig>& users) {
  detail::for_each_item(root.reader(), root.get("users"), "users",
                        [&](const YAML::Node& item, const std::string& path) {
                          UserConfig u;
                          MapScope m(root.reader(), item, path);
                          read_string(m, "name", u.name);
                          read_enum(m, "auth", u.auth, parse_auth_method,
                                    "scram-sha-256, md5, trust");
                          read_string(m, "password", u.password);
                          read_string(m, "server_password", u.server_password);
                          read_string_list(m, "databases", u.databases);
                          users.push_back(std::move(u));
                        });
}

void read_pool(MapScope& root, PoolConfig& p) {
  MapScope m(root.reader(), root.get("pool"), "pool");
  read_enum(m, "mode", p.mode, parse_pool_mode, "transaction, session");
  read_uint(m, "max_size", p.max_size, 0, kU32);
  read_uint(m, "min_idle", p.min_idle, 0, kU32);
  read_duration(m, "connect_timeout", p.connect_timeout);
  read_duration(m, "checkout_timeout", p.checkout_timeout);
  read_duration(m, "idle_timeout", p.idle_timeout);
  read_duration(m, "max_lifetime", p.max_lifetime);
  read_duration(m, "drain_timeout", p.drain_timeout);
  read_uint(m, "prepared_statement_cache", p.prepared_statement_cache, 0, kU32);
  read_bool(m, "auto_prepare", p.auto_prepare);
  read_enum(m, "server_tls", p.server_tls, parse_server_tls_mode, "disable, prefer, require");
  read_string(m, "reset_query", p.reset_query);
}

void read_routing(MapScope& root, RoutingConfig& r) {
  MapScope m(root.reader(), root.get("routing"), "routing");
  read_bool(m, "read_write_split", r.read_write_split);
  read_enum(m, "replica_selection", r.replica_selection, parse_replica_selection,
            "least_outstanding, round_robin, weighted_random");
  {
    MapScope lag(m.reader(), m.get("max_replica_lag"), m.path_of("max_replica_lag"));
    detail::read_optional_size(lag, "bytes", r.max_replica_lag.bytes);
    detail::read_optional_duration(lag, "time", r.max_replica_lag.time);
  }
  read_enum(m, "no_replica", r.no_replica, parse_no_replica_policy, "primary, error");
  read_bool(m, "read_your_writes", r.read_your_writes);
  read_string_list(m, "read_safe_functions", r.read_safe_functions);
  read_uint(m, "classifier_cache_size", r.classifier_cache_size, 0, kU32);
}

void read_monitor(MapScope& root, MonitorConfig& mon) {
  MapScope m(root.reader(), root.get("monitor"), "monitor");
  read_string(m, "user", mon.user);
  read_string(m, "password", mon.password);
  read_string(m, "database", mon.database);
  read_duration(m, "interval", mon.interval);
  read_duration(m, "timeout", mon.timeout);
  read_uint(m, "failure_threshold", mon.failure_threshold, 0, kU32);
  read_duration(m, "ban_time", mon.ban_time);
}

void read_failover(MapScope& root, FailoverConfig& f) {
  MapScope m(root.reader(), root.get("failover"), "failover");
  read_bool(m, "enabled", f.enabled);
  read_duration(m, "hold_timeout", f.hold_timeout);
  read_duration(m, "promote_timeout", f.promote_timeout);
}

void read_sharding(MapScope& root, ShardingConfig& s) {
  MapScope m(root.reader(), root.get("sharding"), "sharding");
  read_uint(m, "virtual_shards", s.virtual_shards, 0, kU32);
  detail::for_each_item(m.reader(), m.get("tables"), "sharding.tables",
                        [&](const YAML::Node& item, const std::string& path) {
                          ShardedTable t;
                          MapScope tm(m.reader(), item, path);
                          read_string(tm, "name", t.name);
                          read_string(tm, "key", t.key);
                          s.tables.push_back(std::move(t));
                        });
}

// One bucket range: `[first, last]` (inclusive) or a single bucket number.
void read_bucket_range(Reader& r, const YAML::Node& item, const std::string& path,
                       std::vector<BucketRange>& out) {
  auto as_bucket = [&](const YAML::Node& n, const std::string& p) -> std::optional<uint32_t> {
    int64_t v = -1;
    if (n.IsScalar()) {
      std::istringstream in(n.Scalar());
      char extra = 0;
      if (!(in >> v) || (in >> extra)) v = -1;
    }
    if (v < 0 || v > kU32) {
      r.error(n, p, "must be a bucket number 0..virtual_shards-1");
      return std::nullopt;
    }
    return static_cast<uint32_t>(v);
  };
  if (item.IsScalar()) {
    if (auto b = as_bucket(item, path)) out.push_back({*b, *b});
    return;
  }
  if (!item.IsSequence() || item.size() != 2) {
    r.error(item, path, "must be a range [first, last] (inclusive) or a single bucket number");
    return;
  }
  auto first = as_bucket(item[0], path + "[0]");
  auto last = as_bucket(item[1], path + "[1]");
  if (first && last) out.push_back({*first, *last});
}

void read_node(Reader& r, const YAML::Node& item, const std::string& path, NodeConfig& n) {
  MapScope m(r, item, path);
  read_string(m, "name", n.name);
  read_string(m, "host", n.host);
  read_uint(m, "port", n.port, 1, 65535);
  read_enum(m, "role", n.role, parse_node_role, "primary, replica");
  read_uint(m, "priority", n.priority, std::numeric_limits<int32_t>::min(),
            std::numeric_limits<int32_t>::max());
  read_uint(m, "weight", n.weight, 0, kU32);
}

void read_shards(MapScope& root, Config& c) {
  const YAML::Node shards = root.get("shards");
  const size_t count = shards.IsSequence() ? shards.size() : 0;
  detail::for_each_item(
      root.reader(), shards, "shards", [&](const YAML::Node& item, const std::string& path) {
        ShardConfig s;
        MapScope m(root.reader(), item, path);
        read_string(m, "name", s.name);
        const YAML::Node buckets = m.get("buckets");
        if (!detail::present(buckets) && count == 1 && c.sharding.virtual_shards > 0) {
          s.buckets.push_back({0, c.sharding.virtual_shards - 1});  // one shard owns everything
        } else if (!detail::present(buckets)) {
          m.reader().error(item, m.path_of("buckets"), "required when there are several shards");
        }
        detail::for_each_item(m.reader(), buckets, m.path_of("buckets"),
                              [&](const YAML::Node& b, const std::string& p) {
                                read_bucket_range(m.reader(), b, p, s.buckets);
                              });
        detail::for_each_item(m.reader(), m.get("nodes"), m.path_of("nodes"),
                              [&](const YAML::Node& n, const std::string& p) {
                                s.nodes.emplace_back();
                                read_node(m.reader(), n, p, s.nodes.back());
                              });
        c.shards.push_back(std::move(s));
      });
}

void read_root(Reader& r, const YAML::Node& doc, Config& c) {
  MapScope root(r, doc, "");
  // sharding first: a single shard without `buckets` gets 0..virtual_shards-1.
  read_sharding(root, c.sharding);
  read_listen(root, c.listen);
  read_admin(root, c.admin);
  read_log(root, c.log);
  read_users(root, c.users);
  read_pool(root, c.pool);
  read_routing(root, c.routing);
  read_monitor(root, c.monitor);
  read_failover(root, c.failover);
  read_shards(root, c);
}

LoadResult finish(Reader& r, Config c, const std::string& base_dir) {
  if (!base_dir.empty()) {
    namespace fs = std::filesystem;
    for (std::string* f : {&c.listen.tls.cert_file, &c.listen.tls.key_file}) {
      if (!f->empty() && fs::path(*f).is_relative()) *f = (fs::path(base_dir) / *f).string();
    }
  }
  // Validation errors on fields that failed to load would only repeat (or invent) problems.
  std::vector<std::string> failed;
  for (const ConfigError& e : r.errors()) failed.push_back(e.path);
  for (ConfigError e : validate(c, failed)) {
    const detail::Position pos = r.position_of(e.path);
    e.line = pos.line;
    e.column = pos.column;
    r.errors().push_back(std::move(e));
  }
  LoadResult out;
  out.errors = std::move(r.errors());
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     // Errors without a position (document-wide) go last.
                     const int la = a.line > 0 ? a.line : std::numeric_limits<int>::max();
                     const int lb = b.line > 0 ? b.line : std::numeric_limits<int>::max();
                     return la != lb ? la < lb : a.column < b.column;
                   });
  if (out.errors.empty()) out.config = std::move(c);
  return out;
}

LoadResult load_impl(std::string_view yaml, const std::string& base_dir) {
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    LoadResult out;
    ConfigError err{"", "YAML syntax error: " + e.msg};
    if (!e.mark.is_null()) {
      err.line = e.mark.line + 1;
      err.column = e.mark.column + 1;
    }
    out.errors.push_back(std::move(err));
    return out;
  }
  Reader r;
  Config c;
  try {
    read_root(r, doc, c);
  } catch (const YAML::Exception& e) {
    // Readers check node types before converting, so this is a bug; still no crash on bad input.
    r.errors().push_back(ConfigError{"", "internal error while reading: " + e.msg});
  }
  return finish(r, std::move(c), base_dir);
}

}  // namespace

LoadResult load_string(std::string_view yaml) { return load_impl(yaml, ""); }

LoadResult load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    LoadResult out;
    out.errors.push_back(ConfigError{"", "cannot read " + path + ": is a directory"});
    return out;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult out;
    out.errors.push_back(ConfigError{"", "cannot read " + path + ": " + std::strerror(errno)});
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return load_impl(text.str(), dir.empty() ? "." : dir);
}

}  // namespace pgscale::config

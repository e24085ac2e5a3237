#include "proxy/check.hpp"

#include "config/load.hpp"
#include "config/units.hpp"

namespace pgscale {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string ranges_text(const std::vector<config::BucketRange>& ranges) {
  std::vector<std::string> parts;
  for (const auto& r : ranges) {
    parts.push_back(r.first == r.last ? std::to_string(r.first)
                                      : std::to_string(r.first) + ".." + std::to_string(r.last));
  }
  return join(parts);
}

std::string listen_line(const config::Config& c) {
  std::string s = "listen: " + c.listen.address + ":" + std::to_string(c.listen.port) +
                  " (tls " + std::string(to_string(c.listen.tls.mode)) + ", workers " +
                  (c.listen.workers == 0 ? std::string("= cores") : std::to_string(c.listen.workers)) +
                  ", max " + std::to_string(c.listen.max_client_connections) + " clients)\n";
  s += "admin: " + (c.admin.http_port == 0 ? std::string("http off")
                                           : "http " + c.admin.http_address + ":" +
                                                 std::to_string(c.admin.http_port)) +
       "\n";
  return s;
}

}  // namespace

std::string format_errors(const std::vector<config::ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors) out += config::to_string(e) + "\n";
  return out;
}

std::string format_summary(const config::Config& c) {
  std::string s = listen_line(c);
  std::vector<std::string> users;
  for (const auto& u : c.users) users.push_back(u.name + " (" + std::string(to_string(u.auth)) + ")");
  s += "users (" + std::to_string(c.users.size()) + "): " + join(users) + "\n";
  const auto& p = c.pool;
  s += "pool: " + std::string(to_string(p.mode)) + ", max_size " + std::to_string(p.max_size) +
       ", min_idle " + std::to_string(p.min_idle) + ", checkout_timeout " +
       config::format_duration(p.checkout_timeout) + ", server_tls " +
       std::string(to_string(p.server_tls)) + "\n";
  const auto& r = c.routing;
  s += "routing: read/write split " + std::string(r.read_write_split ? "on" : "off") + ", " +
       std::string(to_string(r.replica_selection)) + ", max lag " +
       (r.max_replica_lag.bytes ? config::format_size(*r.max_replica_lag.bytes) : "unlimited") +
       " / " + (r.max_replica_lag.time ? config::format_duration(*r.max_replica_lag.time) : "unlimited") +
       ", failover " + (c.failover.enabled ? "on" : "off") + "\n";
  std::vector<std::string> tables;
  for (const auto& t : c.sharding.tables) tables.push_back(t.name + "(" + t.key + ")");
  s += "sharding: " + std::to_string(c.sharding.virtual_shards) + " virtual shards, " +
       std::to_string(c.shards.size()) + " shard(s)" +
       (tables.empty() ? std::string() : ", tables " + join(tables)) + "\n";
  for (const auto& shard : c.shards) {
    s += "  shard " + shard.name + ": buckets " + ranges_text(shard.buckets) + "\n";
    for (const auto& n : shard.nodes) {
      s += "    " + n.name + "  " + std::string(to_string(n.role)) + "  " +
           (config::is_socket_directory(n.host) ? config::socket_path(n.host, n.port)
                                                : n.host + ":" + std::to_string(n.port)) +
           "\n";
    }
  }
  return s;
}

int run_check(const std::string& path, std::FILE* out) {
  const config::LoadResult r = config::load_file(path);
  if (!r.ok()) {
    std::fprintf(out, "%s", format_errors(r.errors).c_str());
    std::fprintf(out, "%s: %zu error(s)\n", path.c_str(), r.errors.size());
    return 2;
  }
  std::fprintf(out, "%s: configuration is valid\n%s", path.c_str(), format_summary(*r.config).c_str());
  return 0;
}

}  // namespace pgscale

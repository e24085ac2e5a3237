// Topology rules: shard names, nodes, exactly one primary, and the bucket map (every bucket
// 0..virtual_shards-1 owned by exactly one shard).
#include <algorithm>
#include <map>
#include <set>

#include "config/detail/validator.hpp"

namespace pgscale::config::detail {
namespace {

std::string shard_path(size_t s) { return "shards[" + std::to_string(s) + "]"; }

std::string buckets_text(uint32_t first, uint32_t last) {
  if (first == last) return "bucket " + std::to_string(first);
  return "buckets " + std::to_string(first) + ".." + std::to_string(last);
}

std::string unassigned(uint64_t first, uint32_t last) {
  return buckets_text(static_cast<uint32_t>(first), last) +
         (first == last ? " is" : " are") + " not assigned to any shard";
}

struct Owned {
  uint32_t first, last;
  size_t shard, range;
  std::string path() const { return shard_path(shard) + ".buckets[" + std::to_string(range) + "]"; }
};

// Each well-formed range of every shard; malformed ones are reported here and left out.
std::vector<Owned> collect_ranges(const Config& c, Validator& v) {
  std::vector<Owned> out;
  const uint32_t vs = c.sharding.virtual_shards;
  for (size_t s = 0; s < c.shards.size(); ++s) {
    const auto& ranges = c.shards[s].buckets;
    for (size_t r = 0; r < ranges.size(); ++r) {
      const Owned o{ranges[r].first, ranges[r].last, s, r};
      if (o.first > o.last) {
        v.add(o.path(), "first " + std::to_string(o.first) + " is greater than last " +
                            std::to_string(o.last));
      } else if (o.last >= vs) {
        v.add(o.path(), "bucket " + std::to_string(o.last) + " is out of range 0.." +
                            std::to_string(vs - 1) + " (sharding.virtual_shards = " +
                            std::to_string(vs) + ")");
      } else {
        out.push_back(o);
      }
    }
  }
  return out;
}

// Sweep over ranges sorted by start: a start beyond the covered prefix is a gap, a start inside
// it an overlap with the range that covers furthest so far.
void check_coverage(const Config& c, Validator& v) {
  const uint32_t vs = c.sharding.virtual_shards;
  std::vector<Owned> ranges = collect_ranges(c, v);
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const Owned& a, const Owned& b) { return a.first < b.first; });
  uint64_t next = 0;  // first bucket not yet covered
  const Owned* furthest = nullptr;
  for (const Owned& r : ranges) {
    if (r.first > next) {
      v.add("shards", unassigned(next, r.first - 1));
    } else if (furthest != nullptr && r.first < next) {
      const uint32_t end = std::min<uint64_t>(r.last, next - 1);
      const std::string other_name = c.shards[furthest->shard].name;
      v.add(r.path(), buckets_text(r.first, end) + " already assigned by " + furthest->path() +
                          (other_name.empty() ? "" : " (shard " + other_name + ")"));
    }
    if (uint64_t{r.last} + 1 > next) {
      next = uint64_t{r.last} + 1;
      furthest = &r;
    }
  }
  if (next < vs) {
    v.add("shards", unassigned(next, vs - 1));
  }
}

void check_nodes(const Config& c, Validator& v) {
  std::map<std::string, std::string> node_names;  // name -> path of first use
  std::map<std::string, std::string> addresses;   // host:port -> path of first use
  for (size_t s = 0; s < c.shards.size(); ++s) {
    const ShardConfig& shard = c.shards[s];
    const std::string sp = shard_path(s);
    if (shard.nodes.empty()) v.add(sp + ".nodes", "at least one node is required");
    size_t primaries = 0;
    bool role_bad = false;
    for (size_t n = 0; n < shard.nodes.size(); ++n) {
      const NodeConfig& node = shard.nodes[n];
      const std::string np = sp + ".nodes[" + std::to_string(n) + "]";
      role_bad = role_bad || v.bad(np + ".role");
      if (node.role == NodeRole::primary) ++primaries;
      if (node.name.empty()) {
        v.add(np + ".name", "required");
      } else if (auto [it, fresh] = node_names.emplace(node.name, np + ".name"); !fresh) {
        v.add(np + ".name", "duplicate node name '" + node.name + "' (also " + it->second + ")");
      }
      if (node.host.empty()) v.add(np + ".host", "required");
      if (node.port == 0) v.add(np + ".port", "must be 1..65535");
      const bool on_socket = is_socket_directory(node.host);
      if (on_socket) {
        // The socket's path must fit sockaddr_un, and a unix-domain socket carries no TLS.
        if (const std::string path = socket_path(node.host, node.port); path.size() > kMaxSocketPath) {
          v.add(np + ".host", "socket directory too long: " + path + " is over the " +
                                  std::to_string(kMaxSocketPath) + " bytes a unix-domain socket path may have");
        }
        if (c.pool.server_tls == ServerTlsMode::require) {
          v.add(np + ".host", "a unix-domain socket directory has no TLS, but pool.server_tls is require");
        }
      }
      if (node.host.empty() || v.bad(np + ".host") || v.bad(np + ".port")) continue;
      const std::string addr = on_socket ? socket_path(node.host, node.port)  // "/dir" = "/dir/"
                                         : node.host + ":" + std::to_string(node.port);
      if (auto [it, fresh] = addresses.emplace(addr, np); !fresh) {
        v.add(np, "duplicate address " + addr + " (also " + it->second + ")");
      }
    }
    if (!shard.nodes.empty() && !role_bad && primaries != 1) {
      v.add(sp + ".nodes", "exactly one node must have role primary (found " +
                               std::to_string(primaries) + ")");
    }
    if (c.routing.replica_selection == ReplicaSelection::weighted_random) {
      const bool replicas = std::any_of(shard.nodes.begin(), shard.nodes.end(),
                                        [](const NodeConfig& n) { return n.role == NodeRole::replica; });
      const bool weighted = std::any_of(shard.nodes.begin(), shard.nodes.end(), [](const NodeConfig& n) {
        return n.role == NodeRole::replica && n.weight > 0;
      });
      if (replicas && !weighted) {
        v.add(sp + ".nodes", "weighted_random needs a replica with weight > 0");
      }
    }
  }
}

}  // namespace

void validate_sharding(const Config& c, Validator& v) {
  const ShardingConfig& sh = c.sharding;
  if (sh.virtual_shards < 1) v.add("sharding.virtual_shards", "must be at least 1");
  std::set<std::string> tables;
  for (size_t i = 0; i < sh.tables.size(); ++i) {
    const std::string tp = "sharding.tables[" + std::to_string(i) + "]";
    if (sh.tables[i].name.empty()) v.add(tp + ".name", "required");
    else if (!tables.insert(sh.tables[i].name).second) {
      v.add(tp + ".name", "duplicate sharded table '" + sh.tables[i].name + "'");
    }
    if (sh.tables[i].key.empty()) v.add(tp + ".key", "required");
  }
  if (c.shards.empty()) {
    v.add("shards", "at least one shard is required");
    return;
  }
  std::set<std::string> names;
  bool buckets_bad = v.bad("sharding.virtual_shards") || sh.virtual_shards < 1;
  for (size_t s = 0; s < c.shards.size(); ++s) {
    const std::string sp = shard_path(s);
    if (c.shards[s].name.empty()) v.add(sp + ".name", "required");
    else if (!names.insert(c.shards[s].name).second) {
      v.add(sp + ".name", "duplicate shard name '" + c.shards[s].name + "'");
    }
    buckets_bad = buckets_bad || v.bad(sp + ".buckets");
  }
  // A range that failed to load would show up as a bogus gap: report coverage only on clean input.
  if (!buckets_bad) check_coverage(c, v);
  check_nodes(c, v);
}

}  // namespace pgscale::config::detail

#include "config/validate.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include "config/detail/validator.hpp"

namespace pgscale::config {
namespace {

using detail::Validator;

// Decoded length of standard base64 (with padding), or -1 when the text is not base64.
long base64_decoded_length(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return -1;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch == '=') {
      if (i < s.size() - 2) return -1;
      ++pad;
      continue;
    }
    if (pad > 0 || !(std::isalnum(ch) || ch == '+' || ch == '/')) return -1;
  }
  return static_cast<long>(s.size() / 4 * 3 - pad);
}

void check_positive(Validator& v, const std::string& path, Millis d) {
  if (d.count() <= 0) v.add(path, "must be greater than 0");
}

// TLS material must exist when the daemon starts, not when the first client asks for TLS.
void check_readable(Validator& v, const std::string& path, const std::string& file,
                    std::string_view why) {
  if (file.empty()) {
    v.add(path, "required when " + std::string(why));
    return;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    v.add(path, "'" + file + "' does not exist or is not a regular file");
    return;
  }
  if (!std::ifstream(file)) v.add(path, "'" + file + "' is not readable");
}

void validate_listen(const Config& c, Validator& v) {
  const ListenConfig& l = c.listen;
  if (l.address.empty()) v.add("listen.address", "must not be empty");
  if (l.port == 0) v.add("listen.port", "must be 1..65535");
  if (l.max_client_connections == 0) v.add("listen.max_client_connections", "must be at least 1");
  check_positive(v, "listen.startup_timeout", l.startup_timeout);
  if (l.tls.mode != TlsMode::disable) {
    const std::string why = "listen.tls.mode is " + std::string(to_string(l.tls.mode));
    check_readable(v, "listen.tls.cert_file", l.tls.cert_file, why);
    check_readable(v, "listen.tls.key_file", l.tls.key_file, why);
  }
  if (c.admin.http_port != 0) {
    if (c.admin.http_address.empty()) v.add("admin.http_address", "must not be empty");
    if (c.admin.http_port == l.port && c.admin.http_address == l.address) {
      v.add("admin.http_port", "is the same address and port as listen");
    }
  }
  if (!is_known_log_level(c.log.level)) {
    v.add("log.level", "must be one of trace, debug, info, warn, error, critical, off (got '" +
                           c.log.level + "')");
  }
}

void validate_password(const UserConfig& u, const std::string& path, Validator& v) {
  // `path` is users[i].password; an auth method that failed to load says nothing about it.
  if (v.bad(path.substr(0, path.rfind('.')) + ".auth")) return;
  const bool scram = u.password.rfind("SCRAM-SHA-256$", 0) == 0;
  std::string why;
  if (scram && !is_valid_scram_verifier(u.password, &why)) v.add(path, why);
  switch (u.auth) {
    case AuthMethod::scram_sha_256:
      if (u.password.empty()) v.add(path, "required for auth scram-sha-256");
      if (is_md5_hash(u.password)) {
        v.add(path, "an md5 hash cannot verify scram-sha-256; give a SCRAM verifier or plaintext");
      }
      break;
    case AuthMethod::md5:
      if (u.password.empty()) v.add(path, "required for auth md5");
      if (scram) v.add(path, "a SCRAM verifier cannot verify md5; give an md5 hash or plaintext");
      break;
    case AuthMethod::trust:
      break;
  }
}

void validate_users(const Config& c, Validator& v) {
  if (c.users.empty()) v.add("users", "at least one user is required");
  std::set<std::string> names;
  for (size_t i = 0; i < c.users.size(); ++i) {
    const UserConfig& u = c.users[i];
    const std::string path = "users[" + std::to_string(i) + "]";
    if (u.name.empty()) {
      v.add(path + ".name", "required");
    } else if (!names.insert(u.name).second) {
      v.add(path + ".name", "duplicate user name '" + u.name + "'");
    }
    validate_password(u, path + ".password", v);
    std::set<std::string> dbs;
    for (size_t d = 0; d < u.databases.size(); ++d) {
      const std::string dpath = path + ".databases[" + std::to_string(d) + "]";
      if (u.databases[d].empty()) v.add(dpath, "must not be empty");
      else if (!dbs.insert(u.databases[d]).second) v.add(dpath, "listed twice");
    }
  }
}

void validate_pool(const PoolConfig& p, Validator& v) {
  if (p.max_size < 1) v.add("pool.max_size", "must be at least 1");
  if (p.min_idle > p.max_size && !v.bad("pool.max_size")) {
    v.add("pool.min_idle", "must not exceed pool.max_size (" + std::to_string(p.min_idle) + " > " +
                               std::to_string(p.max_size) + ")");
  }
  check_positive(v, "pool.connect_timeout", p.connect_timeout);
  check_positive(v, "pool.checkout_timeout", p.checkout_timeout);
}

void validate_routing_monitor(const Config& c, Validator& v) {
  const RoutingConfig& r = c.routing;
  for (size_t i = 0; i < r.read_safe_functions.size(); ++i) {
    if (r.read_safe_functions[i].empty()) {
      v.add("routing.read_safe_functions[" + std::to_string(i) + "]", "must not be empty");
    }
  }
  const MonitorConfig& m = c.monitor;
  if (m.user.empty()) v.add("monitor.user", "must not be empty");
  if (m.database.empty()) v.add("monitor.database", "must not be empty");
  check_positive(v, "monitor.interval", m.interval);
  check_positive(v, "monitor.timeout", m.timeout);
  if (m.failure_threshold < 1) v.add("monitor.failure_threshold", "must be at least 1");
  if (c.failover.enabled) {
    check_positive(v, "failover.hold_timeout", c.failover.hold_timeout);
    check_positive(v, "failover.promote_timeout", c.failover.promote_timeout);
  }
}

}  // namespace

bool is_md5_hash(std::string_view s) {
  if (s.size() != 35 || s.substr(0, 3) != "md5") return false;
  for (char ch : s.substr(3)) {
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
  }
  return true;
}

bool is_valid_scram_verifier(std::string_view s, std::string* why) {
  // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>  (RFC 5803 as used by PostgreSQL)
  constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
  const std::string expect =
      "must be SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64 parts)";
  if (s.substr(0, kPrefix.size()) != kPrefix) return *why = expect, false;
  s.remove_prefix(kPrefix.size());
  const size_t dollar = s.find('$');
  if (dollar == std::string_view::npos) return *why = expect, false;
  const std::string_view head = s.substr(0, dollar), keys = s.substr(dollar + 1);
  const size_t c1 = head.find(':'), c2 = keys.find(':');
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) return *why = expect, false;
  const std::string_view iter = head.substr(0, c1);
  if (iter.empty() || iter.size() > 9 ||
      iter.find_first_not_of("0123456789") != std::string_view::npos || std::stoul(std::string(iter)) == 0) {
    return *why = "SCRAM verifier: iteration count must be a positive integer", false;
  }
  if (base64_decoded_length(head.substr(c1 + 1)) <= 0) {
    return *why = "SCRAM verifier: salt is not valid base64", false;
  }
  if (base64_decoded_length(keys.substr(0, c2)) != 32 ||
      base64_decoded_length(keys.substr(c2 + 1)) != 32) {
    return *why = "SCRAM verifier: StoredKey and ServerKey must be base64 of 32 bytes", false;
  }
  return true;
}

std::vector<ConfigError> validate(const Config& c) { return validate(c, {}); }

std::vector<ConfigError> validate(const Config& c, const std::vector<std::string>& failed_paths) {
  Validator v(failed_paths);
  validate_listen(c, v);
  validate_users(c, v);
  validate_pool(c.pool, v);
  validate_routing_monitor(c, v);
  detail::validate_sharding(c, v);
  return v.take();
}

}  // namespace pgscale::config

#pragma once
// Cross-field rules of a Config (load_* calls this; code that builds a Config by hand can too).
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/error.hpp"

namespace pgscale::config {

// Every broken rule, each with the YAML path of the offending value (no line numbers: a Config
// does not know where it came from; load_* adds them).
std::vector<ConfigError> validate(const Config& c);

// `failed_paths`: YAML paths whose values failed to load (they hold defaults). Rules reading them
// are skipped so that one typo does not produce a cascade of invented errors.
std::vector<ConfigError> validate(const Config& c, const std::vector<std::string>& failed_paths);

// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64 parts, 32-byte keys), the
// format of pg_authid.rolpassword. On failure sets *why.
bool is_valid_scram_verifier(std::string_view v, std::string* why);

// "md5" followed by 32 hex digits: PostgreSQL's rule for telling an md5 hash from a plaintext.
bool is_md5_hash(std::string_view v);

}  // namespace pgscale::config

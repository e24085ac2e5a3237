#pragma once
// PRIVATE to config/: the error sink shared by validate.cpp and validate_shards.cpp.
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/error.hpp"

namespace pgscale::config::detail {

// True when `path` is `prefix` or lies under it ("shards[1]" covers "shards[1].nodes[0]" and
// "shards[1][0]" but not "shards[10]").
inline bool path_within(const std::string& path, const std::string& prefix) {
  return path.compare(0, prefix.size(), prefix) == 0 &&
         (path.size() == prefix.size() || path[prefix.size()] == '.' || path[prefix.size()] == '[');
}

class Validator {
 public:
  explicit Validator(const std::vector<std::string>& failed) : failed_(failed) {}

  // Drops the error when its value, or a mapping/list holding it, failed to load: that problem
  // is already reported and the value here is only a default.
  void add(const std::string& path, std::string message) {
    for (const std::string& f : failed_) {
      if (path_within(path, f)) return;
    }
    errors_.push_back(ConfigError{path, std::move(message)});
  }
  // True when anything at or under `prefix` failed to load: rules reading it should be skipped.
  bool bad(const std::string& prefix) const {
    for (const std::string& f : failed_) {
      if (path_within(f, prefix)) return true;
    }
    return false;
  }
  std::vector<ConfigError> take() { return std::move(errors_); }

 private:
  const std::vector<std::string>& failed_;
  std::vector<ConfigError> errors_;
};

void validate_sharding(const Config& c, Validator& v);  // sharding.*, shards[*] (validate_shards.cpp)

}  // namespace pgscale::config::detail

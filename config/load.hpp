#pragma once
// Loading the YAML topology file into config::Config. yaml-cpp stays behind this interface.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/error.hpp"

namespace pgscale::config {

struct LoadResult {
  std::optional<Config> config;     // set only when `errors` is empty
  std::vector<ConfigError> errors;  // every problem of the file at once, in file order
  bool ok() const { return config.has_value(); }
};

// Parses, applies defaults, then validates (validate.hpp). A YAML syntax error is one error with
// its line and column; otherwise every unknown key, wrong type, bad value and broken cross-field
// rule is reported with its YAML path.
LoadResult load_string(std::string_view yaml);

// Same, from a file. Relative listen.tls.cert_file/key_file paths are resolved against the
// directory of the file, so a config and its certificates can move together.
LoadResult load_file(const std::string& path);

}  // namespace pgscale::config

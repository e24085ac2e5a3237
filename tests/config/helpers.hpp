#pragma once
// Shared by the config tests: find an error by path, and write a temp file.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/error.hpp"
#include "config/load.hpp"

namespace pgscale::config::test {

inline std::string dump(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors) out += to_string(e) + "\n";
  return out;
}

// True when exactly this path has an error whose message contains `needle`.
inline bool has_error(const std::vector<ConfigError>& errors, const std::string& path,
                      const std::string& needle = "") {
  return std::any_of(errors.begin(), errors.end(), [&](const ConfigError& e) {
    return e.path == path && e.message.find(needle) != std::string::npos;
  });
}

// A config that is valid; tests append or override sections to break one rule at a time.
inline const char* kValidBase = R"(
users:
  - {name: app, auth: trust}
shards:
  - name: s0
    buckets: [[0, 511]]
    nodes:
      - {name: s0-p, host: 127.0.0.1, port: 15432, role: primary}
      - {name: s0-r, host: 127.0.0.1, port: 15433}
  - name: s1
    buckets: [[512, 1023]]
    nodes:
      - {name: s1-p, host: 127.0.0.1, port: 15435, role: primary}
)";

inline LoadResult load_with(const std::string& extra) {
  return load_string(std::string(kValidBase) + extra);
}

// A directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pgscale-config-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

#ifndef PGSCALE_SOURCE_DIR
#define PGSCALE_SOURCE_DIR "."
#endif
inline std::string example(const std::string& name) {
  return std::string(PGSCALE_SOURCE_DIR) + "/config/examples/" + name;
}

}  // namespace pgscale::config::test

#pragma once
// One configuration problem, addressed by its YAML path (`shards[1].nodes[0].port`).
#include <string>
#include <vector>

namespace pgscale::config {

struct ConfigError {
  std::string path;     // YAML path; empty for document-level problems (syntax, unreadable file)
  std::string message;  // "must be 1..65535"
  int line = 0;         // 1-based position in the YAML source; 0 = unknown (e.g. built in code)
  int column = 0;
};

// "shards[1].nodes[0].port: must be 1..65535 (line 14, column 15)"; without a path:
// "line 3, column 7: <message>".
std::string to_string(const ConfigError& e);

}  // namespace pgscale::config

#include "config/error.hpp"

namespace pgscale::config {

std::string to_string(const ConfigError& e) {
  std::string out;
  if (!e.path.empty()) {
    out = e.path + ": " + e.message;
    if (e.line > 0) {
      out += " (line " + std::to_string(e.line) + ", column " + std::to_string(e.column) + ")";
    }
    return out;
  }
  if (e.line > 0) {
    out = "line " + std::to_string(e.line) + ", column " + std::to_string(e.column) + ": ";
  }
  return out + e.message;
}

}  // namespace pgscale::config

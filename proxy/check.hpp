#pragma once
// `pgscale --check FILE`: validate a topology file and explain it, without starting anything.
#include <cstdio>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/error.hpp"

namespace pgscale {

// Loads and validates `path`. Invalid: prints every error, one per line ("path: message (line L,
// column C)"), and returns 2. Valid: prints a short summary of the topology and returns 0.
int run_check(const std::string& path, std::FILE* out);

// The same error lines, for the daemon refusing to start with an invalid file.
std::string format_errors(const std::vector<config::ConfigError>& errors);

// The summary printed by run_check for a valid configuration (also useful at startup, debug level).
std::string format_summary(const config::Config& c);

}  // namespace pgscale

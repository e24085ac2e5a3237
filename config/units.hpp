#pragma once
// Durations and sizes as written in the YAML file. Kept apart from the loader so that other parts
// (admin console, logs) print values the way an operator would write them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace pgscale::config {

// "250ms", "5s", "10min", "1h", "2d" (an optional space before the unit is allowed; "0" alone too).
// The unit is required: a bare number is ambiguous (PgBouncer: seconds, PostgreSQL: ms).
// "m" is rejected on purpose, it reads as minutes to some and as milliseconds/months to others.
// On failure returns nullopt and sets *why.
std::optional<Millis> parse_duration(std::string_view s, std::string* why);

// "16MB", "512kB", "1GB", "2TB", "100B" or a plain byte count "1048576". Units are 1024-based like
// PostgreSQL's memory settings and case-insensitive.
std::optional<uint64_t> parse_size(std::string_view s, std::string* why);

// Shortest exact spelling: 600000ms -> "10min", 1500ms -> "1500ms".
std::string format_duration(Millis d);
// Shortest exact spelling: 16777216 -> "16MB", 1000 -> "1000B".
std::string format_size(uint64_t bytes);

}  // namespace pgscale::config

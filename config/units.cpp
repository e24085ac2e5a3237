#include "config/units.hpp"

#include <array>
#include <cctype>
#include <limits>
#include <utility>


namespace pgscale::config {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "  16 MB " into digits 16 and unit "MB"; false when there are no leading digits or the
// number overflows.
bool split_number(std::string_view s, uint64_t& number, std::string_view& unit) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  size_t i = 0;
  number = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (number > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    number = number * 10 + digit;
    ++i;
  }
  if (i == 0) return false;
  unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return true;
}

constexpr std::array<std::pair<std::string_view, uint64_t>, 5> kDurationUnits{{
    {"ms", 1}, {"s", 1000}, {"min", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
constexpr std::array<std::pair<std::string_view, uint64_t>, 5> kSizeUnits{{
    {"b", 1}, {"kb", 1ull << 10}, {"mb", 1ull << 20}, {"gb", 1ull << 30}, {"tb", 1ull << 40}}};

}  // namespace

std::optional<Millis> parse_duration(std::string_view s, std::string* why) {
  uint64_t n = 0;
  std::string_view unit;
  if (!split_number(s, n, unit)) {
    *why = "must be a duration such as 500ms, 5s, 10min, 1h";
    return std::nullopt;
  }
  if (unit.empty()) {
    if (n == 0) return Millis{0};
    *why = "needs a unit (ms, s, min, h, d), e.g. " + std::to_string(n) + "s";
    return std::nullopt;
  }
  for (const auto& [name, factor] : kDurationUnits) {
    if (unit != name) continue;
    // Millis is int64: keep a margin so deadline arithmetic (now + d) cannot overflow.
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 4) / factor) {
      *why = "is too large";
      return std::nullopt;
    }
    return Millis{static_cast<int64_t>(n * factor)};
  }
  *why = unit == "m" ? std::string("unit 'm' is ambiguous: write min for minutes, ms for milliseconds")
                    : "unknown unit '" + std::string(unit) + "' (use ms, s, min, h, d)";
  return std::nullopt;
}

std::optional<uint64_t> parse_size(std::string_view s, std::string* why) {
  uint64_t n = 0;
  std::string_view unit;
  if (!split_number(s, n, unit)) {
    *why = "must be a size such as 1048576, 512kB, 16MB, 1GB";
    return std::nullopt;
  }
  if (unit.empty()) return n;
  const std::string u = lower(unit);
  for (const auto& [name, factor] : kSizeUnits) {
    if (u != name) continue;
    if (n > std::numeric_limits<uint64_t>::max() / factor) {
      *why = "is too large";
      return std::nullopt;
    }
    return n * factor;
  }
  *why = "unknown unit '" + std::string(unit) + "' (use B, kB, MB, GB, TB)";
  return std::nullopt;
}

std::string format_duration(Millis d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
    const auto factor = static_cast<int64_t>(it->second);
    if (ms % factor == 0) return std::to_string(ms / factor) + std::string(it->first);
  }
  return std::to_string(ms) + "ms";
}

std::string format_size(uint64_t bytes) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 4> kNames{{
      {"TB", 1ull << 40}, {"GB", 1ull << 30}, {"MB", 1ull << 20}, {"kB", 1ull << 10}}};
  if (bytes != 0) {
    for (const auto& [name, factor] : kNames) {
      if (bytes % factor == 0) return std::to_string(bytes / factor) + std::string(name);
    }
  }
  return std::to_string(bytes) + "B";
}

}  // namespace pgscale::config

#include "proxy/lsn.hpp"

#include <cstdio>

namespace pgscale {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One 32-bit half: 1..8 hex digits, so it can never overflow.
std::optional<uint32_t> parse_half(std::string_view s) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  return v;
}

}  // namespace

std::optional<Lsn> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto hi = parse_half(text.substr(0, slash));
  auto lo = parse_half(text.substr(slash + 1));  // a second '/' is not a hex digit: rejected here
  if (!hi || !lo) return std::nullopt;
  return Lsn{(static_cast<uint64_t>(*hi) << 32) | *lo};
}

std::string format_lsn(Lsn lsn) {
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn.value >> 32),
                        static_cast<unsigned>(lsn.value & 0xFFFFFFFFu));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace pgscale

#pragma once
// PostgreSQL WAL positions (pg_lsn): a 64-bit byte offset printed as "%X/%X" (high/low 32 bits).
// Lag arithmetic must be exact and unsigned; see PostgreSQL docs §8.20 "pg_lsn Type".
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgscale {

struct Lsn {
  uint64_t value = 0;

  friend constexpr auto operator<=>(Lsn, Lsn) = default;
};

// Parses "16/B374D848": 1..8 hex digits, '/', 1..8 hex digits (either case), nothing else — the
// exact set pg_lsn_in accepts minus leading/trailing blanks. Garbage → nullopt, never a partial value.
std::optional<Lsn> parse_lsn(std::string_view text);

// Formats as PostgreSQL does ("%X/%X", upper case, no leading zeros): "0/0", "16/B374D848".
std::string format_lsn(Lsn lsn);

// Which side of a comparison holds the later WAL position.
enum class LsnAhead { equal, left, right };

struct LsnDiff {
  uint64_t bytes = 0;               // |left - right|, exact
  LsnAhead ahead = LsnAhead::equal;
};

// Exact distance between two positions and which one is ahead.
constexpr LsnDiff lsn_diff(Lsn left, Lsn right) {
  if (left.value == right.value) return {0, LsnAhead::equal};
  if (left.value > right.value) return {left.value - right.value, LsnAhead::left};
  return {right.value - left.value, LsnAhead::right};
}

// Bytes `behind` still has to replay to reach `ahead`; 0 when `behind` is already at or past it
// (a replica sampled slightly after its primary may report a later position: that is no lag).
constexpr uint64_t lsn_bytes_behind(Lsn ahead, Lsn behind) {
  return ahead.value > behind.value ? ahead.value - behind.value : 0;
}

}  // namespace pgscale

#pragma once
// Where a comment, quoted literal/identifier or dollar-quoted string ends, as PostgreSQL 15's
// lexer (scan.l) has it: shared by the parser-free scanners (classifier_normalize.cpp,
// session_state_scan.cpp) so they cannot disagree about what is code and what is text. Each
// *_end function takes the index of the token's first byte and returns the index just past the
// token, or npos when the text ends first (unterminated). No allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgscale::sql_lex {

inline constexpr std::size_t npos = std::string_view::npos;

// scan.l ident_start / ident_cont (bytes >= 0x80 are letters there).
constexpr bool ident_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
constexpr bool ident_char(unsigned char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }

// "--" up to the first newline or carriage return (scan.l non_newline), which is not part of it.
inline std::size_t line_comment_end(std::string_view s, std::size_t i) {
  const std::size_t end = s.find_first_of("\n\r", i);
  return end == npos ? s.size() : end;
}

// "/*" ... "*/"; block comments nest.
inline std::size_t block_comment_end(std::string_view s, std::size_t i) {
  int depth = 0;
  while (i + 1 < s.size()) {
    if (s[i] == '/' && s[i + 1] == '*') {
      ++depth;
      i += 2;
    } else if (s[i] == '*' && s[i + 1] == '/') {
      i += 2;
      if (--depth == 0) return i;
    } else {
      ++i;
    }
  }
  return npos;
}

// '...' or "..." (quote = s[i]) with the quote doubled inside. Backslashes are not looked at:
// callers that meet E'...' or may (standard_conforming_strings) handle them themselves.
inline std::size_t quoted_end(std::string_view s, std::size_t i) {
  const char quote = s[i];
  for (std::size_t j = i + 1; j < s.size(); ++j) {
    if (s[j] != quote) continue;
    if (j + 1 < s.size() && s[j + 1] == quote) {
      ++j;
      continue;
    }
    return j + 1;
  }
  return npos;
}

// The length of the $tag$ (both '$' included) starting at s[i] == '$'; 0 when none starts there
// (a lone '$'; callers handle $1 parameters first).
inline std::size_t dollar_tag_length(std::string_view s, std::size_t i) {
  std::size_t j = i + 1;
  if (j < s.size() && ident_start(static_cast<unsigned char>(s[j]))) {
    while (j < s.size() && ident_char(static_cast<unsigned char>(s[j])) && s[j] != '$') ++j;
  }
  return j < s.size() && s[j] == '$' ? j - i + 1 : 0;
}

// $tag$ ... $tag$ starting at i, tag_length = dollar_tag_length(s, i) > 0.
inline std::size_t dollar_quote_end(std::string_view s, std::size_t i, std::size_t tag_length) {
  const std::size_t close = s.find(s.substr(i, tag_length), i + tag_length);
  return close == npos ? npos : close + tag_length;
}

// A number: digits [. digits] [e [+-] digits] (scan.l integer, decimal, real), starting at a digit
// or at '.' followed by a digit. "1..2" ends before the first '.'; an 'e' without digits is not
// part of it. Callers look at what follows: PostgreSQL 15 rejects trailing junk (123abc).
inline std::size_t number_end(std::string_view s, std::size_t i) {
  auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  while (digit(i)) ++i;
  if (i < s.size() && s[i] == '.' && !(i + 1 < s.size() && s[i + 1] == '.')) {
    ++i;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t q = i + 1;
    if (q < s.size() && (s[q] == '+' || s[q] == '-')) ++q;
    if (digit(q)) {
      i = q;
      while (digit(i)) ++i;
    }
  }
  return i;
}

// A keyword of up to 8 lower-case letters packed into an integer, first letter in the low byte:
// what a little-endian 8-byte load of the text gives, for one compare per keyword.
constexpr std::uint64_t pack(std::string_view k) {
  std::uint64_t v = 0;
  for (std::size_t q = k.size(); q-- > 0;) v = (v << 8) | static_cast<unsigned char>(k[q]);
  return v;
}

}  // namespace pgscale::sql_lex

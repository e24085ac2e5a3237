// The parser-free scan of analyze_effects(); see session_state_scan.hpp.
#include "proxy/session_state_scan.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "proxy/sql_lex.hpp"

namespace pgscale::proxy::detail {
namespace {

using sql_lex::ident_char;
using sql_lex::ident_start;
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr std::array<std::string_view, 12> kLeadingWords = {
    "set", "reset", "discard", "deallocate", "prepare", "declare",
    "listen", "unlisten", "close", "drop", "do", "call"};
constexpr std::array<std::string_view, 1> kAnywhereWords = {"set_config"};
// TEMP/TEMPORARY create something only right after these (CREATE [GLOBAL|LOCAL] TEMP, CREATE OR
// REPLACE TEMP VIEW, SELECT ... INTO TEMP): a column named temp does not send INSERTs to the parser.
constexpr std::array<std::string_view, 5> kBeforeTemp = {"create", "global", "local", "into", "replace"};
constexpr std::array<std::string_view, 4> kAnywherePrefixes = {
    "pg_temp", "pg_advisory_lock", "pg_try_advisory_lock", "pg_advisory_unlock"};
constexpr std::array<std::string_view, 11> kNestingWords = {
    "and", "or", "not", "is", "case", "at", "collate", "between", "like", "ilike", "similar"};

template <std::size_t N>
bool one_of(std::string_view w, const std::array<std::string_view, N>& words) {
  for (auto k : words) {
    if (w == k) return true;
  }
  return false;
}

bool relevant_word(std::string_view w, bool leading) {
  // Every word looked for starts with one of these letters: most words end here.
  if (w.size() < 2) return false;
  switch (w[0]) {
    case 'c': case 'd': case 'l': case 'p': case 'r': case 's': case 't': case 'u': break;
    default: return false;
  }
  if (leading && one_of(w, kLeadingWords)) return true;
  if (one_of(w, kAnywhereWords)) return true;
  for (auto p : kAnywherePrefixes) {
    if (w.starts_with(p)) return true;
  }
  return false;
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  // true = a relevant word or an uncertainty was found.
  bool run() {
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '-' && peek(1) == '-') {
        skip_line_comment();
      } else if (c == '/' && peek(1) == '*') {
        if (!skip_block_comment()) return true;
      } else if (c == '\'') {
        if (!skip_string()) return true;
        leading_ = false;
      } else if (c == '"') {
        if (quoted_identifier()) return true;
        leading_ = false;
      } else if (c == '$' && !(peek(1) >= '0' && peek(1) <= '9')) {
        if (!skip_dollar()) return true;
        leading_ = false;
      } else if (c == ';') {
        leading_ = true;
        ++i_;
      } else if (ident_start(c)) {
        if (word()) return true;
        leading_ = false;
      } else if (c == ',' || c == '(' || c == ')') {
        before_temp_ = false;
        leading_ = false;
        ++i_;
      } else {
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') leading_ = false;
        ++i_;
      }
    }
    return false;
  }

 private:
  char peek(std::size_t k) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  // Comments, literals and dollar quotes end where PostgreSQL's lexer ends them (sql_lex.hpp, shared
  // with the classifier's normaliser).
  void skip_line_comment() { i_ = sql_lex::line_comment_end(s_, i_); }

  bool skip_block_comment() {  // nested, as in PostgreSQL
    const std::size_t end = sql_lex::block_comment_end(s_, i_);
    if (end == sql_lex::npos) return false;
    i_ = end;
    return true;
  }

  // '...' with '' doubling. A backslash may or may not escape (E'', standard_conforming_strings):
  // rather than guess, give up (false).
  bool skip_string() {
    const std::size_t end = sql_lex::quoted_end(s_, i_);
    if (end == sql_lex::npos || s_.substr(i_, end - i_).find('\\') != std::string_view::npos) return false;
    i_ = end;
    return true;
  }

  // "..." with "" doubling; true when it names a relevant function (or is unterminated).
  bool quoted_identifier() {
    const std::size_t end = sql_lex::quoted_end(s_, i_);
    if (end == sql_lex::npos) return true;
    const std::string_view content = s_.substr(i_ + 1, end - i_ - 2);
    i_ = end;
    return relevant_word(content, false);
  }

  bool skip_dollar() {  // $tag$ ... $tag$; a lone '$' is skipped
    const std::size_t tag = sql_lex::dollar_tag_length(s_, i_);
    if (tag == 0) {
      ++i_;
      return true;
    }
    const std::size_t end = sql_lex::dollar_quote_end(s_, i_, tag);
    if (end == sql_lex::npos) return false;
    i_ = end;
    return true;
  }

  bool word() {
    const std::size_t start = i_;
    while (i_ < s_.size() && ident_char(static_cast<unsigned char>(s_[i_]))) ++i_;
    const std::size_t n = std::min(i_ - start, buf_.size());  // longer words: only prefixes matter
    for (std::size_t k = 0; k < n; ++k) buf_[k] = lower(s_[start + k]);
    const std::string_view w(buf_.data(), n);
    // E'...' / U&'...' literals follow their prefix directly; skip_string handles them.
    if (before_temp_ && (w == "temp" || w == "temporary")) return true;
    before_temp_ = one_of(w, kBeforeTemp);
    return relevant_word(w, leading_);
  }

  std::string_view s_;
  std::size_t i_ = 0;
  bool leading_ = true;
  bool before_temp_ = false;  // the last word allows TEMP/TEMPORARY to follow
  std::array<char, 40> buf_{};
};

}  // namespace

std::size_t nesting_bound(std::string_view sql) {
  static constexpr std::string_view kNestingChars = "([+-*/<>=~!@#%^&|`?:";
  std::size_t n = 0;
  std::array<char, 8> w{};
  std::size_t wl = 0;
  auto end_word = [&] {
    if (wl > 0 && wl <= w.size() && one_of(std::string_view(w.data(), wl), kNestingWords)) ++n;
    wl = 0;
  };
  for (char c : sql) {
    if (ident_char(static_cast<unsigned char>(c))) {
      if (wl < w.size()) w[wl] = lower(c);
      ++wl;
      continue;
    }
    end_word();
    if (kNestingChars.find(c) != std::string_view::npos) ++n;
  }
  end_word();
  return n;
}

ScanVerdict scan_for_effects(std::string_view sql) {
  if (!Scanner(sql).run()) return ScanVerdict::none;
  return nesting_bound(sql) > kMaxNesting ? ScanVerdict::too_complex : ScanVerdict::maybe;
}

}  // namespace pgscale::proxy::detail

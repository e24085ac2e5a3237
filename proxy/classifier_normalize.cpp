#include "proxy/classifier_normalize.hpp"

#include <array>
#include <cstring>

#include "proxy/sql_lex.hpp"

namespace pgscale::classifier {
namespace {

// Placeholders: control bytes are rejected by PostgreSQL's lexer outside literals, and the scanner
// refuses to produce a cacheable key for a text containing one.
constexpr char kNumber = '\x01';
constexpr char kString = '\x02';
constexpr char kBits = '\x03';

// Character classes in one table: the scanner looks at every byte, so branches are costly.
enum : unsigned char { kSpace = 1, kIdentStart = 2, kDigit = 4, kIdentChar = 8 };
constexpr auto kClass = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    unsigned char v = 0;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') v |= kSpace;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    if (alpha) v |= kIdentStart | kIdentChar;
    if (c >= '0' && c <= '9') v |= kDigit | kIdentChar;
    if (c == '$') v |= kIdentChar;
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}();

inline bool is_space(unsigned char c) { return kClass[c] & kSpace; }
inline bool is_ident_start(unsigned char c) { return kClass[c] & kIdentStart; }
inline bool is_ident_char(unsigned char c) { return kClass[c] & kIdentChar; }
inline bool is_digit(unsigned char c) { return kClass[c] & kDigit; }
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals_prefix(std::string_view text, std::size_t pos, std::string_view word) {
  if (pos + word.size() > text.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (lower(text[pos + k]) != word[k]) return false;
  }
  return true;
}

bool mentions_pgscale(std::string_view text) {
  for (std::size_t pos = 0; pos + 7 <= text.size(); ++pos) {
    if (iequals_prefix(text, pos, "pgscale")) return true;
  }
  return false;
}

class Scanner {
 public:
  Scanner(std::string_view sql, std::string& out) : s_(sql), out_(out) {}

  NormalizeResult run() {
    // Output never exceeds 2n: every byte yields at most one, except a kept comment (>= 2 bytes)
    // which gains a separator on each side. Writing through a raw pointer keeps the per-token
    // cost to a store instead of a capacity check.
    out_.resize(2 * s_.size() + 16);
    base_ = w_ = out_.data();
    while (i_ < s_.size() && res_.status != NormalizeStatus::unterminated) step();
    while (w_ != base_ && w_[-1] == ' ') --w_;
    out_.resize(static_cast<std::size_t>(w_ - base_));
    return res_;
  }

 private:
  void step() {
    const unsigned char c = static_cast<unsigned char>(s_[i_]);
    if (is_ident_start(c)) return word();
    if (is_space(c)) return space();
    if (c == '-' && peek(1) == '-') return line_comment();
    if (c == '/' && peek(1) == '*') return block_comment();
    if (c == '\'') return quoted_literal(false, kString);
    if (c == '"') return quoted_ident();
    if (c == '$') return dollar();
    if (is_digit(c) || (c == '.' && is_digit(static_cast<unsigned char>(peek(1))))) return number();
    if (c < 0x20 || c == 0x7f) not_cacheable();  // NUL, control bytes: let the parser decide
    if (c != ',' && c != ';' && c != ')' && c != ']') ++res_.nesting_tokens;
    put(static_cast<char>(c));
    ++i_;
  }

  void put(char c) { *w_++ = c; }
  void put(std::string_view t) {
    std::memcpy(w_, t.data(), t.size());
    w_ += t.size();
  }

  char peek(std::size_t k) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }
  void not_cacheable() {
    if (res_.status == NormalizeStatus::ok) res_.status = NormalizeStatus::not_cacheable;
  }
  void unterminated() { res_.status = NormalizeStatus::unterminated; }
  void sep() {
    if (w_ != base_ && w_[-1] != ' ') *w_++ = ' ';
  }

  void space() {
    while (i_ < s_.size() && is_space(static_cast<unsigned char>(s_[i_]))) ++i_;
    sep();
  }

  void comment_text(std::string_view text) {
    if (auto h = parse_hint_comment(text)) {
      // Conflicting hints: the primary wins (a primary read is slow, a replica write fails).
      if (!res_.hint || *h == Hint::primary) res_.hint = h;
    }
    // Comments mentioning pgscale stay in the key (hints must never be confused by the cache);
    // all others (sqlcommenter tags, request ids) are dropped so they do not defeat the cache.
    if (mentions_pgscale(text)) {
      sep();
      put(text);
      put(' ');
    } else {
      sep();
    }
  }

  void line_comment() {
    const std::size_t end = sql_lex::line_comment_end(s_, i_);
    comment_text(s_.substr(i_, end - i_));
    i_ = end;
  }

  // PostgreSQL block comments nest (scan.l xc).
  void block_comment() {
    const std::size_t start = i_;
    const std::size_t end = sql_lex::block_comment_end(s_, i_);
    if (end == sql_lex::npos) {
      i_ = s_.size();
      return unterminated();
    }
    i_ = end;
    comment_text(s_.substr(start, end - start));
  }

  // '...' with '' doubling; with backslash escapes when `escapes` (E'...'). A backslash in an
  // E-string could make it invalid (bad \u escape), so such keys are not cached.
  void quoted_literal(bool escapes, char placeholder) {
    if (!escapes) {
      const std::size_t end = sql_lex::quoted_end(s_, i_);
      i_ = end == sql_lex::npos ? s_.size() : end;
      if (end == sql_lex::npos) return unterminated();
      return put(placeholder);
    }
    ++i_;  // opening quote
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\'') {
        if (peek(1) == '\'') {
          i_ += 2;
          continue;
        }
        ++i_;
        put(placeholder);
        return;
      }
      if (c == '\\' && escapes) {
        not_cacheable();
        i_ += 2;
        continue;
      }
      ++i_;
    }
    unterminated();
  }

  void quoted_ident() {
    const std::size_t start = i_;
    const std::size_t end = sql_lex::quoted_end(s_, i_);
    i_ = end == sql_lex::npos ? s_.size() : end;
    if (end == sql_lex::npos) return unterminated();
    put(s_.substr(start, end - start));
  }

  // $1 (parameter) or $tag$...$tag$ (dollar-quoted string). Reached only at a token start, since
  // words consume their own '$'.
  void dollar() {
    if (is_digit(static_cast<unsigned char>(peek(1)))) {
      put('$');
      ++i_;
      while (i_ < s_.size() && is_digit(static_cast<unsigned char>(s_[i_]))) put(s_[i_++]);
      return;
    }
    const std::size_t tag = sql_lex::dollar_tag_length(s_, i_);
    if (tag == 0) {  // not a dollar quote: a lone '$' (a syntax error)
      not_cacheable();
      put('$');
      ++i_;
      return;
    }
    const std::size_t end = sql_lex::dollar_quote_end(s_, i_, tag);
    if (end == sql_lex::npos) {
      i_ = s_.size();
      return unterminated();
    }
    i_ = end;
    put(kString);
  }

  void number() {
    while (i_ < s_.size() && is_digit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ < s_.size() && s_[i_] == '.' && peek(1) != '.') {
      ++i_;
      while (i_ < s_.size() && is_digit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      std::size_t j = i_ + 1;
      if (j < s_.size() && (s_[j] == '+' || s_[j] == '-')) ++j;
      if (j < s_.size() && is_digit(static_cast<unsigned char>(s_[j]))) {
        i_ = j;
        while (i_ < s_.size() && is_digit(static_cast<unsigned char>(s_[i_]))) ++i_;
      }
    }
    // PostgreSQL 15 rejects "trailing junk" (123abc); do not guess how such text tokenises.
    if (i_ < s_.size() && is_ident_char(static_cast<unsigned char>(s_[i_]))) not_cacheable();
    put(kNumber);
  }

  // Keyword or identifier; E'..', B'..', X'..', N'..', U&'..' string prefixes are one-letter words.
  void word() {
    const std::size_t start = i_;
    while (i_ < s_.size() && is_ident_char(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ - start == 1 && i_ < s_.size()) {
      const char p = lower(s_[start]);
      if (s_[i_] == '\'') {
        if (p == 'e') return quoted_literal(true, kString);
        if (p == 'b' || p == 'x') return quoted_literal(false, kBits);
        if (p == 'n') return quoted_literal(false, kString);
      }
      if (p == 'u' && s_[i_] == '&' && (peek(1) == '\'' || peek(1) == '"')) {
        not_cacheable();  // UESCAPE clauses and unicode escapes: leave to the parser
      }
    }
    const std::size_t n = i_ - start;
    if (n >= 2 && n <= 7 && nests(s_.substr(start, n))) ++res_.nesting_tokens;
    put(s_.substr(start, n));
  }

  // Keywords that nest expressions (switch on length first: this runs for every word).
  static bool nests(std::string_view w) {
    auto is = [&w](std::string_view k) {
      for (std::size_t q = 0; q < k.size(); ++q) {
        if (lower(w[q]) != k[q]) return false;
      }
      return true;
    };
    switch (w.size()) {
      case 2: return is("or") || is("is") || is("at");
      case 3: return is("and") || is("not");
      case 4: return is("case") || is("like");
      case 5: return is("ilike");
      case 7: return is("collate") || is("similar") || is("between");
      default: return false;
    }
  }

  std::string_view s_;
  std::string& out_;
  char* base_ = nullptr;
  char* w_ = nullptr;
  std::size_t i_ = 0;
  NormalizeResult res_;
};

}  // namespace

std::optional<Hint> parse_hint_comment(std::string_view comment) {
  for (std::size_t pos = 0; pos < comment.size(); ++pos) {
    if (!iequals_prefix(comment, pos, "pgscale")) continue;
    std::size_t j = pos + 7;
    while (j < comment.size() && (comment[j] == ' ' || comment[j] == '\t')) ++j;
    if (j >= comment.size() || (comment[j] != ':' && comment[j] != '=')) continue;
    ++j;
    while (j < comment.size() && (comment[j] == ' ' || comment[j] == '\t')) ++j;
    if (iequals_prefix(comment, j, "primary")) return Hint::primary;
    if (iequals_prefix(comment, j, "replica")) return Hint::replica;
  }
  return std::nullopt;
}

NormalizeResult normalize(std::string_view sql, std::string& key) {
  return Scanner(sql, key).run();
}

}  // namespace pgscale::classifier

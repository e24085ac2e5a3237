#include "proxy/classifier_normalize.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "proxy/sql_lex.hpp"

namespace pgscale::classifier {
namespace {

// Placeholders: control bytes are rejected by PostgreSQL's lexer outside literals, and the scanner
// refuses to produce a cacheable key for a text containing one.
constexpr char kNumber = '\x01';
constexpr char kString = '\x02';
constexpr char kBits = '\x03';

// What the scanner does at a byte that starts a token: one table lookup and one indirect jump per
// token instead of a chain of comparisons (every statement without a cache hit in the memo is
// scanned, so this loop is on the hot path of every transaction).
enum Action : unsigned char {
  kOther,    // operator or punctuation that nests: '+', '(', '=', ...
  kNoNest,   // ',', ';', ')', ']': copied, does not count towards nesting
  kWord,     // identifier or keyword start
  kSpace,
  kDigit,
  kDot,      // '.': a number when a digit follows
  kQuote,    // '...'
  kDquote,   // "..."
  kDollar,   // $1 or $tag$...$tag$
  kMinus,    // "--" comment or an operator
  kSlash,    // "/*" comment or an operator
  kControl,  // control bytes, NUL: the parser decides, never cached
};
enum : unsigned char { kSpaceBit = 1, kIdentBit = 2, kDigitBit = 4 };

struct Tables {
  std::array<unsigned char, 256> action{};
  std::array<unsigned char, 256> cls{};
};
constexpr Tables kTables = [] {
  Tables t;
  for (int c = 0; c < 256; ++c) {
    const auto i = static_cast<std::size_t>(c);
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    const bool digit = c >= '0' && c <= '9';
    t.cls[i] = static_cast<unsigned char>((space ? kSpaceBit : 0) | (digit ? kDigitBit : 0) |
                                          (alpha || digit || c == '$' ? kIdentBit : 0));
    Action a = kOther;
    if (alpha) a = kWord;
    else if (space) a = kSpace;
    else if (digit) a = kDigit;
    else if (c == '.') a = kDot;
    else if (c == '\'') a = kQuote;
    else if (c == '"') a = kDquote;
    else if (c == '$') a = kDollar;
    else if (c == '-') a = kMinus;
    else if (c == '/') a = kSlash;
    else if (c < 0x20 || c == 0x7f) a = kControl;
    else if (c == ',' || c == ';' || c == ')' || c == ']') a = kNoNest;
    t.action[i] = a;
  }
  return t;
}();

inline unsigned char cls(char c) { return kTables.cls[static_cast<unsigned char>(c)]; }
inline bool is_space(char c) { return cls(c) & kSpaceBit; }
inline bool is_ident_char(char c) { return cls(c) & kIdentBit; }
inline bool is_digit(char c) { return cls(c) & kDigitBit; }
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

using sql_lex::pack;

// Keywords that nest expressions. `v` is the word's bytes with bit 5 set in each (ASCII letters
// fold to lower case; a word holds only letters, digits, '_', '$' and bytes >= 0x80, and none of
// the others folds onto a lower-case letter, so the comparison is exact).
bool nests(std::uint64_t v, std::size_t n) {
  switch (n) {
    case 2: return v == pack("or") || v == pack("is") || v == pack("at");
    case 3: return v == pack("and") || v == pack("not");
    case 4: return v == pack("case") || v == pack("like");
    case 5: return v == pack("ilike");
    case 7: return v == pack("collate") || v == pack("similar") || v == pack("between");
    default: return false;
  }
}

// Length of the run of identifier bytes at p (p < end), 16 at a time where SSE2 is available.
inline std::size_t ident_run(const char* p, const char* end) {
  const char* q = p;
#if defined(__SSE2__)
  while (end - q >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const __m128i folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
    // Signed byte compares: bytes >= 0x80 are negative (and are identifier bytes in scan.l).
    const __m128i high = _mm_cmplt_epi8(x, _mm_setzero_si128());
    const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(folded, _mm_set1_epi8('a' - 1)),
                                        _mm_cmplt_epi8(folded, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    const __m128i other = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('_')),
                                       _mm_cmpeq_epi8(x, _mm_set1_epi8('$')));
    const __m128i ident = _mm_or_si128(_mm_or_si128(high, alpha), _mm_or_si128(digit, other));
    const unsigned stop = ~static_cast<unsigned>(_mm_movemask_epi8(ident)) & 0xffffu;
    if (stop != 0) return static_cast<std::size_t>(q - p) + static_cast<unsigned>(__builtin_ctz(stop));
    q += 16;
  }
#endif
  while (q < end && is_ident_char(*q)) ++q;
  return static_cast<std::size_t>(q - p);
}

class Scanner {
 public:
  Scanner(std::string_view sql, std::string& out) : s_(sql), out_(out) {}

  NormalizeResult run() {
    // Output never exceeds 2n: every byte yields at most one, except a kept comment (>= 2 bytes)
    // which gains a separator on each side. The slack lets a word be copied 16 bytes at a time
    // and its first 8 bytes be loaded whole. Writing through a raw pointer keeps the per-token
    // cost to a store instead of a capacity check.
    if (out_.size() < 2 * s_.size() + kSlack) out_.resize(2 * s_.size() + kSlack);
    base_ = w_ = out_.data();
    const char* p = s_.data();
    end_ = p + s_.size();
    while (p < end_) p = token(p);
    while (w_ != base_ && w_[-1] == ' ') --w_;
    out_.resize(static_cast<std::size_t>(w_ - base_));
    return res_;
  }

 private:
  static constexpr std::size_t kSlack = 32;

  // One token starting at p; returns where the next starts (end_ when the text is unterminated).
  const char* token(const char* p) {
    switch (kTables.action[static_cast<unsigned char>(*p)]) {
      case kWord: return word(p);
      case kSpace:
        do ++p;
        while (p < end_ && is_space(*p));
        sep();
        return p;
      case kDigit: return number(p);
      case kDot:
        if (p + 1 < end_ && is_digit(p[1])) return number(p);
        return punct(p, true);
      case kQuote: return quoted_literal(p, false, kString);
      case kDquote: return quoted_ident(p);
      case kDollar: return dollar(p);
      case kMinus:
        if (p + 1 < end_ && p[1] == '-') return line_comment(p);
        return punct(p, true);
      case kSlash:
        if (p + 1 < end_ && p[1] == '*') return block_comment(p);
        return punct(p, true);
      case kControl: not_cacheable(); return punct(p, true);
      case kNoNest: return punct(p, false);
      default: return punct(p, true);
    }
  }

  const char* punct(const char* p, bool nest) {
    if (nest) ++res_.nesting_tokens;
    *w_++ = *p;
    return p + 1;
  }

  void put(std::string_view t) {
    std::memcpy(w_, t.data(), t.size());
    w_ += t.size();
  }
  std::size_t at(const char* p) const { return static_cast<std::size_t>(p - s_.data()); }
  const char* ptr(std::size_t i) const { return s_.data() + i; }

  void not_cacheable() {
    if (res_.status == NormalizeStatus::ok) res_.status = NormalizeStatus::not_cacheable;
  }
  const char* unterminated() {
    res_.status = NormalizeStatus::unterminated;
    return end_;
  }
  void sep() {
    if (w_ != base_ && w_[-1] != ' ') *w_++ = ' ';
  }

  void comment_text(std::string_view text) {
    if (auto h = parse_hint_comment(text)) {
      // Conflicting hints: the primary wins (a primary read is slow, a replica write fails).
      if (!res_.hint || *h == Hint::primary) res_.hint = h;
    }
    // Comments mentioning pgscale stay in the key (hints must never be confused by the cache);
    // all others (sqlcommenter tags, request ids) are dropped so they do not defeat the cache.
    sep();
    if (mentions_pgscale(text)) {
      put(text);
      *w_++ = ' ';
    }
  }

  const char* line_comment(const char* p) {
    const std::size_t end = sql_lex::line_comment_end(s_, at(p));
    comment_text(s_.substr(at(p), end - at(p)));
    return ptr(end);
  }

  // PostgreSQL block comments nest (scan.l xc).
  const char* block_comment(const char* p) {
    const std::size_t end = sql_lex::block_comment_end(s_, at(p));
    if (end == sql_lex::npos) return unterminated();
    comment_text(s_.substr(at(p), end - at(p)));
    return ptr(end);
  }

  // '...' with '' doubling; with backslash escapes when `escapes` (E'...'). The whole literal
  // becomes `literal_mark` in the key (kString or kBits). A backslash in an E-string could make
  // it invalid (bad \u escape), so such keys are not cached.
  const char* quoted_literal(const char* p, bool escapes, char literal_mark) {
    if (!escapes) {
      const std::size_t end = sql_lex::quoted_end(s_, at(p));
      if (end == sql_lex::npos) return unterminated();
      *w_++ = literal_mark;
      return ptr(end);
    }
    ++p;  // opening quote
    while (p < end_) {
      if (*p == '\'') {
        if (p + 1 < end_ && p[1] == '\'') {
          p += 2;
          continue;
        }
        *w_++ = literal_mark;
        return p + 1;
      }
      if (*p == '\\') {
        not_cacheable();
        if (end_ - p < 2) break;
        p += 2;
        continue;
      }
      ++p;
    }
    return unterminated();
  }

  const char* quoted_ident(const char* p) {
    const std::size_t end = sql_lex::quoted_end(s_, at(p));
    if (end == sql_lex::npos) return unterminated();
    put(s_.substr(at(p), end - at(p)));
    return ptr(end);
  }

  // $1 (parameter) or $tag$...$tag$ (dollar-quoted string). Reached only at a token start, since
  // words consume their own '$'.
  const char* dollar(const char* p) {
    if (p + 1 < end_ && is_digit(p[1])) {
      *w_++ = *p++;
      while (p < end_ && is_digit(*p)) *w_++ = *p++;
      return p;
    }
    const std::size_t tag = sql_lex::dollar_tag_length(s_, at(p));
    if (tag == 0) {  // not a dollar quote: a lone '$' (a syntax error)
      not_cacheable();
      *w_++ = '$';
      return p + 1;
    }
    const std::size_t end = sql_lex::dollar_quote_end(s_, at(p), tag);
    if (end == sql_lex::npos) return unterminated();
    *w_++ = kString;
    return ptr(end);
  }

  const char* number(const char* p) {
    p = ptr(sql_lex::number_end(s_, at(p)));
    // PostgreSQL 15 rejects "trailing junk" (123abc); do not guess how such text tokenises.
    if (p < end_ && is_ident_char(*p)) not_cacheable();
    *w_++ = kNumber;
    return p;
  }

  // Keyword or identifier; E'..', B'..', X'..', N'..', U&'..' string prefixes are one-letter words.
  const char* word(const char* p) {
    const std::size_t n = ident_run(p, end_);
    const char* after = p + n;
    if (n == 1 && after < end_) {
      const char c = lower(*p);
      if (*after == '\'') {
        if (c == 'e') return quoted_literal(after, true, kString);
        if (c == 'b' || c == 'x') return quoted_literal(after, false, kBits);
        if (c == 'n') return quoted_literal(after, false, kString);
      }
      // UESCAPE clauses and unicode escapes: leave to the parser.
      if (c == 'u' && *after == '&' && after + 1 < end_ && (after[1] == '\'' || after[1] == '"')) {
        not_cacheable();
      }
    }
    char* const w = w_;
    copy_word(w, p, n);
    if (n >= 2 && n <= 7) {
      // The output has slack for an 8-byte load at a word start; mask the bytes past the word.
      std::uint64_t v;
      std::memcpy(&v, w, 8);
      if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
      const std::uint64_t mask = ~std::uint64_t{0} >> (8 * (8 - n));
      if (nests((v | 0x2020202020202020ull) & mask, n)) ++res_.nesting_tokens;
    }
    w_ = w + n;
    // The usual separator, one space before the next token, without a trip through token().
    if (end_ - after >= 2 && after[0] == ' ' && !is_space(after[1])) {
      *w_++ = ' ';
      return after + 1;
    }
    return after;
  }

  // Copies n bytes of a word: fixed-size moves (no call) for the usual short words; the output
  // slack allows rounding the copy up to the move size.
  void copy_word(char* w, const char* p, std::size_t n) {
    if (n <= 8 && end_ - p >= 8) {
      std::memcpy(w, p, 8);
    } else if (n <= 16 && end_ - p >= 16) {
      std::memcpy(w, p, 16);
    } else {
      std::memcpy(w, p, n);
    }
  }

  std::string_view s_;
  std::string& out_;
  const char* end_ = nullptr;
  char* base_ = nullptr;
  char* w_ = nullptr;
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

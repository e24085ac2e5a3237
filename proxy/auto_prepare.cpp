#include "proxy/auto_prepare.hpp"

#include <array>
#include <functional>

#include "proxy/sql_lex.hpp"

namespace pgscale::proxy {
namespace {

constexpr size_t kMaxText = 16 * 1024;  // longer texts are rarely repeated: not worth a server statement
constexpr size_t kMaxParams = 256;
constexpr size_t kMaxDepth = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool word_is(std::string_view w, std::string_view keyword) {
  if (w.size() != keyword.size()) return false;
  for (size_t i = 0; i < w.size(); ++i) {
    if (lower(w[i]) != keyword[i]) return false;
  }
  return true;
}

bool word_in(std::string_view w, std::initializer_list<std::string_view> keywords) {
  for (std::string_view k : keywords) {
    if (word_is(w, k)) return true;
  }
  return false;
}

// Keywords after which '(' opens an expression, a list of values or a subquery (numbers inside may
// be parameters); after any other word '(' may open a type modifier or a function's arguments.
bool opens_expression(std::string_view w) {
  return word_in(w, {"in", "values", "exists", "and", "or", "not", "where", "when", "then", "else", "select",
                     "on", "having", "limit", "offset", "array", "any", "all", "some", "between", "from", "join",
                     "as", "set", "like", "ilike", "union", "intersect", "except", "lateral", "returning", "case",
                     "is", "with"});
}

// Clauses whose integer constants may be column positions (ORDER BY 1, GROUP BY 1, DISTINCT ON
// (1)) or that contain such clauses (WINDOW): no parameter after them.
bool freezes(std::string_view w) { return word_in(w, {"order", "group", "distinct", "window"}); }

void append_param(std::string& out, size_t n) {
  char digits[20];
  size_t len = 0;
  do {
    digits[len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out += '$';
  while (len > 0) out += digits[--len];
}

class Scanner {
 public:
  Scanner(std::string_view sql, Parameterized& out) : s_(sql), out_(out) {}

  bool run() {
    if (s_.size() > kMaxText) return false;
    out_.clear();
    out_.text.reserve(s_.size() + 8);
    allow_[0] = true;
    size_t i = 0;
    while (i < s_.size()) {
      const char c = s_[i];
      if (is_space(c)) {
        space();
        ++i;
      } else if (c == '-' && i + 1 < s_.size() && s_[i + 1] == '-') {
        i = sql_lex::line_comment_end(s_, i);
        space();
      } else if (c == '/' && i + 1 < s_.size() && s_[i + 1] == '*') {
        i = sql_lex::block_comment_end(s_, i);
        if (i == sql_lex::npos) return false;
        space();
      } else if (sql_lex::ident_start(static_cast<unsigned char>(c))) {
        if (!word(i)) return false;
      } else if (is_digit(c) || (c == '.' && i + 1 < s_.size() && is_digit(s_[i + 1]))) {
        if (!number(i)) return false;
      } else if (c == '"') {
        const size_t end = sql_lex::quoted_end(s_, i);
        if (end == sql_lex::npos) return false;
        out_.text.append(s_.substr(i, end - i));
        i = end;
        after_name_ = true;
        started();
      } else if (c == ';') {
        return only_noise_after(i + 1) && finish();
      } else if (c == '\'' || c == '$' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return false;  // literals of other kinds, parameters, bytes the parser decides about
      } else {
        if (!punct(c)) return false;
        ++i;
      }
    }
    return finish();
  }

 private:
  bool finish() {
    while (!out_.text.empty() && out_.text.back() == ' ') out_.text.pop_back();
    return first_ok_ && depth_ == 0 && !out_.text.empty();
  }

  // Whitespace and comments: one space between tokens, none at the start.
  void space() {
    if (!out_.text.empty() && out_.text.back() != ' ') out_.text += ' ';
  }

  void started() {
    if (!first_seen_) {
      first_seen_ = true;  // the first token was no word: not a statement this handles
      first_ok_ = false;
    }
  }

  bool word(size_t& i) {
    size_t end = i + 1;
    while (end < s_.size() && sql_lex::ident_char(static_cast<unsigned char>(s_[end]))) ++end;
    if (end < s_.size() && (s_[end] == '\'' || (s_[end] == '&' && end + 1 < s_.size() && s_[end + 1] == '"'))) {
      return false;  // E'..', B'..', X'..', N'..', U&'..', U&".."
    }
    const std::string_view w = s_.substr(i, end - i);
    if (!first_seen_) {
      first_seen_ = true;
      first_ok_ = word_in(w, {"select", "insert", "update", "delete", "with"});
      select_like_ = word_is(w, "select") || word_is(w, "with");
    }
    if (select_like_ && word_is(w, "into") && !prev_insert_) return false;  // SELECT INTO creates a table
    if (freezes(w)) frozen_ = true;
    prev_insert_ = word_is(w, "insert") || word_is(w, "merge");
    after_name_ = !opens_expression(w);
    out_.text.append(w);
    i = end;
    return true;
  }

  bool number(size_t& i) {
    size_t p = i;
    while (p < s_.size() && is_digit(s_[p])) ++p;
    if (p < s_.size() && s_[p] == '.' && !(p + 1 < s_.size() && s_[p + 1] == '.')) {
      ++p;
      while (p < s_.size() && is_digit(s_[p])) ++p;
    }
    if (p < s_.size() && (s_[p] == 'e' || s_[p] == 'E')) {
      size_t q = p + 1;
      if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
      if (q < s_.size() && is_digit(s_[q])) {
        p = q;
        while (p < s_.size() && is_digit(s_[p])) ++p;
      }
    }
    // Trailing junk (PostgreSQL 15 rejects 123abc) or "1..": the server decides, as a Query.
    if (p < s_.size() && (sql_lex::ident_char(static_cast<unsigned char>(s_[p])) || s_[p] == '.')) return false;
    const std::string_view n = s_.substr(i, p - i);
    i = p;
    started();
    after_name_ = false;
    if (frozen_ || !allow_[depth_]) {
      out_.text.append(n);
      return true;
    }
    const uint32_t type = number_type(n);
    if (type == 0 || out_.values.size() >= kMaxParams) return false;
    out_.types.push_back(type);
    out_.values.push_back(n);
    append_param(out_.text, out_.values.size());
    return true;
  }

  bool punct(char c) {
    started();
    if (c == '(' || c == '[') {
      if (depth_ + 1 >= kMaxDepth) return false;
      const bool allow = allow_[depth_] && !after_name_;
      allow_[++depth_] = allow;
    } else if (c == ')' || c == ']') {
      if (depth_ == 0) return false;
      --depth_;
    }
    after_name_ = false;
    out_.text += c;
    return true;
  }

  // Only whitespace, comments and semicolons after a ';' (one statement).
  bool only_noise_after(size_t i) const {
    while (i < s_.size()) {
      const char c = s_[i];
      if (is_space(c) || c == ';') {
        ++i;
      } else if (c == '-' && i + 1 < s_.size() && s_[i + 1] == '-') {
        i = sql_lex::line_comment_end(s_, i);
      } else if (c == '/' && i + 1 < s_.size() && s_[i + 1] == '*') {
        i = sql_lex::block_comment_end(s_, i);
        if (i == sql_lex::npos) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  std::string_view s_;
  Parameterized& out_;
  std::array<bool, kMaxDepth> allow_{};
  size_t depth_ = 0;
  bool first_seen_ = false;
  bool first_ok_ = false;
  bool select_like_ = false;
  bool prev_insert_ = false;
  bool frozen_ = false;
  bool after_name_ = false;  // the last token was a word that may name a type or function, or "..."
};

// Digits without leading zeros compared with a decimal limit of the same length.
bool at_most(std::string_view digits, std::string_view limit) {
  return digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit);
}

}  // namespace

uint32_t number_type(std::string_view number) {
  for (char c : number) {
    if (!is_digit(c)) return kNumericOid;  // decimal point or exponent: numeric (make_const T_Float)
  }
  size_t z = 0;
  while (z + 1 < number.size() && number[z] == '0') ++z;
  const std::string_view d = number.substr(z);
  if (at_most(d, "2147483647")) return kInt4Oid;
  if (d == "2147483648") return 0;
  if (at_most(d, "9223372036854775807")) return kInt8Oid;
  if (d == "9223372036854775808") return 0;
  return kNumericOid;
}

AutoPrepareCounters& auto_prepare_counters() {
  static AutoPrepareCounters counters;
  return counters;
}

StatementPtr auto_statement(const Parameterized& p) {
  struct Slot {
    size_t hash = 0;
    StatementPtr stmt;
  };
  constexpr size_t kSlots = 256;  // direct-mapped; a collision costs one registry lookup
  thread_local std::array<Slot, kSlots> cache;
  size_t h = std::hash<std::string_view>{}(p.text);
  for (uint32_t t : p.types) h = h * 31 + t;
  Slot& slot = cache[h % kSlots];
  if (slot.stmt && slot.hash == h && slot.stmt->query == p.text && slot.stmt->param_types == p.types) {
    return slot.stmt;
  }
  slot.hash = h;
  slot.stmt = statement_registry().intern(p.text, p.types);
  return slot.stmt;
}

namespace {
void put_u32(std::string& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out.append(b, 4);
}
void put_u16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v);
}
}  // namespace

void append_execution(std::string& out, std::string_view statement, const Parameterized& p) {
  size_t len = 4 + 1 + statement.size() + 1 + 2 + 2 + 2;
  for (std::string_view v : p.values) len += 4 + v.size();
  out += 'B';
  put_u32(out, static_cast<uint32_t>(len));
  out += '\0';  // unnamed portal
  out.append(statement);
  out += '\0';
  put_u16(out, 0);  // every parameter in text format
  put_u16(out, static_cast<uint16_t>(p.values.size()));
  for (std::string_view v : p.values) {
    put_u32(out, static_cast<uint32_t>(v.size()));
    out.append(v);
  }
  put_u16(out, 0);  // every result column in text format, as a Query's
  static constexpr char kTail[] = {'D', 0, 0, 0, 6, 'P', 0,      // Describe the unnamed portal
                                   'E', 0, 0, 0, 9, 0, 0, 0, 0, 0,  // Execute it, all rows
                                   'S', 0, 0, 0, 4};                // Sync
  out.append(kTail, sizeof kTail);
}

bool parameterize(std::string_view sql, Parameterized& out) {
  Scanner scanner(sql, out);
  if (scanner.run()) return true;
  out.clear();
  return false;
}

}  // namespace pgscale::proxy

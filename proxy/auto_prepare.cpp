#include "proxy/auto_prepare.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <functional>

#include "protocol/wire.hpp"
#include "proxy/sql_lex.hpp"

namespace pgscale::proxy {
namespace {

constexpr size_t kMaxText = 16 * 1024;  // longer texts are rarely repeated: not worth a server statement
constexpr size_t kMaxParams = 256;
constexpr size_t kMaxDepth = 64;

// Byte classes, one table lookup per byte (this scan runs on every eligible Query).
enum Class : unsigned char { kPunct, kSpace, kWordStart, kDigit, kDot, kDquote, kSemicolon, kDash, kSlash, kRefuse };
constexpr std::array<unsigned char, 256> kClass = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    unsigned char k = kPunct;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') k = kSpace;
    else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80) k = kWordStart;
    else if (c >= '0' && c <= '9') k = kDigit;
    else if (c == '.') k = kDot;
    else if (c == '"') k = kDquote;
    else if (c == ';') k = kSemicolon;
    else if (c == '-') k = kDash;
    else if (c == '/') k = kSlash;
    // Literals of other kinds, parameters and dollar quotes, bytes the parser decides about.
    else if (c == '\'' || c == '$' || c < 0x20 || c == 0x7f) k = kRefuse;
    t[static_cast<size_t>(c)] = k;
  }
  return t;
}();
inline unsigned char byte_class(char c) { return kClass[static_cast<unsigned char>(c)]; }
// scan.l ident_cont, as a table.
constexpr std::array<bool, 256> kIdentCont = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = sql_lex::ident_char(static_cast<unsigned char>(c));
  return t;
}();
inline bool ident_cont(char c) { return kIdentCont[static_cast<unsigned char>(c)]; }
bool is_space(char c) { return byte_class(c) == kSpace; }
bool is_digit(char c) { return byte_class(c) == kDigit; }

// What a word means to the scan (bits). Keywords after which '(' opens an expression, a list of
// values or a subquery (numbers inside may be parameters): after any other word '(' may open a
// type modifier or a function's arguments. Clauses whose integer constants may be column positions
// (ORDER BY 1, GROUP BY 1, DISTINCT ON (1)) or that hold such clauses (WINDOW) freeze: no
// parameter after them.
enum WordBits : unsigned char {
  kOpens = 1,
  kFreezes = 2,
  kStatement = 4,   // a first word this handles
  kSelectLike = 8,  // SELECT, WITH: INTO there (not after INSERT) makes a table
  kInto = 16,
  kInsert = 32,
};

using sql_lex::pack;

// `w` must be followed by at least 8 readable bytes or end 8 bytes or more into its text (the
// caller checks). Bit 5 set in each byte folds ASCII letters to lower case; a word holds only
// letters, digits, '_', '$' and bytes >= 0x80, none of which folds onto a lower-case letter.
unsigned char word_bits(std::string_view w, bool can_load8) {
  const size_t n = w.size();
  if (n < 2 || n > 9) return 0;
  uint64_t v = 0;
  if (can_load8) {
    std::memcpy(&v, w.data(), 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    const uint64_t mask = n < 8 ? ~uint64_t{0} >> (8 * (8 - n)) : ~uint64_t{0};
    v = (v | 0x2020202020202020ull) & mask;
  } else {
    for (size_t q = (n > 8 ? 8 : n); q-- > 0;) v = (v << 8) | (static_cast<unsigned char>(w[q]) | 0x20u);
  }
  auto any = [v](std::initializer_list<uint64_t> keys) {
    for (uint64_t k : keys) {
      if (v == k) return true;
    }
    return false;
  };
  switch (n) {
    case 2: return any({pack("in"), pack("or"), pack("on"), pack("as"), pack("is")}) ? kOpens : 0;
    case 3: return any({pack("and"), pack("not"), pack("any"), pack("all"), pack("set")}) ? kOpens : 0;
    case 4:
      if (v == pack("into")) return kInto;
      if (v == pack("with")) return kOpens | kStatement | kSelectLike;
      return any({pack("when"), pack("then"), pack("else"), pack("from"), pack("join"), pack("like"), pack("some"),
                  pack("case")})
                 ? kOpens
                 : 0;
    case 5:
      if (v == pack("order") || v == pack("group")) return kFreezes;
      return any({pack("where"), pack("limit"), pack("array"), pack("union"), pack("ilike")}) ? kOpens : 0;
    case 6:
      if (v == pack("select")) return kOpens | kStatement | kSelectLike;
      if (v == pack("insert")) return kStatement | kInsert;
      if (v == pack("update") || v == pack("delete")) return kStatement;
      if (v == pack("window")) return kFreezes;
      return any({pack("values"), pack("exists"), pack("having"), pack("offset"), pack("except")}) ? kOpens : 0;
    case 7: return any({pack("between"), pack("lateral")}) ? kOpens : 0;
    case 8: return v == pack("distinct") ? kFreezes : 0;
    case 9: {
      const char last = static_cast<char>(w[8] | 0x20);
      return ((v == pack("intersec") && last == 't') || (v == pack("returnin") && last == 'g')) ? kOpens : 0;
    }
    default: return 0;
  }
}

char* append_param(char* w, size_t n) {
  char digits[20];
  size_t len = 0;
  do {
    digits[len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  *w++ = '$';
  while (len > 0) *w++ = digits[--len];
  return w;
}

class Scanner {
 public:
  Scanner(std::string_view sql, Parameterized& out) : s_(sql), out_(out) {}

  bool run() {
    if (s_.size() > kMaxText) return false;
    out_.clear();
    // Written through a pointer: "1" becomes at most "$256" (kMaxParams), so 4 bytes per input
    // byte bound the output; a space is written only in place of at least one input byte.
    out_.text.resize(4 * s_.size() + kSlack);
    base_ = w_ = out_.text.data();
    allow_[0] = true;
    size_t i = 0;
    const size_t n = s_.size();
    while (i < n) {
      const char c = s_[i];
      switch (byte_class(c)) {
        case kSpace:
          do ++i;
          while (i < n && is_space(s_[i]));
          space();
          break;
        case kWordStart:
          if (!word(i)) return false;
          break;
        case kDigit:
          if (!number(i)) return false;
          break;
        case kDot:
          if (i + 1 < n && is_digit(s_[i + 1])) {
            if (!number(i)) return false;
          } else {
            punct(c);
            ++i;
          }
          break;
        case kDquote: {
          const size_t end = sql_lex::quoted_end(s_, i);
          if (end == sql_lex::npos) return false;
          put(s_.substr(i, end - i));
          i = end;
          after_name_ = true;
          started();
          break;
        }
        case kSemicolon: return only_noise_after(i + 1) && finish();
        case kDash:
          if (i + 1 < n && s_[i + 1] == '-') {
            i = sql_lex::line_comment_end(s_, i);
            space();
          } else {
            punct(c);
            ++i;
          }
          break;
        case kSlash:
          if (i + 1 < n && s_[i + 1] == '*') {
            i = sql_lex::block_comment_end(s_, i);
            if (i == sql_lex::npos) return false;
            space();
          } else {
            punct(c);
            ++i;
          }
          break;
        case kRefuse: return false;
        default:
          if (!punct(c)) return false;
          ++i;
          break;
      }
    }
    return finish();
  }

 private:
  bool finish() {
    while (w_ != base_ && w_[-1] == ' ') --w_;
    out_.text.resize(static_cast<size_t>(w_ - base_));
    return first_ok_ && depth_ == 0 && !out_.text.empty();
  }

  // Whitespace and comments: one space between tokens, none at the start.
  void space() {
    if (w_ != base_ && w_[-1] != ' ') *w_++ = ' ';
  }

  void started() {
    if (!first_seen_) {
      first_seen_ = true;  // the first token was no word: not a statement this handles
      first_ok_ = false;
    }
  }

  bool word(size_t& i) {
    size_t end = i + 1;
    while (end < s_.size() && ident_cont(s_[end])) ++end;
    if (end < s_.size() && (s_[end] == '\'' || (s_[end] == '&' && end + 1 < s_.size() && s_[end + 1] == '"'))) {
      return false;  // E'..', B'..', X'..', N'..', U&'..', U&".."
    }
    const std::string_view w = s_.substr(i, end - i);
    const unsigned char bits = word_bits(w, s_.size() - i >= 8);
    if (!first_seen_) {
      first_seen_ = true;
      first_ok_ = (bits & kStatement) != 0;
      select_like_ = (bits & kSelectLike) != 0;
    }
    if ((bits & kInto) && select_like_ && !prev_insert_) return false;  // SELECT INTO creates a table
    if (bits & kFreezes) frozen_ = true;
    prev_insert_ = (bits & kInsert) != 0;
    after_name_ = (bits & kOpens) == 0;
    put(w);
    i = end;
    return true;
  }

  bool number(size_t& i) {
    const size_t p = sql_lex::number_end(s_, i);
    // Trailing junk (PostgreSQL 15 rejects 123abc) or "1..": the server decides, as a Query.
    if (p < s_.size() && (ident_cont(s_[p]) || s_[p] == '.')) return false;
    const std::string_view n = s_.substr(i, p - i);
    i = p;
    started();
    after_name_ = false;
    if (frozen_ || !allow_[depth_]) {
      put(n);
      return true;
    }
    const uint32_t type = number_type(n);
    if (type == 0 || out_.values.size() >= kMaxParams) return false;
    out_.types.push_back(type);
    out_.values.push_back(n);
    w_ = append_param(w_, out_.values.size());
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
    *w_++ = c;
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

  // The output has kSlack bytes beyond its bound: short tokens are copied 16 bytes at a time when
  // the input has them.
  void put(std::string_view t) {
    if (t.size() <= 16 && static_cast<size_t>(s_.data() + s_.size() - t.data()) >= 16) {
      std::memcpy(w_, t.data(), 16);
    } else {
      std::memcpy(w_, t.data(), t.size());
    }
    w_ += t.size();
  }
  static constexpr size_t kSlack = 16;

  std::string_view s_;
  Parameterized& out_;
  char* base_ = nullptr;
  char* w_ = nullptr;
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
struct ProbeQueue {
  static constexpr size_t kSize = 64;
  std::array<StatementPtr, kSize> ring;
  size_t head = 0;
  size_t count = 0;
};
thread_local ProbeQueue probe_queue;
}  // namespace

void queue_probe(const StatementPtr& s) {
  if (s->validated.load(std::memory_order_relaxed) || s->auto_rejected.load(std::memory_order_relaxed)) return;
  if (probe_queue.count == ProbeQueue::kSize || s->probe_queued.exchange(true, std::memory_order_relaxed)) return;
  probe_queue.ring[(probe_queue.head + probe_queue.count) % ProbeQueue::kSize] = s;
  ++probe_queue.count;
}

bool probes_waiting() { return probe_queue.count > 0; }

StatementPtr next_probe() {
  while (probe_queue.count > 0) {
    StatementPtr s = std::move(probe_queue.ring[probe_queue.head]);
    probe_queue.head = (probe_queue.head + 1) % ProbeQueue::kSize;
    --probe_queue.count;
    s->probe_queued.store(false, std::memory_order_relaxed);
    if (!s->validated.load(std::memory_order_relaxed) && !s->auto_rejected.load(std::memory_order_relaxed)) return s;
  }
  return nullptr;
}

void append_execution(std::string& out, std::string_view statement, const Parameterized& p) {
  using namespace protocol;
  const size_t bind = begin_message(out, 'B');
  put_cstring(out, "");  // unnamed portal
  put_cstring(out, statement);
  put_u16(out, 0);  // every parameter in text format
  put_u16(out, static_cast<uint16_t>(p.values.size()));
  for (std::string_view v : p.values) {
    put_u32(out, static_cast<uint32_t>(v.size()));
    put_bytes(out, v);
  }
  put_u16(out, 0);  // every result column in text format, as a Query's
  end_message(out, bind);
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

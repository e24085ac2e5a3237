#include "proxy/prepared.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "protocol/extended_query.hpp"
#include "protocol/wire.hpp"

namespace pgscale::proxy {

namespace {
constexpr size_t kSweepEvery = 1024;

std::string registry_key(std::string_view query, const std::vector<uint32_t>& types) {
  std::string key;
  key.reserve(4 + types.size() * 4 + query.size());
  protocol::put_u32(key, static_cast<uint32_t>(types.size()));
  for (uint32_t t : types) protocol::put_u32(key, t);
  key.append(query);
  return key;
}

// Compares with SQL keywords, which are ASCII: an inline ASCII fold (std::tolower is a libc call
// per byte, and every Query reaches here through plan_frame).
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Splits a single-statement text into words: identifiers (folded to lower case, as PostgreSQL
// does for unquoted names) and double-quoted identifiers (kept). False on anything else
// (comments, literals, a second statement): such texts go to the server.
bool split_words(std::string_view sql, std::vector<std::string>& words) {
  size_t end = sql.size();
  while (end > 0 && (is_space(sql[end - 1]) || sql[end - 1] == ';')) {
    if (sql[end - 1] == ';' && end >= 2 && sql[end - 2] == ';') return false;
    --end;
  }
  size_t i = 0;
  while (i < end) {
    char c = sql[i];
    if (is_space(c)) {
      ++i;
    } else if (c == '"') {
      std::string w;
      for (++i;; ++i) {
        if (i >= end) return false;
        if (sql[i] == '"') {
          if (i + 1 < end && sql[i + 1] == '"') {
            w += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        w += sql[i];
      }
      if (w.empty()) return false;
      words.push_back(std::move(w));
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80) {
      std::string w;
      while (i < end && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_' || sql[i] == '$' ||
                         static_cast<unsigned char>(sql[i]) >= 0x80)) {
        w += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[i])));
        ++i;
      }
      words.push_back(std::move(w));
    } else {
      return false;
    }
  }
  return true;
}
}  // namespace

StatementPtr StatementRegistry::intern(std::string_view query, const std::vector<uint32_t>& types,
                                       std::string_view server_query) {
  std::string key = registry_key(query, types);
  if (!server_query.empty()) {
    key += '\0';
    key += server_query;
  }
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    if (auto live = it->second.lock()) return live;
  }
  auto s = std::make_shared<SharedStatement>();
  s->id = next_id_++;
  s->server_name = "pgscale_s" + std::to_string(s->id);
  s->query.assign(query);
  s->param_types = types;
  protocol::encode(s->parse_frame, protocol::Parse{s->server_name, server_query.empty() ? s->query : std::string(server_query),
                                                   s->param_types});
  s->deallocates = may_deallocate(s->query);
  if (s->deallocates) s->command = parse_local_command(s->query);
  map_[std::move(key)] = s;
  if (++inserts_since_sweep_ >= kSweepEvery) sweep_locked();
  return s;
}

StatementPtr StatementRegistry::find(std::string_view query, const std::vector<uint32_t>& types) const {
  std::string key = registry_key(query, types);
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second.lock();
}

void StatementRegistry::sweep_locked() {
  inserts_since_sweep_ = 0;
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.expired()) it = map_.erase(it);
    else ++it;
  }
}

size_t StatementRegistry::size() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(map_.begin(), map_.end(), [](const auto& kv) { return !kv.second.expired(); }));
}

StatementRegistry& statement_registry() {
  static StatementRegistry registry;
  return registry;
}

const StatementPtr* ClientStatements::find(std::string_view name) const {
  if (!body_) return nullptr;
  Body& b = *body_;
  if (b.last && std::string_view(b.last_name) == name) return b.last;
  auto it = b.map.find(name);
  if (it == b.map.end()) return nullptr;
  b.last_name.assign(name);
  b.last = &it->second;
  return b.last;
}

void ClientStatements::erase_if(std::string_view name, const StatementPtr& s) {
  if (!body_) return;
  auto it = body_->map.find(name);
  if (it != body_->map.end() && it->second == s) {
    body_->last = nullptr;
    body_->map.erase(it);
  }
}

const ClientStatements::LocalDeallocate& ClientStatements::local() const {
  static const LocalDeallocate none;
  return body_ ? body_->local : none;
}

void ClientStatements::release() noexcept {
  if (body_ && body_->map.empty() && !body_->local.statement && !body_->local.portal) body_.reset();
}

void ServerStatements::touch(uint64_t id) {
  auto it = index_.find(id);
  if (it != index_.end() && it->second != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second);
}

std::vector<StatementPtr> ServerStatements::add(StatementPtr s, size_t capacity) {
  std::vector<StatementPtr> evicted;
  if (contains(s->id)) {
    touch(s->id);
    return evicted;
  }
  lru_.push_front(std::move(s));
  index_[lru_.front()->id] = lru_.begin();
  capacity = std::max<size_t>(capacity, 1);
  while (lru_.size() > capacity) {
    evicted.push_back(lru_.back());
    index_.erase(lru_.back()->id);
    lru_.pop_back();
  }
  return evicted;
}

void ServerStatements::erase(uint64_t id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void ServerStatements::clear() {
  lru_.clear();
  index_.clear();
}

std::vector<uint64_t> ServerStatements::ids_oldest_first() const {
  std::vector<uint64_t> ids;
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) ids.push_back((*it)->id);
  return ids;
}

void append_close_statement(std::string& out, std::string_view name) {
  protocol::encode(out, protocol::Close{protocol::TargetKind::statement, name});
}

void append_describe_statement(std::string& out, std::string_view name) {
  protocol::encode(out, protocol::Describe{protocol::TargetKind::statement, name});
}

void append_failing_bind(std::string& out) {
  protocol::encode(out, protocol::Bind{"", kMissingStatement, {}, {}, {}});
}

bool read_bind_names(std::string_view body, BindNames& out) {
  // Names are short (often the portal is empty): a byte loop ends before memchr's call and
  // set-up would (every Bind is read here by the route, relay and session-state steps).
  const size_t n = body.size();
  size_t p = 0;
  while (p < n && body[p] != '\0') ++p;
  if (p == n) return false;
  size_t s = p + 1;
  while (s < n && body[s] != '\0') ++s;
  if (s >= n) return false;
  out.portal = body.substr(0, p);
  out.statement = body.substr(p + 1, s - p - 1);
  out.names_end = s + 1;
  return true;
}

void append_bind_header(std::string& out, uint32_t original_length, const BindNames& names,
                        std::string_view statement) {
  uint32_t len = original_length - static_cast<uint32_t>(names.statement.size()) + static_cast<uint32_t>(statement.size());
  out.push_back('B');
  protocol::put_u32(out, len);
  protocol::put_cstring(out, names.portal);
  protocol::put_cstring(out, statement);
}

namespace {
// Whether `sql` starts (after blanks) with `word` as a whole word, ignoring case.
bool starts_with_word(std::string_view sql, std::string_view word) {
  size_t i = 0;
  while (i < sql.size() && is_space(sql[i])) ++i;
  if (sql.size() - i < word.size() || !ieq(sql.substr(i, word.size()), word)) return false;
  i += word.size();
  return i == sql.size() || !(std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_' || sql[i] == '$' ||
                              static_cast<unsigned char>(sql[i]) >= 0x80);
}

}  // namespace

LocalCommand parse_local_command(std::string_view sql) {
  LocalCommand cmd;
  // Both commands start with 'd': one byte rejects almost every text.
  size_t first = 0;
  while (first < sql.size() && is_space(sql[first])) ++first;
  if (first == sql.size() || ascii_lower(sql[first]) != 'd') return cmd;
  // Every Query passes here: decide on the first word before splitting (and allocating) words.
  if (!starts_with_word(sql, "deallocate") && !starts_with_word(sql, "discard")) return cmd;
  std::vector<std::string> w;
  if (!split_words(sql, w) || w.empty()) return cmd;
  if (w.size() == 2 && w[0] == "discard" && w[1] == "all") {
    cmd.kind = LocalCommand::discard_all;
    return cmd;
  }
  if (w[0] != "deallocate") return cmd;
  size_t i = 1;
  if (i < w.size() && w[i] == "prepare" && w.size() == 3) ++i;  // DEALLOCATE PREPARE name
  if (i + 1 != w.size()) return cmd;
  // `ALL` unquoted is the keyword; a quoted "all" is a name. split_words lost the quoting, so
  // look at the text: a quoted ALL has a '"' right before it.
  if (w[i] == "all" && sql.find('"') == std::string_view::npos) {
    cmd.kind = LocalCommand::deallocate_all;
    return cmd;
  }
  cmd.kind = LocalCommand::deallocate;
  cmd.name = w[i];
  return cmd;
}

bool may_deallocate(std::string_view sql) {
  // Every Query passes here. Both words start with 'd': one pass finds the bytes that are 'd' or
  // 'D' (bit 5 set makes both 'd'), 16 at a time where SSE2 is available, and only they are
  // compared.
  constexpr size_t kWord = 7;  // "dealloc", "discard"
  if (sql.size() < kWord) return false;
  const char* s = sql.data();
  const size_t last = sql.size() - kWord;  // the last position a word fits at
  auto word_at = [s](size_t i) {
    std::string_view w(s + i, kWord);
    return ieq(w, "dealloc") || ieq(w, "discard");
  };
  size_t i = 0;
#if defined(__SSE2__)
  for (; i <= last && last - i >= 15; i += 16) {  // positions i..i+15 all fit a word
    const __m128i x = _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)), _mm_set1_epi8(0x20));
    for (unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('d')))); m != 0;
         m &= m - 1) {
      if (word_at(i + static_cast<unsigned>(__builtin_ctz(m)))) return true;
    }
  }
#endif
  for (; i <= last; ++i) {
    if ((s[i] | 0x20) == 'd' && word_at(i)) return true;
  }
  return false;
}

bool parse_execute(std::string_view sql, ExecuteRef& out) {
  constexpr std::string_view kExecute = "execute";
  size_t i = 0;
  while (i < sql.size() && is_space(sql[i])) ++i;
  if (sql.size() - i <= kExecute.size() || !ieq(sql.substr(i, kExecute.size()), kExecute)) return false;
  i += kExecute.size();
  if (!is_space(sql[i]) && sql[i] != '"') return false;  // EXECUTEx is another word
  while (i < sql.size() && is_space(sql[i])) ++i;
  out.begin = i;
  out.name.clear();
  if (i < sql.size() && sql[i] == '"') {
    for (++i;; ++i) {
      if (i >= sql.size()) return false;
      if (sql[i] != '"') {
        out.name += sql[i];
      } else if (i + 1 < sql.size() && sql[i + 1] == '"') {
        out.name += '"';
        ++i;
      } else {
        ++i;
        break;
      }
    }
  } else {
    while (i < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_' || sql[i] == '$' ||
                              static_cast<unsigned char>(sql[i]) >= 0x80)) {
      out.name += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[i])));
      ++i;
    }
    if (!out.name.empty() && std::isdigit(static_cast<unsigned char>(out.name[0]))) return false;
  }
  out.end = i;
  // What may follow the name: arguments, the end of the statement, white space.
  return !out.name.empty() && (i == sql.size() || is_space(sql[i]) || sql[i] == '(' || sql[i] == ';');
}

std::string rewrite_execute(std::string_view sql, const ExecuteRef& ex, std::string_view server_name) {
  std::string out(sql.substr(0, ex.begin));
  if (out.empty() || !is_space(out.back())) out += ' ';
  out += server_name;
  out += sql.substr(ex.end);
  return out;
}

}  // namespace pgscale::proxy

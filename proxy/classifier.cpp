#include "proxy/classifier.hpp"

#include <pg_query.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "proxy/classifier_analysis.hpp"
#include "proxy/classifier_normalize.hpp"
#include "proxy/session_state_scan.hpp"
#include "proxy/statement_cache.hpp"

namespace pgscale::classifier {
namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(Reason::count_)> kReasonNames = {
    "write",          "ddl",          "copy_from",         "locking_clause",
    "writable_cte",   "select_into",  "lock",              "notify",
    "listen",         "sequence_fn",  "advisory_lock_fn",  "volatile_fn",
    "unknown_fn",     "primary_only_fn", "procedural",     "maintenance",
    "execute_prepared", "parse_error", "hint",             "transaction_control",
    "session_state",  "route_directive"};

// Reasons a `/* pgscale: replica */` hint may override: the statement might well be a read
// (a volatile or unknown function, a procedure, an EXECUTE), whereas writes, locks, sequences
// and the rest would fail or diverge on a standby.
bool is_soft(Reason r) {
  return r == Reason::volatile_fn || r == Reason::unknown_fn || r == Reason::procedural ||
         r == Reason::execute_prepared;
}

// protobuf-c's unpack (and the walk) recurse once per nesting level, so a hostile statement such
// as `SELECT 1+1+...+1` (left-deep, one level per operator) would overflow a worker's stack.
// Before unpacking, measure the nesting depth of the serialized tree iteratively, guided by the
// descriptors (a length-delimited field is a nested message only if its descriptor says so).
constexpr std::size_t kMaxTreeDepth = 2000;

bool read_varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const std::uint8_t b = *p++;
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// True when the tree is well-formed and at most kMaxTreeDepth messages deep.
bool tree_depth_ok(const std::uint8_t* data, std::size_t len) {
  struct Frame {
    const std::uint8_t* end;
    const ProtobufCMessageDescriptor* desc;
  };
  std::vector<Frame> stack;
  stack.push_back({data + len, &pg_query__parse_result__descriptor});
  const std::uint8_t* p = data;
  while (!stack.empty()) {
    if (p >= stack.back().end) {
      if (p > stack.back().end) return false;
      stack.pop_back();
      continue;
    }
    const std::uint8_t* end = stack.back().end;
    std::uint64_t tag = 0, n = 0;
    if (!read_varint(p, end, tag)) return false;
    switch (tag & 7) {
      case 0: if (!read_varint(p, end, n)) return false; break;
      case 1: p += 8; break;
      case 5: p += 4; break;
      case 2: {
        if (!read_varint(p, end, n) || n > static_cast<std::uint64_t>(end - p)) return false;
        const ProtobufCFieldDescriptor* f =
            protobuf_c_message_descriptor_get_field(stack.back().desc, static_cast<unsigned>(tag >> 3));
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
          if (stack.size() >= kMaxTreeDepth) return false;
          stack.push_back({p + n, static_cast<const ProtobufCMessageDescriptor*>(f->descriptor)});
        } else {
          p += n;
        }
        break;
      }
      default: return false;
    }
  }
  return true;
}

}  // namespace

// `SET pgscale.route = primary` does not parse (PRIMARY is a reserved word in PostgreSQL's
// grammar), so the directive is also recognised textually when it is the whole string.
std::optional<RouteDirective> match_route_directive(std::string_view sql) {
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  };
  auto word = [&](std::string_view w) {
    skip_ws();
    if (sql.size() - i < w.size()) return false;
    for (std::size_t k = 0; k < w.size(); ++k) {
      if (std::tolower(static_cast<unsigned char>(sql[i + k])) != w[k]) return false;
    }
    const std::size_t after = i + w.size();
    if (after < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[after])) || sql[after] == '_') &&
        std::isalnum(static_cast<unsigned char>(w.back()))) {
      return false;
    }
    i = after;
    return true;
  };
  if (!word("set")) return std::nullopt;
  word("session");
  if (!word("pgscale.route") || !(word("=") || word("to"))) return std::nullopt;
  skip_ws();
  const bool quoted = i < sql.size() && sql[i] == '\'';
  if (quoted) ++i;
  std::optional<RouteDirective> d;
  if (word("primary")) d = RouteDirective::primary;
  else if (word("replica")) d = RouteDirective::replica;
  else if (word("auto") || word("default")) d = RouteDirective::auto_;
  if (!d || (quoted && !word("'"))) return std::nullopt;
  word(";");
  skip_ws();
  return i == sql.size() ? d : std::nullopt;
}

bool is_route_setting(std::string_view name) {
  constexpr std::string_view kName = "pgscale.route";
  if (name.size() != kName.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != kName[i]) return false;
  }
  return true;
}

std::string_view route_directive_sql(RouteDirective d) {
  switch (d) {
    case RouteDirective::primary: return "SET pgscale.route = 'primary'";
    case RouteDirective::replica: return "SET pgscale.route = 'replica'";
    case RouteDirective::auto_: break;
  }
  return "SET pgscale.route = 'auto'";
}

std::string_view route_directive_server_sql() { return "SET pgscale.route TO DEFAULT"; }

namespace {

struct ParseTree {
  PgQueryProtobufParseResult raw{};
  PgQuery__ParseResult* tree = nullptr;
  ~ParseTree() {
    if (tree) pg_query__parse_result__free_unpacked(tree, nullptr);
    pg_query_free_protobuf_parse_result(raw);
  }
};

void fail(Classification& out, std::string message) {
  out.reasons.add(Reason::parse_error);
  out.route = RouteClass::primary;
  out.error = std::move(message);
  out.cacheable = false;
}

void decide_route(Classification& out, const detail::Analysis& a, std::optional<Hint> hint) {
  out.hint = hint;
  const bool primary = a.hard_primary || a.soft_primary;
  if (hint == Hint::primary) {
    if (!primary) out.reasons.add(Reason::hint);
    out.route = RouteClass::primary;
  } else if (hint == Hint::replica && !a.hard_primary && a.soft_primary) {
    out.reasons.add(Reason::hint);
    out.route = RouteClass::replica_safe;
  } else {
    out.route = primary ? RouteClass::primary : RouteClass::replica_safe;
  }
}

// libpg_query itself recurses per tree level when it serializes the tree; a statement that could
// nest deeper than this is not parsed at all (the primary runs it, or reports PostgreSQL's error).
constexpr std::size_t kMaxNestingTokens = 4000;

Classification classify_with_hint(std::string_view sql, const ClassifierContext& ctx,
                                  const NormalizeResult& nr) {
  const std::optional<Hint> hint = nr.hint;
  Classification out;
  if (nr.nesting_tokens > kMaxNestingTokens) {
    fail(out, "statement too complex to classify");
    return out;
  }
  if (sql.find('\0') != std::string_view::npos) {
    fail(out, "statement text contains a NUL byte");
    return out;
  }
  thread_local std::string text;  // pg_query wants a C string
  text.assign(sql);
  ParseTree pt;
  pt.raw = pg_query_parse_protobuf(text.c_str());
  if (pt.raw.error) {
    if (auto d = match_route_directive(sql)) {
      out.route = RouteClass::replica_safe;
      out.reasons.add(Reason::route_directive);
      out.route_directive = d;
      out.directive_only = true;
      out.statement_count = 1;
      out.cacheable = false;
      return out;
    }
    fail(out, pt.raw.error->message ? pt.raw.error->message : "syntax error");
    return out;
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(pt.raw.parse_tree.data);
  if (!tree_depth_ok(bytes, pt.raw.parse_tree.len)) {
    fail(out, "statement too deeply nested to classify");
    return out;
  }
  pt.tree = pg_query__parse_result__unpack(nullptr, pt.raw.parse_tree.len,
                                           reinterpret_cast<const uint8_t*>(pt.raw.parse_tree.data));
  if (!pt.tree) {
    fail(out, "cannot decode the parse tree");
    return out;
  }
  detail::Analysis a{ctx, out, {}};
  for (std::size_t i = 0; i < pt.tree->n_stmts; ++i) {
    const PgQuery__RawStmt* rs = pt.tree->stmts[i];
    if (!rs || !rs->stmt) continue;
    const std::size_t loc = std::min<std::size_t>(static_cast<std::size_t>(rs->stmt_location), sql.size());
    const std::size_t len = rs->stmt_len > 0 ? static_cast<std::size_t>(rs->stmt_len) : sql.size() - loc;
    a.stmt_text = sql.substr(loc, len);
    detail::analyze_statement(rs->stmt, a);
    ++out.statement_count;
  }
  if (a.pending_rw_begin) a.primary(Reason::transaction_control);
  out.directive_only = out.statement_count > 0 && a.directives == out.statement_count;
  if (!out.unknown_functions.empty()) out.cacheable = false;  // may be known after a refresh
  decide_route(out, a, hint);
  return out;
}

}  // namespace

std::string_view reason_name(Reason r) {
  const auto i = static_cast<std::size_t>(r);
  return i < kReasonNames.size() ? kReasonNames[i] : "?";
}

std::string Reasons::to_string() const {
  std::string s;
  for (std::size_t i = 0; i < kReasonNames.size(); ++i) {
    if (!has(static_cast<Reason>(i))) continue;
    if (!s.empty()) s += ',';
    s += kReasonNames[i];
  }
  return s;
}

bool pins_session(const SessionEffect& e) {
  switch (e.kind) {
    case SessionEffectKind::prepare:
    case SessionEffectKind::listen:
    case SessionEffectKind::create_temp_table:
    case SessionEffectKind::advisory_lock_session:
    case SessionEffectKind::set_config_dynamic:
      return true;
    case SessionEffectKind::declare_cursor:
      return e.hold;
    default:
      return false;
  }
}

void MapFunctionCatalog::add(std::string name, Volatility v) {
  auto [it, inserted] = map_.emplace(std::move(name), v);
  if (!inserted) {
    auto rank = [](Volatility x) { return x == Volatility::volatile_ ? 3 : x == Volatility::stable ? 2 : 1; };
    if (rank(v) > rank(it->second)) it->second = v;
  }
}

Volatility MapFunctionCatalog::volatility(std::string_view name) const {
  auto it = map_.find(std::string(name));
  return it == map_.end() ? Volatility::unknown : it->second;
}

namespace detail {

void Analysis::primary(Reason r) {
  out.reasons.add(r);
  if (is_soft(r)) soft_primary = true;
  else hard_primary = true;
}

void Analysis::add_relation(const PgQuery__RangeVar* rv) {
  if (!rv || !rv->relname || !*rv->relname) return;
  std::string name = rv->schemaname && *rv->schemaname ? std::string(rv->schemaname) + "." : std::string();
  name += rv->relname;
  if (std::find(out.relations.begin(), out.relations.end(), name) == out.relations.end()) {
    out.relations.push_back(std::move(name));
  }
}

void Analysis::add_unknown_function(std::string_view name) {
  if (std::find(out.unknown_functions.begin(), out.unknown_functions.end(), name) ==
      out.unknown_functions.end()) {
    out.unknown_functions.emplace_back(name);
  }
}

void Analysis::add_effect(SessionEffect e) {
  out.reasons.add(Reason::session_state);
  out.session.push_back(std::move(e));
}

}  // namespace detail

namespace {

// classify_with_hint plus the session-state scan verdict, both computed once per cache entry.
Classification classify_full(std::string_view sql, const ClassifierContext& ctx, const NormalizeResult& nr) {
  Classification c = classify_with_hint(sql, ctx, nr);
  c.session_scan_clear = proxy::detail::scan_for_effects(sql) == proxy::detail::ScanVerdict::none;
  return c;
}

// Per worker thread: texts classified lately, by exact text. The same text is asked for several
// times in a row (the route code's directive check and transaction summary, the relay's
// session-state check), and a prepared statement's text (one interned string for every client)
// at each Bind: a repeat costs a comparison instead of a normalise and a cache probe. The slot
// comes from the text's address and length, so a client's next statement in the same buffer
// replaces its last one; between the route code's lookup and the relay's, other clients of the
// thread run (the checkout may wait), hence room for a thousand clients' texts (with 256 slots
// half the lookups of 200 waiting pgbench clients missed: 880 instructions per transaction more,
// a per-thread table of 1,024 is 64 KiB plus the texts). An exact-text
// result is right whether or not it was cacheable.
constexpr unsigned kMemoSlotBits = 10;
constexpr std::size_t kMemoSlots = std::size_t{1} << kMemoSlotBits;
constexpr std::size_t kMemoMaxText = 1024;  // longer texts: the copy would cost more than it saves

struct MemoEntry {
  std::uint64_t owner = 0;  // Classifier id; 0 = empty
  std::uint64_t epoch = 0;
  std::string text;
  std::shared_ptr<const Classification> value;
};

MemoEntry* memo_slot(std::string_view sql) {
  if (sql.size() > kMemoMaxText) return nullptr;
  thread_local std::array<MemoEntry, kMemoSlots> memo;
  // Multiplicative hash: client buffers sit at addresses a power of two apart, whose low bits agree.
  const std::uint64_t a = reinterpret_cast<std::uintptr_t>(sql.data()) ^ (std::uint64_t{sql.size()} << 48);
  return &memo[(a * 0x9E3779B97F4A7C15ull) >> (64 - kMemoSlotBits)];
}

bool memo_matches(const MemoEntry* m, std::uint64_t owner, std::uint64_t epoch, std::string_view sql) {
  return m && m->owner == owner && m->epoch == epoch && std::string_view(m->text) == sql;
}

std::atomic<std::uint64_t> g_next_classifier_id{1};

}  // namespace

Classification classify(std::string_view sql, const ClassifierContext& ctx) {
  thread_local std::string key;
  const NormalizeResult nr = normalize(sql, key);
  return classify_full(sql, ctx, nr);
}

Classifier::Classifier(ClassifierContext ctx, std::size_t cache_size)
    : ctx_(std::make_shared<const ClassifierContext>(std::move(ctx))),
      cache_(std::make_unique<StatementCache>(cache_size)),
      id_(g_next_classifier_id.fetch_add(1, std::memory_order_relaxed)) {}

Classifier::~Classifier() = default;

std::shared_ptr<const Classification> Classifier::classify(std::string_view sql) const {
  // Epoch before context: an entry computed with an old context is tagged with an old epoch.
  const std::uint64_t epoch = cache_->epoch();
  MemoEntry* m = memo_slot(sql);
  if (memo_matches(m, id_, epoch, sql)) {
    cache_->count_memo_hit();
    return m->value;
  }
  thread_local std::string key;
  const NormalizeResult nr = normalize(sql, key);
  const bool usable = nr.status == NormalizeStatus::ok;
  std::uint64_t h = 0;
  std::shared_ptr<const Classification> result;
  if (usable) {
    h = StatementCache::hash(key);
    result = cache_->find(key, h);
  } else {
    cache_->count_bypass();
  }
  if (!result) {
    const auto ctx = ctx_.load();
    result = std::make_shared<const Classification>(classify_full(sql, *ctx, nr));
    if (usable && result->cacheable) cache_->insert(key, h, epoch, result);
  }
  if (m) {
    m->owner = id_;
    m->epoch = epoch;
    m->text.assign(sql);
    m->value = result;
  }
  return result;
}

std::shared_ptr<const Classification> Classifier::recent(std::string_view sql) const {
  const MemoEntry* m = memo_slot(sql);
  return memo_matches(m, id_, cache_->epoch(), sql) ? m->value : nullptr;
}

void Classifier::set_context(ClassifierContext ctx) {
  ctx_.store(std::make_shared<const ClassifierContext>(std::move(ctx)));
  cache_->invalidate_all();
}

CacheStats Classifier::stats() const { return cache_->stats(); }

}  // namespace pgscale::classifier

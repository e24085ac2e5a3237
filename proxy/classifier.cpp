#include "proxy/classifier.hpp"

#include <pg_query.h>

#include <algorithm>
#include <array>

#include "proxy/classifier_analysis.hpp"
#include "proxy/classifier_normalize.hpp"
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

Classification classify_with_hint(std::string_view sql, const ClassifierContext& ctx,
                                  std::optional<Hint> hint) {
  Classification out;
  if (sql.find('\0') != std::string_view::npos) {
    fail(out, "statement text contains a NUL byte");
    return out;
  }
  thread_local std::string text;  // pg_query wants a C string
  text.assign(sql);
  ParseTree pt;
  pt.raw = pg_query_parse_protobuf(text.c_str());
  if (pt.raw.error) {
    fail(out, pt.raw.error->message ? pt.raw.error->message : "syntax error");
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

Classification classify(std::string_view sql, const ClassifierContext& ctx) {
  thread_local std::string key;
  const NormalizeResult nr = normalize(sql, key);
  return classify_with_hint(sql, ctx, nr.hint);
}

Classifier::Classifier(ClassifierContext ctx, std::size_t cache_size)
    : ctx_(std::make_shared<const ClassifierContext>(std::move(ctx))),
      cache_(std::make_unique<StatementCache>(cache_size)) {}

Classifier::~Classifier() = default;

std::shared_ptr<const Classification> Classifier::classify(std::string_view sql) const {
  thread_local std::string key;
  const NormalizeResult nr = normalize(sql, key);
  const bool usable = nr.status == NormalizeStatus::ok;
  std::uint64_t h = 0;
  if (usable) {
    h = StatementCache::hash(key);
    if (auto hit = cache_->find(key, h)) return hit;
  } else {
    cache_->count_bypass();
  }
  // Epoch before context: an entry computed with an old context is tagged with an old epoch.
  const std::uint64_t epoch = cache_->epoch();
  const auto ctx = ctx_.load();
  auto result = std::make_shared<const Classification>(classify_with_hint(sql, *ctx, nr.hint));
  if (usable && result->cacheable) cache_->insert(key, h, epoch, result);
  return result;
}

void Classifier::set_context(ClassifierContext ctx) {
  ctx_.store(std::make_shared<const ClassifierContext>(std::move(ctx)));
  cache_->invalidate_all();
}

CacheStats Classifier::stats() const { return cache_->stats(); }

}  // namespace pgscale::classifier

// analyze_effects(): may this SQL string change session state? Three steps, cheapest first:
//   1. a scan without the parser that clears almost every statement (SELECT/INSERT/UPDATE...);
//   2. a bounded cache by exact text of what passed the scan;
//   3. libpg_query (PostgreSQL 15's grammar) and a walk over every node of every statement.
// Over-reporting is cheap (the inspect query reads the truth), missing an effect is not, so every
// doubt in steps 1 and 3 answers "maybe".
#include <pg_query.h>
#include <protobuf-c/protobuf-c.h>
#include <pg_query/pg_query.pb-c.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "proxy/classifier.hpp"
#include "proxy/session_state.hpp"
#include "proxy/session_state_scan.hpp"

namespace pgscale::proxy {
namespace {

constexpr int kCursorOptHold = 0x0020;  // parsenodes.h CURSOR_OPT_HOLD
constexpr int kMaxDepth = 3000;         // the walk recurses once per tree level

std::string_view sv(const char* s) { return s ? std::string_view(s) : std::string_view(); }

StatementEffects maybe_everything() {
  StatementEffects e;
  e.settings = e.pins = e.unpins = true;
  return e;
}

const ProtobufCMessage* unwrap(const PgQuery__Node* n) {
  if (!n || n->node_case == PG_QUERY__NODE__NODE__NOT_SET) return nullptr;
  const ProtobufCFieldDescriptor* f =
      protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, n->node_case);
  if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE) return nullptr;
  return *reinterpret_cast<ProtobufCMessage* const*>(reinterpret_cast<const char*>(n) + f->offset);
}

const char* const_string(const PgQuery__Node* n) {
  if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST || n->a_const->isnull) return nullptr;
  if (n->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL || !n->a_const->sval) return nullptr;
  return n->a_const->sval->sval;
}

bool is_role_setting(std::string_view name) { return name == "role" || name == "session_authorization"; }

class EffectsWalker {
 public:
  explicit EffectsWalker(StatementEffects& e) : e_(e) {}
  bool too_deep() const { return too_deep_; }

  void visit(const ProtobufCMessage* m, int depth) {
    if (depth > kMaxDepth) {
      too_deep_ = true;
      return;
    }
    const ProtobufCMessageDescriptor* d = m->descriptor;
    if (d == &pg_query__node__descriptor) {
      if (const ProtobufCMessage* inner = unwrap(reinterpret_cast<const PgQuery__Node*>(m))) {
        visit(inner, depth + 1);
      }
      return;
    }
    // SET inside these configures a function, role, database or the system, not this session;
    // a function body does not run when it is created.
    if (d == &pg_query__create_function_stmt__descriptor || d == &pg_query__alter_function_stmt__descriptor ||
        d == &pg_query__alter_role_set_stmt__descriptor || d == &pg_query__alter_database_set_stmt__descriptor ||
        d == &pg_query__alter_system_stmt__descriptor) {
      return;
    }
    inspect(m, d);
    const char* base = reinterpret_cast<const char*>(m);
    for (unsigned i = 0; i < d->n_fields; ++i) {
      const ProtobufCFieldDescriptor& f = d->fields[i];
      if (f.type != PROTOBUF_C_TYPE_MESSAGE) continue;
      if (f.label == PROTOBUF_C_LABEL_REPEATED) {
        const std::size_t n = *reinterpret_cast<const std::size_t*>(base + f.quantifier_offset);
        auto* arr = *reinterpret_cast<ProtobufCMessage* const* const*>(base + f.offset);
        for (std::size_t k = 0; k < n; ++k) {
          if (arr[k]) visit(arr[k], depth + 1);
        }
        continue;
      }
      if ((f.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
          *reinterpret_cast<const std::uint32_t*>(base + f.quantifier_offset) != f.id) {
        continue;
      }
      if (auto* child = *reinterpret_cast<ProtobufCMessage* const*>(base + f.offset)) {
        visit(child, depth + 1);
      }
    }
  }

 private:
  void inspect(const ProtobufCMessage* m, const ProtobufCMessageDescriptor* d) {
    if (d == &pg_query__variable_set_stmt__descriptor) {
      variable_set(reinterpret_cast<const PgQuery__VariableSetStmt*>(m));
    } else if (d == &pg_query__func_call__descriptor) {
      func_call(reinterpret_cast<const PgQuery__FuncCall*>(m));
    } else if (d == &pg_query__range_var__descriptor) {
      // 't' only on relations being created (CREATE TEMP TABLE/VIEW/SEQUENCE, CREATE TEMP TABLE
      // AS, SELECT INTO TEMP); pg_temp.x names the temp schema explicitly (also when created).
      auto* rv = reinterpret_cast<const PgQuery__RangeVar*>(m);
      if (sv(rv->relpersistence) == "t" || sv(rv->schemaname).starts_with("pg_temp")) e_.pins = true;
    } else if (d == &pg_query__discard_stmt__descriptor) {
      auto* s = reinterpret_cast<const PgQuery__DiscardStmt*>(m);
      if (s->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL) {
        e_.settings = e_.unpins = e_.discard_all = true;
      } else if (s->target == PG_QUERY__DISCARD_MODE__DISCARD_TEMP) {
        e_.unpins = true;
      }
    } else if (d == &pg_query__deallocate_stmt__descriptor) {
      auto* s = reinterpret_cast<const PgQuery__DeallocateStmt*>(m);
      e_.unpins = true;
      if (sv(s->name).empty()) e_.deallocate_all = true;
      else e_.deallocate_names.emplace_back(s->name);
    } else if (d == &pg_query__prepare_stmt__descriptor || d == &pg_query__listen_stmt__descriptor) {
      e_.pins = true;
    } else if (d == &pg_query__declare_cursor_stmt__descriptor) {
      if (reinterpret_cast<const PgQuery__DeclareCursorStmt*>(m)->options & kCursorOptHold) e_.pins = true;
    } else if (d == &pg_query__close_portal_stmt__descriptor || d == &pg_query__unlisten_stmt__descriptor ||
               d == &pg_query__drop_stmt__descriptor) {
      e_.unpins = true;
    } else if (d == &pg_query__do_stmt__descriptor || d == &pg_query__call_stmt__descriptor) {
      e_.settings = e_.pins = e_.unpins = true;  // procedural code: anything may happen
    }
  }

  void variable_set(const PgQuery__VariableSetStmt* s) {
    using K = PgQuery__VariableSetKind;
    if (s->is_local) return;  // SET LOCAL ends with its transaction
    const std::string_view name = sv(s->name);
    // pgscale's routing directive: pgscale keeps it. On a server it is a custom setting no module
    // defines, which pg_settings does not list: reading the session state back would find nothing.
    if (classifier::is_route_setting(name)) return;
    switch (s->kind) {
      case K::PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI:
        if (name != "TRANSACTION") e_.settings = true;  // SESSION CHARACTERISTICS: default_transaction_*
        return;
      case K::PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL:
        e_.settings = e_.unpins = true;
        return;
      case K::PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT:
      case K::PG_QUERY__VARIABLE_SET_KIND__VAR_RESET:
        if (is_role_setting(name)) e_.unpins = true;
        else e_.settings = true;
        return;
      default:  // SET name = value, SET ... FROM CURRENT
        // SET ROLE x may as well be SET ROLE NONE: the inspect query tells which.
        if (is_role_setting(name)) e_.pins = e_.unpins = true;
        else e_.settings = true;
        return;
    }
  }

  void func_call(const PgQuery__FuncCall* fc) {
    if (fc->n_funcname == 0) return;
    const PgQuery__Node* last = fc->funcname[fc->n_funcname - 1];
    if (!last || last->node_case != PG_QUERY__NODE__NODE_STRING || !last->string) return;
    const std::string_view name = sv(last->string->sval);
    if (name == "pg_advisory_lock" || name == "pg_advisory_lock_shared" ||
        name == "pg_try_advisory_lock" || name == "pg_try_advisory_lock_shared") {
      e_.pins = true;
    } else if (name == "pg_advisory_unlock" || name == "pg_advisory_unlock_shared" ||
               name == "pg_advisory_unlock_all") {
      e_.unpins = true;
    } else if (name == "set_config") {
      set_config(fc);
    }
  }

  // set_config(name, value, is_local): is_local = constant true is SET LOCAL (no effect); a name
  // that is not a constant may be role or session_authorization.
  void set_config(const PgQuery__FuncCall* fc) {
    if (fc->n_args == 3 && fc->args[2] && fc->args[2]->node_case == PG_QUERY__NODE__NODE_A_CONST) {
      const PgQuery__AConst* c = fc->args[2]->a_const;
      const char* s = const_string(fc->args[2]);
      const bool local = (c->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL && c->boolval && c->boolval->boolval) ||
                         (s && (sv(s) == "t" || sv(s) == "true" || sv(s) == "on"));
      if (local) return;
    }
    e_.settings = true;
    const char* name = fc->n_args > 0 ? const_string(fc->args[0]) : nullptr;
    if (!name || is_role_setting(name)) e_.pins = e_.unpins = true;
  }

  StatementEffects& e_;
  bool too_deep_ = false;
};

struct ParseTree {
  PgQueryProtobufParseResult raw{};
  PgQuery__ParseResult* tree = nullptr;
  ~ParseTree() {
    if (tree) pg_query__parse_result__free_unpacked(tree, nullptr);
    pg_query_free_protobuf_parse_result(raw);
  }
};

StatementEffects parse_effects(std::string_view sql) {
  if (sql.find('\0') != std::string_view::npos) return {};  // the server rejects it too
  thread_local std::string text;  // pg_query wants a C string
  text.assign(sql);
  ParseTree pt;
  pt.raw = pg_query_parse_protobuf(text.c_str());
  if (pt.raw.error) return {};
  pt.tree = pg_query__parse_result__unpack(nullptr, pt.raw.parse_tree.len,
                                           reinterpret_cast<const uint8_t*>(pt.raw.parse_tree.data));
  if (!pt.tree) return maybe_everything();
  StatementEffects e;
  EffectsWalker w(e);
  for (std::size_t i = 0; i < pt.tree->n_stmts; ++i) {
    const PgQuery__RawStmt* rs = pt.tree->stmts[i];
    if (rs && rs->stmt) w.visit(&rs->stmt->base, 0);
  }
  return w.too_deep() ? maybe_everything() : e;
}

// Exact text -> effects of the strings that passed the scan (SET, DROP, ... and their repeats).
// Two generations per shard: hits in the old one move to the new one; when the new one is full
// the old one is dropped. Bounded, LRU-like, one short mutex section per lookup.
class EffectsCache {
 public:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kPerGeneration = 256;  // 16 * 2 * 256 = at most 8192 texts

  std::optional<StatementEffects> find(std::string_view sql, std::size_t h) {
    Shard& s = shards_[h % kShards];
    std::lock_guard g(s.mu);
    if (auto it = s.young.find(sql); it != s.young.end()) return it->second;
    auto it = s.old.find(sql);
    if (it == s.old.end()) return std::nullopt;
    StatementEffects e = it->second;
    put(s, std::string(sql), e);
    return e;
  }
  void insert(std::string_view sql, std::size_t h, const StatementEffects& e) {
    Shard& s = shards_[h % kShards];
    std::lock_guard g(s.mu);
    put(s, std::string(sql), e);
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, StatementEffects, Hash, std::equal_to<>>;
  struct Shard {
    std::mutex mu;
    Map young, old;
  };
  static void put(Shard& s, std::string key, const StatementEffects& e) {
    if (s.young.size() >= kPerGeneration) s.old = std::exchange(s.young, Map{});
    s.young.insert_or_assign(std::move(key), e);
  }
  std::array<Shard, kShards> shards_;
};

EffectsCache& cache() {
  static EffectsCache c;
  return c;
}

// Texts longer than this are analysed every time (a bulk INSERT would only evict useful entries).
constexpr std::size_t kMaxCachedText = 4096;

}  // namespace

StatementEffects analyze_effects(std::string_view sql) {
  switch (detail::scan_for_effects(sql)) {
    case detail::ScanVerdict::none: return {};
    case detail::ScanVerdict::too_complex: return maybe_everything();
    case detail::ScanVerdict::maybe: break;
  }
  if (sql.size() > kMaxCachedText) return parse_effects(sql);
  const std::size_t h = std::hash<std::string_view>{}(sql);
  if (auto hit = cache().find(sql, h)) return *hit;
  StatementEffects e = parse_effects(sql);
  cache().insert(sql, h, e);
  return e;
}

}  // namespace pgscale::proxy

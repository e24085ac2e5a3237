// Reflective walk over libpg_query's protobuf-c parse tree: every message field of every message
// is visited through its descriptor, so "anywhere in the statement" rules (locking clauses in
// subqueries, DML in nested CTEs, functions in any expression) cannot miss a node type.
#include <cstring>

#include "proxy/classifier_analysis.hpp"
#include "proxy/classifier_functions.hpp"

namespace pgscale::classifier::detail {
namespace {

// Deeper trees are not analysed (the walk is recursive): the statement goes to the primary.
constexpr int kMaxDepth = 3000;

std::string_view sv(const char* s) { return s ? std::string_view(s) : std::string_view(); }

std::string_view string_of(const PgQuery__Node* n) {
  if (n && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string) return sv(n->string->sval);
  return {};
}

class Walker {
 public:
  Walker(const ProtobufCMessage* root, Analysis& a) : root_(root), a_(a) {}

  void visit(const ProtobufCMessage* m, int depth) {
    if (depth > kMaxDepth) {
      a_.too_deep = true;
      return;
    }
    const ProtobufCMessageDescriptor* d = m->descriptor;
    if (d == &pg_query__node__descriptor) {
      if (const ProtobufCMessage* inner = unwrap(reinterpret_cast<const PgQuery__Node*>(m))) {
        visit(inner, depth + 1);
      }
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
    if (d == &pg_query__func_call__descriptor) {
      func_call(reinterpret_cast<const PgQuery__FuncCall*>(m));
    } else if (d == &pg_query__range_var__descriptor) {
      auto* rv = reinterpret_cast<const PgQuery__RangeVar*>(m);
      a_.add_relation(rv);
      // Only relations being created carry 't' (CREATE TEMP TABLE/VIEW/SEQUENCE, SELECT INTO
      // TEMP, CREATE TEMP TABLE AS): session-local objects that pin the client to its server.
      if (sv(rv->relpersistence) == "t") {
        a_.add_effect(effect(SessionEffectKind::create_temp_table, std::string(sv(rv->relname))));
      }
    } else if (d == &pg_query__locking_clause__descriptor) {
      a_.primary(Reason::locking_clause);
    } else if (d == &pg_query__into_clause__descriptor) {
      a_.primary(Reason::select_into);
    } else if (m != root_ && (d == &pg_query__insert_stmt__descriptor ||
                              d == &pg_query__update_stmt__descriptor ||
                              d == &pg_query__delete_stmt__descriptor ||
                              d == &pg_query__merge_stmt__descriptor)) {
      a_.primary(Reason::writable_cte);
      a_.primary(Reason::write);
    }
  }

  void func_call(const PgQuery__FuncCall* fc) {
    if (fc->n_funcname == 0) return;
    const std::string_view name = string_of(fc->funcname[fc->n_funcname - 1]);
    switch (function_kind(name)) {
      case FunctionKind::sequence:
        return a_.primary(Reason::sequence_fn);
      case FunctionKind::advisory_session:
        a_.add_effect(effect(SessionEffectKind::advisory_lock_session, std::string(name)));
        return a_.primary(Reason::advisory_lock_fn);
      case FunctionKind::advisory_xact:
        a_.add_effect(effect(SessionEffectKind::advisory_lock_xact, std::string(name)));
        return a_.primary(Reason::advisory_lock_fn);
      case FunctionKind::advisory_unlock:
        a_.add_effect(effect(SessionEffectKind::advisory_unlock, std::string(name)));
        return a_.primary(Reason::advisory_lock_fn);
      case FunctionKind::notify:
        return a_.primary(Reason::notify);
      case FunctionKind::primary_only:
        return a_.primary(Reason::primary_only_fn);
      case FunctionKind::set_config:
        set_config(fc);
        return a_.primary(Reason::volatile_fn);
      case FunctionKind::ordinary:
        break;
    }
    ordinary_function(name);
  }

  // set_config(name, value, is_local) with constant arguments is a SET; otherwise the session
  // state is unknown to pgscale (the session layer should pin).
  void set_config(const PgQuery__FuncCall* fc) {
    a_.out.cacheable = false;
    if (fc->n_args == 3) {
      const PgQuery__Node* n = fc->args[0];
      const PgQuery__Node* v = fc->args[1];
      const PgQuery__Node* l = fc->args[2];
      auto is_str = [](const PgQuery__Node* x) {
        return x && x->node_case == PG_QUERY__NODE__NODE_A_CONST &&
               x->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL;
      };
      const bool local_const = l && l->node_case == PG_QUERY__NODE__NODE_A_CONST;
      if (is_str(n) && is_str(v) && local_const) {
        SessionEffect e = effect(SessionEffectKind::set, std::string(sv(n->a_const->sval->sval)),
                        render_constant(v));
        const std::string lv = render_constant(l);
        e.local = lv == "true" || lv == "'t'" || lv == "'true'" || lv == "'on'" || lv == "1";
        e.statement = std::string(a_.stmt_text);
        return a_.add_effect(std::move(e));
      }
    }
    a_.add_effect(effect(SessionEffectKind::set_config_dynamic, "set_config"));
  }

  void ordinary_function(std::string_view name) {
    Volatility v = Volatility::unknown;
    if (a_.ctx.catalog) v = a_.ctx.catalog->volatility(name);
    if (v == Volatility::unknown) v = builtin_volatility(name);
    if (v == Volatility::unknown) {
      a_.add_unknown_function(name);
      return a_.primary(Reason::unknown_fn);
    }
    if (v == Volatility::volatile_ &&
        !a_.ctx.read_safe_functions.contains(std::string(name))) {
      a_.primary(Reason::volatile_fn);
    }
  }

  const ProtobufCMessage* root_;
  Analysis& a_;
};

}  // namespace

const ProtobufCMessage* unwrap(const PgQuery__Node* n) {
  if (!n || n->node_case == PG_QUERY__NODE__NODE__NOT_SET) return nullptr;
  const ProtobufCFieldDescriptor* f =
      protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, n->node_case);
  if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE) return nullptr;
  return *reinterpret_cast<ProtobufCMessage* const*>(reinterpret_cast<const char*>(n) + f->offset);
}

void walk(const ProtobufCMessage* root, Analysis& a) {
  if (!root) return;
  Walker(root, a).visit(root, 0);
  if (a.too_deep) a.primary(Reason::parse_error);
}

}  // namespace pgscale::classifier::detail

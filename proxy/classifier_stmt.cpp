// Routing rules per top-level statement kind (DESIGN.md "Routing rules").
#include <cctype>

#include "proxy/classifier_analysis.hpp"

namespace pgscale::classifier::detail {
namespace {

// DECLARE ... WITH HOLD (parsenodes.h CURSOR_OPT_HOLD).
constexpr int kCursorOptHold = 0x0020;

std::string str(const char* s) { return s ? std::string(s) : std::string(); }

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

const PgQuery__DefElem* def_elem(const PgQuery__Node* n) {
  return n && n->node_case == PG_QUERY__NODE__NODE_DEF_ELEM ? n->def_elem : nullptr;
}

// defGetBoolean-like: no argument means true; anything not clearly false counts as true (safe:
// EXPLAIN ANALYZE executes the statement).
bool option_true(const PgQuery__DefElem* d) {
  const PgQuery__Node* a = d->arg;
  if (!a) return true;
  std::string v;
  if (a->node_case == PG_QUERY__NODE__NODE_STRING) v = lower(str(a->string->sval));
  else if (a->node_case == PG_QUERY__NODE__NODE_INTEGER) return a->integer->ival != 0;
  else if (a->node_case == PG_QUERY__NODE__NODE_BOOLEAN) return a->boolean->boolval;
  else if (a->node_case == PG_QUERY__NODE__NODE_A_CONST) v = lower(render_constant(a));
  return !(v == "false" || v == "off" || v == "0" || v == "'false'" || v == "'off'" || v == "no");
}

// Transaction characteristics from BEGIN / START TRANSACTION / SET TRANSACTION options.
void read_txn_options(PgQuery__Node** opts, std::size_t n, TxnEffect& t) {
  for (std::size_t i = 0; i < n; ++i) {
    const PgQuery__DefElem* d = def_elem(opts[i]);
    if (!d) continue;
    const std::string_view name = d->defname ? d->defname : "";
    const std::string v = render_constant(d->arg);
    if (name == "transaction_read_only") t.read_only = v != "0" && v != "false";
    if (name == "transaction_isolation" && v.size() >= 2) t.isolation = v.substr(1, v.size() - 2);
  }
}

void transaction(const PgQuery__TransactionStmt* s, Analysis& a) {
  using K = PgQuery__TransactionStmtKind;
  TxnEffect t{TxnEffectKind::begin, std::nullopt, {}, static_cast<bool>(s->chain), {}};
  switch (s->kind) {
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
      read_txn_options(s->options, s->n_options, t);
      break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT: t.kind = TxnEffectKind::commit; break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK: t.kind = TxnEffectKind::rollback; break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT: t.kind = TxnEffectKind::savepoint; break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE: t.kind = TxnEffectKind::release_savepoint; break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
      t.kind = TxnEffectKind::rollback_to_savepoint;
      break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE: t.kind = TxnEffectKind::prepare_transaction; break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED: t.kind = TxnEffectKind::commit_prepared; break;
    case K::PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
      t.kind = TxnEffectKind::rollback_prepared;
      break;
    default:
      return a.primary(Reason::ddl);
  }
  t.name = s->savepoint_name && *s->savepoint_name ? str(s->savepoint_name) : str(s->gid);
  if (s->gid && *s->gid) a.out.cacheable = false;  // the gid is a literal
  a.out.reasons.add(Reason::transaction_control);
  switch (t.kind) {
    case TxnEffectKind::begin:
      // A transaction not declared READ ONLY may write: the primary, unless a SET TRANSACTION
      // READ ONLY follows in the same string (decided after the last statement).
      a.pending_rw_begin = t.read_only != true;
      break;
    case TxnEffectKind::prepare_transaction:
    case TxnEffectKind::commit_prepared:
    case TxnEffectKind::rollback_prepared:
      a.primary(Reason::transaction_control);  // two-phase commit state lives on the primary
      break;
    default:
      break;  // COMMIT/ROLLBACK/SAVEPOINT...: go wherever the transaction runs (the router's call)
  }
  a.out.txn.push_back(std::move(t));
}

void route_directive(const PgQuery__VariableSetStmt* s, Analysis& a) {
  using K = PgQuery__VariableSetKind;
  a.out.reasons.add(Reason::route_directive);
  ++a.directives;
  if (s->kind == K::PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
      s->kind == K::PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT) {
    a.out.route_directive = RouteDirective::auto_;
    return;
  }
  std::string v = s->n_args == 1 ? lower(render_constant(s->args[0])) : std::string();
  if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
  if (v == "primary") a.out.route_directive = RouteDirective::primary;
  else if (v == "replica") a.out.route_directive = RouteDirective::replica;
  else if (v == "auto") a.out.route_directive = RouteDirective::auto_;
}

// SET SESSION CHARACTERISTICS AS TRANSACTION ... sets the default_transaction_* parameters.
void session_characteristics(const PgQuery__VariableSetStmt* s, Analysis& a) {
  for (std::size_t i = 0; i < s->n_args; ++i) {
    const PgQuery__DefElem* d = def_elem(s->args[i]);
    if (!d || !d->defname) continue;
    std::string name = d->defname;  // transaction_read_only → default_transaction_read_only
    SessionEffect e = effect(SessionEffectKind::set, "default_" + name, render_constant(d->arg));
    if (name == "transaction_read_only" || name == "transaction_deferrable") {
      e.value = e.value == "0" ? "off" : "on";
    }
    e.statement = std::string(a.stmt_text);
    a.add_effect(std::move(e));
  }
}

void variable_set(const PgQuery__VariableSetStmt* s, Analysis& a) {
  using K = PgQuery__VariableSetKind;
  const std::string name = str(s->name);
  a.out.cacheable = false;  // values are literals
  if (is_route_setting(name)) return route_directive(s, a);
  a.out.reasons.add(Reason::session_state);
  if (s->kind == K::PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI) {
    if (name == "TRANSACTION") {
      TxnEffect t{TxnEffectKind::set_transaction, std::nullopt, {}, false, {}};
      read_txn_options(s->args, s->n_args, t);
      a.out.reasons.add(Reason::transaction_control);
      if (t.read_only == true) a.pending_rw_begin = false;
      if (t.read_only == false) a.primary(Reason::transaction_control);
      a.out.txn.push_back(std::move(t));
      return;
    }
    return session_characteristics(s, a);
  }
  SessionEffect e = effect(SessionEffectKind::set, name);
  e.local = s->is_local;
  e.statement = std::string(a.stmt_text);
  switch (s->kind) {
    case K::PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE:
      for (std::size_t i = 0; i < s->n_args; ++i) {
        if (i) e.value += ", ";
        e.value += render_constant(s->args[i]);
      }
      break;
    case K::PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT:
    case K::PG_QUERY__VARIABLE_SET_KIND__VAR_RESET:
      e.kind = SessionEffectKind::reset;
      break;
    case K::PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL:
      e.kind = SessionEffectKind::reset_all;
      break;
    default:  // SET ... FROM CURRENT: value known only to the server; replay the statement
      break;
  }
  a.add_effect(std::move(e));
}

void explain(const PgQuery__ExplainStmt* s, Analysis& a) {
  a.out.cacheable = false;  // EXPLAIN (ANALYZE 0) vs (ANALYZE 1) differ only in a literal
  bool analyze = false;
  for (std::size_t i = 0; i < s->n_options; ++i) {
    const PgQuery__DefElem* d = def_elem(s->options[i]);
    if (d && d->defname && std::string_view(d->defname) == "analyze") analyze = option_true(d);
  }
  // Without ANALYZE the statement is only planned, never executed: a read on any node.
  if (analyze) analyze_statement(s->query, a);
}

// The class of a nested statement (PREPARE, DECLARE, COPY (query)) joins the outer one.
RouteClass nested(const PgQuery__Node* q, Analysis& a) {
  const bool hard = a.hard_primary, soft = a.soft_primary;
  a.hard_primary = a.soft_primary = false;
  analyze_statement(q, a);
  const RouteClass c = (a.hard_primary || a.soft_primary) ? RouteClass::primary : RouteClass::replica_safe;
  a.hard_primary |= hard;
  a.soft_primary |= soft;
  return c;
}

void session_statement(const PgQuery__Node* n, Analysis& a) {
  a.out.reasons.add(Reason::session_state);
  SessionEffect e = effect(SessionEffectKind::prepare);
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_PREPARE_STMT:
      e.name = str(n->prepare_stmt->name);
      e.prepared_class = nested(n->prepare_stmt->query, a);
      break;
    case PG_QUERY__NODE__NODE_EXECUTE_STMT:
      e = effect(SessionEffectKind::execute, str(n->execute_stmt->name));
      a.primary(Reason::execute_prepared);
      break;
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
      e.name = str(n->deallocate_stmt->name);
      e.kind = e.name.empty() ? SessionEffectKind::deallocate_all : SessionEffectKind::deallocate;
      break;
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
      e = effect(SessionEffectKind::declare_cursor, str(n->declare_cursor_stmt->portalname));
      e.hold = (n->declare_cursor_stmt->options & kCursorOptHold) != 0;
      nested(n->declare_cursor_stmt->query, a);
      break;
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
      e.name = str(n->close_portal_stmt->portalname);
      e.kind = e.name.empty() ? SessionEffectKind::close_all_cursors : SessionEffectKind::close_cursor;
      break;
    case PG_QUERY__NODE__NODE_LISTEN_STMT:
      e = effect(SessionEffectKind::listen, str(n->listen_stmt->conditionname));
      a.primary(Reason::listen);  // refused during recovery
      break;
    case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
      e.name = str(n->unlisten_stmt->conditionname);
      e.kind = e.name.empty() ? SessionEffectKind::unlisten_all : SessionEffectKind::unlisten;
      a.primary(Reason::listen);  // belongs with the session that listened
      break;
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
      switch (n->discard_stmt->target) {
        case PG_QUERY__DISCARD_MODE__DISCARD_PLANS: e.kind = SessionEffectKind::discard_plans; break;
        case PG_QUERY__DISCARD_MODE__DISCARD_SEQUENCES: e.kind = SessionEffectKind::discard_sequences; break;
        case PG_QUERY__DISCARD_MODE__DISCARD_TEMP: e.kind = SessionEffectKind::discard_temp; break;
        default: e.kind = SessionEffectKind::discard_all; break;
      }
      break;
    default:
      return;
  }
  a.add_effect(std::move(e));
}

}  // namespace

std::string render_constant(const PgQuery__Node* n) {
  if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST) return {};
  const PgQuery__AConst* c = n->a_const;
  if (c->isnull) return "NULL";
  switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_IVAL: return std::to_string(c->ival ? c->ival->ival : 0);
    case PG_QUERY__A__CONST__VAL_FVAL: return str(c->fval ? c->fval->fval : nullptr);
    case PG_QUERY__A__CONST__VAL_BOOLVAL: return c->boolval && c->boolval->boolval ? "true" : "false";
    case PG_QUERY__A__CONST__VAL_BSVAL: {
      const std::string b = str(c->bsval ? c->bsval->bsval : nullptr);  // "b0101" / "x1F"
      return b.empty() ? b : std::string(1, b[0]) + "'" + b.substr(1) + "'";
    }
    case PG_QUERY__A__CONST__VAL_SVAL: {
      std::string r = "'";
      for (char ch : str(c->sval ? c->sval->sval : nullptr)) {
        if (ch == '\'') r += '\'';
        r += ch;
      }
      return r + "'";
    }
    default: return {};
  }
}

void analyze_statement(const PgQuery__Node* stmt, Analysis& a) {
  const ProtobufCMessage* m = unwrap(stmt);
  if (!m) return;
  switch (stmt->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT: break;  // read unless the walk finds otherwise
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
    case PG_QUERY__NODE__NODE_MERGE_STMT:
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
      a.primary(Reason::write);
      break;
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: return explain(stmt->explain_stmt, a);
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT: return;
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: return variable_set(stmt->variable_set_stmt, a);
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: return transaction(stmt->transaction_stmt, a);
    case PG_QUERY__NODE__NODE_COPY_STMT:
      if (stmt->copy_stmt->is_from) a.primary(Reason::copy_from);
      if (stmt->copy_stmt->relation) a.add_relation(stmt->copy_stmt->relation);
      if (stmt->copy_stmt->query) nested(stmt->copy_stmt->query, a);
      return;
    case PG_QUERY__NODE__NODE_LOCK_STMT: a.primary(Reason::lock); break;
    case PG_QUERY__NODE__NODE_NOTIFY_STMT: return a.primary(Reason::notify);
    case PG_QUERY__NODE__NODE_DO_STMT:
    case PG_QUERY__NODE__NODE_CALL_STMT: return a.primary(Reason::procedural);
    case PG_QUERY__NODE__NODE_PREPARE_STMT:
    case PG_QUERY__NODE__NODE_EXECUTE_STMT:
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
    case PG_QUERY__NODE__NODE_LISTEN_STMT:
    case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
      return session_statement(stmt, a);
    case PG_QUERY__NODE__NODE_FETCH_STMT:            // FETCH/MOVE follow their cursor's session
    case PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT:  // SET CONSTRAINTS: transaction-local
      return;
    case PG_QUERY__NODE__NODE_CREATE_STMT:
      a.primary(Reason::ddl);
      break;
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
    case PG_QUERY__NODE__NODE_CLUSTER_STMT:
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
    case PG_QUERY__NODE__NODE_CHECK_POINT_STMT:
      a.primary(Reason::maintenance);
      break;
    default:  // every other utility statement (CREATE/ALTER/DROP/GRANT/...) changes the catalog
      a.primary(Reason::ddl);
      break;
  }
  walk(m, a);
}

}  // namespace pgscale::classifier::detail

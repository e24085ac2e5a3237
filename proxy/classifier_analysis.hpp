// Internal to the classifier: the state shared by the statement dispatcher (classifier_stmt.cpp)
// and the parse-tree walker (classifier_walk.cpp). Not part of the public API.
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <pg_query/pg_query.pb-c.h>

#include <string>
#include <string_view>

#include "proxy/classifier.hpp"

namespace pgscale::classifier::detail {

struct Analysis {
  const ClassifierContext& ctx;
  Classification& out;
  std::string_view stmt_text;  // text of the statement being analysed
  bool hard_primary = false;   // a reason no hint can override (a replica would fail or diverge)
  bool soft_primary = false;   // volatile/unknown functions, DO/CALL, EXECUTE: a replica hint wins
  bool too_deep = false;
  bool pending_rw_begin = false;  // BEGIN without READ ONLY seen (see transaction())
  int directives = 0;          // SET/RESET pgscale.route statements seen

  // Reasons that force the primary; `soft` ones may be overridden by a replica hint.
  void primary(Reason r);
  void add_relation(const PgQuery__RangeVar* rv);
  void add_unknown_function(std::string_view name);
  void add_effect(SessionEffect e);
};

inline SessionEffect effect(SessionEffectKind kind, std::string name = {}, std::string value = {}) {
  SessionEffect e;
  e.kind = kind;
  e.name = std::move(name);
  e.value = std::move(value);
  return e;
}

// The message a Node wraps (null for an empty Node).
const ProtobufCMessage* unwrap(const PgQuery__Node* n);

// Facts found anywhere in the tree below (and including) `root`: function calls, locking clauses,
// INTO clauses, relations, and data-modifying statements nested below the root (writable CTEs).
void walk(const ProtobufCMessage* root, Analysis& a);

// Applies the routing rules to one top-level statement (RawStmt.stmt).
void analyze_statement(const PgQuery__Node* stmt, Analysis& a);

// SQL rendering of a constant for SET values ("'a'", "10"); empty if `n` is not a constant.
std::string render_constant(const PgQuery__Node* n);

}  // namespace pgscale::classifier::detail

// What a function call means for routing: the built-in knowledge that does not depend on the
// catalog (sequence, advisory-lock, notify, primary-only functions) and a fallback volatility
// table of well-known built-ins for when the catalog (pg_proc, filled by the monitor) is absent.
#pragma once

#include <string_view>

#include "proxy/classifier.hpp"

namespace pgscale::classifier {

enum class FunctionKind : unsigned char {
  ordinary,            // decided by volatility
  sequence,            // nextval, setval, currval, lastval
  advisory_session,    // pg_advisory_lock, pg_try_advisory_lock (+ _shared)
  advisory_xact,       // pg_advisory_xact_lock...
  advisory_unlock,     // pg_advisory_unlock*, released by the session that took them
  notify,              // pg_notify
  primary_only,        // needs an xid, WAL insert position, or is refused during recovery
  set_config,          // set_config(name, value, is_local): session state
};

// Kind of a function by unqualified name (exact, as the parser produced it: lower-case unless quoted).
FunctionKind function_kind(std::string_view name);

// Volatility of well-known built-ins; unknown for anything else.
Volatility builtin_volatility(std::string_view name);

}  // namespace pgscale::classifier

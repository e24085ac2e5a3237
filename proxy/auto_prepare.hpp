#pragma once
// pool.auto_prepare: a simple-protocol Query runs as a server-side prepared statement.
//
// PostgreSQL parses, analyses and plans every simple Query; a prepared statement is planned once
// per server connection (then custom/generic plans as plan_cache_mode says). On `pgbench -S` the
// server alone is ~1.5x faster with -M prepared than with -M simple. pgscale reads every statement
// anyway, so it can turn `SELECT abalance FROM pgbench_accounts WHERE aid = 42` into
// Parse("... WHERE aid = $1", int4) once per server and Bind/Describe/Execute/Sync per query,
// answering the client exactly as the Query would have been answered (client_session's relay
// drops ParseComplete, BindComplete and NoData).
//
// Only what provably means the same as a parameter becomes one (parameterize() below): numeric
// constants, typed as PostgreSQL types them (int4, int8, numeric). Anything else keeps the Query
// as it is: string, bit and dollar-quoted literals, `$n`, several statements, statements other
// than SELECT/INSERT/UPDATE/DELETE/WITH, SELECT INTO. Numbers stay literal text (not parameters)
// where a constant may mean something else: after ORDER, GROUP, DISTINCT or WINDOW (column
// positions), and inside parentheses opened after a name (type modifiers such as numeric(10,2),
// function arguments). No I/O.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/prepared.hpp"

namespace pgscale::proxy {

inline constexpr uint32_t kInt4Oid = 23;
inline constexpr uint32_t kInt8Oid = 20;
inline constexpr uint32_t kNumericOid = 1700;

struct Parameterized {
  std::string text;                     // the statement with $1..$n; comments dropped
  std::vector<uint32_t> types;          // one OID per parameter
  std::vector<std::string_view> values;  // each parameter's text, a view into the Query's SQL
  void clear() {
    text.clear();
    types.clear();
    values.clear();
  }
};

// Fills `out` and returns true when `sql` (one simple Query's text) may run as a prepared
// statement; false = send the Query as it is.
bool parameterize(std::string_view sql, Parameterized& out);

// The parameter type PostgreSQL 15 gives the numeric constant `number` (scan.l, make_const):
// int4 when it fits, else int8, else numeric; 0 for the two texts whose type a unary minus
// changes (2147483648 and 9223372036854775808: "-2147483648" is int4, "2147483648" int8).
uint32_t number_type(std::string_view number);

// The registry's statement for (text, types), through a small per-thread cache: a repeated shape
// costs a hash and a compare, not the registry's lock. The cache keeps its statements alive, and
// with them what was learnt about them (validated, auto_rejected).
StatementPtr auto_statement(const Parameterized& p);

// Shapes first met where they cannot be tried (inside a transaction block, behind other requests),
// kept per worker thread (at most 64) until some session of that worker is at a quiet moment.
void queue_probe(const StatementPtr& s);
// The next queued shape still worth a try (neither accepted nor refused since), or null.
StatementPtr next_probe();
bool probes_waiting();  // this thread's queue holds a shape

// Process-wide, for /metrics (pgscale_auto_prepare_total).
struct AutoPrepareCounters {
  std::atomic<uint64_t> executed{0};  // Queries run as pgscale's prepared statements
  std::atomic<uint64_t> tried{0};     // shapes tried with a Parse of pgscale's
  std::atomic<uint64_t> refused{0};   // tries a server refused (those shapes stay Queries)
};
AutoPrepareCounters& auto_prepare_counters();

// Bind (unnamed portal, text parameters and results) + Describe portal + Execute + Sync: what the
// Query becomes once `statement` is prepared on the server.
void append_execution(std::string& out, std::string_view statement, const Parameterized& p);

}  // namespace pgscale::proxy

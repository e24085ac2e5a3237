// Statement classifier: SQL text in, routing facts out. Pure (no I/O, no Asio), thread-safe.
//
// classify() runs PostgreSQL 15's own grammar (libpg_query) over the whole string and applies the
// routing rules of DESIGN.md. Classifier wraps it with a literal-insensitive cache so that
// statements differing only in constants (pgbench -S) are classified without parsing.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace pgscale::classifier {

enum class RouteClass : std::uint8_t { replica_safe, primary };

// Why a statement goes where it goes (for logs and metrics). A result carries a set of them.
enum class Reason : std::uint8_t {
  write,                // INSERT/UPDATE/DELETE/MERGE/TRUNCATE, REFRESH MATERIALIZED VIEW
  ddl,                  // CREATE/ALTER/DROP/GRANT/... and every utility statement not known read-only
  copy_from,            // COPY ... FROM
  locking_clause,       // FOR UPDATE/SHARE/NO KEY UPDATE/KEY SHARE anywhere
  writable_cte,         // data-modifying statement inside WITH (any depth)
  select_into,          // SELECT INTO, CREATE TABLE AS
  lock,                 // LOCK TABLE
  notify,               // NOTIFY, pg_notify()
  listen,               // LISTEN/UNLISTEN (not allowed during recovery; pins the session)
  sequence_fn,          // nextval/setval/currval/lastval
  advisory_lock_fn,     // pg_advisory_*, pg_try_advisory_*
  volatile_fn,          // a volatile function not in routing.read_safe_functions
  unknown_fn,           // a function neither the catalog nor the built-in table knows
  primary_only_fn,      // functions that fail or assign an xid on a standby (txid_current, ...)
  procedural,           // DO, CALL: arbitrary code
  maintenance,          // VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT
  execute_prepared,     // SQL EXECUTE: the prepared statement's class is the caller's knowledge
  parse_error,          // the string does not parse: the primary reports the error
  hint,                 // a /* pgscale: ... */ hint decided the route
  transaction_control,  // BEGIN/COMMIT/ROLLBACK/SAVEPOINT/PREPARE TRANSACTION/SET TRANSACTION
  session_state,        // SET/RESET/DISCARD/PREPARE/DECLARE ... (see Classification::session)
  route_directive,      // SET pgscale.route = ...
  count_
};
std::string_view reason_name(Reason r);

class Reasons {
 public:
  void add(Reason r) { bits_ |= bit(r); }
  bool has(Reason r) const { return (bits_ & bit(r)) != 0; }
  bool empty() const { return bits_ == 0; }
  std::uint32_t bits() const { return bits_; }
  void merge(Reasons o) { bits_ |= o.bits_; }
  std::string to_string() const;  // "write,locking_clause"

 private:
  static std::uint32_t bit(Reason r) { return 1u << static_cast<unsigned>(r); }
  std::uint32_t bits_ = 0;
};

enum class Hint : std::uint8_t { primary, replica };
enum class RouteDirective : std::uint8_t { primary, replica, auto_ };

// `SET [SESSION] pgscale.route = | TO primary|replica|auto|default` (value quoted or not, one
// optional `;`) as the whole text: the directive, recognised textually because PostgreSQL's
// grammar rejects the unquoted reserved word `primary`.
std::optional<RouteDirective> match_route_directive(std::string_view sql);

// The directive as PostgreSQL accepts it: SET pgscale.route = '<primary|replica|auto>'.
std::string_view route_directive_sql(RouteDirective d);

// What a server runs for the directive in transaction pooling (a Parse of it must reach a server):
// `SET pgscale.route TO DEFAULT`, command tag SET like the directive, leaving no value on the
// pooled connection for its next client to see.
std::string_view route_directive_server_sql();

// The name of the directive's setting (pgscale.route, any letter case) as the parser gives it.
bool is_route_setting(std::string_view name);

enum class TxnEffectKind : std::uint8_t {
  begin,               // BEGIN / START TRANSACTION
  commit,              // COMMIT / END (and COMMIT AND CHAIN: `chain`)
  rollback,            // ROLLBACK / ABORT
  savepoint,
  release_savepoint,
  rollback_to_savepoint,
  prepare_transaction,  // PREPARE TRANSACTION 'gid'
  commit_prepared,
  rollback_prepared,
  set_transaction,      // SET TRANSACTION ... (characteristics of the current transaction)
};

struct TxnEffect {
  TxnEffectKind kind;
  std::optional<bool> read_only;  // READ ONLY → true, READ WRITE → false, unspecified → nullopt
  std::string isolation;          // "serializable", ... or empty
  bool chain = false;             // COMMIT/ROLLBACK AND CHAIN
  std::string name;               // savepoint name or gid
};

enum class SessionEffectKind : std::uint8_t {
  set,                 // SET [LOCAL] name = value (also SET ROLE → "role", SET SESSION
                       // AUTHORIZATION → "session_authorization", SET SESSION CHARACTERISTICS
                       // → "default_transaction_*", set_config() with constant arguments)
  reset,               // RESET name, SET name TO DEFAULT
  reset_all,           // RESET ALL
  discard_all,         // DISCARD ALL
  discard_plans,
  discard_sequences,
  discard_temp,
  prepare,             // SQL PREPARE name (name; prepared_class = class of its statement)
  execute,             // SQL EXECUTE name
  deallocate,          // DEALLOCATE name
  deallocate_all,
  declare_cursor,      // DECLARE name CURSOR (hold = WITH HOLD)
  close_cursor,        // CLOSE name
  close_all_cursors,
  listen,
  unlisten,
  unlisten_all,
  create_temp_table,   // CREATE TEMP TABLE / CREATE TEMP TABLE AS / SELECT INTO TEMP
  advisory_lock_session,  // pg_advisory_lock, pg_try_advisory_lock (+ _shared): held past COMMIT
  advisory_lock_xact,     // pg_advisory_xact_lock...: released at transaction end
  advisory_unlock,        // pg_advisory_unlock, pg_advisory_unlock_all
  set_config_dynamic,     // set_config() whose arguments are not constants: state unknown
};

struct SessionEffect {
  SessionEffectKind kind;
  std::string name;       // parameter, statement, cursor, channel or table name
  std::string value;      // SET: the value as SQL ("'a', 'b'", "10", ...); empty otherwise
  bool local = false;     // SET LOCAL / set_config(..., true): ends with the transaction
  bool hold = false;      // DECLARE ... WITH HOLD: survives COMMIT (pins the session)
  RouteClass prepared_class = RouteClass::primary;  // PREPARE: class of the prepared statement
  std::string statement;  // the statement's own text (replayable for SET/RESET)
};

// True for state that cannot be replayed on another server connection (DESIGN.md "Session
// state"): SQL PREPARE, WITH HOLD cursors, LISTEN, temp tables, session advisory locks, and
// set_config() calls whose values are unknown. SET/RESET are replayable and do not pin.
bool pins_session(const SessionEffect& e);

struct Classification {
  RouteClass route = RouteClass::primary;
  Reasons reasons;
  std::optional<Hint> hint;                      // hint found in a comment (applied or not)
  std::optional<RouteDirective> route_directive;  // SET/RESET pgscale.route
  bool directive_only = false;    // every statement is a pgscale directive: answer locally
  std::vector<TxnEffect> txn;     // in statement order
  std::vector<SessionEffect> session;
  std::vector<std::string> relations;          // "schema.table" or "table", deduplicated
  std::vector<std::string> unknown_functions;  // ask the catalog to refresh these
  int statement_count = 0;
  std::string error;       // parse error message (reasons has parse_error)
  bool cacheable = true;   // false when the result depends on literal values (SET values, ...)
  // The session-state scan (proxy/session_state_scan.hpp) finds no word in the text that could
  // change session state. The scan skips literals, so this holds for every text with the same
  // cache key: the relay then skips analyze_effects() for a statement classified once.
  bool session_scan_clear = false;
};

enum class Volatility : char { unknown = 0, immutable = 'i', stable = 's', volatile_ = 'v' };

// Function volatility by unqualified, lower-case name. An implementation filled from pg_proc
// should store, for a name with several overloads/schemas, the most volatile of them.
class FunctionCatalog {
 public:
  virtual ~FunctionCatalog() = default;
  virtual Volatility volatility(std::string_view name) const = 0;
};

// A simple immutable map-backed catalog (what the monitor builds from pg_proc).
class MapFunctionCatalog final : public FunctionCatalog {
 public:
  // Keeps the most volatile value when a name is added twice (overloads).
  void add(std::string name, Volatility v);
  Volatility volatility(std::string_view name) const override;
  std::size_t size() const { return map_.size(); }

 private:
  std::unordered_map<std::string, Volatility> map_;
};

struct ClassifierContext {
  std::shared_ptr<const FunctionCatalog> catalog;        // may be null
  std::unordered_set<std::string> read_safe_functions;   // lower-case names (routing.read_safe_functions)
};

// Full, uncached classification. Never throws on bad SQL (parse_error → primary).
Classification classify(std::string_view sql, const ClassifierContext& ctx);

class StatementCache;

struct CacheStats {
  std::uint64_t hits = 0, misses = 0, bypass = 0, inserts = 0, evictions = 0;
};

// Cached classifier for N worker threads. The cache key is the statement with literals replaced
// (see classifier_normalize.hpp); results that depend on literal values are never cached.
class Classifier {
 public:
  explicit Classifier(ClassifierContext ctx = {}, std::size_t cache_size = 10000);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  std::shared_ptr<const Classification> classify(std::string_view sql) const;

  // The classification of exactly this text when this thread classified it recently (a per-thread
  // memo by exact text, also what classify() answers repeats from), else null. Never parses.
  std::shared_ptr<const Classification> recent(std::string_view sql) const;

  // New catalog / read-safe list (reload, catalog refresh): invalidates every cached result.
  void set_context(ClassifierContext ctx);
  std::shared_ptr<const ClassifierContext> context() const { return ctx_.load(); }
  CacheStats stats() const;

 private:
  std::atomic<std::shared_ptr<const ClassifierContext>> ctx_;
  std::unique_ptr<StatementCache> cache_;
  const std::uint64_t id_;  // tells the memo entries of this instance from a former one's
};

}  // namespace pgscale::classifier

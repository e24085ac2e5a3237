#pragma once
// Protocol-level prepared statements in transaction pooling (issue 4; design: session.hpp).
//
// A client's named statement must work on whichever server serves its next transaction. Three
// maps make that so:
//   StatementRegistry (process-wide)  (query text, parameter types) -> one SharedStatement with
//                                     one server-side name "pgscale_s<id>", so every client that
//                                     prepares the same statement shares it on every server;
//   ClientStatements (per client)     the client's own statement name -> SharedStatement;
//   ServerStatements (per server)     LRU of the SharedStatements prepared on that connection,
//                                     bounded by pool.prepared_statement_cache; evicted ones are
//                                     Closed on the server.
// The relay rewrites Parse/Bind/Describe/Close of named statements with these (client_relay.cpp,
// prepared_relay.cpp); the helpers below build the rewritten frames. No Asio, no I/O.
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgscale::proxy {

// Commands pgscale answers from the client's own statements (simple Query, or an extended-protocol
// statement whose text is one of them) (exactly one statement,
// optional trailing semicolon, comments not recognised: those go to the server).
struct LocalCommand {
  enum Kind { none, deallocate, deallocate_all, discard_all } kind = none;
  std::string name;  // deallocate: the statement name as PostgreSQL folds it
};
LocalCommand parse_local_command(std::string_view sql);

struct SharedStatement {
  uint64_t id = 0;
  std::string server_name;  // "pgscale_s<id>"
  std::string query;
  std::vector<uint32_t> param_types;
  std::string parse_frame;  // the whole Parse message under server_name, ready to send
  bool deallocates = false;  // may_deallocate(query): executing it may drop server statements
  LocalCommand command;      // parse_local_command(query), once: a Bind of it may be answered here
  // Some server accepted it (ParseComplete): a client's Parse of it may then be answered without
  // a server, so a blocking PQprepare never waits for a pool slot held by its own thread's clients.
  mutable std::atomic<bool> validated{false};
  // pool.auto_prepare: a server refused it as a statement (auto_prepare.hpp), so the Queries of its
  // shape go as they are.
  mutable std::atomic<bool> auto_rejected{false};
  mutable std::atomic<bool> probe_queued{false};  // waits in a worker's queue for a quiet moment to be tried
};
using StatementPtr = std::shared_ptr<const SharedStatement>;

// Thread-safe. Entries live while a client or a server references them (weak values), so a
// statement that is still prepared on some server keeps its name.
class StatementRegistry {
 public:
  // `server_query`, when given, is the text servers prepare in place of `query` (which the client
  // sees and pgscale classifies): a distinct statement from one interned without it.
  StatementPtr intern(std::string_view query, const std::vector<uint32_t>& param_types,
                      std::string_view server_query = {});
  StatementPtr find(std::string_view query, const std::vector<uint32_t>& param_types) const;
  size_t size() const;  // live entries

 private:
  void sweep_locked();
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<const SharedStatement>> map_;
  uint64_t next_id_ = 1;
  size_t inserts_since_sweep_ = 0;
};
StatementRegistry& statement_registry();

// The client's statement names (never "", the unnamed statement is not tracked). Its storage is
// made on first use and freed by release() once it holds nothing: most idle clients have no
// statement, and an empty map plus the LocalDeallocate below are ~160 bytes of each session.
class ClientStatements {
 public:
  ClientStatements() = default;
  // A session's own: never copied or moved (the last-found pointer points into this map).
  ClientStatements(const ClientStatements&) = delete;
  ClientStatements& operator=(const ClientStatements&) = delete;

  const StatementPtr* find(std::string_view name) const;
  void set(std::string_view name, StatementPtr s) { body().map[std::string(name)] = std::move(s); }
  // Forgets `name` only while it still means `s` (an undo must not drop a newer statement).
  void erase_if(std::string_view name, const StatementPtr& s);
  void erase(std::string_view name) {
    if (!body_) return;
    body_->last = nullptr;
    body_->map.erase(std::string(name));
  }
  void clear() {
    if (!body_) return;
    body_->last = nullptr;
    body_->map.clear();
  }
  size_t size() const { return body_ ? body_->map.size() : 0; }

  // `DEALLOCATE name` of one of these names run through the extended protocol is answered here,
  // as the simple-query one is (the server does not know the client's names): its unnamed
  // statement and the portal bound from it are pgscale's, not the server's, until replaced.
  struct LocalDeallocate {
    bool statement = false;  // the unnamed statement is a local DEALLOCATE of statement_name
    std::string statement_name;
    bool portal = false;     // portal `portal_name` is a local DEALLOCATE of portal_target
    std::string portal_name;
    std::string portal_target;
  };
  LocalDeallocate& local() { return body().local; }
  const LocalDeallocate& local() const;
  // A simple Query replaces the unnamed statement and portal: no local DEALLOCATE is pending.
  void forget_local() noexcept {
    if (body_) body_->local.statement = body_->local.portal = false;
  }
  // Frees the storage when there is no name and no pending local DEALLOCATE (an idle session).
  void release() noexcept;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Body {
    std::unordered_map<std::string, StatementPtr, Hash, std::equal_to<>> map;
    LocalDeallocate local;
    // The last name found: a Bind's statement is looked up by the route, relay and session-state
    // steps in turn. Element pointers of an unordered_map survive inserts and rehashing; erasing
    // clears this.
    std::string last_name;
    const StatementPtr* last = nullptr;
  };
  Body& body() {
    if (!body_) body_ = std::make_unique<Body>();
    return *body_;
  }
  std::unique_ptr<Body> body_;
};

// What one server connection has prepared under pgscale's names; used by one session at a time.
class ServerStatements {
 public:
  bool contains(uint64_t id) const { return index_.count(id) != 0; }
  void touch(uint64_t id);
  // Records `s` as prepared here (most recent). Returns what must be Closed to stay within
  // `capacity` (at least 1, so the statement being used is never its own victim).
  std::vector<StatementPtr> add(StatementPtr s, size_t capacity);
  void erase(uint64_t id);
  void clear();
  size_t size() const { return lru_.size(); }
  // Least recently used first (tests, debugging).
  std::vector<uint64_t> ids_oldest_first() const;

 private:
  std::list<StatementPtr> lru_;  // front = most recently used
  std::unordered_map<uint64_t, std::list<StatementPtr>::iterator> index_;
};

// A statement name pgscale never creates: a Bind to it fails on the server with 26000, which puts
// the server into PostgreSQL's own error state (skip to Sync, abort the transaction) when pgscale
// must report an error of its own at that point of a pipeline.
inline constexpr std::string_view kMissingStatement = "pgscale_missing";

// Frame builders (whole messages, tag and length included).
void append_close_statement(std::string& out, std::string_view name);
void append_describe_statement(std::string& out, std::string_view name);
void append_failing_bind(std::string& out);  // Bind "" to kMissingStatement, no parameters

// The portal and statement names at the front of a Bind body, which may be a prefix of the body
// (a streamed frame). False when the prefix does not hold both names yet.
struct BindNames {
  std::string_view portal;
  std::string_view statement;
  size_t names_end = 0;  // body offset just after the statement name's NUL
};
bool read_bind_names(std::string_view body_prefix, BindNames& out);
// Appends a Bind header whose statement name is `statement` instead of the original one:
// tag, the adjusted length (of the whole, possibly streamed, frame), portal, statement. The caller
// then sends the original body from names_end on (the rest of the prefix and any streamed tail).
void append_bind_header(std::string& out, uint32_t original_length, const BindNames& names,
                        std::string_view statement);

// True when `sql` might deallocate statements on the server (DEALLOCATE, DISCARD): cheap and
// conservative, for Query texts pgscale forwards.
bool may_deallocate(std::string_view sql);

// SQL `EXECUTE name [(arguments)]` at the start of `sql` (comments not recognised): the name as
// PostgreSQL folds it and its bytes [begin, end) in `sql`, so a protocol-level statement's name
// can be replaced by its server-side one. Cheap when `sql` does not start with EXECUTE.
struct ExecuteRef {
  std::string name;
  size_t begin = 0;
  size_t end = 0;
};
bool parse_execute(std::string_view sql, ExecuteRef& out);
// `sql` with the name at `ex` replaced by `server_name` (a space kept before it: EXECUTE"x").
std::string rewrite_execute(std::string_view sql, const ExecuteRef& ex, std::string_view server_name);

}  // namespace pgscale::proxy

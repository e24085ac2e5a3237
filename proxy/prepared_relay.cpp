// The relay's handling of protocol-level prepared statements in transaction pooling (design:
// prepared.hpp, session.hpp). Frames that name a statement are rewritten to pgscale's shared
// server-side name, with a Parse inserted when the attached server lacks it; replies the client
// must see but the server will not send (or must not be seen) go through the ResponseTracker.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/data.hpp"
#include "protocol/extended_query.hpp"
#include "protocol/simple_query.hpp"
#include "protocol/startup.hpp"
#include "proxy/auto_prepare.hpp"
#include "proxy/client_session.hpp"

namespace pgscale::proxy {

namespace {
using Expect = TrackedRequest::Expect;
using OnReply = TrackedRequest::OnReply;

constexpr std::string_view kDuplicateStatement = "42P05";
constexpr std::string_view kUnknownStatement = "26000";
constexpr std::string_view kProgramLimit = "54000";
constexpr std::string_view kActiveTransaction = "25001";
constexpr int kProbesPerQuery = 4;  // pool.auto_prepare: queued shapes tried ahead of one Query

std::string quoted(std::string_view name) { return "prepared statement \"" + std::string(name) + "\""; }

std::string command_complete(std::string_view tag) {
  std::string out;
  protocol::encode(out, protocol::CommandComplete{tag});
  return out;
}

uint32_t frame_length(std::string_view frame) {
  auto b = [&](int i) { return uint32_t{static_cast<uint8_t>(frame[i])}; };
  return (b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4);
}

std::string_view cstring_at(std::string_view body, size_t from) {
  if (from > body.size()) return {};
  std::string_view rest = body.substr(from);
  return rest.substr(0, rest.find('\0'));
}

// `DEALLOCATE name` of one of the client's protocol-level names, answered here as a direct
// connection would answer it — except in a failed transaction, where the server's 25P02 is.
bool local_deallocate(const ClientStatements& st, const LocalCommand& cmd, char tx_status) {
  return cmd.kind == LocalCommand::deallocate && tx_status != 'E' && st.find(cmd.name);
}

// Frames of a DEALLOCATE answered here (unnamed statement or the portal bound from it).
bool answered_here(const ClientStatements::LocalDeallocate& local, char tag, std::string_view body) {
  switch (tag) {
    case 'P': return local.statement && !body.empty() && body[0] == '\0';
    case 'B': {
      BindNames n;
      return local.portal && read_bind_names(body, n) && n.portal == local.portal_name;
    }
    case 'D':
      if (body.size() >= 2 && body[0] == 'S') return local.statement && body[1] == '\0';
      return local.portal && !body.empty() && body[0] == 'P' && cstring_at(body, 1) == local.portal_name;
    case 'E': return local.portal && cstring_at(body, 0) == local.portal_name;
    default: return false;
  }
}

// SQL the server is about to run that may drop prepared statements (DEALLOCATE, DISCARD ALL):
// the client's names go as they would on a direct connection (DISCARD ALL fails inside a block),
// and the server's LRU forgets everything — it must only say what the server surely has, and a
// statement it forgot but the server kept is Closed before it is parsed again.
void forwarded_deallocation(const StatementEffects& e, ClientStatements& names, ServerConn* server, char tx_status) {
  if (!e.deallocate_all && !e.discard_all && e.deallocate_names.empty()) return;
  if (e.deallocate_all || (e.discard_all && tx_status == 'I')) names.clear();
  if (server) server->statements().clear();
}
}  // namespace

std::string_view ClientSession::statement_text(std::string_view client_statement_name) const {
  const StatementPtr* s = statements_.find(client_statement_name);
  return s ? std::string_view((*s)->query) : std::string_view{};
}

void ClientSession::PreparedUndo::undo(const TrackedRequest& r) {
  if ((r.undo & TrackedRequest::drop_server_statement) && r.stmt && self->server_) {
    self->server_->statements().erase(r.stmt->id);
  }
  if ((r.undo & TrackedRequest::reject_auto) && r.stmt) {
    r.stmt->auto_rejected.store(true, std::memory_order_relaxed);
    auto_prepare_counters().refused.fetch_add(1, std::memory_order_relaxed);
  }
  if ((r.undo & TrackedRequest::drop_client_name) && r.stmt) self->statements_.erase_if(r.client_name, r.stmt);
  if ((r.undo & TrackedRequest::restore_client_name) && r.stmt && !self->statements_.find(r.client_name)) {
    self->statements_.set(r.client_name, r.stmt);
  }
}

// A whole named Parse whose name is free and whose (text, types) some server already accepted.
bool ClientSession::parse_is_known(const Frame& f) const {
  std::string_view frame = cbuf_.readable().substr(f.offset, f.size);
  protocol::Parse parse;
  if (frame_length(frame) + 1 != f.size || protocol::decode(frame.substr(5), parse) != protocol::Errc::ok) return false;
  if (statements_.find(parse.name)) return false;
  StatementPtr s = statement_registry().find(parse.query, parse.param_types);
  return s && s->validated.load(std::memory_order_relaxed);
}

// Decided before a server is attached: local frames never need one.
ClientSession::FramePlan ClientSession::plan_frame(const Frame& f) const {
  if (!is_transaction_mode()) return FramePlan::forward;
  std::string_view data = cbuf_.readable();
  std::string_view body = data.substr(f.offset + 5, f.size - 5);
  char status = server_ ? tracker_.tx_status() : 'I';
  const auto& local = statements_.local();
  switch (f.tag) {
    case 'P':  // named Parse; answered here when no server is attached and some server took it
      if (body.empty() || body[0] == '\0') {  // unnamed: DEALLOCATE, DISCARD, EXECUTE of a client's name
        std::string_view text = cstring_at(body, 1);
        bool dealloc = may_deallocate(text);
        if (dealloc && local_deallocate(statements_, parse_local_command(text), status)) return FramePlan::local;
        ExecuteRef ex;
        bool execute = parse_execute(text, ex) && statements_.find(ex.name);
        bool directive = classifier::match_route_directive(text).has_value();
        return dealloc || execute || directive || local.statement ? FramePlan::special : FramePlan::forward;
      }
      return !server_ && parse_is_known(f) ? FramePlan::local : FramePlan::special;
    case 'S':  // Sync / Flush with no server attached: the client is idle, nothing is owed by a server
    case 'H':
      return server_ ? FramePlan::forward : FramePlan::local;
    case 'B': {  // Bind of a named statement, or of the unnamed one answered here
      BindNames n;
      if (!read_bind_names(body, n)) return FramePlan::forward;
      if (n.statement.empty()) {
        if (local.statement) return FramePlan::local;
        return local.portal && n.portal == local.portal_name ? FramePlan::special : FramePlan::forward;
      }
      const StatementPtr* s = statements_.find(n.statement);
      return s && local_deallocate(statements_, (*s)->command, status) ? FramePlan::local : FramePlan::special;
    }
    case 'E':
      return answered_here(local, 'E', body) ? FramePlan::local : FramePlan::forward;
    case 'D':
    case 'C':  // Describe / Close of a named statement (Close is answered here)
      if (f.tag == 'D' && answered_here(local, 'D', body)) return FramePlan::local;
      if (body.size() < 2 || body[0] != 'S' || body[1] == '\0') return FramePlan::forward;
      return f.tag == 'C' ? FramePlan::local : FramePlan::special;
    case 'Q': {
      if (f.size < 6 || frame_length(data.substr(f.offset, 5)) + 1 != f.size) return FramePlan::forward;
      if (f.size < 6 + 8) {  // no local command is this short; a BEGIN may be a quiet moment for tries
        return status == 'I' && auto_prepare_on() && probes_waiting() ? FramePlan::special : FramePlan::forward;
      }
      std::string_view sql = body.substr(0, body.find('\0'));
      auto cmd = parse_local_command(sql);
      if (cmd.kind == LocalCommand::none) {
        if (status != 'E' && auto_prepare_on()) return FramePlan::special;  // handle_query decides
        ExecuteRef ex;
        bool execute = parse_execute(sql, ex) && statements_.find(ex.name) && status != 'E';
        return may_deallocate(sql) || execute ? FramePlan::special : FramePlan::forward;
      }
      if (cmd.kind == LocalCommand::deallocate) {
        return statements_.find(cmd.name) && status != 'E' ? FramePlan::local : FramePlan::forward;
      }
      // DEALLOCATE ALL / DISCARD ALL: the server's copy is shared; answer here unless the server
      // holds state of this client that it must drop too (pinned) or must raise an error.
      if (pinned() || status != 'I') return FramePlan::special;
      return FramePlan::local;
    }
    default:
      return FramePlan::forward;
  }
}

// The reply a forwarded frame is owed, for the tracker.
void ClientSession::track_forwarded(char tag) {
  switch (tag) {
    case 'P': tracker_.push(Expect::parse); break;
    case 'B': tracker_.push(Expect::bind); break;
    case 'C': tracker_.push(Expect::close); break;
    case 'D': tracker_.push(Expect::describe); break;
    case 'E': tracker_.push(Expect::execute); break;
    case 'S':
    case 'Q':
    case 'F': tracker_.push(Expect::ready); break;
    default: break;  // Flush, CopyData/CopyDone/CopyFail: no reply of their own
  }
}

void ClientSession::push_local(std::string bytes, uint8_t undo, StatementPtr stmt, std::string_view client_name,
                               bool ready) {
  TrackedRequest r;
  r.expect = Expect::local;
  r.text = std::move(bytes);
  r.undo = undo;
  r.stmt = std::move(stmt);
  r.client_name.assign(client_name);
  r.local_ready = ready;
  tracker_.push(std::move(r), undo_);
}

// An error pgscale raises in the middle of a pipeline: a Bind to a statement that does not exist
// makes the server raise 26000 and enter PostgreSQL's own error state (transaction aborted, skip
// to Sync); the tracker swaps that error for ours.
void ClientSession::push_local_error(std::string_view code, std::string message) {
  append_failing_bind(sout());
  TrackedRequest r;
  r.expect = Expect::bind;
  r.on_reply = OnReply::replace_error;
  append_error(r.text, Severity::error, code, message);
  tracker_.push(std::move(r), undo_);
}

// Makes sure the attached server has `stmt` (before a Bind/Describe, or for the client's Parse).
// Close before Parse: the name may survive on the server although the LRU forgot it (a failed
// DEALLOCATE the LRU was cleared for), and Close of an unknown name is not an error.
// probe (pool.auto_prepare's first try of a shape): the Parse's error is dropped too and marks the
// statement as not to be auto-prepared.
void ClientSession::ensure_prepared(const StatementPtr& stmt, bool client_parse, std::string_view client_name,
                                    bool probe) {
  ServerStatements& have = server_->statements();
  if (have.contains(stmt->id)) {
    have.touch(stmt->id);
    if (client_parse) {
      std::string reply;
      protocol::encode(reply, protocol::ParseComplete{});
      push_local(std::move(reply), TrackedRequest::drop_client_name, stmt, client_name);
    }
    return;
  }
  size_t capacity = rt_.config()->pool.prepared_statement_cache;
  for (const StatementPtr& victim : have.add(stmt, capacity)) {
    append_close_statement(sout(), victim->server_name);
    TrackedRequest c;
    c.expect = Expect::close;
    c.on_reply = OnReply::swallow;
    tracker_.push(std::move(c), undo_);
  }
  append_close_statement(sout(), stmt->server_name);
  TrackedRequest c;
  c.expect = Expect::close;
  c.on_reply = OnReply::swallow;
  tracker_.push(std::move(c), undo_);
  sout() += stmt->parse_frame;
  TrackedRequest p;
  p.expect = Expect::parse;
  p.on_reply = client_parse ? OnReply::forward : probe ? OnReply::probe : OnReply::swallow;
  p.undo = TrackedRequest::drop_server_statement | (client_parse ? TrackedRequest::drop_client_name : 0) |
           (probe ? TrackedRequest::reject_auto : 0);
  p.stmt = stmt;
  p.client_name.assign(client_name);
  tracker_.push(std::move(p), undo_);
}

bool ClientSession::handle_parse(const Frame& f, std::string_view body) {
  std::string_view frame = cbuf_.readable().substr(f.offset, f.size);
  if (frame_length(frame) + 1 != f.size) {  // streamed: its text cannot be registered
    drop_tail_ = true;
    push_local_error(kProgramLimit, "pgscale: a named prepared statement's text is limited to 1 MB");
    return true;
  }
  protocol::Parse parse;
  if (protocol::decode(body, parse) != protocol::Errc::ok) return false;  // the server says 08P01
  if (parse.name.empty()) {
    // The unnamed statement: a DEALLOCATE of the client's own name is answered here (until the
    // next unnamed Parse), an EXECUTE of it names the server-side statement, and whatever else
    // may deallocate (psycopg's DEALLOCATE ALL after a rollback) makes the LRU forget.
    auto& local = statements_.local();
    local.statement = false;
    char status = server_ ? tracker_.tx_status() : 'I';
    LocalCommand cmd = may_deallocate(parse.query) ? parse_local_command(parse.query) : LocalCommand{};
    if (local_deallocate(statements_, cmd, status)) {
      local.statement = true;
      local.statement_name = cmd.name;
      std::string reply;
      protocol::encode(reply, protocol::ParseComplete{});
      push_local(std::move(reply));
      return true;
    }
    if (!server_) return false;
    if (classifier::match_route_directive(parse.query)) {
      // SET pgscale.route (noted by check_route): the server gets a SET that PostgreSQL's grammar
      // takes (it rejects the unquoted reserved word `primary`) and that leaves no value on the
      // pooled connection (the directive is pgscale's, not the server's).
      protocol::encode(sout(), protocol::Parse{"", std::string(classifier::route_directive_server_sql()), parse.param_types});
      tracker_.push(Expect::parse);
      return true;
    }
    ExecuteRef ex;
    const StatementPtr* target = parse_execute(parse.query, ex) ? statements_.find(ex.name) : nullptr;
    if (target && status != 'E') {
      StatementPtr stmt = *target;
      ensure_prepared(stmt, false, {});
      std::string sql = rewrite_execute(parse.query, ex, stmt->server_name);
      protocol::encode(sout(), protocol::Parse{"", sql, parse.param_types});
      tracker_.push(Expect::parse);
      return true;
    }
    forwarded_deallocation(analyze_effects(parse.query), statements_, server_.get(), status);
    return false;
  }
  if (statements_.find(parse.name)) {
    push_local_error(kDuplicateStatement, quoted(parse.name) + " already exists");
    return true;
  }
  // A named SET pgscale.route: registered in the quoted spelling (its Binds are classified as the
  // directive), prepared on servers as the SET that leaves nothing behind (see above).
  const auto directive = classifier::match_route_directive(parse.query);
  StatementPtr stmt = directive ? statement_registry().intern(classifier::route_directive_sql(*directive), parse.param_types,
                                                              classifier::route_directive_server_sql())
                                : statement_registry().intern(parse.query, parse.param_types);
  statements_.set(parse.name, stmt);
  if (!server_) {  // plan_frame() found it validated: prepared on a server when first used
    std::string reply;
    protocol::encode(reply, protocol::ParseComplete{});
    push_local(std::move(reply), TrackedRequest::drop_client_name, stmt, parse.name);
    return true;
  }
  ensure_prepared(stmt, true, parse.name);
  return true;
}

// Session pool mode: the client keeps its server (on the primary), so the directive changes
// nothing, but it must not fail where it works in transaction mode — PostgreSQL's grammar refuses
// the unquoted reserved word `primary`. A Query or Parse that is only the directive goes on in the
// quoted spelling; the server answers it (setting a custom variable no module defines, which the
// reset query clears) in its place in the reply stream, also in a failed block (25P02). True = the frame went into sout().
bool ClientSession::rewrite_directive_session_mode(const Frame& f, size_t& seg) {
  if (f.tag != 'Q' && f.tag != 'P') return false;
  std::string_view data = cbuf_.readable();
  const bool streamed = cscan_.in_streamed_frame() && !frames().empty() && &f == &frames().back();
  if (streamed || f.size < 5 || f.offset + f.size > data.size()) return false;  // only whole frames
  std::string_view body = data.substr(f.offset + 5, f.size - 5);
  std::string out;
  if (f.tag == 'Q') {
    auto d = classifier::match_route_directive(body.substr(0, body.find('\0')));
    if (!d) return false;
    protocol::encode(out, protocol::Query{classifier::route_directive_sql(*d)});
  } else {
    const size_t name_size = cstring_at(body, 0).size();
    auto d = classifier::match_route_directive(cstring_at(body, name_size + 1));  // no copy for other Parses
    protocol::Parse parse;
    if (!d || protocol::decode(body, parse) != protocol::Errc::ok) return false;
    protocol::encode(out, protocol::Parse{parse.name, std::string(classifier::route_directive_sql(*d)), parse.param_types});
  }
  if (f.offset > seg) sout().append(data.substr(seg, f.offset - seg));
  sout() += out;
  seg = f.offset + f.size;
  return true;
}

bool ClientSession::handle_bind(const Frame& f, std::string_view body) {
  BindNames names;
  if (!read_bind_names(body, names)) return false;
  auto& local = statements_.local();
  if (local.portal && names.portal == local.portal_name) local.portal = false;  // replaced by this Bind
  std::string_view frame = cbuf_.readable().substr(f.offset, f.size);
  const StatementPtr* found = names.statement.empty() ? nullptr : statements_.find(names.statement);
  StatementPtr stmt = found ? *found : nullptr;  // the names may be cleared below
  char status = server_ ? tracker_.tx_status() : 'I';
  if (names.statement.empty() || (stmt && local_deallocate(statements_, stmt->command, status))) {
    if (names.statement.empty() && !local.statement) return false;  // the server's unnamed statement
    // A DEALLOCATE answered here: so is its Bind; Describe/Execute of the portal follow.
    local.portal = true;
    local.portal_name.assign(names.portal);
    local.portal_target = names.statement.empty() ? local.statement_name : stmt->command.name;
    std::string reply;
    protocol::encode(reply, protocol::BindComplete{});
    push_local(std::move(reply));
    return true;
  }
  TrackedRequest r;
  r.expect = Expect::bind;
  std::string_view target = kMissingStatement;
  if (stmt) {
    ensure_prepared(stmt, false, {});
    target = stmt->server_name;
  } else {
    r.on_reply = OnReply::replace_error;
    append_error(r.text, Severity::error, kUnknownStatement, quoted(names.statement) + " does not exist");
  }
  append_bind_header(sout(), frame_length(frame), names, target);
  sout().append(body.substr(names.names_end));  // values; a streamed tail follows as is
  tracker_.push(std::move(r), undo_);
  // A named DEALLOCATE ALL / DISCARD ALL runs when executed, right after this Bind.
  if (stmt && stmt->deallocates) forwarded_deallocation(analyze_effects(stmt->query), statements_, server_.get(), status);
  return true;
}

// Describe('S', name) is rewritten; Close('S', name) is answered here (the server's copy is
// shared), CloseComplete in its place in the reply stream.
bool ClientSession::handle_describe_close(const Frame& f, std::string_view body) {
  if (f.tag == 'D' && answered_here(statements_.local(), 'D', body)) {  // a DEALLOCATE: no parameters, no rows
    std::string reply;
    if (body[0] == 'S') protocol::encode(reply, protocol::ParameterDescription{});
    protocol::encode(reply, protocol::NoData{});
    push_local(std::move(reply));
    return true;
  }
  std::string_view name = body.substr(1, body.find('\0', 1) - 1);
  const StatementPtr* found = statements_.find(name);
  StatementPtr stmt = found ? *found : nullptr;
  if (f.tag == 'C') {
    std::string reply;
    protocol::encode(reply, protocol::CloseComplete{});
    if (stmt) statements_.erase(name);
    push_local(std::move(reply), stmt ? TrackedRequest::restore_client_name : TrackedRequest::none, stmt, name);
    return true;
  }
  TrackedRequest r;
  r.expect = Expect::describe;
  if (stmt) {
    ensure_prepared(stmt, false, {});
    append_describe_statement(sout(), stmt->server_name);
  } else {
    append_describe_statement(sout(), kMissingStatement);
    r.on_reply = OnReply::replace_error;
    append_error(r.text, Severity::error, kUnknownStatement, quoted(name) + " does not exist");
  }
  tracker_.push(std::move(r), undo_);
  return true;
}

// DEALLOCATE / DISCARD ALL as a direct connection has them: the client's names go, the server's
// shared statements stay (or, when the text is forwarded, the LRU forgets what it may have lost).
bool ClientSession::handle_query(const Frame& f, std::string_view body) {
  std::string_view sql = body.substr(0, body.find('\0'));
  auto cmd = parse_local_command(sql);
  // Only a local command can be answered here (plan_frame's other answers for a Query are special
  // or forward).
  FramePlan plan = cmd.kind == LocalCommand::none ? FramePlan::special : plan_frame(f);
  if (plan == FramePlan::local) {
    std::string tag;
    switch (cmd.kind) {
      case LocalCommand::deallocate:
        statements_.erase(cmd.name);
        tag = "DEALLOCATE";
        break;
      case LocalCommand::deallocate_all:
        statements_.clear();
        tag = "DEALLOCATE ALL";
        break;
      case LocalCommand::discard_all:
        statements_.clear();
        state_.discard_all();
        tag = "DISCARD ALL";
        break;
      case LocalCommand::none:
        return false;
    }
    std::string reply = command_complete(tag);
    if (cmd.kind == LocalCommand::discard_all) reply += parameter_corrections();
    push_local(std::move(reply), TrackedRequest::none, {}, {}, true);
    return true;
  }
  if (!server_) return false;
  // A statement auto_prepare takes is a SELECT/INSERT/UPDATE/DELETE/WITH: never an EXECUTE, a
  // DEALLOCATE or a DISCARD, which the steps below look for.
  if (cmd.kind == LocalCommand::none && auto_prepare_on()) {
    // At a quiet moment shapes met inside transactions are tried first (each with its own Sync),
    // before whatever this Query is (a BEGIN, often).
    const bool quiet = auto_quiet();
    for (int i = 0; quiet && i < kProbesPerQuery; ++i) {
      StatementPtr s = next_probe();
      if (!s) break;
      if (!server_->statements().contains(s->id)) probe_shape(s);
    }
    if (auto_prepare_query(f, sql, quiet)) return true;
  }
  char status = tracker_.tx_status();
  ExecuteRef ex;
  const StatementPtr* target = parse_execute(sql, ex) ? statements_.find(ex.name) : nullptr;
  if (target && status != 'E') {
    // SQL EXECUTE sees protocol-level statements on a direct connection: the server-side one
    // runs instead. When it must be parsed first, a Sync of pgscale's (reply swallowed) ends the
    // inserted Parse, so a Parse error cannot make the server skip the Query (the client would
    // wait forever); not inside the client's own unsynced pipeline, whose Sync it would steal.
    StatementPtr stmt = *target;
    size_t before = sout().size();
    ensure_prepared(stmt, false, {});
    if (sout().size() != before && !unsynced_) {
      protocol::encode(sout(), protocol::Sync{});
      TrackedRequest r;
      r.expect = Expect::ready;
      r.on_reply = OnReply::swallow;
      tracker_.push(std::move(r), undo_);
      ++pending_syncs_;  // its ReadyForQuery is counted by the pump like the client's
    }
    std::string rewritten = rewrite_execute(sql, ex, stmt->server_name);
    protocol::encode(sout(), protocol::Query{rewritten});
    tracker_.push(Expect::ready);
    return true;
  }
  // Forwarded: DISCARD ALL inside a transaction block fails on the server (25001) and changes
  // nothing; otherwise what may deallocate drops the client's names (ALL) and the LRU's.
  forwarded_deallocation(analyze_effects(sql), statements_, server_.get(), status);
  (void)kActiveTransaction;
  return false;
}

bool ClientSession::auto_prepare_on() const {
  const auto cfg = rt_.config();  // held: a reload may replace the runtime's snapshot meanwhile
  return cfg->pool.auto_prepare && cfg->pool.prepared_statement_cache > 0;
}

// Nothing in flight and no transaction open: a Parse of pgscale's cannot disturb the client.
bool ClientSession::auto_quiet() const {
  return server_ && tracker_.tx_status() == 'I' && tracker_.idle() && pending_syncs_ == 0 && !unsynced_;
}

// A try of `stmt` (auto_quiet() held before the first): its Parse and a Sync of pgscale's, replies
// and error swallowed; a refusal marks the shape.
void ClientSession::probe_shape(const StatementPtr& stmt) {
  ensure_prepared(stmt, false, {}, true);
  auto_prepare_counters().tried.fetch_add(1, std::memory_order_relaxed);
  protocol::encode(sout(), protocol::Sync{});
  TrackedRequest r;
  r.expect = Expect::ready;
  r.on_reply = OnReply::swallow;
  tracker_.push(std::move(r), undo_);
  ++pending_syncs_;  // counted by the pump like the client's
}

// pool.auto_prepare (auto_prepare.hpp): the Query runs as pgscale's prepared statement of its shape,
// its answer relayed as the Query's (ParseComplete, BindComplete and NoData dropped). A shape no
// server has accepted yet is tried first: a Parse of the shape and a Sync of pgscale's, whose
// replies (an error too) the client never sees, then the Query as it is — in that order, so the
// try is over when the client has its answer (a client leaving then leaves a clean server). Tried
// only at a quiet moment (auto_quiet), so a refused Parse cannot abort the client's work; a shape
// met elsewhere (inside a transaction block) waits in its worker's queue for the next quiet
// moment of any session there. A refused shape is remembered (SharedStatement::auto_rejected) and
// its Queries go as they are.
bool ClientSession::auto_prepare_query(const Frame& f, std::string_view sql, bool quiet) {
  if (!server_) return false;
  const char status = tracker_.tx_status();
  if (status == 'E' || unsynced_ || tracker_.skipping()) return false;
  thread_local Parameterized p;
  if (!parameterize(sql, p)) return false;
  StatementPtr stmt = auto_statement(p);
  if (stmt->auto_rejected.load(std::memory_order_relaxed)) return false;
  if (!server_->statements().contains(stmt->id) && !stmt->validated.load(std::memory_order_relaxed)) {
    if (!quiet) {
      queue_probe(stmt);
      return false;
    }
    probe_shape(stmt);
    sout().append(cbuf_.readable().substr(f.offset, f.size));
    tracker_.push(Expect::ready);
    return true;
  }
  ensure_prepared(stmt, false, {});
  append_execution(sout(), stmt->server_name, p);
  TrackedRequest b;
  b.expect = Expect::bind;
  b.on_reply = OnReply::swallow;
  tracker_.push(std::move(b), undo_);
  TrackedRequest d;
  d.expect = Expect::describe;
  d.on_reply = OnReply::rows_only;
  tracker_.push(std::move(d), undo_);
  tracker_.push(Expect::execute);
  tracker_.push(Expect::ready);
  if (route().target == Target::replica) route().note_statement(stmt);
  auto_prepare_counters().executed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// One frame that plan_frame() did not let through as is. `seg` is the start of the client bytes
// not yet forwarded: they go to sout() first, so rewritten frames keep their place in the stream.
// Returns forward (the frame goes as is), special (replaced by rewritten frames) or local (answered
// here, nothing sent).
ClientSession::FramePlan ClientSession::handle_special(const Frame& f, size_t& seg) {
  std::string_view data = cbuf_.readable();
  if (server_ && f.offset > seg) {
    sout().append(data.substr(seg, f.offset - seg));
    seg = f.offset;
  }
  std::string_view body = data.substr(f.offset + 5, f.size - 5);
  bool replaced = false;
  size_t sent_before = sout().size();
  switch (f.tag) {
    case 'P': replaced = handle_parse(f, body); break;
    case 'B': replaced = handle_bind(f, body); break;
    case 'D':
    case 'C': replaced = handle_describe_close(f, body); break;
    case 'Q': replaced = handle_query(f, body); break;
    case 'E': {  // Execute of a DEALLOCATE answered here (plan_frame): the client's name goes
      auto& local = statements_.local();
      const StatementPtr* found = statements_.find(local.portal_target);
      StatementPtr stmt = found ? *found : nullptr;
      if (stmt) statements_.erase(local.portal_target);
      if (stmt) {
        push_local(command_complete("DEALLOCATE"), TrackedRequest::restore_client_name, stmt, local.portal_target);
      } else if (server_) {  // gone since its Bind: the server must skip to Sync as on an error of its own
        push_local_error(kUnknownStatement, quoted(local.portal_target) + " does not exist");
      } else {
        std::string reply;
        append_error(reply, Severity::error, kUnknownStatement, quoted(local.portal_target) + " does not exist");
        push_local(std::move(reply));
      }
      local.portal = false;  // run to completion
      replaced = true;
      break;
    }
    case 'S':  // no server: ReadyForQuery with the idle status, right after what is owed before it
      push_local({}, TrackedRequest::none, {}, {}, true);
      replaced = true;
      break;
    case 'H': replaced = true; break;  // local replies are written at the end of the read anyway
    default: break;
  }
  if (!replaced) {
    track_forwarded(f.tag);
    return FramePlan::forward;
  }
  seg = f.offset + f.size;
  bool local = f.tag == 'C' || f.tag == 'S' || f.tag == 'H' || f.tag == 'E' || (f.tag == 'P' && !server_) ||
               (f.tag == 'Q' && sout().size() == sent_before) || answered_here(statements_.local(), f.tag, body);
  return local ? FramePlan::local : FramePlan::special;
}

asio::awaitable<bool> ClientSession::emit_front_locals() {
  std::string out;
  tracker_.take_front_locals(out);
  if (out.empty()) co_return true;
  co_return co_await write_client(out);
}

}  // namespace pgscale::proxy

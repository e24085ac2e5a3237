// Where the next transaction goes (issue 5; the rules are in route_policy.hpp, the hook contract
// in notes/issue4-5-seams.md):
//   attach_server         classify what the client sent (the whole read: a pipeline counts),
//                         decide primary/replica, pick a node, check a server out of its pool.
//   check_route           a later Query/Parse/Bind that must not run on the attached replica.
//   note_sent             keeps the bytes sent since attach (bounded) for a retry elsewhere.
//   on_transaction_end    read-your-writes: a write committed on the primary starts the wait for
//                         a primary LSN observed after it (Monitor::check_now, no extra round trip).
//   reroute_after_failure a replica that failed before any byte of its answer reached the client:
//                         ban it (Monitor::report_failure) and re-send the same bytes to another
//                         replica or the primary; the client sees nothing.
#include <poll.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/client_session.hpp"
#include "proxy/reactor_readiness.hpp"
#include "proxy/router.hpp"

namespace pgscale::proxy {

namespace {

// Statement name of a Bind body (portal\0statement\0...); nullopt when malformed.
std::optional<std::string_view> bind_statement(std::string_view body) {
  size_t p = body.find('\0');
  if (p == std::string_view::npos) return std::nullopt;
  std::string_view rest = body.substr(p + 1);
  size_t s = rest.find('\0');
  if (s == std::string_view::npos) return std::nullopt;
  return rest.substr(0, s);
}

std::string_view parse_name(std::string_view body) { return body.substr(0, body.find('\0')); }

// An idle pooled connection has nothing to say: readable (bytes or EOF) means its backend is gone
// or going (e.g. "terminating connection due to immediate shutdown command", then EOF). Checked
// before use so a dead idle connection costs a retry, not the client's transaction. One poll(),
// unless the reactor has seen nothing on the socket since its last answer was read to the end
// (reactor_readiness.hpp): then it has nothing to say and the system call is saved.
bool idle_conn_is_dead(ServerConn& conn) {
  auto& sock = conn.stream().socket();
  if (!sock.is_open()) return true;
  if (!reactor_readiness::maybe_readable(sock)) return false;
  pollfd p{sock.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

// CommandComplete "SET" for each statement of a directive-only Query (SET pgscale.route ...).
std::string directive_reply(const classifier::Classification& c) {
  std::string out;
  for (int i = 0; i < std::max(1, c.statement_count); ++i) {
    out += 'C';
    uint32_t len = 4 + 4;  // "SET\0"
    for (int sh = 24; sh >= 0; sh -= 8) out += static_cast<char>((len >> sh) & 0xff);
    out.append("SET", 4);
  }
  return out;
}

}  // namespace

struct ClientSession::Routed {
  std::shared_ptr<ServerConn> conn;
  std::shared_ptr<Pool> pool;
  std::string node;
  Target target = Target::primary;
  std::string error;
  std::string_view code = sqlstate::connection_failure;
};

// Until the prepared room's prepare_server() lands, a new server only gets application_name.
template <class S>
asio::awaitable<bool> ClientSession::prepare_for_client(S& s, ServerConn& conn) {
  if constexpr (requires { s.prepare_server(conn); }) co_return co_await s.prepare_server(conn);
  else co_return co_await s.sync_app_name(conn);
}

// Text of a protocol-level prepared statement (prepared room); "" = unknown -> primary.
template <class S>
std::string_view ClientSession::statement_text_of(const S& s, std::string_view name) {
  if constexpr (requires { s.statement_text(name); }) return s.statement_text(name);
  else return {};
}

// The SQL text of a Query ('Q') or Parse ('P') frame held whole in the client buffer; empty for
// other messages (Bind of a statement prepared earlier, Sync, ...) or a streamed frame.
std::string_view ClientSession::frame_text(const Frame& f) const {
  std::string_view data = cbuf_.readable();
  if (f.offset + f.size > data.size() || f.size < 5) return {};
  std::string_view body = data.substr(f.offset + 5, f.size - 5);
  if (f.tag == 'Q') return body.substr(0, body.find('\0'));
  if (f.tag == 'P') {
    size_t name_end = body.find('\0');
    if (name_end == std::string_view::npos) return {};
    std::string_view rest = body.substr(name_end + 1);
    return rest.substr(0, rest.find('\0'));
  }
  return {};
}

namespace {
// The last Query/Parse frame classified on this thread: (read, offset) -> classification.
struct LastFrameClass {
  uint64_t read_id = 0;
  size_t offset = 0;
  std::shared_ptr<const classifier::Classification> value;
};
thread_local LastFrameClass last_frame_class;
thread_local uint64_t read_ids = 0;

// The slot when it holds the frame at `offset` of read `read` (0: the session has no read yet).
LastFrameClass* memo_for(uint64_t read, size_t offset) {
  LastFrameClass& last = last_frame_class;
  return read != 0 && last.read_id == read && last.offset == offset ? &last : nullptr;
}
}  // namespace

uint64_t ClientSession::next_read_id() { return ++read_ids; }

// Null when the frame carries no statement pgscale can see (a Bind of an unknown statement).
std::shared_ptr<const classifier::Classification> ClientSession::classify_frame(const Frame& f) const {
  std::string_view data = cbuf_.readable();
  if (f.offset + f.size > data.size() || f.size < 5) return nullptr;
  std::string_view text;
  if (f.tag == 'Q' || f.tag == 'P') {
    const uint64_t read = cold_ ? cold_->read_id : 0;
    if (const LastFrameClass* hit = memo_for(read, f.offset)) return hit->value;
    auto value = rt_.classifier().classify(frame_text(f));
    if (read != 0) last_frame_class = {read, f.offset, value};
    return value;
  }
  if (f.tag == 'B') {
    auto stmt = bind_statement(data.substr(f.offset + 5, f.size - 5));
    if (!stmt) return nullptr;
    text = statement_text_of(*this, *stmt);
    if (text.empty()) return nullptr;
  } else {
    return nullptr;
  }
  return rt_.classifier().classify(text);
}

const classifier::Classification* ClientSession::classified_frame(const Frame& f) const {
  if ((f.tag != 'Q' && f.tag != 'P') || !cold_) return nullptr;
  const LastFrameClass* hit = memo_for(cold_->read_id, f.offset);
  return hit ? hit->value.get() : nullptr;
}

// Everything the client sent in this read from `first` on: a pipeline with a write anywhere goes
// to the primary as a whole.
TxnSummary ClientSession::summarize_from(const Frame& first) {
  TxnSummary t;
  size_t i = 0;
  if (!frames().empty() && &first >= frames().data() && &first < frames().data() + frames().size()) {
    i = static_cast<size_t>(&first - frames().data());
  }
  const Frame* begin = frames().empty() ? &first : &frames()[i];
  size_t end = frames().empty() ? 1 : frames().size();
  std::vector<std::string_view> parsed;  // statements parsed in this read (their Bind is known)
  std::string_view data = cbuf_.readable();
  for (size_t k = 0; i + k < end && k < kMaxFramesSummarised; ++k) {
    const Frame& f = begin[k];
    if (f.tag != 'Q' && f.tag != 'P' && f.tag != 'B') continue;
    if (f.offset + f.size <= data.size() && f.size >= 5) {
      std::string_view body = data.substr(f.offset + 5, f.size - 5);
      if (f.tag == 'P') parsed.push_back(parse_name(body));
      if (f.tag == 'B') {
        auto stmt = bind_statement(body);
        if (stmt && std::find(parsed.begin(), parsed.end(), *stmt) != parsed.end()) continue;
      }
    }
    auto c = classify_frame(f);
    if (!c) {
      t.unknown = true;
      continue;
    }
    route().policy.note(*c);
    t.add(*c);
  }
  if (!t.unknown_functions.empty()) rt_.refresh_function_catalog();
  return t;
}

std::shared_ptr<Pool> ClientSession::pool_for_node(const std::shared_ptr<const config::Config>& cfg,
                                                   const config::NodeConfig& node) {
  if (route().pools_cfg != cfg) {  // reload: pools may have new limits or be retired
    route().pools.clear();
    route().pools_cfg = cfg;
  }
  for (const auto& [name, pool] : route().pools) {
    if (name == node.name) return pool;
  }
  ServerSpec spec{node.name, node.host, node.port, user_, database_,
                  params_,   cfg->pool.server_tls, cfg->pool.connect_timeout};
  auto pool = rt_.pools().get(spec, PoolLimits::from(cfg->pool));
  pool->set_credentials(server_creds_);
  route().pools.emplace_back(node.name, pool);
  return pool;
}

std::shared_ptr<Pool> ClientSession::pool_for_next_transaction(std::string_view /*first_statement*/, std::string& error) {
  auto cfg = rt_.config();
  auto route = Router::route(*cfg, RouteRequest{});
  if (!route) {
    error = "no server node configured";
    return nullptr;
  }
  cfg_ = cfg;
  pool_cfg_ = cfg.get();
  return pool_for_node(cfg, *route->node);
}

// A ready server for route().decision. A replica that cannot be reached is banned and the next
// candidate tried (at worst the primary); other failures go to the client.
asio::awaitable<ClientSession::Routed> ClientSession::checkout_routed(const std::shared_ptr<const config::Config>& cfg,
                                                                      const Decided* decided) {
  Routed out;
  size_t attempts = 1;
  if (!cfg->shards.empty()) attempts += cfg->shards[0].nodes.size();
  for (size_t i = 0; i < attempts; ++i) {
    Choice ch;
    std::shared_ptr<const Topology> topo;  // ch.node may point into it: lives as long as ch
    if (i == 0 && decided) {
      ch = decided->ch;  // a second pick would advance the router's rotation twice per transaction
    } else {
      ch = pick_node(*cfg, topo);
    }
    if (ch.node == nullptr) {
      out.error = ch.error;
      out.code = sqlstate::cannot_connect_now;
      co_return out;
    }
    std::string node = ch.node->name;  // ch.node points into topo/cfg: copy before suspending
    auto pool = pool_for_node(cfg, *ch.node);
    // An idle connection is taken without a coroutine frame; only a wait needs checkout().
    Pool::Checkout c;
    if (i == 0 && decided && decided->conn) c.conn = decided->conn;  // live, taken by attach_now
    else c.conn = pool->try_checkout(ex_);
    if (!c.conn) c = co_await pool->checkout(ex_);
    for (int stale = 0; c.conn && stale < 8 && idle_conn_is_dead(*c.conn); ++stale) {
      pool->checkin(std::move(c.conn), false);
      c.conn = pool->try_checkout(ex_);
      if (!c.conn) c = co_await pool->checkout(ex_);
    }
    if (c.conn && co_await prepare_for_client(*this, *c.conn)) {
      out.conn = std::move(c.conn);
      out.pool = std::move(pool);
      out.node = std::move(node);
      out.target = ch.target;
      co_return out;
    }
    if (c.conn) {
      pool->checkin(std::move(c.conn), false);
      c.error = "server connection lost while preparing it for the client";
    }
    if (ch.target == Target::replica && !c.timed_out) {
      spdlog::warn("client {}: replica {} unusable ({}); banning it and trying another node", peer_, node, c.error);
      rt_.report_failure(node);
      route().failed.push_back(node);
      continue;
    }
    out.error = c.error;
    out.code = c.timed_out ? sqlstate::too_many_connections : sqlstate::connection_failure;
    co_return out;
  }
  out.error = "no server node could be reached";
  co_return out;
}

asio::awaitable<bool> ClientSession::attach_routed(const std::shared_ptr<const config::Config>& cfg,
                                                   const Decided* decided) {
  Routed r = co_await checkout_routed(cfg, decided);
  if (!r.conn) {
    spdlog::warn("client {} user={} db={}: {}", peer_, user_, database_, r.error);
    skipping_ = true;
    skip_error_sent_ = true;
    co_await write_client(error_message(Severity::error, r.code, r.error));
    co_return false;
  }
  attach(std::move(r));
  co_return true;
}

void ClientSession::attach(Routed&& r) {
  server_ = std::move(r.conn);
  server_pool_ = std::move(r.pool);
  route().node = std::move(r.node);
  route().target = r.target;
  route().ticket = rt_.router().take_ticket(route().node);
  pending_syncs_ = 0;
  unsynced_ = false;
  tx_status_ = 'I';
  relayed_since_attach_ = false;
  cancel_slot_->set(server_->cancel_target());
  start_pump();
}

// What attach_server does when nothing has to wait, which is nearly every transaction: no
// reroute in progress, no directive, and the chosen node's pool has an idle connection that is
// alive and runs this client's settings already. Anything else -> false, and attach_server
// (a chain of coroutine frames) starts over; what was done here is safe to repeat.
ClientSession::AttachStep ClientSession::attach_now(const Frame& first, Decided& d) {
  if (route().rerouting) return AttachStep::not_started;
  if (first.tag == 'Q') {
    auto c = classify_frame(first);
    if (c && c->directive_only && c->route_directive) return AttachStep::not_started;
  }
  d.cfg = rt_.config();
  const auto& cfg = d.cfg;
  decide_transaction(first, *cfg);
  d.ch = pick_node(*cfg, d.topo);
  const Choice& ch = d.ch;
  if (ch.node == nullptr) return AttachStep::decided;  // attach_routed reports it
  auto pool = pool_for_node(cfg, *ch.node);
  auto conn = pool->try_checkout(ex_);
  if (!conn) return AttachStep::decided;  // a wait for a connection (more clients than max_size)
  if (idle_conn_is_dead(*conn)) {
    pool->checkin(std::move(conn), false);
    return AttachStep::decided;
  }
  if (!server_ready_now(*conn)) {  // prepare_server's round trip: checkout_routed takes it over
    d.conn = std::move(conn);
    return AttachStep::decided;
  }
  Routed r;
  r.conn = std::move(conn);
  r.pool = std::move(pool);
  r.node = ch.node->name;
  r.target = ch.target;
  attach(std::move(r));
  return AttachStep::attached;
}

asio::awaitable<bool> ClientSession::attach_server(const Frame& first) {
  if (route().rerouting) {  // the pump is moving this transaction to another server: join it
    asio::steady_timer wait(ex_);
    for (int i = 0; i < 3000 && route().rerouting; ++i) {
      wait.expires_after(std::chrono::milliseconds(5));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (server_) co_return true;
    if (skipping_ || client_gone_) co_return false;
  }
  if (first.tag == 'Q') {  // checked here: a coroutine frame only for an actual directive
    auto c = classify_frame(first);
    if (c && c->directive_only && c->route_directive) {
      co_await answer_directive(*c);
      co_return false;
    }
  }
  auto cfg = rt_.config();
  decide_transaction(first, *cfg);
  co_return co_await attach_routed(cfg);
}

// A new transaction starts with `first`: primary or replica, from what the client sent.
void ClientSession::decide_transaction(const Frame& first, const config::Config& cfg) {
  route().end_transaction();
  route().seen = summarize_from(first);
  route().decision = decide_target(route().seen, route().policy, cfg);
  spdlog::debug("client {}: transaction -> {} ({})", peer_,
                route().decision.target == Target::primary ? "primary" : "replica", route().decision.why);
}

// The router's pick for the decided transaction, under the current topology (kept in `topo`:
// the choice may point into it).
Choice ClientSession::pick_node(const config::Config& cfg, std::shared_ptr<const Topology>& topo) {
  topo = rt_.topology();
  resolve_ryw(route().policy.ryw, *topo);
  return rt_.router().choose(cfg, *topo, route().decision, &route().policy.ryw, &route().failed);
}

// `SET pgscale.route = primary|replica|auto` (or RESET; quoted or not, `=` or TO, SET SESSION) as
// a Query of its own is pgscale's: recorded and answered here with CommandComplete SET, never
// sent to PostgreSQL (which rejects the unquoted reserved word `primary`). It takes effect for the
// next transaction. Here no server is attached: the relay's skip path then sends ReadyForQuery 'I'.
asio::awaitable<void> ClientSession::answer_directive(const classifier::Classification& c) {
  route().policy.note(c);
  skipping_ = true;  // drop the frame; its sync point gets ReadyForQuery 'I' (handle_skipped)
  skip_error_sent_ = true;
  co_await write_client(directive_reply(c));
}

// The same directive while a server is attached (inside a transaction block, or pipelined after
// other work): answered in its place in the reply stream (a local reply in the tracker, with the
// ReadyForQuery status the server reports then). The block's server does not change; the next
// transaction follows the directive. In a failed block the server answers (25P02, as PostgreSQL
// does for any statement there) and the directive is not recorded.
bool ClientSession::answer_directive_attached(const Frame& f, size_t& seg) {
  if (f.tag != 'Q' || tracker_.tx_status() == 'E') return false;
  auto c = classify_frame(f);
  if (!c || !c->directive_only || !c->route_directive) return false;
  route().policy.note(*c);
  if (f.offset > seg) sout().append(cbuf_.readable().substr(seg, f.offset - seg));
  seg = f.offset + f.size;
  push_local(directive_reply(*c), TrackedRequest::none, {}, {}, true);
  return true;
}

// Only a transaction routed to a replica outside a block, at a sync boundary (a frame after Parse/
// Bind/Execute without Sync belongs to the same implicit transaction), can leave its server.
ClientSession::RouteCheck ClientSession::check_route(const Frame& f) {
  if (!server_ || route().rerouting) return RouteCheck::ok;
  TxnSummary one;
  if (f.tag == 'B') {
    auto stmt = bind_statement(cbuf_.readable().substr(f.offset + 5, f.size - 5));
    // The unnamed statement was classified at its Parse, on this server; an unknown name fails.
    if (!stmt || stmt->empty()) return RouteCheck::ok;
  }
  auto c = classify_frame(f);
  if (!c) return RouteCheck::ok;
  // A directive Query here is one in a failed block, refused by PostgreSQL: not taken.
  if (c->directive_only && f.tag == 'Q') return RouteCheck::ok;
  route().policy.note(*c);
  one.add(*c);
  route().seen.add(*c);
  if (!one.unknown_functions.empty()) rt_.refresh_function_catalog();
  AttachedTxn at{route().target, route().decision.read_only_block, tx_status_ != 'I', unsynced_,
                 pinned() || attached_pinned_};
  return must_leave_server(one, at, route().policy, *rt_.config()) ? RouteCheck::switch_server : RouteCheck::ok;
}

// Kept only for a retry elsewhere, which only a read on a replica gets.
void ClientSession::note_sent(std::string_view bytes) {
  if (route().sent_overflow || !is_transaction_mode() || route().target != Target::replica) return;
  if (route().sent.size() + bytes.size() > kMaxResendBytes) {
    route().sent_overflow = true;
    route().sent.clear();
    return;
  }
  route().sent.append(bytes);
}

void ClientSession::on_transaction_end() {
  // Every Query/Parse/Bind the transaction sent was classified (and noted) on its way out: the
  // frames of the attach read by summarize_from, later ones by check_route. No second pass over
  // the sent bytes (it cost ~4 % of a pgbench -S transaction's instructions).
  const TxnSummary& all = route().seen;
  const bool wrote = all.hard_primary || all.soft_primary || all.unknown || route().sent_overflow;
  auto cfg = rt_.config();
  if (wrote && route().target == Target::primary && cfg->routing.read_your_writes &&
      cfg->routing.read_write_split && is_transaction_mode()) {
    // Read-your-writes: the commit is acknowledged (ReadyForQuery 'I' arrived); reads go to the
    // primary until a snapshot holds a primary position observed after now (route_policy.hpp).
    route().policy.ryw.committed_at = SteadyClock::now();
    rt_.check_now();
  }
  route().end_transaction();
  if (route().sent.capacity() > 64 * 1024) std::string().swap(route().sent);
}

void ClientSession::note_statement_use(const Frame& f) {
  std::string_view body = cbuf_.readable().substr(f.offset + 5, f.size - 5);
  std::string_view name;
  if (f.tag == 'B') {
    auto stmt = bind_statement(body);
    if (!stmt) return;
    name = *stmt;
  } else if (f.tag == 'D' && body.size() > 1 && body[0] == 'S') {
    name = body.substr(1, body.find('\0', 1) - 1);
  }
  if (name.empty()) return;
  if (const StatementPtr* s = statements_.find(name)) route().note_statement(*s);
}

// Close + Parse + Sync on a server fresh from its pool, replies read here (the pump is not
// running yet). Its statement LRU then says what it holds, as ensure_prepared would have left it.
asio::awaitable<bool> ClientSession::prepare_resend(ServerConn& conn, const ResendPlan& plan) {
  if (plan.need_parse.empty() && plan.parsed_names.empty()) co_return true;
  ServerStatements& have = conn.statements();
  for (const auto& s : plan.need_parse) have.erase(s->id);
  for (const auto& s : plan.parsed) have.erase(s->id);
  // The LRU as ensure_prepared would leave it; what it gives up is Closed in the same round trip.
  size_t capacity = rt_.config()->pool.prepared_statement_cache;
  std::string out;
  for (const auto* list : {&plan.need_parse, &plan.parsed}) {
    for (const auto& s : *list) {
      for (const auto& v : have.add(s, capacity)) append_close_statement(out, v->server_name);
    }
  }
  out += resend_preparation(plan);
  Deadline deadline(ex_);
  deadline.arm(rt_.config()->pool.connect_timeout, [&conn] { conn.stream().cancel(); });
  error_code ec;
  co_await conn.stream().write_all(out, ec);
  std::string in;
  bool failed = false, ready = false;
  for (int reads = 0; !ec && !ready && reads < 1000; ++reads) {
    char chunk[4096];
    size_t n = co_await conn.stream().read_some(asio::buffer(chunk), ec);
    in.append(chunk, ec ? 0 : n);
    size_t pos = 0;
    while (pos + 5 <= in.size()) {
      const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos + 1);
      uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
      if (len < 4 || in.size() - pos - 1 < len) break;
      failed = failed || in[pos] == 'E';
      ready = ready || in[pos] == 'Z';
      pos += size_t{len} + 1;
    }
    in.erase(0, pos);
  }
  deadline.disarm();
  co_return !ec && !failed && ready && in.empty();
}

asio::awaitable<bool> ClientSession::reroute_after_failure(const std::string& why) {
  bool eligible = is_transaction_mode() && server_ && route().target == Target::replica && !relayed_since_attach_ &&
                  !route().sent_overflow && route().reroutes < kMaxReroutes && !client_gone_ && !terminated_ &&
                  !route().rerouting;
  std::optional<ResendPlan> plan;
  if (eligible) {
    plan = plan_resend(route().sent, route().replies_swallowed, [this](std::string_view name) -> StatementPtr {
      for (const auto& s : route().used) {
        if (s->server_name == name) return s;
      }
      return nullptr;
    });
  }
  if (!plan) {
    if (server_ && route().target == Target::replica && is_transaction_mode() && (pending_syncs_ > 0 || unsynced_)) {
      spdlog::info("client {}: read on {} not retried elsewhere ({})", peer_, route().node,
                   relayed_since_attach_ ? "part of its answer reached the client"
                   : route().sent_overflow ? "more than 1 MB sent"
                   : route().reroutes >= kMaxReroutes ? "retried too often"
                   : eligible ? "the bytes sent cannot be replayed" : "session ending");
    }
    route().ticket.reset();
    co_return false;
  }
  route().rerouting = true;
  spdlog::warn("client {}: replica {} failed before answering ({}); retrying elsewhere", peer_, route().node, why);
  rt_.report_failure(route().node);
  route().failed.push_back(route().node);
  {
    auto old = std::move(server_);
    auto pool = std::move(server_pool_);
    cancel_slot_->clear();
    old->stream().close();
    if (pool) pool->checkin(std::move(old), false);
  }
  route().ticket.reset();
  // What is re-sent is what the tracker still expects replies for; a second failure starts there.
  std::string rest(plan->rest);
  auto cfg = rt_.config();
  bool ok = false;
  while (!ok && route().reroutes < kMaxReroutes && !client_gone_) {
    ++route().reroutes;
    Routed r = co_await checkout_routed(cfg);
    if (!r.conn) break;
    error_code ec;
    bool ready = co_await prepare_resend(*r.conn, *plan);
    if (ready) co_await r.conn->stream().write_all(rest, ec);
    if (!ready || ec) {
      r.pool->checkin(std::move(r.conn), false);
      if (r.target == Target::replica) {
        rt_.report_failure(r.node);
        route().failed.push_back(r.node);
      }
      continue;
    }
    server_ = std::move(r.conn);
    server_pool_ = std::move(r.pool);
    route().node = std::move(r.node);
    route().target = r.target;
    route().ticket = rt_.router().take_ticket(route().node);
    route().sent = rest;
    route().replies_swallowed = 0;
    relayed_since_attach_ = false;
    cancel_slot_->set(server_->cancel_target());
    start_pump();  // pending_syncs_/unsynced_ still describe the bytes just re-sent
    ok = true;
  }
  route().rerouting = false;
  if (ok) spdlog::info("client {}: read re-sent to {}", peer_, route().node);
  co_return ok;
}

}  // namespace pgscale::proxy

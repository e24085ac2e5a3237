// Session state in transaction pooling (design: session.hpp, session_state.hpp): a server fresh
// from the pool replays the client's settings, every statement text the client sends is noted for
// what it may change, the client's view of reported parameters is kept in line, and at the end of
// a transaction that may have changed state pgscale reads it back before the server is released.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/startup.hpp"
#include "proxy/client_session.hpp"
#include "proxy/session_state_scan.hpp"

namespace pgscale::proxy {

namespace {
// What `sql` may do to session state. The route code has just classified the same text (its
// directive check, transaction summary or check_route), and the classification carries the
// session-state scan's verdict, computed once per cache entry: a clear verdict is taken from
// there, everything else is analysed as before. The cached verdict stands for texts that differ
// in literals only, so it is not used for texts long enough that a literal could make the scan
// find them too complex to parse (never for a short text: the bound counts characters).
StatementEffects effects_of(const classifier::Classifier& cl, std::string_view sql,
                            const classifier::Classification* known = nullptr) {
  if (sql.size() <= detail::kMaxNesting) {
    std::shared_ptr<const classifier::Classification> recent;
    if (!known) known = (recent = cl.recent(sql)).get();
    if (known && known->session_scan_clear) return {};
  }
  return analyze_effects(sql);
}

}  // namespace

bool ClientSession::pinned() const { return state_.pinned(); }

// A server fresh from the pool runs this client's settings before its first byte (one round trip
// only when they differ from what that server runs with).
bool ClientSession::server_ready_now(ServerConn& conn) {
  attached_pinned_ = false;
  return state_.replay_sql(conn.settings()).empty();
}

asio::awaitable<bool> ClientSession::prepare_server(ServerConn& conn) {
  attached_pinned_ = false;
  std::string sql = state_.replay_sql(conn.settings());
  if (sql.empty()) co_return true;
  auto r = co_await conn.query(sql, rt_.config()->pool.connect_timeout);
  if (!r) co_return false;
  conn.settings() = state_.settings();
  for (const auto& [k, v] : conn.settings()) {
    if (k == "application_name") conn.set_app_name(v);
  }
  co_return true;
}

// Every statement text the client sends may change settings or pins (cached parse).
// A named statement acts when it is executed: its Bind is noted with its text too (a SET
// prepared in one round trip and executed in the next must still be read back), and so is an SQL
// EXECUTE of a protocol-level statement. A simple Query drops the unnamed statement and portal.
void ClientSession::note_effects(const Frame& f) {
  std::string_view text;
  if (f.tag == 'Q' || f.tag == 'P') {
    text = frame_text(f);
    if (f.tag == 'Q') statements_.forget_local();
  } else if (f.tag == 'B') {
    BindNames names;
    std::string_view data = cbuf_.readable();
    if (read_bind_names(data.substr(f.offset + 5, f.size - 5), names) && !names.statement.empty()) {
      text = statement_text(names.statement);
    }
  }
  if (text.empty()) return;
  state_.note(effects_of(rt_.classifier(), text, classified_frame(f)));
  ExecuteRef ex;
  if (f.tag != 'B' && parse_execute(text, ex)) {
    std::string_view executed = statement_text(ex.name);
    if (!executed.empty()) state_.note(effects_of(rt_.classifier(), executed));
  }
}

namespace {
// Reported parameters (GUC_REPORT) a client can SET, whose values pg_settings shows as reported.
bool correctable(std::string_view name) {
  return name == "application_name" || name == "TimeZone" || name == "DateStyle" || name == "IntervalStyle" ||
         name == "client_encoding" || name == "standard_conforming_strings";
}
const std::string* find_value(const Settings& s, std::string_view name) {
  for (const auto& [k, v] : s) {
    if (k == name) return &v;
  }
  return nullptr;
}
}  // namespace

// told_ holds only what differs from the greeting (most sessions: nothing), so the greeting
// itself can be shared between sessions.
void ClientSession::note_parameter_status(std::string_view name, std::string_view value) {
  if (!correctable(name)) return;
  const std::string* greeted = greeted_ ? find_value(*greeted_, name) : nullptr;
  if (told_) {
    for (auto it = told_->begin(); it != told_->end(); ++it) {
      if (it->first != name) continue;
      if (greeted && *greeted == value) told_->erase(it);
      else it->second.assign(value);
      return;
    }
  }
  if (greeted && *greeted == value) return;
  if (!told_) told_ = std::make_unique<Settings>();
  told_->emplace_back(std::string(name), std::string(value));
}

// ParameterStatus messages that bring the client's view in line with its session state: a
// server's reset value (RESET, DISCARD ALL) is not this client's session default, and a
// DISCARD ALL answered here must report what it reset.
std::string ClientSession::parameter_corrections() {
  std::string out;
  auto correct = [&](std::string_view name, const std::string& told) {
    const std::string* truth = find_value(state_.settings(), name);
    if (!truth && greeted_) truth = find_value(*greeted_, name);
    if (!truth || *truth == told) return;
    protocol::encode(out, protocol::ParameterStatus{name, *truth});
    std::string value = *truth;  // note_parameter_status may drop the entry `told` lives in
    note_parameter_status(name, value);
  };
  if (greeted_) {
    for (const auto& [name, greeted] : *greeted_) {  // the greeting's order, as before
      if (!correctable(name)) continue;
      const std::string* told = told_ ? find_value(*told_, name) : nullptr;
      correct(name, told ? *told : greeted);
    }
  }
  for (size_t i = 0; told_ && i < told_->size(); ++i) {  // names the greeting did not have
    if (greeted_ && find_value(*greeted_, (*told_)[i].first)) continue;
    std::string name = (*told_)[i].first;
    correct(name, (*told_)[i].second);
  }
  return out;
}

asio::awaitable<void> ClientSession::wait_internal_query() {
  for (int i = 0; internal_busy_ && i < 100000; ++i) {
    co_await internal_done().async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<bool> ClientSession::release_step(ServerConn& server, std::string& notes) {
  internal_busy_ = true;
  auto hold = server_;  // the connection outlives the queries below whatever happens meanwhile
  auto timeout = rt_.config()->pool.connect_timeout;
  bool ok = true;
  if (state_.needs_inspect()) {
    auto r = co_await server.query(state_.inspect_sql(), timeout);
    notes = server.take_notifications();  // a LISTENing client still gets them
    ok = r && state_.apply_inspect(*r, server.settings());
  }
  if (ok && state_.pinned()) attached_pinned_ = true;
  bool release = ok && !state_.pinned();
  if (release && attached_pinned_) {
    // What the pinned client left (temp tables, LISTEN, locks, SQL statements, pgscale's own
    // statements too) must not reach the next client.
    ok = co_await server.reset("DISCARD ALL", timeout);
    server.statements().clear();
    server.settings().clear();
    server.set_app_name("");
    attached_pinned_ = false;
  }
  internal_busy_ = false;
  internal_done().cancel();
  if (!ok && server_.get() == &server) {
    spdlog::info("client {} user={}: {} not reusable after session-state check", peer_, user_, server.describe());
    server.stream().close();
    on_transaction_end();
    release_server(false);
    co_return false;
  }
  co_return release && server_.get() == &server;
}

}  // namespace pgscale::proxy

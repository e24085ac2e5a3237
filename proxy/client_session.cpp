// Client session: startup phase, greeting, drain. See session.hpp for the design.
#include "proxy/client_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/client_park.hpp"
#include "protocol/auth.hpp"
#include "protocol/startup.hpp"
#include "protocol/wire.hpp"

namespace pgscale::proxy {

namespace {
constexpr size_t kClientBuffer = 16 * 1024;
constexpr size_t kServerBuffer = 32 * 1024;
// Frames up to this size are kept whole in the client buffer (Query/Parse texts for routing).
constexpr size_t kMaxWholeClientFrame = 1024 * 1024;
// The greeting's ParameterStatus values, shared by every session that got the same ones (all
// clients of a pool with the same application_name): ~1 KiB each otherwise. Once per login.
std::shared_ptr<const Settings> shared_greeting(Settings greeting) {
  static SettingsInterner greetings;
  return greetings.intern(std::move(greeting));
}
bool same_credentials(const ServerCredentials& a, const ServerCredentials& b) {
  if (a.password != b.password || a.scram.has_value() != b.scram.has_value()) return false;
  return !a.scram || (a.scram->client_key == b.scram->client_key && a.scram->verifier == b.scram->verifier);
}
// Without a server this long, a session is idle: it frees its buffers (go_idle).
constexpr auto kIdleRelease = std::chrono::seconds(1);
}  // namespace

const ServerCredentials SharedCredentials::none_{};

void SharedCredentials::set_password(std::string password) {
  ServerCredentials c = *this;
  c.password = std::move(password);
  assign(std::move(c));
}

void SharedCredentials::set_scram(ScramPassThrough scram) {
  ServerCredentials c = *this;
  c.scram = std::move(scram);
  assign(std::move(c));
}

// Once per login, like shared_greeting().
void SharedCredentials::assign(ServerCredentials c) {
  static std::mutex mu;
  static std::vector<std::shared_ptr<const ServerCredentials>> known;  // bounded; unused ones are dropped
  std::lock_guard lk(mu);
  for (const auto& k : known) {
    if (same_credentials(*k, c)) {
      creds_ = k;
      return;
    }
  }
  std::erase_if(known, [](const auto& k) { return k.use_count() == 1; });
  creds_ = std::make_shared<const ServerCredentials>(std::move(c));
  if (known.size() < 256) known.push_back(creds_);
}

namespace {
// The worker io_context's executor kept by its ParkedSockets service (sessions refer to it).
const asio::any_io_executor& worker_executor(tcp::socket& socket) {
  const asio::any_io_executor ex = socket.get_executor();
  const auto* io = ex.target<asio::io_context::executor_type>();
  if (!io) throw std::invalid_argument("ClientSession: the socket must belong to an io_context");
  return asio::use_service<ParkedSockets>(io->context()).executor();
}
}  // namespace

ClientSession::ClientSession(Runtime& rt, tcp::socket socket)
    : rt_(rt),
      ex_(worker_executor(socket)),
      client_(std::move(socket)),
      peer_(client_.peer()),
      cbuf_(kClientBuffer),
      cscan_(protocol::Direction::frontend, kMaxWholeClientFrame) {
  undo_.self = this;
}

ClientSession::~ClientSession() {
  rt_.remove_session(*this);  // still listed when destroyed without finishing (io_context shutdown)
  if (cancel_slot_.bound()) rt_.cancels().remove(cancel_slot_.key());
  if (counted_) rt_.clients.fetch_sub(1);
}

asio::awaitable<void> ClientSession::run() {
  rt_.add_session(*this);
  co_await run_then_end_or_park(run_steps());
}

// `step` is the session's work from login (run_steps) or from a parked wait (client_loop); an
// exception ends the session instead of parking it.
asio::awaitable<void> ClientSession::run_then_end_or_park(asio::awaitable<void> step) {
  try {
    co_await std::move(step);
  } catch (const std::exception& e) {
    parked_ = false;
    spdlog::error("client {}: internal error: {}", peer_, e.what());
  }
  co_await end_or_park();
}

// The client loop ended: either the session is over, or it parked (can_park) and waits for
// the client's next message without any coroutine.
asio::awaitable<void> ClientSession::end_or_park() {
  if (parked_) {
    park();
    co_return;
  }
  try {
    co_await finish();
  } catch (const std::exception& e) {
    spdlog::error("client {}: internal error at close: {}", peer_, e.what());
  }
  rt_.remove_session(*this);
}

// Nothing else of the session runs (no pump, no write, no internal query): the client loop may
// return instead of waiting for the socket.
bool ClientSession::can_park() const {
  return pumps_running_ == 0 && !server_ && !draining_ && !client_gone_ && !terminated_ && !internal_busy_ &&
         write_serving_ == write_ticket_ && cbuf_.size() == 0;
}

ClientSession::Cold::Cold(const asio::any_io_executor& ex)
    : sscan(protocol::Direction::backend, kServerBuffer),
      sbuf(kServerBuffer),
      internal_done(&ex),
      write_turn(&ex),
      pump_done(&ex),
      pump_wake(ex) {}

void ClientSession::make_cold() {
  cold_ = std::make_unique<Cold>(ex_);
  if (kept_policy_) {
    cold_->route.policy = std::move(*kept_policy_);
    kept_policy_.reset();
  }
}

// Only while nothing of the session runs (park): no server, no pump, no transaction.
void ClientSession::drop_cold() {
  if (!cold_) return;
  SessionRouting& p = cold_->route.policy;
  if (p.directive || p.default_read_only || p.ryw.committed_at || p.ryw.lsn) {
    kept_policy_ = std::make_unique<SessionRouting>(std::move(p));
  }
  cold_.reset();
}

asio::awaitable<void> ClientSession::run_steps() {
  auto cfg = rt_.config();
  Deadline startup_deadline(ex_);
  startup_deadline.arm(cfg->listen.startup_timeout, [this] { client_.cancel(); });
  auto outcome = co_await read_startup();
  if (outcome != StartupOutcome::proceed) co_return;
  if (cfg->listen.tls.mode == config::TlsMode::require && !client_.is_tls()) {
    // What PostgreSQL's hostssl-only pg_hba says to a plain connection.
    co_await fatal(sqlstate::invalid_authorization,
                   fmt::format("no pg_hba.conf entry for host \"{}\", user \"{}\", database \"{}\", no encryption "
                               "(pgscale listen.tls.mode is require)",
                               peer_.substr(0, peer_.rfind(':')), user_, database_));
    co_return;
  }
  if (rt_.clients.load() > cfg->listen.max_client_connections) {
    co_await fatal(sqlstate::too_many_connections, "sorry, too many clients already");
    co_return;
  }
  bool ok = co_await authenticate();
  if (ok) ok = co_await greet();
  bool expired = startup_deadline.expired();
  startup_deadline.disarm();
  if (expired) {
    spdlog::info("client {}: startup timeout", peer_);
    co_await fatal(sqlstate::protocol_violation, "timeout expired during startup");
    co_return;
  }
  if (!ok) co_return;
  spdlog::info("client {} user={} db={}: connected", peer_, user_, database_);
  co_await client_loop();
}

asio::awaitable<bool> ClientSession::read_startup_packet(std::string& packet) {
  for (int i = 0; i < 10000; ++i) {  // bounded; the deadline bounds it in time
    auto r = protocol::decode_startup_frame(cbuf_.readable());
    if (r.errc == protocol::Errc::ok) {
      packet.assign(cbuf_.readable().substr(0, r.frame.size));
      cbuf_.consume(r.frame.size);
      co_return true;
    }
    if (r.errc != protocol::Errc::incomplete) {
      co_await fatal(sqlstate::protocol_violation, r.errc == protocol::Errc::too_long
                                                       ? "invalid length of startup packet"
                                                       : "invalid startup packet layout");
      co_return false;
    }
    cbuf_.reserve_more(r.need ? r.need : 1, protocol::kMaxStartupPacket + kClientBuffer);
    error_code ec;
    size_t n = co_await client_.read_some(asio::buffer(cbuf_.write_ptr(), cbuf_.write_space()), ec);
    if (ec) {
      // operation_aborted is our own cancel: the startup timeout (or a drain). Say why, so a
      // client that connected and stalled learns it; a client that hung up gets nothing.
      if (ec == asio::error::operation_aborted) {
        co_await fatal(sqlstate::protocol_violation, "timeout expired during startup");
      } else if (cbuf_.size() > 0) {
        co_await fatal(sqlstate::protocol_violation, "incomplete startup packet");
      }
      co_return false;
    }
    cbuf_.commit(n);
  }
  co_return false;
}

asio::awaitable<ClientSession::StartupOutcome> ClientSession::read_startup() {
  // SSLRequest and GSSENCRequest may each come once, before the StartupMessage.
  for (int round = 0; round < 3; ++round) {
    std::string packet;
    if (!co_await read_startup_packet(packet)) co_return StartupOutcome::failed;
    auto fr = protocol::decode_startup_frame(packet);
    switch (fr.frame.kind) {
      case protocol::StartupKind::cancel_request:
        co_return co_await handle_cancel(packet);
      case protocol::StartupKind::gssenc_request: {
        if (cbuf_.size() > 0) {  // same rule as for SSLRequest (CVE-2021-3935 class)
          co_await fatal(sqlstate::protocol_violation, "received unencrypted data after GSSAPI encryption request");
          co_return StartupOutcome::failed;
        }
        if (!co_await write_client("N")) co_return StartupOutcome::failed;
        continue;
      }
      case protocol::StartupKind::ssl_request:
        if (!co_await negotiate_tls()) co_return StartupOutcome::failed;
        continue;
      case protocol::StartupKind::startup_message: {
        std::string negotiate;
        if (!accept_startup_message(packet, negotiate)) {
          // Built before the co_await: GCC 12 double-destroys a ?: temporary across a suspension.
          std::string text = negotiate.empty() ? std::string("invalid startup packet layout") : negotiate;
          co_await fatal(negotiate.empty() ? sqlstate::protocol_violation : sqlstate::feature_not_supported, text);
          co_return StartupOutcome::failed;
        }
        if (!negotiate.empty() && !co_await write_client(negotiate)) co_return StartupOutcome::failed;
        co_return StartupOutcome::proceed;
      }
    }
  }
  co_await fatal(sqlstate::protocol_violation, "too many encryption requests");
  co_return StartupOutcome::failed;
}

asio::awaitable<bool> ClientSession::negotiate_tls() {
  // Bytes already buffered after the SSLRequest were sent in the clear before the handshake and
  // would be treated as if they came over TLS: refuse them (CVE-2021-3935 class).
  if (cbuf_.size() > 0) {
    co_await fatal(sqlstate::protocol_violation, "received unencrypted data after SSL request");
    co_return false;
  }
  auto ctx = rt_.client_tls();
  if (client_.is_tls() || !ctx) co_return co_await write_client("N");
  if (!co_await write_client("S")) co_return false;
  error_code ec;
  co_await client_.start_tls(*ctx, asio::ssl::stream_base::server, ec);
  if (ec) {
    spdlog::info("client {}: TLS handshake failed: {}", peer_, ec.message());
    co_return false;
  }
  co_return true;
}

// Validates the StartupMessage and keeps user, database and the other parameters. Returns false
// with `reply` empty for a malformed packet, with `reply` = message for an unsupported request;
// on success `reply` may hold a NegotiateProtocolVersion to send.
bool ClientSession::accept_startup_message(const std::string& packet, std::string& reply) {
  auto fr = protocol::decode_startup_frame(packet);
  protocol::StartupMessage sm;
  auto errc = protocol::decode_startup_message(fr.frame, sm);
  if (errc == protocol::Errc::unsupported) {
    reply = fmt::format("unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                        fr.frame.code >> 16, fr.frame.code & 0xffff);
    return false;
  }
  if (errc != protocol::Errc::ok) return false;
  std::vector<std::string_view> unknown_options;
  std::map<std::string, std::string> params;
  for (const auto& p : sm.params) {
    if (p.name == "user") user_ = p.value;
    else if (p.name == "database") database_ = p.value;
    else if (p.name.substr(0, 5) == "_pq_.") unknown_options.push_back(p.name);
    else params[std::string(p.name)] = std::string(p.value);  // last one wins, like PostgreSQL
  }
  if (user_.empty()) {
    reply = "no PostgreSQL user name specified in startup packet";
    return false;
  }
  if (database_.empty()) database_ = user_;
  if (auto it = params.find("application_name"); it != params.end()) {
    app_name_ = it->second;
    params.erase(it);
  }
  state_ = SessionState(Settings{{"application_name", app_name_}});
  if (params.count("replication")) {
    reply = "pgscale does not support replication connections";
    return false;
  }
  params_.assign(params.begin(), params.end());
  if (sm.minor > 0 || !unknown_options.empty()) {
    protocol::encode(reply, protocol::NegotiateProtocolVersion{0, unknown_options});
  }
  return true;
}

asio::awaitable<bool> ClientSession::greet() {
  std::string error;
  pool_ = pool_for_next_transaction({}, error);
  if (!pool_) {
    co_await fatal(sqlstate::connection_failure, error);
    co_return false;
  }
  pool_->set_credentials(server_creds_);
  auto params = pool_->cached_params();
  if (!params || mode_ == AttachMode::per_session) {
    auto c = co_await pool_->checkout(ex_);
    if (!c.conn) {
      if (!c.server_error.empty()) {
        co_await write_client(c.server_error);  // PostgreSQL's own FATAL (e.g. 3D000)
      } else {
        co_await fatal(c.timed_out ? sqlstate::too_many_connections : sqlstate::connection_failure,
                       c.error);
      }
      co_return false;
    }
    if (!params || *params != c.conn->parameters()) {
      params = pool_->cached_params();  // set by this checkout when it opened the connection
      if (!params || *params != c.conn->parameters()) params = std::make_shared<const Params>(c.conn->parameters());
    }
    if (mode_ == AttachMode::per_session) {
      if (!co_await sync_app_name(*c.conn)) {
        pool_->checkin(std::move(c.conn), false);
        co_await fatal(sqlstate::connection_failure, "cannot set application_name on the server");
        co_return false;
      }
      server_ = std::move(c.conn);
      server_pool_ = pool_;
    }
    else pool_->checkin(std::move(c.conn), true);
  }
  cancel_slot_.bind(&rt_.cancels(), rt_.cancels().add(nullptr));
  const CancelKey key = cancel_slot_.key();
  std::string out;
  protocol::encode_auth_ok(out);
  // The ParameterStatus messages and their interned set depend only on the pool's parameters
  // and the client's application_name: each worker keeps the last ones it built, which the
  // next login of the same application (the common case) reuses as they are.
  struct LastGreeting {
    std::shared_ptr<const Params> params;  // held: its address is the key
    std::string app_name;
    std::string bytes;
    std::shared_ptr<const Settings> greeted;
  };
  thread_local LastGreeting last;
  if (last.params != params || last.app_name != app_name_) {
    std::string bytes;
    bool app_name_sent = false;
    Settings greeting;
    greeting.reserve(params->size() + 1);
    for (const auto& [k, v] : *params) {
      // application_name is per client, not per pool: report the client's own.
      bool is_app = k == "application_name";
      app_name_sent = app_name_sent || is_app;
      std::string_view value = is_app ? std::string_view(app_name_) : std::string_view(v);
      protocol::encode(bytes, protocol::ParameterStatus{k, value});
      greeting.emplace_back(k, std::string(value));
    }
    if (!app_name_sent) {
      protocol::encode(bytes, protocol::ParameterStatus{"application_name", app_name_});
      greeting.emplace_back("application_name", app_name_);
    }
    last.params = params;
    last.app_name = app_name_;
    last.bytes = std::move(bytes);
    last.greeted = shared_greeting(std::move(greeting));
  }
  out += last.bytes;
  greeted_ = last.greeted;  // told_ starts empty: the client holds these
  protocol::encode(out, protocol::BackendKeyData{key.process_id, key.secret_key});
  append_ready_for_query(out, 'I');
  if (server_) {
    cancel_slot_->set(server_->cancel_target());
    start_pump();
  }
  co_return co_await write_client(out);
}

asio::awaitable<ClientSession::StartupOutcome> ClientSession::handle_cancel(const std::string& packet) {
  auto fr = protocol::decode_startup_frame(packet);
  protocol::CancelRequest req;
  if (protocol::decode_cancel_request(fr.frame, req) != protocol::Errc::ok) co_return StartupOutcome::failed;
  auto target = rt_.cancels().lookup({req.process_id, req.secret_key});
  if (target) {
    spdlog::info("client {}: cancel request forwarded to {}:{}", peer_, target->host, target->port);
    co_await send_cancel(ex_, *target, rt_.config()->pool.connect_timeout);
  } else {
    spdlog::debug("client {}: cancel request with unknown key ignored", peer_);
  }
  co_return StartupOutcome::done;
}

asio::awaitable<void> ClientSession::fatal(std::string_view code, std::string_view message) {
  if (code != sqlstate::admin_shutdown) {
    spdlog::info("client {} user={} db={}: FATAL {} {}", peer_, user_, database_, code, message);
  }
  co_await write_client(error_message(Severity::fatal, code, message));
}

// The client loop (local replies, errors) and the pump (server replies) both write to the
// client: writes go out whole and in the order they were asked for (a ticket taken before the
// first suspension), so a local ParseComplete never overtakes the server reply it follows.
bool ClientSession::write_client_now(std::string_view& bytes) {
  return !client_gone_ && write_serving_ == write_ticket_ && send_now(bytes);
}

// What of `bytes` the socket takes without waiting (removed from `bytes`); true when all went.
// An error marks the client gone (the awaited write that follows reports it).
bool ClientSession::send_now(std::string_view& bytes) {
  error_code ec;
  size_t n = client_.try_write(bytes, ec);
  if (ec) {
    client_gone_ = true;
    return false;
  }
  bytes.remove_prefix(n);
  return bytes.empty();
}

// Not a coroutine: the ticket is taken now, the write is write_reserved's (one frame).
asio::awaitable<bool> ClientSession::write_client(std::string_view bytes) {
  return write_reserved(reserve_write(), bytes);
}

bool ClientSession::write_reserved_now(uint32_t ticket, std::string_view& bytes) {
  if (client_gone_ || write_serving_ != ticket || !send_now(bytes)) return false;
  ++write_serving_;
  write_turn().cancel();  // a write queued behind this one
  return true;
}

asio::awaitable<bool> ClientSession::write_reserved(uint32_t ticket, std::string_view bytes) {
  for (int i = 0; write_serving_ != ticket && i < 1000000; ++i) {
    co_await write_turn().async_wait(asio::as_tuple(asio::use_awaitable));
  }
  error_code ec;
  if (!client_gone_ && !bytes.empty()) co_await client_.write_all(bytes, ec);
  ++write_serving_;
  write_turn().cancel();
  if (ec) client_gone_ = true;
  co_return !ec && !client_gone_;
}

// Called at every release: arms the check only when it is not armed, so a busy session arms
// it about once a second, whatever its transaction rate.
void ClientSession::note_released() {
  ++releases_;
  if (!idle_check_armed_ && !client_gone_) arm_idle_check();
}

void ClientSession::arm_idle_check() {
  idle_check_armed_ = true;
  releases_checked_ = releases_;
  idle_check_.expires_after(kIdleRelease);
  // weak: a pending check does not keep a finished session (nor its Runtime references) alive.
  idle_check_.async_wait([weak = weak_from_this()](error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->on_idle_check();
  });
}

// A session without a server that saw no release since the last check has been idle for at
// least kIdleRelease (at most twice that): it goes idle. Otherwise the check runs again later.
void ClientSession::on_idle_check() {
  idle_check_armed_ = false;
  if (client_gone_ || server_) return;  // a server is attached: its release arms the check again
  if (releases_ != releases_checked_) {
    arm_idle_check();  // busy within the last second
    return;
  }
  go_idle();
}

// The server buffer and the pump's scratch go, the pump ends, and the client loop's pending
// read is cancelled to let go of the client buffer (plain TCP only — a TLS read is not
// cancelled midway): an idle client costs its socket and this object.
void ClientSession::go_idle() {
  if (cold_) {
    cold_->sbuf.release();
    std::string().swap(cold_->pump_out);
    std::string().swap(cold_->before);
    std::string().swap(cold_->after);
    std::string().swap(cold_->replacement);
  }
  tracker_.release();
  statements_.release();
  if (pumps_running_ > 0) {
    pump_idle_ = true;
    pump_wake().notify();
  }
  if ((client_reading_ || client_waiting_) && cbuf_.size() == 0 && !client_.is_tls() && !draining_) {
    idle_cancel_ = true;
    client_.cancel();
  }
}

void ClientSession::begin_drain() {
  draining_ = true;
  if (parked_fd_ >= 0) {  // parked outside Asio: no wait to cancel; the client loop says goodbye
    if (const auto* io = ex_.target<asio::io_context::executor_type>()) {
      asio::use_service<ParkedSockets>(io->context()).resume(*this);
    }
    return;
  }
  if (!server_) client_.cancel();  // wakes the idle read; the loop then says goodbye
}

}  // namespace pgscale::proxy

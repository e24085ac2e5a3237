#include "proxy/server_conn.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

#include "protocol/auth.hpp"
#include "protocol/data.hpp"
#include "protocol/response.hpp"
#include "protocol/simple_query.hpp"
#include "protocol/frame.hpp"
#include "protocol/startup.hpp"
#include "protocol/wire.hpp"
#include "proxy/server_auth.hpp"

namespace pgscale::proxy {

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint32_t kMaxStartupReply = 1u << 20;  // a server's auth/startup message is tiny
constexpr uint32_t kMaxQueryReply = 64u << 20;   // pgscale's own queries return small rows
constexpr int kMaxQueryMessages = 1'000'000;
}  // namespace

ServerConn::ServerConn(StreamSocket socket, std::string node_name, std::string host, uint16_t port)
    : stream_(std::move(socket)),
      node_name_(std::move(node_name)),
      host_(std::move(host)),
      port_(port),
      created_(Clock::now()),
      last_used_(created_) {
  home_ = stream_.socket().get_executor();
  // close() (a session giving up on the server, a timeout) sends FIN but keeps the descriptor:
  // shut_down() can then see the backend exit before its pool slot is reused.
  stream_.keep_descriptor_on_close();
}

asio::awaitable<void> ServerConn::shut_down(std::chrono::milliseconds limit) {
  constexpr auto kCancelAfter = std::chrono::milliseconds(100);
  constexpr int kMaxReads = 4096;  // 16 MiB of late replies at most
  auto ex = stream_.socket().get_executor();
  Deadline deadline(ex);
  deadline.arm(limit, [this] { stream_.close_descriptor(); });
  if (stream_.is_open()) {
    error_code ec;
    co_await stream_.write_all(std::string_view("X\0\0\0\4", 5), ec);  // Terminate
  }
  stream_.close();  // FIN; a session that gave the server up has sent it already
  bool gone = false;
  const bool watched = stream_.has_descriptor();
  if (watched) {
    // A backend reads the EOF (or Terminate) only between statements: if it has not hung up
    // soon, cancel what it may still run (harmless when idle) rather than hold the slot longer.
    Deadline nudge(ex);
    nudge.arm(kCancelAfter, [ex, target = cancel_target(), limit] {
      asio::co_spawn(ex, send_cancel(ex, target, limit), asio::detached);
    });
    gone = co_await stream_.wait_peer_close(kMaxReads);
  }
  if (!watched) {
    // No descriptor to watch (closed for good earlier): give the backend a moment to read its EOF.
    asio::steady_timer grace(ex, std::min(limit, std::chrono::milliseconds(200)));
    co_await grace.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  deadline.disarm();
  stream_.close_descriptor();
  if (watched && !gone) spdlog::warn("{}: server did not hang up within {} ms of pgscale's EOF; its pool slot is freed anyway",
                          describe(), limit.count());
}

std::string ServerConn::describe() const {
  return fmt::format("node {} ({}:{}) pid {}", node_name_, host_, port_, key_.process_id);
}

asio::awaitable<std::shared_ptr<ServerConn>> ServerConn::connect(asio::any_io_executor ex,
                                                                 const ServerSpec& spec,
                                                                 const ServerCredentials& creds,
                                                                 asio::ssl::context& tls_ctx,
                                                                 ConnectError& err) {
  auto conn = std::make_shared<ServerConn>(StreamSocket(ex), spec.node_name, spec.host, spec.port);
  // One deadline for the whole setup: connect, TLS, authentication and the first ReadyForQuery.
  Deadline deadline(ex);
  deadline.arm(spec.connect_timeout, [c = conn.get()] { c->stream_.close(); });
  bool ok = co_await connect_server_socket(conn->stream_.socket(), spec.host, spec.port, err.message);
  if (ok) ok = co_await conn->negotiate_tls(spec.tls, tls_ctx, err);
  if (ok) {
    protocol::StartupMessage sm;
    sm.params.push_back({"user", spec.user});
    sm.params.push_back({"database", spec.database});
    for (const auto& [k, v] : spec.params) sm.params.push_back({k, v});
    std::string pkt;
    protocol::encode_startup_message(pkt, sm);
    ok = co_await conn->send(pkt, err);
  }
  if (ok) ok = co_await conn->authenticate(spec, creds, err);
  if (ok) ok = co_await conn->read_until_ready(err);
  if (deadline.expired()) {
    err.message = fmt::format("timeout connecting to {}:{} (connect_timeout {} ms)", spec.host,
                              spec.port, spec.connect_timeout.count());
    err.server_error.clear();
  }
  deadline.disarm();
  if (!ok || deadline.expired()) co_return nullptr;
  co_return conn;
}

asio::awaitable<bool> ServerConn::negotiate_tls(config::ServerTlsMode mode, asio::ssl::context& ctx,
                                                ConnectError& err) {
  if (mode == config::ServerTlsMode::disable) co_return true;
  if (config::is_socket_directory(host_)) {
    // PostgreSQL answers 'N' on its unix-domain socket; libpq does not ask there either.
    if (mode != config::ServerTlsMode::require) co_return true;
    err.message = "pool.server_tls is require, but " + host_ + " is a unix-domain socket, which has no TLS";
    co_return false;
  }
  std::string req;
  protocol::encode_ssl_request(req);
  if (!co_await send(req, err)) co_return false;
  char answer = 0;
  error_code ec;
  co_await stream_.read_exact(asio::buffer(&answer, 1), ec);
  if (ec) {
    err.message = "server closed the connection during SSLRequest: " + ec.message();
    co_return false;
  }
  if (answer == 'N') {
    if (mode == config::ServerTlsMode::require) {
      err.message = "server does not support TLS but pool.server_tls is require";
      co_return false;
    }
    co_return true;
  }
  if (answer != 'S') {
    err.message = "unexpected answer to SSLRequest";
    co_return false;
  }
  co_await stream_.start_tls(ctx, asio::ssl::stream_base::client, ec);
  if (ec) {
    err.message = "TLS handshake with server failed: " + ec.message();
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> ServerConn::authenticate(const ServerSpec& spec, const ServerCredentials& creds,
                                               ConnectError& err) {
  std::optional<protocol::scram::ScramClient> scram;
  // Bounded: trust is 1 message, md5/cleartext 2, SCRAM 4.
  for (int step = 0; step < 8; ++step) {
    char tag = 0;
    std::string body;
    if (!co_await read_message(tag, body, err)) co_return false;
    if (tag != protocol::btag::authentication) {
      err.message = fmt::format("unexpected message '{}' during authentication", tag);
      co_return false;
    }
    protocol::Authentication auth;
    if (protocol::decode(body, auth) != protocol::Errc::ok) {
      err.message = "malformed authentication request from server";
      co_return false;
    }
    std::string reply;
    switch (auth.code) {
      case protocol::AuthCode::ok:
        co_return true;
      case protocol::AuthCode::cleartext_password:
        if (creds.password.empty() || protocol::is_md5_hash(creds.password)) {
          err.message = "server asks for a cleartext password; set server_password for user " + spec.user;
          co_return false;
        }
        protocol::encode(reply, protocol::PasswordMessage{creds.password});
        break;
      case protocol::AuthCode::md5_password: {
        if (creds.password.empty()) {
          err.message = "server asks for md5; set server_password (or a plaintext/md5 password) for user " + spec.user;
          co_return false;
        }
        std::string pw = md5_client_response(spec.user, creds.password, auth.md5_salt);
        protocol::encode(reply, protocol::PasswordMessage{pw});
        break;
      }
      case protocol::AuthCode::sasl: {
        bool has_scram = false;
        for (auto m : auth.mechanisms) has_scram = has_scram || m == protocol::kScramSha256;
        if (!has_scram) {
          err.message = "server offers no SASL mechanism pgscale speaks (SCRAM-SHA-256)";
          co_return false;
        }
        scram = make_scram_client(creds);
        std::string first;
        if (!scram || scram->client_first(first) != protocol::Errc::ok) {
          err.message = "server asks for SCRAM; no password or pass-through key for user " + spec.user;
          co_return false;
        }
        protocol::encode(reply, protocol::SaslInitialResponse{protocol::kScramSha256, true, first});
        break;
      }
      case protocol::AuthCode::sasl_continue: {
        std::string final_msg;
        auto rc = scram ? scram->handle_server_first(auth.data, final_msg) : protocol::Errc::invalid_state;
        if (rc != protocol::Errc::ok) {
          err.message = rc == protocol::Errc::key_mismatch
                            ? "SCRAM pass-through impossible: the server's verifier differs from pgscale's "
                              "(salt or iterations); copy pg_authid.rolpassword into the YAML or set server_password"
                            : "SCRAM exchange with the server failed: " + std::string(protocol::errc_name(rc));
          co_return false;
        }
        protocol::encode(reply, protocol::SaslResponse{final_msg});
        break;
      }
      case protocol::AuthCode::sasl_final:
        if (!scram || scram->handle_server_final(auth.data) != protocol::Errc::ok) {
          err.message = "server's SCRAM signature did not verify";
          co_return false;
        }
        continue;  // AuthenticationOk follows
      default:
        err.message = "server asks for an authentication method pgscale does not support";
        co_return false;
    }
    if (!co_await send(reply, err)) co_return false;
  }
  err.message = "authentication did not finish";
  co_return false;
}

asio::awaitable<bool> ServerConn::read_until_ready(ConnectError& err) {
  for (int i = 0; i < 1000; ++i) {  // PostgreSQL sends ~15 ParameterStatus; bound anyway
    char tag = 0;
    std::string body;
    if (!co_await read_message(tag, body, err)) co_return false;
    if (tag == protocol::btag::parameter_status) {
      protocol::ParameterStatus ps;
      if (protocol::decode(body, ps) == protocol::Errc::ok) {
        params_.emplace_back(std::string(ps.name), std::string(ps.value));
        if (ps.name == "application_name") set_app_name(ps.value);
      }
    } else if (tag == protocol::btag::backend_key_data) {
      protocol::BackendKeyData k;
      if (protocol::decode(body, k) == protocol::Errc::ok) key_ = {k.process_id, k.secret_key};
    } else if (tag == protocol::btag::ready_for_query) {
      co_return true;
    }
    // NoticeResponse and anything else of the startup phase: nothing to keep.
  }
  err.message = "server sent too many startup messages";
  co_return false;
}

asio::awaitable<bool> ServerConn::read_message(char& tag, std::string& body, ConnectError& err) {
  char header[5];
  error_code ec;
  co_await stream_.read_exact(asio::buffer(header, 5), ec);
  if (ec) {
    err.message = "server closed the connection: " + ec.message();
    co_return false;
  }
  tag = header[0];
  protocol::Reader r(std::string_view(header + 1, 4));
  uint32_t len = r.u32();
  if (len < 4 || len > kMaxStartupReply) {
    err.message = "malformed message from server";
    co_return false;
  }
  body.resize(len - 4);
  if (!body.empty()) co_await stream_.read_exact(asio::buffer(body), ec);
  if (ec) {
    err.message = "server closed the connection: " + ec.message();
    co_return false;
  }
  if (tag == protocol::btag::error_response) {
    err.server_error.assign(header, 5);
    err.server_error += body;
    err.message = "server refused the connection: " + server_error_text(body);
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> ServerConn::send(std::string_view bytes, ConnectError& err) {
  error_code ec;
  co_await stream_.write_all(bytes, ec);
  if (ec) err.message = "write to server failed: " + ec.message();
  co_return !ec;
}

asio::awaitable<bool> ServerConn::reset(std::string_view sql, std::chrono::milliseconds timeout) {
  auto r = co_await query(sql, timeout);
  co_return r.has_value() && idle_;
}

void ServerConn::set_app_name(std::string_view v) {
  app_name_.assign(v);
  auto it = std::lower_bound(settings_.begin(), settings_.end(), std::string_view("application_name"),
                             [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it == settings_.end() || it->first != "application_name") {
    it = settings_.insert(it, {"application_name", std::string()});
  }
  it->second.assign(v);
}

asio::awaitable<bool> ServerConn::read_reply(char& tag, std::string& body) {
  char header[5];
  error_code ec;
  co_await stream_.read_exact(asio::buffer(header, 5), ec);
  if (ec) co_return false;
  tag = header[0];
  protocol::Reader r(std::string_view(header + 1, 4));
  const uint32_t len = r.u32();
  if (len < 4 || len > kMaxQueryReply) co_return false;
  body.resize(len - 4);
  if (!body.empty()) co_await stream_.read_exact(asio::buffer(body), ec);
  co_return !ec;
}

bool ServerConn::on_query_message(char tag, std::string_view body, QueryResult& out, bool& failed) {
  using Row = std::vector<std::optional<std::string>>;
  switch (tag) {
    case protocol::btag::row_description: {
      protocol::RowDescription rd;
      return protocol::decode(body, rd) == protocol::Errc::ok;
    }
    case protocol::btag::data_row: {
      protocol::DataRow dr;
      if (protocol::decode(body, dr) != protocol::Errc::ok) return false;
      Row row;
      row.reserve(dr.values.size());
      for (const auto& v : dr.values) row.push_back(v ? std::optional<std::string>(*v) : std::nullopt);
      current_rows_.push_back(std::move(row));
      return true;
    }
    case protocol::btag::command_complete:
      out.sets.push_back(std::exchange(current_rows_, {}));
      return true;
    case protocol::btag::empty_query_response:
      return true;
    case protocol::btag::error_response: {
      protocol::ErrorFields e;
      failed = true;
      if (protocol::decode(body, e) == protocol::Errc::ok) {
        spdlog::debug("{}: internal query failed: {} ({})", describe(), e.message(), e.sqlstate());
      }
      return true;
    }
    case protocol::btag::parameter_status: {
      protocol::ParameterStatus ps;
      if (protocol::decode(body, ps) == protocol::Errc::ok && ps.name == "application_name") {
        set_app_name(ps.value);
      }
      return true;
    }
    case protocol::btag::notice_response:
      return true;
    case protocol::btag::notification_response: {
      size_t at = protocol::begin_message(notifications_, tag);
      notifications_.append(body);
      protocol::end_message(notifications_, at);
      return true;
    }
    default:  // COPY, extended-protocol replies...: not a reply to pgscale's own simple query
      return false;
  }
}

asio::awaitable<std::optional<QueryResult>> ServerConn::query(std::string_view sql,
                                                              std::chrono::milliseconds timeout) {
  idle_ = false;
  current_rows_.clear();
  std::string q;
  protocol::encode(q, protocol::Query{sql});
  Deadline deadline(stream_.socket().get_executor());
  deadline.arm(timeout, [this] { stream_.cancel(); });
  ConnectError err;
  bool ok = co_await send(q, err);
  QueryResult out;
  bool failed = false;
  // Bounded: a reply is a few messages per statement plus one per row.
  for (int i = 0; ok && i < kMaxQueryMessages; ++i) {
    char tag = 0;
    std::string body;
    ok = co_await read_reply(tag, body);
    if (ok && tag == protocol::btag::ready_for_query) {
      protocol::ReadyForQuery rfq;
      ok = protocol::decode(body, rfq) == protocol::Errc::ok;
      idle_ = ok && rfq.status == protocol::TxStatus::idle;
      break;
    }
    if (ok) ok = on_query_message(tag, body, out, failed);
  }
  deadline.disarm();
  current_rows_.clear();
  if (!ok || !idle_) {
    idle_ = false;  // mid-reply or in a transaction block: the connection is not reusable
    spdlog::debug("{}: internal query did not complete{}", describe(),
                  deadline.expired() ? " (timeout)" : "");
    co_return std::nullopt;
  }
  if (failed) co_return std::nullopt;
  co_return out;
}

}  // namespace pgscale::proxy

#pragma once
// One connection from pgscale to a PostgreSQL node: TCP (+ optional TLS), StartupMessage,
// authentication as the client's user, then the ParameterStatus set and BackendKeyData the
// server sent (kept for greeting clients and for forwarding cancels).
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "config/config.hpp"
#include "protocol/scram.hpp"
#include "proxy/cancel.hpp"
#include "proxy/prepared.hpp"
#include "proxy/session_state.hpp"
#include "proxy/session.hpp"
#include "proxy/stream.hpp"

namespace pgscale::proxy {

using Params = std::vector<std::pair<std::string, std::string>>;

// SCRAM pass-through material: the client proved it knows ClientKey for this verifier, so pgscale
// can answer the server's SCRAM challenge without the password (same salt and iteration count).
struct ScramPassThrough {
  protocol::scram::Key client_key{};
  protocol::scram::Verifier verifier;  // salt, iterations and ServerKey the server must match
};

struct ServerCredentials {
  std::string password;  // plaintext, or "md5<hex>" (only usable for md5 auth); may be empty
  std::optional<ScramPassThrough> scram;
};

struct ServerSpec {
  std::string node_name;
  std::string host;
  uint16_t port = 5432;
  std::string user;
  std::string database;
  Params params;  // startup parameters besides user/database
  config::ServerTlsMode tls = config::ServerTlsMode::disable;
  std::chrono::milliseconds connect_timeout{5000};
};

// Why a connect failed. When the server itself refused (bad database, auth), `server_error`
// holds its raw ErrorResponse frame so the client sees PostgreSQL's own words and SQLSTATE.
struct ConnectError {
  std::string message;
  std::string server_error;
};

class ServerConn {
 public:
  ServerConn(StreamSocket socket, std::string node_name, std::string host, uint16_t port);

  static asio::awaitable<std::shared_ptr<ServerConn>> connect(asio::any_io_executor ex,
                                                              const ServerSpec& spec,
                                                              const ServerCredentials& creds,
                                                              asio::ssl::context& tls_ctx,
                                                              ConnectError& err);

  Stream& stream() noexcept { return stream_; }
  const Params& parameters() const noexcept { return params_; }
  CancelKey backend_key() const noexcept { return key_; }
  CancelTarget cancel_target() const { return {host_, port_, key_}; }
  const std::string& node_name() const noexcept { return node_name_; }
  // application_name the server runs with now (it is not part of the pool key; see session.hpp).
  const std::string& app_name() const noexcept { return app_name_; }
  // Also keeps settings()'s application_name entry equal (it is always there, see below).
  void set_app_name(std::string_view v);
  std::string describe() const;  // "node s0-primary (127.0.0.1:5432) pid 1234" for logs

  // Ends the connection and returns once the server closed its end, i.e. its backend is gone, or
  // after `limit`: a pool frees the slot only then, so the server never runs more of the pool's
  // backends than max_size. An open connection gets Terminate; one its session already closed
  // has sent FIN (Stream::close keeps the descriptor) and its backend exits when it reads the
  // EOF — after the statement it may still be running, which a CancelRequest cuts short.
  asio::awaitable<void> shut_down(std::chrono::milliseconds limit);

  // Runs `sql` (pool.reset_query) on an idle connection; true when it completed with
  // ReadyForQuery 'I' and no error, i.e. the connection may be reused.
  asio::awaitable<bool> reset(std::string_view sql, std::chrono::milliseconds timeout);

  // Runs a simple query on an idle connection and reads every result until ReadyForQuery.
  // nullopt on ErrorResponse, timeout or I/O error; idle() then says whether the connection still
  // reached ReadyForQuery 'I' (an ErrorResponse does; a timeout or I/O error does not) and may be
  // reused. Used for pgscale's own queries (session-state inspect and replay), never for clients.
  asio::awaitable<std::optional<QueryResult>> query(std::string_view sql, std::chrono::milliseconds timeout);
  // True when the last query()/reset() ended with ReadyForQuery 'I' (fresh connections: true).
  bool idle() const noexcept { return idle_; }
  // NotificationResponse frames (raw, whole) that arrived during query()/reset(): a LISTENing
  // client must still get them. Cleared by the call.
  std::string take_notifications() { return std::exchange(notifications_, {}); }

  // Session state this connection carries from one client to the next (issue 4).
  ServerStatements& statements() noexcept { return statements_; }  // prepared under pgscale's names
  // SET beyond startup parameters, as SessionState::apply_inspect reports them; from connect on
  // it holds application_name (what the server reported), which is not part of the pool key.
  Settings& settings() noexcept { return settings_; }

  Clock::time_point created() const noexcept { return created_; }
  Clock::time_point last_used() const noexcept { return last_used_; }
  void touch() noexcept { last_used_ = Clock::now(); }
  // The worker whose io_context this socket is registered with (checkout prefers the same).
  asio::any_io_executor home() const { return home_; }

 private:
  asio::awaitable<bool> negotiate_tls(config::ServerTlsMode mode, asio::ssl::context& ctx, ConnectError& err);
  asio::awaitable<bool> authenticate(const ServerSpec& spec, const ServerCredentials& creds,
                                     ConnectError& err);
  asio::awaitable<bool> read_until_ready(ConnectError& err);
  // Reads one whole message (startup phase only; the relay path never uses this).
  asio::awaitable<bool> read_message(char& tag, std::string& body, ConnectError& err);
  asio::awaitable<bool> send(std::string_view bytes, ConnectError& err);
  // Reads one whole message of any kind (ErrorResponse included) for query(); false on I/O error.
  asio::awaitable<bool> read_reply(char& tag, std::string& body);
  // Handles one message of a query() reply; false when it is not a legal reply message.
  bool on_query_message(char tag, std::string_view body, QueryResult& out, bool& failed);

  Stream stream_;
  std::string node_name_;
  std::string host_;
  uint16_t port_;
  Params params_;
  std::string app_name_;
  CancelKey key_;
  Clock::time_point created_;
  Clock::time_point last_used_;
  asio::any_io_executor home_;
  ServerStatements statements_;
  Settings settings_;
  bool idle_ = true;
  std::vector<std::vector<std::optional<std::string>>> current_rows_;  // query(): set being read
  std::string notifications_;
};

}  // namespace pgscale::proxy

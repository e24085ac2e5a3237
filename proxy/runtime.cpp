#include "proxy/runtime.hpp"

namespace pgscale::proxy {

Runtime::Runtime(std::shared_ptr<const config::Config> cfg)
    : cfg_(std::move(cfg)), server_tls_(asio::ssl::context::tls_client), pools_(server_tls_) {
  // pool.server_tls encrypts; it does not authenticate the server (like sslmode=require).
  server_tls_.set_verify_mode(asio::ssl::verify_none);
}

void Runtime::set_config(std::shared_ptr<const config::Config> cfg) {
  pools_.apply(*cfg);
  cfg_.store(std::move(cfg));
}

bool Runtime::load_client_tls(const config::TlsConfig& tls, std::string& error) {
  if (tls.mode == config::TlsMode::disable) {
    client_tls_.store(nullptr);
    return true;
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  error_code ec;
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (!ec) ctx->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec);
  if (ec) {
    error = "cannot load TLS certificate/key (" + tls.cert_file + ", " + tls.key_file + "): " + ec.message();
    return false;
  }
  client_tls_.store(std::move(ctx));
  return true;
}

Runtime::SessionList::iterator Runtime::add_session(std::weak_ptr<ClientSession> s) {
  std::lock_guard lk(sessions_mu_);
  return sessions_.insert(sessions_.end(), std::move(s));
}

void Runtime::remove_session(SessionList::iterator it) {
  std::lock_guard lk(sessions_mu_);
  sessions_.erase(it);
}

void Runtime::for_each_session(const std::function<void(const std::shared_ptr<ClientSession>&)>& fn) {
  std::vector<std::shared_ptr<ClientSession>> live;
  {
    std::lock_guard lk(sessions_mu_);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) fn(s);
}

size_t Runtime::session_count() const {
  std::lock_guard lk(sessions_mu_);
  return sessions_.size();
}

}  // namespace pgscale::proxy

#include "proxy/runtime.hpp"

#include "proxy/client_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "proxy/monitor.hpp"

namespace pgscale::proxy {

Runtime::Runtime(std::shared_ptr<const config::Config> cfg)
    : cfg_(cfg),
      server_tls_(asio::ssl::context::tls_client),
      pools_(server_tls_),
      classifier_({}, cfg->routing.classifier_cache_size) {
  // pool.server_tls encrypts; it does not authenticate the server (like sslmode=require).
  server_tls_.set_verify_mode(asio::ssl::verify_none);
  apply_classifier_context(*cfg);
}

Runtime::~Runtime() { reset_monitor(); }

void Runtime::set_config(std::shared_ptr<const config::Config> cfg) {
  pools_.apply(*cfg);
  apply_classifier_context(*cfg);
  if (monitor_running_.load()) monitor_->update_config(*cfg);
  cfg_.store(std::move(cfg));
}

// The catalog the monitor fetched last plus the YAML's read-safe list. A new context clears the
// classifier's cache (results depend on both).
void Runtime::apply_classifier_context(const config::Config& cfg) {
  classifier::ClassifierContext ctx;
  {
    std::lock_guard lk(catalog_mu_);
    ctx.catalog = catalog_;
  }
  for (std::string name : cfg.routing.read_safe_functions) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    ctx.read_safe_functions.insert(std::move(name));
  }
  classifier_.set_context(std::move(ctx));
}

void Runtime::start_monitor(asio::any_io_executor control) {
  if (monitor_) return;
  monitor_ = std::make_unique<Monitor>(control, *config(), topology_);
  monitor_->set_function_catalog_sink([this](std::shared_ptr<const classifier::FunctionCatalog> catalog) {
    {
      std::lock_guard lk(catalog_mu_);
      catalog_ = std::move(catalog);
    }
    apply_classifier_context(*config());
    spdlog::debug("function catalog updated; classifier cache cleared");
  });
  monitor_->start();
  monitor_running_.store(true);
}

asio::awaitable<void> Runtime::stop_monitor() {
  if (!monitor_ || !monitor_running_.exchange(false)) co_return;
  co_await monitor_->stop();
}

void Runtime::reset_monitor() {
  monitor_running_.store(false);
  monitor_.reset();
}

void Runtime::report_failure(std::string_view node) {
  if (monitor_running_.load()) monitor_->report_failure(node);
}

void Runtime::check_now() {
  if (monitor_running_.load()) monitor_->check_now();
}

void Runtime::refresh_function_catalog() {
  if (monitor_running_.load()) monitor_->refresh_function_catalog();
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

void Runtime::add_session(ClientSession& s) {
  std::lock_guard lk(sessions_mu_);
  SessionLink& l = s.registry_link();
  l.prev = nullptr;
  l.next = sessions_head_;
  if (sessions_head_) sessions_head_->registry_link().prev = &s;
  sessions_head_ = &s;
  ++sessions_count_;
}

void Runtime::remove_session(ClientSession& s) {
  std::lock_guard lk(sessions_mu_);
  SessionLink& l = s.registry_link();
  if (!l.prev && sessions_head_ != &s) return;
  (l.prev ? l.prev->registry_link().next : sessions_head_) = l.next;
  if (l.next) l.next->registry_link().prev = l.prev;
  l = {};
  --sessions_count_;
}

void Runtime::for_each_session(const std::function<void(const std::shared_ptr<ClientSession>&)>& fn) {
  std::vector<std::shared_ptr<ClientSession>> live;
  {
    std::lock_guard lk(sessions_mu_);
    live.reserve(sessions_count_);
    for (ClientSession* s = sessions_head_; s; s = s->registry_link().next) {
      if (auto p = s->weak_from_this().lock()) live.push_back(std::move(p));  // null while being destroyed
    }
  }
  for (auto& s : live) fn(s);
}

size_t Runtime::session_count() const {
  std::lock_guard lk(sessions_mu_);
  return sessions_count_;
}

}  // namespace pgscale::proxy

#include "proxy/monitor.hpp"
#include "proxy/monitor_state.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

namespace pgscale {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

SteadyClock::time_point now() { return SteadyClock::now(); }

}  // namespace

Monitor::Monitor(asio::any_io_executor executor, const config::Config& config, TopologyStore& store)
    : strand_(asio::make_strand(executor)),
      store_(store),
      wake_timer_(strand_),
      finished_timer_(strand_, SteadyClock::time_point::max()) {
  apply_config(config);
}

Monitor::~Monitor() {
  if (!finished_) {
    // The loop would touch a destroyed object: a programming error, not a runtime condition.
    spdlog::critical("monitor destroyed while running; call stop() and wait for it first");
    std::terminate();
  }
}

void Monitor::start() {
  asio::dispatch(strand_, [this] {
    if (started_) return;
    started_ = true;
    finished_ = false;
    asio::co_spawn(strand_, run(), asio::bind_executor(strand_, [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("monitor loop ended: {}", ex.what());
        }
      }
      finished_ = true;
      finished_timer_.cancel();
    }));
  });
}

asio::awaitable<void> Monitor::stop_on_strand() {
  stopping_ = true;
  wake_timer_.cancel();
  for (auto& shard : shards_)
    for (auto& node : shard->nodes)
      if (node->conn) node->conn->cancel();
  if (catalog_conn_) catalog_conn_->cancel();
  while (!finished_) co_await finished_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> Monitor::stop() {
  co_await asio::co_spawn(strand_, stop_on_strand(), asio::use_awaitable);
}

void Monitor::stop(std::function<void()> on_stopped) {
  asio::co_spawn(strand_, stop_on_strand(),
                 [done = std::move(on_stopped)](std::exception_ptr) { if (done) done(); });
}

void Monitor::update_config(const config::Config& config) {
  asio::post(strand_, [this, config] {
    pending_config_ = config;
    catalog_need_ = CatalogNeed::forced;
    wake_timer_.cancel();
  });
}

void Monitor::check_now() {
  asio::post(strand_, [this] {
    round_requested_ = true;  // also when a round is running: its samples may predate the call
    wake_timer_.cancel();
  });
}

void Monitor::set_function_catalog_sink(CatalogSink sink) {
  asio::post(strand_, [this, sink = std::move(sink)]() mutable {
    catalog_sink_ = std::move(sink);
    catalog_need_ = CatalogNeed::forced;
    wake_timer_.cancel();
  });
}

void Monitor::refresh_function_catalog() {
  asio::post(strand_, [this] {
    if (catalog_need_ != CatalogNeed::none) return;
    catalog_need_ = CatalogNeed::requested;
    wake_timer_.cancel();
  });
}

Monitor::NodeRuntime* Monitor::find(std::string_view node_name) {
  for (auto& shard : shards_)
    for (auto& node : shard->nodes)
      if (node->state.config.name == node_name) return node.get();
  return nullptr;
}

void Monitor::report_failure(std::string_view node_name) {
  asio::post(strand_, [this, name = std::string(node_name)] {
    NodeRuntime* node = find(name);
    if (node == nullptr || stopping_) return;
    if (node->state.observed_role == ObservedRole::primary) {
      spdlog::warn("monitor: failure reported for {}, observed primary: not banned", name);
      return;
    }
    const bool was_banned = node->state.is_banned();
    node->state.banned_until = now() + settings_.ban_time;
    if (!was_banned) spdlog::warn("monitor: {} banned for {} ms after a reported failure", name, settings_.ban_time.count());
    publish();
  });
}

void Monitor::set_fenced(std::string_view node_name, bool fenced) {
  asio::post(strand_, [this, name = std::string(node_name), fenced] {
    NodeRuntime* node = find(name);
    if (node == nullptr || node->state.fenced == fenced) return;
    node->state.fenced = fenced;
    spdlog::warn("monitor: {} {}", name, fenced ? "fenced" : "unfenced");
    publish();
  });
}

PqParams Monitor::extra_params() const {
  const char* sslmode = server_tls_ == config::ServerTlsMode::require  ? "require"
                        : server_tls_ == config::ServerTlsMode::prefer ? "prefer"
                                                                       : "disable";
  return {{"user", settings_.user},
          {"password", settings_.password},
          {"dbname", settings_.database},
          {"application_name", "pgscale-monitor"},
          {"sslmode", sslmode},
          // GSS credential discovery can block; pgscale never uses GSSAPI.
          {"gssencmode", "disable"},
          // The server gives up too when we do, so a stuck check never piles up on the node.
          {"options", "-c statement_timeout=" + std::to_string(settings_.timeout.count())}};
}

}  // namespace pgscale

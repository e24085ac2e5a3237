#include "monitor_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <future>

namespace pgscale::test {

const Cluster& Cluster::instance() {
  static const Cluster cluster = [] {
    Cluster c;
    const char* dir = std::getenv("PGSCALE_CLUSTER_DIR");
    REQUIRE(dir != nullptr);
    std::ifstream in(std::string(dir) + "/cluster.env");
    REQUIRE(in.good());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto eq = line.find('=');
      if (eq != std::string::npos) c.env[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return c;
  }();
  return cluster;
}

std::string Cluster::get(const std::string& key) const {
  auto it = env.find(key);
  INFO("cluster.env key " << key);
  REQUIRE(it != env.end());
  return it->second;
}

uint16_t Cluster::port(const std::string& key) const { return static_cast<uint16_t>(std::stoi(get(key))); }

config::Config cluster_config() {
  const auto& c = Cluster::instance();
  config::Config cfg;
  cfg.monitor.user = c.get("PGSCALE_MONITOR_USER");
  cfg.monitor.password = c.get("PGSCALE_MONITOR_PASSWORD");
  cfg.monitor.database = "postgres";
  cfg.monitor.interval = std::chrono::milliseconds{100};
  cfg.monitor.timeout = std::chrono::milliseconds{2000};
  cfg.monitor.failure_threshold = 3;
  cfg.monitor.ban_time = std::chrono::milliseconds{300};
  cfg.pool.server_tls = config::ServerTlsMode::require;  // the nodes run ssl=on: TLS in the poll loop
  auto node = [&](std::string name, const char* key, config::NodeRole role) {
    config::NodeConfig n;
    n.name = std::move(name);
    n.host = "127.0.0.1";
    n.port = c.port(key);
    n.role = role;
    return n;
  };
  using config::NodeRole;
  cfg.shards.push_back({"s0", {{0, 511}},
                        {node("s0-primary", "PGSCALE_S0_PRIMARY_PORT", NodeRole::primary),
                         node("s0-replica1", "PGSCALE_S0_REPLICA1_PORT", NodeRole::replica),
                         node("s0-replica2", "PGSCALE_S0_REPLICA2_PORT", NodeRole::replica)}});
  cfg.shards.push_back({"s1", {{512, 1023}},
                        {node("s1-primary", "PGSCALE_S1_PRIMARY_PORT", NodeRole::primary),
                         node("s1-replica1", "PGSCALE_S1_REPLICA1_PORT", NodeRole::replica)}});
  return cfg;
}

std::string sql(uint16_t port, const std::string& statement) {
  const auto& c = Cluster::instance();
  const std::string conninfo = "host=" + c.get("PGSCALE_SOCKET_DIR") + " port=" + std::to_string(port) +
                               " user=postgres dbname=postgres connect_timeout=10";
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  INFO("connect to " << port << ": " << PQerrorMessage(conn.get()));
  REQUIRE(PQstatus(conn.get()) == CONNECTION_OK);
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn.get(), statement.c_str()), &PQclear);
  const auto st = PQresultStatus(res.get());
  INFO(statement << ": " << PQresultErrorMessage(res.get()));
  REQUIRE((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK));
  if (st == PGRES_TUPLES_OK && PQntuples(res.get()) > 0) return PQgetvalue(res.get(), 0, 0);
  return "";
}

std::shared_ptr<const Topology> wait_for(const TopologyStore& store,
                                         const std::function<bool(const Topology&)>& pred,
                                         std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto snapshot = store.current();
    if (pred(*snapshot)) return snapshot;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return nullptr;
}

MonitorRunner::MonitorRunner(const config::Config& config) {
  work_.emplace(io_.get_executor());
  monitor_ = std::make_unique<Monitor>(io_.get_executor(), config, store_);
  monitor_->start();
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
}

MonitorRunner::~MonitorRunner() {
  std::promise<void> stopped;
  monitor_->stop([&stopped] { stopped.set_value(); });
  stopped.get_future().wait();
  monitor_.reset();
  work_.reset();
  for (auto& t : threads_) t.join();
}

uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);  // never listened: connecting is refused
  return ntohs(addr.sin_port);
}

int pg_ctl(const std::string& node, const std::string& action) {
  const auto& c = Cluster::instance();
  const std::string bin = c.get("PGSCALE_PG_BIN") + "/pg_ctl";
  const std::string data = c.dir() + "/data/" + node;
  std::string cmd = bin + " -D '" + data + "' -w -t 60 ";
  if (action == "start") cmd += "-l '" + c.dir() + "/logs/" + node + ".startup.log' start";
  else cmd += "-m fast stop";
  if (::geteuid() == 0) cmd = "cd / && runuser -u postgres -- " + cmd;
  cmd += " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

}  // namespace pgscale::test

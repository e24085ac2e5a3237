// The admin HTTP routing table and the Prometheus text it serves; the text is checked by Prometheus'
// own promtool (package `prometheus`, installed by deploy/install-deps.sh).
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include <boost/asio/io_context.hpp>

#include "proxy/admin_http.hpp"
#include "proxy/metrics.hpp"

using namespace pgscale::proxy;

namespace {
// Runs `promtool check metrics` on `text`; returns its exit status and output.
int promtool_check(const std::string& text, std::string& output) {
  std::string path = "/tmp/pgscale-metrics-test-" + std::to_string(::getpid()) + ".txt";
  { std::ofstream(path) << text; }
  std::string cmd = "promtool check metrics < " + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) output += buf;
  int rc = ::pclose(p);
  std::remove(path.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::shared_ptr<const pgscale::config::Config> one_node_config() {
  pgscale::config::Config cfg;
  pgscale::config::ShardConfig shard;
  shard.name = "s0";
  pgscale::config::NodeConfig node;
  node.name = "s0-\"primary\"";  // a quote must come out escaped
  node.host = "127.0.0.1";
  node.port = 5432;
  shard.nodes.push_back(node);
  cfg.shards.push_back(shard);
  return std::make_shared<const pgscale::config::Config>(cfg);
}
}  // namespace

TEST_CASE("MetricsWriter writes HELP/TYPE once and escapes label values", "[admin]") {
  MetricsWriter w;
  w.family("pgscale_x_total", MetricsWriter::Type::counter, "A help text with \\ and\nnewline.");
  w.sample({{"a", "q\"u\\o\nte"}}, 3);
  w.sample({{"a", "b"}}, 0.5);
  CHECK(w.text() ==
        "# HELP pgscale_x_total A help text with \\\\ and\\nnewline.\n"
        "# TYPE pgscale_x_total counter\n"
        "pgscale_x_total{a=\"q\\\"u\\\\o\\nte\"} 3\n"
        "pgscale_x_total{a=\"b\"} 0.5\n");
  std::string out;
  CHECK(promtool_check(w.text(), out) == 0);
  INFO(out);
}

TEST_CASE("MetricsWriter values: integers, fractions, NaN and infinities", "[admin]") {
  std::string s;
  MetricsWriter::append_value(s, 42);
  s += ' ';
  MetricsWriter::append_value(s, -1.25);
  s += ' ';
  MetricsWriter::append_value(s, 0.0 / 0.0);
  s += ' ';
  MetricsWriter::append_value(s, 1.0 / 0.0);
  CHECK(s == "42 -1.25 NaN +Inf");
}

TEST_CASE("admin routes: /metrics passes promtool, /health, /status, 404", "[admin]") {
  Runtime rt(one_node_config());
  ServerSpec spec{"s0-\"primary\"", "127.0.0.1", 5432, "app", "appdb", {}, {}, std::chrono::milliseconds(100)};
  rt.pools().get(spec, PoolLimits{});
  boost::asio::io_context ctx;
  AdminHttp admin(ctx, rt);

  auto m = admin.handle("/metrics");
  CHECK(m.status == 200);
  CHECK(m.content_type.find("version=0.0.4") != std::string::npos);
  CHECK(m.body.find("pgscale_pool_server_connections{node=\"s0-\\\"primary\\\"\",database=\"appdb\",user=\"app\"} 0") !=
        std::string::npos);
  CHECK(m.body.find("pgscale_client_connections 0") != std::string::npos);
  CHECK(m.body.find("pgscale_pins_total{reason=\"temp_table\"} 0") != std::string::npos);
  std::string out;
  CHECK(promtool_check(m.body, out) == 0);
  INFO(out);

  CHECK(admin.handle("/health").status == 200);
  rt.draining.store(true);
  CHECK(admin.handle("/health").status == 503);

  auto st = admin.handle("/status?x=1");
  CHECK(st.status == 200);
  CHECK(st.body.find(R"("node":"s0-\"primary\"","database":"appdb","user":"app","size":0)") != std::string::npos);
  CHECK(admin.handle("/nope").status == 404);
}

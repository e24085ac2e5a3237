#include "tests/clients/client_env.hpp"

#include <poll.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace pgscale::testing {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

std::string unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

// libpq conninfo value quoting: single quotes, backslash-escaped.
std::string quote(const std::string& v) {
  std::string out = "'";
  for (char ch : v) {
    if (ch == '\'' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "'";
}

ClusterEnv load_cluster_env() {
  ClusterEnv env;
  const std::string dir = env_or("PGSCALE_CLUSTER_DIR", "");
  std::ifstream in(dir + "/cluster.env");
  if (!in) FAIL("cannot read " << dir << "/cluster.env");
  // KEY=VALUE tokens, possibly several per line, '#' comments.
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream tokens(line);
    std::string tok;
    while (tokens >> tok) {
      if (tok == "export") continue;
      auto eq = tok.find('=');
      if (eq == std::string::npos) continue;
      env.vars[tok.substr(0, eq)] = unquote(tok.substr(eq + 1));
    }
  }
  return env;
}

}  // namespace

std::string ClusterEnv::get(const std::string& key) const {
  auto it = vars.find(key);
  if (it == vars.end()) FAIL("cluster.env has no " << key);
  return it->second;
}

const ClusterEnv& cluster() {
  static const ClusterEnv env = load_cluster_env();
  return env;
}

const Target& target() {
  static const Target t = [] {
    Target r;
    r.host = env_or("PGSCALE_TEST_HOST", "127.0.0.1");
    const std::string port = env_or("PGSCALE_TEST_PORT", "");
    r.port = std::stoi(port.empty() ? cluster().get("PGSCALE_S0_PRIMARY_PORT") : port);
    r.is_pgscale = env_or("PGSCALE_TEST_TARGET", port.empty() ? "direct" : "pgscale") == "pgscale";
    r.pgscale_pid = std::stol(env_or("PGSCALE_TEST_PID", "0"));
    r.pool_max = std::stoi(env_or("PGSCALE_TEST_POOL_MAX", "0"));
    return r;
  }();
  return t;
}

std::string target_conninfo(const std::string& extra) {
  const auto& c = cluster();
  return "host=" + target().host + " port=" + std::to_string(target().port) +
         " user=" + quote(c.get("PGSCALE_APP_USER")) + " dbname=" + quote(c.get("PGSCALE_APP_DB")) +
         " password=" + quote(c.get("PGSCALE_APP_PASSWORD")) + " sslmode=disable connect_timeout=10 " + extra;
}

std::string direct_conninfo(const std::string& extra) {
  const auto& c = cluster();
  return "host=127.0.0.1 port=" + c.get("PGSCALE_S0_PRIMARY_PORT") + " user=" + quote(c.get("PGSCALE_APP_USER")) +
         " dbname=" + quote(c.get("PGSCALE_APP_DB")) + " password=" + quote(c.get("PGSCALE_APP_PASSWORD")) +
         " sslmode=disable connect_timeout=10 " + extra;
}

std::string super_conninfo(const std::string& dbname) {
  const auto& c = cluster();
  const auto sockets = c.vars.count("PGSCALE_SOCKET_DIR") ? c.get("PGSCALE_SOCKET_DIR")
                                                           : c.get("PGSCALE_CLUSTER_DIR") + "/run";
  return "host=" + quote(sockets) + " port=" + c.get("PGSCALE_S0_PRIMARY_PORT") + " user=postgres dbname=" +
         quote(dbname) + " connect_timeout=10";
}

Conn connect(const std::string& conninfo) { return Conn(PQconnectdb(conninfo.c_str())); }

ConnectOutcome connect_verbose(const std::string& conninfo, std::chrono::milliseconds limit) {
  ConnectOutcome out;
  Conn conn(PQconnectStart(conninfo.c_str()));
  if (!conn) return out;
  PQsetErrorVerbosity(conn.get(), PQERRORS_VERBOSE);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED && PQstatus(conn.get()) != CONNECTION_BAD) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.message = "timed out connecting";
      return out;
    }
    pollfd p{PQsocket(conn.get()), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    if (p.fd >= 0) ::poll(&p, 1, static_cast<int>(left.count()));
    st = PQconnectPoll(conn.get());
  }
  out.ok = PQstatus(conn.get()) == CONNECTION_OK;
  out.message = PQerrorMessage(conn.get());
  std::smatch m;
  static const std::regex state_re("(FATAL|ERROR):  ([0-9A-Z]{5}):");
  if (std::regex_search(out.message, m, state_re)) out.sqlstate = m[2];
  return out;
}

Result exec(PGconn* c, const std::string& sql) { return Result(PQexec(c, sql.c_str())); }

std::string sqlstate(const PGresult* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

std::string error_primary(const PGresult* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return s ? s : "";
}

std::string scalar(PGconn* c, const std::string& sql) {
  Result r = exec(c, sql);
  if (!r) return std::string("<no result: ") + PQerrorMessage(c) + ">";
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) < 1) {
    return "<error " + sqlstate(r.get()) + ": " + PQresultErrorMessage(r.get()) + ">";
  }
  return PQgetisnull(r.get(), 0, 0) ? "<null>" : PQgetvalue(r.get(), 0, 0);
}

int server_connections(const std::string& marker, const std::string& state) {
  Conn su = connect(super_conninfo());
  REQUIRE(PQstatus(su.get()) == CONNECTION_OK);
  std::string sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = '" +
                    cluster().get("PGSCALE_APP_USER") + "'";
  if (!marker.empty()) sql += " AND strpos(query, '" + marker + "') > 0";
  if (!state.empty()) sql += " AND state = '" + state + "'";
  const std::string v = scalar(su.get(), sql);
  INFO("server_connections: " << v);
  REQUIRE(v.find('<') == std::string::npos);
  return std::stoi(v);
}

bool pgscale_alive() {
  if (target().pgscale_pid <= 0) return true;  // not known: the shell wrapper checks it
  return ::kill(static_cast<pid_t>(target().pgscale_pid), 0) == 0;
}

std::string describe_target() {
  return std::string(target().is_pgscale ? "pgscale" : "PostgreSQL directly") + " at " + target().host + ":" +
         std::to_string(target().port);
}

}  // namespace pgscale::testing

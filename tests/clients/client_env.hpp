// Shared helpers of the client test programs: where the target is, libpq RAII and small queries.
//
// The target is chosen by the environment so the very same assertions run against PostgreSQL
// directly (to validate them) and against pgscale:
//   PGSCALE_TEST_PORT   port of the target; unset = the shard-0 primary itself (target "direct")
//   PGSCALE_TEST_HOST   default 127.0.0.1
//   PGSCALE_TEST_TARGET "pgscale" or "direct" (default: "pgscale" when PGSCALE_TEST_PORT is set)
//   PGSCALE_TEST_PID    pid of the pgscale under test (checked to be alive), optional
//   PGSCALE_TEST_POOL_MAX  pool max_size of that pgscale (bounds its server connections), optional
// Cluster facts (users, passwords, ports, sockets) come from $PGSCALE_CLUSTER_DIR/cluster.env.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace pgscale::testing {

struct ClusterEnv {
  std::map<std::string, std::string> vars;  // every KEY=VALUE of cluster.env
  std::string get(const std::string& key) const;
};

// Parsed once; a missing or unreadable cluster.env fails the calling test.
const ClusterEnv& cluster();

struct Target {
  std::string host;
  int port = 0;
  bool is_pgscale = false;
  long pgscale_pid = 0;  // 0 = unknown
  int pool_max = 0;      // 0 = unknown
};
const Target& target();

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// "host=... port=... user=app dbname=appdb password=... sslmode=disable connect_timeout=10 <extra>";
// later keywords in `extra` override earlier ones (libpq takes the last).
std::string target_conninfo(const std::string& extra = "");
std::string direct_conninfo(const std::string& extra = "");
// Superuser on the shard-0 primary over its unix socket (trust).
std::string super_conninfo(const std::string& dbname = "postgres");

// Connects; on failure the returned Conn is still non-null and PQstatus tells why.
Conn connect(const std::string& conninfo);

struct ConnectOutcome {
  bool ok = false;
  std::string sqlstate;  // of the FATAL the server sent, "" when none
  std::string message;   // libpq's whole error text
};
// Connects with verbose error messages (so a refused connection names its SQLSTATE), bounded.
ConnectOutcome connect_verbose(const std::string& conninfo, std::chrono::milliseconds limit);

Result exec(PGconn* c, const std::string& sql);
std::string sqlstate(const PGresult* r);
std::string error_primary(const PGresult* r);
// Runs a one-value query; returns the value or "<error SQLSTATE: message>" so a test failure shows it.
std::string scalar(PGconn* c, const std::string& sql);
// The number of app-user client connections on the shard-0 primary whose last query contains `marker`
// ("" = every app connection), optionally only in `state`.
int server_connections(const std::string& marker = "", const std::string& state = "");

bool pgscale_alive();
std::string describe_target();

}  // namespace pgscale::testing

// libpq through the target behaves like libpq against PostgreSQL: simple and extended query,
// prepared statements, pipeline mode, COPY both ways, TLS, authentication errors.
// Target: see client_env.hpp (PostgreSQL directly unless PGSCALE_TEST_PORT names a pgscale).
#include <catch2/catch.hpp>
#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/clients/client_env.hpp"

using namespace pgscale::testing;
using namespace std::chrono_literals;

namespace {

Conn must_connect(const std::string& extra = "") {
  Conn c = connect(target_conninfo(extra));
  INFO("target: " << describe_target() << ": " << PQerrorMessage(c.get()));
  REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
  return c;
}

void must_exec(PGconn* c, const std::string& sql) {
  Result r = exec(c, sql);
  INFO(sql << " -> " << PQresultErrorMessage(r.get()));
  REQUIRE((PQresultStatus(r.get()) == PGRES_COMMAND_OK || PQresultStatus(r.get()) == PGRES_TUPLES_OK));
}

}  // namespace

TEST_CASE("PQexec: simple queries, multi-statement strings, errors", "[basic]") {
  Conn c = must_connect();
  CHECK(scalar(c.get(), "SELECT 1") == "1");
  CHECK(scalar(c.get(), "SELECT 'a' || 'b'; SELECT 'last'") == "last");  // PQexec keeps the last result
  Result r = exec(c.get(), "SELECT * FROM libpq_no_such_table");
  CHECK(PQresultStatus(r.get()) == PGRES_FATAL_ERROR);
  CHECK(sqlstate(r.get()) == "42P01");
  CHECK(error_primary(r.get()) == "relation \"libpq_no_such_table\" does not exist");
  CHECK(std::string(PQresultErrorField(r.get(), PG_DIAG_SEVERITY_NONLOCALIZED)) == "ERROR");
  CHECK(std::string(PQresultErrorField(r.get(), PG_DIAG_STATEMENT_POSITION)) == "15");
  r = exec(c.get(), "SELECT 1; SELECT 1/0; SELECT 3");
  CHECK(sqlstate(r.get()) == "22012");
  CHECK(scalar(c.get(), "SELECT 'usable after errors'") == "usable after errors");
}

TEST_CASE("startup: ParameterStatus values and BackendKeyData a client relies on", "[basic]") {
  Conn c = must_connect("application_name=libpq_client_test");
  Conn d = connect(direct_conninfo());
  REQUIRE(PQstatus(d.get()) == CONNECTION_OK);
  for (const char* name : {"server_version", "server_encoding", "client_encoding", "DateStyle", "integer_datetimes",
                           "standard_conforming_strings", "TimeZone", "IntervalStyle"}) {
    const char* via = PQparameterStatus(c.get(), name);
    const char* direct = PQparameterStatus(d.get(), name);
    INFO("ParameterStatus " << name);
    REQUIRE(via != nullptr);
    REQUIRE(direct != nullptr);
    CHECK(std::string(via) == direct);
  }
  CHECK(PQserverVersion(c.get()) == PQserverVersion(d.get()));
  CHECK(PQbackendPID(c.get()) != 0);
  CHECK(PQtransactionStatus(c.get()) == PQTRANS_IDLE);
  CHECK(scalar(c.get(), "SHOW application_name") == "libpq_client_test");
}

TEST_CASE("PQexecParams: text and binary parameters and results, NULLs, many parameters", "[params]") {
  Conn c = must_connect();
  const char* values[2] = {"41", nullptr};
  Result r(PQexecParams(c.get(), "SELECT $1::int + 1, $2::text IS NULL", 2, nullptr, values, nullptr, nullptr, 0));
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "42");
  CHECK(std::string(PQgetvalue(r.get(), 0, 1)) == "t");

  // Binary int4 in, binary int8 out.
  uint32_t be = htonl(123456);
  const char* bin_values[1] = {reinterpret_cast<const char*>(&be)};
  int lengths[1] = {4};
  int formats[1] = {1};
  Oid types[1] = {23};
  r.reset(PQexecParams(c.get(), "SELECT $1::int8 * 2", 1, types, bin_values, lengths, formats, 1));
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  REQUIRE(PQgetlength(r.get(), 0, 0) == 8);
  uint64_t raw = 0;
  std::memcpy(&raw, PQgetvalue(r.get(), 0, 0), 8);
  CHECK(be64toh(raw) == 246912);

  // 500 parameters in one Bind.
  std::string sql = "SELECT 0";
  std::vector<std::string> texts;
  std::vector<const char*> ptrs;
  for (int i = 1; i <= 500; ++i) {
    sql += " + $" + std::to_string(i) + "::int";
    texts.push_back(std::to_string(i));
  }
  for (auto& t : texts) ptrs.push_back(t.c_str());
  r.reset(PQexecParams(c.get(), sql.c_str(), 500, nullptr, ptrs.data(), nullptr, nullptr, 0));
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "125250");

  // An extended-protocol error is relayed and the session recovers at Sync.
  r.reset(PQexecParams(c.get(), "SELECT $1::int", 1, nullptr, values, nullptr, nullptr, 0));
  CHECK(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  const char* bad[1] = {"not a number"};
  r.reset(PQexecParams(c.get(), "SELECT $1::int", 1, nullptr, bad, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "22P02");
  CHECK(scalar(c.get(), "SELECT 'ok after extended error'") == "ok after extended error");
}

TEST_CASE("PQprepare / PQexecPrepared: named statements survive across transactions", "[prepared]") {
  Conn c = must_connect();
  Result r(PQprepare(c.get(), "libpq_s1", "SELECT $1::int * 10 + $2::int", 2, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQdescribePrepared(c.get(), "libpq_s1"));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(PQnparams(r.get()) == 2);
  CHECK(PQnfields(r.get()) == 1);
  for (int i = 0; i < 20; ++i) {
    std::string a = std::to_string(i), b = "7";
    const char* v[2] = {a.c_str(), b.c_str()};
    r.reset(PQexecPrepared(c.get(), "libpq_s1", 2, v, nullptr, nullptr, 0));
    INFO("execution " << i << ": " << PQresultErrorMessage(r.get()));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
    CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == std::to_string(i * 10 + 7));
  }
  r.reset(PQexecPrepared(c.get(), "libpq_never_prepared", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  r.reset(PQprepare(c.get(), "libpq_s1", "SELECT 2", 0, nullptr));
  CHECK(sqlstate(r.get()) == "42P05");  // duplicate prepared statement, as PostgreSQL says
}

TEST_CASE("PQprepare: one statement name, different SQL, on many connections sharing a pool", "[prepared]") {
  // With a transaction pool smaller than the client count, executions land on server connections
  // where other clients prepared the same name with different text: each must get its own.
  constexpr int kClients = 24;
  std::vector<Conn> conns;
  for (int i = 0; i < kClients; ++i) {
    conns.push_back(must_connect());
    const std::string sql = "SELECT $1::int + " + std::to_string(i * 1000);
    Result r(PQprepare(conns.back().get(), "libpq_shared_name", sql.c_str(), 1, nullptr));
    INFO("client " << i << " PQprepare: " << PQresultErrorMessage(r.get()));
    REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  }
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < kClients; ++i) {
      const std::string arg = std::to_string(round);
      const char* v[1] = {arg.c_str()};
      Result r(PQexecPrepared(conns[i].get(), "libpq_shared_name", 1, v, nullptr, nullptr, 0));
      INFO("client " << i << " round " << round << ": " << PQresultErrorMessage(r.get()));
      REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
      CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == std::to_string(i * 1000 + round));
    }
  }
}

TEST_CASE("DEALLOCATE, DEALLOCATE ALL and DISCARD ALL act on protocol-level statements", "[prepared]") {
  Conn c = must_connect();
  Result r(PQprepare(c.get(), "libpq_d1", "SELECT 1", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQprepare(c.get(), "libpq_d2", "SELECT 2", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQexec(c.get(), "DEALLOCATE libpq_d1"));
  CHECK(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(std::string(PQcmdStatus(r.get())) == "DEALLOCATE");
  r.reset(PQexecPrepared(c.get(), "libpq_d1", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  CHECK(error_primary(r.get()) == "prepared statement \"libpq_d1\" does not exist");
  r.reset(PQdescribePrepared(c.get(), "libpq_d1"));
  CHECK(sqlstate(r.get()) == "26000");
  r.reset(PQexecPrepared(c.get(), "libpq_d2", 0, nullptr, nullptr, nullptr, 0));
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "2");
  // The name is free again, for other text.
  r.reset(PQprepare(c.get(), "libpq_d1", "SELECT 11", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQexecPrepared(c.get(), "libpq_d1", 0, nullptr, nullptr, nullptr, 0));
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "11");
  r.reset(PQexec(c.get(), "DEALLOCATE ALL"));
  CHECK(std::string(PQcmdStatus(r.get())) == "DEALLOCATE ALL");
  r.reset(PQexecPrepared(c.get(), "libpq_d2", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  r.reset(PQprepare(c.get(), "libpq_d3", "SELECT 3", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  must_exec(c.get(), "BEGIN");
  r.reset(PQexec(c.get(), "DISCARD ALL"));
  CHECK(sqlstate(r.get()) == "25001");  // DISCARD ALL cannot run inside a transaction block
  must_exec(c.get(), "ROLLBACK");
  r.reset(PQexecPrepared(c.get(), "libpq_d3", 0, nullptr, nullptr, nullptr, 0));
  CHECK(PQresultStatus(r.get()) == PGRES_TUPLES_OK);  // the failed DISCARD ALL dropped nothing
  r.reset(PQexec(c.get(), "DISCARD ALL"));
  CHECK(std::string(PQcmdStatus(r.get())) == "DISCARD ALL");
  r.reset(PQexecPrepared(c.get(), "libpq_d3", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
}

namespace {
// PQexecParams with no parameters: the extended protocol (unnamed Parse, Bind, Describe, Execute, Sync).
Result exec_extended(PGconn* c, const char* sql) {
  return Result(PQexecParams(c, sql, 0, nullptr, nullptr, nullptr, nullptr, 0));
}
}  // namespace

TEST_CASE("DEALLOCATE through the extended protocol drops a protocol-level statement", "[prepared]") {
  Conn c = must_connect();
  Result r(PQprepare(c.get(), "libpq_xd1", "SELECT 1", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r = exec_extended(c.get(), "DEALLOCATE libpq_xd1");
  INFO(PQresultErrorMessage(r.get()));
  CHECK(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(std::string(PQcmdStatus(r.get())) == "DEALLOCATE");
  r.reset(PQexecPrepared(c.get(), "libpq_xd1", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  r = exec_extended(c.get(), "DEALLOCATE libpq_xd1");  // twice: the name is gone
  CHECK(sqlstate(r.get()) == "26000");
  CHECK(error_primary(r.get()) == "prepared statement \"libpq_xd1\" does not exist");
  CHECK(scalar(c.get(), "SELECT 'usable'") == "usable");

  // As a named statement of its own, executed later; inside a block that rolls back (prepared
  // statements are not transactional).
  r.reset(PQprepare(c.get(), "libpq_xd2", "SELECT 2", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQprepare(c.get(), "libpq_xd_run", "DEALLOCATE libpq_xd2", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  must_exec(c.get(), "BEGIN");
  r.reset(PQexecPrepared(c.get(), "libpq_xd_run", 0, nullptr, nullptr, nullptr, 0));
  INFO(PQresultErrorMessage(r.get()));
  CHECK(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(std::string(PQcmdStatus(r.get())) == "DEALLOCATE");
  must_exec(c.get(), "ROLLBACK");
  r.reset(PQexecPrepared(c.get(), "libpq_xd2", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");

  // In a pipeline segment an earlier error skips it: the statement stays.
  r.reset(PQprepare(c.get(), "libpq_xd3", "SELECT 3", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  REQUIRE(PQenterPipelineMode(c.get()) == 1);
  REQUIRE(PQsendQueryParams(c.get(), "SELECT 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
  REQUIRE(PQsendQueryParams(c.get(), "DEALLOCATE libpq_xd3", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
  REQUIRE(PQpipelineSync(c.get()) == 1);
  REQUIRE(PQflush(c.get()) == 0);
  const std::vector<ExecStatusType> expected = {PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED, PGRES_PIPELINE_SYNC};
  for (size_t i = 0; i < expected.size(); ++i) {
    Result p(PQgetResult(c.get()));
    INFO("result " << i << ": " << PQerrorMessage(c.get()));
    REQUIRE(p != nullptr);
    CHECK(PQresultStatus(p.get()) == expected[i]);
    if (expected[i] != PGRES_PIPELINE_SYNC) CHECK(PQgetResult(c.get()) == nullptr);
  }
  REQUIRE(PQexitPipelineMode(c.get()) == 1);
  r.reset(PQexecPrepared(c.get(), "libpq_xd3", 0, nullptr, nullptr, nullptr, 0));
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "3");
}

TEST_CASE("SQL EXECUTE runs a protocol-level statement", "[prepared]") {
  Conn c = must_connect("application_name=libpq_exec_test");
  Oid int4[1] = {23};
  Result r(PQprepare(c.get(), "libpq_ex1", "SELECT $1 * 2", 1, int4));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(scalar(c.get(), "EXECUTE libpq_ex1(21)") == "42");
  CHECK(scalar(c.get(), "execute LIBPQ_EX1 (5);") == "10");  // unquoted names fold to lower case
  r = exec_extended(c.get(), "EXECUTE libpq_ex1(7)");
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "14");
  r.reset(PQprepare(c.get(), "Libpq_Ex2", "SELECT 'quoted'", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(scalar(c.get(), "EXECUTE \"Libpq_Ex2\"") == "quoted");
  must_exec(c.get(), "BEGIN");
  CHECK(scalar(c.get(), "EXECUTE libpq_ex1(50)") == "100");
  must_exec(c.get(), "COMMIT");
  r.reset(PQexec(c.get(), "EXECUTE libpq_ex_missing"));
  CHECK(sqlstate(r.get()) == "26000");
  CHECK(error_primary(r.get()) == "prepared statement \"libpq_ex_missing\" does not exist");
  // A SET run by EXECUTE is session state like any other.
  r.reset(PQprepare(c.get(), "libpq_ex_set", "SET application_name = 'via_execute'", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  must_exec(c.get(), "EXECUTE libpq_ex_set");
  CHECK(scalar(c.get(), "SHOW application_name") == "via_execute");
}

TEST_CASE("a SET or DISCARD ALL in a named statement acts when executed", "[prepared]") {
  Conn c = must_connect("application_name=libpq_named_set");
  Conn other = must_connect("application_name=libpq_named_other");
  const std::string base_timeout = scalar(c.get(), "SHOW statement_timeout");  // PGOPTIONS may set it
  REQUIRE(base_timeout != "43210ms");
  Result r(PQprepare(c.get(), "libpq_ns_set", "SET statement_timeout = 43210", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQprepare(c.get(), "libpq_ns_app", "SET application_name = 'libpq_ns_x1'", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  for (const char* name : {"libpq_ns_set", "libpq_ns_app"}) {
    r.reset(PQexecPrepared(c.get(), name, 0, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  }
  for (int i = 0; i < 5; ++i) {  // later transactions, whichever server serves them
    CHECK(scalar(c.get(), "SHOW statement_timeout") == "43210ms");
    CHECK(scalar(c.get(), "SHOW application_name") == "libpq_ns_x1");
    CHECK(scalar(other.get(), "SHOW statement_timeout") == base_timeout);
    CHECK(scalar(other.get(), "SHOW application_name") == "libpq_named_other");
  }
  // DISCARD ALL as a named statement: this client's statements go (its own too), the server's
  // are gone for the next user of that server.
  r.reset(PQprepare(other.get(), "libpq_ns_keep", "SELECT 'other keeps its statement'", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQprepare(c.get(), "libpq_ns_keep", "SELECT 'other keeps its statement'", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQprepare(c.get(), "libpq_ns_discard", "DISCARD ALL", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQexecPrepared(c.get(), "libpq_ns_discard", 0, nullptr, nullptr, nullptr, 0));
  INFO(PQresultErrorMessage(r.get()));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(scalar(c.get(), "SHOW statement_timeout") == base_timeout);
  r.reset(PQexecPrepared(c.get(), "libpq_ns_keep", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  CHECK(error_primary(r.get()) == "prepared statement \"libpq_ns_keep\" does not exist");
  r.reset(PQprepare(c.get(), "libpq_ns_keep", "SELECT 'other keeps its statement'", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  for (PGconn* conn : {c.get(), other.get()}) {
    r.reset(PQexecPrepared(conn, "libpq_ns_keep", 0, nullptr, nullptr, nullptr, 0));
    INFO(PQresultErrorMessage(r.get()));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
    CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "other keeps its statement");
  }
}

TEST_CASE("a Parse in a failed transaction creates nothing", "[prepared]") {
  Conn c = must_connect();
  must_exec(c.get(), "BEGIN");
  Result r(PQexec(c.get(), "SELECT 1/0"));
  CHECK(sqlstate(r.get()) == "22012");
  r.reset(PQprepare(c.get(), "libpq_failed_tx", "SELECT 'parsed in a failed transaction'", 0, nullptr));
  CHECK(sqlstate(r.get()) == "25P02");
  must_exec(c.get(), "ROLLBACK");
  r.reset(PQexecPrepared(c.get(), "libpq_failed_tx", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  r.reset(PQprepare(c.get(), "libpq_failed_tx", "SELECT 'parsed in a failed transaction'", 0, nullptr));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  r.reset(PQexecPrepared(c.get(), "libpq_failed_tx", 0, nullptr, nullptr, nullptr, 0));
  INFO(PQresultErrorMessage(r.get()));
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(std::string(PQgetvalue(r.get(), 0, 0)) == "parsed in a failed transaction");
}

TEST_CASE("prepared statements in a pipeline: an error skips the rest of its segment", "[prepared][pipeline]") {
  Conn c = must_connect();
  REQUIRE(PQenterPipelineMode(c.get()) == 1);
  REQUIRE(PQsendPrepare(c.get(), "libpq_p_ok", "SELECT $1::int + 1", 1, nullptr) == 1);
  REQUIRE(PQsendPrepare(c.get(), "libpq_p_bad", "SELEC 1", 0, nullptr) == 1);   // syntax error
  REQUIRE(PQsendPrepare(c.get(), "libpq_p_skipped", "SELECT 5", 0, nullptr) == 1);  // skipped
  REQUIRE(PQpipelineSync(c.get()) == 1);
  const char* v[1] = {"41"};
  REQUIRE(PQsendQueryPrepared(c.get(), "libpq_p_ok", 1, v, nullptr, nullptr, 0) == 1);
  REQUIRE(PQpipelineSync(c.get()) == 1);
  REQUIRE(PQflush(c.get()) == 0);
  const std::vector<ExecStatusType> expected = {PGRES_COMMAND_OK, PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED,
                                                PGRES_PIPELINE_SYNC, PGRES_TUPLES_OK, PGRES_PIPELINE_SYNC};
  std::string value;
  for (size_t i = 0; i < expected.size(); ++i) {
    Result r(PQgetResult(c.get()));
    INFO("result " << i << ": " << PQerrorMessage(c.get()));
    REQUIRE(r != nullptr);
    CHECK(PQresultStatus(r.get()) == expected[i]);
    if (expected[i] == PGRES_FATAL_ERROR) CHECK(sqlstate(r.get()) == "42601");
    if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) value = PQgetvalue(r.get(), 0, 0);
    if (expected[i] != PGRES_PIPELINE_SYNC) CHECK(PQgetResult(c.get()) == nullptr);
  }
  CHECK(value == "42");
  REQUIRE(PQexitPipelineMode(c.get()) == 1);
  Result r(PQexecPrepared(c.get(), "libpq_p_skipped", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  r.reset(PQexecPrepared(c.get(), "libpq_p_bad", 0, nullptr, nullptr, nullptr, 0));
  CHECK(sqlstate(r.get()) == "26000");
  r.reset(PQprepare(c.get(), "libpq_p_skipped", "SELECT 6", 0, nullptr));  // the name was never taken
  CHECK(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
}

TEST_CASE("pipeline mode: several Syncs in flight, an error aborts only its own segment", "[pipeline]") {
  Conn c = must_connect();
  must_exec(c.get(), "DROP TABLE IF EXISTS libpq_pipe_t");
  must_exec(c.get(), "CREATE TABLE libpq_pipe_t (n int)");
  REQUIRE(PQenterPipelineMode(c.get()) == 1);
  auto send = [&](const char* sql) {
    REQUIRE(PQsendQueryParams(c.get(), sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
  };
  send("INSERT INTO libpq_pipe_t VALUES (1)");
  send("SELECT count(*) FROM libpq_pipe_t");
  REQUIRE(PQpipelineSync(c.get()) == 1);
  send("INSERT INTO libpq_pipe_t VALUES (2)");
  send("SELECT 1/0");
  send("INSERT INTO libpq_pipe_t VALUES (3)");  // skipped: its segment is aborted
  REQUIRE(PQpipelineSync(c.get()) == 1);
  send("INSERT INTO libpq_pipe_t VALUES (4)");
  send("SELECT string_agg(n::text, ',' ORDER BY n) FROM libpq_pipe_t");
  REQUIRE(PQpipelineSync(c.get()) == 1);
  REQUIRE(PQflush(c.get()) == 0);

  // Expected sequence of results, each query followed by a NULL, each Sync by PGRES_PIPELINE_SYNC.
  const std::vector<ExecStatusType> expected = {
      PGRES_COMMAND_OK, PGRES_TUPLES_OK,   PGRES_PIPELINE_SYNC, PGRES_COMMAND_OK,   PGRES_FATAL_ERROR,
      PGRES_PIPELINE_ABORTED, PGRES_PIPELINE_SYNC, PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_PIPELINE_SYNC};
  std::vector<std::string> values;
  for (size_t i = 0; i < expected.size(); ++i) {
    Result r(PQgetResult(c.get()));
    INFO("result " << i << ": " << PQerrorMessage(c.get()));
    REQUIRE(r != nullptr);
    CHECK(PQresultStatus(r.get()) == expected[i]);
    if (expected[i] == PGRES_FATAL_ERROR) CHECK(sqlstate(r.get()) == "22012");
    if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) values.emplace_back(PQgetvalue(r.get(), 0, 0));
    if (expected[i] != PGRES_PIPELINE_SYNC) CHECK(PQgetResult(c.get()) == nullptr);
  }
  REQUIRE(values.size() == 2);
  CHECK(values[0] == "1");
  CHECK(values[1] == "1,4");  // 2 rolled back with its segment, 3 never ran
  REQUIRE(PQexitPipelineMode(c.get()) == 1);
  CHECK(scalar(c.get(), "SELECT count(*) FROM libpq_pipe_t") == "2");
  must_exec(c.get(), "DROP TABLE libpq_pipe_t");
}

TEST_CASE("COPY FROM STDIN / TO STDOUT with PQputCopyData / PQgetCopyData: 100,000 rows intact", "[copy]") {
  Conn c = must_connect();
  must_exec(c.get(), "DROP TABLE IF EXISTS libpq_copy_t");
  must_exec(c.get(), "CREATE TABLE libpq_copy_t (id int, payload text)");
  Result r = exec(c.get(), "COPY libpq_copy_t FROM STDIN");
  REQUIRE(PQresultStatus(r.get()) == PGRES_COPY_IN);
  std::string sent;
  std::string chunk;
  for (int i = 1; i <= 100000; ++i) {
    chunk += std::to_string(i) + "\tpayload-" + std::to_string(i * 7919 % 100003) + "\n";
    if (chunk.size() > 7000 || i == 100000) {  // uneven chunks: rows straddle CopyData messages
      sent += chunk;
      REQUIRE(PQputCopyData(c.get(), chunk.data(), static_cast<int>(chunk.size())) == 1);
      chunk.clear();
    }
  }
  REQUIRE(PQputCopyEnd(c.get(), nullptr) == 1);
  r.reset(PQgetResult(c.get()));
  INFO(PQresultErrorMessage(r.get()));
  REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  CHECK(std::string(PQcmdTuples(r.get())) == "100000");
  while (Result extra{PQgetResult(c.get())}) {}
  CHECK(scalar(c.get(), "SELECT count(*) FROM libpq_copy_t") == "100000");

  r = exec(c.get(), "COPY (SELECT id, payload FROM libpq_copy_t ORDER BY id) TO STDOUT");
  REQUIRE(PQresultStatus(r.get()) == PGRES_COPY_OUT);
  std::string received;
  int rows = 0;
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(c.get(), &buf, 0);
    if (n < 0) break;
    received.append(buf, static_cast<size_t>(n));
    ++rows;
    PQfreemem(buf);
  }
  r.reset(PQgetResult(c.get()));
  CHECK(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
  while (Result extra{PQgetResult(c.get())}) {}
  CHECK(rows == 100000);
  CHECK(received.size() == sent.size());
  CHECK(received == sent);

  // A client-side COPY abort is relayed (57014 from the server) and the session continues.
  r = exec(c.get(), "COPY libpq_copy_t FROM STDIN");
  REQUIRE(PQresultStatus(r.get()) == PGRES_COPY_IN);
  REQUIRE(PQputCopyData(c.get(), "1\tx\n", 4) == 1);
  REQUIRE(PQputCopyEnd(c.get(), "client gave up") == 1);
  r.reset(PQgetResult(c.get()));
  CHECK(sqlstate(r.get()) == "57014");
  CHECK(error_primary(r.get()) == "COPY from stdin failed: client gave up");
  while (Result extra{PQgetResult(c.get())}) {}
  CHECK(scalar(c.get(), "SELECT count(*) FROM libpq_copy_t") == "100000");
  must_exec(c.get(), "DROP TABLE libpq_copy_t");
}

TEST_CASE("TLS: PQsslInUse with sslmode=require, plaintext with sslmode=disable", "[ssl]") {
  Conn tls = must_connect("sslmode=require");
  CHECK(PQsslInUse(tls.get()) == 1);
  const char* proto = PQsslAttribute(tls.get(), "protocol");
  REQUIRE(proto != nullptr);
  CHECK(std::string(proto).rfind("TLSv1.", 0) == 0);
  CHECK(scalar(tls.get(), "SELECT length(repeat('z', 300000))") == "300000");
  Conn plain = must_connect("sslmode=disable");
  CHECK(PQsslInUse(plain.get()) == 0);
  CHECK(scalar(plain.get(), "SELECT 'plain'") == "plain");
}

TEST_CASE("auth: wrong password and unknown user get 28P01, unknown database 3D000", "[auth]") {
  const auto ok = connect_verbose(target_conninfo(), 15s);
  INFO(ok.message);
  CHECK(ok.ok);

  const auto wrong = connect_verbose(target_conninfo("password=definitely-wrong"), 15s);
  INFO("wrong password: " << wrong.message);
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.sqlstate == "28P01");
  CHECK(wrong.message.find("password authentication failed for user \"" + cluster().get("PGSCALE_APP_USER") +
                           "\"") != std::string::npos);

  const auto wrong_tls = connect_verbose(target_conninfo("password=definitely-wrong sslmode=require"), 15s);
  INFO("wrong password over TLS: " << wrong_tls.message);
  CHECK_FALSE(wrong_tls.ok);
  CHECK(wrong_tls.sqlstate == "28P01");

  const auto no_user = connect_verbose(target_conninfo("user=libpq_no_such_user"), 15s);
  INFO("unknown user: " << no_user.message);
  CHECK_FALSE(no_user.ok);
  CHECK(no_user.sqlstate == "28P01");
  CHECK(no_user.message.find("password authentication failed for user \"libpq_no_such_user\"") != std::string::npos);

  const auto no_db = connect_verbose(target_conninfo("dbname=libpq_no_such_db"), 15s);
  INFO("unknown database: " << no_db.message);
  CHECK_FALSE(no_db.ok);
  CHECK(no_db.sqlstate == "3D000");
  CHECK(no_db.message.find("database \"libpq_no_such_db\" does not exist") != std::string::npos);

  const auto again = connect_verbose(target_conninfo(), 15s);
  CHECK(again.ok);
  CHECK(pgscale_alive());
}

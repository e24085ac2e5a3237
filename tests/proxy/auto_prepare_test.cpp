// pool.auto_prepare's rewriting (auto_prepare.hpp): which Queries become prepared statements, with
// which parameters and types, and what the execution messages look like on the wire.
#include <catch2/catch.hpp>

#include <string>

#include "proxy/auto_prepare.hpp"
#include "proxy/prepared_tracker.hpp"

using pgscale::proxy::append_execution;
using pgscale::proxy::auto_statement;
using pgscale::proxy::kInt4Oid;
using pgscale::proxy::kInt8Oid;
using pgscale::proxy::kNumericOid;
using pgscale::proxy::next_probe;
using pgscale::proxy::number_type;
using pgscale::proxy::Parameterized;
using pgscale::proxy::parameterize;
using pgscale::proxy::queue_probe;

namespace {
std::string text_of(std::string_view sql) {
  Parameterized p;
  return parameterize(sql, p) ? p.text : std::string("<query>");
}
}  // namespace

TEST_CASE("auto_prepare: number literals become typed parameters", "[auto_prepare]") {
  Parameterized p;
  REQUIRE(parameterize("SELECT abalance FROM pgbench_accounts WHERE aid = 4242;", p));
  CHECK(p.text == "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
  REQUIRE(p.values.size() == 1);
  CHECK(p.values[0] == "4242");
  CHECK(p.types == std::vector<uint32_t>{kInt4Oid});

  REQUIRE(parameterize("select 1, 2.5, 3000000000, 99999999999999999999, .5e3, x-1 from t", p));
  CHECK(p.text == "select $1, $2, $3, $4, $5, x-$6 from t");
  CHECK(p.types == std::vector<uint32_t>{kInt4Oid, kNumericOid, kInt8Oid, kNumericOid, kNumericOid, kInt4Oid});
  CHECK(p.values[4] == ".5e3");

  REQUIRE(parameterize("UPDATE t SET v = v + 1 WHERE id IN (1, 2) AND w BETWEEN 3 AND 4", p));
  CHECK(p.text == "UPDATE t SET v = v + $1 WHERE id IN ($2, $3) AND w BETWEEN $4 AND $5");
  REQUIRE(parameterize("insert into t (a, b) values (1, -2) returning a", p));
  CHECK(p.text == "insert into t (a, b) values ($1, -$2) returning a");
  REQUIRE(parameterize("DELETE FROM t WHERE id = 7", p));
  CHECK(p.types.size() == 1);
}

TEST_CASE("auto_prepare: the same shape gives the same text whatever the layout", "[auto_prepare]") {
  CHECK(text_of("SELECT  a\n FROM t /* request 17 */ WHERE id=5 -- trailing\n") ==
        text_of("SELECT a FROM t WHERE id=99999"));
  CHECK(text_of("select \"Weird Name\" from \"T\" where id = 1;  ;") == "select \"Weird Name\" from \"T\" where id = $1");
}

TEST_CASE("auto_prepare: constants that may mean something else stay literal", "[auto_prepare]") {
  // Column positions.
  CHECK(text_of("SELECT a FROM t WHERE id = 3 ORDER BY 1 LIMIT 5") == "SELECT a FROM t WHERE id = $1 ORDER BY 1 LIMIT 5");
  CHECK(text_of("SELECT a, count(*) FROM t GROUP BY 1") == "SELECT a, count(*) FROM t GROUP BY 1");
  CHECK(text_of("SELECT DISTINCT ON (1) a FROM t") == "SELECT DISTINCT ON (1) a FROM t");
  // Type modifiers and function arguments: parentheses after a name.
  CHECK(text_of("SELECT 1::numeric(10,2), round(x, 2) FROM t WHERE y = 3") ==
        "SELECT $1::numeric(10,2), round(x, 2) FROM t WHERE y = $2");
  CHECK(text_of("SELECT CAST(4 AS varchar(10))") == "SELECT CAST(4 AS varchar(10))");
  CHECK(text_of("SELECT a[1] FROM t WHERE b = ARRAY[2, 3]") == "SELECT a[1] FROM t WHERE b = ARRAY[$1, $2]");
  // Subqueries and expressions in parentheses after keywords or operators still take parameters.
  CHECK(text_of("SELECT (1 + 2) WHERE EXISTS (SELECT 1 FROM t WHERE id = 3)") ==
        "SELECT ($1 + $2) WHERE EXISTS (SELECT $3 FROM t WHERE id = $4)");
}

TEST_CASE("auto_prepare: what stays a Query", "[auto_prepare]") {
  Parameterized p;
  for (const char* sql : {
           "SELECT 'text'",                          // string literal
           "SELECT E'x', 1",                         // escape string
           "SELECT x'1f'",                           // bit string
           "SELECT $$dollar$$",                      // dollar quote
           "SELECT $1",                              // parameter
           "SELECT 1; SELECT 2",                     // two statements
           "BEGIN",                                  // not SELECT/INSERT/UPDATE/DELETE/WITH
           "SET work_mem = 64",
           "EXPLAIN SELECT 1",
           "CREATE TABLE x AS SELECT 1",
           "SELECT 1 INTO TEMP x",                   // SELECT INTO creates a table
           "(SELECT 1)",
           "SELECT 123abc",                          // trailing junk: the server's error
           "SELECT 1..2",
           "SELECT -2147483648",                     // the unary minus changes the constant's type
           "SELECT 9223372036854775808",
           "SELECT 1 /* unterminated",
           "SELECT (1",
           "SELECT 1)",
           "SELECT U&\"d\\0061t\" FROM t",
           "",
           "  ;",
       }) {
    INFO(sql);
    CHECK_FALSE(parameterize(sql, p));
    CHECK(p.values.empty());
  }
  CHECK(parameterize("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", p));
  CHECK(parameterize("SELECT now()", p));  // no parameter: still planned once per server
  CHECK(p.types.empty());
}

TEST_CASE("auto_prepare: number types follow PostgreSQL 15's make_const", "[auto_prepare]") {
  CHECK(number_type("0") == kInt4Oid);
  CHECK(number_type("007") == kInt4Oid);
  CHECK(number_type("2147483647") == kInt4Oid);
  CHECK(number_type("2147483648") == 0);
  CHECK(number_type("002147483648") == 0);
  CHECK(number_type("2147483649") == kInt8Oid);
  CHECK(number_type("9223372036854775807") == kInt8Oid);
  CHECK(number_type("9223372036854775808") == 0);
  CHECK(number_type("9223372036854775809") == kNumericOid);
  CHECK(number_type("1.0") == kNumericOid);
  CHECK(number_type("1e3") == kNumericOid);
}

TEST_CASE("auto_prepare: execution messages", "[auto_prepare]") {
  Parameterized p;
  REQUIRE(parameterize("SELECT a FROM t WHERE id = 42 AND b = 7", p));
  std::string out;
  append_execution(out, "pgscale_s9", p);
  const std::string bind_body = std::string("\0pgscale_s9\0", 12) + std::string("\0\0\0\x02", 4) +
                                std::string("\0\0\0\x02", 4) + "42" + std::string("\0\0\0\x01", 4) + "7" +
                                std::string("\0\0", 2);
  std::string expect = "B" + std::string("\0\0\0", 3) + static_cast<char>(4 + bind_body.size()) + bind_body;
  expect += std::string("D\0\0\0\x06P\0", 7);
  expect += std::string("E\0\0\0\x09\0\0\0\0\0", 10);
  expect += std::string("S\0\0\0\x04", 5);
  CHECK(out == expect);
}

TEST_CASE("auto_prepare: one shared statement per shape, cached per thread", "[auto_prepare]") {
  Parameterized a, b, c;
  REQUIRE(parameterize("SELECT v FROM auto_t WHERE id = 1", a));
  REQUIRE(parameterize("SELECT v FROM auto_t WHERE id = 2", b));
  REQUIRE(parameterize("SELECT v FROM auto_t WHERE id = 3.5", c));
  auto sa = auto_statement(a);
  CHECK(auto_statement(b) == sa);
  CHECK(auto_statement(c) != sa);  // numeric, not int4: another statement
  CHECK(sa->query == "SELECT v FROM auto_t WHERE id = $1");
  CHECK(sa->param_types == std::vector<uint32_t>{kInt4Oid});
}

TEST_CASE("auto_prepare: the relay's reply rules", "[auto_prepare]") {
  using pgscale::proxy::ResponseTracker;
  using pgscale::proxy::TrackedRequest;
  struct Sink : pgscale::proxy::UndoSink {
    int undone = 0;
    uint8_t last = 0;
    void undo(const TrackedRequest& r) override {
      ++undone;
      last = r.undo;
    }
  } sink;
  std::string before, after, replacement;
  using A = ResponseTracker::Action;
  using E = TrackedRequest::Expect;
  using R = TrackedRequest::OnReply;
  auto req = [](E e, R r, uint8_t undo = 0) {
    TrackedRequest t;
    t.expect = e;
    t.on_reply = r;
    t.undo = undo;
    return t;
  };
  // What auto_prepare_query pushes for a statement already on the server.
  auto push_execution = [&](ResponseTracker& t) {
    t.push(req(E::bind, R::swallow), sink);
    t.push(req(E::describe, R::rows_only), sink);
    t.push(E::execute);
    t.push(E::ready);
  };
  SECTION("Bind, Describe, Execute, Sync answer as a Query") {
    ResponseTracker t;
    push_execution(t);
    CHECK(t.on_server('2', "", true, before, after, replacement, sink) == A::drop);
    CHECK(t.on_server('T', "", true, before, after, replacement, sink) == A::forward);
    CHECK(t.on_server('D', "", true, before, after, replacement, sink) == A::forward);
    CHECK(t.on_server('C', "SELECT 1", true, before, after, replacement, sink) == A::forward);
    CHECK(t.on_server('Z', "I", true, before, after, replacement, sink) == A::forward);
    CHECK(t.idle());
  }
  SECTION("a statement without rows: NoData is dropped") {
    ResponseTracker t;
    push_execution(t);
    CHECK(t.on_server('2', "", true, before, after, replacement, sink) == A::drop);
    CHECK(t.on_server('n', "", true, before, after, replacement, sink) == A::drop);
    CHECK(t.on_server('C', "UPDATE 1", true, before, after, replacement, sink) == A::forward);
    CHECK(t.on_server('Z', "I", true, before, after, replacement, sink) == A::forward);
  }
  SECTION("a refused probe: its error and ReadyForQuery never reach the client") {
    ResponseTracker t;
    t.push(req(E::parse, R::probe, TrackedRequest::drop_server_statement | TrackedRequest::reject_auto), sink);
    t.push(req(E::ready, R::swallow), sink);
    t.push(E::ready);  // the client's Query
    CHECK(t.on_server('E', "SERROR", true, before, after, replacement, sink) == A::drop);
    CHECK(sink.undone == 1);
    CHECK((sink.last & TrackedRequest::reject_auto) != 0);
    CHECK(t.on_server('Z', "I", true, before, after, replacement, sink) == A::drop);
    CHECK(t.on_server('T', "", true, before, after, replacement, sink) == A::forward);
    CHECK(t.on_server('C', "SELECT 1", true, before, after, replacement, sink) == A::forward);
    CHECK(t.on_server('Z', "I", true, before, after, replacement, sink) == A::forward);
    CHECK(t.idle());
  }
  SECTION("a try lost with its server is undone but not a refusal") {
    ResponseTracker t;
    t.push(req(E::parse, R::probe, TrackedRequest::drop_server_statement | TrackedRequest::reject_auto), sink);
    t.push(req(E::ready, R::swallow), sink);
    t.reset(sink);
    CHECK(sink.undone == 1);
    CHECK((sink.last & TrackedRequest::drop_server_statement) != 0);
    CHECK((sink.last & TrackedRequest::reject_auto) == 0);
    CHECK(t.idle());
  }
}

TEST_CASE("auto_prepare: shapes wait for a quiet moment once each, bounded", "[auto_prepare]") {
  while (next_probe()) {
  }
  Parameterized a, b, c;
  REQUIRE(parameterize("UPDATE probe_t SET v = 1 WHERE id = 2", a));
  REQUIRE(parameterize("INSERT INTO probe_t VALUES (1)", b));
  REQUIRE(parameterize("DELETE FROM probe_t WHERE id = 3", c));
  auto sa = auto_statement(a), sb = auto_statement(b), sc = auto_statement(c);
  queue_probe(sa);
  queue_probe(sa);  // queued once
  queue_probe(sb);
  queue_probe(sc);
  sb->validated.store(true);  // accepted meanwhile (by another session's try): skipped
  CHECK(next_probe() == sa);
  CHECK(next_probe() == sc);
  CHECK(next_probe() == nullptr);
  queue_probe(sa);  // again after it left the queue (its try may have been lost with its server)
  CHECK(next_probe() == sa);
  sa->auto_rejected.store(true);
  queue_probe(sa);  // refused shapes are not queued
  CHECK(next_probe() == nullptr);
  for (int i = 0; i < 100; ++i) {
    Parameterized p;
    REQUIRE(parameterize("SELECT v FROM probe_t WHERE id = 1 AND k" + std::to_string(i) + " = 2", p));
    queue_probe(pgscale::proxy::statement_registry().intern(p.text, p.types));
  }
  int n = 0;
  while (next_probe()) ++n;
  CHECK(n == 64);  // the queue's bound: the rest were dropped, to be queued when met again
}

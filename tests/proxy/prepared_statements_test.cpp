// Registry, client names, per-server LRU, frame rewriting and local-command recognition of
// proxy/prepared.hpp (protocol-level prepared statements in transaction pooling).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "protocol/extended_query.hpp"
#include "protocol/wire.hpp"
#include "proxy/prepared.hpp"

using namespace pgscale::proxy;
namespace protocol = pgscale::protocol;

TEST_CASE("registry: one shared statement per (text, parameter types)", "[prepared]") {
  StatementRegistry reg;
  auto a = reg.intern("SELECT $1", {23});
  auto b = reg.intern("SELECT $1", {23});
  auto c = reg.intern("SELECT $1", {25});
  auto d = reg.intern("SELECT $1", {});
  auto e = reg.intern("SELECT $1 ", {23});
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);
  CHECK(a != e);
  CHECK(a->server_name == "pgscale_s" + std::to_string(a->id));
  CHECK(c->server_name != a->server_name);
  CHECK(reg.size() == 4);

  // The Parse frame is the statement under pgscale's name.
  protocol::Parse p;
  REQUIRE(a->parse_frame.size() > 5);
  CHECK(a->parse_frame[0] == 'P');
  REQUIRE(protocol::decode(std::string_view(a->parse_frame).substr(5), p) == protocol::Errc::ok);
  CHECK(p.name == a->server_name);
  CHECK(p.query == "SELECT $1");
  CHECK(p.param_types == std::vector<uint32_t>{23});
}

TEST_CASE("registry: a statement nobody references any more is forgotten, its id never reused", "[prepared]") {
  StatementRegistry reg;
  uint64_t first_id = 0;
  {
    auto a = reg.intern("SELECT 1", {});
    first_id = a->id;
    CHECK(reg.size() == 1);
  }
  CHECK(reg.size() == 0);
  auto again = reg.intern("SELECT 1", {});
  CHECK(again->id != first_id);
  // Kept alive by a holder (e.g. a server's LRU): same name for every client.
  auto held = reg.intern("SELECT 2", {});
  auto other = reg.intern("SELECT 2", {});
  CHECK(held->id == other->id);
}

TEST_CASE("client statements: names map to shared statements; undo only drops the same one", "[prepared]") {
  StatementRegistry reg;
  ClientStatements cs;
  auto s1 = reg.intern("SELECT 1", {});
  auto s2 = reg.intern("SELECT 2", {});
  cs.set("a", s1);
  REQUIRE(cs.find("a") != nullptr);
  CHECK(*cs.find("a") == s1);
  CHECK(cs.find("b") == nullptr);
  cs.erase_if("a", s2);  // a newer meaning is not undone
  CHECK(cs.find("a") != nullptr);
  cs.erase_if("a", s1);
  CHECK(cs.find("a") == nullptr);
  cs.set("x", s1);
  cs.set("y", s2);
  CHECK(cs.size() == 2);
  cs.clear();
  CHECK(cs.size() == 0);
}

// find() remembers the last name found: replacing, erasing and clearing must not leave it stale.
TEST_CASE("client statements: the remembered last lookup follows set, erase and clear", "[prepared]") {
  StatementRegistry reg;
  ClientStatements cs;
  auto s1 = reg.intern("SELECT 1", {});
  auto s2 = reg.intern("SELECT 2", {});
  cs.set("a_rather_long_statement_name_1", s1);
  REQUIRE(cs.find("a_rather_long_statement_name_1") != nullptr);
  cs.set("a_rather_long_statement_name_1", s2);  // same name, new meaning
  CHECK(*cs.find("a_rather_long_statement_name_1") == s2);
  for (int i = 0; i < 100; ++i) cs.set(std::string("n").append(std::to_string(i)), s1);  // rehashes
  CHECK(*cs.find("a_rather_long_statement_name_1") == s2);
  cs.erase("a_rather_long_statement_name_1");
  CHECK(cs.find("a_rather_long_statement_name_1") == nullptr);
  REQUIRE(cs.find("n7") != nullptr);
  cs.erase_if("n7", s1);
  CHECK(cs.find("n7") == nullptr);
  REQUIRE(cs.find("n8") != nullptr);
  cs.clear();
  CHECK(cs.find("n8") == nullptr);
  cs.set("n8", s2);
  CHECK(*cs.find("n8") == s2);
  CHECK(cs.find("n") == nullptr);  // a prefix of the remembered name is another name
}

TEST_CASE("bind names: empty names, missing terminators", "[prepared]") {
  BindNames n;
  CHECK_FALSE(read_bind_names(std::string_view(), n));
  CHECK_FALSE(read_bind_names(std::string_view("\0", 1), n));  // the statement name never ends
  CHECK_FALSE(read_bind_names(std::string_view("portal", 6), n));
  REQUIRE(read_bind_names(std::string_view("\0\0rest", 6), n));
  CHECK(n.portal.empty());
  CHECK(n.statement.empty());
  CHECK(n.names_end == 2);
  REQUIRE(read_bind_names(std::string_view("\0S1\0", 4), n));
  CHECK(n.statement == "S1");
  CHECK(n.names_end == 4);
}

TEST_CASE("server statements: LRU order, eviction at capacity, touch", "[prepared]") {
  StatementRegistry reg;
  ServerStatements lru;
  std::vector<StatementPtr> s;
  for (int i = 0; i < 5; ++i) s.push_back(reg.intern("SELECT " + std::to_string(i), {}));
  CHECK(lru.add(s[0], 3).empty());
  CHECK(lru.add(s[1], 3).empty());
  CHECK(lru.add(s[2], 3).empty());
  CHECK(lru.ids_oldest_first() == std::vector<uint64_t>{s[0]->id, s[1]->id, s[2]->id});
  lru.touch(s[0]->id);
  CHECK(lru.ids_oldest_first() == std::vector<uint64_t>{s[1]->id, s[2]->id, s[0]->id});
  auto evicted = lru.add(s[3], 3);
  REQUIRE(evicted.size() == 1);
  CHECK(evicted[0] == s[1]);
  CHECK_FALSE(lru.contains(s[1]->id));
  CHECK(lru.contains(s[3]->id));
  CHECK(lru.add(s[3], 3).empty());  // already there: only touched
  CHECK(lru.size() == 3);
  // A smaller capacity (reload) evicts several at once; 0 still keeps the one in use.
  evicted = lru.add(s[4], 0);
  CHECK(evicted.size() == 3);
  CHECK(lru.size() == 1);
  CHECK(lru.contains(s[4]->id));
  lru.erase(s[4]->id);
  CHECK(lru.size() == 0);
  lru.add(s[0], 10);
  lru.clear();
  CHECK_FALSE(lru.contains(s[0]->id));
}

TEST_CASE("bind rewriting: names read from a prefix, length adjusted, values untouched", "[prepared]") {
  std::string frame;
  protocol::encode(frame, protocol::Bind{"portal1", "client_stmt", {0}, {"42", std::nullopt}, {1}});
  std::string_view body = std::string_view(frame).substr(5);
  BindNames names;
  REQUIRE(read_bind_names(body, names));
  CHECK(names.portal == "portal1");
  CHECK(names.statement == "client_stmt");
  // A prefix that stops inside the statement name is not enough.
  BindNames partial;
  CHECK_FALSE(read_bind_names(body.substr(0, 10), partial));
  CHECK(read_bind_names(body.substr(0, names.names_end), partial));

  uint32_t len = static_cast<uint32_t>(frame.size() - 1);
  std::string out;
  append_bind_header(out, len, names, "pgscale_s7");
  out.append(body.substr(names.names_end));
  protocol::Bind b;
  REQUIRE(protocol::decode(std::string_view(out).substr(5), b) == protocol::Errc::ok);
  CHECK(b.portal == "portal1");
  CHECK(b.statement == "pgscale_s7");
  REQUIRE(b.params.size() == 2);
  CHECK(b.params[0] == std::optional<std::string_view>("42"));
  CHECK_FALSE(b.params[1].has_value());
  CHECK(b.result_formats == std::vector<int16_t>{1});
  protocol::Reader r(std::string_view(out).substr(1, 4));
  CHECK(r.u32() + 1 == out.size());

  // Streamed: only the header is rebuilt, its length counts the whole frame.
  std::string head;
  append_bind_header(head, 1000000, names, "s");
  protocol::Reader hr(std::string_view(head).substr(1, 4));
  CHECK(hr.u32() == 1000000 - names.statement.size() + 1);
}

TEST_CASE("frames pgscale writes on its own decode as what they claim", "[prepared]") {
  std::string out;
  append_close_statement(out, "pgscale_s3");
  append_describe_statement(out, "pgscale_s4");
  append_failing_bind(out);
  std::string_view v = out;
  protocol::Close c;
  protocol::Reader r1(v.substr(1, 4));
  size_t l1 = r1.u32() + 1;
  REQUIRE(protocol::decode(v.substr(5, l1 - 5), c) == protocol::Errc::ok);
  CHECK(c.kind == protocol::TargetKind::statement);
  CHECK(c.name == "pgscale_s3");
  v.remove_prefix(l1);
  protocol::Describe d;
  protocol::Reader r2(v.substr(1, 4));
  size_t l2 = r2.u32() + 1;
  REQUIRE(protocol::decode(v.substr(5, l2 - 5), d) == protocol::Errc::ok);
  CHECK(d.name == "pgscale_s4");
  v.remove_prefix(l2);
  protocol::Bind b;
  REQUIRE(v[0] == 'B');
  REQUIRE(protocol::decode(v.substr(5), b) == protocol::Errc::ok);
  CHECK(b.statement == kMissingStatement);
  CHECK(b.params.empty());
}

TEST_CASE("local commands: DEALLOCATE / DISCARD ALL recognised exactly, the rest goes to the server", "[prepared]") {
  struct Row {
    const char* sql;
    LocalCommand::Kind kind;
    const char* name;
  };
  const std::vector<Row> rows = {
      {"DEALLOCATE foo", LocalCommand::deallocate, "foo"},
      {"deallocate   Foo ;", LocalCommand::deallocate, "foo"},
      {"DEALLOCATE PREPARE foo", LocalCommand::deallocate, "foo"},
      {"DEALLOCATE \"MiXed \"\"q\"\"\"", LocalCommand::deallocate, "MiXed \"q\""},
      {"DEALLOCATE prepare", LocalCommand::deallocate, "prepare"},
      {"DEALLOCATE ALL", LocalCommand::deallocate_all, ""},
      {"deallocate prepare all;", LocalCommand::deallocate_all, ""},
      {"DEALLOCATE \"all\"", LocalCommand::deallocate, "all"},
      {"DISCARD ALL", LocalCommand::discard_all, ""},
      {" discard all ; ", LocalCommand::discard_all, ""},
      {"DISCARD PLANS", LocalCommand::none, ""},
      {"DEALLOCATE a; SELECT 1", LocalCommand::none, ""},
      {"DEALLOCATE a;;", LocalCommand::none, ""},
      {"/* c */ DEALLOCATE a", LocalCommand::none, ""},
      {"DEALLOCATE", LocalCommand::none, ""},
      {"SELECT 1", LocalCommand::none, ""},
      {"DEALLOCATEx a", LocalCommand::none, ""},
      {"\"deallocate\" a", LocalCommand::none, ""},
      {"discard_all", LocalCommand::none, ""},
      {"\n\tDEALLOCATE a", LocalCommand::deallocate, "a"},
      {"", LocalCommand::none, ""},
  };
  for (const auto& row : rows) {
    INFO(row.sql);
    auto cmd = parse_local_command(row.sql);
    CHECK(cmd.kind == row.kind);
    CHECK(cmd.name == row.name);
  }
  CHECK(may_deallocate("select 1; DEALLOCATE ALL"));
  CHECK(may_deallocate("DisCard all"));
  CHECK(may_deallocate("dealloc"));
  CHECK_FALSE(may_deallocate("SELECT d, D, dd FROM deal"));
  CHECK_FALSE(may_deallocate("SELECT * FROM pgbench_accounts WHERE aid = $1"));
  // Either case at any position, the word right at the end, a 'd' too near the end to start one.
  CHECK(may_deallocate("select 1;dEaLlOcAtE x"));
  CHECK(may_deallocate("SELECT dd; DISCARD"));
  CHECK(may_deallocate("ddiscard"));
  CHECK_FALSE(may_deallocate("discar"));
  CHECK_FALSE(may_deallocate("SELECT 1 FROM discarX"));
  CHECK_FALSE(may_deallocate("SELECT deallo_X, DISCAR_d FROM d"));
  CHECK(may_deallocate("SELECT deallo_X, DISCARd_ FROM d"));
}

TEST_CASE("SQL EXECUTE: the statement name and where it is, so it can be replaced", "[prepared]") {
  struct Row {
    const char* sql;
    bool ok;
    const char* name;
    const char* rewritten;  // the name replaced by "S"
  };
  const std::vector<Row> rows = {
      {"EXECUTE foo", true, "foo", "EXECUTE S"},
      {"  execute Foo(1, 'a;b');", true, "foo", "  execute S(1, 'a;b');"},
      {"EXECUTE\tfoo (2)", true, "foo", "EXECUTE\tS (2)"},
      {"EXECUTE \"Mi\"\"xed\"(3)", true, "Mi\"xed", "EXECUTE S(3)"},
      {"EXECUTE\"q\"", true, "q", "EXECUTE S"},
      {"EXECUTE foo;", true, "foo", "EXECUTE S;"},
      {"EXECUTEfoo", false, "", ""},
      {"EXECUTE", false, "", ""},
      {"EXECUTE 1", false, "", ""},
      {"EXECUTE foo+1", false, "", ""},
      {"EXPLAIN EXECUTE foo", false, "", ""},
      {"SELECT 1", false, "", ""},
  };
  for (const auto& row : rows) {
    INFO(row.sql);
    ExecuteRef ex;
    REQUIRE(parse_execute(row.sql, ex) == row.ok);
    if (!row.ok) continue;
    CHECK(ex.name == row.name);
    CHECK(rewrite_execute(row.sql, ex, "S") == row.rewritten);
  }
}

TEST_CASE("registry: a statement's own DEALLOCATE / DISCARD ALL is recognised once", "[prepared]") {
  auto d = statement_registry().intern("DEALLOCATE some_name", {});
  CHECK(d->deallocates);
  CHECK(d->command.kind == LocalCommand::deallocate);
  CHECK(d->command.name == "some_name");
  auto all = statement_registry().intern("DISCARD ALL", {});
  CHECK(all->deallocates);
  CHECK(all->command.kind == LocalCommand::discard_all);
  auto plain = statement_registry().intern("SELECT 'discard' AS x", {});
  CHECK(plain->deallocates);  // conservative: the word is there
  CHECK(plain->command.kind == LocalCommand::none);
  auto sel = statement_registry().intern("SELECT $1::int", {23});
  CHECK_FALSE(sel->deallocates);
  CHECK(sel->command.kind == LocalCommand::none);
}

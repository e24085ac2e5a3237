// Session state (issue 4): what SQL may change, replay SQL, reading the inspect query's answer,
// and the pin counters.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proxy/classifier.hpp"
#include "proxy/session_state.hpp"
#include "proxy/session_state_scan.hpp"

using namespace pgscale::proxy;

namespace {

struct EffectCase {
  const char* sql;
  bool settings, pins, unpins;
};

// S = settings, P = pins, U = unpins.
constexpr bool T = true, F = false;
const EffectCase kEffects[] = {
    // nothing at all
    {"SELECT 1", F, F, F},
    {"select * from orders where id = 5", F, F, F},
    {"INSERT INTO t VALUES (1, 'set role x')", F, F, F},
    {"UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 3", F, F, F},
    {"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", F, F, F},
    {"BEGIN; UPDATE t SET a = 1; COMMIT", F, F, F},
    {"SHOW search_path", F, F, F},
    {"SET LOCAL search_path = a", F, F, F},
    {"SET LOCAL ROLE admin", F, F, F},
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", F, F, F},
    {"BEGIN; SET TRANSACTION READ ONLY; SELECT 1; COMMIT", F, F, F},
    {"SELECT set_config('search_path', 'a', true)", F, F, F},
    {"SELECT pg_advisory_xact_lock(1)", F, F, F},
    {"SELECT pg_try_advisory_xact_lock_shared(1)", F, F, F},
    {"DECLARE c CURSOR FOR SELECT 1", F, F, F},
    {"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", F, F, F},
    {"SET search_path = 'unterminated", F, F, F},      // unparsable
    {"SETT search_path = a", F, F, F},                  // unparsable
    {"SELECT 'drop table x; set a = 1'", F, F, F},       // words inside a literal
    {"SELECT $$ SET search_path = a $$", F, F, F},       // inside a dollar quote
    {"-- SET search_path = a\nSELECT 1", F, F, F},       // inside a comment
    {"/* SET /* nested */ x = 1 */ SELECT 1", F, F, F},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = a AS 'SELECT 1'", F, F, F},
    {"PREPARE TRANSACTION 'gid'", F, F, F},
    {"CREATE TABLE t (a int)", F, F, F},
    {"NOTIFY chan, 'payload'", F, F, F},
    {"INSERT INTO readings (temp, city) VALUES (1, 'x')", F, F, F},  // a column named temp
    {"SELECT temp, temporary FROM readings", F, F, F},
    // settings
    {"SET search_path = a, b", T, F, F},
    {"set search_path to \"$user\", public", T, F, F},
    {"SET SESSION statement_timeout = '5s'", T, F, F},
    {"SET TIME ZONE 'Europe/Paris'", T, F, F},
    {"SET SCHEMA 'a'", T, F, F},
    {"SET NAMES 'UTF8'", T, F, F},
    {"RESET statement_timeout", T, F, F},
    {"SET DateStyle TO DEFAULT", T, F, F},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", T, F, F},
    {"SET work_mem FROM CURRENT", T, F, F},
    {"SELECT set_config('search_path', 'a', false)", T, F, F},
    {"SELECT pg_catalog.set_config('application_name', 'x', false)", T, F, F},
    {"/* pgscale: primary */ SET search_path = a", T, F, F},
    {"-- comment\nSET search_path = a", T, F, F},
    {"SELECT 1; SET search_path = a; SELECT 2", T, F, F},
    {"WITH x AS (SELECT set_config('a.b', 'c', false)) SELECT * FROM x", T, F, F},
    {"SELECT E'it\\'s'; SET search_path = a", T, F, F},  // backslash: the scan defers to the parser
    {"RESET ALL", T, F, T},
    {"SELECT set_config('role', 'admin', false)", T, T, T},
    {"SELECT set_config(current_setting('x.name'), 'v', false)", T, T, T},
    // pins
    {"SET ROLE admin", F, T, T},
    {"SET SESSION AUTHORIZATION bob", F, T, T},
    {"PREPARE p AS SELECT 1", F, T, F},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", F, T, F},
    {"LISTEN chan", F, T, F},
    {"CREATE TEMP TABLE t (a int)", F, T, F},
    {"CREATE TEMPORARY TABLE t AS SELECT 1", F, T, F},
    {"CREATE TEMP TABLE t (a int) ON COMMIT DROP", F, T, F},
    {"SELECT 1 AS a INTO TEMP t", F, T, F},
    {"CREATE TABLE pg_temp.t (a int)", F, T, F},
    {"CREATE TEMP VIEW v AS SELECT 1", F, T, F},
    {"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", F, T, F},
    {"CREATE GLOBAL TEMPORARY TABLE g (a int)", F, T, F},
    {"create local temp sequence s", F, T, F},
    {"SELECT 1 AS a INTO TEMPORARY TABLE t2", F, T, F},
    {"SELECT pg_advisory_lock(1)", F, T, F},
    {"SELECT pg_catalog.pg_advisory_lock_shared(1, 2)", F, T, F},
    {"SELECT pg_try_advisory_lock(42)", F, T, F},
    {"SELECT x FROM t WHERE pg_try_advisory_lock_shared(t.id)", F, T, F},
    {"WITH l AS (SELECT pg_advisory_lock(7)) SELECT * FROM l", F, T, F},
    {"BEGIN; CREATE TEMP TABLE t (a int); COMMIT", F, T, F},
    // unpins
    {"RESET ROLE", F, F, T},
    {"RESET SESSION AUTHORIZATION", F, F, T},
    {"SET SESSION AUTHORIZATION DEFAULT", F, F, T},
    {"DEALLOCATE p", F, F, T},
    {"CLOSE c", F, F, T},
    {"CLOSE ALL", F, F, T},
    {"UNLISTEN chan", F, F, T},
    {"UNLISTEN *", F, F, T},
    {"DROP TABLE t", F, F, T},
    {"DISCARD TEMP", F, F, T},
    {"SELECT pg_advisory_unlock(1)", F, F, T},
    {"SELECT pg_advisory_unlock_all()", F, F, T},
    {"DISCARD PLANS", F, F, F},
    // pgscale's own directive (the unquoted reserved word does not parse: the server refuses it)
    {"SET pgscale.route = 'primary'", F, F, F},
    {"SET SESSION pgscale.route TO replica", F, F, F},
    {"RESET pgscale.route", F, F, F},
    {"SET pgscale.route = primary", F, F, F},
    {"SET pgscale.other = 'x'", T, F, F},
    // mixed, multi-statement, procedural
    {"SET search_path = a; LISTEN x; DROP TABLE y", T, T, T},
    {"LISTEN a; UNLISTEN a", F, T, T},
    {"DO $$ BEGIN PERFORM 1; END $$", T, T, T},
    {"CALL proc()", T, T, T},
};

}  // namespace

TEST_CASE("analyze_effects: SQL -> effects table", "[session_state]") {
  static_assert(sizeof(kEffects) / sizeof(kEffects[0]) >= 40);
  for (const auto& c : kEffects) {
    INFO(c.sql);
    const StatementEffects e = analyze_effects(c.sql);
    CHECK(e.settings == c.settings);
    CHECK(e.pins == c.pins);
    CHECK(e.unpins == c.unpins);
    // Twice: the second answer comes from the cache and must be the same.
    CHECK(analyze_effects(c.sql) == e);
  }
}

// The relay takes "no session-state effect" from the cached classification (computed once per
// literal-free text) instead of scanning every statement: it must never hide an effect.
TEST_CASE("classification's scan verdict: clear only where analyze_effects finds nothing", "[session_state]") {
  pgscale::classifier::Classifier cl({}, 1000);
  for (const auto& c : kEffects) {
    INFO(c.sql);
    const auto r = cl.classify(c.sql);
    REQUIRE(r);
    const bool effect = c.settings || c.pins || c.unpins;
    if (effect) CHECK_FALSE(r->session_scan_clear);
    if (r->session_scan_clear) CHECK_FALSE(analyze_effects(c.sql).any());
    CHECK(r->session_scan_clear == (detail::scan_for_effects(c.sql) == detail::ScanVerdict::none));
  }
  CHECK(cl.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 1")->session_scan_clear);
}

TEST_CASE("classification's scan verdict holds for every text of its cache entry", "[session_state]") {
  pgscale::classifier::Classifier cl({}, 1000);
  // Same key (only literals differ); the second text has a backslash the scan defers to the
  // parser for: the parser finds nothing either, so the cached verdict is the same answer.
  const auto a = cl.classify("SELECT 'x' FROM t WHERE a = 1");
  const auto b = cl.classify("SELECT '\\set_config(' FROM t WHERE a = 2");
  REQUIRE(a.get() == b.get());
  CHECK(a->session_scan_clear);
  CHECK(detail::scan_for_effects("SELECT '\\set_config(' FROM t WHERE a = 2") == detail::ScanVerdict::maybe);
  CHECK_FALSE(analyze_effects("SELECT '\\set_config(' FROM t WHERE a = 2").any());
  // set_config's effect depends on its literal arguments: never clear, so analyzed every time.
  const auto local = cl.classify("SELECT set_config('search_path', 'a', 'true')");
  const auto session = cl.classify("SELECT set_config('search_path', 'a', 'false')");
  CHECK_FALSE(local->session_scan_clear);
  CHECK_FALSE(session->session_scan_clear);
  CHECK_FALSE(analyze_effects("SELECT set_config('search_path', 'a', 'true')").any());
  CHECK(analyze_effects("SELECT set_config('search_path', 'a', 'false')").settings);
}

TEST_CASE("analyze_effects: DISCARD ALL and DEALLOCATE details", "[session_state]") {
  StatementEffects d = analyze_effects("DISCARD ALL");
  CHECK(d.discard_all);
  CHECK(d.settings);
  CHECK(d.unpins);
  CHECK(d.any());

  StatementEffects all = analyze_effects("DEALLOCATE ALL");
  CHECK(all.deallocate_all);
  CHECK(all.deallocate_names.empty());
  CHECK(analyze_effects("DEALLOCATE PREPARE ALL").deallocate_all);

  StatementEffects named = analyze_effects("DEALLOCATE a; DEALLOCATE PREPARE \"B c\"");
  CHECK_FALSE(named.deallocate_all);
  CHECK(named.deallocate_names == std::vector<std::string>{"a", "B c"});

  CHECK_FALSE(analyze_effects("SELECT 1").any());
  CHECK_FALSE(analyze_effects("").any());
}

TEST_CASE("scan: too deep statements are not parsed", "[session_state]") {
  std::string deep = "SET x.y = 1; SELECT 1";
  for (int i = 0; i < 5000; ++i) deep += "+1";
  CHECK(detail::scan_for_effects(deep) == detail::ScanVerdict::too_complex);
  const StatementEffects e = analyze_effects(deep);
  CHECK(e.settings);
  CHECK(e.pins);
  CHECK(e.unpins);
  // Without a relevant word the depth does not matter: nothing to parse.
  CHECK(detail::scan_for_effects(deep.substr(13)) == detail::ScanVerdict::none);
  CHECK(detail::nesting_bound("a AND b OR (c + d)") == 4);
}

TEST_CASE("scan: comments, literals and dollar quotes end where PostgreSQL's lexer ends them", "[session_state]") {
  using detail::ScanVerdict;
  // A carriage return ends a -- comment (scan.l non_newline): the SET after it is code.
  CHECK(detail::scan_for_effects("-- note\rSET search_path = x") == ScanVerdict::maybe);
  CHECK(analyze_effects("-- note\rSET search_path = x").settings);
  CHECK(detail::scan_for_effects("-- SET search_path = x") == ScanVerdict::none);
  CHECK(detail::scan_for_effects("/* a /* SET */ b */ SELECT 1") == ScanVerdict::none);
  CHECK(detail::scan_for_effects("/* a /* b */ SET x = 1") == ScanVerdict::maybe);  // unterminated
  CHECK(detail::scan_for_effects("SELECT 'it''s; SET x = 1'") == ScanVerdict::none);
  CHECK(detail::scan_for_effects("SELECT 'a\\'; SELECT 1") == ScanVerdict::maybe);  // backslash: unsure
  CHECK(detail::scan_for_effects("SELECT $f$ ; SET x = 1 $f$, $$;SET$$") == ScanVerdict::none);
  CHECK(detail::scan_for_effects("SELECT $f$ ; SET x = 1") == ScanVerdict::maybe);  // unterminated
  CHECK(detail::scan_for_effects("SELECT \"set_config\"('a', 'b', false)") == ScanVerdict::maybe);
  CHECK(detail::scan_for_effects("SELECT 1 AS \"x\"\"y\"; SELECT $1") == ScanVerdict::none);
}

TEST_CASE("quote_literal doubles quotes and backslashes inside E''", "[session_state]") {
  CHECK(quote_literal("abc") == "E'abc'");
  CHECK(quote_literal("it's") == "E'it''s'");
  CHECK(quote_literal("a\\b") == "E'a\\\\b'");
  CHECK(quote_literal("") == "E''");
}

TEST_CASE("replay_sql: set_config for differences, RESET for extras", "[session_state]") {
  SessionState s(Settings{{"application_name", "app"}});
  // Same settings: nothing to do.
  CHECK(s.replay_sql({{"application_name", "app"}}).empty());
  // The server lacks application_name or has another one.
  CHECK(s.replay_sql({}) ==
        "SELECT pg_catalog.set_config(E'application_name', E'app', false);");
  // The server has a setting the client does not: RESET, with the name quoted.
  CHECK(s.replay_sql({{"application_name", "app"}, {"search_path", "x"}, {"we\"ird", "1"}}) ==
        "RESET \"search_path\";RESET \"we\"\"ird\";");

  // Settings learnt from an inspect: several set_config in one SELECT, values quoted.
  Settings server;
  s.note(analyze_effects("SET search_path = a, \"b'c\""));
  REQUIRE(s.needs_inspect());
  QueryResult r;
  r.sets.push_back({{std::string("search_path"), std::string("a, \"b'c\""), std::string("session")},
                    {std::string("application_name"), std::string("app"), std::string("client")},
                    {std::string("statement_timeout"), std::string("5000"), std::string("session")}});
  REQUIRE(s.apply_inspect(r, server));
  CHECK_FALSE(s.needs_inspect());
  CHECK(s.replay_sql(server).empty());
  CHECK(s.replay_sql({{"TimeZone", "UTC"}, {"application_name", "other"}}) ==
        "SELECT pg_catalog.set_config(E'application_name', E'app', false), "
        "pg_catalog.set_config(E'search_path', E'a, \"b''c\"', false), "
        "pg_catalog.set_config(E'statement_timeout', E'5000', false);RESET \"TimeZone\";");
}

TEST_CASE("SessionState: settings sorted, application_name always tracked", "[session_state]") {
  SessionState none;
  CHECK(none.settings() == Settings{{"application_name", ""}});
  SessionState s(Settings{{"b", "2"}, {"a", "1"}});
  CHECK(s.settings() == Settings{{"a", "1"}, {"application_name", ""}, {"b", "2"}});
  CHECK_FALSE(s.needs_inspect());
  CHECK(s.inspect_sql().empty());
}

TEST_CASE("apply_inspect: settings part only when settings were noted", "[session_state]") {
  SessionState s(Settings{{"application_name", "mine"}});
  s.note(analyze_effects("SET TimeZone = 'UTC'"));
  const std::string q = s.inspect_sql();
  CHECK(q.starts_with("SELECT name, setting, source FROM pg_catalog.pg_settings"));
  CHECK(q.find("SET LOCAL") == std::string::npos);
  CHECK(q.find("pg_cursors") == std::string::npos);

  Settings server{{"application_name", "old"}};
  QueryResult bad;  // two sets where one was asked for
  bad.sets.resize(2);
  CHECK_FALSE(s.apply_inspect(bad, server));
  QueryResult wrong_cols;
  wrong_cols.sets.push_back({{std::string("TimeZone"), std::string("UTC")}});
  CHECK_FALSE(s.apply_inspect(wrong_cols, server));
  CHECK(server == Settings{{"application_name", "old"}});  // untouched on failure

  // application_name not SET in this session: the server carries its creator's startup value,
  // the client keeps its own.
  QueryResult r;
  r.sets.push_back({{std::string("TimeZone"), std::string("UTC"), std::string("session")},
                    {std::string("application_name"), std::string("creator"), std::string("client")}});
  REQUIRE(s.apply_inspect(r, server));
  CHECK(server == Settings{{"TimeZone", "UTC"}, {"application_name", "creator"}});
  CHECK(s.settings() == Settings{{"TimeZone", "UTC"}, {"application_name", "mine"}});
  CHECK(s.replay_sql(server) == "SELECT pg_catalog.set_config(E'application_name', E'mine', false);");

  // SET application_name in the session: the server's value is the client's.
  s.note(analyze_effects("SET application_name = 'renamed'"));
  QueryResult r2;
  r2.sets.push_back({{std::string("application_name"), std::string("renamed"), std::string("session")}});
  REQUIRE(s.apply_inspect(r2, server));
  CHECK(s.settings() == Settings{{"application_name", "renamed"}});
  CHECK(s.replay_sql(server).empty());
}

namespace {
QueryResult pins_row(std::vector<const char*> v) {
  QueryResult r;
  r.sets.emplace_back();  // SET LOCAL statement_timeout before the pin checks
  std::vector<std::optional<std::string>> row;
  for (const char* x : v) row.push_back(x ? std::optional<std::string>(x) : std::nullopt);
  r.sets.push_back({row});
  return r;
}
}  // namespace

TEST_CASE("pins and counters follow the server's truth", "[session_state]") {
  PinCounters& c = pin_counters();
  const int64_t pinned0 = c.pinned_clients.load();
  const uint64_t temp0 = c.pins_total[static_cast<size_t>(PinReason::temp_table)].load();
  const uint64_t listen0 = c.pins_total[static_cast<size_t>(PinReason::listen)].load();
  Settings server;
  {
    SessionState s;
    s.note(analyze_effects("CREATE TEMP TABLE t (a int)"));
    REQUIRE(s.needs_inspect());
    const std::string q = s.inspect_sql();
    CHECK(q.find("pg_my_temp_schema") != std::string::npos);
    CHECK(q.starts_with("SET LOCAL statement_timeout = 0;"));
    CHECK(q.find("pg_settings") == std::string::npos);
    CHECK_FALSE(s.apply_inspect(pins_row({"t", "f", "f", "f", "f"}), server));   // 5 columns
    CHECK_FALSE(s.apply_inspect(pins_row({"t", "f", "f", "f", "f", nullptr}), server));
    CHECK_FALSE(s.apply_inspect(pins_row({"t", "f", "f", "f", "f", "x"}), server));
    REQUIRE(s.apply_inspect(pins_row({"t", "f", "f", "f", "f", "f"}), server));
    CHECK(s.pinned());
    CHECK(s.pinned_for(PinReason::temp_table));
    CHECK_FALSE(s.pinned_for(PinReason::listen));
    CHECK(c.pinned_clients.load() == pinned0 + 1);
    CHECK(c.pins_total[static_cast<size_t>(PinReason::temp_table)].load() == temp0 + 1);

    // Pinned: the pin part is asked for with any noted change, and a second reason counts once.
    s.note(analyze_effects("LISTEN x"));
    REQUIRE(s.apply_inspect(pins_row({"t", "f", "f", "t", "f", "f"}), server));
    s.note(analyze_effects("SET search_path = a"));
    const std::string both = s.inspect_sql();
    CHECK(both.find("pg_settings") < both.find("pg_my_temp_schema"));
    QueryResult r;
    r.sets.push_back({{std::string("search_path"), std::string("a"), std::string("session")}});
    r.sets.emplace_back();
    r.sets.push_back(pins_row({"t", "f", "f", "t", "f", "f"}).sets[1]);
    REQUIRE(s.apply_inspect(r, server));
    CHECK(c.pins_total[static_cast<size_t>(PinReason::temp_table)].load() == temp0 + 1);
    CHECK(c.pins_total[static_cast<size_t>(PinReason::listen)].load() == listen0 + 1);
    CHECK(c.pinned_clients.load() == pinned0 + 1);

    // DROP TABLE: temp gone, still pinned for LISTEN.
    s.note(analyze_effects("DROP TABLE t"));
    REQUIRE(s.apply_inspect(pins_row({"f", "f", "f", "t", "f", "f"}), server));
    CHECK_FALSE(s.pinned_for(PinReason::temp_table));
    CHECK(s.pinned());
    // Moving keeps the count: one pinned client.
    SessionState moved(std::move(s));
    CHECK(moved.pinned());
    CHECK_FALSE(s.pinned());
    CHECK(c.pinned_clients.load() == pinned0 + 1);
  }
  // Destructor of a pinned client.
  CHECK(c.pinned_clients.load() == pinned0);

  SessionState d(Settings{{"application_name", "x"}});
  d.note(analyze_effects("SET ROLE admin"));
  REQUIRE(d.apply_inspect(pins_row({"f", "f", "f", "f", "f", "t"}), server));
  CHECK(d.pinned_for(PinReason::role));
  CHECK(c.pinned_clients.load() == pinned0 + 1);
  d.note(analyze_effects("RESET ROLE"));
  REQUIRE(d.apply_inspect(pins_row({"f", "f", "f", "f", "f", "f"}), server));
  CHECK_FALSE(d.pinned());
  CHECK(c.pinned_clients.load() == pinned0);

  // DISCARD ALL: settings back to initial, pins gone, and the server is read again.
  d.note(analyze_effects("LISTEN y"));
  REQUIRE(d.apply_inspect(pins_row({"f", "f", "f", "t", "f", "f"}), server));
  CHECK(c.pinned_clients.load() == pinned0 + 1);
  d.note(analyze_effects("DISCARD ALL"));
  d.discard_all();
  CHECK_FALSE(d.pinned());
  CHECK(c.pinned_clients.load() == pinned0);
  CHECK(d.settings() == Settings{{"application_name", "x"}});
  CHECK(d.needs_inspect());
  CHECK(pin_reason_name(PinReason::advisory_lock) == "advisory_lock");
  CHECK(pin_reason_name(PinReason::sql_prepare) == "sql_prepare");
}

TEST_CASE("SessionState: initial settings shared, own copy only while they differ", "[session_state]") {
  SessionState a(Settings{{"application_name", "shared-app"}});
  SessionState b(Settings{{"application_name", "shared-app"}});
  SessionState c(Settings{{"application_name", "other-app"}});
  CHECK(a.shares_initial_with(b));
  CHECK_FALSE(a.shares_initial_with(c));
  CHECK_FALSE(a.owns_settings());

  Settings server;
  a.note(analyze_effects("SET TimeZone = 'UTC'"));
  QueryResult r;
  r.sets.push_back({{std::string("TimeZone"), std::string("UTC"), std::string("session")},
                    {std::string("application_name"), std::string("x"), std::string("client")}});
  REQUIRE(a.apply_inspect(r, server));
  CHECK(a.owns_settings());
  CHECK(a.settings() == Settings{{"TimeZone", "UTC"}, {"application_name", "shared-app"}});
  CHECK(b.settings() == Settings{{"application_name", "shared-app"}});  // b is not affected

  // Back to the startup values (RESET TimeZone): the own copy goes.
  a.note(analyze_effects("RESET TimeZone"));
  QueryResult r2;
  r2.sets.push_back({{std::string("application_name"), std::string("x"), std::string("client")}});
  REQUIRE(a.apply_inspect(r2, server));
  CHECK_FALSE(a.owns_settings());
  CHECK(a.settings() == Settings{{"application_name", "shared-app"}});

  a.note(analyze_effects("SET TimeZone = 'UTC'"));
  REQUIRE(a.apply_inspect(r, server));
  REQUIRE(a.owns_settings());
  a.discard_all();
  CHECK_FALSE(a.owns_settings());
  CHECK(a.settings() == Settings{{"application_name", "shared-app"}});

  // A moved-from state keeps valid (initial) settings.
  SessionState d(std::move(b));
  CHECK(d.settings() == Settings{{"application_name", "shared-app"}});
  CHECK(b.settings() == Settings{{"application_name", "shared-app"}});
}

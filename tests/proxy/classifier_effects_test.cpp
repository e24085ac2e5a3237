// Transaction and session-state effects, relations and unknown functions reported by classify().
#include <catch2/catch.hpp>

#include "proxy/classifier.hpp"

using namespace pgscale::classifier;

namespace {
Classification c(std::string_view sql) { return classify(sql, ClassifierContext{}); }

const SessionEffect& only_effect(const Classification& r) {
  REQUIRE(r.session.size() == 1);
  return r.session[0];
}
}  // namespace

TEST_CASE("effects: transaction control", "[classifier][effects]") {
  auto r = c("START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY");
  REQUIRE(r.txn.size() == 1);
  CHECK(r.txn[0].kind == TxnEffectKind::begin);
  CHECK(r.txn[0].read_only == true);
  CHECK(r.txn[0].isolation == "serializable");
  r = c("BEGIN READ WRITE");
  REQUIRE(r.txn.size() == 1);
  CHECK(r.txn[0].read_only == false);
  r = c("BEGIN");
  REQUIRE(r.txn.size() == 1);
  CHECK_FALSE(r.txn[0].read_only.has_value());
  r = c("COMMIT AND CHAIN");
  REQUIRE(r.txn.size() == 1);
  CHECK(r.txn[0].kind == TxnEffectKind::commit);
  CHECK(r.txn[0].chain);
  CHECK(c("ABORT").txn.at(0).kind == TxnEffectKind::rollback);
  CHECK(c("END").txn.at(0).kind == TxnEffectKind::commit);
  r = c("ROLLBACK TO SAVEPOINT sp");
  CHECK(r.txn.at(0).kind == TxnEffectKind::rollback_to_savepoint);
  CHECK(r.txn.at(0).name == "sp");
  r = c("PREPARE TRANSACTION 'gid-1'");
  CHECK(r.txn.at(0).kind == TxnEffectKind::prepare_transaction);
  CHECK(r.txn.at(0).name == "gid-1");
  CHECK_FALSE(r.cacheable);
  r = c("SET TRANSACTION READ ONLY");
  CHECK(r.txn.at(0).kind == TxnEffectKind::set_transaction);
  CHECK(r.txn.at(0).read_only == true);
  r = c("BEGIN; INSERT INTO t VALUES (1); COMMIT");
  REQUIRE(r.txn.size() == 2);
  CHECK(r.txn[0].kind == TxnEffectKind::begin);
  CHECK(r.txn[1].kind == TxnEffectKind::commit);
  CHECK(r.statement_count == 3);
}

TEST_CASE("effects: SET / RESET / SET LOCAL / ROLE", "[classifier][effects]") {
  auto r = c("SET search_path = app, 'Public'");
  auto e = only_effect(r);
  CHECK(e.kind == SessionEffectKind::set);
  CHECK(e.name == "search_path");
  CHECK(e.value == "'app', 'Public'");
  CHECK_FALSE(e.local);
  CHECK(e.statement == "SET search_path = app, 'Public'");
  CHECK_FALSE(r.cacheable);
  e = only_effect(c("SET LOCAL work_mem TO 65536"));
  CHECK(e.local);
  CHECK(e.value == "65536");
  e = only_effect(c("SET SESSION statement_timeout = '5s'"));
  CHECK_FALSE(e.local);
  CHECK(e.value == "'5s'");
  e = only_effect(c("SET ROLE reporting"));
  CHECK(e.name == "role");
  CHECK(e.value == "'reporting'");
  e = only_effect(c("SET SESSION AUTHORIZATION bob"));
  CHECK(e.name == "session_authorization");
  e = only_effect(c("RESET work_mem"));
  CHECK(e.kind == SessionEffectKind::reset);
  CHECK(e.name == "work_mem");
  CHECK(only_effect(c("SET work_mem TO DEFAULT")).kind == SessionEffectKind::reset);
  CHECK(only_effect(c("RESET ALL")).kind == SessionEffectKind::reset_all);
  CHECK(only_effect(c("RESET ROLE")).name == "role");
  e = only_effect(c("SET TIME ZONE 'UTC'"));
  CHECK(e.name == "timezone");
  CHECK(e.value == "'UTC'");
  r = c("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
  e = only_effect(r);
  CHECK(e.name == "default_transaction_read_only");
  CHECK(e.value == "on");
  // statements of a multi-statement string keep their own text
  r = c("SET a.b = 1; SET c.d = 'x'");
  REQUIRE(r.session.size() == 2);
  CHECK(r.session[0].statement == "SET a.b = 1");
  CHECK(r.session[1].statement == " SET c.d = 'x'");
}

TEST_CASE("effects: pgscale.route directive", "[classifier][effects]") {
  auto r = c("SET pgscale.route = primary");
  REQUIRE(r.route_directive);
  CHECK(*r.route_directive == RouteDirective::primary);
  CHECK(r.directive_only);
  CHECK(r.session.empty());  // not a parameter to replay
  r = c("SET pgscale.route TO 'auto'");
  CHECK(r.route_directive == RouteDirective::auto_);
  CHECK(c("RESET pgscale.route").route_directive == RouteDirective::auto_);
  CHECK(c("SET PGSCALE.ROUTE = replica").route_directive == RouteDirective::replica);
  r = c("SET pgscale.route = replica; SELECT 1");
  CHECK(r.route_directive == RouteDirective::replica);
  CHECK_FALSE(r.directive_only);
  CHECK_FALSE(c("SET pgscale.route = sideways").route_directive.has_value());
  // PRIMARY is reserved in PostgreSQL's grammar: recognised textually.
  r = c("  set Session PGSCALE.ROUTE to Primary ;  ");
  CHECK(r.route_directive == RouteDirective::primary);
  CHECK(r.directive_only);
  CHECK(r.route == RouteClass::replica_safe);
  CHECK(c("SET pgscale.route = 'primary'").route_directive == RouteDirective::primary);
  CHECK(c("SET pgscale.route = default").route_directive == RouteDirective::auto_);
  CHECK(c("SET pgscale.route = primary; SELECT 1").reasons.has(Reason::parse_error));
  CHECK_FALSE(c("SET pgscale.route = primaryx").route_directive.has_value());  // parses; not ours
}

TEST_CASE("effects: prepared statements, cursors, listen, discard", "[classifier][effects]") {
  auto e = only_effect(c("PREPARE p(int) AS SELECT * FROM t WHERE a = $1"));
  CHECK(e.kind == SessionEffectKind::prepare);
  CHECK(e.name == "p");
  CHECK(e.prepared_class == RouteClass::replica_safe);
  e = only_effect(c("PREPARE w AS UPDATE t SET a = 1"));
  CHECK(e.prepared_class == RouteClass::primary);
  e = only_effect(c("EXECUTE p(1)"));
  CHECK(e.kind == SessionEffectKind::execute);
  CHECK(e.name == "p");
  CHECK(only_effect(c("DEALLOCATE p")).kind == SessionEffectKind::deallocate);
  CHECK(only_effect(c("DEALLOCATE ALL")).kind == SessionEffectKind::deallocate_all);
  e = only_effect(c("DECLARE cur CURSOR WITH HOLD FOR SELECT 1"));
  CHECK(e.kind == SessionEffectKind::declare_cursor);
  CHECK(e.name == "cur");
  CHECK(e.hold);
  CHECK_FALSE(only_effect(c("DECLARE cur CURSOR FOR SELECT 1")).hold);
  CHECK(only_effect(c("CLOSE cur")).kind == SessionEffectKind::close_cursor);
  CHECK(only_effect(c("CLOSE ALL")).kind == SessionEffectKind::close_all_cursors);
  e = only_effect(c("LISTEN chan"));
  CHECK(e.kind == SessionEffectKind::listen);
  CHECK(e.name == "chan");
  CHECK(only_effect(c("UNLISTEN chan")).kind == SessionEffectKind::unlisten);
  CHECK(only_effect(c("UNLISTEN *")).kind == SessionEffectKind::unlisten_all);
  CHECK(only_effect(c("DISCARD ALL")).kind == SessionEffectKind::discard_all);
  CHECK(only_effect(c("DISCARD TEMP")).kind == SessionEffectKind::discard_temp);
  CHECK(only_effect(c("DISCARD PLANS")).kind == SessionEffectKind::discard_plans);
}

TEST_CASE("effects: temp tables and advisory locks", "[classifier][effects]") {
  auto e = only_effect(c("CREATE TEMP TABLE tmp (a int)"));
  CHECK(e.kind == SessionEffectKind::create_temp_table);
  CHECK(e.name == "tmp");
  CHECK(only_effect(c("CREATE TEMPORARY TABLE tmp2 AS SELECT 1")).name == "tmp2");
  CHECK(only_effect(c("SELECT * INTO TEMP tmp3 FROM t")).name == "tmp3");
  CHECK(only_effect(c("CREATE TEMP VIEW v AS SELECT 1")).kind == SessionEffectKind::create_temp_table);
  CHECK(c("CREATE TABLE perm (a int)").session.empty());
  CHECK(only_effect(c("SELECT pg_advisory_lock(1)")).kind == SessionEffectKind::advisory_lock_session);
  CHECK(only_effect(c("SELECT pg_try_advisory_lock(1, 2)")).kind == SessionEffectKind::advisory_lock_session);
  CHECK(only_effect(c("SELECT pg_advisory_xact_lock(1)")).kind == SessionEffectKind::advisory_lock_xact);
  CHECK(only_effect(c("SELECT pg_advisory_unlock(1)")).kind == SessionEffectKind::advisory_unlock);
  e = only_effect(c("SELECT set_config('app.user', 'bob', false)"));
  CHECK(e.kind == SessionEffectKind::set);
  CHECK(e.name == "app.user");
  CHECK(e.value == "'bob'");
  CHECK_FALSE(e.local);
  CHECK(only_effect(c("SELECT set_config('app.user', 'bob', true)")).local);
  CHECK(only_effect(c("SELECT set_config('app.user', x, false) FROM t")).kind ==
        SessionEffectKind::set_config_dynamic);
}

TEST_CASE("relations, unknown functions, errors", "[classifier][effects]") {
  auto r = c("SELECT * FROM public.orders o JOIN customers c ON c.id = o.cid WHERE o.id IN (SELECT id FROM orders)");
  CHECK(r.relations == std::vector<std::string>{"public.orders", "customers", "orders"});
  r = c("INSERT INTO s.t SELECT f1(a), f2(b), f1(c) FROM u");
  CHECK(r.relations == std::vector<std::string>{"s.t", "u"});
  CHECK(r.unknown_functions == std::vector<std::string>{"f1", "f2"});
  CHECK_FALSE(r.cacheable);
  r = c("SELEC 1");
  CHECK(r.reasons.has(Reason::parse_error));
  CHECK_FALSE(r.error.empty());
  CHECK(r.route == RouteClass::primary);
  r = c(std::string_view("SELECT 1\0; DELETE FROM t", 24));
  CHECK(r.route == RouteClass::primary);
  CHECK(r.reasons.has(Reason::parse_error));
  CHECK(Reasons{}.to_string().empty());
  Reasons rs;
  rs.add(Reason::write);
  rs.add(Reason::locking_clause);
  CHECK(rs.to_string() == "write,locking_clause");
}

TEST_CASE("deep expressions stay bounded", "[classifier][effects]") {
  std::string sql = "SELECT ";
  for (int i = 0; i < 2000; ++i) sql += "(";
  sql += "1";
  for (int i = 0; i < 2000; ++i) sql += ")";
  auto r = c(sql);  // must not crash; any route is acceptable as long as it is decided
  CHECK((r.route == RouteClass::primary || r.route == RouteClass::replica_safe));
  // 5000 left-deep operators: too deep to unpack safely → primary, without crashing.
  std::string chain = "SELECT 1";
  for (int i = 0; i < 5000; ++i) chain += "+1";
  r = c(chain);
  CHECK(r.route == RouteClass::primary);
  CHECK(r.reasons.has(Reason::parse_error));
  // Far deeper: not even handed to the parser (whose serializer recurses per level).
  std::string huge = "SELECT 1";
  for (int i = 0; i < 200000; ++i) huge += "+1";
  r = c(huge);
  CHECK(r.route == RouteClass::primary);
  CHECK(r.reasons.has(Reason::parse_error));
  // A long but reasonable chain is still classified.
  std::string moderate = "SELECT a";
  for (int i = 0; i < 200; ++i) moderate += " || 'x'";
  r = c(moderate + " FROM t");
  CHECK(r.route == RouteClass::replica_safe);
  // Wide, shallow statements (big IN lists) are fine.
  std::string wide = "SELECT * FROM t WHERE id IN (0";
  for (int i = 1; i < 20000; ++i) wide += "," + std::to_string(i);
  r = c(wide + ")");
  CHECK(r.route == RouteClass::replica_safe);
}

TEST_CASE("effects: which effects pin the session", "[classifier][effects]") {
  auto pins = [](std::string_view sql) {
    const auto r = classify(sql, ClassifierContext{});
    REQUIRE_FALSE(r.session.empty());
    return pins_session(r.session[0]);
  };
  CHECK(pins("PREPARE p AS SELECT 1"));
  CHECK(pins("DECLARE c CURSOR WITH HOLD FOR SELECT 1"));
  CHECK_FALSE(pins("DECLARE c CURSOR FOR SELECT 1"));
  CHECK(pins("LISTEN ch"));
  CHECK(pins("CREATE TEMP TABLE x (a int)"));
  CHECK(pins("SELECT pg_advisory_lock(7)"));
  CHECK_FALSE(pins("SELECT pg_advisory_xact_lock(7)"));
  CHECK_FALSE(pins("SET search_path = a"));
  CHECK_FALSE(pins("DISCARD ALL"));
}

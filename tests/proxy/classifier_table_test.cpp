// SQL → route table for the classifier (DESIGN.md routing rules), run both uncached and through
// the cached Classifier (twice, so the second run is served from the cache where allowed).
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "proxy/classifier.hpp"

using namespace pgscale::classifier;

namespace {

constexpr auto P = RouteClass::primary;
constexpr auto R = RouteClass::replica_safe;

struct Case {
  const char* sql;
  RouteClass route;
  std::optional<Reason> reason;  // a reason that must be reported, if any
};

// Catalog as the monitor would fill it from pg_proc.
ClassifierContext test_context() {
  auto cat = std::make_shared<MapFunctionCatalog>();
  cat->add("my_stable_fn", Volatility::stable);
  cat->add("my_immutable_fn", Volatility::immutable);
  cat->add("my_volatile_fn", Volatility::volatile_);
  cat->add("overloaded_fn", Volatility::immutable);
  cat->add("overloaded_fn", Volatility::volatile_);  // most volatile overload wins
  cat->add("read_safe_volatile_fn", Volatility::volatile_);
  ClassifierContext ctx;
  ctx.catalog = cat;
  ctx.read_safe_functions = {"read_safe_volatile_fn"};
  return ctx;
}

const Case kCases[] = {
    // plain reads
    {"SELECT 1", R, {}},
    {"select abalance from pgbench_accounts where aid = 42", R, {}},
    {"SELECT * FROM t WHERE a = 'DELETE FROM t'", R, {}},
    {"SELECT 'DELETE FROM t'", R, {}},
    {"SeLeCt * FrOm T", R, {}},
    {"VALUES (1), (2)", R, {}},
    {"TABLE t", R, {}},
    {"SHOW search_path", R, {}},
    {"SHOW ALL", R, {}},
    {"SELECT count(*), sum(x), avg(x) FROM t GROUP BY y", R, {}},
    {"SELECT now(), current_timestamp, current_user", R, {}},
    {"SELECT lower(name) FROM users ORDER BY 1 LIMIT 10 OFFSET 5", R, {}},
    {"SELECT * FROM a JOIN b ON a.id = b.id WHERE b.x IN (SELECT x FROM c)", R, {}},
    {"WITH x AS (SELECT * FROM t) SELECT * FROM x", R, {}},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 5) SELECT * FROM r", R, {}},
    {"SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t", R, {}},
    {"SELECT $1::int", R, {}},
    {"SELECT $$;DELETE FROM t FOR UPDATE$$", R, {}},
    {"SELECT $tag$ ; SELECT * FROM t FOR UPDATE $tag$ AS x", R, {}},
    {"SELECT E'it\\'s ; DELETE FROM t'", R, {}},
    {"SELECT \"FOR UPDATE\" FROM t", R, {}},
    {"SELECT 1 -- ; DELETE FROM t", R, {}},
    {"/* DELETE FROM t; */ SELECT 1", R, {}},
    {"/* outer /* nested DELETE */ still comment */ SELECT 1", R, {}},
    {"SELECT 1; SELECT 2", R, {}},
    {"SELECT my_stable_fn(1)", R, {}},
    {"SELECT my_immutable_fn(x) FROM t", R, {}},
    {"SELECT read_safe_volatile_fn()", R, {}},
    {"SELECT * FROM generate_series(1, 10)", R, {}},
    {"SELECT pg_is_in_recovery(), inet_server_port()", R, {}},
    {"EXPLAIN SELECT * FROM t", R, {}},
    {"EXPLAIN DELETE FROM t", R, {}},
    {"EXPLAIN (ANALYZE false) DELETE FROM t", R, {}},
    {"EXPLAIN ANALYZE SELECT * FROM t", R, {}},
    {"EXPLAIN (ANALYZE, BUFFERS) SELECT 1", R, {}},
    {"COPY t TO STDOUT", R, {}},
    {"COPY (SELECT * FROM t WHERE a > 1) TO STDOUT WITH (FORMAT csv)", R, {}},
    {"", R, {}},
    {"   ", R, {}},
    {"-- only a comment", R, {}},
    {"/* only /* nested */ comments */", R, {}},
    {"FETCH 10 FROM c", R, {}},
    {"SET search_path = a", R, Reason::session_state},
    {"SET LOCAL statement_timeout = '5s'", R, Reason::session_state},
    {"RESET ALL", R, Reason::session_state},
    {"DISCARD ALL", R, Reason::session_state},
    {"SET ROLE reporting", R, Reason::session_state},
    {"PREPARE p AS SELECT 1", R, Reason::session_state},
    {"DEALLOCATE p", R, Reason::session_state},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", R, Reason::session_state},
    {"CLOSE c", R, Reason::session_state},
    {"BEGIN READ ONLY", R, Reason::transaction_control},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", R, Reason::transaction_control},
    {"START TRANSACTION READ ONLY, DEFERRABLE", R, Reason::transaction_control},
    {"SET TRANSACTION READ ONLY", R, Reason::transaction_control},
    {"SET pgscale.route = replica", R, Reason::route_directive},
    {"/* pgscale: replica */ SELECT random()", R, Reason::hint},
    {"SELECT my_volatile_fn() /* pgscale: replica */", R, Reason::hint},

    // writes and DDL
    {"INSERT INTO t VALUES (1)", P, Reason::write},
    {"INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = excluded.b", P, Reason::write},
    {"INSERT INTO t SELECT * FROM s", P, Reason::write},
    {"UPDATE t SET a = 1 WHERE b = 2", P, Reason::write},
    {"DELETE FROM t WHERE a = 1 RETURNING *", P, Reason::write},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v "
     "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)", P, Reason::write},
    {"TRUNCATE t", P, Reason::write},
    {"REFRESH MATERIALIZED VIEW mv", P, Reason::write},
    {"CREATE TABLE t (a int)", P, Reason::ddl},
    {"ALTER TABLE t ADD COLUMN b int", P, Reason::ddl},
    {"DROP TABLE t", P, Reason::ddl},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", P, Reason::ddl},
    {"GRANT SELECT ON t TO bob", P, Reason::ddl},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", P, Reason::ddl},
    {"COMMENT ON TABLE t IS 'x'", P, Reason::ddl},
    {"CREATE TEMP TABLE tmp (a int)", P, Reason::ddl},
    {"CREATE TEMPORARY TABLE tmp AS SELECT 1", P, Reason::select_into},
    {"CREATE TABLE n AS SELECT * FROM t", P, Reason::select_into},
    {"SELECT * INTO new_t FROM t", P, Reason::select_into},
    {"CREATE MATERIALIZED VIEW mv AS SELECT 1", P, {}},
    {"VACUUM", P, Reason::maintenance},
    {"VACUUM ANALYZE t", P, Reason::maintenance},
    {"ANALYZE t", P, Reason::maintenance},
    {"CHECKPOINT", P, Reason::maintenance},
    {"REINDEX TABLE t", P, Reason::maintenance},
    {"CLUSTER t USING i", P, Reason::maintenance},
    {"COPY t FROM STDIN", P, Reason::copy_from},
    {"COPY t (a, b) FROM STDIN WITH (FORMAT csv)", P, Reason::copy_from},
    {"COPY (SELECT nextval('s')) TO STDOUT", P, Reason::sequence_fn},
    {"LOCK t", P, Reason::lock},
    {"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", P, Reason::lock},
    {"NOTIFY x", P, Reason::notify},
    {"NOTIFY x, 'payload'", P, Reason::notify},
    {"SELECT pg_notify('x', 'y')", P, Reason::notify},
    {"LISTEN x", P, Reason::listen},
    {"UNLISTEN *", P, Reason::listen},
    {"DO $$ BEGIN PERFORM 1; END $$", P, Reason::procedural},
    {"CALL proc()", P, Reason::procedural},
    {"EXECUTE p", P, Reason::execute_prepared},
    {"EXECUTE p(1, 'a')", P, Reason::execute_prepared},
    {"PREPARE w AS DELETE FROM t WHERE a = $1", P, Reason::write},
    {"ALTER SYSTEM SET work_mem = '64MB'", P, Reason::ddl},
    {"LOAD 'auto_explain'", P, {}},

    // locking clauses anywhere
    {"SELECT * FROM t FOR UPDATE", P, Reason::locking_clause},
    {"select * from t where a = 1 for update nowait", P, Reason::locking_clause},
    {"SELECT * FROM t FOR UPDATE SKIP LOCKED", P, Reason::locking_clause},
    {"SELECT * FROM t FOR SHARE", P, Reason::locking_clause},
    {"SELECT * FROM t FOR NO KEY UPDATE", P, Reason::locking_clause},
    {"SELECT * FROM t FOR KEY SHARE OF t", P, Reason::locking_clause},
    {"SELECT * FROM (SELECT * FROM t FOR UPDATE) s", P, Reason::locking_clause},
    {"SELECT * FROM t WHERE a IN (SELECT a FROM u FOR SHARE)", P, Reason::locking_clause},
    {"WITH x AS (SELECT * FROM t FOR UPDATE) SELECT * FROM x", P, Reason::locking_clause},
    {"SELECT 1 UNION SELECT a FROM (SELECT a FROM t FOR KEY SHARE) s", P, Reason::locking_clause},
    {"DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE", P, Reason::locking_clause},

    // writable CTEs at any depth
    {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", P, Reason::writable_cte},
    {"WITH x AS (INSERT INTO t VALUES (1) RETURNING a) SELECT a FROM x", P, Reason::writable_cte},
    {"WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM x", P, Reason::writable_cte},
    {"SELECT * FROM (WITH y AS (DELETE FROM t RETURNING 1) SELECT * FROM y) s", P, Reason::writable_cte},
    {"WITH a AS (WITH b AS (INSERT INTO t DEFAULT VALUES RETURNING 1) SELECT * FROM b) SELECT * FROM a",
     P, Reason::writable_cte},

    // multi-statement strings: every statement counts
    {"SELECT 1; DELETE FROM t", P, Reason::write},
    {"SELECT 1; SELECT * FROM t FOR UPDATE", P, Reason::locking_clause},
    {"SHOW x; SELECT nextval('s')", P, Reason::sequence_fn},

    // functions
    {"SELECT nextval('s')", P, Reason::sequence_fn},
    {"SELECT setval('s', 10)", P, Reason::sequence_fn},
    {"SELECT currval('s')", P, Reason::sequence_fn},
    {"SELECT lastval()", P, Reason::sequence_fn},
    {"SELECT pg_catalog.nextval('s')", P, Reason::sequence_fn},
    {"SELECT * FROM t WHERE id = nextval('s')", P, Reason::sequence_fn},
    {"SELECT random()", P, Reason::volatile_fn},
    {"SELECT clock_timestamp()", P, Reason::volatile_fn},
    {"SELECT my_volatile_fn()", P, Reason::volatile_fn},
    {"SELECT overloaded_fn(1)", P, Reason::volatile_fn},
    {"SELECT my_udf(1)", P, Reason::unknown_fn},
    {"SELECT a FROM t WHERE b = (SELECT max(c) FROM u WHERE d = some_unknown_fn(e))", P, Reason::unknown_fn},
    {"SELECT pg_advisory_lock(1)", P, Reason::advisory_lock_fn},
    {"SELECT pg_try_advisory_xact_lock(1, 2)", P, Reason::advisory_lock_fn},
    {"SELECT pg_advisory_unlock_all()", P, Reason::advisory_lock_fn},
    {"SELECT txid_current()", P, Reason::primary_only_fn},
    {"SELECT pg_current_xact_id()", P, Reason::primary_only_fn},
    {"SELECT pg_current_wal_lsn()", P, Reason::primary_only_fn},
    {"SELECT set_config('a.b', 'c', false)", P, Reason::session_state},
    {"SELECT CASE WHEN a THEN nextval('s') END FROM t", P, Reason::sequence_fn},
    {"SELECT * FROM t ORDER BY random() LIMIT 1", P, Reason::volatile_fn},

    // transaction control
    {"BEGIN", P, Reason::transaction_control},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ", P, Reason::transaction_control},
    {"BEGIN READ WRITE", P, Reason::transaction_control},
    {"START TRANSACTION", P, Reason::transaction_control},
    {"COMMIT", R, Reason::transaction_control},
    {"END", R, Reason::transaction_control},
    {"ROLLBACK", R, Reason::transaction_control},
    {"ABORT", R, Reason::transaction_control},
    {"SAVEPOINT s1", R, Reason::transaction_control},
    {"ROLLBACK TO SAVEPOINT s1", R, Reason::transaction_control},
    {"RELEASE SAVEPOINT s1", R, Reason::transaction_control},
    {"PREPARE TRANSACTION 'g1'", P, Reason::transaction_control},
    {"COMMIT PREPARED 'g1'", P, Reason::transaction_control},
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", R, Reason::transaction_control},
    {"SET TRANSACTION READ WRITE", P, Reason::transaction_control},
    {"COMMIT AND CHAIN", R, Reason::transaction_control},
    {"ROLLBACK PREPARED 'g1'", P, Reason::transaction_control},
    {"BEGIN READ ONLY; SELECT * FROM t; COMMIT", R, Reason::transaction_control},
    {"BEGIN; SET TRANSACTION READ ONLY; SELECT * FROM t; COMMIT", R, Reason::transaction_control},
    {"BEGIN; SELECT * FROM t; COMMIT", P, Reason::transaction_control},
    {"BEGIN READ ONLY; UPDATE t SET a = 1; COMMIT", P, Reason::write},

    // hints
    {"/* pgscale: primary */ SELECT 1", P, Reason::hint},
    {"-- pgscale: primary\nSELECT 1", P, Reason::hint},
    {"/* app=web, PgScale: Primary */ SELECT * FROM t", P, Reason::hint},
    {"/* pgscale: replica */ DELETE FROM t", P, Reason::write},          // a write cannot go to a replica
    {"/* pgscale: replica */ SELECT * FROM t FOR UPDATE", P, Reason::locking_clause},
    {"/* pgscale: replica */ SELECT nextval('s')", P, Reason::sequence_fn},
    {"/* pgscale: replica */ /* pgscale: primary */ SELECT 1", P, Reason::hint},
    {"SELECT '/* pgscale: primary */'", R, {}},                         // inside a literal: no hint

    // parse errors → primary (PostgreSQL reports the error)
    {"SELEC 1", P, Reason::parse_error},
    {"SELECT * FROM", P, Reason::parse_error},
    {"SELECT 'unterminated", P, Reason::parse_error},
    {"SELECT 1; DELET FROM t", P, Reason::parse_error},
    {"/* unterminated comment SELECT 1", P, Reason::parse_error},
    {"SELECT 123abc", P, Reason::parse_error},
};

}  // namespace

TEST_CASE("classifier table: uncached classify()", "[classifier][table]") {
  const ClassifierContext ctx = test_context();
  STATIC_REQUIRE(sizeof(kCases) / sizeof(kCases[0]) >= 100);
  for (const Case& c : kCases) {
    INFO("SQL: " << c.sql);
    const Classification r = classify(c.sql, ctx);
    INFO("reasons: " << r.reasons.to_string() << " error: " << r.error);
    CHECK(r.route == c.route);
    if (c.reason) CHECK(r.reasons.has(*c.reason));
  }
}

TEST_CASE("classifier table: cached Classifier gives the same routes twice", "[classifier][table]") {
  Classifier cl(test_context(), 1000);
  for (int round = 0; round < 2; ++round) {
    for (const Case& c : kCases) {
      INFO("round " << round << " SQL: " << c.sql);
      const auto r = cl.classify(c.sql);
      REQUIRE(r);
      CHECK(r->route == c.route);
      if (c.reason) CHECK(r->reasons.has(*c.reason));
    }
  }
  CHECK(cl.stats().hits > 0);
}

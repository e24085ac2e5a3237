// Router (issue 5), pure: config + topology snapshot + classification -> node. No sockets.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy/classifier.hpp"
#include "proxy/route_policy.hpp"
#include "proxy/route_session.hpp"
#include "proxy/router.hpp"

using namespace pgscale;
using namespace pgscale::proxy;
using classifier::Volatility;

namespace {

config::Config three_nodes() {
  config::Config cfg;
  config::ShardConfig s;
  s.name = "s0";
  s.buckets = {{0, 1023}};
  s.nodes = {{"p", "127.0.0.1", 5432, config::NodeRole::primary, 100, 1},
             {"r1", "127.0.0.1", 5433, config::NodeRole::replica, 100, 1},
             {"r2", "127.0.0.1", 5434, config::NodeRole::replica, 100, 3}};
  cfg.shards.push_back(s);
  cfg.routing.max_replica_lag = {1000, Millis{5000}};
  return cfg;
}

// Everyone up, replicas fresh (lag 0), primary at LSN 1000 observed at t0.
Topology healthy(const config::Config& cfg, SteadyClock::time_point t0 = SteadyClock::time_point{}) {
  Topology t;
  t.version = 1;
  ShardState sh;
  sh.name = cfg.shards[0].name;
  for (const auto& n : cfg.shards[0].nodes) {
    NodeState st;
    st.config = n;
    st.health = NodeHealth::up;
    st.observed_at = t0;
    if (n.role == config::NodeRole::primary) {
      st.observed_role = ObservedRole::primary;
      st.current_lsn = Lsn{1000};
    } else {
      st.observed_role = ObservedRole::in_recovery;
      st.replay_lsn = Lsn{1000};
      st.lag_bytes = 0;
      st.lag_time = Millis{0};
    }
    sh.nodes.push_back(st);
  }
  t.shards.push_back(sh);
  return t;
}

NodeState& node(Topology& t, const std::string& name) {
  for (auto& n : t.shards[0].nodes)
    if (n.config.name == name) return n;
  FAIL("no node " << name);
  throw 0;
}

std::shared_ptr<classifier::Classifier> make_classifier() {
  auto cat = std::make_shared<classifier::MapFunctionCatalog>();
  for (const char* f : {"now", "lower", "count", "sum", "avg", "abs", "length", "coalesce", "generate_series",
                        "upper", "md5", "jsonb_build_object", "row_number", "pg_sleep", "date_trunc"})
    cat->add(f, Volatility::immutable);
  cat->add("now", Volatility::stable);
  cat->add("pg_sleep", Volatility::volatile_);
  cat->add("random", Volatility::volatile_);
  cat->add("clock_timestamp", Volatility::volatile_);
  cat->add("get_user_name", Volatility::stable);
  cat->add("add_order", Volatility::volatile_);
  cat->add("report_total", Volatility::volatile_);
  cat->add("pure_add", Volatility::immutable);
  cat->add("gen_random_uuid", Volatility::volatile_);
  classifier::ClassifierContext ctx;
  ctx.catalog = cat;
  ctx.read_safe_functions = {"report_total"};
  return std::make_shared<classifier::Classifier>(ctx, 1000);
}

struct Harness {
  config::Config cfg = three_nodes();
  Topology topo = healthy(cfg);
  std::shared_ptr<classifier::Classifier> cls = make_classifier();
  SessionRouting session;
  std::map<std::string, int64_t> load;
  uint64_t ticket = 0;

  TxnSummary summary(const std::vector<std::string>& texts) {
    TxnSummary t;
    for (const auto& s : texts) {
      auto c = cls->classify(s);
      session.note(*c);
      t.add(*c);
    }
    return t;
  }
  Choice choose(const std::vector<std::string>& texts, std::vector<std::string> exclude = {}) {
    auto t = summary(texts);
    auto outstanding = [this](std::string_view n) {
      auto it = load.find(std::string(n));
      return it == load.end() ? int64_t{0} : it->second;
    };
    SelectInput in{cfg, topo, decide_target(t, session, cfg), &session.ryw, &exclude, outstanding, ticket++, 0.0};
    return select_node(in);
  }
  // "primary", "replica" or "error".
  std::string route(const std::string& sql) {
    auto c = choose({sql});
    if (!c.node) return "error";
    return c.node->name == "p" ? "primary" : "replica";
  }
};

struct Case {
  const char* sql;
  const char* route;
};

// SQL -> route with a healthy, fresh topology and default routing settings.
const Case kCases[] = {
    // plain reads
    {"SELECT 1", "replica"},
    {"select abalance from pgbench_accounts where aid = 42", "replica"},
    {"SELECT * FROM t WHERE a = 'DELETE FROM t'", "replica"},
    {"VALUES (1), (2)", "replica"},
    {"TABLE orders", "replica"},
    {"SHOW search_path", "replica"},
    {"SELECT count(*) FROM orders GROUP BY status HAVING count(*) > 1", "replica"},
    {"SELECT now(), lower('X')", "replica"},
    {"WITH x AS (SELECT * FROM t) SELECT * FROM x", "replica"},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 5) SELECT * FROM r", "replica"},
    {"SELECT * FROM a JOIN b USING (id) WHERE b.x IN (SELECT x FROM c)", "replica"},
    {"SELECT EXISTS (SELECT 1 FROM t WHERE id = 3)", "replica"},
    {"SELECT 1; SELECT 2; SELECT 3", "replica"},
    {"EXPLAIN SELECT * FROM t", "replica"},
    {"EXPLAIN (ANALYZE) SELECT * FROM t", "replica"},
    {"EXPLAIN DELETE FROM t", "replica"},
    {"COPY t TO STDOUT", "replica"},
    {"COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT csv)", "replica"},
    {"SELECT pure_add(1, 2)", "replica"},
    {"SELECT get_user_name(7)", "replica"},
    {"SELECT report_total()", "replica"},
    {"SELECT $$ INSERT INTO t VALUES (1) $$", "replica"},
    {"SELECT 'nextval(''s'')'", "replica"},
    {"/* INSERT INTO t VALUES (1) */ SELECT 1", "replica"},
    {"SELECT 1 -- ; DELETE FROM t", "replica"},
    {"SELECT * FROM generate_series(1, 3) g", "replica"},
    {"SELECT jsonb_build_object('a', 1)", "replica"},
    {"SELECT row_number() OVER (ORDER BY id) FROM t", "replica"},
    {"SELECT * FROM t ORDER BY id LIMIT 10 OFFSET 20", "replica"},
    {"SELECT * FROM t UNION SELECT * FROM u", "replica"},
    {"BEGIN READ ONLY", "replica"},
    {"START TRANSACTION READ ONLY", "replica"},
    {"START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", "replica"},
    {"BEGIN READ ONLY; SELECT * FROM t; COMMIT", "replica"},
    {"/* pgscale: replica */ SELECT random()", "replica"},
    {"SELECT md5('x'), upper('y'), length('z')", "replica"},
    {"SELECT date_trunc('day', now())", "replica"},
    // writes
    {"INSERT INTO t VALUES (1)", "primary"},
    {"insert into t select * from u", "primary"},
    {"UPDATE t SET a = 1 WHERE id = 2", "primary"},
    {"DELETE FROM t WHERE id = 2", "primary"},
    {"MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET a = u.a", "primary"},
    {"TRUNCATE t", "primary"},
    {"INSERT INTO t VALUES (1) ON CONFLICT (id) DO NOTHING", "primary"},
    {"INSERT INTO t VALUES (1) RETURNING id", "primary"},
    {"UPDATE t SET a = a + 1 FROM u WHERE t.id = u.id RETURNING t.*", "primary"},
    // DDL and utilities
    {"CREATE TABLE x (id int)", "primary"},
    {"ALTER TABLE t ADD COLUMN b int", "primary"},
    {"DROP TABLE IF EXISTS t", "primary"},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", "primary"},
    {"GRANT SELECT ON t TO app", "primary"},
    {"COMMENT ON TABLE t IS 'x'", "primary"},
    {"CREATE MATERIALIZED VIEW mv AS SELECT 1", "primary"},
    {"REFRESH MATERIALIZED VIEW mv", "primary"},
    {"VACUUM t", "primary"},
    {"ANALYZE t", "primary"},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "primary"},
    // COPY FROM
    {"COPY t FROM STDIN", "primary"},
    {"COPY t (a, b) FROM STDIN WITH (FORMAT csv)", "primary"},
    // locking clauses anywhere
    {"SELECT * FROM t FOR UPDATE", "primary"},
    {"SELECT * FROM t FOR SHARE", "primary"},
    {"SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", "primary"},
    {"SELECT * FROM t FOR KEY SHARE NOWAIT", "primary"},
    {"SELECT * FROM (SELECT * FROM t FOR UPDATE) s", "primary"},
    {"SELECT * FROM u WHERE id IN (SELECT id FROM t FOR UPDATE)", "primary"},
    {"WITH l AS (SELECT * FROM t FOR UPDATE) SELECT * FROM l", "primary"},
    {"SELECT EXISTS (SELECT 1 FROM t WHERE id = 1 FOR SHARE)", "primary"},
    // writable CTEs
    {"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "primary"},
    {"WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i", "primary"},
    {"WITH a AS (SELECT 1), u AS (UPDATE t SET x = 1 RETURNING *) SELECT * FROM a", "primary"},
    {"WITH x AS (WITH y AS (DELETE FROM t RETURNING *) SELECT * FROM y) SELECT * FROM x", "primary"},
    // SELECT INTO, CREATE TABLE AS
    {"SELECT * INTO new_t FROM t", "primary"},
    {"SELECT 1 AS a INTO TEMP tmp", "primary"},
    {"CREATE TABLE c AS SELECT * FROM t", "primary"},
    // LOCK, NOTIFY, LISTEN
    {"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "primary"},
    {"NOTIFY ch, 'x'", "primary"},
    {"SELECT pg_notify('ch', 'x')", "primary"},
    {"LISTEN ch", "primary"},
    // sequences
    {"SELECT nextval('s')", "primary"},
    {"SELECT setval('s', 10)", "primary"},
    {"SELECT currval('s')", "primary"},
    {"SELECT lastval()", "primary"},
    {"SELECT id, nextval('s') FROM t", "primary"},
    {"SELECT * FROM t WHERE id = (SELECT nextval('s'))", "primary"},
    // advisory locks
    {"SELECT pg_advisory_lock(1)", "primary"},
    {"SELECT pg_try_advisory_lock(1)", "primary"},
    {"SELECT pg_advisory_xact_lock(1)", "primary"},
    {"SELECT pg_advisory_unlock(1)", "primary"},
    {"SELECT pg_advisory_lock_shared(1, 2)", "primary"},
    // volatile and unknown functions
    {"SELECT add_order(42)", "primary"},
    {"SELECT * FROM t WHERE id = add_order(1)", "primary"},
    {"SELECT random()", "primary"},
    {"SELECT gen_random_uuid()", "primary"},
    {"SELECT clock_timestamp()", "primary"},
    {"SELECT some_function_nobody_knows(1)", "primary"},
    {"SELECT txid_current()", "primary"},
    // EXPLAIN ANALYZE of a write runs it
    {"EXPLAIN ANALYZE DELETE FROM t", "primary"},
    {"EXPLAIN (ANALYZE, BUFFERS) INSERT INTO t VALUES (1)", "primary"},
    {"EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", "primary"},
    // multi-statement strings: every statement counts
    {"SELECT 1; INSERT INTO t VALUES (1)", "primary"},
    {"SELECT 1; SELECT 2; DELETE FROM t", "primary"},
    {"SELECT * FROM t; SELECT nextval('s')", "primary"},
    {"BEGIN; SELECT 1; COMMIT", "primary"},
    {"BEGIN READ ONLY; SELECT 1; INSERT INTO t VALUES (1); COMMIT", "primary"},
    // transaction blocks and procedures
    {"BEGIN", "primary"},
    {"START TRANSACTION", "primary"},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE", "primary"},
    {"BEGIN READ WRITE", "primary"},
    {"PREPARE TRANSACTION 'g'", "primary"},
    {"COMMIT PREPARED 'g'", "primary"},
    {"CALL p(1)", "primary"},
    {"DO $$ BEGIN PERFORM 1; END $$", "primary"},
    {"SELECT txid_current_if_assigned()", "primary"},
    // hints
    {"/* pgscale: primary */ SELECT 1", "primary"},
    {"SELECT 1 /* pgscale: primary */", "primary"},
    {"/* pgscale: replica */ INSERT INTO t VALUES (1)", "primary"},
    {"/* pgscale: replica */ SELECT * FROM t FOR UPDATE", "primary"},
    // session state that pins the client
    {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", "primary"},
    {"PREPARE q AS SELECT 1", "primary"},
    {"CREATE TEMP TABLE tt (a int)", "primary"},
    // does not parse: PostgreSQL reports the error
    {"SELEC 1", "primary"},
    {"SELECT FROM WHERE", "primary"},
};

}  // namespace

TEST_CASE("router: SQL -> route table") {
  Harness h;
  size_t n = 0;
  for (const auto& c : kCases) {
    Harness fresh;  // no session state leaks between cases
    INFO(c.sql);
    CHECK(fresh.route(c.sql) == c.route);
    ++n;
  }
  CHECK(n >= 80);
}

TEST_CASE("router: read-only transaction block goes to one replica, marked as a block") {
  Harness h;
  auto t = h.summary({"BEGIN READ ONLY"});
  auto d = decide_target(t, h.session, h.cfg);
  CHECK(d.target == Target::replica);
  CHECK(d.read_only_block);
  auto t2 = h.summary({"SELECT 1"});
  CHECK_FALSE(decide_target(t2, h.session, h.cfg).read_only_block);
}

TEST_CASE("router: default_transaction_read_only makes BEGIN a read-only block") {
  Harness h;
  CHECK(h.route("BEGIN") == "primary");
  h.route("SET default_transaction_read_only = on");
  CHECK(h.session.default_read_only);
  CHECK(h.route("BEGIN") == "replica");
  CHECK(h.route("BEGIN READ WRITE") == "primary");
  h.route("RESET default_transaction_read_only");
  CHECK(h.route("BEGIN") == "primary");
}

TEST_CASE("router: SET pgscale.route for the session") {
  Harness h;
  h.route("SET pgscale.route = primary");
  CHECK(h.route("SELECT 1") == "primary");
  h.route("SET pgscale.route = replica");
  CHECK(h.route("SELECT 1") == "replica");
  CHECK(h.route("SELECT add_order(1)") == "replica");  // soft reason: the user's call
  CHECK(h.route("INSERT INTO t VALUES (1)") == "primary");  // a real write never goes to a replica
  h.route("SET pgscale.route = auto");
  CHECK(h.route("SELECT add_order(1)") == "primary");
  h.route("SET pgscale.route TO primary");
  CHECK(h.route("SELECT 1") == "primary");
  h.route("RESET pgscale.route");
  CHECK(h.route("SELECT 1") == "replica");
}

TEST_CASE("router: read_write_split off, session pool mode and unknown statements -> primary") {
  Harness h;
  h.cfg.routing.read_write_split = false;
  CHECK(h.route("SELECT 1") == "primary");
  Harness s;
  s.cfg.pool.mode = config::PoolMode::session;
  CHECK(s.route("SELECT 1") == "primary");
  Harness u;
  TxnSummary t;
  t.unknown = true;  // a Bind of a statement pgscale never saw
  CHECK(decide_target(t, u.session, u.cfg).target == Target::primary);
  CHECK(decide_target(TxnSummary{}, u.session, u.cfg).target == Target::primary);  // Sync only
}

TEST_CASE("router: replicas out of the lag budget, down, banned or fenced get no reads") {
  Harness h;
  node(h.topo, "r1").lag_bytes = 5000;  // budget 1000
  for (int i = 0; i < 20; ++i) CHECK(h.choose({"SELECT 1"}).node->name == "r2");
  node(h.topo, "r2").lag_time = Millis{6000};  // budget 5 s
  CHECK(h.route("SELECT 1") == "primary");    // none qualifies -> primary
  h.cfg.routing.no_replica = config::NoReplicaPolicy::error;
  auto c = h.choose({"SELECT 1"});
  CHECK(c.node == nullptr);
  CHECK_THAT(c.error, Catch::Contains("no replica"));
  CHECK(h.route("INSERT INTO t VALUES (1)") == "primary");  // writes are unaffected

  Harness d;
  node(d.topo, "r1").health = NodeHealth::down;
  node(d.topo, "r2").banned_until = SteadyClock::now();
  CHECK(d.route("SELECT 1") == "primary");
  Harness f;
  node(f.topo, "r1").fenced = true;
  for (int i = 0; i < 10; ++i) CHECK(f.choose({"SELECT 1"}).node->name == "r2");
  Harness unk;  // lag never measured while a bound is set: not eligible
  node(unk.topo, "r1").lag_bytes.reset();
  for (int i = 0; i < 10; ++i) CHECK(unk.choose({"SELECT 1"}).node->name == "r2");
}

TEST_CASE("router: writes never go to a node in recovery") {
  Harness h;
  auto& p = node(h.topo, "p");
  p.observed_role = ObservedRole::in_recovery;  // demoted behind our back
  auto c = h.choose({"INSERT INTO t VALUES (1)"});
  CHECK(c.node == nullptr);
  CHECK_THAT(c.error, Catch::Contains("in recovery"));
  // A promoted replica is the primary now, whatever the YAML says.
  auto& r1 = node(h.topo, "r1");
  r1.observed_role = ObservedRole::primary;
  r1.current_lsn = Lsn{2000};
  CHECK(h.choose({"INSERT INTO t VALUES (1)"}).node->name == "r1");
  CHECK(h.choose({"SELECT 1"}).node->name == "r2");  // the only node in recovery
}

TEST_CASE("router: before the first monitor round everything goes to the YAML primary") {
  Harness h;
  h.topo = Topology{};  // version 0
  CHECK(h.route("SELECT 1") == "primary");
  CHECK(h.route("INSERT INTO t VALUES (1)") == "primary");
}

TEST_CASE("router: least_outstanding prefers the idle replica and rotates ties") {
  Harness h;
  h.load["r1"] = 5;
  h.load["r2"] = 1;
  for (int i = 0; i < 10; ++i) CHECK(h.choose({"SELECT 1"}).node->name == "r2");
  h.load["r2"] = 5;
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) seen.insert(h.choose({"SELECT 1"}).node->name);
  CHECK(seen == std::set<std::string>{"r1", "r2"});
}

TEST_CASE("router: round_robin alternates, weighted_random follows the weights") {
  Harness h;
  h.cfg.routing.replica_selection = config::ReplicaSelection::round_robin;
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) order.push_back(h.choose({"SELECT 1"}).node->name);
  CHECK(order == std::vector<std::string>{"r1", "r2", "r1", "r2"});

  Harness w;
  w.cfg.routing.replica_selection = config::ReplicaSelection::weighted_random;
  auto pick = [&](double x) {
    TxnSummary t = w.summary({"SELECT 1"});
    SelectInput in{w.cfg, w.topo, decide_target(t, w.session, w.cfg), nullptr, nullptr, {}, 0, x};
    return std::string(select_node(in).node->name);
  };
  // weights r1 = 1, r2 = 3: [0, 0.25) -> r1, [0.25, 1) -> r2
  CHECK(pick(0.0) == "r1");
  CHECK(pick(0.2) == "r1");
  CHECK(pick(0.3) == "r2");
  CHECK(pick(0.99) == "r2");
}

TEST_CASE("router: a replica that failed this transaction is skipped; all failed -> primary") {
  Harness h;
  for (int i = 0; i < 6; ++i) CHECK(h.choose({"SELECT 1"}, {"r1"}).node->name == "r2");
  CHECK(h.choose({"SELECT 1"}, {"r1", "r2"}).node->name == "p");
}

TEST_CASE("router: read-your-writes") {
  const auto t0 = SteadyClock::time_point{} + std::chrono::seconds(100);
  Harness h;
  h.topo = healthy(h.cfg, t0 - std::chrono::seconds(1));  // last round before the commit
  h.session.ryw.committed_at = t0;
  CHECK_FALSE(resolve_ryw(h.session.ryw, h.topo));
  CHECK(h.route("SELECT 1") == "primary");  // the commit's position is not known yet
  CHECK(h.route("SELECT 1") == "primary");

  // A round sent after the commit: the primary is at 1500; r1 replayed 1500, r2 only 1200.
  h.topo = healthy(h.cfg, t0 + std::chrono::milliseconds(5));
  node(h.topo, "p").current_lsn = Lsn{1500};
  node(h.topo, "r1").replay_lsn = Lsn{1500};
  node(h.topo, "r2").replay_lsn = Lsn{1200};
  CHECK(resolve_ryw(h.session.ryw, h.topo));
  CHECK(h.session.ryw.lsn == Lsn{1500});
  CHECK_FALSE(h.session.ryw.committed_at);
  for (int i = 0; i < 10; ++i) CHECK(h.choose({"SELECT 1"}).node->name == "r1");
  // r1 falls behind as well -> primary (even with no_replica: error: freshness wins)
  node(h.topo, "r1").replay_lsn = Lsn{1400};
  h.cfg.routing.no_replica = config::NoReplicaPolicy::error;
  CHECK(h.route("SELECT 1") == "primary");
  // both caught up -> both serve again
  node(h.topo, "r1").replay_lsn = Lsn{1600};
  node(h.topo, "r2").replay_lsn = Lsn{1500};
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) seen.insert(h.choose({"SELECT 1"}).node->name);
  CHECK(seen == std::set<std::string>{"r1", "r2"});

  Harness off;  // routing.read_your_writes: false
  off.cfg.routing.read_your_writes = false;
  off.session.ryw.committed_at = t0;
  CHECK(off.route("SELECT 1") == "replica");
}

TEST_CASE("router: transaction summary tells writes from transaction control") {
  Harness h;
  auto w = h.summary({"BEGIN", "SELECT 1", "COMMIT"});
  CHECK(w.rw_begin);
  CHECK_FALSE(w.hard_primary);
  CHECK_FALSE(w.soft_primary);
  auto x = h.summary({"BEGIN", "UPDATE t SET a = 1", "COMMIT"});
  CHECK(x.hard_primary);
  auto v = h.summary({"SELECT add_order(1)"});
  CHECK(v.soft_primary);
  CHECK_FALSE(v.hard_primary);
  auto u = h.summary({"SELECT brand_new_fn()"});
  CHECK(u.unknown_functions == std::vector<std::string>{"brand_new_fn"});
}

TEST_CASE("router: the sent-bytes scanner finds Query and Parse texts") {
  std::string bytes;
  auto frame = [&](char tag, std::string body) {
    bytes += tag;
    uint32_t len = static_cast<uint32_t>(body.size() + 4);
    for (int s = 24; s >= 0; s -= 8) bytes += static_cast<char>((len >> s) & 0xff);
    bytes += body;
  };
  frame('Q', std::string("SELECT 1") + '\0');
  frame('P', std::string("s1") + '\0' + "INSERT INTO t VALUES ($1)" + '\0' + std::string(2, '\0'));
  frame('S', "");
  std::vector<std::string> texts;
  for_each_sent_statement(bytes, [&](std::string_view t) { texts.emplace_back(t); });
  CHECK(texts == std::vector<std::string>{"SELECT 1", "INSERT INTO t VALUES ($1)"});
  texts.clear();
  for_each_sent_statement(std::string_view(bytes).substr(0, bytes.size() - 3), [&](std::string_view t) { texts.emplace_back(t); });
  CHECK(texts.size() == 2);  // the cut Sync is ignored
}

TEST_CASE("router: outstanding tickets count transactions per node") {
  Router r;
  {
    auto a = r.take_ticket("r1");
    auto b = r.take_ticket("r1");
    CHECK(r.outstanding("r1") == 2);
    OutstandingTicket moved = std::move(a);
    CHECK(r.outstanding("r1") == 2);
    b.reset();
    CHECK(r.outstanding("r1") == 1);
  }
  CHECK(r.outstanding("r1") == 0);
  CHECK(r.outstanding("nobody") == 0);
}

TEST_CASE("router: SET pgscale.route, every spelling, is a directive pgscale answers (also in a block)") {
  Harness h;
  const std::pair<const char*, const char*> spellings[] = {
      {"SET pgscale.route = primary", "primary"},      {"SET pgscale.route = 'primary'", "primary"},
      {"SET pgscale.route TO primary", "primary"},     {"SET SESSION pgscale.route = primary", "primary"},
      {"set pgscale.route to 'primary';", "primary"},  {"SET pgscale.route = replica", "replica"},
      {"SET pgscale.route TO 'replica'", "replica"},   {"SET SESSION pgscale.route TO replica", "replica"},
      {"SET pgscale.route = auto", "auto"},            {"SET pgscale.route = 'auto'", "auto"},
      {"SET pgscale.route TO DEFAULT", "auto"},        {"RESET pgscale.route", "auto"},
  };
  for (const auto& [sql, want] : spellings) {
    INFO(sql);
    auto c = h.cls->classify(sql);
    REQUIRE(c->route_directive.has_value());
    CHECK(c->directive_only);
    SessionRouting s;
    s.directive = classifier::RouteDirective::replica;
    s.note(*c);
    std::string got = !s.directive                                       ? "auto"
                      : *s.directive == classifier::RouteDirective::primary ? "primary"
                                                                             : "replica";
    CHECK(got == want);
  }
  // Not a directive on its own: the whole string goes to PostgreSQL.
  CHECK_FALSE(h.cls->classify("SET pgscale.route = 'replica'; SELECT 1")->directive_only);
}

TEST_CASE("router: a statement pipelined behind a replica read leaves the replica only when it must") {
  Harness h;
  AttachedTxn on_replica{Target::replica, false, false, false, false};
  auto next = [&](const char* sql) { return h.summary({sql}); };
  CHECK(must_leave_server(next("INSERT INTO t VALUES (1)"), on_replica, h.session, h.cfg));
  CHECK(must_leave_server(next("SELECT nextval('s')"), on_replica, h.session, h.cfg));
  CHECK(must_leave_server(next("BEGIN"), on_replica, h.session, h.cfg));
  CHECK_FALSE(must_leave_server(next("SELECT 1"), on_replica, h.session, h.cfg));
  CHECK_FALSE(must_leave_server(next("BEGIN READ ONLY"), on_replica, h.session, h.cfg));
  CHECK_FALSE(must_leave_server(TxnSummary{}, on_replica, h.session, h.cfg));  // nothing classified
  // Never: on the primary, inside a block, in the middle of an implicit transaction, pinned.
  auto write = next("UPDATE t SET a = 1");
  CHECK_FALSE(must_leave_server(write, {Target::primary, false, false, false, false}, h.session, h.cfg));
  CHECK_FALSE(must_leave_server(write, {Target::replica, true, false, false, false}, h.session, h.cfg));
  CHECK_FALSE(must_leave_server(write, {Target::replica, false, true, false, false}, h.session, h.cfg));
  CHECK_FALSE(must_leave_server(write, {Target::replica, false, false, true, false}, h.session, h.cfg));
  CHECK_FALSE(must_leave_server(write, {Target::replica, false, false, false, true}, h.session, h.cfg));
  // SET pgscale.route = primary pipelined before a read: that read leaves the replica.
  h.summary({"SET pgscale.route = primary"});
  CHECK(must_leave_server(next("SELECT 1"), on_replica, h.session, h.cfg));
}

TEST_CASE("router: counters copied per thread stay shared and per router") {
  Router r;
  CHECK(r.outstanding("r2") == 0);  // no counter yet: a later ticket must still be seen
  auto a = r.take_ticket("r2");
  CHECK(r.outstanding("r2") == 1);
  // Another thread's tickets and reads use the same counter.
  int64_t seen_there = -1;
  std::thread([&] {
    auto b = r.take_ticket("r2");
    seen_there = r.outstanding("r2");
  }).join();
  CHECK(seen_there == 2);
  CHECK(r.outstanding("r2") == 1);
  // A second router on this thread has counters of its own.
  Router other;
  CHECK(other.outstanding("r2") == 0);
  auto c = other.take_ticket("r2");
  CHECK(other.outstanding("r2") == 1);
  CHECK(r.outstanding("r2") == 1);
  // More nodes than the per-thread copy holds: counts stay right when it starts afresh.
  std::vector<OutstandingTicket> many;
  for (int i = 0; i < 200; ++i) many.push_back(r.take_ticket("n" + std::to_string(i % 100)));
  for (int i = 0; i < 100; ++i) CHECK(r.outstanding("n" + std::to_string(i)) == 2);
  CHECK(r.outstanding("r2") == 1);
}

#include "tests/integration/txpool_client.hpp"

#include <cstring>
#include <utility>

namespace pgscale::testing::txpool {
namespace {

// The four settings a client changes, by index (value_for / field()).
constexpr const char* kSettingNames[4] = {"search_path", "statement_timeout", "TimeZone", "application_name"};

// Real zone names in their canonical spelling (current_setting returns them as set).
constexpr const char* kZones[] = {"Europe/Paris",     "America/New_York", "Asia/Tokyo",     "Australia/Sydney",
                                  "Africa/Cairo",     "America/Sao_Paulo", "Asia/Kolkata",  "Europe/Helsinki",
                                  "Pacific/Auckland", "America/Denver",   "Asia/Singapore", "Atlantic/Reykjavik",
                                  "Europe/Lisbon",    "Asia/Dubai",       "America/Anchorage", "Etc/GMT+5"};
constexpr int kZoneCount = sizeof(kZones) / sizeof(kZones[0]);

std::string& field(Settings& s, int which) {
  switch (which) {
    case 0: return s.search_path;
    case 1: return s.statement_timeout;
    case 2: return s.timezone;
    default: return s.app_name;
  }
}

std::string sql_literal(const std::string& v) {
  std::string out = "'";
  for (char ch : v) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  return out + "'";
}

std::string state_of(const PGresult* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

std::string describe(const PGresult* r) {
  if (r == nullptr) return "<no result>";
  std::string out = PQresStatus(PQresultStatus(r));
  if (PQresultStatus(r) == PGRES_FATAL_ERROR) out += std::string(" ") + state_of(r) + " " + PQresultErrorMessage(r);
  return out;
}

bool ok_status(const PGresult* r) {
  return r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
}

}  // namespace

Client::Client(int id, std::string conninfo, Defaults defaults, unsigned seed)
    : id_(id), conninfo_(std::move(conninfo)), defaults_(std::move(defaults)), rng_(seed) {}

Client::~Client() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Settings Client::startup_settings() const {
  return {defaults_.search_path, defaults_.statement_timeout, defaults_.timezone, "txpool_c" + std::to_string(id_)};
}

// Statement kinds. Names shared by every client carry per-client texts (kind 0) or the same text
// (kinds 1, 3, 4); kind 2 has a per-client name but the very text of kind 1.
Client::Stmt Client::stmt(int kind) const {
  const std::string me = std::to_string(id_);
  switch (kind) {
    case 0: return {"s_shared", "SELECT $1::int + " + me, 1, 0};
    case 1: return {"s_common", "SELECT $1::int * 2", 1, 0};
    case 2: return {"s_own_" + me, "SELECT $1::int * 2", 1, 0};
    case 3:
      return {"s_cfg",
              "SELECT current_setting('search_path'), current_setting('statement_timeout'), "
              "current_setting('TimeZone'), current_setting('application_name')",
              0, 0};
    case 4: return {"s_tbl", "SELECT v FROM txpool_t", 0, 0};
    default: return {"s_text_" + me, "SELECT $1 || '-c" + me + "'", 1, 25 /* text */};
  }
}

std::string Client::value_for(int which) {
  ++serial_;
  switch (which) {
    case 0: return "txpool_s" + std::to_string(id_) + (serial_ % 2 ? "" : ", public");
    case 1: return std::to_string(20001 + id_ * 1000 + (serial_ % 900)) + "ms";  // never a whole second
    case 2: return kZones[(id_ * 7 + serial_) % kZoneCount];
    default: return "c" + std::to_string(id_) + "_n" + std::to_string(serial_);
  }
}

void Client::expect(bool ok, const std::string& what) {
  ++checks_;
  if (ok) return;
  ++mismatches_;
  if (errors_.size() < 20) {
    errors_.push_back("client " + std::to_string(id_) + " round " + std::to_string(round_) + ": " + what);
  }
}

bool Client::expect_ok(PGresult* r, const std::string& what) {
  const bool ok = ok_status(r);
  expect(ok, what + " -> " + describe(r));
  if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  PQclear(r);
  return ok;
}

void Client::expect_state(PGresult* r, const char* state, const std::string& what) {
  expect(r && PQresultStatus(r) == PGRES_FATAL_ERROR && state_of(r) == state,
         what + ": expected SQLSTATE " + state + ", got " + describe(r));
  if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  PQclear(r);
}

PGresult* Client::run(const std::string& sql) { return PQexec(conn_, sql.c_str()); }

void Client::run(int rounds) {
  conn_ = PQconnectdb((conninfo_ + " application_name=txpool_c" + std::to_string(id_)).c_str());
  connected_ = PQstatus(conn_) == CONNECTION_OK;
  expect(connected_, std::string("connect: ") + PQerrorMessage(conn_));
  if (!connected_) return;
  session_ = startup_settings();
  check_settings(session_, "fresh connection");
  for (round_ = 0; round_ < rounds && !broken_; ++round_) {
    const int steps = 3 + static_cast<int>(rng_() % 4);
    for (int i = 0; i < steps && !broken_; ++i) step();
    check_settings(session_, "end of round");
  }
  expect(!broken_, std::string("connection lost: ") + PQerrorMessage(conn_));
  for (int k = 0; k < kKinds && !broken_; ++k) {
    if (prepared_[k]) exec_kind(k, session_);
  }
}

void Client::step() {
  const unsigned pick = rng_() % 100;
  if (pick < 18) op_prepare();
  else if (pick < 40) op_exec();
  else if (pick < 55) op_set();
  else if (pick < 60) op_reset();
  else if (pick < 78) op_transaction();
  else if (pick < 83) op_failed_transaction();
  else if (pick < 86) op_bad_parameter();
  else if (pick < 96) op_deallocate();
  else op_discard_all();
}

bool Client::prepare_kind(int kind) {
  const Stmt s = stmt(kind);
  PGresult* r = PQprepare(conn_, s.name.c_str(), s.text.c_str(), s.nparams, s.type ? &s.type : nullptr);
  if (prepared_[kind]) {
    expect_state(r, "42P05", "PQprepare of the already prepared " + s.name);
  } else if (expect_ok(r, "PQprepare " + s.name + " [" + s.text + "]")) {
    prepared_[kind] = true;
  }
  return !broken_;
}

void Client::op_prepare() { prepare_kind(static_cast<int>(rng_() % kKinds)); }

void Client::op_exec() {
  const int kind = static_cast<int>(rng_() % kKinds);
  if (rng_() % 4 == 0) describe_kind(kind);
  exec_kind(kind, session_);
}

// Describe (statement variant) answers with this client's statement: its parameter count and
// types and its result columns, or 26000 when this client has no statement of that name.
void Client::describe_kind(int kind) {
  const Stmt s = stmt(kind);
  PGresult* r = PQdescribePrepared(conn_, s.name.c_str());
  if (!prepared_[kind]) {
    expect_state(r, "26000", "PQdescribePrepared of " + s.name + " which this client has not prepared");
    return;
  }
  static constexpr int kColumns[kKinds] = {1, 1, 1, 4, 1, 1};
  const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK && PQnparams(r) == s.nparams &&
                  PQnfields(r) == kColumns[kind] && (s.nparams == 0 || PQparamtype(r, 0) == (s.type ? s.type : 23));
  expect(ok, "PQdescribePrepared " + s.name + " -> " + describe(r) + " params " + std::to_string(r ? PQnparams(r) : -1) +
                 " fields " + std::to_string(r ? PQnfields(r) : -1));
  PQclear(r);
}

// Executes statement `kind` and checks its result against what this client prepared under that
// name, with `effective` the settings in force (SET LOCAL included).
void Client::exec_kind(int kind, const Settings& effective) {
  const Stmt s = stmt(kind);
  const int arg = static_cast<int>(rng_() % 1000);
  const std::string arg_text = std::to_string(arg);
  const char* values[1] = {arg_text.c_str()};
  PGresult* r = PQexecPrepared(conn_, s.name.c_str(), s.nparams, s.nparams ? values : nullptr, nullptr, nullptr, 0);
  if (!prepared_[kind]) {
    expect_state(r, "26000", "PQexecPrepared of " + s.name + " which this client has not prepared");
    return;
  }
  const std::string what = "PQexecPrepared " + s.name + "(" + arg_text + ")";
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    expect(false, what + " -> " + describe(r));
    PQclear(r);
    return;
  }
  std::vector<std::string> got;
  for (int c = 0; c < PQnfields(r); ++c) got.emplace_back(PQgetvalue(r, 0, c));
  PQclear(r);
  std::vector<std::string> want;
  switch (kind) {
    case 0: want = {std::to_string(arg + id_)}; break;
    case 1:
    case 2: want = {std::to_string(arg * 2)}; break;
    case 3: want = {effective.search_path, effective.statement_timeout, effective.timezone, effective.app_name}; break;
    case 4:
      want = {effective.search_path.rfind("txpool_s" + std::to_string(id_), 0) == 0 ? std::to_string(id_) : "-1"};
      break;
    default: want = {arg_text + "-c" + std::to_string(id_)};
  }
  std::string g, w;
  for (auto& v : got) g += "[" + v + "]";
  for (auto& v : want) w += "[" + v + "]";
  expect(g == w, what + ": expected " + w + ", got " + g);
}

void Client::op_set() {
  const int which = static_cast<int>(rng_() % 4);
  const std::string v = value_for(which);
  const char* name = kSettingNames[which];
  std::string sql;
  switch (rng_() % 3) {
    case 0: sql = std::string("SET ") + name + " = " + (which == 0 ? v : sql_literal(v)); break;
    case 1: sql = std::string("SET SESSION ") + name + " TO " + (which == 0 ? v : sql_literal(v)); break;
    default: sql = std::string("SELECT set_config('") + name + "', " + sql_literal(v) + ", false)";
  }
  if (expect_ok(run(sql), sql)) field(session_, which) = v;
  if (rng_() % 2) check_settings(session_, "after SET");
}

void Client::op_reset() {
  Settings start = startup_settings();
  if (rng_() % 4 == 0) {
    if (expect_ok(run("RESET ALL"), "RESET ALL")) session_ = start;
  } else {
    const int which = static_cast<int>(rng_() % 4);
    if (expect_ok(run(std::string("RESET ") + kSettingNames[which]), "RESET")) {
      field(session_, which) = field(start, which);
    }
  }
  check_settings(session_, "after RESET");
}

// BEGIN; [SET a]; [SET LOCAL b]; checks and statements; [Parse of a new statement]; COMMIT or
// ROLLBACK. SET survives only a COMMIT, SET LOCAL never; a statement prepared inside the block
// survives both (protocol-level prepared statements are not transactional).
void Client::op_transaction() {
  static constexpr const char* kBegins[] = {"BEGIN", "START TRANSACTION", "BEGIN ISOLATION LEVEL REPEATABLE READ"};
  if (!expect_ok(run(kBegins[rng_() % 3]), "BEGIN")) return;
  Settings local = session_;
  Settings after_commit = session_;
  const int set_which = static_cast<int>(rng_() % 5);  // 4 = no SET
  const int local_which = static_cast<int>(rng_() % 5);
  if (set_which < 4) {
    const std::string v = value_for(set_which);
    const std::string sql = std::string("SELECT set_config('") + kSettingNames[set_which] + "', " + sql_literal(v) + ", false)";
    if (expect_ok(run(sql), sql + " in a transaction")) field(local, set_which) = field(after_commit, set_which) = v;
  }
  if (local_which < 4 && local_which != set_which) {
    const std::string v = value_for(local_which);
    const std::string sql = std::string("SET LOCAL ") + kSettingNames[local_which] + " = " +
                            (local_which == 0 ? v : sql_literal(v));
    if (expect_ok(run(sql), sql)) field(local, local_which) = v;
  }
  check_settings(local, "inside a transaction");
  for (int k = 0; k < kKinds && !broken_; ++k) {
    if (prepared_[k] && rng_() % 2) exec_kind(k, local);
  }
  if (rng_() % 3 == 0) {
    for (int k = 0; k < kKinds; ++k) {
      if (!prepared_[k]) {
        prepare_kind(k);
        if (prepared_[k]) exec_kind(k, local);
        break;
      }
    }
  }
  const bool commit = rng_() % 2;
  if (expect_ok(run(commit ? "COMMIT" : "ROLLBACK"), commit ? "COMMIT" : "ROLLBACK") && commit) {
    session_ = after_commit;
  }
  check_settings(session_, commit ? "after COMMIT" : "after ROLLBACK");
}

// A SET inside a transaction that fails is undone by the ROLLBACK.
void Client::op_failed_transaction() {
  if (!expect_ok(run("BEGIN"), "BEGIN")) return;
  const int which = static_cast<int>(rng_() % 4);
  const std::string sql = std::string("SET ") + kSettingNames[which] + " = " +
                          (which == 0 ? value_for(which) : sql_literal(value_for(which)));
  expect_ok(run(sql), sql + " in a transaction");
  expect_state(run("SELECT 1/0"), "22012", "division by zero in a transaction");
  expect_state(run("SELECT 1"), "25P02", "statement in an aborted transaction");
  expect_ok(run("ROLLBACK"), "ROLLBACK of the failed transaction");
  check_settings(session_, "after the failed transaction");
}

// An execution error outside a transaction block leaves the statement and the settings in place.
void Client::op_bad_parameter() {
  if (!prepared_[0]) return;
  const char* values[1] = {"not a number"};
  expect_state(PQexecPrepared(conn_, "s_shared", 1, values, nullptr, nullptr, 0), "22P02",
               "s_shared with a non-integer parameter");
  exec_kind(0, session_);
}

void Client::op_deallocate() {
  if (rng_() % 10 == 0) {
    if (expect_ok(run("DEALLOCATE ALL"), "DEALLOCATE ALL")) prepared_.fill(false);
    exec_kind(static_cast<int>(rng_() % kKinds), session_);  // 26000
    return;
  }
  const int kind = static_cast<int>(rng_() % kKinds);
  const std::string sql = std::string(rng_() % 2 ? "DEALLOCATE " : "DEALLOCATE PREPARE ") + stmt(kind).name;
  if (prepared_[kind]) {
    if (expect_ok(run(sql), sql)) prepared_[kind] = false;
  } else {
    expect_state(run(sql), "26000", sql + " of a statement this client has not prepared");
  }
  exec_kind(kind, session_);  // 26000 now
}

// DISCARD ALL: every prepared statement gone, every setting back to the session's defaults
// (application_name to the one given at connection start).
void Client::op_discard_all() {
  if (expect_ok(run("DISCARD ALL"), "DISCARD ALL")) {
    prepared_.fill(false);
    session_ = startup_settings();
  }
  check_settings(session_, "after DISCARD ALL");
  for (int k = 0; k < kKinds && !broken_; ++k) exec_kind(k, session_);  // all 26000
}

// Reads the four settings (one query, or SHOW by SHOW) and the ParameterStatus values libpq holds
// for the two that PostgreSQL reports (application_name, TimeZone).
void Client::check_settings(const Settings& expected, const char* where) {
  Settings got;
  if (rng_() % 2) {
    PGresult* r = run("SELECT current_setting('search_path'), current_setting('statement_timeout'), "
                      "current_setting('TimeZone'), current_setting('application_name')");
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 4) {
      expect(false, std::string("reading settings ") + where + " -> " + describe(r));
      PQclear(r);
      return;
    }
    for (int i = 0; i < 4; ++i) field(got, i) = PQgetvalue(r, 0, i);
    PQclear(r);
  } else {
    for (int i = 0; i < 4; ++i) {
      PGresult* r = run(std::string("SHOW ") + kSettingNames[i]);
      if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        expect(false, std::string("SHOW ") + kSettingNames[i] + " " + where + " -> " + describe(r));
        PQclear(r);
        return;
      }
      field(got, i) = PQgetvalue(r, 0, 0);
      PQclear(r);
    }
  }
  Settings want = expected;
  for (int i = 0; i < 4; ++i) {
    expect(field(got, i) == field(want, i), std::string(kSettingNames[i]) + " " + where + ": expected [" +
                                                field(want, i) + "], got [" + field(got, i) + "]");
  }
  const char* app = PQparameterStatus(conn_, "application_name");
  const char* tz = PQparameterStatus(conn_, "TimeZone");
  expect(app && want.app_name == app, std::string("ParameterStatus application_name ") + where + ": expected [" +
                                          want.app_name + "], got [" + (app ? app : "<none>") + "]");
  expect(tz && want.timezone == tz, std::string("ParameterStatus TimeZone ") + where + ": expected [" +
                                        want.timezone + "], got [" + (tz ? tz : "<none>") + "]");
}

void Client::print_errors(std::FILE* out, size_t max) const {
  for (size_t i = 0; i < errors_.size() && i < max; ++i) std::fprintf(out, "  mismatch: %s\n", errors_[i].c_str());
  if (mismatches_ > static_cast<long>(std::min(max, errors_.size()))) {
    std::fprintf(out, "  ... client %d: %ld mismatches in all\n", id_, mismatches_);
  }
}

}  // namespace pgscale::testing::txpool

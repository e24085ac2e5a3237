// One simulated application client of tests/integration/txpool_clients.cpp: a libpq connection,
// the state it believes its session has (settings, protocol-level prepared statements), and random
// steps that change and verify that state. Runs on its own thread; no Catch2 calls inside (Catch2
// assertions are not thread-safe), mismatches are collected and reported by the test.
#pragma once

#include <libpq-fe.h>

#include <array>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace pgscale::testing::txpool {

// Appended to every conninfo: no PGOPTIONS from the environment, so a session's defaults are the
// server's and DISCARD ALL / RESET return to exactly them.
inline constexpr const char* kConnExtra = "options=''";

struct Defaults {  // what a fresh session shows (read from PostgreSQL directly)
  std::string search_path, statement_timeout, timezone;
};

struct Settings {
  std::string search_path, statement_timeout, timezone, app_name;
};

inline constexpr int kKinds = 6;  // statement kinds a client prepares (see txpool_client.cpp)

class Client {
 public:
  Client(int id, std::string conninfo, Defaults defaults, unsigned seed);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void run(int rounds);
  long checks() const { return checks_; }
  long mismatches() const { return mismatches_; }
  bool connected() const { return connected_; }
  void print_errors(std::FILE* out, size_t max) const;

 private:
  struct Stmt {
    std::string name, text;
    int nparams;
    Oid type;  // of $1 given to PQprepare (0 = let the server infer)
  };
  Stmt stmt(int kind) const;
  Settings startup_settings() const;
  std::string value_for(int which);  // a fresh value of setting `which` unique to this client

  void step();
  void op_prepare();
  bool prepare_kind(int kind);  // false = connection broken
  void op_exec();
  void exec_kind(int kind, const Settings& effective);
  void describe_kind(int kind);
  void op_set();
  void op_reset();
  void op_transaction();
  void op_failed_transaction();
  void op_bad_parameter();
  void op_deallocate();
  void op_discard_all();
  void check_settings(const Settings& expected, const char* where);

  PGresult* run(const std::string& sql);
  void expect(bool ok, const std::string& what);
  bool expect_ok(PGresult* r, const std::string& what);                     // clears r
  void expect_state(PGresult* r, const char* state, const std::string& what);  // clears r

  int id_;
  std::string conninfo_;
  Defaults defaults_;
  std::mt19937 rng_;
  PGconn* conn_ = nullptr;
  bool connected_ = false;
  bool broken_ = false;
  int round_ = 0;
  long serial_ = 0;
  Settings session_;
  std::array<bool, kKinds> prepared_{};
  long checks_ = 0;
  long mismatches_ = 0;
  std::vector<std::string> errors_;  // the first few, for the report
};

}  // namespace pgscale::testing::txpool

// The codec and SCRAM against a real PostgreSQL 15 (the local cluster of tests/run.sh): pgscale's
// client side logs in with a password and with a ClientKey recovered by its server side
// (pass-through), a verifier made by make_verifier() is accepted by PostgreSQL, and real server
// traffic (simple and extended query, errors, notices) decodes. Skips (77) without a cluster.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "protocol/md5_auth.hpp"
#include "protocol/messages.hpp"
#include "protocol/scram.hpp"

using namespace pgscale::protocol;

namespace {

std::map<std::string, std::string> cluster_env() {
  std::map<std::string, std::string> env;
  std::ifstream in(std::string(std::getenv("PGSCALE_CLUSTER_DIR")) + "/cluster.env");
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos || line[0] == '#') continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'')) {
      value = value.substr(1, value.size() - 2);
    }
    env[line.substr(0, eq)] = value;
  }
  return env;
}

struct Message {
  char tag = 0;
  std::string body;
};

// A blocking connection with a 10 s receive timeout: every wait in this test is bounded.
class Conn {
 public:
  static Conn tcp(int port) {
    Conn c;
    c.fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.ok_ = ::connect(c.fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    c.set_timeout();
    return c;
  }
  static Conn unix_socket(const std::string& dir, int port) {
    Conn c;
    c.fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string path = dir + "/.s.PGSQL." + std::to_string(port);
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    c.ok_ = ::connect(c.fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    c.set_timeout();
    return c;
  }
  Conn() = default;
  Conn(Conn&& o) noexcept : fd_(o.fd_), ok_(o.ok_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }

  void send(const std::string& bytes) {
    size_t off = 0;
    while (ok_ && off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) ok_ = false;
      else off += static_cast<size_t>(n);
    }
  }
  // Next backend message; tag 0 on EOF, timeout or a framing error.
  Message next() {
    for (int reads = 0; reads < 100000 && ok_; ++reads) {
      FrameResult f = decode_backend_frame(buf_);
      if (f.errc == Errc::ok) {
        Message m{f.frame.tag, std::string(f.frame.body)};
        buf_.erase(0, f.frame.size);
        return m;
      }
      if (f.errc != Errc::incomplete) break;
      char chunk[8192];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buf_.append(chunk, static_cast<size_t>(n));
    }
    ok_ = false;
    return {};
  }
  // Messages up to and including ReadyForQuery.
  std::vector<Message> until_ready() {
    std::vector<Message> out;
    for (int i = 0; i < 10000; ++i) {
      out.push_back(next());
      if (out.back().tag == 'Z' || out.back().tag == 0) break;
    }
    return out;
  }

 private:
  void set_timeout() {
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

void send_startup(Conn& c, std::string_view user, std::string_view db) {
  StartupMessage m;
  m.params = {{"user", user}, {"database", db}, {"application_name", "pgscale-protocol-test"}};
  std::string out;
  encode_startup_message(out, m);
  c.send(out);
}

// Runs the SCRAM exchange with `client`; returns the error message text on failure, "" on success.
std::string scram_login(Conn& c, scram::ScramClient& client) {
  Message m = c.next();
  Authentication auth;
  if (m.tag != 'R' || decode(m.body, auth) != Errc::ok || auth.code != AuthCode::sasl) {
    return "expected AuthenticationSASL, got tag " + std::string(1, m.tag);
  }
  std::string first, out;
  if (client.client_first(first) != Errc::ok) return "client_first";
  encode(out, SaslInitialResponse{kScramSha256, true, first});
  c.send(out);
  m = c.next();
  if (m.tag != 'R' || decode(m.body, auth) != Errc::ok || auth.code != AuthCode::sasl_continue) {
    return "expected SASLContinue, got tag " + std::string(1, m.tag);
  }
  std::string final_msg;
  Errc e = client.handle_server_first(auth.data, final_msg);
  if (e != Errc::ok) return "handle_server_first: " + std::string(errc_name(e));
  out.clear();
  encode(out, SaslResponse{final_msg});
  c.send(out);
  m = c.next();
  if (m.tag == 'E') {
    ErrorResponse err;
    (void)decode(m.body, err);
    return std::string(err.sqlstate()) + " " + std::string(err.message());
  }
  if (m.tag != 'R' || decode(m.body, auth) != Errc::ok || auth.code != AuthCode::sasl_final) {
    return "expected SASLFinal";
  }
  e = client.handle_server_final(auth.data);
  if (e != Errc::ok) return "handle_server_final: " + std::string(errc_name(e));
  m = c.next();
  if (m.tag != 'R' || decode(m.body, auth) != Errc::ok || auth.code != AuthCode::ok) {
    return "expected AuthenticationOk";
  }
  return "";
}

// After AuthenticationOk: ParameterStatus*, BackendKeyData, ReadyForQuery.
bool finish_startup(Conn& c, std::map<std::string, std::string>& params, BackendKeyData& key) {
  for (Message& m : c.until_ready()) {
    if (m.tag == 'S') {
      ParameterStatus ps;
      if (decode(m.body, ps) != Errc::ok) return false;
      params[std::string(ps.name)] = std::string(ps.value);
    } else if (m.tag == 'K') {
      if (decode(m.body, key) != Errc::ok) return false;
    } else if (m.tag == 'Z') {
      return true;
    } else {
      return false;
    }
  }
  return false;
}

// Logs in over the unix socket as the trusted superuser and returns the single value of `sql`.
std::string superuser_value(const std::map<std::string, std::string>& env, const std::string& sql) {
  Conn c = Conn::unix_socket(env.at("PGSCALE_SOCKET_DIR"), std::stoi(env.at("PGSCALE_S0_PRIMARY_PORT")));
  send_startup(c, "postgres", "postgres");
  Message m = c.next();
  Authentication auth;
  if (m.tag != 'R' || decode(m.body, auth) != Errc::ok || auth.code != AuthCode::ok) return "";
  std::map<std::string, std::string> params;
  BackendKeyData key;
  if (!finish_startup(c, params, key)) return "";
  std::string out;
  encode(out, Query{sql});
  c.send(out);
  std::string value;
  for (Message& r : c.until_ready()) {
    DataRow row;
    if (r.tag == 'D' && decode(r.body, row) == Errc::ok && row.values.size() == 1 && row.values[0]) {
      value = std::string(*row.values[0]);
    }
  }
  return value;
}

}  // namespace

TEST_CASE("real server: SCRAM login with the password, then simple and extended queries",
          "[protocol][integration]") {
  auto env = cluster_env();
  Conn c = Conn::tcp(std::stoi(env.at("PGSCALE_S0_PRIMARY_PORT")));
  REQUIRE(c.ok());
  send_startup(c, env.at("PGSCALE_APP_USER"), env.at("PGSCALE_APP_DB"));
  auto client = scram::ScramClient::with_password(env.at("PGSCALE_APP_PASSWORD"));
  REQUIRE(scram_login(c, client) == "");
  std::map<std::string, std::string> params;
  BackendKeyData key;
  REQUIRE(finish_startup(c, params, key));
  CHECK(params["server_version"].starts_with("15"));
  CHECK(params["client_encoding"] == "UTF8");
  CHECK(key.process_id > 0);

  // Simple query, two statements and an error.
  std::string out;
  encode(out, Query{"SELECT 1 AS one, NULL::text AS n; SELECT 2; SELECT 1/0"});
  c.send(out);
  std::string tags, command_tags, sqlstate;
  for (Message& m : c.until_ready()) {
    tags += m.tag;
    if (m.tag == 'T') {
      RowDescription rd;
      REQUIRE(decode(m.body, rd) == Errc::ok);
    } else if (m.tag == 'D') {
      DataRow row;
      REQUIRE(decode(m.body, row) == Errc::ok);
    } else if (m.tag == 'C') {
      CommandComplete cc;
      REQUIRE(decode(m.body, cc) == Errc::ok);
      CommandTag t;
      REQUIRE(parse_command_tag(cc.command_tag, t) == Errc::ok);
      command_tags += std::string(cc.command_tag) + ";";
    } else if (m.tag == 'E') {
      ErrorResponse e;
      REQUIRE(decode(m.body, e) == Errc::ok);
      sqlstate = e.sqlstate();
    } else if (m.tag == 'Z') {
      ReadyForQuery z;
      REQUIRE(decode(m.body, z) == Errc::ok);
      CHECK(z.status == TxStatus::idle);
    }
  }
  CHECK(tags == "TDCTDCEZ");  // 1/0 fails while planning (constant folding): no RowDescription
  CHECK(command_tags == "SELECT 1;SELECT 1;");
  CHECK(sqlstate == "22012");

  // Extended query: Parse/Bind(NULL and text)/Describe/Execute/Sync.
  out.clear();
  encode(out, Parse{"s1", "SELECT $1::int + 1, $2::text IS NULL", {23, 0}});
  encode(out, Describe{TargetKind::statement, "s1"});
  Bind b;
  b.statement = "s1";
  b.params = {Value{"41"}, std::nullopt};
  encode(out, b);
  encode(out, Execute{"", 0});
  encode(out, Close{TargetKind::statement, "s1"});
  encode(out, Sync{});
  c.send(out);
  std::vector<Message> msgs = c.until_ready();
  tags.clear();
  for (Message& m : msgs) tags += m.tag;
  CHECK(tags == "1tT2DC3Z");
  for (Message& m : msgs) {
    if (m.tag == 't') {
      ParameterDescription pd;
      REQUIRE(decode(m.body, pd) == Errc::ok);
      CHECK(pd.types == std::vector<uint32_t>{23, 25});
    } else if (m.tag == 'D') {
      DataRow row;
      REQUIRE(decode(m.body, row) == Errc::ok);
      REQUIRE(row.values.size() == 2);
      CHECK(row.values[0] == Value{"42"});
      CHECK(row.values[1] == Value{"t"});
    }
  }
  out.clear();
  encode(out, Terminate{});
  c.send(out);
}

TEST_CASE("real server: wrong password is refused with 28P01", "[protocol][integration]") {
  auto env = cluster_env();
  Conn c = Conn::tcp(std::stoi(env.at("PGSCALE_S0_PRIMARY_PORT")));
  REQUIRE(c.ok());
  send_startup(c, env.at("PGSCALE_APP_USER"), env.at("PGSCALE_APP_DB"));
  auto client = scram::ScramClient::with_password(env.at("PGSCALE_APP_PASSWORD") + "x");
  std::string result = scram_login(c, client);
  CHECK(result.starts_with("28P01"));
}

TEST_CASE("real server: SCRAM pass-through with the ClientKey recovered from the app's proof",
          "[protocol][integration]") {
  auto env = cluster_env();
  std::string verifier_text =
      superuser_value(env, "SELECT rolpassword FROM pg_authid WHERE rolname = '" +
                               env.at("PGSCALE_APP_USER") + "'");
  scram::Verifier verifier;
  REQUIRE(scram::parse_verifier(verifier_text, verifier) == Errc::ok);

  // The application proves itself to pgscale's server side, which recovers its ClientKey...
  scram::ScramServer front(verifier);
  auto app = scram::ScramClient::with_password(env.at("PGSCALE_APP_PASSWORD"));
  std::string c1, s1, c2, s2;
  REQUIRE(app.client_first(c1) == Errc::ok);
  REQUIRE(front.handle_client_first(c1, s1) == Errc::ok);
  REQUIRE(app.handle_server_first(s1, c2) == Errc::ok);
  REQUIRE(front.handle_client_final(c2, s2) == Errc::ok);
  REQUIRE(app.handle_server_final(s2) == Errc::ok);

  // ...and pgscale logs in to PostgreSQL with it, never having seen the password.
  Conn c = Conn::tcp(std::stoi(env.at("PGSCALE_S0_PRIMARY_PORT")));
  REQUIRE(c.ok());
  send_startup(c, env.at("PGSCALE_APP_USER"), env.at("PGSCALE_APP_DB"));
  auto proxy = scram::ScramClient::with_keys(front.client_key(), front.verifier());
  CHECK(scram_login(c, proxy) == "");
}

TEST_CASE("real server: PostgreSQL accepts a verifier made by make_verifier()",
          "[protocol][integration]") {
  auto env = cluster_env();
  std::string role = "pgscale_proto_" + std::to_string(::getpid());
  std::string password = "p@ss w0rd,with=odd chars";
  std::string verifier = scram::make_verifier(password, 4096);
  REQUIRE_FALSE(verifier.empty());
  REQUIRE(superuser_value(env, "CREATE ROLE " + role + " LOGIN PASSWORD '" + verifier +
                                   "'; SELECT 'created'") == "created");
  CHECK(superuser_value(env, "SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'") ==
        verifier);
  Conn c = Conn::tcp(std::stoi(env.at("PGSCALE_S0_PRIMARY_PORT")));
  REQUIRE(c.ok());
  send_startup(c, role, "postgres");
  auto client = scram::ScramClient::with_password(password);
  std::string result = scram_login(c, client);
  std::string out;
  encode(out, Terminate{});
  c.send(out);
  superuser_value(env, "DROP ROLE " + role + "; SELECT 'dropped'");
  CHECK(result == "");
}

TEST_CASE("real server: SASLprep-stable non-ASCII password, derived by PostgreSQL and by us",
          "[protocol][integration]") {
  auto env = cluster_env();
  std::string role = "pgscale_proto_u" + std::to_string(::getpid());
  std::string password = "p\xc3\xa4ssw\xc3\xb6rd";  // "pässwörd", NFKC-stable UTF-8
  REQUIRE(superuser_value(env, "CREATE ROLE " + role + " LOGIN PASSWORD '" + password +
                                   "'; SELECT 'created'") == "created");
  std::string theirs =
      superuser_value(env, "SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'");
  scram::Verifier v;
  REQUIRE(scram::parse_verifier(theirs, v) == Errc::ok);
  // Same salt and iterations, our derivation gives PostgreSQL's keys.
  scram::Verifier ours;
  REQUIRE(scram::derive_verifier(password, v.salt, v.iterations, ours) == Errc::ok);
  CHECK(ours == v);
  Conn c = Conn::tcp(std::stoi(env.at("PGSCALE_S0_PRIMARY_PORT")));
  REQUIRE(c.ok());
  send_startup(c, role, "postgres");
  auto client = scram::ScramClient::with_password(password);
  std::string result = scram_login(c, client);
  std::string out;
  encode(out, Terminate{});
  c.send(out);
  superuser_value(env, "DROP ROLE " + role + "; SELECT 'dropped'");
  CHECK(result == "");
}

TEST_CASE("real server: md5 hashes match PostgreSQL's", "[protocol][integration]") {
  auto env = cluster_env();
  std::string role = "pgscale_proto_m" + std::to_string(::getpid());
  REQUIRE(superuser_value(env, "SET password_encryption = 'md5'; CREATE ROLE " + role +
                                   " PASSWORD 'pencil'; SELECT 'created'") == "created");
  std::string stored =
      superuser_value(env, "SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'");
  superuser_value(env, "DROP ROLE " + role + "; SELECT 'dropped'");
  CHECK(stored == md5_password_hash("pencil", role));
  // The salted response, with PostgreSQL's md5() on a printable salt "abcd".
  std::string response = superuser_value(
      env, "SELECT 'md5' || md5(substr('" + stored + "', 4) || 'abcd')");
  CHECK(response == md5_response_from_hash(stored, Md5Salt{'a', 'b', 'c', 'd'}));
  CHECK(response == md5_response_from_password("pencil", role, Md5Salt{'a', 'b', 'c', 'd'}));
}

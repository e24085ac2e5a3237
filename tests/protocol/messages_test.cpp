// Golden bytes of every encoder and decode(encode(x)) == x for every message.
#include <catch2/catch.hpp>

#include "protocol/messages.hpp"
#include "tests/protocol/test_util.hpp"

using namespace pgscale::protocol;
using pgscale::protocol::test::be16;
using pgscale::protocol::test::be32;
using pgscale::protocol::test::cs;
using pgscale::protocol::test::frame;
using pgscale::protocol::test::hex;
using pgscale::protocol::test::round_trips;

namespace {

template <class T>
std::string encoded(const T& msg) {
  std::string out;
  encode(out, msg);
  return out;
}

}  // namespace

TEST_CASE("messages: body-less messages are 5 bytes", "[protocol][messages]") {
  CHECK(encoded(Sync{}) == hex("53 00000004"));
  CHECK(encoded(Flush{}) == hex("48 00000004"));
  CHECK(encoded(Terminate{}) == hex("58 00000004"));
  CHECK(encoded(CopyDone{}) == hex("63 00000004"));
  CHECK(encoded(ParseComplete{}) == hex("31 00000004"));
  CHECK(encoded(BindComplete{}) == hex("32 00000004"));
  CHECK(encoded(CloseComplete{}) == hex("33 00000004"));
  CHECK(encoded(NoData{}) == hex("6e 00000004"));
  CHECK(encoded(PortalSuspended{}) == hex("73 00000004"));
  CHECK(encoded(EmptyQueryResponse{}) == hex("49 00000004"));
  CHECK(round_trips(Direction::frontend, Sync{}));
  CHECK(round_trips(Direction::frontend, Flush{}));
  CHECK(round_trips(Direction::frontend, Terminate{}));
  CHECK(round_trips(Direction::frontend, CopyDone{}));
  CHECK(round_trips(Direction::backend, CopyDone{}));
  CHECK(round_trips(Direction::backend, ParseComplete{}));
  CHECK(round_trips(Direction::backend, BindComplete{}));
  CHECK(round_trips(Direction::backend, CloseComplete{}));
  CHECK(round_trips(Direction::backend, NoData{}));
  CHECK(round_trips(Direction::backend, PortalSuspended{}));
  CHECK(round_trips(Direction::backend, EmptyQueryResponse{}));
  Sync s;
  CHECK(decode("x", s) == Errc::malformed);
}

TEST_CASE("messages: Query", "[protocol][messages]") {
  CHECK(encoded(Query{"SELECT 1"}) == hex("51 0000000d 53454c4543542031 00"));
  CHECK(round_trips(Direction::frontend, Query{"SELECT 1; SELECT 2"}));
  CHECK(round_trips(Direction::frontend, Query{""}));
  Query q;
  CHECK(decode("SELECT 1", q) == Errc::malformed);        // no NUL
  CHECK(decode(cs("a") + "b", q) == Errc::malformed);     // trailing bytes
}

TEST_CASE("messages: Parse", "[protocol][messages]") {
  Parse p{"s1", "SELECT $1, $2", {23, 0}};
  CHECK(encoded(p) == frame('P', cs("s1") + cs("SELECT $1, $2") + be16(2) + be32(23) + be32(0)));
  CHECK(round_trips(Direction::frontend, p));
  CHECK(round_trips(Direction::frontend, Parse{"", "SELECT 1", {}}));
  Parse back;
  // Count larger than the bytes left: rejected before any allocation.
  CHECK(decode(cs("") + cs("q") + be16(0xffff), back) == Errc::malformed);
  CHECK(decode(cs("") + cs("q") + be16(2) + be32(23), back) == Errc::malformed);
  CHECK(decode(cs("") + "q", back) == Errc::malformed);
}

TEST_CASE("messages: Bind with NULL, text, binary and format codes", "[protocol][messages]") {
  Bind b;
  b.portal = "p";
  b.statement = "s";
  b.param_formats = {0, 1, 0};
  b.params = {Value{"42"}, Value{std::string_view("\0\1", 2)}, std::nullopt};
  b.result_formats = {1};
  std::string body = cs("p") + cs("s") + be16(3) + be16(0) + be16(1) + be16(0) + be16(3) +
                     be32(2) + "42" + be32(2) + std::string("\0\1", 2) + be32(0xffffffffu) +
                     be16(1) + be16(1);
  CHECK(encoded(b) == frame('B', body));
  CHECK(round_trips(Direction::frontend, b));
  Bind empty_value;
  empty_value.params = {Value{""}};  // empty string is not NULL
  CHECK(round_trips(Direction::frontend, empty_value));
  CHECK(round_trips(Direction::frontend, Bind{}));
}

TEST_CASE("messages: Bind hostile inputs", "[protocol][messages]") {
  Bind b;
  std::string head = cs("") + cs("");
  CHECK(decode(head + be16(0) + be16(1) + be32(0xfffffffeu) + be16(0), b) == Errc::malformed);
  CHECK(decode(head + be16(0) + be16(1) + be32(0x80000000u) + be16(0), b) == Errc::malformed);
  CHECK(decode(head + be16(0) + be16(1) + be32(100) + "abc" + be16(0), b) == Errc::malformed);
  CHECK(decode(head + be16(0) + be16(60000) + be32(1), b) == Errc::malformed);
  CHECK(decode(head + be16(60000), b) == Errc::malformed);
  // 2 format codes but 3 params: a protocol violation.
  CHECK(decode(head + be16(2) + be16(0) + be16(0) + be16(3) + be32(0) + be32(0) + be32(0) +
                   be16(0),
               b) == Errc::malformed);
  // Missing result-format count.
  CHECK(decode(head + be16(0) + be16(0), b) == Errc::malformed);
  CHECK(decode(head + be16(0) + be16(0) + be16(0), b) == Errc::ok);
  CHECK(decode(cs("") + "no-nul", b) == Errc::malformed);
}

TEST_CASE("messages: Describe, Close, Execute", "[protocol][messages]") {
  CHECK(encoded(Describe{TargetKind::portal, "c1"}) == hex("44 00000008 50 6331 00"));
  CHECK(encoded(Close{TargetKind::statement, ""}) == hex("43 00000006 53 00"));
  CHECK(encoded(Execute{"", 100}) == hex("45 00000009 00 00000064"));
  CHECK(round_trips(Direction::frontend, Describe{TargetKind::statement, "s1"}));
  CHECK(round_trips(Direction::frontend, Describe{TargetKind::portal, ""}));
  CHECK(round_trips(Direction::frontend, Close{TargetKind::portal, "p"}));
  CHECK(round_trips(Direction::frontend, Execute{"p", 0}));
  Describe d;
  CHECK(decode(std::string("X") + cs("n"), d) == Errc::malformed);
  CHECK(decode("", d) == Errc::malformed);
  Execute e;
  CHECK(decode(cs("") + std::string(3, '\0'), e) == Errc::malformed);
}

TEST_CASE("messages: copy messages", "[protocol][messages]") {
  CHECK(encoded(CopyData{"1\tx\n"}) == frame('d', "1\tx\n"));
  CHECK(encoded(CopyFail{"boom"}) == frame('f', cs("boom")));
  CopyInResponse in;
  in.format = 0;
  in.column_formats = {0, 0};
  CHECK(encoded(in) == frame('G', std::string(1, '\0') + be16(2) + be16(0) + be16(0)));
  CopyOutResponse out;
  out.format = 1;
  out.column_formats = {1};
  CHECK(encoded(out) == frame('H', std::string(1, '\1') + be16(1) + be16(1)));
  CopyBothResponse both;
  CHECK(encoded(both) == frame('W', std::string(1, '\0') + be16(0)));
  CHECK(round_trips(Direction::frontend, CopyData{std::string_view("\0\xff", 2)}));
  CHECK(round_trips(Direction::backend, CopyData{""}));
  CHECK(round_trips(Direction::frontend, CopyFail{"stop"}));
  CHECK(round_trips(Direction::backend, in));
  CHECK(round_trips(Direction::backend, out));
  CHECK(round_trips(Direction::backend, both));
  CopyResponse r;
  CHECK(decode(std::string(1, '\2') + be16(0), r) == Errc::malformed);
  CHECK(decode(std::string(1, '\0') + be16(5) + be16(0), r) == Errc::malformed);
  CHECK(decode(std::string(1, '\0') + be16(1) + be16(7), r) == Errc::malformed);
}

TEST_CASE("messages: authentication requests", "[protocol][messages][auth]") {
  std::string out;
  encode_auth_ok(out);
  CHECK(out == hex("52 00000008 00000000"));
  out.clear();
  encode_auth_cleartext(out);
  CHECK(out == hex("52 00000008 00000003"));
  out.clear();
  encode_auth_md5(out, {1, 2, 3, 4});
  CHECK(out == hex("52 0000000c 00000005 01020304"));
  out.clear();
  encode_auth_sasl(out, {kScramSha256});
  CHECK(out == frame('R', be32(10) + cs("SCRAM-SHA-256") + std::string(1, '\0')));
  out.clear();
  encode_auth_sasl_continue(out, "r=abc");
  CHECK(out == frame('R', be32(11) + "r=abc"));
  out.clear();
  encode_auth_sasl_final(out, "v=xyz");
  CHECK(out == frame('R', be32(12) + "v=xyz"));

  Authentication a;
  a.code = AuthCode::sasl;
  a.mechanisms = {kScramSha256Plus, kScramSha256};
  CHECK(round_trips(Direction::backend, a));
  Authentication md5;
  md5.code = AuthCode::md5_password;
  md5.md5_salt = {9, 8, 7, 6};
  CHECK(round_trips(Direction::backend, md5));
  Authentication cont;
  cont.code = AuthCode::sasl_continue;
  cont.data = "r=x,s=y,i=4096";
  CHECK(round_trips(Direction::backend, cont));
  CHECK(round_trips(Direction::backend, Authentication{}));

  Authentication bad;
  CHECK(decode(be32(99), bad) == Errc::malformed);                  // unknown code
  CHECK(decode(be32(5) + "ab", bad) == Errc::malformed);            // short salt
  CHECK(decode(be32(0) + "x", bad) == Errc::malformed);             // trailing bytes
  CHECK(decode(be32(10) + std::string(1, '\0'), bad) == Errc::malformed);  // no mechanism
  CHECK(decode(be32(10) + cs("SCRAM-SHA-256"), bad) == Errc::malformed);  // list unterminated
}

TEST_CASE("messages: password, SASLInitialResponse, SASLResponse", "[protocol][messages][auth]") {
  CHECK(encoded(PasswordMessage{"secret"}) == frame('p', cs("secret")));
  SaslInitialResponse init{kScramSha256, true, "n,,n=,r=abc"};
  CHECK(encoded(init) == frame('p', cs("SCRAM-SHA-256") + be32(11) + "n,,n=,r=abc"));
  SaslInitialResponse none{kScramSha256, false, ""};
  CHECK(encoded(none) == frame('p', cs("SCRAM-SHA-256") + be32(0xffffffffu)));
  CHECK(encoded(SaslResponse{"c=biws"}) == frame('p', "c=biws"));
  CHECK(round_trips(Direction::frontend, PasswordMessage{"md5abc"}));
  CHECK(round_trips(Direction::frontend, init));
  CHECK(round_trips(Direction::frontend, none));
  CHECK(round_trips(Direction::frontend, SaslResponse{"c=biws,r=x,p=y"}));
  SaslInitialResponse bad;
  CHECK(decode(cs("M") + be32(5) + "abc", bad) == Errc::malformed);
  CHECK(decode(cs("M") + be32(0xfffffffeu), bad) == Errc::malformed);
  CHECK(decode(cs("M") + be32(1) + "ab", bad) == Errc::malformed);
  PasswordMessage pw;
  CHECK(decode("nonul", pw) == Errc::malformed);
}

TEST_CASE("messages: ReadyForQuery and CommandComplete", "[protocol][messages]") {
  CHECK(encoded(ReadyForQuery{TxStatus::idle}) == hex("5a 00000005 49"));
  CHECK(encoded(ReadyForQuery{TxStatus::in_transaction}) == hex("5a 00000005 54"));
  CHECK(encoded(ReadyForQuery{TxStatus::failed}) == hex("5a 00000005 45"));
  CHECK(round_trips(Direction::backend, ReadyForQuery{TxStatus::failed}));
  ReadyForQuery z;
  CHECK(decode("X", z) == Errc::malformed);
  CHECK(decode("", z) == Errc::malformed);
  CHECK(decode("II", z) == Errc::malformed);
  CHECK(encoded(CommandComplete{"SELECT 3"}) == frame('C', cs("SELECT 3")));
  CHECK(round_trips(Direction::backend, CommandComplete{"INSERT 0 5"}));
}

TEST_CASE("messages: command tags", "[protocol][messages]") {
  CommandTag t;
  REQUIRE(parse_command_tag("INSERT 0 5", t) == Errc::ok);
  CHECK(t == CommandTag{"INSERT", true, 5, 0});
  REQUIRE(parse_command_tag("SELECT 3", t) == Errc::ok);
  CHECK(t == CommandTag{"SELECT", true, 3, 0});
  REQUIRE(parse_command_tag("UPDATE 18446744073709551615", t) == Errc::ok);
  CHECK(t.rows == 18446744073709551615ull);
  REQUIRE(parse_command_tag("COPY 100000", t) == Errc::ok);
  CHECK(t.rows == 100000);
  REQUIRE(parse_command_tag("CREATE TABLE", t) == Errc::ok);
  CHECK(t == CommandTag{"CREATE TABLE", false, 0, 0});
  REQUIRE(parse_command_tag("BEGIN", t) == Errc::ok);
  CHECK(t.command == "BEGIN");
  CHECK_FALSE(t.has_rows);
  CHECK(parse_command_tag("SELECT", t) == Errc::malformed);
  CHECK(parse_command_tag("SELECT x", t) == Errc::malformed);
  CHECK(parse_command_tag("INSERT 5", t) == Errc::malformed);
  CHECK(parse_command_tag("DELETE 99999999999999999999", t) == Errc::malformed);
  CHECK(parse_command_tag("MERGE -1", t) == Errc::malformed);
}

TEST_CASE("messages: RowDescription, DataRow, ParameterDescription", "[protocol][messages]") {
  RowDescription rd;
  rd.fields = {{"id", 16384, 1, 23, 4, -1, 0}, {"", 0, 0, 25, -1, -1, 1}};
  std::string body = be16(2) + cs("id") + be32(16384) + be16(1) + be32(23) + be16(4) +
                     be32(0xffffffffu) + be16(0) + cs("") + be32(0) + be16(0) + be32(25) +
                     be16(0xffff) + be32(0xffffffffu) + be16(1);
  CHECK(encoded(rd) == frame('T', body));
  CHECK(round_trips(Direction::backend, rd));
  CHECK(round_trips(Direction::backend, RowDescription{}));

  DataRow row;
  row.values = {Value{"1"}, std::nullopt, Value{""}};
  CHECK(encoded(row) == frame('D', be16(3) + be32(1) + "1" + be32(0xffffffffu) + be32(0)));
  CHECK(round_trips(Direction::backend, row));

  ParameterDescription pd{{23, 25}};
  CHECK(encoded(pd) == frame('t', be16(2) + be32(23) + be32(25)));
  CHECK(round_trips(Direction::backend, pd));

  DataRow bad;
  CHECK(decode(be16(1) + be32(0xfffffffdu), bad) == Errc::malformed);  // -3
  CHECK(decode(be16(2) + be32(0), bad) == Errc::malformed);
  CHECK(decode(be16(1) + be32(5) + "abc", bad) == Errc::malformed);
  RowDescription badrd;
  CHECK(decode(be16(1) + cs("x"), badrd) == Errc::malformed);
  CHECK(decode(be16(0xffff), badrd) == Errc::malformed);
  ParameterDescription badpd;
  CHECK(decode(be16(3) + be32(1), badpd) == Errc::malformed);
}

TEST_CASE("messages: ErrorResponse, NoticeResponse and error_response()",
          "[protocol][messages]") {
  std::string out;
  error_response(out, "FATAL", "28P01", "password authentication failed for user \"app\"");
  std::string body = "S" + cs("FATAL") + "V" + cs("FATAL") + "C" + cs("28P01") + "M" +
                     cs("password authentication failed for user \"app\"") + std::string(1, '\0');
  CHECK(out == frame('E', body));
  FrameResult f = decode_backend_frame(out);
  REQUIRE(f.errc == Errc::ok);
  ErrorResponse e;
  REQUIRE(decode(f.frame.body, e) == Errc::ok);
  CHECK(e.sqlstate() == "28P01");
  CHECK(e.severity() == "FATAL");
  CHECK(e.message() == "password authentication failed for user \"app\"");
  CHECK(e.get(field::detail).empty());

  out.clear();
  error_response(out, "ERROR", "08P01", "invalid frame", "length 2");
  REQUIRE(decode(decode_backend_frame(out).frame.body, e) == Errc::ok);
  CHECK(e.get(field::detail) == "length 2");

  out.clear();
  notice_response(out, "WARNING", "01000", "careful");
  CHECK(out[0] == 'N');
  NoticeResponse n;
  REQUIRE(decode(decode_backend_frame(out).frame.body, n) == Errc::ok);
  CHECK(n.message() == "careful");

  ErrorResponse full;
  full.fields = {{'S', "ERROR"}, {'C', "42P01"}, {'M', "relation \"x\" does not exist"},
                 {'P', "15"}, {'F', "parse_relation.c"}, {'L', "1392"}, {'R', "parserOpenTable"},
                 {'Z', "unknown field kept"}};
  CHECK(round_trips(Direction::backend, full));
  CHECK(full.severity() == "ERROR");  // falls back to S without V
  NoticeResponse nr;
  nr.fields = {{'S', "NOTICE"}, {'M', "hi"}};
  CHECK(round_trips(Direction::backend, nr));

  ErrorFields bad;
  CHECK(decode("", bad) == Errc::malformed);
  CHECK(decode("Mabc", bad) == Errc::malformed);
  CHECK(decode("M" + cs("abc"), bad) == Errc::malformed);
  CHECK(decode("M" + cs("abc") + std::string(1, '\0') + "x", bad) == Errc::malformed);
}

TEST_CASE("messages: NotificationResponse", "[protocol][messages]") {
  NotificationResponse n{42, "chan", "payload"};
  CHECK(encoded(n) == frame('A', be32(42) + cs("chan") + cs("payload")));
  CHECK(round_trips(Direction::backend, n));
  NotificationResponse bad;
  CHECK(decode(be32(1) + cs("chan"), bad) == Errc::malformed);
}

TEST_CASE("messages: encoders append to a batch buffer", "[protocol][messages]") {
  std::string out;
  encode(out, Parse{"", "SELECT 1", {}});
  encode(out, Bind{});
  encode(out, Execute{"", 0});
  encode(out, Sync{});
  std::string_view rest = out;
  std::string tags;
  for (int i = 0; i < 10 && !rest.empty(); ++i) {
    FrameResult f = decode_frontend_frame(rest);
    REQUIRE(f.errc == Errc::ok);
    tags += f.frame.tag;
    rest.remove_prefix(f.frame.size);
  }
  CHECK(tags == "PBES");
}

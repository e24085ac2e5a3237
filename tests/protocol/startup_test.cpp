// Untagged startup packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest; and the
// startup-phase backend messages.
#include <catch2/catch.hpp>

#include "protocol/startup.hpp"
#include "tests/protocol/test_util.hpp"

using namespace pgscale::protocol;
using pgscale::protocol::test::be32;
using pgscale::protocol::test::cs;
using pgscale::protocol::test::hex;
using pgscale::protocol::test::round_trips;

namespace {

std::string startup_packet(uint32_t version, const std::string& params) {
  return be32(static_cast<uint32_t>(8 + params.size())) + be32(version) + params;
}

}  // namespace

TEST_CASE("startup: SSLRequest, GSSENCRequest, CancelRequest are recognised by code",
          "[protocol][startup]") {
  StartupFrameResult ssl = decode_startup_frame(hex("00000008 04d2162f"));
  REQUIRE(ssl.errc == Errc::ok);
  CHECK(ssl.frame.kind == StartupKind::ssl_request);
  CHECK(ssl.frame.size == 8);
  StartupFrameResult gss = decode_startup_frame(hex("00000008 04d21630"));
  REQUIRE(gss.errc == Errc::ok);
  CHECK(gss.frame.kind == StartupKind::gssenc_request);
  std::string cancel_bytes = hex("00000010 04d2162e 00003039 deadbeef");  // outlives the views
  StartupFrameResult cancel = decode_startup_frame(cancel_bytes);
  REQUIRE(cancel.errc == Errc::ok);
  REQUIRE(cancel.frame.kind == StartupKind::cancel_request);
  CancelRequest c;
  REQUIRE(decode_cancel_request(cancel.frame, c) == Errc::ok);
  CHECK(c.process_id == 12345);
  CHECK(c.secret_key == static_cast<int32_t>(0xdeadbeef));
}

TEST_CASE("startup: golden bytes of the startup encoders", "[protocol][startup]") {
  std::string out;
  encode_ssl_request(out);
  CHECK(out == hex("00000008 04d2162f"));
  out.clear();
  encode_gssenc_request(out);
  CHECK(out == hex("00000008 04d21630"));
  out.clear();
  encode_cancel_request(out, {12345, -1});
  CHECK(out == hex("00000010 04d2162e 00003039 ffffffff"));
  out.clear();
  StartupMessage m;
  m.params = {{"user", "app"}, {"database", "appdb"}};
  encode_startup_message(out, m);
  CHECK(out == startup_packet(196608, cs("user") + cs("app") + cs("database") + cs("appdb") +
                                          std::string(1, '\0')));
}

TEST_CASE("startup: StartupMessage params, last duplicate wins", "[protocol][startup]") {
  std::string buf = startup_packet(kProtocolVersion30, cs("user") + cs("a") + cs("database") +
                                                           cs("db") + cs("user") + cs("b") +
                                                           std::string(1, '\0'));
  StartupFrameResult f = decode_startup_frame(buf);
  REQUIRE(f.errc == Errc::ok);
  REQUIRE(f.frame.kind == StartupKind::startup_message);
  StartupMessage m;
  REQUIRE(decode_startup_message(f.frame, m) == Errc::ok);
  CHECK(m.major == 3);
  CHECK(m.minor == 0);
  REQUIRE(m.params.size() == 3);
  REQUIRE(m.find("user") != nullptr);
  CHECK(m.find("user")->value == "b");
  CHECK(m.value_or("database", "") == "db");
  CHECK(m.value_or("options", "none") == "none");
  CHECK(m.find("nope") == nullptr);
}

TEST_CASE("startup: round trip of StartupMessage with protocol 3.2", "[protocol][startup]") {
  StartupMessage m;
  m.minor = 2;
  m.params = {{"user", "u"}, {"_pq_.x", "1"}, {"application_name", ""}};
  std::string out;
  encode_startup_message(out, m);
  StartupFrameResult f = decode_startup_frame(out);
  REQUIRE(f.errc == Errc::ok);
  StartupMessage back;
  REQUIRE(decode_startup_message(f.frame, back) == Errc::ok);
  CHECK(back == m);
}

TEST_CASE("startup: unsupported protocol versions are reported as such", "[protocol][startup]") {
  for (uint32_t v : {(2u << 16), (4u << 16), (1u << 16) | 5u, 0u}) {
    std::string buf = startup_packet(v, cs("user") + cs("u") + std::string(1, '\0'));
    StartupFrameResult f = decode_startup_frame(buf);
    REQUIRE(f.errc == Errc::ok);
    StartupMessage m;
    CHECK(decode_startup_message(f.frame, m) == Errc::unsupported);
  }
}

TEST_CASE("startup: bad layouts are malformed", "[protocol][startup]") {
  auto decode_params = [](const std::string& params) {
    std::string buf = startup_packet(kProtocolVersion30, params);
    StartupFrameResult f = decode_startup_frame(buf);
    REQUIRE(f.errc == Errc::ok);
    StartupMessage m;
    return decode_startup_message(f.frame, m);
  };
  CHECK(decode_params("") == Errc::malformed);                             // no terminator
  CHECK(decode_params(cs("user") + cs("u")) == Errc::malformed);           // no terminator
  CHECK(decode_params(cs("user") + std::string(1, '\0')) == Errc::malformed);  // name w/o value
  CHECK(decode_params(cs("user") + "u") == Errc::malformed);               // value w/o NUL
  CHECK(decode_params(std::string(1, '\0') + cs("user") + cs("u") + std::string(1, '\0')) ==
        Errc::malformed);  // terminator not last
  CHECK(decode_params(std::string(1, '\0')) == Errc::ok);  // no params at all is well-formed
}

TEST_CASE("startup: hostile lengths", "[protocol][startup]") {
  CHECK(decode_startup_frame(be32(7) + be32(kProtocolVersion30)).errc == Errc::malformed);
  CHECK(decode_startup_frame(be32(0)).errc == Errc::malformed);
  CHECK(decode_startup_frame(be32(10001)).errc == Errc::too_long);
  CHECK(decode_startup_frame(be32(0x80000000u)).errc == Errc::too_long);
  StartupFrameResult big = decode_startup_frame(be32(10000) + be32(kProtocolVersion30));
  CHECK(big.errc == Errc::incomplete);
  CHECK(big.need == 10000 - 8);
  // SSLRequest must be exactly 8 bytes, CancelRequest exactly 16.
  CHECK(decode_startup_frame(be32(12) + be32(kSslRequestCode) + be32(0)).errc == Errc::malformed);
  CHECK(decode_startup_frame(be32(12) + be32(kCancelRequestCode) + be32(0)).errc ==
        Errc::malformed);
}

TEST_CASE("startup: every split point is incomplete until the packet is whole",
          "[protocol][startup]") {
  std::string buf = startup_packet(kProtocolVersion30,
                                   cs("user") + cs("app") + std::string(1, '\0'));
  for (size_t k = 0; k < buf.size(); ++k) {
    StartupFrameResult r = decode_startup_frame(std::string_view(buf).substr(0, k));
    REQUIRE(r.errc == Errc::incomplete);
    REQUIRE(r.need > 0);
    REQUIRE(k + r.need <= buf.size());
  }
  REQUIRE(decode_startup_frame(buf).errc == Errc::ok);
  // An SSLRequest followed by early bytes (CVE-2021-3935 class): the frame is exactly 8 bytes, so
  // the caller sees the extra bytes as left over and can reject them.
  std::string ssl = hex("00000008 04d2162f") + "Qxyz";
  StartupFrameResult r = decode_startup_frame(ssl);
  REQUIRE(r.errc == Errc::ok);
  CHECK(r.frame.size == 8);
  CHECK(ssl.size() - r.frame.size == 4);
}

TEST_CASE("startup: backend startup messages, golden bytes and round trips",
          "[protocol][startup]") {
  std::string out;
  encode(out, ParameterStatus{"server_version", "15.8"});
  CHECK(out == "S" + be32(4 + 15 + 5) + cs("server_version") + cs("15.8"));
  out.clear();
  encode(out, BackendKeyData{1234, -2});
  CHECK(out == hex("4b 0000000c 000004d2 fffffffe"));
  out.clear();
  NegotiateProtocolVersion npv;
  npv.newest_minor = 0;
  npv.unrecognized_options = {"_pq_.a", "_pq_.b"};
  encode(out, npv);
  CHECK(out == "v" + be32(4 + 8 + 14) + be32(0) + be32(2) + cs("_pq_.a") + cs("_pq_.b"));

  CHECK(round_trips(Direction::backend, ParameterStatus{"TimeZone", "UTC"}));
  CHECK(round_trips(Direction::backend, ParameterStatus{"application_name", ""}));
  CHECK(round_trips(Direction::backend, BackendKeyData{-1, 0x7fffffff}));
  CHECK(round_trips(Direction::backend, npv));
  CHECK(round_trips(Direction::backend, NegotiateProtocolVersion{}));

  NegotiateProtocolVersion lie;
  CHECK(decode(be32(0) + be32(1000), lie) == Errc::malformed);  // count over the bytes left
  CHECK(decode(be32(0) + be32(0xffffffffu), lie) == Errc::malformed);
  BackendKeyData k;
  CHECK(decode(be32(1), k) == Errc::malformed);
  CHECK(decode(be32(1) + be32(2) + "x", k) == Errc::malformed);
}

TEST_CASE("startup: NegotiateProtocolVersion for 3.x and _pq_ options", "[protocol][startup]") {
  StartupMessage plain;
  plain.params = {{"user", "u"}, {"options", "-c x=1"}};
  CHECK_FALSE(needs_negotiation(plain));
  StartupMessage newer = plain;
  newer.minor = 2;
  CHECK(needs_negotiation(newer));
  NegotiateProtocolVersion n = negotiation_for(newer);
  CHECK(n.newest_minor == 0);
  CHECK(n.unrecognized_options.empty());
  StartupMessage opts = plain;
  opts.params.push_back({"_pq_.compression", "on"});
  CHECK(needs_negotiation(opts));
  CHECK(negotiation_for(opts).unrecognized_options == std::vector<std::string_view>{"_pq_.compression"});
  CHECK(is_protocol_option("_pq_.x"));
  CHECK_FALSE(is_protocol_option("application_name"));
}

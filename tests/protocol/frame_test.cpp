// Framing of tagged messages: incomplete vs malformed vs too_long vs complete.
#include <catch2/catch.hpp>

#include <vector>

#include "protocol/frame.hpp"
#include "protocol/messages.hpp"
#include "tests/protocol/test_util.hpp"

using namespace pgscale::protocol;
using pgscale::protocol::test::be32;
using pgscale::protocol::test::cs;
using pgscale::protocol::test::frame;

TEST_CASE("frame: a complete Query frame gives tag, body view and size", "[protocol][frame]") {
  std::string buf = frame('Q', cs("SELECT 1"));
  FrameResult r = decode_frontend_frame(buf);
  REQUIRE(r.errc == Errc::ok);
  CHECK(r.frame.tag == 'Q');
  CHECK(r.frame.body == cs("SELECT 1"));
  CHECK(r.frame.size == buf.size());
  CHECK(r.declared_length == 13);
  // Zero copy: the body points into the caller's buffer.
  CHECK(r.frame.body.data() == buf.data() + 5);
}

TEST_CASE("frame: every split point of every frame is incomplete until the last byte",
          "[protocol][frame]") {
  struct Case {
    Direction dir;
    std::string bytes;
  };
  std::vector<Case> cases = {
      {Direction::frontend, frame('Q', cs("SELECT 1"))},
      {Direction::frontend, frame('S', "")},
      {Direction::frontend, frame('B', std::string("\0\0\0\0\0\0\0\0", 8))},
      {Direction::backend, frame('Z', "I")},
      {Direction::backend, frame('D', std::string("\0\1\0\0\0\3abc", 9))},
  };
  for (const Case& c : cases) {
    for (size_t k = 0; k < c.bytes.size(); ++k) {
      FrameResult r = decode_frame(c.dir, std::string_view(c.bytes).substr(0, k));
      INFO("prefix " << k << " of " << c.bytes.size());
      REQUIRE(r.errc == Errc::incomplete);
      REQUIRE(r.need > 0);
      REQUIRE(k + r.need <= c.bytes.size());
    }
    FrameResult full = decode_frame(c.dir, c.bytes);
    REQUIRE(full.errc == Errc::ok);
    REQUIRE(full.frame.size == c.bytes.size());
  }
}

TEST_CASE("frame: once 5 bytes are in, need is exactly the rest of the frame",
          "[protocol][frame]") {
  std::string buf = frame('Q', cs("SELECT 42"));
  for (size_t k = 5; k < buf.size(); ++k) {
    FrameResult r = decode_frontend_frame(std::string_view(buf).substr(0, k));
    REQUIRE(r.errc == Errc::incomplete);
    REQUIRE(k + r.need == buf.size());
  }
}

TEST_CASE("frame: two frames in one buffer are decoded one after the other", "[protocol][frame]") {
  std::string buf = frame('P', cs("") + cs("SELECT $1") + std::string("\0\0", 2)) + frame('S', "");
  std::string_view rest = buf;
  FrameResult a = decode_frontend_frame(rest);
  REQUIRE(a.errc == Errc::ok);
  CHECK(a.frame.tag == 'P');
  rest.remove_prefix(a.frame.size);
  FrameResult b = decode_frontend_frame(rest);
  REQUIRE(b.errc == Errc::ok);
  CHECK(b.frame.tag == 'S');
  CHECK(b.frame.body.empty());
  rest.remove_prefix(b.frame.size);
  CHECK(rest.empty());
  CHECK(decode_frontend_frame(rest).errc == Errc::incomplete);
}

TEST_CASE("frame: length < 4 is malformed as soon as the length is in", "[protocol][frame]") {
  for (uint32_t len : {0u, 1u, 2u, 3u}) {
    std::string buf = "Q" + be32(len);
    CHECK(decode_frontend_frame(buf).errc == Errc::malformed);
  }
  // A negative int32 is a huge unsigned length: over the limit.
  CHECK(decode_frontend_frame("Q" + be32(0xffffffffu)).errc == Errc::too_long);
}

TEST_CASE("frame: unknown tags are malformed from the first byte, per direction",
          "[protocol][frame]") {
  CHECK(decode_frontend_frame("Z").errc == Errc::malformed);  // ReadyForQuery is backend-only
  CHECK(decode_frontend_frame("R").errc == Errc::malformed);
  CHECK(decode_frontend_frame(std::string(1, '\0')).errc == Errc::malformed);
  CHECK(decode_backend_frame("Q").errc == Errc::malformed);  // Query is frontend-only
  CHECK(decode_backend_frame("B").errc == Errc::malformed);
  CHECK(decode_frontend_frame("Q").errc == Errc::incomplete);
  CHECK(decode_backend_frame("Z").errc == Errc::incomplete);
  // Same letter, different meaning: 'D' Describe (frontend) vs DataRow (backend).
  CHECK(message_name(Direction::frontend, 'D') == "Describe");
  CHECK(message_name(Direction::backend, 'D') == "DataRow");
  CHECK(message_name(Direction::backend, '?') == "unknown");
}

TEST_CASE("frame: per-type maximum lengths are enforced before the body arrives",
          "[protocol][frame]") {
  // Sync, Flush, Terminate, CopyDone have no body.
  for (char tag : {'S', 'H', 'X', 'c'}) {
    CHECK(decode_frontend_frame(std::string(1, tag) + be32(4)).errc == Errc::ok);
    CHECK(decode_frontend_frame(std::string(1, tag) + be32(5)).errc == Errc::too_long);
  }
  // Small messages (Describe): 10000 bytes OK, one more is too long.
  CHECK(decode_frontend_frame("D" + be32(4 + kSmallMessageLimit)).errc == Errc::incomplete);
  CHECK(decode_frontend_frame("D" + be32(5 + kSmallMessageLimit)).errc == Errc::too_long);
  // Password messages: 65535.
  CHECK(decode_frontend_frame("p" + be32(4 + kAuthMessageLimit)).errc == Errc::incomplete);
  CHECK(decode_frontend_frame("p" + be32(5 + kAuthMessageLimit)).errc == Errc::too_long);
  // Query and CopyData: 1 GB - 1.
  CHECK(decode_frontend_frame("Q" + be32(4 + kLargeMessageLimit)).errc == Errc::incomplete);
  CHECK(decode_frontend_frame("d" + be32(5 + kLargeMessageLimit)).errc == Errc::too_long);
  CHECK(decode_backend_frame("D" + be32(5 + kLargeMessageLimit)).errc == Errc::too_long);
  CHECK(decode_backend_frame("Z" + be32(4 + kSmallMessageLimit + 1)).errc == Errc::too_long);
  CHECK(decode_backend_frame("1" + be32(5)).errc == Errc::too_long);
}

TEST_CASE("frame: the configurable overall cap lowers every limit", "[protocol][frame]") {
  FrameLimits limits;
  limits.max_body = 100;
  CHECK(decode_frontend_frame("Q" + be32(104), limits).errc == Errc::incomplete);
  CHECK(decode_frontend_frame("Q" + be32(105), limits).errc == Errc::too_long);
  CHECK(decode_backend_frame("D" + be32(105), limits).errc == Errc::too_long);
  // It never raises a per-type limit.
  limits.max_body = 0xffffffffu;
  CHECK(decode_frontend_frame("S" + be32(5), limits).errc == Errc::too_long);
}

TEST_CASE("frame: the empty buffer needs a 5-byte header", "[protocol][frame]") {
  FrameResult r = decode_backend_frame("");
  CHECK(r.errc == Errc::incomplete);
  CHECK(r.need == 5);
  CHECK(max_body_length(Direction::frontend, 'Q') == kLargeMessageLimit);
  CHECK(max_body_length(Direction::frontend, 'S') == 0);
  CHECK(max_body_length(Direction::frontend, 'Z') == -1);
  CHECK(is_known_tag(Direction::backend, 'v'));
  CHECK_FALSE(is_known_tag(Direction::frontend, 'v'));
}

namespace {

// One encoded instance of every message pgscale reads or writes, per direction.
std::string every_frontend_message() {
  std::string out;
  encode(out, Query{"SELECT 1"});
  encode(out, Parse{"s", "SELECT $1", {23}});
  Bind b;
  b.statement = "s";
  b.params = {Value{"1"}, std::nullopt};
  encode(out, b);
  encode(out, Describe{TargetKind::portal, ""});
  encode(out, Execute{"", 0});
  encode(out, Close{TargetKind::statement, "s"});
  encode(out, Flush{});
  encode(out, Sync{});
  encode(out, CopyData{"row\n"});
  encode(out, CopyDone{});
  encode(out, CopyFail{"why"});
  encode(out, PasswordMessage{"pw"});
  encode(out, SaslInitialResponse{kScramSha256, true, "n,,n=,r=x"});
  encode(out, SaslResponse{"c=biws"});
  encode(out, Terminate{});
  return out;
}

std::string every_backend_message() {
  std::string out;
  encode_auth_sasl(out, {kScramSha256});
  encode_auth_md5(out, {1, 2, 3, 4});
  encode_auth_ok(out);
  encode(out, ParameterStatus{"a", "b"});
  encode(out, BackendKeyData{1, 2});
  encode(out, NegotiateProtocolVersion{0, {"_pq_.x"}});
  encode(out, ReadyForQuery{TxStatus::idle});
  RowDescription rd;
  rd.fields = {{"c", 0, 0, 23, 4, -1, 0}};
  encode(out, rd);
  encode(out, DataRow{{Value{"1"}}});
  encode(out, CommandComplete{"SELECT 1"});
  encode(out, EmptyQueryResponse{});
  encode(out, ParseComplete{});
  encode(out, BindComplete{});
  encode(out, CloseComplete{});
  encode(out, NoData{});
  encode(out, ParameterDescription{{23}});
  encode(out, PortalSuspended{});
  CopyInResponse in;
  in.column_formats = {0};
  encode(out, in);
  encode(out, CopyOutResponse{});
  encode(out, CopyBothResponse{});
  encode(out, CopyData{"x"});
  encode(out, CopyDone{});
  encode(out, NotificationResponse{7, "ch", "hi"});
  error_response(out, "ERROR", "42000", "bad");
  notice_response(out, "NOTICE", "00000", "note");
  return out;
}

// Splits a buffer of back-to-back frames into frames, checking each at every prefix length.
size_t check_every_split(Direction dir, std::string_view all) {
  size_t frames = 0;
  while (!all.empty() && frames < 1000) {
    FrameResult whole = decode_frame(dir, all);
    REQUIRE(whole.errc == Errc::ok);
    std::string_view one = all.substr(0, whole.frame.size);
    for (size_t k = 0; k < one.size(); ++k) {
      FrameResult r = decode_frame(dir, one.substr(0, k));
      REQUIRE(r.errc == Errc::incomplete);
      REQUIRE(k + r.need <= one.size());
    }
    all.remove_prefix(whole.frame.size);
    ++frames;
  }
  return frames;
}

}  // namespace

TEST_CASE("frame: every message type, back to back, split at every offset", "[protocol][frame]") {
  CHECK(check_every_split(Direction::frontend, every_frontend_message()) == 15);
  CHECK(check_every_split(Direction::backend, every_backend_message()) == 25);
}

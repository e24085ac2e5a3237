// FrameScanner / ByteBuffer: the relay's header walking on plain strings.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/wire.hpp"
#include "proxy/relay.hpp"

using pgscale::proxy::ByteBuffer;
using pgscale::proxy::FrameScanner;
using pgscale::protocol::Direction;

namespace {
std::string msg(char tag, const std::string& body) {
  std::string out;
  size_t at = pgscale::protocol::begin_message(out, tag);
  out += body;
  pgscale::protocol::end_message(out, at);
  return out;
}

struct Seen {
  char tag;
  std::string body;
  bool whole;
};

std::vector<Seen> scan_all(FrameScanner& s, const std::string& buf, size_t& fwd, bool& bad) {
  std::vector<Seen> seen;
  auto r = s.scan(buf, [&](char t, std::string_view b, bool w) { seen.push_back({t, std::string(b), w}); });
  fwd = r.forwardable;
  bad = r.malformed;
  return seen;
}
}  // namespace

TEST_CASE("scanner reports every whole frame and forwards them all") {
  FrameScanner s(Direction::frontend, 1024);
  std::string buf = msg('Q', std::string("select 1") + '\0') + msg('S', "") + msg('X', "");
  size_t fwd = 0;
  bool bad = false;
  auto seen = scan_all(s, buf, fwd, bad);
  REQUIRE_FALSE(bad);
  REQUIRE(fwd == buf.size());
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].tag == 'Q');
  CHECK(seen[0].body == std::string("select 1") + '\0');
  CHECK(seen[1].tag == 'S');
  CHECK(seen[2].tag == 'X');
}

TEST_CASE("a small frame split at every offset is held back until complete") {
  std::string frame = msg('Z', "I");
  for (size_t cut = 0; cut < frame.size(); ++cut) {
    FrameScanner s(Direction::backend, 1024);
    size_t fwd = 0;
    bool bad = false;
    auto seen = scan_all(s, frame.substr(0, cut), fwd, bad);
    CHECK_FALSE(bad);
    CHECK(fwd == 0);
    CHECK(seen.empty());
    seen = scan_all(s, frame, fwd, bad);  // the caller re-scans the kept tail plus new bytes
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].body == "I");
    CHECK(fwd == frame.size());
  }
}

TEST_CASE("a frame larger than max_whole is streamed and its tail skipped") {
  FrameScanner s(Direction::backend, 16);
  std::string big = msg('D', std::string(100, 'x'));
  std::string after = msg('Z', "T");
  size_t fwd = 0;
  bool bad = false;
  auto seen = scan_all(s, big.substr(0, 40), fwd, bad);
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].whole);
  CHECK(fwd == 40);
  CHECK(s.in_streamed_frame());
  std::string rest = big.substr(40) + after;
  seen = scan_all(s, rest, fwd, bad);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].tag == 'Z');
  CHECK(seen[0].body == "T");
  CHECK(fwd == rest.size());
  CHECK_FALSE(s.in_streamed_frame());
}

TEST_CASE("hostile client headers are malformed from the first bytes") {
  size_t fwd = 0;
  bool bad = false;
  SECTION("unknown tag") {
    FrameScanner s(Direction::frontend, 1024);
    scan_all(s, std::string("\x01", 1), fwd, bad);
    CHECK(bad);
  }
  SECTION("length below 4") {
    FrameScanner s(Direction::frontend, 1024);
    scan_all(s, std::string("Q\0\0\0\x02", 5), fwd, bad);
    CHECK(bad);
  }
  SECTION("Sync with a body exceeds its per-type maximum") {
    FrameScanner s(Direction::frontend, 1024);
    scan_all(s, msg('S', "x"), fwd, bad);
    CHECK(bad);
  }
  SECTION("a valid frame before the bad one is still forwardable") {
    FrameScanner s(Direction::frontend, 1024);
    std::string good = msg('S', "");
    scan_all(s, good + std::string("\x00\x00\x00\x08", 4), fwd, bad);
    CHECK(bad);
    CHECK(fwd == good.size());
  }
}

TEST_CASE("ByteBuffer allocates on first use, frees only when empty") {
  ByteBuffer b(8);
  CHECK(b.capacity() == 0);
  REQUIRE(b.reserve_more(1, 64));
  CHECK(b.capacity() == 8);  // the initial size, not just what was asked for
  std::memcpy(b.write_ptr(), "ab", 2);
  b.commit(2);
  b.release();  // holds bytes: must keep them
  CHECK(b.readable() == "ab");
  b.consume(2);
  b.release();
  CHECK(b.capacity() == 0);
  CHECK(b.size() == 0);
  REQUIRE(b.reserve_more(20, 64));  // usable again, sized for the request
  CHECK(b.capacity() >= 20);
  std::memcpy(b.write_ptr(), "xyz", 3);
  b.commit(3);
  CHECK(b.readable() == "xyz");
}

TEST_CASE("ByteBuffer keeps the tail and grows up to its cap") {
  ByteBuffer b(8);
  REQUIRE(b.reserve_more(8, 64));
  std::memcpy(b.write_ptr(), "abcdefgh", 8);
  b.commit(8);
  CHECK(b.write_space() == 0);
  b.consume(5);
  CHECK(b.readable() == "fgh");
  REQUIRE(b.reserve_more(20, 64));
  CHECK(b.write_space() >= 20);
  CHECK(b.readable() == "fgh");
  CHECK_FALSE(b.reserve_more(100, 64));
}

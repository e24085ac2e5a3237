#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <limits>

#include "proxy/lsn.hpp"

using pgscale::format_lsn;
using pgscale::Lsn;
using pgscale::LsnAhead;
using pgscale::lsn_bytes_behind;
using pgscale::lsn_diff;
using pgscale::parse_lsn;

TEST_CASE("parse_lsn accepts what PostgreSQL prints", "[lsn]") {
  CHECK(parse_lsn("0/0") == Lsn{0});
  CHECK(parse_lsn("16/B374D848") == Lsn{0x16B374D848ull});
  CHECK(parse_lsn("16/b374d848") == Lsn{0x16B374D848ull});
  CHECK(parse_lsn("0/1") == Lsn{1});
  CHECK(parse_lsn("1/0") == Lsn{1ull << 32});
  CHECK(parse_lsn("FFFFFFFF/FFFFFFFF") == Lsn{std::numeric_limits<uint64_t>::max()});
  CHECK(parse_lsn("00000000/0000000A") == Lsn{10});
}

TEST_CASE("parse_lsn rejects garbage instead of guessing", "[lsn]") {
  for (const char* bad : {"", "/", "0/", "/0", "0", "16B374D848", "1/2/3", "0x1/0", "1/0x2",
                          " 1/2", "1/2 ", "1 /2", "-1/2", "+1/2", "G/0", "0/G", "100000000/0",
                          "0/100000000", "1//2", "1/2\n", "\t0/0"}) {
    INFO("input: '" << bad << "'");
    CHECK_FALSE(parse_lsn(bad).has_value());
  }
  CHECK_FALSE(parse_lsn(std::string_view("1/2\0", 4)).has_value());
}

TEST_CASE("format_lsn matches PostgreSQL's %X/%X and round-trips", "[lsn]") {
  CHECK(format_lsn(Lsn{0}) == "0/0");
  CHECK(format_lsn(Lsn{0x16B374D848ull}) == "16/B374D848");
  CHECK(format_lsn(Lsn{1ull << 32}) == "1/0");
  CHECK(format_lsn(Lsn{std::numeric_limits<uint64_t>::max()}) == "FFFFFFFF/FFFFFFFF");
  for (uint64_t v : std::initializer_list<uint64_t>{0, 1, 0xFFFFFFFF, 0x100000000, 0x123456789ABCDEF0,
                     std::numeric_limits<uint64_t>::max()}) {
    auto back = parse_lsn(format_lsn(Lsn{v}));
    REQUIRE(back.has_value());
    CHECK(back->value == v);
  }
}

TEST_CASE("lsn_diff is exact across the 32-bit boundary and says who is ahead", "[lsn]") {
  auto a = *parse_lsn("1/0");
  auto b = *parse_lsn("0/FFFFFFFF");
  auto d = lsn_diff(a, b);
  CHECK(d.bytes == 1);
  CHECK(d.ahead == LsnAhead::left);
  d = lsn_diff(b, a);
  CHECK(d.bytes == 1);
  CHECK(d.ahead == LsnAhead::right);
  d = lsn_diff(a, a);
  CHECK(d.bytes == 0);
  CHECK(d.ahead == LsnAhead::equal);
  // Full range: no overflow, no sign.
  d = lsn_diff(Lsn{std::numeric_limits<uint64_t>::max()}, Lsn{0});
  CHECK(d.bytes == std::numeric_limits<uint64_t>::max());
}

TEST_CASE("lsn_bytes_behind saturates at zero", "[lsn]") {
  CHECK(lsn_bytes_behind(Lsn{100}, Lsn{40}) == 60);
  CHECK(lsn_bytes_behind(Lsn{40}, Lsn{100}) == 0);  // replica sampled after its primary
  CHECK(lsn_bytes_behind(Lsn{7}, Lsn{7}) == 0);
  CHECK(lsn_bytes_behind(*parse_lsn("16/B374D848"), *parse_lsn("16/B3000000")) == 0x74D848);
  CHECK(Lsn{1} < Lsn{2});
}

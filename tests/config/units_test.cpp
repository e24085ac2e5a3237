#include <catch2/catch.hpp>

#include "config/units.hpp"

using namespace pgscale::config;

TEST_CASE("durations need a unit and accept ms, s, min, h, d", "[config][units]") {
  std::string why;
  CHECK(parse_duration("250ms", &why) == Millis{250});
  CHECK(parse_duration("5s", &why) == Millis{5000});
  CHECK(parse_duration("10min", &why) == Millis{600000});
  CHECK(parse_duration("1h", &why) == Millis{3600000});
  CHECK(parse_duration("2d", &why) == Millis{172800000});
  CHECK(parse_duration("5 s", &why) == Millis{5000});
  CHECK(parse_duration("0", &why) == Millis{0});
}

TEST_CASE("bad durations are rejected with a reason", "[config][units]") {
  std::string why;
  CHECK_FALSE(parse_duration("5", &why));
  CHECK(why.find("needs a unit") != std::string::npos);
  CHECK_FALSE(parse_duration("10m", &why));
  CHECK(why.find("ambiguous") != std::string::npos);
  CHECK_FALSE(parse_duration("5 sec", &why));
  CHECK(why.find("unknown unit 'sec'") != std::string::npos);
  CHECK_FALSE(parse_duration("-5s", &why));
  CHECK_FALSE(parse_duration("1.5s", &why));
  CHECK_FALSE(parse_duration("s", &why));
  CHECK_FALSE(parse_duration("99999999999999999999ms", &why));
  CHECK_FALSE(parse_duration("9999999999999999d", &why));
  CHECK(why == "is too large");
}

TEST_CASE("sizes are bytes or 1024-based units", "[config][units]") {
  std::string why;
  CHECK(parse_size("1048576", &why) == 1048576u);
  CHECK(parse_size("100B", &why) == 100u);
  CHECK(parse_size("512kB", &why) == 512u * 1024);
  CHECK(parse_size("16MB", &why) == 16u * 1024 * 1024);
  CHECK(parse_size("16mb", &why) == 16u * 1024 * 1024);
  CHECK(parse_size("1 GB", &why) == 1024ull * 1024 * 1024);
  CHECK(parse_size("2TB", &why) == 2ull << 40);
  CHECK_FALSE(parse_size("16MiB", &why));
  CHECK(why.find("unknown unit 'MiB'") != std::string::npos);
  CHECK_FALSE(parse_size("lots", &why));
  CHECK_FALSE(parse_size("-1", &why));
  CHECK_FALSE(parse_size("99999999999TB", &why));
}

TEST_CASE("durations and sizes print in their shortest exact unit", "[config][units]") {
  CHECK(format_duration(Millis{600000}) == "10min");
  CHECK(format_duration(Millis{1500}) == "1500ms");
  CHECK(format_duration(Millis{0}) == "0s");
  CHECK(format_duration(Millis{7200000}) == "2h");
  CHECK(format_size(16u * 1024 * 1024) == "16MB");
  CHECK(format_size(1000) == "1000B");
  CHECK(format_size(3072) == "3kB");
}

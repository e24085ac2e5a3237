// The literal-stripping normaliser: equal keys exactly when statements differ only in constants.
#include <catch2/catch.hpp>

#include <string>

#include "proxy/classifier_normalize.hpp"

using namespace pgscale::classifier;

namespace {
std::string key_of(std::string_view sql, NormalizeStatus expect = NormalizeStatus::ok) {
  std::string k;
  const NormalizeResult r = normalize(sql, k);
  CHECK(r.status == expect);
  return k;
}
}  // namespace

TEST_CASE("normalize: constants differ, key equal", "[classifier][normalize]") {
  CHECK(key_of("SELECT abalance FROM pgbench_accounts WHERE aid = 1") ==
        key_of("SELECT abalance FROM pgbench_accounts WHERE aid = 987654"));
  CHECK(key_of("SELECT * FROM t WHERE a = 'x' AND b = 1.5e3") ==
        key_of("SELECT * FROM t WHERE a = 'it''s' AND b = .5"));
  CHECK(key_of("SELECT $$a;b$$, $t$ x $t$") == key_of("SELECT $$$$, $t$$t$"));
  CHECK(key_of("SELECT B'0101', X'ff'") == key_of("SELECT b'1', x'0'"));
  CHECK(key_of("SELECT   1,\n\t2") == key_of("SELECT 3, 4"));
  CHECK(key_of("SELECT 1 /* request_id=17 */") == key_of("SELECT 2 /* request_id=99 */"));
  CHECK(key_of("SELECT 1 -- trailing") == key_of("SELECT 2"));
  CHECK(key_of("SELECT E'abc'") == key_of("SELECT 'xyz'"));
}

TEST_CASE("normalize: structure differs, key differs", "[classifier][normalize]") {
  CHECK(key_of("SELECT * FROM t") != key_of("SELECT * FROM u"));
  CHECK(key_of("SELECT \"a\" FROM t") != key_of("SELECT \"b\" FROM t"));
  CHECK(key_of("SELECT 1") != key_of("SELECT '1'"));  // number and string placeholders differ
  CHECK(key_of("SELECT t1 FROM t") != key_of("SELECT t2 FROM t"));  // digits inside identifiers
  CHECK(key_of("SELECT $1") != key_of("SELECT $2"));
  CHECK(key_of("SELECT 1 FOR UPDATE") != key_of("SELECT 1"));
  CHECK(key_of("SELECT a$1 FROM t") != key_of("SELECT a$2 FROM t"));
  CHECK(key_of("/* pgscale: primary */ SELECT 1") != key_of("SELECT 1"));
  CHECK(key_of("/* pgscale: primary */ SELECT 1") != key_of("/* pgscale: replica */ SELECT 1"));
  CHECK(key_of("SELECT 1;SELECT 2") != key_of("SELECT 1"));
  // dollar-quoted text never leaks into the key
  CHECK(key_of("SELECT $x$ FOR UPDATE $x$") == key_of("SELECT 'a'"));
}

TEST_CASE("normalize: hints", "[classifier][normalize]") {
  std::string k;
  CHECK(normalize("/* pgscale: primary */ SELECT 1", k).hint == Hint::primary);
  CHECK(normalize("SELECT 1 /* pgscale:replica */", k).hint == Hint::replica);
  CHECK(normalize("-- PGSCALE = replica\nSELECT 1", k).hint == Hint::replica);
  CHECK(normalize("/* a /* pgscale: primary */ b */ SELECT 1", k).hint == Hint::primary);
  CHECK_FALSE(normalize("SELECT '/* pgscale: primary */'", k).hint.has_value());
  CHECK_FALSE(normalize("SELECT $$ -- pgscale: primary $$", k).hint.has_value());
  CHECK_FALSE(normalize("/* pgscale */ SELECT 1", k).hint.has_value());
  CHECK(normalize("/* pgscale: replica */ /* pgscale: primary */ SELECT 1", k).hint == Hint::primary);
  CHECK(parse_hint_comment("x pgscale : replica y") == Hint::replica);
}

TEST_CASE("normalize: what must not be cached", "[classifier][normalize]") {
  key_of("SELECT 'abc", NormalizeStatus::unterminated);
  key_of("SELECT \"abc", NormalizeStatus::unterminated);
  key_of("SELECT $$abc", NormalizeStatus::unterminated);
  key_of("/* a /* b */ SELECT 1", NormalizeStatus::unterminated);  // nested: still open
  key_of("SELECT E'a\\nb'", NormalizeStatus::not_cacheable);
  key_of("SELECT U&'\\0041'", NormalizeStatus::not_cacheable);
  key_of("SELECT 123abc", NormalizeStatus::not_cacheable);
  key_of(std::string_view("SELECT \x01", 8), NormalizeStatus::not_cacheable);
  key_of(std::string_view("SELECT 1\0; DELETE FROM t", 24), NormalizeStatus::not_cacheable);
  key_of("SELECT E'plain'");  // no backslash: fine
}

TEST_CASE("normalize: output bound with many kept comments", "[classifier][normalize]") {
  std::string sql;
  for (int i = 0; i < 200; ++i) sql += "/*pgscale*/--pgscale\n";
  std::string k;
  const NormalizeResult r = normalize(sql, k);
  CHECK(r.status == NormalizeStatus::ok);
  CHECK(k.size() <= 2 * sql.size());
  CHECK(k.find("/*pgscale*/ --pgscale") == 0);
  CHECK(k.back() != ' ');
}

// The scanner copies identifier runs 16 bytes at a time and compares short words as one integer:
// runs longer than a block, runs ending at the text's end, and bytes >= 0x80 inside runs.
TEST_CASE("normalize: long identifiers and words at the end", "[classifier][normalize]") {
  const std::string long_a = "pgbench_accounts_with_a_rather_long_name_x";
  const std::string long_b = "pgbench_accounts_with_a_rather_long_name_y";
  CHECK(key_of("SELECT abalance FROM " + long_a + " WHERE aid = 1") ==
        "SELECT abalance FROM " + long_a + " WHERE aid = \x01");
  CHECK(key_of("SELECT 1 FROM " + long_a) != key_of("SELECT 1 FROM " + long_b));
  CHECK(key_of("SELECT a FROM " + long_a) == "SELECT a FROM " + long_a);
  CHECK(key_of("SELECT caf\xc3\xa9_table_name_longer_than_16 FROM t") ==
        "SELECT caf\xc3\xa9_table_name_longer_than_16 FROM t");
  CHECK(key_of("SELECT abcdefghijklmnop,abcdefghijklmnopq$1;") == "SELECT abcdefghijklmnop,abcdefghijklmnopq$1;");
  CHECK(key_of("SELECT  a\t\n FROM   t  ") == "SELECT a FROM t");
  CHECK(key_of("SELECT a FROM t WHERE x = E'y'") == key_of("SELECT a FROM t WHERE x = 'z'"));
  CHECK(key_of("SELECT a FROM t WHERE x = e'y' AND b = X'1F'") == "SELECT a FROM t WHERE x = \x02 AND b = \x03");
}

TEST_CASE("normalize: nesting keywords in any case, and only whole words", "[classifier][normalize]") {
  std::string k;
  CHECK(normalize("SELECT a", k).nesting_tokens == 0);
  CHECK(normalize("SELECT a AND b Or c", k).nesting_tokens == 2);
  CHECK(normalize("SELECT a aNd b", k).nesting_tokens == 1);
  CHECK(normalize("SELECT a BETWEEN b AND c", k).nesting_tokens == 2);
  CHECK(normalize("SELECT x COLLATE y, x IS NULL, CASE WHEN NOT z THEN 1 END", k).nesting_tokens == 4);
  CHECK(normalize("SELECT android, order_, isnull, at_x, or1, \"and\"", k).nesting_tokens == 0);
  CHECK(normalize("SELECT a ILIKE b, c SIMILAR TO d, e LIKE f", k).nesting_tokens == 3);
  CHECK(normalize("SELECT (a + b) * -c", k).nesting_tokens == 4);  // ( + * -; ')' does not count
}

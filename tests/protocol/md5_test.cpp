// MD5 password math. Expected values computed independently with Python's hashlib:
//   md5(b"pencil" + b"user") and md5(hex + bytes([1,2,3,4])).
#include <catch2/catch.hpp>

#include "protocol/crypto.hpp"
#include "protocol/md5_auth.hpp"

using namespace pgscale::protocol;

TEST_CASE("md5: stored hash and salted response", "[protocol][md5]") {
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  std::string stored = md5_password_hash("pencil", "user");
  CHECK(stored == "md520c46e3762c864548e296b33c3406aa9");
  CHECK(is_md5_hash(stored));
  Md5Salt salt{1, 2, 3, 4};
  std::string expected = "md54376eb6913b38f9aaff38dc7cf19ca76";
  CHECK(md5_response_from_password("pencil", "user", salt) == expected);
  CHECK(md5_response_from_hash(stored, salt) == expected);
  CHECK(md5_response_from_hash("pencil", salt).empty());
}

TEST_CASE("md5: server-side verification from a hash or a cleartext secret", "[protocol][md5]") {
  Md5Salt salt{0xde, 0xad, 0xbe, 0xef};
  std::string response = md5_response_from_password("pw", "app", salt);
  CHECK(md5_verify(md5_password_hash("pw", "app"), "app", salt, response));
  CHECK(md5_verify("pw", "app", salt, response));  // cleartext secret in the YAML
  CHECK_FALSE(md5_verify("other", "app", salt, response));
  CHECK_FALSE(md5_verify("pw", "bob", salt, response));  // the user name is salted in
  CHECK_FALSE(md5_verify("pw", "app", Md5Salt{0, 0, 0, 0}, response));
  CHECK_FALSE(md5_verify("pw", "app", salt, ""));
  CHECK_FALSE(md5_verify("SCRAM-SHA-256$4096:c2FsdA==$a:b", "app", salt, response));
}

TEST_CASE("md5: is_md5_hash is strict", "[protocol][md5]") {
  CHECK_FALSE(is_md5_hash("md5"));
  CHECK_FALSE(is_md5_hash("md520C46E3762C864548E296B33C3406AA9"));  // upper case
  CHECK_FALSE(is_md5_hash("md520c46e3762c864548e296b33c3406aa"));   // 31 digits
  CHECK_FALSE(is_md5_hash("xyz20c46e3762c864548e296b33c3406aa9"));
}

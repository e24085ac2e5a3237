// protocol/crypto: SHA-256 and HMAC-SHA-256 against published vectors (FIPS 180-2, RFC 4231),
// and the per-thread random block.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "protocol/crypto.hpp"

using namespace pgscale::protocol;

namespace {
std::string hex(const Sha256Digest& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}
}  // namespace

TEST_CASE("crypto: SHA-256 of known inputs", "[protocol][crypto]") {
  CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("crypto: HMAC-SHA-256, RFC 4231 test cases", "[protocol][crypto]") {
  // 1: 20-byte key
  CHECK(hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // 2: key shorter than the output
  CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // 3: 50 bytes of data
  CHECK(hex(hmac_sha256(std::string(20, '\xaa'), std::string(50, '\xdd'))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // 6: key longer than the 64-byte block (hashed first)
  CHECK(hex(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // 7: long key and long data
  CHECK(hex(hmac_sha256(std::string(131, '\xaa'),
                        "This is a test using a larger than block-size key and a larger than block-size data. "
                        "The key needs to be hashed before being used by the HMAC algorithm.")) ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  // a key of exactly one block is used as is
  CHECK(hex(hmac_sha256(std::string(64, 'k'), "x")) != hex(hmac_sha256(hex(sha256(std::string(64, 'k'))), "x")));
}

TEST_CASE("crypto: random bytes differ across calls and block refills", "[protocol][crypto]") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {  // 200 x 12 bytes: several refills of the per-thread block
    std::string b(12, '\0');
    REQUIRE(random_bytes(b.data(), b.size()));
    seen.insert(b);
  }
  CHECK(seen.size() == 200);
  std::string big(1000, '\0');  // larger requests bypass the block
  REQUIRE(random_bytes(big.data(), big.size()));
  CHECK(big != std::string(1000, '\0'));
}

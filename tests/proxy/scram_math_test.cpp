// pgscale's private SCRAM/MD5 helpers, cross-checked with protocol/ and known values.
#include <catch2/catch.hpp>

#include <vector>

#include "protocol/scram.hpp"
#include "proxy/scram_math.hpp"
#include "proxy/server_auth.hpp"

using namespace pgscale;
namespace ps = pgscale::proxy::scram;

TEST_CASE("verifier made here parses and equals protocol's for the same salt") {
  auto v = ps::make_verifier("pencil", "0123456789abcdef", 4096);
  std::string text = ps::format_verifier(v);
  CHECK(text == protocol::scram::make_verifier("pencil", "0123456789abcdef", 4096));
  auto back = ps::parse_verifier(text);
  REQUIRE(back);
  CHECK(back->iterations == 4096);
  CHECK(back->salt == "0123456789abcdef");
  CHECK(back->stored_key == v.stored_key);
  CHECK(back->server_key == v.server_key);
}

TEST_CASE("malformed verifiers are rejected") {
  CHECK_FALSE(ps::parse_verifier("md5abc"));
  CHECK_FALSE(ps::parse_verifier("SCRAM-SHA-256$x:abc$def:ghi"));
  CHECK_FALSE(ps::parse_verifier("SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA"));
}

TEST_CASE("base64 round trip, including padding") {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto back = ps::b64_decode(ps::b64_encode(s));
    REQUIRE(back);
    CHECK(*back == s);
  }
  CHECK_FALSE(ps::b64_decode("abc"));
  CHECK_FALSE(ps::b64_decode("ab!="));
}

TEST_CASE("md5 password response matches PostgreSQL's formula") {
  // md5(md5("secret" + "app") + salt), computed independently with Python hashlib.
  std::array<uint8_t, 4> salt{1, 2, 3, 4};
  std::string r = proxy::md5_client_response("app", "secret", salt);
  CHECK(r.size() == 35);
  CHECK(r == "md5911f527656472583a006e7727877b33e");
  // A stored "md5<hex>" hash gives the same answer as the password it came from.
  std::string stored = "md5" + ps::md5_hex("secretapp");
  CHECK(proxy::md5_client_response("app", stored, salt) == r);
  CHECK(ps::md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
}

TEST_CASE("SCRAM client pass-through proof verifies against the verifier") {
  // Server side math by hand: ClientKey from the password, compare what the client sends.
  auto v = ps::make_verifier("pw", "saltsaltsaltsalt", 4096);
  ps::Key salted = ps::salted_password("pw", "saltsaltsaltsalt", 4096);
  proxy::ServerCredentials creds;
  creds.scram = proxy::ScramPassThrough{ps::hmac(salted, "Client Key"), v.server_key, v.salt, 4096};
  proxy::ScramClient client(creds);
  REQUIRE(client.usable());
  std::string first = client.client_first();
  std::string bare = first.substr(3);
  auto nonce = ps::attribute(bare, 'r');
  REQUIRE(nonce);
  std::string server_first = "r=" + std::string(*nonce) + "SRV,s=" + ps::b64_encode(v.salt) + ",i=4096";
  std::string final_msg, err;
  bool ok = client.client_final(server_first, final_msg, err);
  INFO(err << " / " << server_first);
  REQUIRE(ok);
  size_t p = final_msg.find(",p=");
  REQUIRE(p != std::string::npos);
  std::string auth = first.substr(3) + "," + server_first + "," + final_msg.substr(0, p);
  auto proof = ps::b64_decode(final_msg.substr(p + 3));
  REQUIRE(proof);
  ps::Key sig = ps::hmac(v.stored_key, auth), key;
  for (size_t i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>((*proof)[i]) ^ sig[i];
  CHECK(ps::sha256(key) == v.stored_key);
  std::string server_final = "v=" + ps::b64_encode(ps::key_view(ps::hmac(v.server_key, auth)));
  CHECK(client.verify_server_final(server_final));
  CHECK_FALSE(client.verify_server_final("v=AAAA"));
}

TEST_CASE("SCRAM pass-through refuses a server with a different salt") {
  auto v = ps::make_verifier("pw", "saltsaltsaltsalt", 4096);
  proxy::ServerCredentials creds;
  creds.scram = proxy::ScramPassThrough{{}, v.server_key, v.salt, 4096};
  proxy::ScramClient client(creds);
  std::string first = client.client_first();
  std::string bare = first.substr(3);
  auto nonce = ps::attribute(bare, 'r');
  std::string out, err;
  CHECK_FALSE(client.client_final("r=" + std::string(*nonce) + "X,s=" + ps::b64_encode("othersalt") + ",i=4096", out, err));
  CHECK_FALSE(err.empty());
}

#pragma once
// Private SCRAM-SHA-256 / MD5 helpers (RFC 5802, RFC 7677) on OpenSSL, used until protocol/
// publishes its SCRAM API (then these become thin wrappers or go away).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgscale::proxy::scram {

using Key = std::array<uint8_t, 32>;

Key hmac(const Key& key, std::string_view data);
Key hmac(std::string_view key, std::string_view data);
Key sha256(const Key& data);
Key salted_password(std::string_view password, std::string_view salt, uint32_t iterations);
std::string b64_encode(std::string_view raw);
std::optional<std::string> b64_decode(std::string_view text);
std::string random_nonce();  // 18 random bytes, base64
std::string key_view(const Key& k);  // raw bytes as a string

// "SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>" (pg_authid.rolpassword).
struct Verifier {
  uint32_t iterations = 0;
  std::string salt;  // raw
  Key stored_key{};
  Key server_key{};
};
std::optional<Verifier> parse_verifier(std::string_view text);
Verifier make_verifier(std::string_view password, std::string_view salt, uint32_t iterations);
std::string format_verifier(const Verifier& v);

// Value of attribute `name` ("r", "s", "i", "p", "v", "e", "c") in a comma-separated SCRAM message.
std::optional<std::string_view> attribute(std::string_view msg, char name);

// hex(md5(data))
std::string md5_hex(std::string_view data);

}  // namespace pgscale::proxy::scram

#pragma once
// Small crypto helpers over OpenSSL 3, shared by SCRAM, MD5 and the proxy (random cancel keys and
// MD5 salts). No exceptions: failures are reported by return value.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgscale::protocol {

using Sha256Digest = std::array<uint8_t, 32>;

// Cryptographically secure random bytes (OpenSSL's DRBG, drawn in blocks per thread; requests
// over 64 bytes go to RAND_bytes directly). False if the RNG failed.
bool random_bytes(void* out, size_t n) noexcept;

// Compares in time that depends only on the lengths, never on where the first difference is.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// Standard base64 (RFC 4648 section 4, with padding), as SCRAM uses it.
std::string base64_encode(std::string_view bytes);
// False on a character outside the alphabet, bad padding, or a length not a multiple of 4.
bool base64_decode(std::string_view text, std::string& out);

Sha256Digest sha256(std::string_view data) noexcept;
Sha256Digest hmac_sha256(std::string_view key, std::string_view data) noexcept;
// Lowercase hex of MD5(data).
std::string md5_hex(std::string_view data);

inline std::string_view as_view(const Sha256Digest& d) noexcept {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

}  // namespace pgscale::protocol

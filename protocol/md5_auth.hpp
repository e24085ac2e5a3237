#pragma once
// MD5 password authentication (PostgreSQL docs 55.2.2, AuthenticationMD5Password; 21.5 "Password
// Authentication"). The stored form is "md5" + md5_hex(password + username); the client answers a
// 4-byte salt with "md5" + md5_hex(md5_hex(password + username) + salt).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgscale::protocol {

using Md5Salt = std::array<uint8_t, 4>;

// "md5" + md5_hex(password + user): what pg_authid.rolpassword holds for an md5 password.
std::string md5_password_hash(std::string_view password, std::string_view user);

// True for "md5" followed by exactly 32 lowercase hex digits.
bool is_md5_hash(std::string_view stored) noexcept;

// The PasswordMessage answer to AuthenticationMD5Password, from the cleartext password.
std::string md5_response_from_password(std::string_view password, std::string_view user,
                                       const Md5Salt& salt);
// The same from a stored "md5<hex>" hash (pass-through of a hashed secret, no password needed).
// Returns "" when `stored_hash` is not an md5 hash.
std::string md5_response_from_hash(std::string_view stored_hash, const Md5Salt& salt);

// Server side: does the client's PasswordMessage `response` match the stored secret? `stored` is
// an "md5<hex>" hash or, failing that, a cleartext password. Constant time in the comparison.
// A SCRAM verifier cannot be used for md5 (PostgreSQL refuses too): returns false.
bool md5_verify(std::string_view stored, std::string_view user, const Md5Salt& salt,
                std::string_view response);

}  // namespace pgscale::protocol

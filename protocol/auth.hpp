#pragma once
// Authentication messages (PostgreSQL docs 55.2.2 "Authentication", 55.3 "SASL Authentication").
// Backend: 'R' Authentication* (one struct, discriminated by code). Frontend: 'p', whose meaning
// depends on the exchange in progress, so the caller picks the decoder: PasswordMessage (cleartext
// or md5), SASLInitialResponse, SASLResponse.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error.hpp"

namespace pgscale::protocol {

enum class AuthCode : int32_t {
  ok = 0,
  kerberos_v5 = 2,
  cleartext_password = 3,
  md5_password = 5,
  gss = 7,
  gss_continue = 8,
  sspi = 9,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
inline constexpr std::string_view kScramSha256Plus = "SCRAM-SHA-256-PLUS";

// 'R' Authentication*. Which fields are meaningful depends on `code`:
//   md5_password: md5_salt; sasl: mechanisms; sasl_continue / sasl_final / gss_continue: data.
// Other codes carry no payload (ok, cleartext_password, kerberos_v5, gss, sspi).
struct Authentication {
  static constexpr char tag = 'R';
  AuthCode code = AuthCode::ok;
  std::array<uint8_t, 4> md5_salt{};
  std::vector<std::string_view> mechanisms;  // views into the body
  std::string_view data;                     // SASL server message (view into the body)
  bool operator==(const Authentication&) const = default;
};
// Unknown codes decode as malformed (a proxy cannot relay an exchange it does not understand).
Errc decode(std::string_view body, Authentication& out);
void encode(std::string& out, const Authentication& msg);

// Convenience encoders for the server side of pgscale.
void encode_auth_ok(std::string& out);
void encode_auth_cleartext(std::string& out);
void encode_auth_md5(std::string& out, std::array<uint8_t, 4> salt);
void encode_auth_sasl(std::string& out, const std::vector<std::string_view>& mechanisms);
void encode_auth_sasl_continue(std::string& out, std::string_view data);
void encode_auth_sasl_final(std::string& out, std::string_view data);

// 'p' PasswordMessage: a NUL-terminated password (cleartext or "md5" + 32 hex).
struct PasswordMessage {
  static constexpr char tag = 'p';
  std::string_view password;
  bool operator==(const PasswordMessage&) const = default;
};
Errc decode(std::string_view body, PasswordMessage& out) noexcept;
void encode(std::string& out, const PasswordMessage& msg);

// 'p' SASLInitialResponse: mechanism name, int32 length of the initial response (-1 = none), data.
struct SaslInitialResponse {
  static constexpr char tag = 'p';
  std::string_view mechanism;
  bool has_data = true;   // false when the length field was -1
  std::string_view data;  // client-first-message for SCRAM
  bool operator==(const SaslInitialResponse&) const = default;
};
Errc decode(std::string_view body, SaslInitialResponse& out) noexcept;
void encode(std::string& out, const SaslInitialResponse& msg);

// 'p' SASLResponse: the rest of the body is the mechanism's data (client-final-message).
struct SaslResponse {
  static constexpr char tag = 'p';
  std::string_view data;
  bool operator==(const SaslResponse&) const = default;
};
Errc decode(std::string_view body, SaslResponse& out) noexcept;
void encode(std::string& out, const SaslResponse& msg);

}  // namespace pgscale::protocol

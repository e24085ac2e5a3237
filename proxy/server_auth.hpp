#pragma once
// pgscale as a client authenticating to PostgreSQL: SCRAM-SHA-256 client (with password, or
// pass-through with the ClientKey recovered from the client's proof) and the md5 response.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/scram_math.hpp"
#include "proxy/server_conn.hpp"

namespace pgscale::proxy {

class ScramClient {
 public:
  explicit ScramClient(const ServerCredentials& creds);
  bool usable() const noexcept;
  std::string client_first();
  // server-first-message -> client-final-message; false (with a reason) on a bad message or a
  // salt/iteration count that differs from the pass-through verifier.
  bool client_final(std::string_view server_first, std::string& out, std::string& error);
  bool verify_server_final(std::string_view server_final) const;

 private:
  const ServerCredentials& creds_;
  std::string nonce_;
  std::string first_bare_;
  scram::Key expected_server_signature_{};
};

bool is_md5_hash(std::string_view s) noexcept;  // "md5" + 32 hex
// "md5" + md5(md5(password + user) + salt); accepts a stored "md5<hex>" in place of the password.
std::string md5_client_response(std::string_view user, std::string_view password_or_hash,
                                std::array<uint8_t, 4> salt);
// "SQLSTATE: message" of an ErrorResponse body, for logs.
std::string server_error_text(std::string_view error_body);

}  // namespace pgscale::proxy

#include "proxy/server_auth.hpp"

#include "protocol/response.hpp"

namespace pgscale::proxy {

std::optional<protocol::scram::ScramClient> make_scram_client(const ServerCredentials& creds) {
  if (creds.scram) return protocol::scram::ScramClient::with_keys(creds.scram->client_key, creds.scram->verifier);
  if (creds.password.empty() || protocol::is_md5_hash(creds.password)) return std::nullopt;
  return protocol::scram::ScramClient::with_password(creds.password);
}

std::string md5_client_response(std::string_view user, std::string_view password_or_hash,
                                const protocol::Md5Salt& salt) {
  if (protocol::is_md5_hash(password_or_hash)) return protocol::md5_response_from_hash(password_or_hash, salt);
  return protocol::md5_response_from_password(password_or_hash, user, salt);
}

std::string server_error_text(std::string_view error_body) {
  protocol::ErrorResponse e;
  if (protocol::decode(error_body, e) != protocol::Errc::ok) return "(malformed ErrorResponse)";
  return std::string(e.sqlstate()) + ": " + std::string(e.message());
}

}  // namespace pgscale::proxy

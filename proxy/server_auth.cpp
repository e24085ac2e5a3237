#include "proxy/server_auth.hpp"

#include "protocol/response.hpp"

namespace pgscale::proxy {

ScramClient::ScramClient(const ServerCredentials& creds) : creds_(creds) {}

bool ScramClient::usable() const noexcept {
  return creds_.scram.has_value() || (!creds_.password.empty() && !is_md5_hash(creds_.password));
}

std::string ScramClient::client_first() {
  nonce_ = scram::random_nonce();
  // PostgreSQL ignores the SCRAM user name (it uses the startup packet's), so send it empty.
  first_bare_ = "n=,r=" + nonce_;
  return "n,," + first_bare_;
}

bool ScramClient::client_final(std::string_view server_first, std::string& out, std::string& error) {
  auto r = scram::attribute(server_first, 'r');
  auto s = scram::attribute(server_first, 's');
  auto i = scram::attribute(server_first, 'i');
  if (!r || !s || !i || r->substr(0, nonce_.size()) != nonce_ || r->size() <= nonce_.size()) {
    error = "malformed SCRAM server-first-message";
    return false;
  }
  auto salt = scram::b64_decode(*s);
  uint32_t iterations = 0;
  for (char c : *i) {
    if (c < '0' || c > '9' || iterations > 100000000) return error = "bad SCRAM iteration count", false;
    iterations = iterations * 10 + static_cast<uint32_t>(c - '0');
  }
  if (!salt || iterations == 0) return error = "bad SCRAM salt", false;
  scram::Key client_key, server_key;
  if (creds_.scram) {
    if (*salt != creds_.scram->salt || iterations != creds_.scram->iterations) {
      error = "SCRAM pass-through impossible: the server's verifier differs from pgscale's (salt or "
              "iterations); copy pg_authid.rolpassword into the YAML or set server_password";
      return false;
    }
    client_key = creds_.scram->client_key;
    server_key = creds_.scram->server_key;
  } else {
    scram::Key salted = scram::salted_password(creds_.password, *salt, iterations);
    client_key = scram::hmac(salted, "Client Key");
    server_key = scram::hmac(salted, "Server Key");
  }
  std::string without_proof = "c=biws,r=" + std::string(*r);
  std::string auth_message = first_bare_ + "," + std::string(server_first) + "," + without_proof;
  scram::Key signature = scram::hmac(scram::sha256(client_key), auth_message);
  scram::Key proof;
  for (size_t k = 0; k < proof.size(); ++k) proof[k] = client_key[k] ^ signature[k];
  expected_server_signature_ = scram::hmac(server_key, auth_message);
  out = without_proof + ",p=" + scram::b64_encode(scram::key_view(proof));
  return true;
}

bool ScramClient::verify_server_final(std::string_view server_final) const {
  auto v = scram::attribute(server_final, 'v');
  if (!v) return false;
  auto raw = scram::b64_decode(*v);
  return raw && *raw == scram::key_view(expected_server_signature_);
}

bool is_md5_hash(std::string_view s) noexcept {
  if (s.size() != 35 || s.substr(0, 3) != "md5") return false;
  for (char c : s.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string md5_client_response(std::string_view user, std::string_view password_or_hash,
                                std::array<uint8_t, 4> salt) {
  std::string inner = is_md5_hash(password_or_hash)
                          ? std::string(password_or_hash.substr(3))
                          : scram::md5_hex(std::string(password_or_hash) + std::string(user));
  inner.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return "md5" + scram::md5_hex(inner);
}

std::string server_error_text(std::string_view error_body) {
  protocol::ErrorResponse e;
  if (protocol::decode(error_body, e) != protocol::Errc::ok) return "(malformed ErrorResponse)";
  return std::string(e.sqlstate()) + ": " + std::string(e.message());
}

}  // namespace pgscale::proxy

#include "protocol/scram.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <climits>

namespace pgscale::protocol::scram {
namespace {

std::string_view view(const Key& k) noexcept {
  return {reinterpret_cast<const char*>(k.data()), k.size()};
}

Key to_key(const Sha256Digest& d) noexcept {
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = d[i];
  return k;
}

bool pbkdf2(std::string_view password, std::string_view salt, uint32_t iterations, Key& out) {
  if (iterations == 0 || iterations > INT_MAX || password.size() > INT_MAX ||
      salt.size() > INT_MAX) {
    return false;
  }
  return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                           reinterpret_cast<const unsigned char*>(salt.data()),
                           static_cast<int>(salt.size()), static_cast<int>(iterations),
                           EVP_sha256(), static_cast<int>(out.size()), out.data()) == 1;
}

bool decode_key(std::string_view b64, Key& out) {
  std::string raw;
  if (!base64_decode(b64, raw) || raw.size() != out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(raw[i]);
  return true;
}

bool parse_u32(std::string_view s, uint32_t& out) noexcept {
  if (s.empty() || s.size() > 10) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

// Reads "<name>=<value>" up to the next ',' (consumed) or the end of `in`.
bool read_attr(std::string_view& in, char name, std::string_view& value) noexcept {
  if (in.size() < 2 || in[0] != name || in[1] != '=') return false;
  size_t comma = in.find(',', 2);
  value = in.substr(2, comma == std::string_view::npos ? std::string_view::npos : comma - 2);
  in = comma == std::string_view::npos ? std::string_view{} : in.substr(comma + 1);
  return true;
}

// RFC 5802: nonce = printable ASCII except ','.
bool valid_nonce(std::string_view n) noexcept {
  if (n.empty()) return false;
  for (char c : n) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

bool make_nonce(const std::string& override_nonce, std::string& out) {
  if (!override_nonce.empty()) {
    out = override_nonce;
    return true;
  }
  unsigned char raw[kRawNonceLength];
  if (!random_bytes(raw, sizeof raw)) return false;
  out = base64_encode({reinterpret_cast<const char*>(raw), sizeof raw});
  return true;
}

Key xor_keys(const Key& a, const Key& b) noexcept {
  Key r;
  for (size_t i = 0; i < r.size(); ++i) r[i] = a[i] ^ b[i];
  return r;
}

}  // namespace

bool looks_like_verifier(std::string_view text) noexcept {
  return text.starts_with("SCRAM-SHA-256$");
}

Errc parse_verifier(std::string_view text, Verifier& out) {
  constexpr std::string_view prefix = "SCRAM-SHA-256$";
  if (!text.starts_with(prefix)) return Errc::malformed;
  text.remove_prefix(prefix.size());
  size_t colon1 = text.find(':');
  size_t dollar = text.find('$');
  if (colon1 == std::string_view::npos || dollar == std::string_view::npos || dollar < colon1) {
    return Errc::malformed;
  }
  size_t colon2 = text.find(':', dollar);
  if (colon2 == std::string_view::npos) return Errc::malformed;
  Verifier v;
  if (!parse_u32(text.substr(0, colon1), v.iterations) || v.iterations == 0) {
    return Errc::malformed;
  }
  if (!base64_decode(text.substr(colon1 + 1, dollar - colon1 - 1), v.salt) || v.salt.empty()) {
    return Errc::malformed;
  }
  if (!decode_key(text.substr(dollar + 1, colon2 - dollar - 1), v.stored_key) ||
      !decode_key(text.substr(colon2 + 1), v.server_key)) {
    return Errc::malformed;
  }
  out = std::move(v);
  return Errc::ok;
}

std::string format_verifier(const Verifier& v) {
  std::string out = "SCRAM-SHA-256$";
  out += std::to_string(v.iterations);
  out += ':';
  out += base64_encode(v.salt);
  out += '$';
  out += base64_encode(view(v.stored_key));
  out += ':';
  out += base64_encode(view(v.server_key));
  return out;
}

Errc derive_verifier(std::string_view password, std::string_view salt, uint32_t iterations,
                     Verifier& out) {
  Key salted{};
  std::string prepared = saslprep(password);
  if (!pbkdf2(prepared, salt, iterations, salted)) return Errc::crypto_failure;
  Key client_key = to_key(hmac_sha256(view(salted), "Client Key"));
  out.iterations = iterations;
  out.salt = std::string(salt);
  out.stored_key = to_key(sha256(view(client_key)));
  out.server_key = to_key(hmac_sha256(view(salted), "Server Key"));
  return Errc::ok;
}

std::string make_verifier(std::string_view password, std::string_view salt, uint32_t iterations) {
  Verifier v;
  if (salt.empty() || derive_verifier(password, salt, iterations, v) != Errc::ok) return {};
  return format_verifier(v);
}

std::string make_verifier(std::string_view password, uint32_t iterations) {
  char salt[kDefaultSaltLength];
  if (!random_bytes(salt, sizeof salt)) return {};
  return make_verifier(password, std::string_view(salt, sizeof salt), iterations);
}

Verifier mock_verifier(std::string_view username, std::string_view secret) {
  auto derive = [&](std::string_view label) {
    std::string buf(label);
    buf.append(username);
    buf.push_back('\0');
    buf.append(secret);
    return sha256(buf);
  };
  Verifier v;
  Sha256Digest s = derive("salt");
  v.salt.assign(reinterpret_cast<const char*>(s.data()), kDefaultSaltLength);
  v.stored_key = to_key(derive("stored"));
  v.server_key = to_key(derive("server"));
  return v;
}

std::string saslprep(std::string_view password) {
  // ASCII printable: SASLprep is the identity. Anything else: raw bytes, as PostgreSQL does when
  // its SASLprep fails; see the header for what that means for non-ASCII passwords.
  return std::string(password);
}

// ---------------------------------------------------------------- server

ScramServer::ScramServer(Verifier verifier, Options options)
    : verifier_(std::move(verifier)), options_(std::move(options)) {}

Errc ScramServer::handle_client_first(std::string_view msg, std::string& server_first) {
  if (state_ != State::want_client_first) return Errc::invalid_state;
  state_ = State::done;  // any failure spends the exchange
  // gs2-header: cbind-flag "," [authzid] ","
  if (msg.empty()) return Errc::malformed;
  char flag = msg[0];
  size_t comma1 = msg.find(',');
  if (comma1 == std::string_view::npos) return Errc::malformed;
  if (flag == 'p') return Errc::unsupported;  // we never offer SCRAM-SHA-256-PLUS
  if ((flag != 'n' && flag != 'y') || comma1 != 1) return Errc::malformed;
  size_t comma2 = msg.find(',', comma1 + 1);
  if (comma2 == std::string_view::npos) return Errc::malformed;
  if (comma2 != comma1 + 1) return msg.substr(comma1 + 1).starts_with("a=") ? Errc::unsupported
                                                                           : Errc::malformed;
  gs2_header_ = std::string(msg.substr(0, comma2 + 1));
  std::string_view bare = msg.substr(comma2 + 1);
  client_first_bare_ = std::string(bare);
  if (bare.starts_with("m=")) return Errc::unsupported;  // mandatory extension
  std::string_view user, client_nonce;
  if (!read_attr(bare, 'n', user) || !read_attr(bare, 'r', client_nonce) ||
      !valid_nonce(client_nonce)) {
    return Errc::malformed;
  }
  std::string server_nonce;
  if (!make_nonce(options_.server_nonce, server_nonce)) return Errc::crypto_failure;
  nonce_ = std::string(client_nonce) + server_nonce;
  server_first = "r=" + nonce_ + ",s=" + base64_encode(verifier_.salt) +
                 ",i=" + std::to_string(verifier_.iterations);
  server_first_ = server_first;
  state_ = State::want_client_final;
  return Errc::ok;
}

Errc ScramServer::handle_client_final(std::string_view msg, std::string& server_final) {
  if (state_ != State::want_client_final) return Errc::invalid_state;
  state_ = State::done;
  size_t proof_at = msg.rfind(",p=");
  if (proof_at == std::string_view::npos) return Errc::malformed;
  std::string_view without_proof = msg.substr(0, proof_at);
  std::string_view rest = without_proof;
  std::string_view cbind, nonce;
  if (!read_attr(rest, 'c', cbind) || !read_attr(rest, 'r', nonce)) return Errc::malformed;
  std::string cbind_raw;
  if (!base64_decode(cbind, cbind_raw) || cbind_raw != gs2_header_) return Errc::malformed;
  if (nonce != nonce_) return Errc::malformed;
  Key proof{};
  if (!decode_key(msg.substr(proof_at + 3), proof)) return Errc::malformed;

  std::string auth_message = client_first_bare_;
  auth_message += ',';
  auth_message += server_first_;
  auth_message += ',';
  auth_message += without_proof;
  Key client_signature = to_key(hmac_sha256(view(verifier_.stored_key), auth_message));
  Key client_key = xor_keys(proof, client_signature);
  Key stored = to_key(sha256(view(client_key)));
  bool match = constant_time_equal(view(stored), view(verifier_.stored_key));
  if (!match || options_.doomed) return Errc::auth_failed;
  client_key_ = client_key;
  authenticated_ = true;
  server_final = "v=" + base64_encode(view(to_key(hmac_sha256(view(verifier_.server_key),
                                                              auth_message))));
  return Errc::ok;
}

// ---------------------------------------------------------------- client

ScramClient ScramClient::with_password(std::string_view password, Options options) {
  ScramClient c;
  c.options_ = std::move(options);
  c.password_ = saslprep(password);
  return c;
}

ScramClient ScramClient::with_keys(const Key& client_key, const Verifier& verifier,
                                   Options options) {
  ScramClient c;
  c.options_ = std::move(options);
  c.have_keys_ = true;
  c.client_key_ = client_key;
  c.verifier_ = verifier;
  return c;
}

Errc ScramClient::client_first(std::string& out) {
  if (state_ != State::start) return Errc::invalid_state;
  if (!make_nonce(options_.client_nonce, client_nonce_)) return Errc::crypto_failure;
  // RFC 5802 escapes ',' and '=' in the name; PostgreSQL ignores it, so keep it simple and safe.
  std::string user;
  for (char ch : options_.username) {
    if (ch == ',') user += "=2C";
    else if (ch == '=') user += "=3D";
    else user += ch;
  }
  client_first_bare_ = "n=" + user + ",r=" + client_nonce_;
  out = "n,," + client_first_bare_;
  state_ = State::want_server_first;
  return Errc::ok;
}

Errc ScramClient::handle_server_first(std::string_view msg, std::string& client_final) {
  if (state_ != State::want_server_first) return Errc::invalid_state;
  state_ = State::done;
  if (msg.starts_with("m=")) return Errc::unsupported;
  std::string_view rest = msg, nonce, salt_b64, iter_text;
  if (!read_attr(rest, 'r', nonce) || !read_attr(rest, 's', salt_b64) ||
      !read_attr(rest, 'i', iter_text)) {
    return Errc::malformed;
  }
  std::string salt;
  uint32_t iterations = 0;
  if (!valid_nonce(nonce) || nonce.size() <= client_nonce_.size() ||
      !nonce.starts_with(client_nonce_) || !base64_decode(salt_b64, salt) || salt.empty() ||
      !parse_u32(iter_text, iterations) || iterations == 0) {
    return Errc::malformed;
  }
  if (iterations > options_.max_iterations) return Errc::unsupported;
  Key server_key{};
  if (have_keys_) {
    if (salt != verifier_.salt || iterations != verifier_.iterations) return Errc::key_mismatch;
    server_key = verifier_.server_key;
  } else {
    Key salted{};
    if (!pbkdf2(password_, salt, iterations, salted)) return Errc::crypto_failure;
    client_key_ = to_key(hmac_sha256(view(salted), "Client Key"));
    server_key = to_key(hmac_sha256(view(salted), "Server Key"));
  }
  std::string without_proof = "c=biws,r=" + std::string(nonce);  // biws = base64("n,,")
  std::string auth_message = client_first_bare_ + "," + std::string(msg) + "," + without_proof;
  Key stored = to_key(sha256(view(client_key_)));
  Key proof = xor_keys(client_key_, to_key(hmac_sha256(view(stored), auth_message)));
  client_final = without_proof + ",p=" + base64_encode(view(proof));
  expected_server_signature_ = base64_encode(view(to_key(hmac_sha256(view(server_key),
                                                                     auth_message))));
  state_ = State::want_server_final;
  return Errc::ok;
}

Errc ScramClient::handle_server_final(std::string_view msg) {
  if (state_ != State::want_server_final) return Errc::invalid_state;
  state_ = State::done;
  if (msg.starts_with("e=")) return Errc::auth_failed;
  std::string_view rest = msg, signature;
  if (!read_attr(rest, 'v', signature)) return Errc::malformed;
  return constant_time_equal(signature, expected_server_signature_) ? Errc::ok
                                                                     : Errc::auth_failed;
}

}  // namespace pgscale::protocol::scram

#include "proxy/scram_math.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <cstring>

namespace pgscale::proxy::scram {

Key hmac(std::string_view key, std::string_view data) {
  Key out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

Key hmac(const Key& key, std::string_view data) {
  return hmac(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), data);
}

Key sha256(const Key& data) {
  Key out{};
  SHA256(data.data(), data.size(), out.data());
  return out;
}

Key salted_password(std::string_view password, std::string_view salt, uint32_t iterations) {
  Key out{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                    static_cast<int>(iterations), EVP_sha256(), static_cast<int>(out.size()), out.data());
  return out;
}

std::string b64_encode(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

std::optional<std::string> b64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;  // EVP_DecodeBlock counts padding as zero bytes
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string random_nonce() {
  unsigned char b[18];
  if (RAND_bytes(b, sizeof b) != 1) std::memset(b, 0x5a, sizeof b);  // never reached in practice
  return b64_encode(std::string_view(reinterpret_cast<char*>(b), sizeof b));
}

std::string key_view(const Key& k) { return std::string(reinterpret_cast<const char*>(k.data()), k.size()); }

std::optional<Verifier> parse_verifier(std::string_view text) {
  constexpr std::string_view prefix = "SCRAM-SHA-256$";
  if (text.substr(0, prefix.size()) != prefix) return std::nullopt;
  text.remove_prefix(prefix.size());
  size_t colon = text.find(':'), dollar = text.find('$'), colon2 = text.rfind(':');
  if (colon == std::string_view::npos || dollar == std::string_view::npos || colon > dollar ||
      colon2 < dollar)
    return std::nullopt;
  Verifier v;
  auto iter = text.substr(0, colon);
  auto [p, ec] = std::from_chars(iter.data(), iter.data() + iter.size(), v.iterations);
  if (ec != std::errc() || p != iter.data() + iter.size() || v.iterations == 0) return std::nullopt;
  auto salt = b64_decode(text.substr(colon + 1, dollar - colon - 1));
  auto stored = b64_decode(text.substr(dollar + 1, colon2 - dollar - 1));
  auto server = b64_decode(text.substr(colon2 + 1));
  if (!salt || !stored || !server || stored->size() != 32 || server->size() != 32) return std::nullopt;
  v.salt = *salt;
  std::memcpy(v.stored_key.data(), stored->data(), 32);
  std::memcpy(v.server_key.data(), server->data(), 32);
  return v;
}

Verifier make_verifier(std::string_view password, std::string_view salt, uint32_t iterations) {
  Verifier v;
  v.iterations = iterations;
  v.salt = std::string(salt);
  Key salted = salted_password(password, salt, iterations);
  v.stored_key = sha256(hmac(salted, "Client Key"));
  v.server_key = hmac(salted, "Server Key");
  return v;
}

std::string format_verifier(const Verifier& v) {
  return "SCRAM-SHA-256$" + std::to_string(v.iterations) + ":" + b64_encode(v.salt) + "$" +
         b64_encode(key_view(v.stored_key)) + ":" + b64_encode(key_view(v.server_key));
}

std::optional<std::string_view> attribute(std::string_view msg, char name) {
  size_t pos = 0;
  while (pos <= msg.size()) {
    size_t end = msg.find(',', pos);
    if (end == std::string_view::npos) end = msg.size();
    auto part = msg.substr(pos, end - pos);
    if (part.size() >= 2 && part[0] == name && part[1] == '=') return part.substr(2);
    pos = end + 1;
  }
  return std::nullopt;
}

std::string md5_hex(std::string_view data) {
  unsigned char d[16];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d, &len, EVP_md5(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

}  // namespace pgscale::proxy::scram

#include "protocol/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <initializer_list>

namespace pgscale::protocol {

namespace {

// RAND_bytes costs ~7,000 instructions and a getpid() per call whatever the size (OpenSSL 3's
// DRBG locking and fork check); every login asks twice for a few bytes (SCRAM nonce, cancel key).
// Each thread takes them from its own block of DRBG output, refilled 256 bytes at a time; handed
// out bytes are wiped from the block. pgscale never forks, so no block is ever shared.
struct RandomBlock {
  unsigned char bytes[256];
  size_t used = sizeof bytes;
  ~RandomBlock() { OPENSSL_cleanse(bytes, sizeof bytes); }
};

}  // namespace

bool random_bytes(void* out, size_t n) noexcept {
  if (n > INT_MAX) return false;
  thread_local RandomBlock block;
  if (n > sizeof block.bytes / 4) return RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) == 1;
  if (sizeof block.bytes - block.used < n) {
    if (RAND_bytes(block.bytes, static_cast<int>(sizeof block.bytes)) != 1) return false;
    block.used = 0;
  }
  std::memcpy(out, block.bytes + block.used, n);
  OPENSSL_cleanse(block.bytes + block.used, n);
  block.used += n;
  return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;  // lengths are public (fixed for digests)
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                 (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                 uint32_t{static_cast<uint8_t>(bytes[i + 2])};
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  size_t left = bytes.size() - i;
  if (left > 0) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (left == 2) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(left == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int d = 0;
      if (k >= 4 - static_cast<size_t>(pad)) {
        d = 0;
      } else {
        d = b64_value(text[i + k]);
        if (d < 0) return false;
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<char>(v >> 16));
    if (pad < 2) out.push_back(static_cast<char>(v >> 8));
    if (pad < 1) out.push_back(static_cast<char>(v));
  }
  return true;
}

namespace {

// A digest fetched once and one context for it, per thread: EVP_sha256(), EVP_md5() and the
// one-shot HMAC() look the algorithm up and build contexts at every call (~12,000 instructions
// per HMAC, four HMACs and a hash per SCRAM login), which OpenSSL 3's performance notes advise
// against.
struct DigestContext {
  EVP_MD* md;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  explicit DigestContext(const char* name) : md(EVP_MD_fetch(nullptr, name, nullptr)) {}
  DigestContext(const DigestContext&) = delete;
  DigestContext& operator=(const DigestContext&) = delete;
  ~DigestContext() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  // The digest (`size` bytes) of the concatenated parts. False when OpenSSL fails (then `out`
  // is unspecified).
  bool digest(std::initializer_list<std::string_view> parts, uint8_t* out, unsigned int size) noexcept {
    if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex2(ctx, md, nullptr) != 1) return false;
    for (std::string_view p : parts) {
      if (EVP_DigestUpdate(ctx, p.data(), p.size()) != 1) return false;
    }
    unsigned int len = 0;
    return EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == size;
  }
};

// SHA-256 of the concatenated parts. False when OpenSSL fails (then `out` is unspecified).
bool sha256_parts(std::initializer_list<std::string_view> parts, uint8_t* out) noexcept {
  thread_local DigestContext c("SHA256");
  return c.digest(parts, out, 32);
}

std::string_view bytes_view(const uint8_t* p, size_t n) noexcept { return {reinterpret_cast<const char*>(p), n}; }

}  // namespace

Sha256Digest sha256(std::string_view data) noexcept {
  Sha256Digest d{};
  if (!sha256_parts({data}, d.data())) {
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
  }
  return d;
}

// HMAC (RFC 2104) over SHA-256, whose block is 64 bytes: H((K ^ opad) || H((K ^ ipad) || data)).
Sha256Digest hmac_sha256(std::string_view key, std::string_view data) noexcept {
  constexpr size_t kBlock = 64;
  uint8_t k[kBlock] = {};
  bool ok = true;
  if (key.size() > kBlock) ok = sha256_parts({key}, k);  // longer keys are hashed first
  else std::memcpy(k, key.data(), key.size());
  uint8_t ipad[kBlock];
  uint8_t opad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  Sha256Digest inner{};
  Sha256Digest d{};
  ok = ok && sha256_parts({bytes_view(ipad, kBlock), data}, inner.data()) &&
       sha256_parts({bytes_view(opad, kBlock), as_view(inner)}, d.data());
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
  OPENSSL_cleanse(inner.data(), inner.size());
  if (!ok) {  // not expected; OpenSSL's own HMAC then
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), d.data(), &len);
  }
  return d;
}

std::string md5_hex(std::string_view data) {
  thread_local DigestContext c("MD5");
  unsigned char d[16];
  if (!c.digest({data}, d, sizeof d)) {
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), d, &len, EVP_md5(), nullptr);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (size_t i = 0; i < 16; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 15];
  }
  return out;
}

}  // namespace pgscale::protocol

#include "protocol/md5_auth.hpp"

#include "protocol/crypto.hpp"

namespace pgscale::protocol {
namespace {

std::string salted(std::string_view hex32, const Md5Salt& salt) {
  std::string buf(hex32);
  buf.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return "md5" + md5_hex(buf);
}

}  // namespace

std::string md5_password_hash(std::string_view password, std::string_view user) {
  std::string buf(password);
  buf.append(user);
  return "md5" + md5_hex(buf);
}

bool is_md5_hash(std::string_view stored) noexcept {
  if (stored.size() != 35 || stored.substr(0, 3) != "md5") return false;
  for (char c : stored.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string md5_response_from_password(std::string_view password, std::string_view user,
                                       const Md5Salt& salt) {
  std::string hash = md5_password_hash(password, user);
  return salted(std::string_view(hash).substr(3), salt);
}

std::string md5_response_from_hash(std::string_view stored_hash, const Md5Salt& salt) {
  if (!is_md5_hash(stored_hash)) return {};
  return salted(stored_hash.substr(3), salt);
}

bool md5_verify(std::string_view stored, std::string_view user, const Md5Salt& salt,
                std::string_view response) {
  if (stored.starts_with("SCRAM-SHA-256$")) return false;
  std::string expected = is_md5_hash(stored) ? md5_response_from_hash(stored, salt)
                                             : md5_response_from_password(stored, user, salt);
  return constant_time_equal(expected, response);
}

}  // namespace pgscale::protocol

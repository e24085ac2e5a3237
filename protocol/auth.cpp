#include "protocol/auth.hpp"

#include "protocol/wire.hpp"

namespace pgscale::protocol {

Errc decode(std::string_view body, Authentication& out) {
  out.mechanisms.clear();
  out.data = {};
  out.md5_salt = {};
  Reader r(body);
  int32_t code = r.i32();
  if (!r.ok()) return Errc::malformed;
  out.code = static_cast<AuthCode>(code);
  switch (out.code) {
    case AuthCode::ok:
    case AuthCode::kerberos_v5:
    case AuthCode::cleartext_password:
    case AuthCode::gss:
    case AuthCode::sspi:
      break;
    case AuthCode::md5_password:
      for (uint8_t& b : out.md5_salt) b = r.u8();
      break;
    case AuthCode::sasl: {
      // A list of mechanism names, each NUL-terminated, ended by an empty string.
      for (;;) {
        std::string_view m = r.cstring();
        if (!r.ok()) return Errc::malformed;
        if (m.empty()) break;
        out.mechanisms.push_back(m);
      }
      if (out.mechanisms.empty()) return Errc::malformed;
      break;
    }
    case AuthCode::sasl_continue:
    case AuthCode::sasl_final:
    case AuthCode::gss_continue:
      out.data = r.rest();
      break;
    default:
      return Errc::malformed;
  }
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const Authentication& msg) {
  size_t at = begin_message(out, Authentication::tag);
  put_i32(out, static_cast<int32_t>(msg.code));
  switch (msg.code) {
    case AuthCode::md5_password:
      for (uint8_t b : msg.md5_salt) put_u8(out, b);
      break;
    case AuthCode::sasl:
      for (std::string_view m : msg.mechanisms) put_cstring(out, m);
      put_u8(out, 0);
      break;
    case AuthCode::sasl_continue:
    case AuthCode::sasl_final:
    case AuthCode::gss_continue:
      put_bytes(out, msg.data);
      break;
    default:
      break;
  }
  end_message(out, at);
}

void encode_auth_ok(std::string& out) { encode(out, Authentication{}); }

void encode_auth_cleartext(std::string& out) {
  Authentication a;
  a.code = AuthCode::cleartext_password;
  encode(out, a);
}

void encode_auth_md5(std::string& out, std::array<uint8_t, 4> salt) {
  Authentication a;
  a.code = AuthCode::md5_password;
  a.md5_salt = salt;
  encode(out, a);
}

void encode_auth_sasl(std::string& out, const std::vector<std::string_view>& mechanisms) {
  size_t at = begin_message(out, Authentication::tag);
  put_i32(out, static_cast<int32_t>(AuthCode::sasl));
  for (std::string_view m : mechanisms) put_cstring(out, m);
  put_u8(out, 0);
  end_message(out, at);
}

void encode_auth_sasl_continue(std::string& out, std::string_view data) {
  size_t at = begin_message(out, Authentication::tag);
  put_i32(out, static_cast<int32_t>(AuthCode::sasl_continue));
  put_bytes(out, data);
  end_message(out, at);
}

void encode_auth_sasl_final(std::string& out, std::string_view data) {
  size_t at = begin_message(out, Authentication::tag);
  put_i32(out, static_cast<int32_t>(AuthCode::sasl_final));
  put_bytes(out, data);
  end_message(out, at);
}

Errc decode(std::string_view body, PasswordMessage& out) noexcept {
  Reader r(body);
  out.password = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const PasswordMessage& msg) {
  size_t at = begin_message(out, PasswordMessage::tag);
  put_cstring(out, msg.password);
  end_message(out, at);
}

Errc decode(std::string_view body, SaslInitialResponse& out) noexcept {
  Reader r(body);
  out.mechanism = r.cstring();
  int32_t len = r.i32();
  if (!r.ok() || len < -1) return Errc::malformed;
  out.has_data = len != -1;
  out.data = out.has_data ? r.bytes(static_cast<size_t>(len)) : std::string_view{};
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const SaslInitialResponse& msg) {
  size_t at = begin_message(out, SaslInitialResponse::tag);
  put_cstring(out, msg.mechanism);
  if (msg.has_data) {
    put_i32(out, static_cast<int32_t>(msg.data.size()));
    put_bytes(out, msg.data);
  } else {
    put_i32(out, -1);
  }
  end_message(out, at);
}

Errc decode(std::string_view body, SaslResponse& out) noexcept {
  out.data = body;
  return Errc::ok;
}

void encode(std::string& out, const SaslResponse& msg) {
  size_t at = begin_message(out, SaslResponse::tag);
  put_bytes(out, msg.data);
  end_message(out, at);
}

}  // namespace pgscale::protocol

#include "protocol/response.hpp"

#include "protocol/wire.hpp"

namespace pgscale::protocol {

std::string_view ErrorFields::get(char code) const noexcept {
  for (const ErrorField& f : fields) {
    if (f.code == code) return f.value;
  }
  return {};
}

std::string_view ErrorFields::severity() const noexcept {
  std::string_view v = get(field::severity_raw);
  return v.empty() ? get(field::severity) : v;
}

Errc decode(std::string_view body, ErrorFields& out) {
  out.fields.clear();
  Reader r(body);
  for (;;) {
    char code = static_cast<char>(r.u8());
    if (!r.ok()) return Errc::malformed;  // the final 0 byte is missing
    if (code == '\0') break;
    std::string_view value = r.cstring();
    if (!r.ok()) return Errc::malformed;
    out.fields.push_back({code, value});
  }
  return r.done() ? Errc::ok : Errc::malformed;
}

namespace {

void encode_fields(std::string& out, char tag, const ErrorFields& msg) {
  size_t at = begin_message(out, tag);
  for (const ErrorField& f : msg.fields) {
    put_u8(out, static_cast<uint8_t>(f.code));
    put_cstring(out, f.value);
  }
  put_u8(out, 0);
  end_message(out, at);
}

void encode_simple(std::string& out, char tag, std::string_view severity,
                   std::string_view sqlstate, std::string_view message, std::string_view detail) {
  size_t at = begin_message(out, tag);
  put_u8(out, field::severity);
  put_cstring(out, severity);
  put_u8(out, field::severity_raw);
  put_cstring(out, severity);
  put_u8(out, field::sqlstate);
  put_cstring(out, sqlstate);
  put_u8(out, field::message);
  put_cstring(out, message);
  if (!detail.empty()) {
    put_u8(out, field::detail);
    put_cstring(out, detail);
  }
  put_u8(out, 0);
  end_message(out, at);
}

}  // namespace

void encode(std::string& out, const ErrorResponse& msg) { encode_fields(out, ErrorResponse::tag, msg); }

void encode(std::string& out, const NoticeResponse& msg) {
  encode_fields(out, NoticeResponse::tag, msg);
}

void error_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                    std::string_view message, std::string_view detail) {
  encode_simple(out, ErrorResponse::tag, severity, sqlstate, message, detail);
}

void notice_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                     std::string_view message) {
  encode_simple(out, NoticeResponse::tag, severity, sqlstate, message, {});
}

Errc decode(std::string_view body, NotificationResponse& out) noexcept {
  Reader r(body);
  out.process_id = r.i32();
  out.channel = r.cstring();
  out.payload = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const NotificationResponse& msg) {
  size_t at = begin_message(out, NotificationResponse::tag);
  put_i32(out, msg.process_id);
  put_cstring(out, msg.channel);
  put_cstring(out, msg.payload);
  end_message(out, at);
}

}  // namespace pgscale::protocol

#include "protocol/copy.hpp"

#include "protocol/wire.hpp"

namespace pgscale::protocol {

Errc decode(std::string_view body, CopyData& out) noexcept {
  out.data = body;
  return Errc::ok;
}

void encode(std::string& out, const CopyData& msg) {
  size_t at = begin_message(out, CopyData::tag);
  put_bytes(out, msg.data);
  end_message(out, at);
}

Errc decode(std::string_view body, CopyFail& out) noexcept {
  Reader r(body);
  out.message = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const CopyFail& msg) {
  size_t at = begin_message(out, CopyFail::tag);
  put_cstring(out, msg.message);
  end_message(out, at);
}

Errc decode(std::string_view body, CopyResponse& out) {
  out.column_formats.clear();
  Reader r(body);
  uint8_t format = r.u8();
  size_t n = r.u16();
  if (!r.ok() || format > 1 || n * 2 > r.remaining()) return Errc::malformed;
  out.format = static_cast<int8_t>(format);
  out.column_formats.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    int16_t f = r.i16();
    if (f != 0 && f != 1) return Errc::malformed;
    out.column_formats.push_back(f);
  }
  return r.done() ? Errc::ok : Errc::malformed;
}

namespace {

void encode_copy_response(std::string& out, char tag, const CopyResponse& msg) {
  size_t at = begin_message(out, tag);
  put_u8(out, static_cast<uint8_t>(msg.format));
  put_i16(out, static_cast<int16_t>(msg.column_formats.size()));
  for (int16_t f : msg.column_formats) put_i16(out, f);
  end_message(out, at);
}

}  // namespace

void encode(std::string& out, const CopyInResponse& msg) {
  encode_copy_response(out, CopyInResponse::tag, msg);
}
void encode(std::string& out, const CopyOutResponse& msg) {
  encode_copy_response(out, CopyOutResponse::tag, msg);
}
void encode(std::string& out, const CopyBothResponse& msg) {
  encode_copy_response(out, CopyBothResponse::tag, msg);
}

}  // namespace pgscale::protocol

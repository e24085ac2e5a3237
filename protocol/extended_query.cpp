#include "protocol/extended_query.hpp"

#include "protocol/wire.hpp"

namespace pgscale::protocol {
namespace {

// Reads an int16 count of fixed-size items and checks it against the bytes left, so a hostile
// count can never make us reserve more than the message holds.
bool read_count(Reader& r, size_t item_size, size_t& n) noexcept {
  n = r.u16();
  return r.ok() && n * item_size <= r.remaining();
}

bool read_formats(Reader& r, std::vector<int16_t>& out) {
  out.clear();
  size_t n = 0;
  if (!read_count(r, 2, n)) return false;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(r.i16());
  return r.ok();
}

void put_formats(std::string& out, const std::vector<int16_t>& formats) {
  put_i16(out, static_cast<int16_t>(formats.size()));
  for (int16_t f : formats) put_i16(out, f);
}

bool read_kind(Reader& r, TargetKind& kind) noexcept {
  char k = static_cast<char>(r.u8());
  if (k != 'S' && k != 'P') return false;
  kind = static_cast<TargetKind>(k);
  return true;
}

}  // namespace

Errc decode(std::string_view body, Parse& out) {
  out.param_types.clear();
  Reader r(body);
  out.name = r.cstring();
  out.query = r.cstring();
  size_t n = 0;
  if (!read_count(r, 4, n)) return Errc::malformed;
  out.param_types.reserve(n);
  for (size_t i = 0; i < n; ++i) out.param_types.push_back(r.u32());
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const Parse& msg) {
  size_t at = begin_message(out, Parse::tag);
  put_cstring(out, msg.name);
  put_cstring(out, msg.query);
  put_i16(out, static_cast<int16_t>(msg.param_types.size()));
  for (uint32_t t : msg.param_types) put_u32(out, t);
  end_message(out, at);
}

Errc decode(std::string_view body, Bind& out) {
  out.params.clear();
  out.result_formats.clear();
  Reader r(body);
  out.portal = r.cstring();
  out.statement = r.cstring();
  if (!read_formats(r, out.param_formats)) return Errc::malformed;
  size_t n = 0;
  if (!read_count(r, 4, n)) return Errc::malformed;  // each value has at least its length
  size_t nformats = out.param_formats.size();
  if (nformats > 1 && nformats != n) return Errc::malformed;
  out.params.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t len = r.i32();
    if (len < -1) return Errc::malformed;
    if (len == -1) {
      out.params.emplace_back(std::nullopt);
    } else {
      out.params.emplace_back(r.bytes(static_cast<size_t>(len)));
    }
    if (!r.ok()) return Errc::malformed;
  }
  if (!read_formats(r, out.result_formats)) return Errc::malformed;
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const Bind& msg) {
  size_t at = begin_message(out, Bind::tag);
  put_cstring(out, msg.portal);
  put_cstring(out, msg.statement);
  put_formats(out, msg.param_formats);
  put_i16(out, static_cast<int16_t>(msg.params.size()));
  for (const Value& v : msg.params) {
    if (!v) {
      put_i32(out, -1);
    } else {
      put_i32(out, static_cast<int32_t>(v->size()));
      put_bytes(out, *v);
    }
  }
  put_formats(out, msg.result_formats);
  end_message(out, at);
}

Errc decode(std::string_view body, Describe& out) noexcept {
  Reader r(body);
  if (!read_kind(r, out.kind)) return Errc::malformed;
  out.name = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const Describe& msg) {
  size_t at = begin_message(out, Describe::tag);
  put_u8(out, static_cast<uint8_t>(msg.kind));
  put_cstring(out, msg.name);
  end_message(out, at);
}

Errc decode(std::string_view body, Close& out) noexcept {
  Reader r(body);
  if (!read_kind(r, out.kind)) return Errc::malformed;
  out.name = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const Close& msg) {
  size_t at = begin_message(out, Close::tag);
  put_u8(out, static_cast<uint8_t>(msg.kind));
  put_cstring(out, msg.name);
  end_message(out, at);
}

Errc decode(std::string_view body, Execute& out) noexcept {
  Reader r(body);
  out.portal = r.cstring();
  out.max_rows = r.i32();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const Execute& msg) {
  size_t at = begin_message(out, Execute::tag);
  put_cstring(out, msg.portal);
  put_i32(out, msg.max_rows);
  end_message(out, at);
}

}  // namespace pgscale::protocol

#include "protocol/data.hpp"

#include "protocol/wire.hpp"

namespace pgscale::protocol {
namespace {

// Smallest encoding of one RowDescription field: empty name (its NUL) + 18 bytes of attributes.
constexpr size_t kMinFieldSize = 1 + 4 + 2 + 4 + 2 + 4 + 2;

}  // namespace

Errc decode(std::string_view body, RowDescription& out) {
  out.fields.clear();
  Reader r(body);
  size_t n = r.u16();
  if (!r.ok() || n * kMinFieldSize > r.remaining()) return Errc::malformed;
  out.fields.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    FieldDescription f;
    f.name = r.cstring();
    f.table_oid = r.u32();
    f.column_attr = r.i16();
    f.type_oid = r.u32();
    f.type_size = r.i16();
    f.type_modifier = r.i32();
    f.format = r.i16();
    if (!r.ok()) return Errc::malformed;
    out.fields.push_back(f);
  }
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const RowDescription& msg) {
  size_t at = begin_message(out, RowDescription::tag);
  put_i16(out, static_cast<int16_t>(msg.fields.size()));
  for (const FieldDescription& f : msg.fields) {
    put_cstring(out, f.name);
    put_u32(out, f.table_oid);
    put_i16(out, f.column_attr);
    put_u32(out, f.type_oid);
    put_i16(out, f.type_size);
    put_i32(out, f.type_modifier);
    put_i16(out, f.format);
  }
  end_message(out, at);
}

Errc decode(std::string_view body, DataRow& out) {
  out.values.clear();
  Reader r(body);
  size_t n = r.u16();
  if (!r.ok() || n * 4 > r.remaining()) return Errc::malformed;
  out.values.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t len = r.i32();
    if (len < -1) return Errc::malformed;
    if (len == -1) {
      out.values.emplace_back(std::nullopt);
    } else {
      out.values.emplace_back(r.bytes(static_cast<size_t>(len)));
    }
    if (!r.ok()) return Errc::malformed;
  }
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const DataRow& msg) {
  size_t at = begin_message(out, DataRow::tag);
  put_i16(out, static_cast<int16_t>(msg.values.size()));
  for (const Value& v : msg.values) {
    if (!v) {
      put_i32(out, -1);
    } else {
      put_i32(out, static_cast<int32_t>(v->size()));
      put_bytes(out, *v);
    }
  }
  end_message(out, at);
}

Errc decode(std::string_view body, ParameterDescription& out) {
  out.types.clear();
  Reader r(body);
  size_t n = r.u16();
  if (!r.ok() || n * 4 > r.remaining()) return Errc::malformed;
  out.types.reserve(n);
  for (size_t i = 0; i < n; ++i) out.types.push_back(r.u32());
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const ParameterDescription& msg) {
  size_t at = begin_message(out, ParameterDescription::tag);
  put_i16(out, static_cast<int16_t>(msg.types.size()));
  for (uint32_t t : msg.types) put_u32(out, t);
  end_message(out, at);
}

}  // namespace pgscale::protocol

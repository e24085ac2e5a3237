#include "protocol/startup.hpp"

#include "protocol/wire.hpp"

namespace pgscale::protocol {

StartupFrameResult decode_startup_frame(std::string_view buf) noexcept {
  StartupFrameResult r;
  if (buf.size() < 4) {
    r.need = 8 - buf.size();
    return r;
  }
  Reader head(buf.substr(0, 4));
  uint32_t len = head.u32();
  // PostgreSQL (ProcessStartupPacket): len < 4 + 4 or > MAX_STARTUP_PACKET_LENGTH is
  // "invalid length of startup packet". We keep over-long distinct so the caller can log it.
  if (len < 8) {
    r.errc = Errc::malformed;
    return r;
  }
  if (len > kMaxStartupPacket) {
    r.errc = Errc::too_long;
    return r;
  }
  if (buf.size() < 8) {
    r.need = 8 - buf.size();
    return r;
  }
  Reader code_reader(buf.substr(4, 4));
  uint32_t code = code_reader.u32();
  StartupFrame& f = r.frame;
  f.code = code;
  size_t fixed = 0;  // required exact length, 0 = variable
  if (code == kSslRequestCode) {
    f.kind = StartupKind::ssl_request;
    fixed = 8;
  } else if (code == kGssEncRequestCode) {
    f.kind = StartupKind::gssenc_request;
    fixed = 8;
  } else if (code == kCancelRequestCode) {
    f.kind = StartupKind::cancel_request;
    fixed = 16;
  } else {
    f.kind = StartupKind::startup_message;
  }
  if (fixed != 0 && len != fixed) {
    r.errc = Errc::malformed;
    return r;
  }
  if (buf.size() < len) {
    r.need = len - buf.size();
    return r;
  }
  f.body = buf.substr(8, len - 8);
  f.size = len;
  r.errc = Errc::ok;
  return r;
}

const StartupParam* StartupMessage::find(std::string_view name) const noexcept {
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (it->name == name) return &*it;
  }
  return nullptr;
}

std::string_view StartupMessage::value_or(std::string_view name,
                                          std::string_view fallback) const noexcept {
  const StartupParam* p = find(name);
  return p ? p->value : fallback;
}

Errc decode_startup_message(const StartupFrame& frame, StartupMessage& out) {
  out.params.clear();
  if (frame.kind != StartupKind::startup_message) return Errc::malformed;
  out.major = static_cast<uint16_t>(frame.code >> 16);
  out.minor = static_cast<uint16_t>(frame.code & 0xffff);
  if (out.major != 3) return Errc::unsupported;
  // Layout (ProcessStartupPacket): name\0value\0 ... \0, and the terminator is the last byte.
  std::string_view body = frame.body;
  if (body.empty() || body.back() != '\0') return Errc::malformed;
  Reader r(body.substr(0, body.size() - 1));
  while (!r.at_end()) {
    std::string_view name = r.cstring();
    std::string_view value = r.cstring();
    if (!r.ok() || name.empty()) return Errc::malformed;
    out.params.push_back({name, value});
  }
  return Errc::ok;
}

bool is_protocol_option(std::string_view name) noexcept { return name.starts_with("_pq_."); }

bool needs_negotiation(const StartupMessage& msg) noexcept {
  if (msg.minor > 0) return true;
  for (const StartupParam& p : msg.params) {
    if (is_protocol_option(p.name)) return true;
  }
  return false;
}

NegotiateProtocolVersion negotiation_for(const StartupMessage& msg) {
  NegotiateProtocolVersion n;
  n.newest_minor = 0;
  for (const StartupParam& p : msg.params) {
    if (is_protocol_option(p.name)) n.unrecognized_options.push_back(p.name);
  }
  return n;
}

Errc decode_cancel_request(const StartupFrame& frame, CancelRequest& out) noexcept {
  if (frame.kind != StartupKind::cancel_request) return Errc::malformed;
  Reader r(frame.body);
  out.process_id = r.i32();
  out.secret_key = r.i32();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode_startup_message(std::string& out, const StartupMessage& msg) {
  size_t at = begin_untagged(out);
  put_u32(out, (uint32_t{msg.major} << 16) | msg.minor);
  for (const StartupParam& p : msg.params) {
    put_cstring(out, p.name);
    put_cstring(out, p.value);
  }
  put_u8(out, 0);
  end_message(out, at);
}

void encode_ssl_request(std::string& out) {
  put_u32(out, 8);
  put_u32(out, kSslRequestCode);
}

void encode_gssenc_request(std::string& out) {
  put_u32(out, 8);
  put_u32(out, kGssEncRequestCode);
}

void encode_cancel_request(std::string& out, const CancelRequest& msg) {
  put_u32(out, 16);
  put_u32(out, kCancelRequestCode);
  put_i32(out, msg.process_id);
  put_i32(out, msg.secret_key);
}

Errc decode(std::string_view body, ParameterStatus& out) noexcept {
  Reader r(body);
  out.name = r.cstring();
  out.value = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const ParameterStatus& msg) {
  size_t at = begin_message(out, ParameterStatus::tag);
  put_cstring(out, msg.name);
  put_cstring(out, msg.value);
  end_message(out, at);
}

Errc decode(std::string_view body, BackendKeyData& out) noexcept {
  Reader r(body);
  out.process_id = r.i32();
  out.secret_key = r.i32();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const BackendKeyData& msg) {
  size_t at = begin_message(out, BackendKeyData::tag);
  put_i32(out, msg.process_id);
  put_i32(out, msg.secret_key);
  end_message(out, at);
}

Errc decode(std::string_view body, NegotiateProtocolVersion& out) {
  out.unrecognized_options.clear();
  Reader r(body);
  out.newest_minor = r.i32();
  int32_t n = r.i32();
  // Each option is at least its NUL: a count over the bytes left is a lie; check before reserving.
  if (!r.ok() || n < 0 || static_cast<size_t>(n) > r.remaining()) return Errc::malformed;
  out.unrecognized_options.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) out.unrecognized_options.push_back(r.cstring());
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const NegotiateProtocolVersion& msg) {
  size_t at = begin_message(out, NegotiateProtocolVersion::tag);
  put_i32(out, msg.newest_minor);
  put_i32(out, static_cast<int32_t>(msg.unrecognized_options.size()));
  for (std::string_view o : msg.unrecognized_options) put_cstring(out, o);
  end_message(out, at);
}

}  // namespace pgscale::protocol

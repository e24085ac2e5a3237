#pragma once
// Helpers for the protocol tests: byte builders written independently of protocol/wire.hpp, so a
// golden frame is not produced by the code under test.
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/frame.hpp"

namespace pgscale::protocol::test {

// "51 00 0a" → bytes. Spaces are ignored.
inline std::string hex(std::string_view text) {
  std::string out;
  int hi = -1;
  for (char c : text) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
inline std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
// A NUL-terminated string.
inline std::string cs(std::string_view s) { return std::string(s) + '\0'; }
// A whole tagged frame around `body` (length = 4 + body).
inline std::string frame(char tag, const std::string& body) {
  return std::string(1, tag) + be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

// Encodes `msg`, frames it back, checks tag and size, decodes and returns whether it compares
// equal. The caller REQUIREs on the result so a failure names the message.
template <class T>
bool round_trips(Direction dir, const T& msg) {
  std::string out = "prefix";  // encoders must append, never overwrite
  encode(out, msg);
  if (out.substr(0, 6) != "prefix") return false;
  std::string_view wire = std::string_view(out).substr(6);
  FrameResult f = decode_frame(dir, wire);
  if (f.errc != Errc::ok || f.frame.tag != T::tag || f.frame.size != wire.size()) return false;
  T back{};
  if (decode(f.frame.body, back) != Errc::ok) return false;
  return back == msg;
}

}  // namespace pgscale::protocol::test

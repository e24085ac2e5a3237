#pragma once
// Byte-level primitives shared by every message codec: a bounds-checked Reader over a caller-owned
// buffer and append-only writers that backfill the message length.
//
// Bytes are carried as std::string_view (a view into the caller's buffer, never owned, may contain
// NULs). All integers on the wire are big-endian (PostgreSQL docs, "Message Data Types").
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pgscale::protocol {

// Reads a message body. Every read is bounds-checked; the first failed read makes the reader
// "failed" for good (sticky), so a decoder reads all fields straight-line and checks ok() once.
// Failed reads return zero values / empty views.
class Reader {
 public:
  explicit Reader(std::string_view data) noexcept : data_(data) {}

  bool ok() const noexcept { return !failed_; }
  bool at_end() const noexcept { return pos_ == data_.size(); }
  // ok() and every byte consumed: what a decoder demands before it reports success.
  bool done() const noexcept { return ok() && at_end(); }
  size_t remaining() const noexcept { return data_.size() - pos_; }
  size_t position() const noexcept { return pos_; }
  void fail() noexcept { failed_ = true; pos_ = data_.size(); }

  uint8_t u8() noexcept {
    if (remaining() < 1) return fail(), 0;
    return static_cast<uint8_t>(data_[pos_++]);
  }
  int16_t i16() noexcept { return static_cast<int16_t>(u16()); }
  uint16_t u16() noexcept {
    if (remaining() < 2) return fail(), 0;
    uint16_t v = static_cast<uint16_t>((byte_at(0) << 8) | byte_at(1));
    pos_ += 2;
    return v;
  }
  int32_t i32() noexcept { return static_cast<int32_t>(u32()); }
  uint32_t u32() noexcept {
    if (remaining() < 4) return fail(), 0;
    uint32_t v = (uint32_t{byte_at(0)} << 24) | (uint32_t{byte_at(1)} << 16) |
                 (uint32_t{byte_at(2)} << 8) | uint32_t{byte_at(3)};
    pos_ += 4;
    return v;
  }
  // A NUL-terminated string (PostgreSQL "String"); the view excludes the NUL. A missing
  // terminator fails the reader.
  std::string_view cstring() noexcept {
    size_t end = data_.find('\0', pos_);
    if (end == std::string_view::npos) return fail(), std::string_view{};
    std::string_view s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  std::string_view bytes(size_t n) noexcept {
    if (remaining() < n) return fail(), std::string_view{};
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view rest() noexcept { return bytes(remaining()); }

 private:
  unsigned byte_at(size_t i) const noexcept { return static_cast<uint8_t>(data_[pos_ + i]); }

  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Appending writers. They never clear `out`: the proxy batches several messages in one buffer.
inline void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_u16(std::string& out, uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}
inline void put_i16(std::string& out, int16_t v) { put_u16(out, static_cast<uint16_t>(v)); }
inline void put_u32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}
inline void put_i32(std::string& out, int32_t v) { put_u32(out, static_cast<uint32_t>(v)); }
// Writes s and a NUL. s must not contain a NUL (it would truncate the string for the peer).
inline void put_cstring(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}
inline void put_bytes(std::string& out, std::string_view s) { out.append(s); }

// Starts a tagged message: appends the tag and a length placeholder. Returns the offset of the
// length field, to pass to end_message() once the body is written — the one place the length is
// computed, so encoders never pair a hand-written size() with their body.
inline size_t begin_message(std::string& out, char tag) {
  out.push_back(tag);
  size_t at = out.size();
  out.append(4, '\0');
  return at;
}
// Same for untagged startup-phase packets (StartupMessage, SSLRequest, CancelRequest).
inline size_t begin_untagged(std::string& out) {
  size_t at = out.size();
  out.append(4, '\0');
  return at;
}
// Backfills the length (which counts itself but not the tag).
inline void end_message(std::string& out, size_t length_at) {
  uint32_t len = static_cast<uint32_t>(out.size() - length_at);
  char b[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
               static_cast<char>(len >> 8), static_cast<char>(len)};
  std::memcpy(out.data() + length_at, b, 4);
}

}  // namespace pgscale::protocol

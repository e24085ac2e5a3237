#pragma once
// The relay's view of a byte stream: it walks message headers in whatever the last read returned,
// tells the caller about each message, and says how many bytes can be forwarded now. Bodies are
// never copied. Small frames are kept whole (the caller keeps the incomplete tail and reads more)
// so a visitor sees ReadyForQuery's status byte or a whole Query text; frames larger than
// `max_whole` (big DataRows, CopyData, Bind with large values) are streamed: the visitor sees
// the first bytes only and the rest passes through uncounted.
// No Asio here: unit-testable on plain strings.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/frame.hpp"

namespace pgscale::proxy {

struct ScanResult {
  size_t forwardable = 0;  // bytes at the front of the buffer that may be sent on now
  bool malformed = false;  // a header can never be valid (bad tag, length < 4 or over the limit)
  char bad_tag = 0;
  uint32_t bad_length = 0;
};

class FrameScanner {
 public:
  FrameScanner(protocol::Direction dir, size_t max_whole) : dir_(dir), max_whole_(max_whole) {}

  // visit(char tag, std::string_view body, bool whole) is called once per message, in order.
  // When `whole` is false `body` is only a prefix. Returns the forwardable prefix of `buf`;
  // the caller moves the rest to the front of its buffer and appends the next read.
  template <class Visit>
  ScanResult scan(std::string_view buf, Visit&& visit) {
    ScanResult r;
    size_t pos = 0;
    if (skip_ > 0) {
      size_t n = skip_ < buf.size() ? static_cast<size_t>(skip_) : buf.size();
      skip_ -= n;
      pos = n;
    }
    while (pos < buf.size()) {
      if (!check_tag(buf[pos])) return fail(r, buf[pos], 0, pos);
      if (buf.size() - pos < 5) break;
      uint32_t len = read_len(buf.data() + pos + 1);
      if (len < 4 || !check_length(buf[pos], len - 4)) return fail(r, buf[pos], len, pos);
      size_t total = size_t{len} + 1;
      size_t have = buf.size() - pos;
      if (have >= total) {
        visit(buf[pos], buf.substr(pos + 5, len - 4), true);
        pos += total;
        continue;
      }
      if (total <= max_whole_) break;  // wait for the rest of a small frame
      visit(buf[pos], buf.substr(pos + 5), false);
      skip_ = total - have;
      pos = buf.size();
    }
    r.forwardable = pos;
    return r;
  }

  // True while the previous scan ended inside a streamed frame.
  bool in_streamed_frame() const noexcept { return skip_ > 0; }
  void reset() noexcept { skip_ = 0; }

 private:
  static uint32_t read_len(const char* p) noexcept {
    auto b = [p](int i) { return uint32_t{static_cast<uint8_t>(p[i])}; };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  }
  bool check_tag(char tag) const noexcept;
  bool check_length(char tag, uint32_t body) const noexcept;
  ScanResult& fail(ScanResult& r, char tag, uint32_t len, size_t pos) const noexcept {
    r.malformed = true;
    r.bad_tag = tag;
    r.bad_length = len;
    r.forwardable = pos;
    return r;
  }

  protocol::Direction dir_;
  size_t max_whole_;
  uint64_t skip_ = 0;
};

// A growable byte buffer with a read position, reused for the whole session: no allocation per
// message once it has grown to the working size. Nothing is allocated before the first
// reserve_more(), and the storage is not zero-filled: a session that never gets a server never
// pays for its server buffer, and pages no read reached never become resident, so an idle client
// costs about what it sent (10,000 idle clients are a benchmark case).
class ByteBuffer {
 public:
  explicit ByteBuffer(size_t initial) : initial_(initial) {}
  char* write_ptr() noexcept { return data_.get() + end_; }
  size_t write_space() const noexcept { return cap_ - end_; }
  void commit(size_t n) noexcept { end_ += n; }
  std::string_view readable() const noexcept { return {data_.get(), end_}; }
  // Drops the first n bytes, moving the (small) tail to the front.
  void consume(size_t n) noexcept;
  // Makes room for at least `n` more bytes (allocates or grows up to `cap`, false beyond it).
  bool reserve_more(size_t n, size_t cap);
  // Frees the storage of an empty buffer (a session going idle); the next reserve_more()
  // allocates again. A no-op while bytes are held.
  void release() noexcept;
  size_t size() const noexcept { return end_; }
  size_t capacity() const noexcept { return cap_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
  size_t end_ = 0;
  size_t initial_;
};

}  // namespace pgscale::proxy

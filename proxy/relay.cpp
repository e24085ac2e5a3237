#include "proxy/relay.hpp"

#include <cstring>

namespace pgscale::proxy {

bool FrameScanner::check_tag(char tag) const noexcept {
  return protocol::is_known_tag(dir_, tag);
}

bool FrameScanner::check_length(char tag, uint32_t body) const noexcept {
  int64_t max = protocol::max_body_length(dir_, tag);
  // Backend: trust the server's sizes up to PostgreSQL's own 1 GB bound (the per-type table is for
  // hostile clients); frontend: the per-type maximum.
  if (dir_ == protocol::Direction::backend) return body <= protocol::kLargeMessageLimit;
  return max >= 0 && body <= static_cast<uint64_t>(max);
}

void ByteBuffer::consume(size_t n) noexcept {
  if (n >= end_) {
    end_ = 0;
    return;
  }
  std::memmove(data_.data(), data_.data() + n, end_ - n);
  end_ -= n;
}

bool ByteBuffer::reserve_more(size_t n, size_t cap) {
  if (write_space() >= n) return true;
  size_t want = end_ + n;
  if (want > cap) return false;
  size_t grown = data_.size() * 2;
  data_.resize(grown > want ? (grown < cap ? grown : cap) : want);
  return true;
}

}  // namespace pgscale::proxy

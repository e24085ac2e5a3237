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
  std::memmove(data_.get(), data_.get() + n, end_ - n);
  end_ -= n;
}

bool ByteBuffer::reserve_more(size_t n, size_t cap) {
  if (write_space() >= n) return true;
  size_t want = end_ + n;
  if (want > cap) return false;
  size_t grown = cap_ ? cap_ * 2 : initial_;
  size_t size = grown > want ? (grown < cap ? grown : cap) : want;
  // for_overwrite: no zero-fill, so untouched pages stay non-resident.
  auto bigger = std::make_unique_for_overwrite<char[]>(size);
  if (end_ > 0) std::memcpy(bigger.get(), data_.get(), end_);
  data_ = std::move(bigger);
  cap_ = size;
  return true;
}

void ByteBuffer::release() noexcept {
  if (end_ != 0) return;
  data_.reset();
  cap_ = 0;
}

}  // namespace pgscale::proxy

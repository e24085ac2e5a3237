// Raw-socket side of the bad-input tests: build frontend bytes by hand, read whatever comes back
// with a bounded wait, and summarise it as backend messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pgscale::testing {

using Bytes = std::vector<uint8_t>;

void put_u32(Bytes& b, uint32_t v);
Bytes startup_message(uint32_t version, const std::vector<std::pair<std::string, std::string>>& params);
Bytes ssl_request();
Bytes gssenc_request();
// A typed message: tag, then `declared_length` (default: the real one) and `body`.
Bytes typed_message(char tag, const Bytes& body, int64_t declared_length = -1);
Bytes pseudo_random_bytes(size_t n, uint32_t seed);

// What the peer did after our bytes.
struct Reply {
  Bytes bytes;            // everything received
  bool closed = false;    // EOF or reset seen
  bool timed_out = false; // still open and silent when the wait ended
  std::string types;      // tags of the complete backend messages parsed from `bytes`, in order
  std::string first_error_sqlstate;  // 'C' field of the first ErrorResponse, "" when none
  std::string first_error_message;   // 'M' field of it
  std::string describe() const;
};

// Parses backend messages from `bytes` (typed frames; a leading single-byte 'S'/'N' answer to an
// SSLRequest/GSSENCRequest is taken off first when `single_byte_answer` is set).
void parse_backend(Reply& r, bool single_byte_answer);

// Runs a TLS client handshake on `fd` (certificate not verified: the test is about framing), then
// reads the plaintext the server sends over TLS until it closes or `limit` passes. A failed
// handshake counts as closed, with `types` saying so.
Reply tls_handshake_and_read(int fd, std::chrono::milliseconds limit);

class RawConn {
 public:
  explicit RawConn(int fd, bool owned) : fd_(fd), owned_(owned) {}
  // Connects to host:port (bounded); fd() < 0 on failure.
  static RawConn dial(const std::string& host, int port, std::chrono::milliseconds limit);
  RawConn(RawConn&& o) noexcept : fd_(o.fd_), owned_(o.owned_) { o.fd_ = -1; }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;
  ~RawConn();
  int fd() const { return fd_; }
  // Sends everything (bounded); false when the peer refused it (reset, closed).
  bool send_all(const Bytes& b, std::chrono::milliseconds limit = std::chrono::seconds(5));
  // Reads until EOF, or until `limit` passes, or (when `stop_after` > 0) that many bytes arrived.
  Reply read_until_close(std::chrono::milliseconds limit, size_t stop_after = 0);

 private:
  int fd_;
  bool owned_;
};

}  // namespace pgscale::testing

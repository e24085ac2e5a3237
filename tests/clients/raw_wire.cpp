#include "tests/clients/raw_wire.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <memory>
#include <sstream>

namespace pgscale::testing {

using Clock = std::chrono::steady_clock;

void put_u32(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes startup_message(uint32_t version, const std::vector<std::pair<std::string, std::string>>& params) {
  Bytes body;
  put_u32(body, version);
  for (const auto& [k, v] : params) {
    body.insert(body.end(), k.begin(), k.end());
    body.push_back(0);
    body.insert(body.end(), v.begin(), v.end());
    body.push_back(0);
  }
  body.push_back(0);
  Bytes out;
  put_u32(out, static_cast<uint32_t>(body.size() + 4));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes ssl_request() {
  Bytes b;
  put_u32(b, 8);
  put_u32(b, 80877103);
  return b;
}

Bytes gssenc_request() {
  Bytes b;
  put_u32(b, 8);
  put_u32(b, 80877104);
  return b;
}

Bytes typed_message(char tag, const Bytes& body, int64_t declared_length) {
  Bytes b{static_cast<uint8_t>(tag)};
  put_u32(b, declared_length < 0 ? static_cast<uint32_t>(body.size() + 4) : static_cast<uint32_t>(declared_length));
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Bytes pseudo_random_bytes(size_t n, uint32_t seed) {
  Bytes b;
  uint32_t x = seed ? seed : 1;
  for (size_t i = 0; i < n; ++i) {  // xorshift32: deterministic, so a failure reproduces
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b.push_back(static_cast<uint8_t>(x));
  }
  return b;
}

void parse_backend(Reply& r, bool single_byte_answer) {
  size_t pos = 0;
  const Bytes& b = r.bytes;
  if (single_byte_answer && !b.empty() && (b[0] == 'S' || b[0] == 'N')) {
    r.types += static_cast<char>(b[0]);
    r.types += '|';
    pos = 1;
  }
  while (pos + 5 <= b.size()) {
    const char tag = static_cast<char>(b[pos]);
    const uint32_t len = (uint32_t{b[pos + 1]} << 24) | (uint32_t{b[pos + 2]} << 16) | (uint32_t{b[pos + 3]} << 8) |
                         uint32_t{b[pos + 4]};
    if (len < 4 || pos + 1 + len > b.size()) break;
    r.types += tag;
    if (tag == 'E' && r.first_error_sqlstate.empty()) {
      // Fields: a code byte then a NUL-terminated string, ended by a zero byte.
      size_t f = pos + 5;
      const size_t end = pos + 1 + len;
      while (f < end && b[f] != 0) {
        const char code = static_cast<char>(b[f++]);
        std::string value;
        while (f < end && b[f] != 0) value += static_cast<char>(b[f++]);
        ++f;
        if (code == 'C') r.first_error_sqlstate = value;
        if (code == 'M') r.first_error_message = value;
      }
    }
    pos += 1 + len;
  }
  if (pos < b.size()) r.types += "+" + std::to_string(b.size() - pos) + " unparsed bytes";
}

std::string Reply::describe() const {
  std::ostringstream os;
  os << "received " << bytes.size() << " bytes, messages [" << types << "]";
  if (!first_error_sqlstate.empty()) os << ", first error " << first_error_sqlstate << " \"" << first_error_message << "\"";
  os << (closed ? ", then closed" : timed_out ? ", still open when the wait ended (hang)" : "");
  if (!bytes.empty() && first_error_sqlstate.empty()) {
    os << ", first bytes:";
    for (size_t i = 0; i < bytes.size() && i < 16; ++i) {
      char hex[4];
      std::snprintf(hex, sizeof hex, " %02x", bytes[i]);
      os << hex;
    }
  }
  return os.str();
}

namespace {

// Waits for what OpenSSL asked for; false when the deadline passed.
bool wait_for_ssl(int fd, int ssl_error, Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, static_cast<short>(ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
  ::poll(&p, 1, static_cast<int>(left.count()));
  return true;
}

}  // namespace

Reply tls_handshake_and_read(int fd, std::chrono::milliseconds limit) {
  Reply r;
  const auto deadline = Clock::now() + limit;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  for (;;) {
    const int rc = SSL_connect(ssl.get());
    if (rc == 1) break;
    const int err = SSL_get_error(ssl.get(), rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      r.closed = true;
      r.types = "(TLS handshake failed)";
      ERR_clear_error();
      return r;
    }
    if (!wait_for_ssl(fd, err, deadline)) {
      r.timed_out = true;
      r.types = "(TLS handshake timed out)";
      return r;
    }
  }
  uint8_t buf[8192];
  for (;;) {
    const int n = SSL_read(ssl.get(), buf, sizeof buf);
    if (n > 0) {
      r.bytes.insert(r.bytes.end(), buf, buf + n);
      continue;
    }
    const int err = SSL_get_error(ssl.get(), n);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      r.closed = true;  // close_notify, EOF or reset
      ERR_clear_error();
      return r;
    }
    if (!wait_for_ssl(fd, err, deadline)) {
      r.timed_out = true;
      return r;
    }
  }
}

RawConn RawConn::dial(const std::string& host, int port, std::chrono::milliseconds limit) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return RawConn(-1, false);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return RawConn(-1, false);
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof err;
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
      err != 0) {
    ::close(fd);
    return RawConn(-1, false);
  }
  return RawConn(fd, true);
}

RawConn::~RawConn() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

bool RawConn::send_all(const Bytes& b, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  size_t sent = 0;
  while (sent < b.size()) {
    const ssize_t n = ::send(fd_, b.data() + sent, b.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return true;
}

Reply RawConn::read_until_close(std::chrono::milliseconds limit, size_t stop_after) {
  Reply r;
  const auto deadline = Clock::now() + limit;
  uint8_t buf[8192];
  for (;;) {
    if (stop_after > 0 && r.bytes.size() >= stop_after) return r;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      return r;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(fd_, buf, stop_after > 0 ? std::min(sizeof buf, stop_after - r.bytes.size()) : sizeof buf,
                             MSG_DONTWAIT);
    if (n > 0) {
      r.bytes.insert(r.bytes.end(), buf, buf + n);
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      r.closed = true;  // EOF or reset
      return r;
    }
  }
}

}  // namespace pgscale::testing

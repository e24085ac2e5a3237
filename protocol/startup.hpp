#pragma once
// Startup phase (PostgreSQL docs 55.2.1 "Start-up", 55.2.9 "SSL Session Encryption", 55.2.10
// "GSSAPI Session Encryption", 55.2.8 "Canceling Requests in Progress").
//
// The first packet of a connection has no tag: int32 length (counting itself), int32 code, body.
// The code is a protocol version (major << 16 | minor) or one of the request codes below.
// Also here: the backend messages of the startup phase (ParameterStatus, BackendKeyData,
// NegotiateProtocolVersion).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error.hpp"

namespace pgscale::protocol {

// MAX_STARTUP_PACKET_LENGTH in src/include/libpq/pqcomm.h.
inline constexpr uint32_t kMaxStartupPacket = 10000;
inline constexpr uint32_t kProtocolVersion30 = (3u << 16) | 0u;  // 196608
inline constexpr uint32_t kCancelRequestCode = (1234u << 16) | 5678u;  // 80877102
inline constexpr uint32_t kSslRequestCode = (1234u << 16) | 5679u;     // 80877103
inline constexpr uint32_t kGssEncRequestCode = (1234u << 16) | 5680u;  // 80877104

enum class StartupKind : uint8_t { startup_message, ssl_request, gssenc_request, cancel_request };

struct StartupFrame {
  StartupKind kind = StartupKind::startup_message;
  uint32_t code = 0;      // the protocol version for startup_message
  std::string_view body;  // bytes after the code (view into the caller's buffer)
  size_t size = 0;        // bytes the whole packet occupies
};

struct StartupFrameResult {
  Errc errc = Errc::incomplete;  // ok, incomplete, malformed (length < 8, bad fixed size), too_long
  StartupFrame frame;
  size_t need = 0;  // incomplete: at least this many more bytes
};

// Frames the untagged first packet. Length must be 8..10000; SSLRequest/GSSENCRequest must be
// exactly 8 bytes and CancelRequest exactly 16. Does not judge the protocol version (see
// decode_startup_message) so the caller can answer an old client properly.
StartupFrameResult decode_startup_frame(std::string_view buf) noexcept;

struct StartupParam {
  std::string_view name;
  std::string_view value;
  bool operator==(const StartupParam&) const = default;
};

struct StartupMessage {
  uint16_t major = 3;
  uint16_t minor = 0;
  // In wire order, duplicates kept. PostgreSQL applies them in order, so the last one wins: find()
  // returns the last.
  std::vector<StartupParam> params;

  // The last parameter called `name`, or nullptr.
  const StartupParam* find(std::string_view name) const noexcept;
  std::string_view value_or(std::string_view name, std::string_view fallback) const noexcept;
  bool operator==(const StartupMessage&) const = default;
};

// Decodes the body of a StartupMessage frame (frame.code is the version, frame.body the params).
// Errc::unsupported when major != 3 (PostgreSQL 15 rejects 2.0 and anything else with
// "unsupported frontend protocol"); a minor > 0 is accepted, and the caller should answer with
// NegotiateProtocolVersion (3.0 plus any "_pq_." options it did not recognise), as PostgreSQL does.
// Errc::malformed when a name has no value, a string lacks its NUL, or the final empty-string
// terminator is missing or not the last byte.
Errc decode_startup_message(const StartupFrame& frame, StartupMessage& out);

// Protocol options ("_pq_.*" parameters) are not run-time settings: PostgreSQL reports the ones it
// does not know in NegotiateProtocolVersion and never applies them.
bool is_protocol_option(std::string_view name) noexcept;
// True when PostgreSQL would answer this StartupMessage with NegotiateProtocolVersion: a minor
// version above 0, or any "_pq_." option (pgscale recognises none).
bool needs_negotiation(const StartupMessage& msg) noexcept;

struct NegotiateProtocolVersion;
// The NegotiateProtocolVersion to send for `msg`: newest minor 0 and every "_pq_." option name
// (views into msg's buffer).
NegotiateProtocolVersion negotiation_for(const StartupMessage& msg);

struct CancelRequest {
  int32_t process_id = 0;
  int32_t secret_key = 0;
  bool operator==(const CancelRequest&) const = default;
};
Errc decode_cancel_request(const StartupFrame& frame, CancelRequest& out) noexcept;

// Encoders (pgscale as a client to the server). They append to `out`.
void encode_startup_message(std::string& out, const StartupMessage& msg);
void encode_ssl_request(std::string& out);
void encode_gssenc_request(std::string& out);
void encode_cancel_request(std::string& out, const CancelRequest& msg);

// ---- backend messages of the startup phase ----

// 'S' ParameterStatus: name, value.
struct ParameterStatus {
  static constexpr char tag = 'S';
  std::string_view name;
  std::string_view value;
  bool operator==(const ParameterStatus&) const = default;
};
Errc decode(std::string_view body, ParameterStatus& out) noexcept;
void encode(std::string& out, const ParameterStatus& msg);

// 'K' BackendKeyData: process id and secret key for CancelRequest.
struct BackendKeyData {
  static constexpr char tag = 'K';
  int32_t process_id = 0;
  int32_t secret_key = 0;
  bool operator==(const BackendKeyData&) const = default;
};
Errc decode(std::string_view body, BackendKeyData& out) noexcept;
void encode(std::string& out, const BackendKeyData& msg);

// 'v' NegotiateProtocolVersion: newest minor version supported, and the unrecognised options.
struct NegotiateProtocolVersion {
  static constexpr char tag = 'v';
  int32_t newest_minor = 0;
  std::vector<std::string_view> unrecognized_options;
  bool operator==(const NegotiateProtocolVersion&) const = default;
};
Errc decode(std::string_view body, NegotiateProtocolVersion& out);
void encode(std::string& out, const NegotiateProtocolVersion& msg);

}  // namespace pgscale::protocol

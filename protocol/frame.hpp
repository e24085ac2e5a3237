#pragma once
// Framing of tagged v3 messages: 1-byte tag, int32 length (counting itself), body.
// (PostgreSQL docs 55.7 "Message Formats".) The decoder never copies: it returns a view of the body
// inside the caller's buffer and the total number of bytes the frame occupies.
//
// Decisions are made as early as the bytes allow, so a hostile peer cannot make pgscale buffer a
// huge body: an unknown tag is reported from the first byte, an oversized or < 4 length from the
// first five bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/error.hpp"

namespace pgscale::protocol {

// Tags of messages sent by the client (frontend). Several letters mean something else in the
// other direction, hence two namespaces.
namespace ftag {
inline constexpr char query = 'Q';
inline constexpr char parse = 'P';
inline constexpr char bind = 'B';
inline constexpr char describe = 'D';
inline constexpr char execute = 'E';
inline constexpr char close = 'C';
inline constexpr char sync = 'S';
inline constexpr char flush = 'H';
inline constexpr char terminate = 'X';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char copy_fail = 'f';
inline constexpr char password = 'p';  // PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse
inline constexpr char function_call = 'F';
}  // namespace ftag

// Tags of messages sent by the server (backend).
namespace btag {
inline constexpr char authentication = 'R';
inline constexpr char parameter_status = 'S';
inline constexpr char backend_key_data = 'K';
inline constexpr char ready_for_query = 'Z';
inline constexpr char error_response = 'E';
inline constexpr char notice_response = 'N';
inline constexpr char command_complete = 'C';
inline constexpr char row_description = 'T';
inline constexpr char data_row = 'D';
inline constexpr char empty_query_response = 'I';
inline constexpr char parse_complete = '1';
inline constexpr char bind_complete = '2';
inline constexpr char close_complete = '3';
inline constexpr char no_data = 'n';
inline constexpr char parameter_description = 't';
inline constexpr char portal_suspended = 's';
inline constexpr char copy_in_response = 'G';
inline constexpr char copy_out_response = 'H';
inline constexpr char copy_both_response = 'W';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char notification_response = 'A';
inline constexpr char negotiate_protocol_version = 'v';
inline constexpr char function_call_response = 'V';
}  // namespace btag

enum class Direction : uint8_t { frontend, backend };

// PostgreSQL's own limits (src/include/libpq/libpq.h): PQ_LARGE_MESSAGE_LIMIT for messages that
// carry data, PQ_SMALL_MESSAGE_LIMIT for the rest; PG_MAX_AUTH_TOKEN_LENGTH for 'p' messages.
inline constexpr uint32_t kLargeMessageLimit = 0x3fffffff;  // 1 GB - 1
inline constexpr uint32_t kSmallMessageLimit = 10000;
inline constexpr uint32_t kAuthMessageLimit = 65535;

struct FrameLimits {
  // Overall cap on a body length, applied on top of the per-type maximum (which it can only lower).
  uint32_t max_body = kLargeMessageLimit;
};

struct Frame {
  char tag = 0;
  std::string_view body;  // view into the caller's buffer; excludes tag and length
  size_t size = 0;        // bytes the whole frame occupies: 1 + 4 + body.size()
};

struct FrameResult {
  Errc errc = Errc::incomplete;  // ok, incomplete, malformed or too_long
  Frame frame;                   // valid when errc == ok; frame.tag also set when known
  size_t need = 0;               // incomplete: at least this many more bytes are needed
  uint32_t declared_length = 0;  // the length field, once 5 bytes were seen (for logs)
};

// Decodes the tagged message at the start of `buf` (client → server). `buf` may hold more than one
// frame: consume result.frame.size bytes and call again.
FrameResult decode_frontend_frame(std::string_view buf, const FrameLimits& limits = {}) noexcept;
// Same for server → client.
FrameResult decode_backend_frame(std::string_view buf, const FrameLimits& limits = {}) noexcept;
FrameResult decode_frame(Direction dir, std::string_view buf, const FrameLimits& limits = {}) noexcept;

// Maximum body length (excluding the 4 length bytes) of a message type; 0 for messages that have
// no body (Sync, Flush, Terminate, CopyDone, ParseComplete, ...). Returns -1 for an unknown tag.
int64_t max_body_length(Direction dir, char tag) noexcept;
bool is_known_tag(Direction dir, char tag) noexcept;

// "Query", "DataRow", ... for logs and metrics; "unknown" for an unknown tag.
std::string_view message_name(Direction dir, char tag) noexcept;

}  // namespace pgscale::protocol

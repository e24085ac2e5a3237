#include "protocol/frame.hpp"

#include <algorithm>

namespace pgscale::protocol {
namespace {

// Per-type maximum body lengths, following PostgreSQL's SocketBackend (postgres.c) for the
// frontend; for the backend, data-carrying messages get the large limit and the rest the small
// one (a server has no reason to send a 1 GB ParameterStatus).
int64_t frontend_max(char tag) noexcept {
  switch (tag) {
    case ftag::query:
    case ftag::parse:
    case ftag::bind:
    case ftag::copy_data:
    case ftag::function_call:
      return kLargeMessageLimit;
    case ftag::describe:
    case ftag::execute:
    case ftag::close:
    case ftag::copy_fail:
      return kSmallMessageLimit;
    case ftag::password:
      return kAuthMessageLimit;
    case ftag::sync:
    case ftag::flush:
    case ftag::terminate:
    case ftag::copy_done:
      return 0;
    default:
      return -1;
  }
}

int64_t backend_max(char tag) noexcept {
  switch (tag) {
    case btag::data_row:
    case btag::copy_data:
    case btag::error_response:   // may quote a long query (internal query, context)
    case btag::notice_response:
    case btag::row_description:  // 1600 columns × long names
    case btag::function_call_response:
    case btag::parameter_description:  // up to 65535 OIDs
      return kLargeMessageLimit;
    case btag::authentication:
      return kAuthMessageLimit;
    case btag::parameter_status:
    case btag::backend_key_data:
    case btag::ready_for_query:
    case btag::command_complete:
    case btag::copy_in_response:
    case btag::copy_out_response:
    case btag::copy_both_response:
    case btag::notification_response:
    case btag::negotiate_protocol_version:
      return kSmallMessageLimit;
    case btag::empty_query_response:
    case btag::parse_complete:
    case btag::bind_complete:
    case btag::close_complete:
    case btag::no_data:
    case btag::portal_suspended:
    case btag::copy_done:
      return 0;
    default:
      return -1;
  }
}

uint32_t read_be32(std::string_view b) noexcept {
  return (uint32_t{static_cast<uint8_t>(b[0])} << 24) | (uint32_t{static_cast<uint8_t>(b[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[2])} << 8) | uint32_t{static_cast<uint8_t>(b[3])};
}

}  // namespace

int64_t max_body_length(Direction dir, char tag) noexcept {
  return dir == Direction::frontend ? frontend_max(tag) : backend_max(tag);
}

bool is_known_tag(Direction dir, char tag) noexcept { return max_body_length(dir, tag) >= 0; }

FrameResult decode_frame(Direction dir, std::string_view buf, const FrameLimits& limits) noexcept {
  FrameResult r;
  if (buf.empty()) {
    r.need = 5;
    return r;
  }
  r.frame.tag = buf[0];
  int64_t max = max_body_length(dir, buf[0]);
  if (max < 0) {
    r.errc = Errc::malformed;
    return r;
  }
  if (buf.size() < 5) {
    r.need = 5 - buf.size();
    return r;
  }
  uint32_t len = read_be32(buf.substr(1, 4));
  r.declared_length = len;
  if (len < 4) {
    r.errc = Errc::malformed;
    return r;
  }
  uint64_t body_len = len - 4u;
  if (body_len > static_cast<uint64_t>(std::min<int64_t>(max, limits.max_body))) {
    r.errc = Errc::too_long;
    return r;
  }
  size_t total = 1 + static_cast<size_t>(len);
  if (buf.size() < total) {
    r.need = total - buf.size();
    return r;
  }
  r.errc = Errc::ok;
  r.frame.body = buf.substr(5, body_len);
  r.frame.size = total;
  return r;
}

FrameResult decode_frontend_frame(std::string_view buf, const FrameLimits& limits) noexcept {
  return decode_frame(Direction::frontend, buf, limits);
}

FrameResult decode_backend_frame(std::string_view buf, const FrameLimits& limits) noexcept {
  return decode_frame(Direction::backend, buf, limits);
}

std::string_view message_name(Direction dir, char tag) noexcept {
  if (dir == Direction::frontend) {
    switch (tag) {
      case ftag::query: return "Query";
      case ftag::parse: return "Parse";
      case ftag::bind: return "Bind";
      case ftag::describe: return "Describe";
      case ftag::execute: return "Execute";
      case ftag::close: return "Close";
      case ftag::sync: return "Sync";
      case ftag::flush: return "Flush";
      case ftag::terminate: return "Terminate";
      case ftag::copy_data: return "CopyData";
      case ftag::copy_done: return "CopyDone";
      case ftag::copy_fail: return "CopyFail";
      case ftag::password: return "PasswordMessage";
      case ftag::function_call: return "FunctionCall";
      default: return "unknown";
    }
  }
  switch (tag) {
    case btag::authentication: return "Authentication";
    case btag::parameter_status: return "ParameterStatus";
    case btag::backend_key_data: return "BackendKeyData";
    case btag::ready_for_query: return "ReadyForQuery";
    case btag::error_response: return "ErrorResponse";
    case btag::notice_response: return "NoticeResponse";
    case btag::command_complete: return "CommandComplete";
    case btag::row_description: return "RowDescription";
    case btag::data_row: return "DataRow";
    case btag::empty_query_response: return "EmptyQueryResponse";
    case btag::parse_complete: return "ParseComplete";
    case btag::bind_complete: return "BindComplete";
    case btag::close_complete: return "CloseComplete";
    case btag::no_data: return "NoData";
    case btag::parameter_description: return "ParameterDescription";
    case btag::portal_suspended: return "PortalSuspended";
    case btag::copy_in_response: return "CopyInResponse";
    case btag::copy_out_response: return "CopyOutResponse";
    case btag::copy_both_response: return "CopyBothResponse";
    case btag::copy_data: return "CopyData";
    case btag::copy_done: return "CopyDone";
    case btag::notification_response: return "NotificationResponse";
    case btag::negotiate_protocol_version: return "NegotiateProtocolVersion";
    case btag::function_call_response: return "FunctionCallResponse";
    default: return "unknown";
  }
}

}  // namespace pgscale::protocol

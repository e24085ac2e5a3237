#pragma once
// Shared by the fuzz targets: frame a buffer message by message and run the decoder of each tag.
#include <string_view>

#include "protocol/messages.hpp"

namespace pgscale::protocol::fuzz {

template <class T>
void decode_as(std::string_view body) {
  T msg{};
  if (decode(body, msg) != Errc::ok) return;
  // The codec is canonical: what decodes re-encodes to the same body.
  std::string out;
  encode(out, msg);
  if (std::string_view(out).substr(5) != body) __builtin_trap();
}

inline void decode_frontend(char tag, std::string_view body) {
  switch (tag) {
    case 'Q': return decode_as<Query>(body);
    case 'P': return decode_as<Parse>(body);
    case 'B': return decode_as<Bind>(body);
    case 'D': return decode_as<Describe>(body);
    case 'E': return decode_as<Execute>(body);
    case 'C': return decode_as<Close>(body);
    case 'S': return decode_as<Sync>(body);
    case 'H': return decode_as<Flush>(body);
    case 'X': return decode_as<Terminate>(body);
    case 'd': return decode_as<CopyData>(body);
    case 'c': return decode_as<CopyDone>(body);
    case 'f': return decode_as<CopyFail>(body);
    case 'p':
      decode_as<PasswordMessage>(body);
      decode_as<SaslInitialResponse>(body);
      return decode_as<SaslResponse>(body);
    default: return;
  }
}

inline void decode_backend(char tag, std::string_view body) {
  switch (tag) {
    case 'R': return decode_as<Authentication>(body);
    case 'S': return decode_as<ParameterStatus>(body);
    case 'K': return decode_as<BackendKeyData>(body);
    case 'Z': return decode_as<ReadyForQuery>(body);
    case 'E': return decode_as<ErrorResponse>(body);
    case 'N': return decode_as<NoticeResponse>(body);
    case 'C': {
      decode_as<CommandComplete>(body);
      CommandTag t;
      (void)parse_command_tag(body, t);
      return;
    }
    case 'T': return decode_as<RowDescription>(body);
    case 'D': return decode_as<DataRow>(body);
    case 't': return decode_as<ParameterDescription>(body);
    case 'G': return decode_as<CopyInResponse>(body);
    case 'H': return decode_as<CopyOutResponse>(body);
    case 'W': return decode_as<CopyBothResponse>(body);
    case 'A': return decode_as<NotificationResponse>(body);
    case 'v': return decode_as<NegotiateProtocolVersion>(body);
    case 'd': return decode_as<CopyData>(body);
    default: return;
  }
}

inline void frame_all(Direction dir, std::string_view buf) {
  for (int i = 0; i < 10000 && !buf.empty(); ++i) {
    FrameResult f = decode_frame(dir, buf);
    if (f.errc != Errc::ok) return;
    if (f.frame.size > buf.size() || f.frame.body.size() + 5 != f.frame.size) __builtin_trap();
    if (dir == Direction::frontend) decode_frontend(f.frame.tag, f.frame.body);
    else decode_backend(f.frame.tag, f.frame.body);
    buf.remove_prefix(f.frame.size);
  }
}

}  // namespace pgscale::protocol::fuzz

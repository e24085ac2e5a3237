#include "proxy/replies.hpp"

#include "protocol/wire.hpp"

namespace pgscale::proxy {

void append_error(std::string& out, Severity sev, std::string_view code, std::string_view message) {
  std::string_view s = sev == Severity::fatal ? "FATAL" : "ERROR";
  size_t at = protocol::begin_message(out, 'E');
  protocol::put_u8(out, 'S');
  protocol::put_cstring(out, s);
  protocol::put_u8(out, 'V');
  protocol::put_cstring(out, s);
  protocol::put_u8(out, 'C');
  protocol::put_cstring(out, code);
  protocol::put_u8(out, 'M');
  // A NUL inside the text would end the field early for the client: cut it there.
  protocol::put_cstring(out, message.substr(0, message.find('\0')));
  protocol::put_u8(out, 0);
  protocol::end_message(out, at);
}

void append_ready_for_query(std::string& out, char status) {
  size_t at = protocol::begin_message(out, 'Z');
  protocol::put_u8(out, static_cast<uint8_t>(status));
  protocol::end_message(out, at);
}

std::string error_message(Severity sev, std::string_view code, std::string_view message) {
  std::string out;
  append_error(out, sev, code, message);
  return out;
}

}  // namespace pgscale::proxy

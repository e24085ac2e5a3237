#include "protocol/simple_query.hpp"

#include "protocol/wire.hpp"

namespace pgscale::protocol {

void encode_empty_message(std::string& out, char tag) {
  size_t at = begin_message(out, tag);
  end_message(out, at);
}

Errc decode(std::string_view body, Query& out) noexcept {
  Reader r(body);
  out.sql = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const Query& msg) {
  size_t at = begin_message(out, Query::tag);
  put_cstring(out, msg.sql);
  end_message(out, at);
}

Errc decode(std::string_view body, ReadyForQuery& out) noexcept {
  Reader r(body);
  char s = static_cast<char>(r.u8());
  if (!r.done()) return Errc::malformed;
  if (s != 'I' && s != 'T' && s != 'E') return Errc::malformed;
  out.status = static_cast<TxStatus>(s);
  return Errc::ok;
}

void encode(std::string& out, const ReadyForQuery& msg) {
  size_t at = begin_message(out, ReadyForQuery::tag);
  put_u8(out, static_cast<uint8_t>(msg.status));
  end_message(out, at);
}

Errc decode(std::string_view body, CommandComplete& out) noexcept {
  Reader r(body);
  out.command_tag = r.cstring();
  return r.done() ? Errc::ok : Errc::malformed;
}

void encode(std::string& out, const CommandComplete& msg) {
  size_t at = begin_message(out, CommandComplete::tag);
  put_cstring(out, msg.command_tag);
  end_message(out, at);
}

namespace {

bool parse_u64(std::string_view s, uint64_t& v) noexcept {
  if (s.empty() || s.size() > 20) return false;
  uint64_t acc = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (acc > (UINT64_MAX - d) / 10) return false;
    acc = acc * 10 + d;
  }
  v = acc;
  return true;
}

// Commands whose tag ends with a row count (PostgreSQL docs, CommandComplete).
bool counts_rows(std::string_view cmd) noexcept {
  return cmd == "INSERT" || cmd == "UPDATE" || cmd == "DELETE" || cmd == "MERGE" ||
         cmd == "SELECT" || cmd == "MOVE" || cmd == "FETCH" || cmd == "COPY";
}

}  // namespace

Errc parse_command_tag(std::string_view tag, CommandTag& out) noexcept {
  out = CommandTag{};
  size_t sp = tag.find(' ');
  std::string_view first = tag.substr(0, sp);
  if (!counts_rows(first)) {
    out.command = tag;
    return Errc::ok;
  }
  out.command = first;
  if (sp == std::string_view::npos) return Errc::malformed;
  std::string_view rest = tag.substr(sp + 1);
  if (first == "INSERT") {
    size_t sp2 = rest.find(' ');
    if (sp2 == std::string_view::npos) return Errc::malformed;
    uint64_t oid = 0;
    if (!parse_u64(rest.substr(0, sp2), oid) || oid > UINT32_MAX) return Errc::malformed;
    out.oid = static_cast<uint32_t>(oid);
    rest = rest.substr(sp2 + 1);
  }
  if (!parse_u64(rest, out.rows)) return Errc::malformed;
  out.has_rows = true;
  return Errc::ok;
}

}  // namespace pgscale::protocol

#pragma once
// Simple query protocol and the messages shared with the extended one (PostgreSQL docs 55.2.3
// "Simple Query", 55.7 "Message Formats"): Query, CommandComplete (and its tag), EmptyQueryResponse,
// ReadyForQuery, Terminate, FunctionCall. Also the generic codec of body-less messages.
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/error.hpp"

namespace pgscale::protocol {

// A message whose body is empty: Sync, Flush, Terminate, CopyDone, ParseComplete, BindComplete,
// CloseComplete, NoData, PortalSuspended, EmptyQueryResponse. A non-empty body is malformed
// (PostgreSQL's pq_getmsgend: "invalid message format").
template <char Tag>
struct EmptyMessage {
  static constexpr char tag = Tag;
  bool operator==(const EmptyMessage&) const = default;
};
template <char Tag>
Errc decode(std::string_view body, EmptyMessage<Tag>&) noexcept {
  return body.empty() ? Errc::ok : Errc::malformed;
}
// Appends the 5 bytes of a body-less message.
void encode_empty_message(std::string& out, char tag);
template <char Tag>
void encode(std::string& out, const EmptyMessage<Tag>&) {
  encode_empty_message(out, Tag);
}

using Terminate = EmptyMessage<'X'>;           // frontend
using EmptyQueryResponse = EmptyMessage<'I'>;  // backend

// 'Q' Query: one NUL-terminated SQL string (may hold several statements).
struct Query {
  static constexpr char tag = 'Q';
  std::string_view sql;
  bool operator==(const Query&) const = default;
};
Errc decode(std::string_view body, Query& out) noexcept;
void encode(std::string& out, const Query& msg);

// 'Z' ReadyForQuery: the server's transaction status.
enum class TxStatus : char { idle = 'I', in_transaction = 'T', failed = 'E' };
struct ReadyForQuery {
  static constexpr char tag = 'Z';
  TxStatus status = TxStatus::idle;
  bool operator==(const ReadyForQuery&) const = default;
};
// A status byte other than I/T/E is malformed.
Errc decode(std::string_view body, ReadyForQuery& out) noexcept;
void encode(std::string& out, const ReadyForQuery& msg);

// 'C' CommandComplete: the command tag, e.g. "INSERT 0 5", "SELECT 3", "CREATE TABLE".
struct CommandComplete {
  static constexpr char tag = 'C';
  std::string_view command_tag;
  bool operator==(const CommandComplete&) const = default;
};
Errc decode(std::string_view body, CommandComplete& out) noexcept;
void encode(std::string& out, const CommandComplete& msg);

// The parsed command tag. `command` is the tag without its numbers ("INSERT", "CREATE TABLE");
// `rows` is set for INSERT, UPDATE, DELETE, MERGE, SELECT, MOVE, FETCH and COPY; `oid` only for
// INSERT (always 0 since PostgreSQL 12).
struct CommandTag {
  std::string_view command;
  bool has_rows = false;
  uint64_t rows = 0;
  uint32_t oid = 0;
  bool operator==(const CommandTag&) const = default;
};
// Errc::malformed when a counting command has a missing or non-numeric count (or INSERT lacks
// its oid). Other tags are returned whole in `command`.
Errc parse_command_tag(std::string_view tag, CommandTag& out) noexcept;

// 'F' FunctionCall (frontend, legacy fast-path). pgscale only frames and relays it.
struct FunctionCall {
  static constexpr char tag = 'F';
  std::string_view raw_body;
  bool operator==(const FunctionCall&) const = default;
};

}  // namespace pgscale::protocol

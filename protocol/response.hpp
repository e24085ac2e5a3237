#pragma once
// ErrorResponse / NoticeResponse (PostgreSQL docs 55.8 "Error and Notice Message Fields") and
// NotificationResponse.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error.hpp"

namespace pgscale::protocol {

// Field type codes of ErrorResponse / NoticeResponse.
namespace field {
inline constexpr char severity = 'S';          // localized
inline constexpr char severity_raw = 'V';      // never localized (9.6+)
inline constexpr char sqlstate = 'C';
inline constexpr char message = 'M';
inline constexpr char detail = 'D';
inline constexpr char hint = 'H';
inline constexpr char position = 'P';
inline constexpr char internal_position = 'p';
inline constexpr char internal_query = 'q';
inline constexpr char where = 'W';
inline constexpr char schema_name = 's';
inline constexpr char table_name = 't';
inline constexpr char column_name = 'c';
inline constexpr char data_type_name = 'd';
inline constexpr char constraint_name = 'n';
inline constexpr char file = 'F';
inline constexpr char line = 'L';
inline constexpr char routine = 'R';
}  // namespace field

struct ErrorField {
  char code = 0;
  std::string_view value;
  bool operator==(const ErrorField&) const = default;
};

// Shared body of 'E' ErrorResponse and 'N' NoticeResponse: (code byte, string)*, then a 0 byte.
// Unknown field codes are kept (the docs say clients must ignore them, a proxy relays them).
struct ErrorFields {
  std::vector<ErrorField> fields;

  // Value of the first field with `code`, or "" when absent.
  std::string_view get(char code) const noexcept;
  std::string_view sqlstate() const noexcept { return get(field::sqlstate); }
  std::string_view message() const noexcept { return get(field::message); }
  // 'V' when present (not localized), else 'S'.
  std::string_view severity() const noexcept;
  bool operator==(const ErrorFields&) const = default;
};

struct ErrorResponse : ErrorFields {
  static constexpr char tag = 'E';
};
struct NoticeResponse : ErrorFields {
  static constexpr char tag = 'N';
};
// Malformed: a field without its NUL, or no final 0 byte, or bytes after it.
Errc decode(std::string_view body, ErrorFields& out);
void encode(std::string& out, const ErrorResponse& msg);
void encode(std::string& out, const NoticeResponse& msg);

// Appends a complete ErrorResponse with S and V = severity, C = sqlstate, M = message (and D when
// detail is not empty) — what pgscale sends a client for its own errors.
// e.g. error_response(out, "FATAL", "28P01", "password authentication failed for user \"app\"").
void error_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                    std::string_view message, std::string_view detail = {});
// Same as a NoticeResponse (severity e.g. "WARNING", "NOTICE").
void notice_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                     std::string_view message);

// 'A' NotificationResponse (LISTEN/NOTIFY).
struct NotificationResponse {
  static constexpr char tag = 'A';
  int32_t process_id = 0;
  std::string_view channel;
  std::string_view payload;
  bool operator==(const NotificationResponse&) const = default;
};
Errc decode(std::string_view body, NotificationResponse& out) noexcept;
void encode(std::string& out, const NotificationResponse& msg);

}  // namespace pgscale::protocol

#pragma once
// Extended query protocol (PostgreSQL docs 55.2.4 "Extended Query", 55.7 "Message Formats").
// Frontend: Parse, Bind, Describe, Execute, Close, Sync, Flush.
// Backend: ParseComplete, BindComplete, CloseComplete, PortalSuspended (NoData and
// ParameterDescription are in data.hpp).
//
// Decoders take the output struct by reference and clear() its vectors, so a session that reuses
// one Bind object allocates only until its vectors reached their working size. Every count read
// off the wire is checked against the bytes left before anything is reserved.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error.hpp"
#include "protocol/simple_query.hpp"

namespace pgscale::protocol {

// A parameter or column value: nullopt is SQL NULL (length -1 on the wire).
using Value = std::optional<std::string_view>;

// 'P' Parse: statement name ("" = unnamed), query, parameter type OIDs (0 = unspecified).
struct Parse {
  static constexpr char tag = 'P';
  std::string_view name;
  std::string_view query;
  std::vector<uint32_t> param_types;
  bool operator==(const Parse&) const = default;
};
Errc decode(std::string_view body, Parse& out);
void encode(std::string& out, const Parse& msg);

// 'B' Bind: portal, statement, parameter format codes (0 text, 1 binary; none = all text, one =
// applies to all), parameter values, result format codes (same convention).
struct Bind {
  static constexpr char tag = 'B';
  std::string_view portal;
  std::string_view statement;
  std::vector<int16_t> param_formats;
  std::vector<Value> params;
  std::vector<int16_t> result_formats;
  bool operator==(const Bind&) const = default;
};
// Malformed: a negative length other than -1, counts over the bytes left, or a number of param
// format codes other than 0, 1 or the number of params (PostgreSQL: "bind message has %d
// parameter formats but %d parameters", a protocol violation). Format code values are not judged:
// PostgreSQL reports a bad one as an ordinary error (22023) that a proxy relays.
Errc decode(std::string_view body, Bind& out);
void encode(std::string& out, const Bind& msg);

// What Describe and Close act on.
enum class TargetKind : char { statement = 'S', portal = 'P' };

// 'D' Describe (frontend).
struct Describe {
  static constexpr char tag = 'D';
  TargetKind kind = TargetKind::statement;
  std::string_view name;
  bool operator==(const Describe&) const = default;
};
Errc decode(std::string_view body, Describe& out) noexcept;
void encode(std::string& out, const Describe& msg);

// 'C' Close (frontend).
struct Close {
  static constexpr char tag = 'C';
  TargetKind kind = TargetKind::statement;
  std::string_view name;
  bool operator==(const Close&) const = default;
};
Errc decode(std::string_view body, Close& out) noexcept;
void encode(std::string& out, const Close& msg);

// 'E' Execute (frontend): portal and row limit (0 = no limit).
struct Execute {
  static constexpr char tag = 'E';
  std::string_view portal;
  int32_t max_rows = 0;
  bool operator==(const Execute&) const = default;
};
Errc decode(std::string_view body, Execute& out) noexcept;
void encode(std::string& out, const Execute& msg);

using Sync = EmptyMessage<'S'>;             // frontend
using Flush = EmptyMessage<'H'>;            // frontend
using ParseComplete = EmptyMessage<'1'>;    // backend
using BindComplete = EmptyMessage<'2'>;     // backend
using CloseComplete = EmptyMessage<'3'>;    // backend
using PortalSuspended = EmptyMessage<'s'>;  // backend

}  // namespace pgscale::protocol

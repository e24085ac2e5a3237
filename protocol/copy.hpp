#pragma once
// COPY sub-protocol (PostgreSQL docs 55.2.6 "COPY Operations"): CopyData, CopyDone and CopyFail
// (CopyData/CopyDone flow in both directions), CopyInResponse, CopyOutResponse, CopyBothResponse.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error.hpp"
#include "protocol/simple_query.hpp"

namespace pgscale::protocol {

// 'd' CopyData: the whole body is data.
struct CopyData {
  static constexpr char tag = 'd';
  std::string_view data;
  bool operator==(const CopyData&) const = default;
};
Errc decode(std::string_view body, CopyData& out) noexcept;
void encode(std::string& out, const CopyData& msg);

using CopyDone = EmptyMessage<'c'>;

// 'f' CopyFail (frontend): the reason.
struct CopyFail {
  static constexpr char tag = 'f';
  std::string_view message;
  bool operator==(const CopyFail&) const = default;
};
Errc decode(std::string_view body, CopyFail& out) noexcept;
void encode(std::string& out, const CopyFail& msg);

// Body of 'G' CopyInResponse, 'H' CopyOutResponse, 'W' CopyBothResponse:
// int8 overall format (0 text, 1 binary), int16 column count, int16 format per column.
struct CopyResponse {
  int8_t format = 0;
  std::vector<int16_t> column_formats;
  bool operator==(const CopyResponse&) const = default;
};
struct CopyInResponse : CopyResponse {
  static constexpr char tag = 'G';
};
struct CopyOutResponse : CopyResponse {
  static constexpr char tag = 'H';
};
struct CopyBothResponse : CopyResponse {
  static constexpr char tag = 'W';
};
// Malformed: format not 0/1, count over the bytes left, a column format not 0/1.
Errc decode(std::string_view body, CopyResponse& out);
void encode(std::string& out, const CopyInResponse& msg);
void encode(std::string& out, const CopyOutResponse& msg);
void encode(std::string& out, const CopyBothResponse& msg);

}  // namespace pgscale::protocol

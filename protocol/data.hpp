#pragma once
// Result description and data (PostgreSQL docs 55.7): RowDescription, DataRow, ParameterDescription,
// NoData. Values are views into the caller's buffer; decoders reuse the output vectors.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error.hpp"
#include "protocol/extended_query.hpp"

namespace pgscale::protocol {

struct FieldDescription {
  std::string_view name;
  uint32_t table_oid = 0;
  int16_t column_attr = 0;
  uint32_t type_oid = 0;
  int16_t type_size = 0;
  int32_t type_modifier = -1;
  int16_t format = 0;  // 0 text, 1 binary
  bool operator==(const FieldDescription&) const = default;
};

// 'T' RowDescription.
struct RowDescription {
  static constexpr char tag = 'T';
  std::vector<FieldDescription> fields;
  bool operator==(const RowDescription&) const = default;
};
Errc decode(std::string_view body, RowDescription& out);
void encode(std::string& out, const RowDescription& msg);

// 'D' DataRow (backend): one Value per column, nullopt = NULL.
struct DataRow {
  static constexpr char tag = 'D';
  std::vector<Value> values;
  bool operator==(const DataRow&) const = default;
};
Errc decode(std::string_view body, DataRow& out);
void encode(std::string& out, const DataRow& msg);

// 't' ParameterDescription: the type OIDs of a prepared statement's parameters.
struct ParameterDescription {
  static constexpr char tag = 't';
  std::vector<uint32_t> types;
  bool operator==(const ParameterDescription&) const = default;
};
Errc decode(std::string_view body, ParameterDescription& out);
void encode(std::string& out, const ParameterDescription& msg);

using NoData = EmptyMessage<'n'>;  // backend

}  // namespace pgscale::protocol

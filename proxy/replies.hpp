#pragma once
// Messages pgscale writes to clients on its own behalf (errors, ReadyForQuery). Kept here until
// protocol/ offers a full ErrorResponse encoder; these append to a caller buffer.
#include <string>
#include <string_view>

namespace pgscale::proxy {

enum class Severity { error, fatal };

// ErrorResponse with S, V, C, M fields (PostgreSQL docs 55.8 "Error and Notice Message Fields").
void append_error(std::string& out, Severity sev, std::string_view sqlstate, std::string_view message);
void append_ready_for_query(std::string& out, char status);
std::string error_message(Severity sev, std::string_view sqlstate, std::string_view message);

// SQLSTATEs pgscale itself raises (PostgreSQL Appendix A).
namespace sqlstate {
inline constexpr std::string_view protocol_violation = "08P01";
inline constexpr std::string_view connection_failure = "08006";
inline constexpr std::string_view cannot_connect_now = "57P03";
inline constexpr std::string_view admin_shutdown = "57P01";
inline constexpr std::string_view too_many_connections = "53300";
inline constexpr std::string_view invalid_password = "28P01";
inline constexpr std::string_view invalid_authorization = "28000";
inline constexpr std::string_view invalid_catalog_name = "3D000";
inline constexpr std::string_view feature_not_supported = "0A000";
inline constexpr std::string_view internal_error = "XX000";
}  // namespace sqlstate

}  // namespace pgscale::proxy

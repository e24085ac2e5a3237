#pragma once
// pgscale as a client authenticating to PostgreSQL: helpers around protocol/'s SCRAM and MD5.
#include <string>
#include <string_view>

#include "protocol/md5_auth.hpp"
#include "protocol/scram.hpp"
#include "proxy/server_conn.hpp"

namespace pgscale::proxy {

// The SCRAM client for `creds`: pass-through keys when the client proved them, else the password.
// nullopt when neither is usable (no password, or only an md5 hash).
std::optional<protocol::scram::ScramClient> make_scram_client(const ServerCredentials& creds);
// "md5" + md5(md5(password + user) + salt); accepts a stored "md5<hex>" in place of the password.
std::string md5_client_response(std::string_view user, std::string_view password_or_hash,
                                const protocol::Md5Salt& salt);
// "SQLSTATE: message" of an ErrorResponse body, for logs.
std::string server_error_text(std::string_view error_body);

}  // namespace pgscale::proxy

// pgscale logging in to a server: SCRAM pass-through keys recovered by the client-facing
// ScramServer must satisfy a server holding the same verifier; md5 answers from hash or password.
#include <catch2/catch.hpp>

#include "protocol/md5_auth.hpp"
#include "protocol/scram.hpp"
#include "proxy/server_auth.hpp"

using namespace pgscale;
namespace scram = pgscale::protocol::scram;

namespace {
// Runs a full SCRAM exchange between `client` and a server holding `verifier`; true on success.
bool exchange(scram::ScramClient& client, const scram::Verifier& verifier, scram::Key* client_key = nullptr) {
  scram::ScramServer server(verifier);
  std::string first, server_first, client_final, server_final;
  if (client.client_first(first) != protocol::Errc::ok) return false;
  // The client-first-message with its gs2 header, as SASLInitialResponse carries it.
  if (server.handle_client_first(first, server_first) != protocol::Errc::ok) return false;
  if (client.handle_server_first(server_first, client_final) != protocol::Errc::ok) return false;
  if (server.handle_client_final(client_final, server_final) != protocol::Errc::ok) return false;
  if (client_key) *client_key = server.client_key();
  return client.handle_server_final(server_final) == protocol::Errc::ok;
}
}  // namespace

TEST_CASE("SCRAM pass-through: the ClientKey a client proves logs pgscale in to the server") {
  scram::Verifier v;
  REQUIRE(scram::parse_verifier(scram::make_verifier("s3cret", "0123456789abcdef"), v) == protocol::Errc::ok);
  // 1. a real client (with the password) authenticates to pgscale; pgscale recovers ClientKey
  auto user_client = scram::ScramClient::with_password("s3cret");
  scram::Key key{};
  REQUIRE(exchange(user_client, v, &key));
  // 2. pgscale authenticates to a server holding the same verifier, without the password
  proxy::ServerCredentials creds;
  creds.scram = proxy::ScramPassThrough{key, v};
  auto pgscale_client = proxy::make_scram_client(creds);
  REQUIRE(pgscale_client);
  CHECK(exchange(*pgscale_client, v));
}

TEST_CASE("SCRAM pass-through fails against a server whose verifier has another salt") {
  scram::Verifier ours, theirs;
  REQUIRE(scram::parse_verifier(scram::make_verifier("s3cret", "0123456789abcdef"), ours) == protocol::Errc::ok);
  REQUIRE(scram::parse_verifier(scram::make_verifier("s3cret", "fedcba9876543210"), theirs) == protocol::Errc::ok);
  auto user_client = scram::ScramClient::with_password("s3cret");
  scram::Key key{};
  REQUIRE(exchange(user_client, ours, &key));
  proxy::ServerCredentials creds;
  creds.scram = proxy::ScramPassThrough{key, ours};
  auto pgscale_client = proxy::make_scram_client(creds);
  REQUIRE(pgscale_client);
  CHECK_FALSE(exchange(*pgscale_client, theirs));
}

TEST_CASE("no SCRAM client without a usable secret") {
  proxy::ServerCredentials none;
  CHECK_FALSE(proxy::make_scram_client(none));
  proxy::ServerCredentials md5_only;
  md5_only.password = protocol::md5_password_hash("pw", "app");
  CHECK_FALSE(proxy::make_scram_client(md5_only));
  proxy::ServerCredentials plain;
  plain.password = "pw";
  CHECK(proxy::make_scram_client(plain));
}

TEST_CASE("md5 response: PostgreSQL's formula, from password or stored hash") {
  protocol::Md5Salt salt{1, 2, 3, 4};
  // md5(md5("secret" + "app") + salt), computed independently with Python hashlib.
  CHECK(proxy::md5_client_response("app", "secret", salt) == "md5911f527656472583a006e7727877b33e");
  CHECK(proxy::md5_client_response("app", protocol::md5_password_hash("secret", "app"), salt) ==
        "md5911f527656472583a006e7727877b33e");
}

TEST_CASE("server_error_text names SQLSTATE and message") {
  std::string body = std::string("SFATAL") + '\0' + "C3D000" + '\0' + "Mdatabase \"x\" does not exist" + '\0' + '\0';
  CHECK(proxy::server_error_text(body) == "3D000: database \"x\" does not exist");
}

// Client authentication against the YAML users (PostgreSQL docs 55.2.2, 55.3; RFC 5802/7677).
// Unknown user, wrong password and unusable stored secret all run the full exchange against a
// deterministic fake secret and end in the same 28P01 message, so neither the answer nor the
// timing says which it was (as PostgreSQL's mock SCRAM verifier does).
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <optional>
#include <unordered_map>

#include "protocol/auth.hpp"
#include "protocol/crypto.hpp"
#include "protocol/frame.hpp"
#include "proxy/client_session.hpp"
#include "protocol/md5_auth.hpp"
#include "protocol/scram.hpp"
#include "proxy/server_auth.hpp"

namespace pgscale::proxy {

namespace {
namespace scram = protocol::scram;

// Per-process secret for fake and derived salts: stable for a user name while pgscale runs,
// unguessable from outside.
const std::string& process_secret() {
  static const std::string secret = [] {
    unsigned char k[32];
    if (RAND_bytes(k, sizeof k) != 1) std::memset(k, 0x42, sizeof k);
    return std::string(reinterpret_cast<char*>(k), sizeof k);
  }();
  return secret;
}

const config::UserConfig* find_user(const config::Config& cfg, std::string_view name) {
  for (const auto& u : cfg.users) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

// The verifier a user authenticates against: the YAML's, or one derived from a plaintext
// password (salt from the mock-verifier derivation, so it is stable per user and secret).
std::optional<scram::Verifier> user_verifier(const config::UserConfig& user, bool& plaintext) {
  scram::Verifier v;
  if (scram::parse_verifier(user.password, v) == protocol::Errc::ok) return v;
  if (user.password.empty() || protocol::is_md5_hash(user.password)) return std::nullopt;
  plaintext = true;
  auto salt = scram::mock_verifier(user.name, process_secret()).salt;
  if (scram::derive_verifier(user.password, salt, scram::kDefaultIterations, v) != protocol::Errc::ok)
    return std::nullopt;
  return v;
}

// user_verifier per worker thread, remembered: it depends only on the user's name and secret,
// and parsing a verifier (two base64 keys) or deriving one from a plaintext password (4,096
// PBKDF2 rounds, milliseconds) at every login is waste. Keyed by name and secret, so a reload
// that changes either is a new entry; cleared when it outgrows any real user list.
struct CachedVerifier {
  std::optional<scram::Verifier> verifier;
  bool plaintext = false;
};
constexpr size_t kMaxCachedVerifiers = 1024;

const CachedVerifier& cached_verifier(const config::UserConfig& user) {
  thread_local std::unordered_map<std::string, CachedVerifier> cache;
  std::string key;
  key.reserve(user.name.size() + 1 + user.password.size());
  key.append(user.name).push_back('\0');
  key.append(user.password);
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() >= kMaxCachedVerifiers) cache.clear();
    CachedVerifier c;
    c.verifier = user_verifier(user, c.plaintext);
    it = cache.emplace(std::move(key), std::move(c)).first;
  }
  return it->second;
}
}  // namespace

asio::awaitable<bool> ClientSession::authenticate() {
  cfg_ = rt_.config();
  mode_ = cfg_->pool.mode == config::PoolMode::session ? AttachMode::per_session
                                                       : AttachMode::per_transaction;
  const config::UserConfig* user = find_user(*cfg_, user_);
  bool ok = false;
  if (user && user->auth == config::AuthMethod::trust) {
    ok = true;
    server_creds_.set_password(user->server_password);
  } else if (user && user->auth == config::AuthMethod::md5) {
    if (!co_await auth_md5(user, ok)) co_return false;
  } else {
    if (!co_await auth_scram(user, ok)) co_return false;
  }
  if (!ok) {
    co_await fatal(sqlstate::invalid_password,
                   fmt::format("password authentication failed for user \"{}\"", user_));
    co_return false;
  }
  if (!check_database_allowed(*user)) {
    // A database no user may use is one pgscale does not know: say what PostgreSQL says about a
    // missing database. One that another user may use: this user is not allowed (hba-like).
    bool known = false;
    for (const auto& u : cfg_->users) {
      known = known || std::find(u.databases.begin(), u.databases.end(), database_) != u.databases.end();
    }
    if (!known) {
      co_await fatal(sqlstate::invalid_catalog_name, fmt::format("database \"{}\" does not exist", database_));
      co_return false;
    }
    co_await fatal(sqlstate::invalid_authorization,
                   fmt::format("no pgscale user entry for host \"{}\", user \"{}\", database \"{}\"",
                               peer_.substr(0, peer_.rfind(':')), user_, database_));
    co_return false;
  }
  co_return true;
}

bool ClientSession::check_database_allowed(const config::UserConfig& user) {
  if (user.databases.empty()) return true;
  return std::find(user.databases.begin(), user.databases.end(), database_) != user.databases.end();
}

// Returns false when the exchange broke off (already answered or the client left); `ok` tells
// whether the proof was valid.
asio::awaitable<bool> ClientSession::auth_scram(const config::UserConfig* user, bool& ok) {
  bool plaintext = false;
  std::optional<scram::Verifier> verifier;
  if (user) {
    const CachedVerifier& c = cached_verifier(*user);
    verifier = c.verifier;
    plaintext = c.plaintext;
  }
  scram::ScramServerOptions options;
  options.doomed = !verifier;  // unknown user or unusable secret: same exchange, certain failure
  scram::ScramServer server(verifier ? *verifier : scram::mock_verifier(user_, process_secret()), options);

  std::string out;
  protocol::encode_auth_sasl(out, {protocol::kScramSha256});
  if (!co_await write_client(out)) co_return false;
  std::string body;
  if (!co_await read_password_message(body)) co_return false;
  protocol::SaslInitialResponse init;
  std::string server_first;
  if (protocol::decode(body, init) != protocol::Errc::ok || init.mechanism != protocol::kScramSha256 ||
      !init.has_data || server.handle_client_first(init.data, server_first) != protocol::Errc::ok) {
    co_await fatal(sqlstate::protocol_violation, "malformed SCRAM message or invalid SASL mechanism");
    co_return false;
  }
  out.clear();
  protocol::encode_auth_sasl_continue(out, server_first);
  if (!co_await write_client(out)) co_return false;
  if (!co_await read_password_message(body)) co_return false;
  protocol::SaslResponse resp;
  std::string server_final;
  auto rc = protocol::decode(body, resp);
  if (rc == protocol::Errc::ok) rc = server.handle_client_final(resp.data, server_final);
  if (rc == protocol::Errc::auth_failed) co_return true;  // ok stays false: 28P01
  if (rc != protocol::Errc::ok) {
    co_await fatal(sqlstate::protocol_violation, "malformed SCRAM message");
    co_return false;
  }
  ok = server.authenticated() && verifier.has_value();
  if (!ok) co_return true;
  out.clear();
  protocol::encode_auth_sasl_final(out, server_final);
  if (!co_await write_client(out)) co_return false;
  if (!user->server_password.empty()) server_creds_.set_password(user->server_password);
  else if (plaintext) server_creds_.set_password(user->password);
  else server_creds_.set_scram(ScramPassThrough{server.client_key(), *verifier});
  co_return true;
}

asio::awaitable<bool> ClientSession::auth_md5(const config::UserConfig* user, bool& ok) {
  std::array<uint8_t, 4> salt{};
  if (!protocol::random_bytes(salt.data(), salt.size())) salt = {1, 2, 3, 4};
  std::string out;
  protocol::encode_auth_md5(out, salt);
  if (!co_await write_client(out)) co_return false;
  std::string body;
  if (!co_await read_password_message(body)) co_return false;
  protocol::PasswordMessage pw;
  if (protocol::decode(body, pw) != protocol::Errc::ok) {
    co_await fatal(sqlstate::protocol_violation, "invalid password packet");
    co_return false;
  }
  // Unknown user: verify against a fake secret so the failure looks like any other. A SCRAM
  // verifier cannot answer md5 (PostgreSQL refuses the same way): md5_verify returns false.
  std::string fake = "md5" + std::string(32, '0');
  bool matched = protocol::md5_verify(user ? std::string_view(user->password) : std::string_view(fake), user_,
                                      salt, pw.password);
  ok = user && !user->password.empty() && matched;
  if (ok) server_creds_.set_password(user->server_password.empty() ? user->password : user->server_password);
  co_return true;
}

asio::awaitable<bool> ClientSession::read_password_message(std::string& body) {
  protocol::FrameLimits limits{protocol::kAuthMessageLimit};
  for (int i = 0; i < 1000; ++i) {
    auto r = protocol::decode_frontend_frame(cbuf_.readable(), limits);
    if (r.errc == protocol::Errc::ok) {
      if (r.frame.tag != protocol::ftag::password) {
        if (r.frame.tag != protocol::ftag::terminate) {
          co_await fatal(sqlstate::protocol_violation,
                         fmt::format("expected password response, got message type {}", int(r.frame.tag)));
        }
        co_return false;
      }
      body.assign(r.frame.body);
      cbuf_.consume(r.frame.size);
      co_return true;
    }
    if (r.errc != protocol::Errc::incomplete) {
      co_await fatal(sqlstate::protocol_violation, "invalid password packet");
      co_return false;
    }
    if (!cbuf_.reserve_more(r.need ? r.need : 1, protocol::kAuthMessageLimit + 16)) co_return false;
    error_code ec;
    size_t n = co_await client_.read_some(asio::buffer(cbuf_.write_ptr(), cbuf_.write_space()), ec);
    if (ec) co_return false;  // psql hangs up to prompt for the password: not an error
    cbuf_.commit(n);
  }
  co_return false;
}

}  // namespace pgscale::proxy

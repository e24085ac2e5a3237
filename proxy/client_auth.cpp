// Client authentication against the YAML users (PostgreSQL docs 55.2.2, 55.3; RFC 5802/7677).
// Unknown user, wrong password and unusable stored secret all run the full exchange against a
// deterministic fake secret and end in the same 28P01 message, so neither the answer nor the
// timing says which it was (as PostgreSQL's mock SCRAM verifier does).
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "protocol/auth.hpp"
#include "protocol/frame.hpp"
#include "proxy/client_session.hpp"
#include "proxy/scram_math.hpp"
#include "proxy/server_auth.hpp"

namespace pgscale::proxy {

namespace {
constexpr uint32_t kScramIterations = 4096;

// Per-process secret for fake salts: stable for a user name while pgscale runs, unguessable.
const scram::Key& process_secret() {
  static const scram::Key secret = [] {
    scram::Key k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) k.fill(0x42);
    return k;
  }();
  return secret;
}

std::string derived_salt(std::string_view user) {
  return scram::key_view(scram::hmac(process_secret(), "salt:" + std::string(user))).substr(0, 16);
}

scram::Verifier fake_verifier(std::string_view user) {
  scram::Verifier v;
  v.iterations = kScramIterations;
  v.salt = derived_salt(user);
  v.stored_key = scram::hmac(process_secret(), "stored:" + std::string(user));
  v.server_key = scram::hmac(process_secret(), "server:" + std::string(user));
  return v;
}

bool equal_keys(const scram::Key& a, const scram::Key& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

const config::UserConfig* find_user(const config::Config& cfg, std::string_view name) {
  for (const auto& u : cfg.users) {
    if (u.name == name) return &u;
  }
  return nullptr;
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
    server_creds_.password = user->server_password;
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
  std::optional<scram::Verifier> verifier;
  bool plaintext = false;
  if (user) {
    verifier = scram::parse_verifier(user->password);
    if (!verifier && !user->password.empty() && !is_md5_hash(user->password)) {
      verifier = scram::make_verifier(user->password, derived_salt(user_), kScramIterations);
      plaintext = true;
    }
  }
  bool real = verifier.has_value();
  if (!real) verifier = fake_verifier(user_);

  std::string out;
  protocol::encode_auth_sasl(out, {protocol::kScramSha256});
  if (!co_await write_client(out)) co_return false;
  std::string body;
  if (!co_await read_password_message(body)) co_return false;
  protocol::SaslInitialResponse init;
  if (protocol::decode(body, init) != protocol::Errc::ok || init.mechanism != protocol::kScramSha256 ||
      !init.has_data) {
    co_await fatal(sqlstate::protocol_violation, "client selected an invalid SASL authentication mechanism");
    co_return false;
  }
  // gs2 header: "n,," (no channel binding) or "y,," (client could, thinks we cannot). "p=" would
  // demand SCRAM-SHA-256-PLUS, which we did not offer.
  std::string_view first = init.data;
  std::string gs2;
  if (first.substr(0, 3) == "n,," || first.substr(0, 3) == "y,,") gs2 = std::string(first.substr(0, 3));
  auto client_nonce = gs2.empty() ? std::nullopt : scram::attribute(first.substr(3), 'r');
  if (!client_nonce || client_nonce->empty()) {
    co_await fatal(sqlstate::protocol_violation, "malformed SCRAM message");
    co_return false;
  }
  std::string bare(first.substr(3));
  std::string nonce = std::string(*client_nonce) + scram::random_nonce();
  std::string server_first = "r=" + nonce + ",s=" + scram::b64_encode(verifier->salt) +
                             ",i=" + std::to_string(verifier->iterations);
  out.clear();
  protocol::encode_auth_sasl_continue(out, server_first);
  if (!co_await write_client(out)) co_return false;
  if (!co_await read_password_message(body)) co_return false;
  protocol::SaslResponse resp;
  std::string_view final_msg;
  if (protocol::decode(body, resp) == protocol::Errc::ok) final_msg = resp.data;
  size_t proof_at = final_msg.find(",p=");
  auto c = scram::attribute(final_msg, 'c');
  auto r = scram::attribute(final_msg, 'r');
  auto p = proof_at == std::string_view::npos ? std::nullopt
                                              : scram::b64_decode(final_msg.substr(proof_at + 3));
  if (!c || !r || !p || *c != scram::b64_encode(gs2) || *r != nonce || p->size() != 32) {
    co_await fatal(sqlstate::protocol_violation, "malformed SCRAM message");
    co_return false;
  }
  std::string auth_message = bare + "," + server_first + "," + std::string(final_msg.substr(0, proof_at));
  scram::Key signature = scram::hmac(verifier->stored_key, auth_message);
  scram::Key client_key;
  for (size_t k = 0; k < 32; ++k) client_key[k] = static_cast<uint8_t>((*p)[k]) ^ signature[k];
  ok = equal_keys(scram::sha256(client_key), verifier->stored_key) && real;
  if (!ok) co_return true;
  out.clear();
  protocol::encode_auth_sasl_final(
      out, "v=" + scram::b64_encode(scram::key_view(scram::hmac(verifier->server_key, auth_message))));
  if (!co_await write_client(out)) co_return false;
  if (!user->server_password.empty()) server_creds_.password = user->server_password;
  else if (plaintext) server_creds_.password = user->password;
  else server_creds_.scram = ScramPassThrough{client_key, verifier->server_key, verifier->salt,
                                              verifier->iterations};
  co_return true;
}

asio::awaitable<bool> ClientSession::auth_md5(const config::UserConfig* user, bool& ok) {
  std::array<uint8_t, 4> salt{};
  if (RAND_bytes(salt.data(), 4) != 1) salt = {1, 2, 3, 4};
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
  // A SCRAM verifier cannot answer md5 (PostgreSQL refuses the same way): compare against a
  // fake hash so the failure looks like any other.
  bool usable = user && !user->password.empty() && !scram::parse_verifier(user->password);
  std::string secret = usable ? user->password : "md5" + scram::md5_hex(scram::key_view(fake_verifier(user_).stored_key));
  std::string expected = md5_client_response(user_, secret, salt);
  ok = usable && pw.password.size() == expected.size() &&
       CRYPTO_memcmp(pw.password.data(), expected.data(), expected.size()) == 0;
  if (ok) server_creds_.password = user->server_password.empty() ? user->password : user->server_password;
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

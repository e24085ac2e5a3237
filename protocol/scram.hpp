#pragma once
// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it (docs 55.3.1 "SCRAM-SHA-256
// Authentication"): server side (pgscale authenticating its clients from a stored verifier) and
// client side (pgscale authenticating to a server, from a password or from a ClientKey recovered
// from the client's own proof — SCRAM pass-through, as PgBouncer does).
//
// Channel binding: pgscale offers only SCRAM-SHA-256 (no -PLUS). A client GS2 flag 'n' or 'y' is
// accepted; 'p' (client demands binding) is Errc::unsupported. PostgreSQL ignores the SCRAM user
// name (the startup packet's user counts), and so does pgscale; the client side sends "n=,".
//
// SASLprep (RFC 4013): only the ASCII path is implemented. A pure-ASCII password is used
// unchanged — exactly what PostgreSQL's pg_saslprep() does (its ASCII fast path), so ASCII
// passwords always interoperate. A non-ASCII password is used as raw bytes. PostgreSQL also uses
// raw bytes when its SASLprep fails (invalid UTF-8, prohibited or unassigned characters, bidi
// violations), so those interoperate too; and a valid-UTF-8 password that SASLprep leaves unchanged
// (already NFKC, no non-ASCII spaces, no "mapped to nothing" characters — e.g. most precomposed
// accented text) gives the same bytes either way. What does NOT interoperate: a password that
// SASLprep would change (NFKC folding such as full-width letters or ligatures, U+00A0 and other
// non-ASCII spaces, soft hyphen / zero-width characters). For those, let PostgreSQL create the
// verifier (ALTER ROLE ... PASSWORD) and copy it from pg_authid instead of --hash-password.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/crypto.hpp"
#include "protocol/error.hpp"

namespace pgscale::protocol::scram {

using Key = std::array<uint8_t, 32>;

inline constexpr uint32_t kDefaultIterations = 4096;  // PostgreSQL's default
inline constexpr size_t kDefaultSaltLength = 16;      // SCRAM_DEFAULT_SALT_LEN
inline constexpr size_t kRawNonceLength = 18;         // SCRAM_RAW_NONCE_LEN

// A stored verifier: "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>"
// (the format of pg_authid.rolpassword).
struct Verifier {
  uint32_t iterations = kDefaultIterations;
  std::string salt;  // raw bytes
  Key stored_key{};
  Key server_key{};
  bool operator==(const Verifier&) const = default;
};

// True when `text` starts like a SCRAM verifier (does not validate it).
bool looks_like_verifier(std::string_view text) noexcept;
// Errc::malformed on any deviation from the format (bad base64, key not 32 bytes, iterations 0).
Errc parse_verifier(std::string_view text, Verifier& out);
std::string format_verifier(const Verifier& v);

// Derives a verifier from a password (SaltedPassword = PBKDF2-HMAC-SHA-256).
Errc derive_verifier(std::string_view password, std::string_view salt, uint32_t iterations,
                     Verifier& out);
// The text verifier for `pgscale --hash-password`. Empty string only if OpenSSL failed.
std::string make_verifier(std::string_view password, std::string_view salt,
                          uint32_t iterations = kDefaultIterations);
// Same with a fresh random 16-byte salt.
std::string make_verifier(std::string_view password, uint32_t iterations = kDefaultIterations);

// A deterministic fake verifier for a user that does not exist, so the exchange runs to the end
// and fails the same way as a wrong password (PostgreSQL's scram_mock_salt). `secret` is a
// per-process random string: the salt must not reveal that the user is unknown.
Verifier mock_verifier(std::string_view username, std::string_view secret);

// See the header comment: returns the password unchanged (ASCII path; raw bytes otherwise).
std::string saslprep(std::string_view password);

struct ScramServerOptions {
  std::string server_nonce;  // test hook: the server's nonce part; empty = 18 random bytes, base64
  bool doomed = false;       // mock exchange for an unknown user: client-final always auth_failed
};

struct ScramClientOptions {
  std::string client_nonce;            // test hook; empty = 18 random bytes, base64
  std::string username;                // sent as n=...; PostgreSQL ignores it, libpq sends ""
  uint32_t max_iterations = 1u << 20;  // refuse a server asking for more (CPU exhaustion)
};

// Server side. Usage:
//   ScramServer s(verifier);
//   s.handle_client_first(sasl_initial_response.data, server_first)  → AuthenticationSASLContinue
//   s.handle_client_final(sasl_response.data, server_final)          → AuthenticationSASLFinal + Ok
// On any non-ok result the session sends an ErrorResponse (28P01 for auth_failed, 08P01 for
// malformed) and closes; the object is then spent.
class ScramServer {
 public:
  using Options = ScramServerOptions;
  explicit ScramServer(Verifier verifier) : ScramServer(std::move(verifier), Options{}) {}
  ScramServer(Verifier verifier, Options options);

  // malformed: bad syntax; unsupported: channel binding required ('p'), authzid, or an extension;
  // crypto_failure: no random nonce; invalid_state: called twice.
  Errc handle_client_first(std::string_view client_first, std::string& server_first);
  // auth_failed: wrong proof (or doomed); malformed: bad syntax, nonce or channel-binding mismatch.
  Errc handle_client_final(std::string_view client_final, std::string& server_final);

  bool authenticated() const noexcept { return authenticated_; }
  // After a successful handle_client_final: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage).
  // With the verifier it lets ScramClient::with_keys log in to a server holding the same verifier.
  const Key& client_key() const noexcept { return client_key_; }
  const Verifier& verifier() const noexcept { return verifier_; }

 private:
  enum class State : uint8_t { want_client_first, want_client_final, done };
  Verifier verifier_;
  Options options_;
  State state_ = State::want_client_first;
  std::string gs2_header_;          // e.g. "n,,"
  std::string client_first_bare_;   // "n=...,r=..."
  std::string server_first_;
  std::string nonce_;               // client nonce + server nonce
  Key client_key_{};
  bool authenticated_ = false;
};

// Client side (pgscale → PostgreSQL). Usage:
//   auto c = ScramClient::with_password(pw);      // or with_keys(client_key, verifier)
//   c.client_first(data)                           → SASLInitialResponse("SCRAM-SHA-256", data)
//   c.handle_server_first(continue_data, final)    → SASLResponse(final)
//   c.handle_server_final(final_data)              → ok when the server proved its identity
class ScramClient {
 public:
  using Options = ScramClientOptions;
  static ScramClient with_password(std::string_view password, Options options = {});
  // Pass-through: no password, the keys recovered by ScramServer. The server's salt and
  // iteration count must equal the verifier's, else handle_server_first returns key_mismatch.
  static ScramClient with_keys(const Key& client_key, const Verifier& verifier,
                               Options options = {});

  // crypto_failure when no nonce could be drawn; invalid_state when called twice.
  Errc client_first(std::string& out);
  // malformed: bad syntax or the server nonce does not extend ours; key_mismatch (see above);
  // unsupported: iterations over max_iterations.
  Errc handle_server_first(std::string_view server_first, std::string& client_final);
  // auth_failed when the ServerSignature is wrong or the server sent "e=<error>".
  Errc handle_server_final(std::string_view server_final);

 private:
  enum class State : uint8_t { start, want_server_first, want_server_final, done };
  ScramClient() = default;
  Options options_;
  State state_ = State::start;
  bool have_keys_ = false;
  std::string password_;            // after saslprep; unused with keys
  Key client_key_{};
  Verifier verifier_;               // salt/iterations/server_key when have_keys_
  std::string client_first_bare_;
  std::string client_nonce_;
  std::string expected_server_signature_;  // base64
};

}  // namespace pgscale::protocol::scram

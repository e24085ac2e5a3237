// SCRAM-SHA-256: RFC 7677 test vector, server <-> client round trips, pass-through with a
// recovered ClientKey, and failures (wrong password, tampered proof, malformed messages).
#include <catch2/catch.hpp>

#include "protocol/crypto.hpp"
#include "protocol/scram.hpp"

using namespace pgscale::protocol;
using namespace pgscale::protocol::scram;

namespace {

// RFC 7677, section 3.
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

Verifier rfc_verifier() {
  std::string salt;
  REQUIRE(base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", salt));
  Verifier v;
  REQUIRE(derive_verifier("pencil", salt, 4096, v) == Errc::ok);
  return v;
}

struct Exchange {
  Errc client_first = Errc::invalid_state;
  Errc server_first = Errc::invalid_state;
  Errc client_final = Errc::invalid_state;
  Errc server_final = Errc::invalid_state;
  Errc client_verify = Errc::invalid_state;
};

// Runs a whole exchange between a ScramClient and a ScramServer.
Exchange run(ScramClient& client, ScramServer& server) {
  Exchange e;
  std::string c1, s1, c2, s2;
  if ((e.client_first = client.client_first(c1)) != Errc::ok) return e;
  if ((e.server_first = server.handle_client_first(c1, s1)) != Errc::ok) return e;
  if ((e.client_final = client.handle_server_first(s1, c2)) != Errc::ok) return e;
  if ((e.server_final = server.handle_client_final(c2, s2)) != Errc::ok) return e;
  e.client_verify = client.handle_server_final(s2);
  return e;
}

}  // namespace

TEST_CASE("scram: RFC 7677 test vector, server side", "[protocol][scram]") {
  ScramServer server(rfc_verifier(), {std::string(kServerNonce), false});
  std::string server_first, server_final;
  REQUIRE(server.handle_client_first(kClientFirst, server_first) == Errc::ok);
  CHECK(server_first == kServerFirst);
  REQUIRE(server.handle_client_final(kClientFinal, server_final) == Errc::ok);
  CHECK(server_final == kServerFinal);
  CHECK(server.authenticated());
}

TEST_CASE("scram: RFC 7677 test vector, client side", "[protocol][scram]") {
  ScramClient client = ScramClient::with_password("pencil", {"rOprNGfwEbeRWgbNEkqO", "user", 4096});
  std::string first, final_msg;
  REQUIRE(client.client_first(first) == Errc::ok);
  CHECK(first == kClientFirst);
  REQUIRE(client.handle_server_first(kServerFirst, final_msg) == Errc::ok);
  CHECK(final_msg == kClientFinal);
  CHECK(client.handle_server_final(kServerFinal) == Errc::ok);
}

TEST_CASE("scram: verifier text format round trip and PostgreSQL's shape", "[protocol][scram]") {
  std::string text = make_verifier("pencil", "0123456789abcdef", 4096);
  REQUIRE(text.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"));
  Verifier v;
  REQUIRE(parse_verifier(text, v) == Errc::ok);
  CHECK(v.iterations == 4096);
  CHECK(v.salt == "0123456789abcdef");
  CHECK(format_verifier(v) == text);
  Verifier direct;
  REQUIRE(derive_verifier("pencil", "0123456789abcdef", 4096, direct) == Errc::ok);
  CHECK(direct == v);
  // Random salt: two verifiers of one password differ, both parse.
  std::string a = make_verifier("pw"), b = make_verifier("pw");
  CHECK(a != b);
  CHECK(parse_verifier(a, v) == Errc::ok);
  CHECK(v.salt.size() == kDefaultSaltLength);
  CHECK(looks_like_verifier(a));
  CHECK_FALSE(looks_like_verifier("md5abc"));
}

TEST_CASE("scram: malformed verifiers", "[protocol][scram]") {
  Verifier v;
  std::string good = make_verifier("x", "saltsalt", 10);
  REQUIRE(parse_verifier(good, v) == Errc::ok);
  CHECK(parse_verifier("", v) == Errc::malformed);
  CHECK(parse_verifier("SCRAM-SHA-256$", v) == Errc::malformed);
  CHECK(parse_verifier("SCRAM-SHA-1$4096:c2FsdA==$a:b", v) == Errc::malformed);
  CHECK(parse_verifier("SCRAM-SHA-256$0:c2FsdA==$" + good.substr(good.find('$', 14) + 1), v) ==
        Errc::malformed);
  CHECK(parse_verifier("SCRAM-SHA-256$x:c2FsdA==$" + good.substr(good.find('$', 14) + 1), v) ==
        Errc::malformed);
  CHECK(parse_verifier(good.substr(0, good.size() - 4), v) == Errc::malformed);  // short key
  CHECK(parse_verifier(good + "AAAA", v) == Errc::malformed);                    // long key
  std::string bad_b64 = good;
  bad_b64[bad_b64.size() - 10] = '*';
  CHECK(parse_verifier(bad_b64, v) == Errc::malformed);
}

TEST_CASE("scram: client and server round trip with random nonces", "[protocol][scram]") {
  Verifier v;
  REQUIRE(parse_verifier(make_verifier("correct horse", 4096), v) == Errc::ok);
  ScramServer server(v);
  ScramClient client = ScramClient::with_password("correct horse");
  Exchange e = run(client, server);
  CHECK(e.server_final == Errc::ok);
  CHECK(e.client_verify == Errc::ok);
  CHECK(server.authenticated());
}

TEST_CASE("scram: wrong password is auth_failed and recovers no key", "[protocol][scram]") {
  Verifier v;
  REQUIRE(derive_verifier("right", "salt1234", 4096, v) == Errc::ok);
  ScramServer server(v);
  ScramClient client = ScramClient::with_password("wrong");
  Exchange e = run(client, server);
  CHECK(e.client_final == Errc::ok);
  CHECK(e.server_final == Errc::auth_failed);
  CHECK_FALSE(server.authenticated());
  CHECK(server.client_key() == Key{});
}

TEST_CASE("scram: a doomed (unknown user) exchange completes and fails", "[protocol][scram]") {
  Verifier mock = mock_verifier("nobody", "process-secret");
  CHECK(mock == mock_verifier("nobody", "process-secret"));  // stable across attempts
  CHECK(mock.salt != mock_verifier("other", "process-secret").salt);
  ScramServer server(mock, {"", true});
  ScramClient client = ScramClient::with_password("anything");
  Exchange e = run(client, server);
  CHECK(e.server_first == Errc::ok);
  CHECK(e.client_final == Errc::ok);
  CHECK(e.server_final == Errc::auth_failed);
  // Even the right password of a doomed exchange fails.
  Verifier v;
  REQUIRE(derive_verifier("pw", "salt1234", 4096, v) == Errc::ok);
  ScramServer doomed(v, {"", true});
  ScramClient right = ScramClient::with_password("pw");
  CHECK(run(right, doomed).server_final == Errc::auth_failed);
}

TEST_CASE("scram: a tampered proof, nonce or channel binding is refused", "[protocol][scram]") {
  auto attempt = [](std::string_view client_final) {
    ScramServer server(rfc_verifier(), {std::string(kServerNonce), false});
    std::string s1, s2;
    REQUIRE(server.handle_client_first(kClientFirst, s1) == Errc::ok);
    return server.handle_client_final(client_final, s2);
  };
  std::string tampered(kClientFinal);
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  CHECK(attempt(tampered) == Errc::auth_failed);
  std::string other_nonce(kClientFinal);
  other_nonce[12] = 'X';
  CHECK(attempt(other_nonce) == Errc::malformed);
  std::string y_binding(kClientFinal);
  y_binding.replace(2, 4, "eSws");  // "y,," while the client said "n,,"
  CHECK(attempt(y_binding) == Errc::malformed);
  CHECK(attempt("c=biws,r=x") == Errc::malformed);  // no proof
  CHECK(attempt("p=abc") == Errc::malformed);
  CHECK(attempt(std::string(kClientFinal.substr(0, kClientFinal.size() - 4)) + "AA==") ==
        Errc::malformed);  // proof not 32 bytes
  CHECK(attempt("") == Errc::malformed);
}

TEST_CASE("scram: client-first variants", "[protocol][scram]") {
  auto first = [](std::string_view msg) {
    ScramServer server(rfc_verifier());
    std::string out;
    return server.handle_client_first(msg, out);
  };
  CHECK(first("n,,n=,r=abc") == Errc::ok);
  CHECK(first("y,,n=user,r=abc") == Errc::ok);  // client could bind, we offer no -PLUS
  CHECK(first("n,,n=u,r=abc,x=ext") == Errc::ok);
  CHECK(first("p=tls-server-end-point,,n=,r=abc") == Errc::unsupported);
  CHECK(first("n,a=admin,n=,r=abc") == Errc::unsupported);
  CHECK(first("n,,m=ext,n=,r=abc") == Errc::unsupported);
  CHECK(first("") == Errc::malformed);
  CHECK(first("n") == Errc::malformed);
  CHECK(first("x,,n=,r=abc") == Errc::malformed);
  CHECK(first("n,,r=abc") == Errc::malformed);
  CHECK(first("n,,n=,r=") == Errc::malformed);
  CHECK(first("n,,n=,r=a\x01") == Errc::malformed);
  CHECK(first("nn,,n=,r=abc") == Errc::malformed);

  // "y,," must be echoed as c=eSws in client-final.
  ScramServer server(rfc_verifier(), {"SRV", false});
  std::string s1, s2;
  REQUIRE(server.handle_client_first("y,,n=,r=CLI", s1) == Errc::ok);
  CHECK(s1 == "r=CLISRV,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  CHECK(server.handle_client_final("c=biws,r=CLISRV,p=" + base64_encode(std::string(32, 'x')),
                                   s2) == Errc::malformed);
  ScramServer again(rfc_verifier(), {"SRV", false});
  REQUIRE(again.handle_client_first("y,,n=,r=CLI", s1) == Errc::ok);
  CHECK(again.handle_client_final("c=eSws,r=CLISRV,p=" + base64_encode(std::string(32, 'x')),
                                  s2) == Errc::auth_failed);
}

TEST_CASE("scram: state machine misuse is invalid_state", "[protocol][scram]") {
  ScramServer server(rfc_verifier());
  std::string out;
  CHECK(server.handle_client_final(kClientFinal, out) == Errc::invalid_state);
  ScramServer twice(rfc_verifier());
  REQUIRE(twice.handle_client_first(kClientFirst, out) == Errc::ok);
  CHECK(twice.handle_client_first(kClientFirst, out) == Errc::invalid_state);
  ScramClient client = ScramClient::with_password("x");
  CHECK(client.handle_server_first(kServerFirst, out) == Errc::invalid_state);
  REQUIRE(client.client_first(out) == Errc::ok);
  CHECK(client.client_first(out) == Errc::invalid_state);
  CHECK(client.handle_server_final(kServerFinal) == Errc::invalid_state);
}

TEST_CASE("scram: client checks the server", "[protocol][scram]") {
  auto client_at_final = [] {
    ScramClient c = ScramClient::with_password("pencil", {"rOprNGfwEbeRWgbNEkqO", "user", 4096});
    std::string a, b;
    REQUIRE(c.client_first(a) == Errc::ok);
    REQUIRE(c.handle_server_first(kServerFirst, b) == Errc::ok);
    return c;
  };
  CHECK(client_at_final().handle_server_final("e=invalid-proof") == Errc::auth_failed);
  CHECK(client_at_final().handle_server_final("v=" + base64_encode(std::string(32, 'z'))) ==
        Errc::auth_failed);
  CHECK(client_at_final().handle_server_final("garbage") == Errc::malformed);

  auto server_first = [](std::string_view msg, uint32_t max_iter = 1u << 20) {
    ScramClient c = ScramClient::with_password("pencil", {"abc", "", max_iter});
    std::string a, b;
    REQUIRE(c.client_first(a) == Errc::ok);
    return c.handle_server_first(msg, b);
  };
  CHECK(server_first("r=abcdef,s=c2FsdA==,i=4096") == Errc::ok);
  CHECK(server_first("r=abc,s=c2FsdA==,i=4096") == Errc::malformed);     // nonce not extended
  CHECK(server_first("r=xyzdef,s=c2FsdA==,i=4096") == Errc::malformed);  // not our prefix
  CHECK(server_first("r=abcdef,s=,i=4096") == Errc::malformed);
  CHECK(server_first("r=abcdef,s=c2FsdA==,i=0") == Errc::malformed);
  CHECK(server_first("r=abcdef,s=c2FsdA==,i=-1") == Errc::malformed);
  CHECK(server_first("r=abcdef,s=c2FsdA==") == Errc::malformed);
  CHECK(server_first("m=x,r=abcdef,s=c2FsdA==,i=1") == Errc::unsupported);
  CHECK(server_first("r=abcdef,s=c2FsdA==,i=5000", 4096) == Errc::unsupported);  // CPU bound
}

TEST_CASE("scram: pass-through with the ClientKey recovered by the server", "[protocol][scram]") {
  // One verifier held by both pgscale (YAML) and the real server (pg_authid).
  Verifier shared;
  REQUIRE(parse_verifier(make_verifier("s3cret", 4096), shared) == Errc::ok);

  // 1. The application authenticates to pgscale.
  ScramServer front(shared);
  ScramClient app = ScramClient::with_password("s3cret");
  REQUIRE(run(app, front).client_verify == Errc::ok);
  Key recovered = front.client_key();
  CHECK(recovered != Key{});

  // 2. pgscale authenticates to the server without knowing the password.
  ScramServer backend(shared);
  ScramClient proxy = ScramClient::with_keys(recovered, front.verifier());
  Exchange e = run(proxy, backend);
  CHECK(e.server_final == Errc::ok);
  CHECK(e.client_verify == Errc::ok);

  // 3. A server whose verifier has another salt: detected before sending a proof.
  Verifier other;
  REQUIRE(parse_verifier(make_verifier("s3cret", 4096), other) == Errc::ok);
  ScramServer mismatched(other);
  ScramClient proxy2 = ScramClient::with_keys(recovered, shared);
  CHECK(run(proxy2, mismatched).client_final == Errc::key_mismatch);

  // 4. A wrong key is refused by the server.
  Key wrong = recovered;
  wrong[0] ^= 1;
  ScramServer backend2(shared);
  ScramClient proxy3 = ScramClient::with_keys(wrong, shared);
  CHECK(run(proxy3, backend2).server_final == Errc::auth_failed);
}

TEST_CASE("scram: saslprep keeps ASCII and falls back to raw bytes", "[protocol][scram]") {
  CHECK(saslprep("pencil") == "pencil");
  CHECK(saslprep("p\xc3\xa9ncil") == "p\xc3\xa9ncil");
  CHECK(saslprep("\xff\xfe") == "\xff\xfe");
}

TEST_CASE("crypto: base64 and constant-time compare", "[protocol][scram]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  std::string out;
  REQUIRE(base64_decode("Zm9vYmE=", out));
  CHECK(out == "fooba");
  REQUIRE(base64_decode("Zg==", out));
  CHECK(out == "f");
  CHECK_FALSE(base64_decode("Zg=", out));
  CHECK_FALSE(base64_decode("Z===", out));
  CHECK_FALSE(base64_decode("Zg==Zg==", out));
  CHECK_FALSE(base64_decode("Zm9*", out));
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
  CHECK(constant_time_equal("", ""));
  unsigned char a[16] = {}, b[16] = {};
  REQUIRE(random_bytes(a, sizeof a));
  REQUIRE(random_bytes(b, sizeof b));
  CHECK(std::string_view(reinterpret_cast<char*>(a), 16) !=
        std::string_view(reinterpret_cast<char*>(b), 16));
}

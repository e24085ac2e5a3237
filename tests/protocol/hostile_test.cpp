// Random and hostile bytes through every decoder: never a crash, never a read out of bounds
// (run under PGSCALE_SANITIZE=ON to make that visible), and whatever decodes re-encodes to the
// same bytes (the codec is canonical), which proves the decoder consumed exactly the body.
#include <catch2/catch.hpp>

#include <random>

#include "protocol/messages.hpp"
#include "protocol/md5_auth.hpp"
#include "protocol/scram.hpp"
#include "tests/protocol/test_util.hpp"

using namespace pgscale::protocol;

namespace {

// Decodes `body` as T; when it decodes, re-encoding must reproduce tag + length + body exactly.
template <class T>
bool decode_is_canonical(std::string_view body, char tag) {
  T msg{};
  if (decode(body, msg) != Errc::ok) return true;
  std::string out;
  encode(out, msg);
  return out == test::frame(tag, std::string(body));
}

bool all_decoders_canonical(std::string_view body) {
  return decode_is_canonical<Query>(body, 'Q') && decode_is_canonical<Parse>(body, 'P') &&
         decode_is_canonical<Bind>(body, 'B') && decode_is_canonical<Describe>(body, 'D') &&
         decode_is_canonical<Execute>(body, 'E') && decode_is_canonical<Close>(body, 'C') &&
         decode_is_canonical<Sync>(body, 'S') && decode_is_canonical<CopyData>(body, 'd') &&
         decode_is_canonical<CopyFail>(body, 'f') &&
         decode_is_canonical<PasswordMessage>(body, 'p') &&
         decode_is_canonical<SaslInitialResponse>(body, 'p') &&
         decode_is_canonical<SaslResponse>(body, 'p') &&
         decode_is_canonical<Authentication>(body, 'R') &&
         decode_is_canonical<ParameterStatus>(body, 'S') &&
         decode_is_canonical<BackendKeyData>(body, 'K') &&
         decode_is_canonical<ReadyForQuery>(body, 'Z') &&
         decode_is_canonical<ErrorResponse>(body, 'E') &&
         decode_is_canonical<NoticeResponse>(body, 'N') &&
         decode_is_canonical<CommandComplete>(body, 'C') &&
         decode_is_canonical<RowDescription>(body, 'T') &&
         decode_is_canonical<DataRow>(body, 'D') &&
         decode_is_canonical<ParameterDescription>(body, 't') &&
         decode_is_canonical<CopyInResponse>(body, 'G') &&
         decode_is_canonical<NotificationResponse>(body, 'A') &&
         decode_is_canonical<NegotiateProtocolVersion>(body, 'v');
}

// Random bytes biased towards the values that matter to parsers: 0, 0xff, small counts.
std::string random_bytes_biased(std::mt19937& rng, size_t max_len) {
  std::uniform_int_distribution<size_t> len_dist(0, max_len);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  std::uniform_int_distribution<int> kind(0, 9);
  std::string s(len_dist(rng), '\0');
  for (char& c : s) {
    int k = kind(rng);
    c = k < 3 ? '\0' : k < 4 ? '\xff' : k < 6 ? static_cast<char>(1 + k) : static_cast<char>(byte_dist(rng));
  }
  return s;
}

}  // namespace

TEST_CASE("hostile: random bodies through every message decoder", "[protocol][hostile]") {
  std::mt19937 rng(20261125);
  for (int i = 0; i < 20000; ++i) {
    std::string body = random_bytes_biased(rng, 48);
    INFO("iteration " << i);
    REQUIRE(all_decoders_canonical(body));
  }
}

TEST_CASE("hostile: random buffers through framing never over-read", "[protocol][hostile]") {
  std::mt19937 rng(7);
  const std::string tags = "QPBDECSHXdcfpFRKZNT123ntsGWAvV?\0";
  std::uniform_int_distribution<size_t> tag_pick(0, tags.size() - 1);
  for (int i = 0; i < 20000; ++i) {
    std::string buf = random_bytes_biased(rng, 40);
    if (!buf.empty() && i % 2 == 0) buf[0] = tags[tag_pick(rng)];
    for (Direction dir : {Direction::frontend, Direction::backend}) {
      FrameResult r = decode_frame(dir, buf);
      if (r.errc == Errc::ok) {
        REQUIRE(r.frame.size <= buf.size());
        REQUIRE(r.frame.body.size() + 5 == r.frame.size);
        REQUIRE(is_known_tag(dir, r.frame.tag));
      } else if (r.errc == Errc::incomplete) {
        REQUIRE(r.need > 0);
      }
    }
    StartupFrameResult s = decode_startup_frame(buf);
    if (s.errc == Errc::ok) {
      REQUIRE(s.frame.size <= buf.size());
      StartupMessage m;
      CancelRequest c;
      (void)decode_startup_message(s.frame, m);
      (void)decode_cancel_request(s.frame, c);
      for (const StartupParam& p : m.params) REQUIRE_FALSE(p.name.empty());
    }
  }
}

TEST_CASE("hostile: random text through SCRAM, verifier and tag parsers", "[protocol][hostile]") {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> pick(0, 13);
  const char* alphabet[] = {"n", ",", "=", "r", "s", "i", "c", "p", "v", "e", "biws", "y", "$", ":"};
  scram::Verifier v;
  REQUIRE(scram::derive_verifier("pw", "salt", 1, v) == Errc::ok);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    int n = pick(rng) * 3;
    for (int k = 0; k < n; ++k) s += alphabet[pick(rng)];
    scram::ScramServer server(v, {"servernonce", false});
    std::string out;
    if (server.handle_client_first(s, out) == Errc::ok) {
      (void)server.handle_client_final(s, out);
      REQUIRE_FALSE(server.authenticated());
    }
    scram::ScramClient client = scram::ScramClient::with_password("pw", {"cn", "", 4096});
    REQUIRE(client.client_first(out) == Errc::ok);
    (void)client.handle_server_first(s, out);
    scram::Verifier parsed;
    (void)scram::parse_verifier(s, parsed);
    CommandTag t;
    (void)parse_command_tag(s, t);
  }
}

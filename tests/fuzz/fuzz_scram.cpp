// libFuzzer: SCRAM messages from a hostile client (server side) and a hostile server (client
// side), and stored verifiers. The input is split at the first '\n' into two messages.
#include "protocol/scram.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgscale::protocol;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view first = in.substr(0, nl);
  std::string_view second = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  static const scram::Verifier verifier = [] {
    scram::Verifier v;
    (void)scram::derive_verifier("pencil", "saltsaltsaltsalt", 1, v);
    return v;
  }();
  std::string out;
  scram::ScramServer server(verifier, {"SERVERNONCE", false});
  if (server.handle_client_first(first, out) == Errc::ok) {
    (void)server.handle_client_final(second, out);
  }
  auto client = scram::ScramClient::with_password("pencil", {"CLIENTNONCE", "", 16});
  (void)client.client_first(out);
  if (client.handle_server_first(first, out) == Errc::ok) (void)client.handle_server_final(second);
  scram::Verifier v;
  (void)scram::parse_verifier(in, v);
  return 0;
}

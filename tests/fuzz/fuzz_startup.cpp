// libFuzzer: the first packet of a connection (StartupMessage, SSLRequest, CancelRequest...).
#include "protocol/startup.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgscale::protocol;
  std::string_view buf(reinterpret_cast<const char*>(data), size);
  StartupFrameResult f = decode_startup_frame(buf);
  if (f.errc != Errc::ok) return 0;
  if (f.frame.size > size) __builtin_trap();
  StartupMessage m;
  if (decode_startup_message(f.frame, m) == Errc::ok) {
    std::string out;
    encode_startup_message(out, m);
    if (out != buf.substr(0, f.frame.size)) __builtin_trap();
  }
  CancelRequest c;
  (void)decode_cancel_request(f.frame, c);
  return 0;
}

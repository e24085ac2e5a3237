// libFuzzer: server → client bytes (tagged frames and every backend decoder).
#include "tests/fuzz/decode_all.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgscale::protocol;
  fuzz::frame_all(Direction::backend, {reinterpret_cast<const char*>(data), size});
  return 0;
}

// libFuzzer: client → server bytes (tagged frames and every frontend decoder).
#include "tests/fuzz/decode_all.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgscale::protocol;
  fuzz::frame_all(Direction::frontend, {reinterpret_cast<const char*>(data), size});
  return 0;
}

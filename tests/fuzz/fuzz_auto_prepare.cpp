// libFuzzer: pool.auto_prepare's statement scan (proxy/auto_prepare.cpp) reads every Query a client
// sends and writes its output through a raw pointer. Checks, beyond the sanitizers: the parameter
// count, types and values agree; each value is a number taken from the input; the text holds $1..$n.
#include <cstdlib>
#include <string>

#include "proxy/auto_prepare.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgscale::proxy;
  std::string_view sql(reinterpret_cast<const char*>(data), size);
  static Parameterized p;
  if (!parameterize(sql, p)) {
    if (!p.text.empty() || !p.values.empty() || !p.types.empty()) std::abort();
    return 0;
  }
  if (p.types.size() != p.values.size() || p.text.size() > 4 * size + 16) std::abort();
  for (size_t i = 0; i < p.values.size(); ++i) {
    std::string_view v = p.values[i];
    if (v.empty() || v.data() < sql.data() || v.data() + v.size() > sql.data() + sql.size()) std::abort();
    if (p.types[i] != number_type(v) || p.types[i] == 0) std::abort();
    if (p.text.find("$" + std::to_string(i + 1)) == std::string::npos) std::abort();
  }
  std::string out;
  append_execution(out, "pgscale_s1", p);
  return 0;
}

#include <cstdio>
#include <cstring>

#include "proxy/version.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("pgscale %s\n", pgscale::kVersion);
      return 0;
    }
    if (std::strcmp(argv[i], "--help") == 0) {
      std::printf("usage: pgscale --config FILE [--check] | --version | --help\n");
      return 0;
    }
  }
  std::fprintf(stderr, "pgscale: nothing to do (try --help)\n");
  return 2;
}

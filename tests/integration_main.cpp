// Main of the integration test programs: they need the real local cluster that tests/run.sh starts.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const char* dir = std::getenv("PGSCALE_CLUSTER_DIR");
  if (dir == nullptr || *dir == '\0') {
    std::fprintf(stderr, "skipped: PGSCALE_CLUSTER_DIR is not set (run through tests/run.sh, or "
                         "deploy/local-cluster.sh up DIR and export PGSCALE_CLUSTER_DIR=DIR)\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

// pgscale entry point: flags, config loading, then the Server.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "config/load.hpp"
#include "protocol/scram.hpp"
#include "proxy/check.hpp"
#include "proxy/logging.hpp"
#include "proxy/server.hpp"
#include "proxy/version.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: pgscale --config FILE          run the proxy\n"
               "       pgscale --check FILE           validate FILE and print a summary (exit 0/2)\n"
               "       pgscale --config FILE --check  same\n"
               "       pgscale --hash-password [PW]   print a SCRAM-SHA-256 verifier for PW\n"
               "                                      (read from stdin when PW is omitted)\n"
               "       pgscale --version | --help\n"
               "signals: SIGHUP reloads FILE; SIGTERM/SIGINT drain (bounded by pool.drain_timeout), exit 0\n");
}

int hash_password(const char* arg) {
  std::string pw;
  if (arg) {
    pw = arg;
  } else {
    if (isatty(STDIN_FILENO)) std::fprintf(stderr, "password: ");
    std::getline(std::cin, pw);
  }
  if (pw.empty()) {
    std::fprintf(stderr, "pgscale: empty password\n");
    return 2;
  }
  std::printf("%s\n", pgscale::protocol::scram::make_verifier(pw).c_str());
  return 0;
}

int serve(const std::string& path) {
  auto result = pgscale::config::load_file(path);
  if (!result.ok()) {
    std::fprintf(stderr, "pgscale: invalid configuration %s:\n%s", path.c_str(),
                 pgscale::format_errors(result.errors).c_str());
    return 2;
  }
  pgscale::setup_logging(result.config->log.level);
  pgscale::proxy::Server server(path, std::move(*result.config));
  return server.run();
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--version") {
      std::printf("pgscale %s\n", pgscale::kVersion);
      return 0;
    }
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    }
    if (a == "--hash-password") return hash_password(i + 1 < argc ? argv[i + 1] : nullptr);
    if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--check") {
      check = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') config_path = argv[++i];
    } else {
      std::fprintf(stderr, "pgscale: unknown argument %s\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    usage(stderr);
    return 2;
  }
  if (check) return pgscale::run_check(config_path, stdout);
  return serve(config_path);
}

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "helpers.hpp"
#include "proxy/check.hpp"

namespace {

// Runs run_check with a temp FILE and returns {exit code, everything printed}.
std::pair<int, std::string> check(const std::string& path) {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  const int rc = pgscale::run_check(path, f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return {rc, out};
}

}  // namespace

TEST_CASE("check: on a valid file prints a summary and returns 0", "[config][check]") {
  const auto [rc, out] = check(pgscale::config::test::example("pgscale.yaml"));
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("configuration is valid") != std::string::npos);
  CHECK(out.find("listen: 127.0.0.1:6432") != std::string::npos);
  CHECK(out.find("users (2): app (scram-sha-256), report (md5)") != std::string::npos);
  CHECK(out.find("pool: transaction, max_size 20") != std::string::npos);
  CHECK(out.find("shard s1: buckets 512..1023") != std::string::npos);
  CHECK(out.find("s0-replica2  replica  127.0.0.1:15434") != std::string::npos);
}

TEST_CASE("check: a node on a unix-domain socket is shown by its socket path", "[config][check]") {
  std::ifstream in(pgscale::config::test::example("pgscale.yaml"));
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string tcp = "host: 127.0.0.1, port: 15434";
  const auto at = yaml.find(tcp);
  REQUIRE(at != std::string::npos);
  yaml.replace(at, tcp.size(), "host: /var/run/postgresql, port: 15434");
  const std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                           "/pgscale-check-socket-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << yaml;
  const auto [rc, out] = check(path);
  std::remove(path.c_str());
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("s0-replica2  replica  /var/run/postgresql/.s.PGSQL.15434\n") != std::string::npos);
  CHECK(out.find("s0-replica1  replica  127.0.0.1:15433") != std::string::npos);
}

TEST_CASE("check: on the broken example prints every error and returns 2", "[config][check]") {
  const auto [rc, out] = check(pgscale::config::test::example("broken.yaml"));
  INFO(out);
  CHECK(rc == 2);
  CHECK(out.find("shards[1].nodes[0].port: must be 1..65535") != std::string::npos);
  CHECK(out.find("listen.prot: unknown key (did you mean 'port'?) (line 4, column 3)") !=
        std::string::npos);
  CHECK(out.find("19 error(s)") != std::string::npos);
  // One line per error plus the count line.
  CHECK(std::count(out.begin(), out.end(), '\n') == 20);
}

TEST_CASE("check: on a missing file returns 2", "[config][check]") {
  const auto [rc, out] = check("/nonexistent/pgscale.yaml");
  CHECK(rc == 2);
  CHECK(out.find("cannot read /nonexistent/pgscale.yaml") != std::string::npos);
}

TEST_CASE("format_errors prints one line per error", "[config][check]") {
  const std::string s = pgscale::format_errors(
      {{"shards[1].nodes[0].port", "must be 1..65535", 0, 0}, {"", "syntax", 3, 7}});
  CHECK(s == "shards[1].nodes[0].port: must be 1..65535\nline 3, column 7: syntax\n");
}

TEST_CASE("the config reference embeds the annotated example verbatim", "[config][docs]") {
  std::ifstream readme(std::string(PGSCALE_SOURCE_DIR) + "/config/README.md");
  std::ifstream example(pgscale::config::test::example("pgscale.yaml"));
  REQUIRE(readme);
  REQUIRE(example);
  const std::string doc((std::istreambuf_iterator<char>(readme)), {});
  const std::string yaml((std::istreambuf_iterator<char>(example)), {});
  const size_t section = doc.find("## Annotated example");
  REQUIRE(section != std::string::npos);
  const size_t start = doc.find("```yaml\n", section);
  REQUIRE(start != std::string::npos);
  const size_t end = doc.find("```", start + 8);
  REQUIRE(end != std::string::npos);
  CHECK(doc.substr(start + 8, end - start - 8) == yaml);
}

// Re-sending a read after its replica failed (route_resend.hpp): which bytes go again and which
// shared prepared statements the new server must get first. Pure, no sockets.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proxy/prepared.hpp"
#include "proxy/route_resend.hpp"

using namespace pgscale::proxy;

namespace {

void frame(std::string& out, char tag, const std::string& body) {
  out += tag;
  uint32_t len = static_cast<uint32_t>(body.size() + 4);
  for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((len >> s) & 0xff);
  out += body;
}
std::string z(const std::string& s) { return s + '\0'; }
void parse(std::string& out, const std::string& name, const std::string& sql) {
  frame(out, 'P', z(name) + z(sql) + std::string(2, '\0'));
}
void bind_frame(std::string& out, const std::string& stmt) {
  frame(out, 'B', z("") + z(stmt) + std::string(6, '\0'));  // no formats, params, result formats
}
void close_stmt(std::string& out, const std::string& name) { frame(out, 'C', "S" + z(name)); }
void execute(std::string& out) { frame(out, 'E', z("") + std::string(4, '\0')); }
void sync(std::string& out) { frame(out, 'S', ""); }

struct Statements {
  StatementPtr a = statement_registry().intern("SELECT abalance FROM pgbench_accounts WHERE aid = $1", {});
  StatementPtr b = statement_registry().intern("SELECT 2 /* router_resend_test */", {});
  StatementPtr resolve(std::string_view name) const {
    if (name == a->server_name) return a;
    if (name == b->server_name) return b;
    return nullptr;
  }
  auto resolver() const {
    return [this](std::string_view n) { return resolve(n); };
  }
};

}  // namespace

TEST_CASE("router resend: unnamed statements go again as they are") {
  Statements st;
  std::string sent;
  parse(sent, "", "SELECT 1");
  bind_frame(sent, "");
  execute(sent);
  sync(sent);
  auto plan = plan_resend(sent, 0, st.resolver());
  REQUIRE(plan);
  CHECK(plan->rest == sent);
  CHECK(plan->need_parse.empty());
  CHECK(resend_preparation(*plan).empty() == false);  // just a Sync when called
}

TEST_CASE("router resend: a Bind of a shared statement the failed server already had") {
  Statements st;
  std::string sent;
  bind_frame(sent, st.a->server_name);
  execute(sent);
  sync(sent);
  auto plan = plan_resend(sent, 0, st.resolver());
  REQUIRE(plan);
  CHECK(plan->rest == sent);
  REQUIRE(plan->need_parse.size() == 1);
  CHECK(plan->need_parse[0]->id == st.a->id);
  // Close (the new server may hold an older copy or none) then Parse then Sync.
  std::string want;
  close_stmt(want, st.a->server_name);
  want += st.a->parse_frame;
  sync(want);
  CHECK(resend_preparation(*plan) == want);
}

TEST_CASE("router resend: inserted Close+Parse the failed server answered are not sent again") {
  Statements st;
  std::string head, tail;
  close_stmt(head, st.a->server_name);
  head += st.a->parse_frame;
  bind_frame(tail, st.a->server_name);
  execute(tail);
  sync(tail);
  std::string sent = head + tail;
  SECTION("nothing answered: all of it, the Parse in it creates the statement") {
    auto plan = plan_resend(sent, 0, st.resolver());
    REQUIRE(plan);
    CHECK(plan->rest == sent);
    CHECK(plan->need_parse.empty());
    CHECK(plan->parsed_names == std::vector<std::string>{st.a->server_name});
  }
  SECTION("Close answered: Parse onwards, the new server's copy closed first") {
    auto plan = plan_resend(sent, 1, st.resolver());
    REQUIRE(plan);
    CHECK(plan->rest == std::string_view(sent).substr(sent.size() - tail.size() - st.a->parse_frame.size()));
    CHECK(plan->need_parse.empty());
    std::string want;
    close_stmt(want, st.a->server_name);
    sync(want);
    CHECK(resend_preparation(*plan) == want);
  }
  SECTION("Close and Parse answered: the Bind onwards, the statement prepared out of band") {
    auto plan = plan_resend(sent, 2, st.resolver());
    REQUIRE(plan);
    CHECK(plan->rest == tail);
    REQUIRE(plan->need_parse.size() == 1);
    CHECK(plan->need_parse[0]->id == st.a->id);
  }
}

TEST_CASE("router resend: what cannot be re-sent") {
  Statements st;
  std::string unknown;
  bind_frame(unknown, "pgscale_s999999999");  // no statement known by that name
  execute(unknown);
  sync(unknown);
  CHECK_FALSE(plan_resend(unknown, 0, st.resolver()));
  std::string client_name;
  bind_frame(client_name, "my_stmt");  // a client name never reaches a server
  sync(client_name);
  CHECK_FALSE(plan_resend(client_name, 0, st.resolver()));
  std::string unnamed_alone;
  bind_frame(unnamed_alone, "");  // its Parse went in an earlier transaction
  sync(unnamed_alone);
  CHECK_FALSE(plan_resend(unnamed_alone, 0, st.resolver()));
  std::string answered_bind;  // an answered message that was not an inserted Close/Parse
  bind_frame(answered_bind, st.a->server_name);
  sync(answered_bind);
  CHECK_FALSE(plan_resend(answered_bind, 1, st.resolver()));
  std::string cut;
  bind_frame(cut, st.a->server_name);
  CHECK_FALSE(plan_resend(std::string_view(cut).substr(0, cut.size() - 2), 0, st.resolver()));
}

TEST_CASE("router resend: several statements, each prepared once") {
  Statements st;
  std::string sent;
  for (int i = 0; i < 3; ++i) {
    bind_frame(sent, st.a->server_name);
    execute(sent);
    bind_frame(sent, st.b->server_name);
    execute(sent);
    sync(sent);
  }
  auto plan = plan_resend(sent, 0, st.resolver());
  REQUIRE(plan);
  REQUIRE(plan->need_parse.size() == 2);
  CHECK(plan->need_parse[0]->id == st.a->id);
  CHECK(plan->need_parse[1]->id == st.b->id);
}

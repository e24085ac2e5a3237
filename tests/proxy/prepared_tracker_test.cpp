// ResponseTracker: which server reply belongs to which request, dropped and inserted replies,
// replaced errors, and PostgreSQL's skip-to-Sync after an error.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "protocol/wire.hpp"
#include "proxy/prepared_tracker.hpp"
#include "proxy/replies.hpp"

using namespace pgscale::proxy;
using Expect = TrackedRequest::Expect;
using OnReply = TrackedRequest::OnReply;
using Action = ResponseTracker::Action;

namespace {
struct Undos : UndoSink {
  std::vector<std::string> seen;
  void undo(const TrackedRequest& r) override { seen.push_back(r.client_name + ":" + std::to_string(r.undo)); }
};

struct Out {
  std::string before, after, replacement;
  Action action = Action::forward;
};

Out reply(ResponseTracker& t, Undos& u, char tag, std::string body = "") {
  Out o;
  o.action = t.on_server(tag, body, true, o.before, o.after, o.replacement, u);
  return o;
}

TrackedRequest req(Expect e, OnReply on = OnReply::forward) {
  TrackedRequest r;
  r.expect = e;
  r.on_reply = on;
  return r;
}

TrackedRequest local(std::string text, std::string name = "", uint8_t undo = TrackedRequest::none) {
  TrackedRequest r;
  r.expect = Expect::local;
  r.text = std::move(text);
  r.client_name = std::move(name);
  r.undo = undo;
  return r;
}

std::string error_body(const std::string& code) {
  std::string e;
  append_error(e, Severity::error, code, "x");
  return e.substr(5);
}
}  // namespace

TEST_CASE("tracker: plain extended pipeline is forwarded untouched", "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  for (Expect e : {Expect::parse, Expect::bind, Expect::describe, Expect::execute, Expect::ready}) t.push(e);
  CHECK(t.trivial());
  for (char tag : {'1', '2', 'T', 'D', 'D', 'C'}) {
    auto o = reply(t, u, tag);
    CHECK(o.action == Action::forward);
    CHECK(o.before.empty());
    CHECK(o.after.empty());
  }
  CHECK(t.size() == 1);
  reply(t, u, 'Z', "T");
  CHECK(t.idle());
  CHECK(t.tx_status() == 'T');
}

TEST_CASE("tracker: an inserted Parse's ParseComplete is swallowed, a local ParseComplete inserted in order",
          "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  t.push(req(Expect::close, OnReply::swallow), u);  // Close before the inserted Parse
  t.push(req(Expect::parse, OnReply::swallow), u);  // inserted Parse
  t.push(Expect::bind);
  t.push(Expect::execute);
  t.push(local("<PC>"), u);  // the client's next Parse: the server already has it
  t.push(Expect::bind);
  t.push(Expect::execute);
  t.push(Expect::ready);
  CHECK_FALSE(t.trivial());
  CHECK(reply(t, u, '3').action == Action::drop);
  CHECK(reply(t, u, '1').action == Action::drop);
  CHECK(reply(t, u, '2').action == Action::forward);
  CHECK(reply(t, u, 'D').action == Action::forward);  // a row: no request ends
  auto o = reply(t, u, 'C');
  CHECK(o.action == Action::forward);
  CHECK(o.after == "<PC>");  // right after the first Execute's CommandComplete
  CHECK(reply(t, u, '2').before.empty());
  reply(t, u, 'C');
  reply(t, u, 'Z', "I");
  CHECK(t.idle());
  CHECK(t.trivial());
  CHECK(u.seen.empty());
}

TEST_CASE("tracker: asynchronous messages never end a request", "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  t.push(Expect::parse);
  t.push(local("<L>"), u);
  CHECK(reply(t, u, 'N').after.empty());
  CHECK(reply(t, u, 'S').after.empty());
  CHECK(reply(t, u, 'A').after.empty());
  CHECK(t.size() == 2);
  CHECK(reply(t, u, '1').after == "<L>");
}

TEST_CASE("tracker: local replies at the front are taken by the client loop", "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  t.push(local("<CC>"), u);
  TrackedRequest q = local("<CMD>");
  q.local_ready = true;
  t.push(std::move(q), u);
  std::string out;
  t.take_front_locals(out);
  std::string z;
  append_ready_for_query(z, 'I');
  CHECK(out == "<CC><CMD>" + z);
  CHECK(t.idle());
}

TEST_CASE("tracker: an error skips to Sync, undoing skipped requests and dropping their local replies",
          "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  TrackedRequest p = req(Expect::parse);
  p.client_name = "s1";
  p.undo = TrackedRequest::drop_client_name | TrackedRequest::drop_server_statement;
  t.push(std::move(p), u);                                            // fails
  t.push(local("<PC s2>", "s2", TrackedRequest::drop_client_name), u);  // skipped: undone, never sent
  t.push(Expect::bind);
  t.push(local("<CC s3>", "s3", TrackedRequest::restore_client_name), u);
  t.push(Expect::ready);
  auto o = reply(t, u, 'E', error_body("42601"));
  CHECK(o.action == Action::forward);
  CHECK(o.after.empty());
  CHECK(u.seen == std::vector<std::string>{"s1:3", "s2:2", "s3:4"});
  CHECK(t.size() == 1);  // only the Sync
  reply(t, u, 'Z', "I");
  CHECK(t.idle());
}

TEST_CASE("tracker: requests sent after the error but before Sync are skipped too", "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  t.push(Expect::execute);
  reply(t, u, 'E', error_body("22012"));
  CHECK(t.skipping());
  t.push(local("<PC>", "late", TrackedRequest::drop_client_name), u);
  t.push(Expect::bind);
  CHECK(t.idle());
  CHECK(u.seen == std::vector<std::string>{"late:2"});
  t.push(Expect::ready);
  CHECK_FALSE(t.skipping());
  t.push(local("<after sync>"), u);
  CHECK(reply(t, u, 'Z', "I").after == "<after sync>");
}

TEST_CASE("tracker: a provoked 26000 is replaced by pgscale's own error, other errors pass",
          "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  TrackedRequest b = req(Expect::bind, OnReply::replace_error);
  b.text = "<OUR 42P05>";
  t.push(std::move(b), u);
  t.push(Expect::ready);
  auto o = reply(t, u, 'E', error_body("26000"));
  CHECK(o.action == Action::replace);
  CHECK(o.replacement == "<OUR 42P05>");
  reply(t, u, 'Z', "I");

  TrackedRequest b2 = req(Expect::bind, OnReply::replace_error);
  b2.text = "<OUR>";
  t.push(std::move(b2), u);
  t.push(Expect::ready);
  CHECK(reply(t, u, 'E', error_body("25P02")).action == Action::forward);  // aborted transaction wins
}

TEST_CASE("tracker: an error at Sync (commit failure) does not skip the ReadyForQuery", "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  t.push(Expect::ready);
  t.push(local("<next>"), u);
  CHECK(reply(t, u, 'E', error_body("23505")).action == Action::forward);
  CHECK(t.size() == 2);
  CHECK(reply(t, u, 'Z', "I").after == "<next>");
}

TEST_CASE("tracker: simple query replies end only at ReadyForQuery", "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  t.push(Expect::ready);  // Query
  t.push(local("<L>"), u);
  for (char tag : {'T', 'D', 'C', 'I', 'E'}) CHECK(reply(t, u, tag).after.empty());
  CHECK(reply(t, u, 'Z', "E").after == "<L>");
  CHECK(t.tx_status() == 'E');
}

TEST_CASE("tracker: reset undoes everything still owed", "[prepared][tracker]") {
  ResponseTracker t;
  Undos u;
  TrackedRequest p = req(Expect::parse);
  p.client_name = "a";
  p.undo = TrackedRequest::drop_client_name;
  t.push(std::move(p), u);
  t.push(Expect::ready);
  t.reset(u);
  CHECK(t.idle());
  CHECK(u.seen == std::vector<std::string>{"a:2"});
  CHECK(t.tx_status() == 'I');
}

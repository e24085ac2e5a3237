#include "proxy/prepared_tracker.hpp"

#include "protocol/response.hpp"
#include "proxy/replies.hpp"

namespace pgscale::proxy {

namespace {
using Expect = TrackedRequest::Expect;
using OnReply = TrackedRequest::OnReply;

bool completes(Expect e, char tag) {
  switch (e) {
    case Expect::parse: return tag == '1';
    case Expect::bind: return tag == '2';
    case Expect::close: return tag == '3';
    case Expect::describe: return tag == 'T' || tag == 'n';
    case Expect::execute: return tag == 'C' || tag == 'I' || tag == 's';
    case Expect::ready: return tag == 'Z';
    case Expect::local: return false;
  }
  return false;
}

bool is_asynchronous(char tag) { return tag == 'N' || tag == 'S' || tag == 'A'; }

bool error_is_missing_statement(std::string_view body) {
  protocol::ErrorResponse e;
  return protocol::decode(body, e) == protocol::Errc::ok && e.sqlstate() == "26000";
}
}  // namespace

void ResponseTracker::push(TrackedRequest r, UndoSink& sink) {
  if (skipping_ && r.expect != Expect::ready) {  // the server skips it: no reply, undo its effect
    if (r.undo != TrackedRequest::none) sink.undo(r);
    return;
  }
  if (r.expect == Expect::ready) skipping_ = false;
  if (is_special(r)) ++special_;
  queue().push_back(std::move(r));
}

// pop_front/fail_front: only with a non-empty queue (queue_ exists).
void ResponseTracker::pop_front() {
  if (is_special(queue_->front())) --special_;
  queue_->pop_front();
}

void ResponseTracker::fail_front(UndoSink& sink) {
  if (queue_->front().undo != TrackedRequest::none) sink.undo(queue_->front());
  pop_front();
}

void ResponseTracker::skip_to_sync(UndoSink& sink) {
  while (!idle() && queue_->front().expect != Expect::ready) fail_front(sink);
  if (idle()) skipping_ = true;
}

void ResponseTracker::emit_locals(std::string& out) {
  while (!idle() && queue_->front().expect == Expect::local) {
    out += queue_->front().text;
    if (queue_->front().local_ready) append_ready_for_query(out, tx_status_);
    pop_front();
  }
}

void ResponseTracker::take_front_locals(std::string& out) { emit_locals(out); }

ResponseTracker::Action ResponseTracker::on_server(char tag, std::string_view body, bool whole, std::string& before,
                                                   std::string& after, std::string& replacement, UndoSink& sink) {
  if (is_asynchronous(tag)) return Action::forward;
  emit_locals(before);
  if (tag == 'Z' && !body.empty()) tx_status_ = body[0];
  if (idle()) return Action::forward;
  TrackedRequest& front = queue_->front();
  if (tag == 'E' && front.expect != Expect::ready) {
    Action a = Action::forward;
    if (front.on_reply == OnReply::replace_error && whole && error_is_missing_statement(body)) {
      replacement = front.text;
      a = Action::replace;
    }
    if (front.on_reply == OnReply::probe && whole) a = Action::drop;
    fail_front(sink);
    skip_to_sync(sink);
    return a;
  }
  if (!completes(front.expect, tag)) return Action::forward;
  const bool drop = front.on_reply == OnReply::swallow || front.on_reply == OnReply::probe ||
                    (front.on_reply == OnReply::rows_only && tag == 'n');
  Action a = drop ? Action::drop : Action::forward;
  if (front.expect == Expect::parse && front.stmt) front.stmt->validated.store(true, std::memory_order_relaxed);
  pop_front();
  emit_locals(after);
  return a;
}

void ResponseTracker::reset(UndoSink& sink) {
  // A try that never got its answer was not refused: its shape may be tried again.
  if (queue_) {
    for (TrackedRequest& r : *queue_) r.undo &= static_cast<uint8_t>(~TrackedRequest::reject_auto);
  }
  while (!idle()) fail_front(sink);
  special_ = 0;
  skipping_ = false;
  tx_status_ = 'I';
}

}  // namespace pgscale::proxy

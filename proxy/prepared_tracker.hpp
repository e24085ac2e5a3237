#pragma once
// Which reply the server owes for each message the relay sent it, so pgscale can drop replies to
// messages it inserted (a Parse before a Bind, a Close of an evicted statement), insert replies
// to messages it answered itself (ParseComplete of a statement the server already has,
// CloseComplete), and replace errors it provoked on purpose (kMissingStatement). No Asio.
//
// Reply rules (PostgreSQL docs 55.2.3 "Extended Query", 55.2.2 "Simple Query"): Parse ->
// ParseComplete, Bind -> BindComplete, Close -> CloseComplete, Describe -> [ParameterDescription]
// RowDescription|NoData, Execute -> ... CommandComplete|EmptyQueryResponse|PortalSuspended,
// Sync/Query/FunctionCall -> ... ReadyForQuery, Flush -> nothing. An ErrorResponse ends the
// current extended-protocol message and the server then skips every message up to Sync: those
// get no reply, so replies pgscale would have inserted for them are dropped too.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/prepared.hpp"

namespace pgscale::proxy {

struct TrackedRequest {
  enum class Expect : uint8_t { parse, bind, close, describe, execute, ready, local };
  // swallow: drop the success reply; probe: drop the reply and an error (pgscale's own try, the
  // client owes nothing); rows_only: a Describe whose RowDescription is forwarded and NoData
  // dropped (a Query answers so).
  enum class OnReply : uint8_t { forward, swallow, replace_error, probe, rows_only };
  // What to undo when the request fails or is skipped (bit set).
  enum Undo : uint8_t {
    none = 0,
    drop_server_statement = 1,
    drop_client_name = 2,
    restore_client_name = 4,
    reject_auto = 8,  // the statement is not to be auto-prepared again
  };

  Expect expect = Expect::ready;
  OnReply on_reply = OnReply::forward;
  uint8_t undo = none;
  bool local_ready = false;  // local: append ReadyForQuery with the current status after `text`
  std::string text;          // local: reply bytes; replace_error: the ErrorResponse to send instead
  StatementPtr stmt;         // the statement an undo is about
  std::string client_name;   // for client_name / restore_client_name
};

// A request that failed or was skipped, for the caller to undo its bookkeeping.
struct UndoSink {
  virtual void undo(const TrackedRequest& r) = 0;
  virtual ~UndoSink() = default;
};

class ResponseTracker {
 public:
  enum class Action : uint8_t { forward, drop, replace };

  // A message sent to the server (or answered locally, Expect::local). Flush and CopyData /
  // CopyDone / CopyFail are not requests: do not push them.
  void push(TrackedRequest r, UndoSink& sink);
  void push(TrackedRequest::Expect e) {
    if (skipping_ && e != TrackedRequest::Expect::ready) return;  // the server skips it too
    if (e == TrackedRequest::Expect::ready) skipping_ = false;
    queue().emplace_back().expect = e;
  }
  // One server message. Appends to `before` the local replies due ahead of it and to `after`
  // those due right after it; `replacement` is set for Action::replace. `whole` = the body is
  // complete (a streamed message is always forwarded).
  Action on_server(char tag, std::string_view body, bool whole, std::string& before, std::string& after,
                   std::string& replacement, UndoSink& sink);
  // Local replies now at the front (nothing from the server is owed before them).
  void take_front_locals(std::string& out);
  // True when every reply is forwarded as is (the pump may relay bytes without looking).
  bool trivial() const noexcept { return special_ == 0; }
  bool idle() const noexcept { return !queue_ || queue_->empty(); }
  // take_front_locals would take something.
  bool front_is_local() const noexcept {
    return queue_ && !queue_->empty() && queue_->front().expect == TrackedRequest::Expect::local;
  }
  size_t size() const noexcept { return queue_ ? queue_->size() : 0; }
  bool skipping() const noexcept { return skipping_; }
  char tx_status() const noexcept { return tx_status_; }
  // A new server (or the old one lost): nothing is owed any more; undo what never completed.
  void reset(UndoSink& sink);
  // Frees the queue's storage while nothing is owed (a session going idle); the next push
  // allocates it again.
  void release() noexcept {
    if (idle()) queue_.reset();
  }

 private:
  static bool is_special(const TrackedRequest& r) {
    return r.expect == TrackedRequest::Expect::local || r.on_reply != TrackedRequest::OnReply::forward ||
           r.undo != TrackedRequest::none;
  }
  void pop_front();
  void fail_front(UndoSink& sink);
  void skip_to_sync(UndoSink& sink);
  void emit_locals(std::string& out);

  using Queue = std::deque<TrackedRequest>;
  Queue& queue() {
    if (!queue_) queue_ = std::make_unique<Queue>();
    return *queue_;
  }
  // Made at the first push, not with the session: an empty std::deque already holds its map and
  // one node (~580 bytes with malloc's overhead), which an idle client must not pay.
  std::unique_ptr<Queue> queue_;
  size_t special_ = 0;  // entries for which is_special()
  bool skipping_ = false;  // an error was seen and no Sync has been pushed since
  char tx_status_ = 'I';
};

}  // namespace pgscale::proxy

// The pump's work on one server read (client_relay.cpp runs the pump): replies relayed to the
// client as they are, or rewritten where pgscale answers for the prepared-statement relay; a
// server's FATAL or shutdown notice turned into a lost server (retried elsewhere when it was a
// replica's read not yet answered); the server released at the ReadyForQuery that ends the
// transaction.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "protocol/response.hpp"
#include "protocol/startup.hpp"
#include "proxy/client_session.hpp"

namespace pgscale::proxy {

namespace {
// FATAL/PANIC from a server means it is about to close: pgscale keeps the client and reports the
// loss itself instead of relaying a FATAL the client would take as the end of its session.
bool is_fatal_error(std::string_view body, std::string& text) {
  protocol::ErrorResponse e;
  if (protocol::decode(body, e) != protocol::Errc::ok) return false;
  auto sev = e.severity();
  if (sev != "FATAL" && sev != "PANIC") return false;
  text = std::string(e.sqlstate()) + " " + std::string(e.message());
  return true;
}

// A server killed by SIGQUIT (pg_ctl stop -m immediate, a crash of another backend) says so in a
// WARNING NoticeResponse (57P01/57P02) and closes: like FATAL, the loss is pgscale's to report —
// and a read not yet answered can still be retried elsewhere if the notice is not relayed.
bool is_shutdown_notice(std::string_view body, std::string& text) {
  protocol::ErrorResponse e;
  if (protocol::decode(body, e) != protocol::Errc::ok) return false;
  auto code = e.sqlstate();
  if (code != "57P01" && code != "57P02" && code != "57P03") return false;
  text = std::string(code) + " " + std::string(e.message());
  return true;
}

// A server killed while it answers (pg_ctl stop -m immediate) flushes what it had buffered — the
// RowDescription and rows of the statement it was running — together with its 57P01 notice. Those
// bytes need not reach the client: a read whose answer is held back can run again elsewhere and
// produce them in full. Tracks, over one server read, the output that holds complete answers (up
// to the last ReadyForQuery that answered everything sent) and whether what follows is only such
// a plain partial answer. Anything else — an error, a reply pgscale inserted or replaced, a cut
// frame, the ReadyForQuery of an earlier sync point — commits the client to this server.
struct ReplayableTail {
  bool committed = false;   // a byte of the outstanding answer reached, or must reach, the client
  size_t complete_out = 0;  // output bytes up to the last answered-everything ReadyForQuery
  void note(bool completes_all, bool plain, bool whole, char tag, size_t out_len) {
    if (completes_all) {
      complete_out = out_len;
      committed = false;
    } else if (!plain || !whole || tag == 'Z' || tag == 'E') {
      committed = true;
    }
  }
};
}  // namespace

// One server read, as on_server_frame() goes through its messages. Replies pgscale drops,
// inserts or replaces (prepared statements) turn the zero-copy relay of `data` into pump_out():
// the bytes up to `copied` are in it.
struct ClientSession::ServerRead {
  std::string_view data;
  size_t fatal_at = std::string_view::npos;  // the server's FATAL/57P01: nothing from it on is relayed
  bool rewritten = false;
  size_t copied = 0;
  bool answered_all = false;  // a ReadyForQuery 'I' answered everything sent so far
  ReplayableTail tail;
};

void ClientSession::on_server_frame(ServerConn& server, ServerRead& rd, char tag, std::string_view body, bool whole) {
  if (rd.fatal_at != std::string_view::npos) return;
  size_t off = static_cast<size_t>(body.data() - rd.data.data()) - 5;
  size_t end = whole ? off + 5 + body.size() : rd.data.size();
  bool completes_all = false;
  if (whole && tag == 'Z' && !body.empty()) {
    tx_status_ = body[0];
    if (pending_syncs_ > 0) --pending_syncs_;
    if (pending_syncs_ == 0 && !unsynced_ && tx_status_ == 'I') {
      // Done with what was sent: a retry after a later failure re-sends only what follows
      // (the client may send its next query before this server is released).
      rd.answered_all = completes_all = true;
      route().sent.clear();
      route().replies_swallowed = 0;
    }
  } else if (whole && tag == 'S') {
    // The client's own SET application_name: keep it for its next servers.
    protocol::ParameterStatus ps;
    if (protocol::decode(body, ps) == protocol::Errc::ok) {
      note_parameter_status(ps.name, ps.value);
      if (ps.name == "application_name") {
        app_name_.assign(ps.value);
        server.set_app_name(ps.value);
      }
    }
  } else if (whole && is_transaction_mode() &&
             ((tag == 'E' && is_fatal_error(body, server_fatal_text())) ||
              (tag == 'N' && is_shutdown_notice(body, server_fatal_text())))) {
    rd.fatal_at = off;
    return;
  }
  before().clear();
  after().clear();
  auto action = tracker_.on_server(tag, body, whole, before(), after(), replacement(), undo_);
  bool unchanged = before().empty() && after().empty();
  if (action == ResponseTracker::Action::forward && unchanged) {
    rd.tail.note(completes_all, true, whole, tag, rd.rewritten ? pump_out().size() + (end - rd.copied) : end);
    return;
  }
  if (action == ResponseTracker::Action::drop) ++route().replies_swallowed;  // a retry skips it
  if (!rd.rewritten) pump_out().clear();
  rd.rewritten = true;
  pump_out().append(rd.data.substr(rd.copied, off - rd.copied));
  pump_out() += before();
  if (action == ResponseTracker::Action::forward) pump_out().append(rd.data.substr(off, end - off));
  else if (action == ResponseTracker::Action::replace) pump_out() += replacement();
  pump_out() += after();
  rd.copied = end;
  rd.tail.note(completes_all, unchanged && action == ResponseTracker::Action::drop, whole, tag, pump_out().size());
}

// What of the read goes to the client now. A ReadyForQuery after which pgscale must read the
// session state back (the transaction may have changed it) moves to `held_ready`: it waits until
// the ParameterStatus corrections are known, so they reach the client before it, as they would
// from PostgreSQL itself.
std::string_view ClientSession::server_output(ServerRead& rd, const ScanResult& r, std::string& held_ready) {
  const bool fatal = rd.fatal_at != std::string_view::npos;
  size_t upto = fatal ? rd.fatal_at : r.forwardable;
  if (rd.rewritten && upto > rd.copied) pump_out().append(rd.data.substr(rd.copied, upto - rd.copied));
  std::string_view out = rd.rewritten ? std::string_view(pump_out()) : rd.data.substr(0, upto);
  if (fatal && !rd.tail.committed && rd.tail.complete_out < out.size() && is_transaction_mode() &&
      route().target == Target::replica) {
    out = out.substr(0, rd.tail.complete_out);  // the dying replica's partial answer: retried elsewhere
  }
  if (is_transaction_mode() && state_.needs_inspect() && pending_syncs_ == 0 && !unsynced_ && tx_status_ == 'I' &&
      r.forwardable == rd.data.size() && !r.malformed && !fatal && out.size() >= 6 && out[out.size() - 6] == 'Z' &&
      out.substr(out.size() - 5, 4) == std::string_view("\0\0\0\5", 4)) {
    held_ready.assign(out.substr(out.size() - 6));
    out.remove_suffix(6);
  }
  return out;
}

// The bytes of one server read (already in sbuf): scanned, relayed, and the server released at
// the ReadyForQuery that ends the transaction. Runs without a coroutine frame of its own — one per
// read was ~10 % of the proxy's instructions per pgbench -S transaction — and hands what must wait
// (a client that does not take the bytes at once, the session-state read-back) to
// finish_server_read.
ClientSession::ReadStep ClientSession::relay_server_read(ServerConn& server, size_t n, bool& release, ReadTail& t) {
  sbuf().commit(n);
  ServerRead rd;
  rd.data = sbuf().readable();
  rd.tail.committed = relayed_since_attach_;
  auto r = sscan().scan(rd.data, [&](char tag, std::string_view body, bool whole) {
    on_server_frame(server, rd, tag, body, whole);
  });
  t.out = server_output(rd, r, t.held_ready);
  t.malformed = r.malformed;
  t.fatal = rd.fatal_at != std::string_view::npos;
  t.forwardable = r.forwardable;
  // Set before the write: the client may send its next query, and the client loop forward it
  // here, while the write is in flight. A read that ends with ReadyForQuery 'I' for everything
  // sent holds only complete answers (and unsolicited messages after them, up to a FATAL/57P01):
  // that next query has had no byte of its answer relayed and can still be retried elsewhere,
  // even when the server announced its end in the same read.
  if (rd.answered_all) relayed_since_attach_ = false;
  else if (!t.out.empty()) relayed_since_attach_ = true;
  t.out_written = t.out.empty() || write_client_now(t.out);
  if (t.out_written && !settle_server_read(server, t, release)) return ReadStep::failed;
  // What waits keeps its place in the client's write order: the client loop may meanwhile answer
  // the client's next message itself (a ParseComplete for a statement some server has), and the
  // tracker has passed this read's replies — the held ReadyForQuery's too.
  if (!t.out_written) t.out_ticket = reserve_write();
  if (!t.held_ready.empty()) t.ready_ticket = reserve_write();
  if (!t.out_written || t.ready_ticket || needs_release_step(release)) return ReadStep::wait;
  end_server_read(release);
  return ReadStep::done;
}

asio::awaitable<bool> ClientSession::finish_server_read(ServerConn& server, bool& release, ReadTail t) {
  if (!t.out_written) {
    bool written = co_await write_reserved(*t.out_ticket, t.out);
    bool settled = written && settle_server_read(server, t, release);
    if (!settled) {
      // Nothing more reaches this client from this read; later writes must not wait for it.
      if (t.ready_ticket) co_await write_reserved(*t.ready_ticket, {});
      co_return false;
    }
  }
  if (needs_release_step(release)) {
    std::string notes;
    release = co_await release_step(server, notes);
    if (t.ready_ticket) {
      t.held_ready.insert(0, notes + parameter_corrections());
    } else if (!notes.empty()) {
      co_await write_client(notes);
    }
    if (server_.get() != &server) {  // closed by the step: the pump ends
      if (t.ready_ticket) co_await write_reserved(*t.ready_ticket, t.held_ready);
      co_return true;
    }
  }
  if (t.ready_ticket) {
    std::string_view ready = t.held_ready;
    // Statements, not one condition: GCC 12 evaluates a condition's operands before a co_await
    // again after the resumption (see process_frames).
    if (!write_reserved_now(*t.ready_ticket, ready)) {
      bool written = co_await write_reserved(*t.ready_ticket, ready);
      if (!written) co_return false;
    }
  }
  // While this read waited (its write, the session-state read-back), the client loop may have
  // sent its next messages to this server (it is still attached): then their replies are owed
  // and the server stays — released now, it would go back to the pool with them unread.
  if (release) release = releasable(server);
  end_server_read(release);
  co_return true;
}

// The read's bytes have reached the client: false if the server is lost (malformed, FATAL);
// whether the server goes back to its pool now.
bool ClientSession::settle_server_read(ServerConn& server, const ReadTail& t, bool& release) {
  if (t.malformed || t.fatal) {
    server_fatal_ = t.fatal;
    return false;
  }
  sbuf().consume(t.forwardable);
  release = releasable(server);
  return true;
}

// Everything sent to `server` is answered and relayed: it may go back to its pool.
bool ClientSession::releasable(const ServerConn& server) {
  return is_transaction_mode() && pending_syncs_ == 0 && !unsynced_ && tx_status_ == 'I' && sbuf().size() == 0 &&
         !sscan().in_streamed_frame() && server_.get() == &server;
}

bool ClientSession::needs_release_step(bool release) const {
  return release && (state_.needs_inspect() || attached_pinned_ || pinned());
}

void ClientSession::end_server_read(bool release) {
  if (release) {
    on_transaction_end();
    release_server(true);
    if (draining_ || rt_.draining.load()) begin_drain();
  }
  if (switch_waiting_) pump_done().cancel();  // the client loop re-checks whether it may go on
}

void ClientSession::release_server(bool reusable) {
  auto server = std::move(server_);
  auto pool = std::move(server_pool_);
  if (cancel_slot_) cancel_slot_->clear();
  if (server && pool) pool->checkin(std::move(server), reusable);
  else if (server) server->stream().close();
}

asio::awaitable<void> ClientSession::on_server_lost(std::string why) {
  if (co_await reroute_after_failure(why)) co_return;  // client_route.cpp: a read retried elsewhere
  std::string name = server_ ? server_->describe() : "server";
  spdlog::warn("client {} user={} db={}: lost {}: {} (awaiting {} ReadyForQuery{}, {})", peer_, user_, database_,
               name, why, pending_syncs_, unsynced_ ? " and more" : "",
               route().target == Target::replica ? "read on a replica" : "primary");
  if (server_) server_->stream().close();
  release_server(false);
  tracker_.reset(undo_);  // nothing more comes from that server; undo what it never confirmed
  sout().clear();
  if (!is_transaction_mode()) {
    co_await fatal(sqlstate::connection_failure, "server connection lost: " + why);
    client_gone_ = true;
    client_.close();
    co_return;
  }
  // Answer exactly what the client waits for: an error, then one ReadyForQuery per sync point
  // in flight; if it is between sync points (or idle in a transaction) it gets the error at its
  // next one (PostgreSQL docs 55.2.3: after an error the server skips to Sync).
  std::string out;
  bool waiting = pending_syncs_ > 0;
  if (waiting) {
    append_error(out, Severity::error, sqlstate::connection_failure,
                 "server connection lost; the transaction was rolled back (" + why + ")");
    for (uint32_t i = 0; i < pending_syncs_; ++i) append_ready_for_query(out, 'I');
  }
  bool skip_after = unsynced_ || (!waiting && tx_status_ != 'I');
  pending_syncs_ = 0;
  unsynced_ = false;
  tx_status_ = 'I';
  skipping_ = skip_after;
  skip_error_sent_ = waiting;
  if (!out.empty()) co_await write_client(out);
}

}  // namespace pgscale::proxy

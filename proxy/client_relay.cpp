// The client loop (client -> server) and the pump (server -> client; what it does with each
// server read is in server_reply.cpp). Both run on the session's executor; see session.hpp for
// when a server is attached and released.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/client_session.hpp"

namespace pgscale::proxy {

namespace {
constexpr size_t kReadChunk = 8 * 1024;
constexpr size_t kServerReadChunk = 8 * 1024;
constexpr size_t kMaxServerBuffer = 256 * 1024;
constexpr size_t kMaxClientBuffer = 2 * 1024 * 1024;
// An implicit transaction held back until its Sync (see client_loop): at most this long, this big.
constexpr auto kHoldUnsynced = std::chrono::seconds(1);
constexpr size_t kMaxHeldBytes = 256 * 1024;
// Up to this many client connections, a session waits for its first query in Asio (see client_loop).
constexpr uint32_t kWaitAfterLogin = 512;

// One turn of the io_context: what was queued before (a woken coroutine) runs first.
asio::awaitable<void> yield_once() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

bool is_sync_point(char tag) { return tag == 'Q' || tag == 'S' || tag == 'F'; }

// Only Parse/Bind/Describe/Execute/Close: the start of an implicit transaction whose Sync (or
// Flush) has not arrived yet.
template <class Frames>
bool unsynced_extended_batch(const Frames& frames) {
  if (frames.empty()) return false;
  for (const auto& f : frames) {
    if (f.tag != 'P' && f.tag != 'B' && f.tag != 'D' && f.tag != 'E' && f.tag != 'C') return false;
  }
  return true;
}

}  // namespace

asio::awaitable<void> ClientSession::client_loop() {
  bool went_idle = false;
  // Look at what is buffered before reading: the held batch's wait read more (TLS), or the client
  // sent its first messages with its last login message (they came in with it).
  bool read_done = cbuf_.size() > 0;
  for (int spins = 0;; ++spins) {
    if (client_gone_ || terminated_) co_return;
    if (draining_ && !server_) {
      co_await fatal(sqlstate::admin_shutdown, "terminating connection due to administrator command");
      co_return;
    }
    error_code ec;
    if (cbuf_.size() == 0 && !server_ && !cscan_.in_streamed_frame() && (spins == 0 || went_idle)) {
      // An idle session (just logged in — the startup packet's buffer goes —, or the pump found
      // it idle for a while) waits without a buffer: an idle client costs its socket and this
      // object, not 16 KiB. A busy one keeps its buffer (no allocation per transaction).
      went_idle = false;
      cbuf_.release();
      // 64 reserved frames are 1.5 KiB of an idle session. Not through frames(): a session that
      // has not sent anything yet has no transaction state to make just for this.
      if (cold_) std::vector<Frame>().swap(cold_->frames);
      if (unparked_) {
        unparked_ = false;  // restarted by park(): the parked wait saw the socket readable
      } else if (spins == 0 && !client_.is_tls() && rt_.clients.load(std::memory_order_relaxed) <= kWaitAfterLogin &&
                 can_park()) {
        // Just logged in: most clients send their first query at once, and parking now would
        // cost five epoll_ctl calls and a second epoll_wait to take the socket out of Asio and
        // back. Wait in Asio instead (one epoll_ctl); the idle check parks the session if its
        // client stays quiet for a second (go_idle cancels this wait). Not with many clients
        // open: the wait and its timer, freed a second later between the sessions that came
        // since, would leave the heap holed (measured: 1.10 KiB per idle client at 10,000
        // instead of 0.97), so there a new session parks at once.
        arm_idle_check();
        client_waiting_ = true;
        co_await client_.wait_readable(ec);
        client_waiting_ = false;
        if (ec) {
          if (ec == asio::error::operation_aborted && idle_cancel_ && !client_gone_) {
            idle_cancel_ = false;
            went_idle = true;
            continue;
          }
          if (ec == asio::error::operation_aborted && draining_ && !client_gone_) continue;
          co_return;
        }
        idle_cancel_ = false;  // a cancel that came too late for the wait
      } else if (can_park()) {
        parked_ = true;  // run_then_end_or_park() leaves a readiness wait without coroutine frames
        co_return;
      } else {
        co_await client_.wait_readable(ec);
        if (ec) {
          if (ec == asio::error::operation_aborted && draining_ && !client_gone_) continue;
          co_return;
        }
      }
    }
    if (frames().capacity() == 0) frames().reserve(16);  // once per wake-up, not per read
    if (!read_done) {
      if (!cbuf_.reserve_more(kReadChunk, kMaxClientBuffer)) {
        co_await fatal(sqlstate::protocol_violation, "client message too large");
        co_return;
      }
      client_reading_ = true;
      auto [read_ec, n] = co_await client_.async_read_some(asio::buffer(cbuf_.write_ptr(), cbuf_.write_space()),
                                                           asio::as_tuple(asio::use_awaitable));
      ec = read_ec;
      client_reading_ = false;
      if (ec) {
        if (ec == asio::error::operation_aborted && idle_cancel_ && !client_gone_) {
          idle_cancel_ = false;  // the pump found the session idle: wait again without the buffer
          went_idle = true;
          continue;
        }
        if (ec == asio::error::operation_aborted && draining_ && !client_gone_) continue;
        co_return;  // the client left (EOF, reset)
      }
      idle_cancel_ = false;  // a cancel that came too late for the read
      cbuf_.commit(n);
    }
    read_done = false;
    std::string_view data = cbuf_.readable();
    frames().clear();
    cold().read_id = next_read_id();
    auto r = cscan_.scan(data, [&](char tag, std::string_view body, bool whole) {
      size_t off = static_cast<size_t>(body.data() - data.data()) - 5;
      frames().push_back({tag, off, whole ? body.size() + 5 : data.size() - off});
    });
    // A streamed Bind is rewritten from its prefix: wait until the prefix holds both names.
    BindNames names;
    if (!frames().empty() && frames().back().tag == 'B' && cscan_.in_streamed_frame() && is_transaction_mode() &&
        !read_bind_names(data.substr(frames().back().offset + 5, frames().back().size - 5), names)) {
      cscan_.reset();
      r.forwardable = frames().back().offset;
      frames().pop_back();
    }
    // Extended-protocol messages of an implicit transaction without their Sync (or a Flush) yet,
    // no server attached: wait for the rest before choosing the node, so that a read followed, in
    // a later TCP segment of the same implicit transaction, by a write starts on the primary as
    // the whole transaction must (on a replica the write would fail with 25006). A client expects
    // no reply before Sync or Flush; the wait is bounded for one that does anyway.
    if (!server_ && !skipping_ && !switch_skip_ && !drop_tail_ && !r.malformed && !cscan_.in_streamed_frame() &&
        is_transaction_mode() && cbuf_.size() <= kMaxHeldBytes && unsynced_extended_batch(frames()) &&
        rt_.config()->routing.read_write_split) {
      Deadline hold(ex_);
      hold.arm(kHoldUnsynced, [this] { client_.cancel(); });
      // A read, not a wait for the socket: over TLS the rest may already sit in records Asio and
      // OpenSSL read with this batch's, which the socket does not show (measured before: 1 in 8
      // such pipelines went to a replica and failed with 25006).
      ec = {};
      size_t n = 0;
      if (cbuf_.reserve_more(kReadChunk, kMaxClientBuffer)) {
        client_reading_ = true;
        std::tie(ec, n) = co_await client_.async_read_some(asio::buffer(cbuf_.write_ptr(), cbuf_.write_space()),
                                                           asio::as_tuple(asio::use_awaitable));
        client_reading_ = false;
        if (!ec) cbuf_.commit(n);
        read_done = !ec;
      }
      hold.disarm();
      if (!ec) continue;  // more bytes: look at the whole batch again
      if (ec != asio::error::operation_aborted || client_gone_) co_return;
    }
    if (!co_await process_frames(r.forwardable)) co_return;
    if (r.malformed) {
      spdlog::info("client {} user={}: bad frame tag={} length={}", peer_, user_, int(r.bad_tag), r.bad_length);
      // Built before the co_await: GCC 12 double-destroys a ?: temporary across a suspension.
      std::string text = r.bad_length ? fmt::format("invalid message length {} for message type {}", r.bad_length, int(r.bad_tag))
                                      : fmt::format("invalid frontend message type {}", int(r.bad_tag));
      co_await fatal(sqlstate::protocol_violation, text);
      co_return;
    }
    cbuf_.consume(r.forwardable);
  }
}

// Forwards the messages of one read as few writes as possible (usually one): frames that need
// no rewriting are written straight from the client buffer; rewritten ones (prepared_relay.cpp)
// go through sout(), together with the bytes around them. Returns false when the session must end.
asio::awaitable<bool> ClientSession::process_frames(size_t forwardable) {
  if (internal_busy_) co_await wait_internal_query();  // pgscale's own query on the attached server goes first
  size_t seg = 0;  // start of the bytes not yet forwarded or dropped
  size_t first = frames().empty() ? forwardable : frames()[0].offset;
  if (first > 0 && (skipping_ || !server_ || drop_tail_ || switch_skip_)) seg = first;  // tail nobody wants
  if (drop_tail_) drop_tail_ = frames().empty() && cscan_.in_streamed_frame();
  // Frames from an attach on were classified by attach_server (summarize_from): check_route only
  // looks at the ones after them (a later read of a pipeline).
  size_t routed_until = 0;
  bool ok = true;  // flush_segment_now's
  size_t sent = 0;
  error_code ec;
  for (size_t i = 0; i < frames().size(); ++i) {
    const Frame& f = frames()[i];
    if (f.tag == 'X') {
      co_await flush_segment(seg, f.offset);
      terminated_ = true;
      co_return false;
    }
    if (f.tag == 'p') {
      co_await flush_segment(seg, f.offset);
      co_await fatal(sqlstate::protocol_violation, "unexpected password message after authentication");
      co_return false;
    }
    if (switch_skip_ && !skipping_) {  // after a refused switch, like PostgreSQL after an error
      if (!co_await flush_segment(seg, f.offset)) co_return false;
      seg = f.offset + f.size;
      if (is_sync_point(f.tag)) {
        switch_skip_ = false;
        push_local({}, TrackedRequest::none, {}, {}, true);
      }
      continue;
    }
    FramePlan plan = skipping_ ? FramePlan::forward : plan_frame(f);
    if (!skipping_ && server_ && is_transaction_mode() && (f.tag == 'Q' || f.tag == 'P' || f.tag == 'B')) {
      if (f.tag == 'Q' && answer_directive_attached(f, seg)) continue;
      if (i >= routed_until && check_route(f) == RouteCheck::switch_server) {
        if (!co_await flush_segment(seg, f.offset)) co_return false;
        seg = f.offset;
        SwitchWait w = co_await wait_server_released();
        if (client_gone_) co_return false;
        if (w == SwitchWait::timed_out) {
          refuse_switch(f);
          seg = f.offset + f.size;
          continue;
        }
        plan = skipping_ ? FramePlan::forward : plan_frame(f);
      }
    }
    if (!skipping_ && !server_ && plan != FramePlan::local) {
      // The awaited steps only when they have something to wait for (a coroutine frame each).
      if (!flush_segment_now(seg, f.offset, ok, sent, ec)) ok = co_await flush_segment_rest(seg, f.offset, sent, ec);
      if (!ok) co_return false;
      // No co_await inside a condition after a call: GCC 12 evaluates such a condition's left
      // operand again after the resumption (it attached a second server here).
      if (tracker_.front_is_local()) {  // replies owed before this frame's
        if (!co_await emit_front_locals()) co_return false;
      }
      seg = f.offset;
      Decided decided;
      AttachStep step = attach_now(f, decided);
      if (step != AttachStep::attached) {
        bool attached = false;
        if (step == AttachStep::decided) attached = co_await attach_routed(decided.cfg, &decided);
        else attached = co_await attach_server(f);
        if (!attached && client_gone_) co_return false;
      }
      routed_until = i + kMaxFramesSummarised;
    }
    if (skipping_) {
      if (!co_await flush_segment(seg, f.offset)) co_return false;
      seg = f.offset + f.size;
      if (is_sync_point(f.tag) && !co_await handle_skipped(f)) co_return false;
      continue;
    }
    if (is_transaction_mode()) note_effects(f);
    else if (server_ && (f.tag == 'Q' || f.tag == 'P')) rewrite_directive_session_mode(f, seg);
    if (plan == FramePlan::special && route().target == Target::replica && (f.tag == 'B' || f.tag == 'D')) {
      note_statement_use(f);
    }
    if (plan != FramePlan::forward) plan = handle_special(f, seg);
    else if (is_transaction_mode()) track_forwarded(f.tag);
    if (plan == FramePlan::local) continue;
    if (is_sync_point(f.tag)) {
      ++pending_syncs_;
      unsynced_ = false;
    } else {
      unsynced_ = true;
    }
  }
  if (switch_skip_) seg = forwardable;
  if (!flush_segment_now(seg, forwardable, ok, sent, ec)) ok = co_await flush_segment_rest(seg, forwardable, sent, ec);
  if (!ok) co_return false;
  if (!tracker_.front_is_local()) co_return true;
  co_return co_await emit_front_locals();
}

// check_route found a frame that must not run on the attached replica (a write pipelined after
// a read): everything before it is on its way; the replica is released at its ReadyForQuery 'I'
// (the pump ends then), or kept when the client turned out pinned to it. Bounded by
// pool.checkout_timeout, as any wait for a server is.
asio::awaitable<ClientSession::SwitchWait> ClientSession::wait_server_released() {
  auto deadline = std::chrono::steady_clock::now() + rt_.config()->pool.checkout_timeout;
  switch_waiting_ = true;
  for (int i = 0; i < 100000 && server_ && !client_gone_; ++i) {
    bool idle = pending_syncs_ == 0 && !unsynced_ && tx_status_ == 'I' && !internal_busy_ && tracker_.idle();
    if (idle && (pinned() || attached_pinned_)) break;
    if (std::chrono::steady_clock::now() >= deadline) break;
    pump_done().expires_at(deadline);
    co_await pump_done().async_wait(asio::as_tuple(asio::use_awaitable));
  }
  switch_waiting_ = false;
  if (!server_) co_return SwitchWait::released;
  bool idle = pending_syncs_ == 0 && !unsynced_ && tx_status_ == 'I';
  co_return idle ? SwitchWait::kept : SwitchWait::timed_out;
}

// The attached server stayed busy past the bound: the frame gets an error in its place in the
// reply stream and, like PostgreSQL after an error, what follows it up to Sync is dropped.
void ClientSession::refuse_switch(const Frame& f) {
  std::string err = error_message(Severity::error, sqlstate::too_many_connections,
                                  "pgscale: a write pipelined after a read waited longer than pool.checkout_timeout "
                                  "for the replica to finish the read");
  const bool sync = is_sync_point(f.tag);
  push_local(std::move(err), TrackedRequest::none, {}, {}, sync);
  switch_skip_ = !sync;
  spdlog::info("client {} user={}: write could not leave the replica in time; refused", peer_, user_);
}

// flush_segment's common cases without a coroutine frame: nothing to send, or bytes the server
// socket takes whole. True = done, `ok` is flush_segment's result. False = `sent` bytes went out
// and the rest (or the error in `ec`) is flush_segment_rest's, called before anything else runs.
bool ClientSession::flush_segment_now(size_t from, size_t to, bool& ok, size_t& sent, error_code& ec) {
  ok = !client_gone_;
  sent = 0;
  if (!server_ || skipping_) {
    sout().clear();
    return true;
  }
  std::string_view bytes = segment_bytes(from, to);
  if (bytes.empty()) return true;
  note_sent(bytes);
  sent = server_->stream().try_write(bytes, ec);
  if (ec || sent < bytes.size()) return false;
  sout().clear();
  return true;
}

// The bytes of [from, to) to forward; with rewritten frames pending in sout() they are appended
// there, so the segment goes out in one write.
std::string_view ClientSession::segment_bytes(size_t from, size_t to) {
  std::string_view bytes = from < to ? cbuf_.readable().substr(from, to - from) : std::string_view{};
  if (sout().empty()) return bytes;
  sout().append(bytes);
  return sout();
}

asio::awaitable<bool> ClientSession::flush_segment_rest(size_t from, size_t to, size_t sent, error_code ec) {
  auto server = server_;  // keeps the connection alive across the write
  std::string_view bytes = sout().empty() ? cbuf_.readable().substr(from, to - from) : std::string_view(sout());
  if (!ec && sent < bytes.size()) co_await server->stream().write_all(bytes.substr(sent), ec);
  sout().clear();
  if (ec && server_ == server) co_await on_server_lost("write to server failed: " + ec.message());
  co_return !client_gone_;
}

asio::awaitable<bool> ClientSession::flush_segment(size_t from, size_t to) {
  bool ok = true;
  size_t sent = 0;
  error_code ec;
  if (flush_segment_now(from, to, ok, sent, ec)) co_return ok;
  co_return co_await flush_segment_rest(from, to, sent, ec);
}

// application_name is not part of the pool key (a psql and a pgbench of the same user share the
// pool's max_size); the server gets the client's value before its transaction, one round trip
// only when it differs from what that server runs with.
// In transaction mode this is the whole settings replay (prepare_server), whichever name the
// attach code calls.
asio::awaitable<bool> ClientSession::sync_app_name(ServerConn& server) {
  if (is_transaction_mode()) co_return co_await prepare_server(server);
  if (server.app_name() == app_name_) co_return true;
  // E'' with quotes and backslashes doubled: correct whatever standard_conforming_strings is.
  std::string sql = "SET application_name = E'";
  for (char ch : app_name_) {
    if (ch == '\'' || ch == '\\') sql += ch;
    sql += ch;
  }
  sql += '\'';
  bool ok = co_await server.reset(sql, rt_.config()->pool.connect_timeout);
  if (ok) server.set_app_name(app_name_);
  co_return ok;
}

asio::awaitable<bool> ClientSession::handle_skipped(const Frame&) {
  std::string out;
  if (!skip_error_sent_) {
    append_error(out, Severity::error, sqlstate::connection_failure,
                 "server connection lost; the transaction was rolled back");
  }
  append_ready_for_query(out, 'I');
  skipping_ = false;
  skip_error_sent_ = false;
  co_return co_await write_client(out);
}

// One pump per busy session (not per transaction: starting a coroutine per attach cost ~15 % of
// the instructions of a pgbench -S transaction). An attach resets the per-server scan state and
// wakes it; it serves each attached server until that server is released or replaced. It ends
// when the session goes idle (go_idle) and is started again by the next attach.
void ClientSession::start_pump() {
  sscan().reset();
  sbuf().consume(sbuf().size());
  server_fatal_ = false;
  ++attach_gen_;
  pump_idle_ = false;
  if (pumps_running_ > 0) {
    pump_wake().notify();
    return;
  }
  ++pumps_running_;
  asio::co_spawn(ex_, pump(), [self = shared_from_this()](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("client {}: pump failed: {}", self->peer_, ex.what());
      }
    }
    self->pump_done().cancel();
  });
}

// Serves each server attach_server()/reroute gives the session: relays its replies until it is
// released or replaced. Between servers it waits on pump_wake() without a deadline (no timer per
// transaction); idle detection is on_idle_check's. Each server read completes into this frame and
// is relayed by relay_server_read() — no coroutine frame per transaction or per read, unless the
// relay has to wait (finish_server_read).
asio::awaitable<void> ClientSession::pump() {
  // pumps_running_ drops when the frame goes, before any other handler runs: an attach right
  // after the pump decided to end starts a new one instead of waking a pump that is gone.
  struct Running {
    std::shared_ptr<ClientSession> s;
    ~Running() { --s->pumps_running_; }
  } running{shared_from_this()};
  uint64_t served = 0;
  std::shared_ptr<ServerConn> server;
  for (;;) {
    if (server) {
      bool release = false;
      bool ok = sbuf().reserve_more(kServerReadChunk, kMaxServerBuffer);
      if (ok) {
        auto [ec, n] = co_await server->stream().async_read_some(
            asio::buffer(sbuf().write_ptr(), sbuf().write_space()), asio::as_tuple(asio::use_awaitable));
        ok = !ec && server_ == server;
        if (ok) {
          ReadTail tail;
          auto step = relay_server_read(*server, n, release, tail);
          if (step == ReadStep::wait) ok = co_await finish_server_read(*server, release, std::move(tail));
          else ok = step == ReadStep::done;
        }
      }
      if (ok && !release && server_ == server) continue;
      if (!ok && !release && server_ == server) {  // lost: not released, not detached by someone else
        if (client_gone_) {
          client_.close();  // wake the client loop; finish() closes the server
        } else {
          std::string why = server_fatal_ ? "server sent FATAL " + server_fatal_text()
                                          : std::string("server closed the connection");
          co_await on_server_lost(std::move(why));
        }
      }
      server.reset();
      if (switch_waiting_) pump_done().cancel();  // the client loop waits for this server to go
      if (!server_) note_released();
      continue;
    }
    if (server_ && served != attach_gen_) {
      served = attach_gen_;
      server = server_;
      continue;
    }
    if (client_gone_ || pump_idle_) co_return;
    co_await pump_wake().async_wait(asio::as_tuple(asio::use_awaitable));  // attach, idle, finish
  }
}

asio::awaitable<void> ClientSession::finish() {
  client_gone_ = true;
  pump_wake().cancel();  // an idle pump ends now
  if (server_) {
    bool clean = pending_syncs_ == 0 && !unsynced_ && tx_status_ == 'I' && sbuf().size() == 0;
    auto server = server_;
    auto pool = server_pool_;
    server_.reset();  // detached: the pump exits at its next wake-up
    server_pool_.reset();
    if (cancel_slot_) cancel_slot_->clear();
    if (clean && !is_transaction_mode()) server->stream().cancel();
    else server->stream().close();
    if (pumps_running_ > 0) co_await yield_once();  // the pump, woken above, usually ends in this turn
    for (int i = 0; i < 100 && pumps_running_ > 0; ++i) {
      pump_done().expires_after(std::chrono::milliseconds(100));
      co_await pump_done().async_wait(asio::as_tuple(asio::use_awaitable));
    }
    // Session mode: reset the server's session state before anyone else gets it.
    bool reusable = false;
    if (clean && !is_transaction_mode() && pumps_running_ == 0 && pool) {
      auto cfg = rt_.config();
      reusable = cfg->pool.reset_query.empty() ||
                 co_await server->reset(cfg->pool.reset_query, cfg->pool.connect_timeout);
    }
    if (pool) pool->checkin(std::move(server), reusable);
  }
  // The idle pump was woken above: one turn of the io_context usually ends it, without the
  // timer (whose arming as the earliest deadline would re-arm the reactor's timerfd).
  if (pumps_running_ > 0) co_await yield_once();
  for (int i = 0; i < 100 && pumps_running_ > 0; ++i) {
    pump_done().expires_after(std::chrono::milliseconds(100));
    co_await pump_done().async_wait(asio::as_tuple(asio::use_awaitable));
  }
  client_.close();
  if (!user_.empty()) spdlog::info("client {} user={} db={}: disconnected", peer_, user_, database_);
}

}  // namespace pgscale::proxy

#pragma once
// One client connection (design: session.hpp). Steps live in three files:
//   client_session.cpp  startup (TLS, StartupMessage, cancel), greeting, drain, run()
//   client_auth.cpp     authentication against the YAML users
//   client_relay.cpp    the client loop, the server->client pump, release, failures
//   client_route.cpp    which node serves the next transaction, attach, retry elsewhere
//   client_park.cpp     an idle session waits without coroutine nor Asio reactor state (park)
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "proxy/cancel.hpp"
#include "proxy/pool.hpp"
#include "proxy/prepared.hpp"
#include "proxy/prepared_tracker.hpp"
#include "proxy/relay.hpp"
#include "proxy/replies.hpp"
#include "proxy/route_session.hpp"
#include "proxy/runtime.hpp"
#include "proxy/session.hpp"
#include "proxy/stream.hpp"

namespace pgscale::proxy {

// The credentials a session's pools log in with, shared by every session that has the same ones
// (all clients of one user: a SCRAM pass-through key is the same for every login with the same
// password), instead of ~180 bytes in each session. Converts to the ServerCredentials it holds.
class SharedCredentials {
 public:
  void set_password(std::string password);
  void set_scram(ScramPassThrough scram);
  operator const ServerCredentials&() const noexcept { return creds_ ? *creds_ : none_; }

 private:
  void assign(ServerCredentials c);
  static const ServerCredentials none_;
  std::shared_ptr<const ServerCredentials> creds_;
};

class ParkedSockets;

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(Runtime& rt, tcp::socket socket);
  ~ClientSession();
  // The whole life of the connection. Never throws.
  asio::awaitable<void> run();
  // SIGTERM: end the session as soon as it holds no server (call on the session's executor).
  void begin_drain();
  asio::any_io_executor executor() const { return ex_; }
  Runtime::SessionLink& registry_link() noexcept { return registry_link_; }  // Runtime's list of sessions

 private:
  struct Frame {  // one client message seen in the current read
    char tag;
    size_t offset;  // of the tag byte in the buffer
    size_t size;    // bytes of it inside the buffer (whole frame unless streamed)
  };
  enum class StartupOutcome { proceed, done, failed };

  // --- client_session.cpp ---
  asio::awaitable<void> run_steps();
  asio::awaitable<StartupOutcome> read_startup();
  asio::awaitable<bool> read_startup_packet(std::string& packet);
  asio::awaitable<StartupOutcome> handle_cancel(const std::string& packet);
  asio::awaitable<bool> negotiate_tls();
  bool accept_startup_message(const std::string& packet, std::string& negotiate);
  asio::awaitable<bool> greet();
  asio::awaitable<void> fatal(std::string_view code, std::string_view message);
  asio::awaitable<bool> write_client(std::string_view bytes);
  // write_client's fast path, no coroutine: true when `bytes` went out whole at once (no write
  // queued before them); otherwise `bytes` is left to write_client (false also when the client is gone).
  bool write_client_now(std::string_view& bytes);
  // A place in the client's write order taken before its bytes are known (the pump's held
  // ReadyForQuery): every later write waits for it. It must be used by write_reserved exactly once,
  // with empty bytes if nothing is to be sent.
  uint32_t reserve_write() noexcept { return write_ticket_++; }
  asio::awaitable<bool> write_reserved(uint32_t ticket, std::string_view bytes);
  // write_reserved's fast path: true when it was the ticket's turn and `bytes` went out whole;
  // otherwise what is left of `bytes` goes to write_reserved.
  bool write_reserved_now(uint32_t ticket, std::string_view& bytes);
  bool send_now(std::string_view& bytes);

  // --- client_auth.cpp ---
  asio::awaitable<bool> authenticate();
  asio::awaitable<bool> auth_scram(const config::UserConfig* user, bool& ok);
  asio::awaitable<bool> auth_md5(const config::UserConfig* user, bool& ok);
  asio::awaitable<bool> read_password_message(std::string& body);
  bool check_database_allowed(const config::UserConfig& user);

  // --- routing room --- (client_route.cpp; issue 5; contract in notes/issue4-5-seams.md)
  enum class RouteCheck { ok, switch_server };
  std::string_view frame_text(const Frame& f) const;
  // Shard 0's YAML primary (greeting, session mode).
  std::shared_ptr<Pool> pool_for_next_transaction(std::string_view first_statement, std::string& error);
  asio::awaitable<bool> attach_server(const Frame& first);
  // attach_server's common case without a coroutine frame (an idle, live pooled connection that
  // needs no settings replay). decided: the node is chosen (route_ set), attach_routed waits for
  // the connection; not_started: attach_server does it all.
  enum class AttachStep { attached, decided, not_started };
  struct Decided {  // attach_now's choice, taken over by attach_routed (one router pick per transaction)
    std::shared_ptr<const config::Config> cfg;
    std::shared_ptr<const Topology> topo;  // ch.node may point into it
    Choice ch;
    std::shared_ptr<ServerConn> conn;  // an idle connection it took that needs the settings replay
  };
  AttachStep attach_now(const Frame& first, Decided& d);
  void decide_transaction(const Frame& first, const config::Config& cfg);
  Choice pick_node(const config::Config& cfg, std::shared_ptr<const Topology>& topo);
  // Called for every Query/Parse/Bind while a server is attached, before forwarding it.
  RouteCheck check_route(const Frame& f);
  void note_sent(std::string_view bytes);           // every byte forwarded to the attached server
  void on_transaction_end();                        // the server is about to be released
  // The server failed: true when the work was re-sent elsewhere and the client saw nothing.
  asio::awaitable<bool> reroute_after_failure(const std::string& why);
  std::shared_ptr<Pool> pool_for_node(const std::shared_ptr<const config::Config>& cfg,
                                      const config::NodeConfig& node);
  std::shared_ptr<const classifier::Classification> classify_frame(const Frame& f) const;
  // classify_frame's answer for a Query/Parse frame of this read if it was asked already, else null.
  const classifier::Classification* classified_frame(const Frame& f) const;
  static uint64_t next_read_id();  // per worker thread
  TxnSummary summarize_from(const Frame& first);
  struct Routed;
  // `decided`: the first pick was made already (attach_now); null = pick here.
  asio::awaitable<Routed> checkout_routed(const std::shared_ptr<const config::Config>& cfg,
                                          const Decided* decided = nullptr);
  asio::awaitable<bool> attach_routed(const std::shared_ptr<const config::Config>& cfg,
                                      const Decided* decided = nullptr);
  void attach(Routed&& r);  // r.conn becomes the attached server; starts the pump
  asio::awaitable<void> answer_directive(const classifier::Classification& c);
  // SET pgscale.route while a server is attached: noted and answered in its place in the reply
  // stream (true = the frame was consumed; bytes before it moved to sout()).
  bool answer_directive_attached(const Frame& f, size_t& seg);
  bool rewrite_directive_session_mode(const Frame& f, size_t& seg);
  // A Bind/Describe of a named statement about to go to a replica: kept for a retry elsewhere.
  void note_statement_use(const Frame& f);
  // Makes a fresh server hold the statements a re-sent read names (one round trip).
  asio::awaitable<bool> prepare_resend(ServerConn& conn, const ResendPlan& plan);
  // Transitional: use the prepared room's hooks once they exist (prepare_server, statement_text).
  template <class S> static asio::awaitable<bool> prepare_for_client(S& s, ServerConn& conn);
  template <class S> static std::string_view statement_text_of(const S& s, std::string_view name);
  SessionRouteState& route() { return cold().route; }  // the transaction's routing (cold state)

  // --- client_relay.cpp ---
  asio::awaitable<void> client_loop();
  asio::awaitable<bool> process_frames(size_t forwardable);
  asio::awaitable<bool> flush_segment(size_t from, size_t to);
  bool flush_segment_now(size_t from, size_t to, bool& ok, size_t& sent, error_code& ec);
  asio::awaitable<bool> flush_segment_rest(size_t from, size_t to, size_t sent, error_code ec);
  std::string_view segment_bytes(size_t from, size_t to);
  asio::awaitable<bool> sync_app_name(ServerConn& server);
  asio::awaitable<bool> handle_skipped(const Frame& f);
  // check_route said switch_server: f must wait until the attached server is released.
  enum class SwitchWait { released, kept, timed_out };
  asio::awaitable<SwitchWait> wait_server_released();
  void refuse_switch(const Frame& f);  // timed out: f (and what follows until Sync) gets an error
  asio::awaitable<void> pump();
  // One server read relayed (server_reply.cpp): relay_server_read runs in the pump's own frame and
  // leaves to finish_server_read (a coroutine) only what has to wait.
  enum class ReadStep { done, failed, wait };
  struct ReadTail {
    std::string_view out;     // what of the read is still to reach the client
    bool out_written = false;
    bool malformed = false;
    bool fatal = false;
    size_t forwardable = 0;
    std::string held_ready;   // a ReadyForQuery held back for the session-state read-back
    // Places in the client's write order, taken in relay_server_read: what the client loop answers
    // meanwhile (a local ParseComplete for its next message) must come after these bytes.
    std::optional<uint32_t> out_ticket;
    std::optional<uint32_t> ready_ticket;  // set exactly when held_ready is
  };
  ReadStep relay_server_read(ServerConn& server, size_t n, bool& release, ReadTail& t);
  asio::awaitable<bool> finish_server_read(ServerConn& server, bool& release, ReadTail t);
  bool settle_server_read(ServerConn& server, const ReadTail& t, bool& release);
  bool releasable(const ServerConn& server);
  bool needs_release_step(bool release) const;
  void end_server_read(bool release);
  struct ServerRead;  // one server read being relayed (client_relay.cpp)
  void on_server_frame(ServerConn& server, ServerRead& rd, char tag, std::string_view body, bool whole);
  std::string_view server_output(ServerRead& rd, const ScanResult& r, std::string& held_ready);
  void start_pump();
  void release_server(bool reusable);
  asio::awaitable<void> on_server_lost(std::string why);
  asio::awaitable<void> finish();
  bool is_transaction_mode() const { return mode_ == AttachMode::per_transaction; }

  // --- prepared room --- (prepared_relay.cpp, client_relay.cpp; issue 4)
  // Hooks the routing room calls (notes/issue4-5-seams.md).
  asio::awaitable<bool> prepare_server(ServerConn& conn);  // replay settings; false = unusable
  bool server_ready_now(ServerConn& conn);  // prepare_server would send nothing (it then may be skipped)
  std::string_view statement_text(std::string_view client_statement_name) const;
  bool pinned() const;
  // Relay steps for frames that are not forwarded byte for byte (named statements, local answers).
  enum class FramePlan { forward, special, local };
  FramePlan plan_frame(const Frame& f) const;
  bool parse_is_known(const Frame& f) const;
  void track_forwarded(char tag);
  FramePlan handle_special(const Frame& f, size_t& seg);
  bool handle_parse(const Frame& f, std::string_view body);
  bool handle_bind(const Frame& f, std::string_view body);
  bool handle_describe_close(const Frame& f, std::string_view body);
  bool handle_query(const Frame& f, std::string_view body);
  bool auto_prepare_query(const Frame& f, std::string_view sql, bool quiet);
  void probe_shape(const StatementPtr& stmt);
  bool auto_quiet() const;
  bool auto_prepare_on() const;
  void ensure_prepared(const StatementPtr& stmt, bool client_parse, std::string_view client_name,
                       bool probe = false);
  void push_local(std::string bytes, uint8_t undo = TrackedRequest::none, StatementPtr stmt = {},
                  std::string_view client_name = {}, bool ready = false);
  void push_local_error(std::string_view code, std::string message);
  asio::awaitable<bool> emit_front_locals();
  // At ReadyForQuery 'I': inspect session state, keep a pinned client's server, reset one that
  // served a pinned client. True = release the server now.
  // `notes`: notifications that arrived meanwhile, to reach the client before the ReadyForQuery.
  asio::awaitable<bool> release_step(ServerConn& server, std::string& notes);
  asio::awaitable<void> wait_internal_query();
  void note_effects(const Frame& f);
  // ParameterStatus the client was told vs what its session state says now.
  void note_parameter_status(std::string_view name, std::string_view value);
  std::string parameter_corrections();
  struct PreparedUndo final : UndoSink {
    ClientSession* self = nullptr;
    void undo(const TrackedRequest& r) override;
  };
  ClientStatements statements_;       // the client's protocol-level statement names
  ResponseTracker tracker_;           // replies the attached server owes, in order
  PreparedUndo undo_;
  // Rewritten bytes for the server, written with the next flush (cold state: empty whenever the
  // session can go idle).
  std::string& sout() { return cold().sout; }
  // The pump's output when replies were dropped or inserted, and its scratch (cold state).
  std::string& pump_out() { return cold().pump_out; }
  std::string& before() { return cold().before; }
  std::string& after() { return cold().after; }
  std::string& replacement() { return cold().replacement; }
  SessionState state_;                // SET settings and pins (session_state.hpp)
  std::shared_ptr<const Settings> greeted_;  // ParameterStatus values of the greeting (session
                                             // defaults), shared by the sessions greeted alike
  // Reportable values the client holds now, where they differ from greeted_; made on the first
  // difference (most sessions never have one).
  std::unique_ptr<Settings> told_;
  bool drop_tail_ = false;            // drop the streamed tail of a frame pgscale refused
  bool attached_pinned_ = false;      // the attached server held this client's pinned state
  bool internal_busy_ = false;        // pgscale's own query runs on the attached server
  LazyTimer& internal_done() { return cold().internal_done; }
  uint32_t write_ticket_ = 0;         // client writes go out in the order they were requested
  uint32_t write_serving_ = 0;        // (compared with != only: wrapping around is harmless)
  LazyTimer& write_turn() { return cold().write_turn; }

  Runtime& rt_;
  // The worker's executor, kept once per worker (ParkedSockets::executor()), not per session.
  const asio::any_io_executor& ex_;
  Stream client_;
  std::string peer_;
  Runtime::SessionLink registry_link_;

  // who
  std::string user_;
  std::string database_;
  Params params_;  // startup parameters besides user/database/application_name, sorted (pool key)
  std::string app_name_;  // the client's application_name, set on each server it gets
  std::shared_ptr<const config::Config> cfg_;  // snapshot used for routing; refreshed per transaction
  SharedCredentials server_creds_;
  AttachMode mode_ = AttachMode::per_transaction;
  bool counted_ = true;  // holds one unit of rt_.clients
  int parked_fd_ = -1;   // (parking, below; declared here where it fills padding)

  // cancel: the client's key (registered in rt_.cancels() once greeted) and its slot, made at
  // the first attach after a wake-up, dropped at park
  LazyCancelSlot cancel_slot_;

  // relay state (all on ex_, no locks)
  ByteBuffer cbuf_;
  ByteBuffer& sbuf() { return cold().sbuf; }
  FrameScanner cscan_;
  std::vector<Frame>& frames() { return cold().frames; }  // reused per read
  std::shared_ptr<Pool> pool_;
  const config::Config* pool_cfg_ = nullptr;  // the snapshot pool_ was chosen under
  std::shared_ptr<ServerConn> server_;
  std::shared_ptr<Pool> server_pool_;  // where server_ goes back
  FrameScanner& sscan() { return cold().sscan; }
  bool server_fatal_ = false;       // the server sent FATAL: it is about to close
  std::string& server_fatal_text() { return cold().server_fatal_text; }
  bool terminated_ = false;         // the client sent Terminate
  uint32_t pending_syncs_ = 0;  // Query/Sync/FunctionCall sent, ReadyForQuery not yet seen
  bool unsynced_ = false;       // messages sent after the last sync point
  char tx_status_ = 'I';
  bool skipping_ = false;       // server lost: drop messages until the next sync point
  bool skip_error_sent_ = false;
  bool client_gone_ = false;
  bool relayed_since_attach_ = false;  // a byte of the attached server's answer reached the client
  bool draining_ = false;
  uint64_t attach_gen_ = 0;         // start_pump() calls: the pump serves each attach once
  int pumps_running_ = 0;
  // Cancelled when a pump ends (and while switch_waiting_, per read).
  LazyTimer& pump_done() { return cold().pump_done; }
  bool switch_waiting_ = false;     // the client loop waits for the server's release (check_route)
  bool switch_skip_ = false;        // a refused switch: drop frames until the next sync point
  // The session's one pump waits here for the next server (no timer).
  Wakeup& pump_wake() { return cold().pump_wake; }
  bool client_reading_ = false;     // the client loop waits in read_some (its buffer is lent out)
  bool client_waiting_ = false;     // the client loop waits for its first message after login (in Asio)
  bool idle_cancel_ = false;        // the idle check cancelled that read (or wait) to free the buffer of an idle session

  // --- idle detection --- (client_session.cpp) After ~1 s without a server a session frees its
  // buffers and its pump ends. One timer per session, armed at most once per second (at a
  // release when unarmed), not per transaction: a per-transaction timer wait re-arms the
  // reactor's timerfd, a syscall per transaction.
  void note_released();           // the pump saw server_ go (released or lost)
  void arm_idle_check();
  void on_idle_check();
  void go_idle();
  LazyTimer idle_check_{&ex_};
  uint32_t releases_ = 0;         // note_released() calls (compared with != only)
  uint32_t releases_checked_ = 0; // releases_ at the last check
  bool idle_check_armed_ = false;
  bool pump_idle_ = false;        // the pump is to end (the session went idle)

  // --- parking --- (client_park.cpp) An idle session keeps no coroutine: client_loop returns
  // with parked_ set, run() leaves a plain readiness wait on the socket (park()), and that wait
  // starts client_loop() again (run_then_end_or_park). The coroutine frames of run/run_steps/
  // client_loop are ~2 KiB.
  bool can_park() const;
  void park();
  asio::awaitable<void> run_then_end_or_park(asio::awaitable<void> step);
  asio::awaitable<void> end_or_park();
  bool parked_ = false;           // client_loop returned to wait for the client without a coroutine
  bool unparked_ = false;         // the restarted client_loop: the socket is readable, read it
  void resume_from_park();        // the parked wait ended: client_loop runs again
  // Parked in ParkedSockets (client_park.hpp): the descriptor is out of Asio's reactor while
  // parked_fd_ >= 0; the session before this one in that list owns this one (park_next_).
  friend class ParkedSockets;
  bool parked_v6_ = false;
  ClientSession* park_prev_ = nullptr;
  std::shared_ptr<ClientSession> park_next_;

  // --- cold state --- (client_session.cpp) What only a session at work uses, behind one pointer:
  // made on first use (login routes the greeting, the first transaction after a wake-up), freed
  // when the session parks (nothing of it runs then, and all of it is per transaction, scratch,
  // or a cache: the routing policy — SET pgscale.route, read-your-writes — is kept aside).
  // ~600 bytes of each idle client.
  struct Cold {
    explicit Cold(const asio::any_io_executor& ex);
    SessionRouteState route;
    std::string pump_out;
    std::string sout;
    std::string before, after, replacement;  // pump scratch (no allocation per message)
    FrameScanner sscan;
    std::string server_fatal_text;
    ByteBuffer sbuf;
    std::vector<Frame> frames;
    // This read's number on its worker thread (never 0): the key of the thread's last frame
    // classification (classify_frame), which the directive check, the transaction summary and
    // note_effects would each look up again (hash and compare of the text).
    uint64_t read_id = 0;
    LazyTimer internal_done;
    LazyTimer write_turn;
    LazyTimer pump_done;
    Wakeup pump_wake;
  };
  Cold& cold() {
    if (!cold_) [[unlikely]] make_cold();
    return *cold_;
  }
  void make_cold();
  void drop_cold();
  std::unique_ptr<Cold> cold_;
  // route().policy while cold_ is dropped, when it is not the default one (most clients never
  // SET pgscale.route nor wrote with read-your-writes pending)
  std::unique_ptr<SessionRouting> kept_policy_;
};

}  // namespace pgscale::proxy

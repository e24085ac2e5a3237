#pragma once
// Session state of a client in transaction pooling (issue 4): the settings it SET (replayed on
// whichever server serves it next) and what pins it to one server. Owner: session-state room.
//
// How it stays right: the parser only says *whether* a statement may have touched session state
// (analyze_effects, cheap and cached); what the state *is* comes from the server itself. After a
// transaction that may have changed something, the session runs inspect_sql() on its server
// (pg_settings, pg_prepared_statements, pg_cursors, pg_listening_channels(), pg_locks, the temp
// schema, current_user) and apply_inspect() takes that as the truth. So ROLLBACK, SET LOCAL,
// ON COMMIT DROP, errors half-way through a multi-statement string and the like need no modelling.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgscale::proxy {

// name -> value as pg_settings.setting shows it, sorted by name.
using Settings = std::vector<std::pair<std::string, std::string>>;

// Shared read-only copies of Settings that many sessions hold alike (their startup settings, the
// greeting's ParameterStatus values): intern() returns the copy equal to `s`, making it if needed.
// Bounded (256 kept); copies no session holds any more are dropped. Thread-safe; once per login.
class SettingsInterner {
 public:
  std::shared_ptr<const Settings> intern(Settings s);

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<const Settings>> known_;
};

enum class PinReason : uint8_t { temp_table, sql_prepare, hold_cursor, listen, advisory_lock, role };
inline constexpr size_t kPinReasons = 6;
std::string_view pin_reason_name(PinReason);  // "temp_table", ... (metric labels)

struct PinCounters {  // process-wide, for metrics
  std::array<std::atomic<uint64_t>, kPinReasons> pins_total{};  // times a client became pinned, by reason
  std::atomic<int64_t> pinned_clients{0};                        // clients pinned right now
};
PinCounters& pin_counters();

// What one SQL string (all its statements) may do to session state. libpg_query, cached by text
// (repeated statements cost well under 1 µs; almost every statement gives all-false quickly).
struct StatementEffects {
  bool settings = false;        // SET/RESET (not SET LOCAL/SET TRANSACTION), set_config(), DISCARD
  bool pins = false;            // CREATE TEMP ..., SELECT INTO TEMP, SQL PREPARE, DECLARE ... WITH HOLD,
                                // LISTEN, pg_advisory_lock*/pg_try_advisory_lock* (session level),
                                // SET ROLE / SET SESSION AUTHORIZATION
  bool unpins = false;          // DISCARD, DEALLOCATE, CLOSE, UNLISTEN, DROP, pg_advisory_unlock*,
                                // RESET ROLE / RESET SESSION AUTHORIZATION / RESET ALL
  bool discard_all = false;     // DISCARD ALL (the client's protocol-level statements go too)
  bool deallocate_all = false;  // DEALLOCATE [PREPARE] ALL
  std::vector<std::string> deallocate_names;  // DEALLOCATE name (may name a protocol-level statement)
  bool any() const;
  bool operator==(const StatementEffects&) const = default;
};
// Thread-safe; unparsable SQL -> all false (the server rejects it too). DO/CALL and statements too
// deep to analyse give settings = pins = unpins = true: procedural code may do anything, and the
// inspect query that follows reads the truth, so over-reporting costs one round trip, never state.
StatementEffects analyze_effects(std::string_view sql);

// Rows of a simple query: one entry per statement that completed (CommandComplete), in order;
// statements without rows (SET, ...) give an empty entry. NULL = std::nullopt.
struct QueryResult {
  std::vector<std::vector<std::vector<std::optional<std::string>>>> sets;
};

// Per client; used on the session's executor only.
class SessionState {
 public:
  // e.g. {{"application_name", "<startup value>"}}. application_name is always tracked (it is not
  // part of the pool key): when absent from `initial` it is added with "".
  explicit SessionState(Settings initial = {});
  SessionState(const SessionState&) = delete;  // a copy would count its pins twice
  SessionState& operator=(const SessionState&) = delete;
  SessionState(SessionState&& o) noexcept;  // the pins move along; `o` is left unpinned
  SessionState& operator=(SessionState&& o) noexcept;
  ~SessionState();  // keeps pin_counters().pinned_clients right

  void note(const StatementEffects& e);  // every statement the client sends
  // The transaction that just ended (ReadyForQuery 'I') may have changed settings or pins: before
  // releasing the server, run inspect_sql() on it and pass the result to apply_inspect().
  bool needs_inspect() const;
  std::string inspect_sql() const;  // one simple Query (may hold several statements)
  // Updates this client's settings and pins from the server's truth and sets `server_settings`
  // to what that server now runs with. false = unexpected shape (caller closes the server).
  bool apply_inspect(const QueryResult& r, Settings& server_settings);
  // SQL that makes a server running `server_settings` run this client's settings (set_config /
  // RESET), "" when they are equal. After it succeeded the caller sets server_settings = settings().
  std::string replay_sql(const Settings& server_settings) const;
  const Settings& settings() const { return own_ ? *own_ : *initial_; }
  bool pinned() const { return pins_ != 0; }
  bool pinned_for(PinReason r) const { return (pins_ & bit(r)) != 0; }
  void discard_all();  // DISCARD ALL answered: settings back to initial, no pins
  // Memory sharing, for tests: the initial settings object is shared with `o`'s; this session
  // holds settings of its own (they differ from the initial ones).
  bool shares_initial_with(const SessionState& o) const noexcept { return initial_ == o.initial_; }
  bool owns_settings() const noexcept { return own_ != nullptr; }

 private:
  static uint8_t bit(PinReason r) { return static_cast<uint8_t>(1u << static_cast<unsigned>(r)); }
  bool wants_settings() const { return pending_settings_; }
  bool wants_pins() const { return pending_pins_ || pinned(); }
  void set_pins(uint8_t pins);  // updates pin_counters()

  // The startup values, shared by every session that started with the same ones (all clients
  // with the same application_name); the session's own copy exists only while its settings
  // differ from them: an idle client that never SET anything holds no Settings of its own.
  std::shared_ptr<const Settings> initial_;
  std::unique_ptr<Settings> own_;  // null = settings() are *initial_
  void set_settings(Settings s);   // own_ from `s` (null when it equals *initial_)
  uint8_t pins_ = 0;               // bit per PinReason
  bool pending_settings_ = false;  // settings may have changed since the last apply_inspect
  bool pending_pins_ = false;      // pins may have been taken or dropped since then
};

// SQL string literal that means `value` whatever standard_conforming_strings is: E'...' with
// backslashes and quotes doubled. (Exposed for tests.)
std::string quote_literal(std::string_view value);

}  // namespace pgscale::proxy

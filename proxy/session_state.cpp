// SessionState: a client's settings and pins, read back from the server after each transaction
// that may have changed them, and replayed on the next server. See session_state.hpp.
#include "proxy/session_state.hpp"

#include <algorithm>
#include <mutex>

namespace pgscale::proxy {
namespace {

constexpr std::array<std::string_view, kPinReasons> kPinReasonNames = {
    "temp_table", "sql_prepare", "hold_cursor", "listen", "advisory_lock", "role"};

// Everything SET or set_config() changed in this session (pg_settings.source 'session'), minus
// what must not be replayed: role and session_authorization pin instead, transaction_* belong to
// one transaction, is_superuser is derived. application_name always: it is not part of the pool
// key, so a server may carry another client's startup value (source 'client').
// Comparisons name pg_catalog's operators: the client controls search_path and could otherwise
// make this query lie about its own session (and get a server with state released to others).
constexpr std::string_view kSettingsSql =
    "SELECT name, setting, source FROM pg_catalog.pg_settings"
    " WHERE (source OPERATOR(pg_catalog.=) 'session'"
    " AND NOT name OPERATOR(pg_catalog.=) ANY ('{role,session_authorization,transaction_isolation,"
    "transaction_read_only,transaction_deferrable,is_superuser}'::pg_catalog.text[]))"
    " OR name OPERATOR(pg_catalog.=) 'application_name'";

// One row, one boolean per PinReason (in enum order). At ReadyForQuery 'I' every advisory lock
// the backend still holds is a session-level one, and every cursor left is WITH HOLD.
// The login user is pg_stat_activity.usename (set at backend start, untouched by SET SESSION
// AUTHORIZATION); PostgreSQL 15 has no SYSTEM_USER.
constexpr std::string_view kPinsSql =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class"
    " WHERE relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()),"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE from_sql),"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE is_holdable),"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels()),"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype OPERATOR(pg_catalog.=) 'advisory'"
    " AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()),"
    " (current_user OPERATOR(pg_catalog.<>) session_user OR session_user OPERATOR(pg_catalog.<>)"
    " COALESCE((SELECT usename FROM pg_catalog.pg_stat_activity"
    " WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), session_user))";

// The client's statement_timeout (replayed on this server) must not cancel the pin checks (which
// scan pg_locks and pg_stat_activity). SET LOCAL: the query string is one implicit transaction
// block, so it ends with it. It comes after the settings part, which would otherwise read the
// local 0 instead of the client's value; that part (one pg_settings scan, ~1 ms) still runs
// under the client's timeout.
constexpr std::string_view kPinsPrologue = "SET LOCAL statement_timeout = 0;";

constexpr std::string_view kAppName = "application_name";

void sort_settings(Settings& s) {
  std::sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

const std::string* find_setting(const Settings& s, std::string_view name) {
  auto it = std::lower_bound(s.begin(), s.end(), name,
                             [](const auto& kv, std::string_view k) { return kv.first < k; });
  return it != s.end() && it->first == name ? &it->second : nullptr;
}

std::string quote_ident(std::string_view name) {
  std::string r = "\"";
  for (char c : name) {
    if (c == '"') r += '"';
    r += c;
  }
  return r + '"';
}

// Parses the settings result set; false on an unexpected shape.
bool read_settings(const std::vector<std::vector<std::optional<std::string>>>& rows, Settings& server,
                   std::optional<std::string>& app_name_source) {
  server.clear();
  for (const auto& row : rows) {
    if (row.size() != 3 || !row[0] || !row[1] || !row[2]) return false;
    if (*row[0] == kAppName) app_name_source = *row[2];
    server.emplace_back(*row[0], *row[1]);
  }
  sort_settings(server);
  return true;
}

bool read_pins(const std::vector<std::vector<std::optional<std::string>>>& rows, uint8_t& pins) {
  if (rows.size() != 1 || rows[0].size() != kPinReasons) return false;
  pins = 0;
  for (size_t i = 0; i < kPinReasons; ++i) {
    const auto& v = rows[0][i];
    if (!v || (*v != "t" && *v != "f")) return false;
    if (*v == "t") pins |= static_cast<uint8_t>(1u << i);
  }
  return true;
}

// Initial settings shared by the sessions that start alike (see SessionState::initial_). Once
// per login; bounded, and entries no session uses any more are dropped.
std::shared_ptr<const Settings> shared_initial(Settings s) {
  static SettingsInterner initial;
  return initial.intern(std::move(s));
}

}  // namespace

std::shared_ptr<const Settings> SettingsInterner::intern(Settings s) {
  std::lock_guard lk(mu_);
  for (const auto& k : known_) {
    if (*k == s) return k;
  }
  std::erase_if(known_, [](const auto& k) { return k.use_count() == 1; });
  auto k = std::make_shared<const Settings>(std::move(s));
  if (known_.size() < 256) known_.push_back(k);
  return k;
}

std::string_view pin_reason_name(PinReason r) {
  const auto i = static_cast<size_t>(r);
  return i < kPinReasonNames.size() ? kPinReasonNames[i] : "unknown";
}

PinCounters& pin_counters() {
  static PinCounters counters;
  return counters;
}

bool StatementEffects::any() const {
  return settings || pins || unpins || discard_all || deallocate_all || !deallocate_names.empty();
}

std::string quote_literal(std::string_view value) {
  std::string r = "E'";
  r.reserve(value.size() + 4);
  for (char c : value) {
    if (c == '\'' || c == '\\') r += c;
    r += c;
  }
  return r + '\'';
}

SessionState::SessionState(Settings initial) {
  sort_settings(initial);
  if (!find_setting(initial, kAppName)) {
    initial.emplace_back(kAppName, "");
    sort_settings(initial);
  }
  initial_ = shared_initial(std::move(initial));
}

SessionState::SessionState(SessionState&& o) noexcept
    : initial_(o.initial_),  // copied: `o` keeps valid (initial) settings
      own_(std::move(o.own_)),
      pins_(std::exchange(o.pins_, 0)),
      pending_settings_(o.pending_settings_),
      pending_pins_(o.pending_pins_) {}

SessionState& SessionState::operator=(SessionState&& o) noexcept {
  if (this == &o) return *this;
  set_pins(0);
  initial_ = o.initial_;
  own_ = std::move(o.own_);
  pins_ = std::exchange(o.pins_, 0);  // already counted as pinned once; the count moves along
  pending_settings_ = o.pending_settings_;
  pending_pins_ = o.pending_pins_;
  return *this;
}

void SessionState::set_settings(Settings s) {
  if (s == *initial_) {
    own_.reset();
  } else if (own_) {
    *own_ = std::move(s);
  } else {
    own_ = std::make_unique<Settings>(std::move(s));
  }
}

SessionState::~SessionState() { set_pins(0); }

void SessionState::set_pins(uint8_t pins) {
  PinCounters& c = pin_counters();
  for (size_t i = 0; i < kPinReasons; ++i) {
    const auto b = static_cast<uint8_t>(1u << i);
    if ((pins & b) && !(pins_ & b)) c.pins_total[i].fetch_add(1, std::memory_order_relaxed);
  }
  if (pins_ == 0 && pins != 0) c.pinned_clients.fetch_add(1, std::memory_order_relaxed);
  if (pins_ != 0 && pins == 0) c.pinned_clients.fetch_sub(1, std::memory_order_relaxed);
  pins_ = pins;
}

void SessionState::note(const StatementEffects& e) {
  pending_settings_ = pending_settings_ || e.settings || e.discard_all;
  pending_pins_ = pending_pins_ || e.pins || e.unpins || e.discard_all;
}

bool SessionState::needs_inspect() const { return pending_settings_ || pending_pins_; }

std::string SessionState::inspect_sql() const {
  if (!needs_inspect()) return {};
  std::string sql;
  if (wants_settings()) sql.append(kSettingsSql).append(";");
  if (wants_pins()) sql.append(kPinsPrologue).append(kPinsSql).append(";");
  return sql;
}

bool SessionState::apply_inspect(const QueryResult& r, Settings& server_settings) {
  if (!needs_inspect()) return r.sets.empty();
  const bool ws = wants_settings(), wp = wants_pins();
  // Sets as inspect_sql() asked for them: settings; then the pin prologue's (no rows) and pins.
  const size_t pins_at = ws ? 1 : 0;
  if (r.sets.size() != pins_at + (wp ? 2 : 0) || (wp && !r.sets[pins_at].empty())) return false;
  Settings server;
  std::optional<std::string> app_source;
  uint8_t pins = pins_;
  if (ws && !read_settings(r.sets[0], server, app_source)) return false;
  if (wp && !read_pins(r.sets[pins_at + 1], pins)) return false;
  if (ws) {
    Settings mine = server;
    // application_name not SET in this session (never, or RESET/DISCARD ALL since) is the server
    // creator's startup value; this client's own is its startup value.
    if (app_source != "session") {
      mine.erase(std::remove_if(mine.begin(), mine.end(), [](const auto& kv) { return kv.first == kAppName; }),
                 mine.end());
      mine.emplace_back(kAppName, *find_setting(*initial_, kAppName));
      sort_settings(mine);
    }
    set_settings(std::move(mine));
    server_settings = std::move(server);
    pending_settings_ = false;
  }
  if (wp) {
    set_pins(pins);
    pending_pins_ = false;
  }
  return true;
}

std::string SessionState::replay_sql(const Settings& server_settings) const {
  // Every checkout asks; almost always the server already runs exactly these settings.
  const Settings& mine = settings();
  if (server_settings == mine) return {};
  std::string sets, resets;
  for (const auto& [name, value] : mine) {
    const std::string* have = find_setting(server_settings, name);
    if (have && *have == value) continue;
    sets += sets.empty() ? "SELECT " : ", ";
    sets += "pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(value) + ", false)";
  }
  for (const auto& [name, value] : server_settings) {
    if (!find_setting(mine, name)) resets += "RESET " + quote_ident(name) + ";";
  }
  if (!sets.empty()) sets += ";";
  return sets + resets;
}

void SessionState::discard_all() {
  own_.reset();
  set_pins(0);
  // The server now runs its reset values (application_name = its creator's): read them back
  // before the next replay compares against a stale picture.
  pending_settings_ = pending_pins_ = true;
}

}  // namespace pgscale::proxy

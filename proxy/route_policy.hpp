#pragma once
// Read/write split policy (issue 5), pure: config + topology snapshot + classification -> node.
// No I/O, no Asio; the session (client_route.cpp) feeds it and tests/proxy/router_test.cpp
// drives it with hand-built snapshots.
//
// Per transaction, the session summarises what it can see of the transaction before sending it
// (the first Query/Parse, every Query/Parse of the same client read — a pipeline —, and the text
// of a statement named by a Bind) into a TxnSummary; decide_target() turns that into primary or
// replica, select_node() into a node of shard 0.
//
// Rules (DESIGN.md "Routing rules"):
//   - pool.mode session, routing.read_write_split off, or SET pgscale.route = primary -> primary.
//   - Any statement the classifier sends to the primary (writes, DDL, locks, sequences, volatile
//     functions, BEGIN without READ ONLY, ...) -> the whole transaction to the primary.
//   - BEGIN READ ONLY / START TRANSACTION READ ONLY (or BEGIN while the session runs with
//     default_transaction_read_only = on) -> the whole block on one replica.
//   - SET pgscale.route = replica: like a `/* pgscale: replica */` hint on every statement — soft
//     reasons (volatile/unknown functions, CALL/DO, EXECUTE) and read-write BEGIN go to a replica;
//     real writes still go to the primary.
//   - Unknown text (a Bind of a statement pgscale never saw) -> primary.
//
// Read-your-writes (routing.read_your_writes, default on), without a round trip per write:
//   when a transaction that ran on the primary and contained a write ends, the session records
//   the time (RywState::committed_at) and asks the monitor for a round now (Monitor::check_now).
//   Reads then go to the primary until a topology snapshot holds a primary WAL position observed
//   (check sent) at or after that time: that position is >= the commit's LSN, and becomes
//   RywState::lsn. From then on reads go only to replicas whose replay LSN >= lsn
//   (Topology::replica_replayed_past), else to the primary. A later write repeats the cycle.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/classifier.hpp"
#include "proxy/topology.hpp"

namespace pgscale::proxy {

enum class Target : uint8_t { primary, replica };

// What the session knows of the transaction about to start.
struct TxnSummary {
  int statements = 0;            // classified Query/Parse texts (a multi-statement string counts once)
  bool unknown = false;          // a Bind whose statement text is unknown
  bool primary = false;          // some statement goes to the primary by itself
  bool hard_primary = false;     // ... for a reason no replica hint may override (a write, ...)
  bool soft_primary = false;     // ... only for soft reasons (volatile/unknown function, CALL, EXECUTE)
  bool rw_begin = false;         // ... only because it opens a block without READ ONLY
  bool read_only_begin = false;  // BEGIN/START TRANSACTION READ ONLY (or SET TRANSACTION READ ONLY)
  std::vector<std::string> unknown_functions;  // for a catalog refresh

  void add(const classifier::Classification& c);
};

// Per-client routing state that outlives a transaction.
struct RywState {
  std::optional<SteadyClock::time_point> committed_at;  // last write commit not yet tied to an LSN
  std::optional<Lsn> lsn;                               // primary position seen after that commit
};

struct SessionRouting {
  std::optional<classifier::RouteDirective> directive;  // SET pgscale.route (nullopt = auto)
  bool default_read_only = false;                        // default_transaction_read_only = on
  RywState ryw;

  // Applies SET pgscale.route and SET/RESET default_transaction_read_only of a statement the
  // client sent (statement order).
  void note(const classifier::Classification& c);
};

struct TargetDecision {
  Target target = Target::primary;
  bool read_only_block = false;  // a READ ONLY block: one replica for the whole block
  const char* why = "";          // for debug logs and tests
};

TargetDecision decide_target(const TxnSummary& txn, const SessionRouting& session,
                             const config::Config& cfg);

// A statement that arrives while a transaction runs on its server (a pipeline: sent before the
// previous ReadyForQuery came back). Only a replica transaction outside a block can be left, and
// only at a sync boundary (after Parse/Bind/Execute without Sync, the frame belongs to the same
// implicit transaction) and when the client is not pinned to that server.
struct AttachedTxn {
  Target target = Target::primary;
  bool read_only_block = false;  // routed as a READ ONLY block: the whole block stays
  bool in_block = false;         // the server's last ReadyForQuery said 'T' or 'E'
  bool unsynced = false;         // messages after the last sync point were sent
  bool pinned = false;           // session state that cannot move (session_state.hpp)
};
// True = `next` must not run on the attached server (the session waits for its release, then
// attaches the server decide_target picks).
bool must_leave_server(const TxnSummary& next, const AttachedTxn& at, const SessionRouting& session,
                       const config::Config& cfg);

// Read-your-writes: ties a pending commit to the primary position of a snapshot observed after
// it. Returns true when the state changed.
bool resolve_ryw(RywState& ryw, const Topology& topo, size_t shard = 0);

struct SelectInput {
  const config::Config& cfg;
  const Topology& topo;
  TargetDecision decision;
  const RywState* ryw = nullptr;                  // null or disabled: no freshness requirement
  const std::vector<std::string>* exclude = nullptr;  // nodes that failed for this transaction
  std::function<int64_t(std::string_view node)> outstanding;  // least_outstanding; null = all 0
  uint64_t ticket = 0;                            // round robin position / tie-break rotation
  double random01 = 0.0;                          // weighted_random draw in [0, 1)
};

struct Choice {
  const config::NodeConfig* node = nullptr;  // into cfg or topo (the caller keeps both alive)
  Target target = Target::primary;
  std::string error;                         // node == nullptr: why (for the client)
  const char* why = "";
};

Choice select_node(const SelectInput& in);

// The YAML's primary of shard 0 (first node when none is marked primary); null without nodes.
const config::NodeConfig* configured_primary(const config::Config& cfg, size_t shard = 0);

}  // namespace pgscale::proxy

#pragma once
// Monitor internals shared by monitor.cpp and monitor_round.cpp (not for other users).
#include "proxy/monitor.hpp"

namespace pgscale {

struct Monitor::CheckOutcome {
  bool completed = false;  // false: not run (yet) this round
  std::string error;       // empty = success
  SteadyClock::time_point sent_at{}, finished_at{};
  ObservedRole role = ObservedRole::unknown;
  std::optional<Lsn> current, receive, replay;
  std::optional<Millis> replay_age;
  bool paused = false;

  bool parse(const PqResult& r);
};

struct Monitor::NodeRuntime {
  NodeState state;
  std::unique_ptr<PqConn> conn;
  std::optional<PqParams> params;  // resolved connection parameters, reused between checks
  CheckOutcome outcome;
  ObservedRole logged_role = ObservedRole::unknown;  // last role reported in the log
};

struct Monitor::ShardRuntime {
  std::string name;
  std::vector<std::unique_ptr<NodeRuntime>> nodes;
  WalHistory history;  // primary LSN per round, for lag in time
};

}  // namespace pgscale

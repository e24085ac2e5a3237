#pragma once
// Replication lag of a replica, in bytes and in time.
//
// Bytes: the primary's pg_current_wal_lsn() minus the replica's pg_last_wal_replay_lsn(), both
// taken in the same round of checks; 0 when the replica is at or past that position.
//
// Time: the age of the oldest change the replica has not replayed yet. PostgreSQL gives no direct
// measure, so we take the smaller of two upper bounds:
//  1. replay timestamp age (now() - pg_last_xact_replay_timestamp() on the replica): the newest
//     replayed commit is older than anything not replayed. Alone it is misleading: on a primary
//     that was idle for an hour, a replica a few bytes behind would show an hour of lag.
//  2. WAL history: the monitor remembers (time the check was sent, primary LSN) per round. The
//     newest sample whose LSN the replica has replayed bounds the lag by "observation time of the
//     replica − time of that sample" (everything not replayed was written after that sample).
// Caught up (replay LSN ≥ the primary LSN of this round) means a lag of exactly 0.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "proxy/lsn.hpp"

namespace pgscale {

struct LagEstimate {
  std::optional<uint64_t> bytes;
  std::optional<std::chrono::milliseconds> time;
};

class WalHistory {
 public:
  using Clock = std::chrono::steady_clock;
  explicit WalHistory(size_t capacity = 256) : capacity_(capacity) {}

  // A primary LSN observed by a check sent at `sent_at`. An LSN lower than the last one (a new
  // primary on an older position, pg_rewind...) restarts the history.
  void record(Clock::time_point sent_at, Lsn lsn);
  void clear() { samples_.clear(); }
  std::optional<Lsn> latest() const;

  // Lag of a replica whose replay position `replay` was observed at `observed_at`, against the
  // newest recorded primary position. `replay_age` is bound 1 above (nullopt if NULL on the node).
  LagEstimate estimate(std::optional<Lsn> replay, Clock::time_point observed_at,
                       std::optional<std::chrono::milliseconds> replay_age) const;

 private:
  struct Sample {
    Clock::time_point at;
    Lsn lsn;
  };
  size_t capacity_;
  std::deque<Sample> samples_;
};

}  // namespace pgscale

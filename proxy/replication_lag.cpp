#include "proxy/replication_lag.hpp"

#include <algorithm>

namespace pgscale {

using std::chrono::milliseconds;

void WalHistory::record(Clock::time_point sent_at, Lsn lsn) {
  if (!samples_.empty() && (lsn < samples_.back().lsn || sent_at < samples_.back().at))
    samples_.clear();
  samples_.push_back({sent_at, lsn});
  while (samples_.size() > capacity_) samples_.pop_front();
}

std::optional<Lsn> WalHistory::latest() const {
  if (samples_.empty()) return std::nullopt;
  return samples_.back().lsn;
}

namespace {

milliseconds non_negative_ms(WalHistory::Clock::duration d) {
  return std::max(milliseconds{0}, std::chrono::ceil<milliseconds>(d));
}

}  // namespace

LagEstimate WalHistory::estimate(std::optional<Lsn> replay, Clock::time_point observed_at,
                                 std::optional<milliseconds> replay_age) const {
  LagEstimate out;
  if (!replay || samples_.empty()) return out;  // nothing to compare with: unknown
  const Lsn primary = samples_.back().lsn;
  out.bytes = lsn_bytes_behind(primary, *replay);
  if (*out.bytes == 0) {
    out.time = milliseconds{0};
    return out;
  }
  // Newest sample the replica has replayed: samples are in LSN order, search from the back.
  std::optional<milliseconds> history_bound;
  for (auto it = samples_.rbegin(); it != samples_.rend(); ++it) {
    if (it->lsn <= *replay) {
      history_bound = non_negative_ms(observed_at - it->at);
      break;
    }
  }
  if (history_bound && replay_age)
    out.time = std::min(*history_bound, std::max(milliseconds{0}, *replay_age));
  else if (history_bound)
    out.time = history_bound;
  else if (replay_age)  // behind all history: at least as old as the history
    out.time = std::max(non_negative_ms(observed_at - samples_.front().at), *replay_age);
  // else: no upper bound at all — unknown, so a time limit treats the replica as too far behind.
  return out;
}

}  // namespace pgscale

// WalHistory: replication lag in bytes and time (definitions in proxy/replication_lag.hpp).
#include <catch2/catch.hpp>

#include "proxy/replication_lag.hpp"

using namespace std::chrono_literals;
using pgscale::Lsn;
using pgscale::WalHistory;

namespace {
const WalHistory::Clock::time_point t0{std::chrono::seconds{1000}};
}

TEST_CASE("no primary sample: lag unknown", "[lag]") {
  WalHistory h;
  auto e = h.estimate(Lsn{10}, t0, 5ms);
  CHECK_FALSE(e.bytes.has_value());
  CHECK_FALSE(e.time.has_value());
  h.record(t0, Lsn{10});
  e = h.estimate(std::nullopt, t0, 5ms);  // replica without a replay position
  CHECK_FALSE(e.bytes.has_value());
}

TEST_CASE("caught up means zero lag even with an old replay timestamp", "[lag]") {
  WalHistory h;
  h.record(t0, Lsn{500});
  // Idle primary: last commit an hour ago, but the replica has everything.
  auto e = h.estimate(Lsn{500}, t0 + 1s, std::chrono::milliseconds{3600000});
  CHECK(e.bytes == 0u);
  CHECK(e.time == 0ms);
  // Replica sampled a little after the primary and already past it: still zero, never negative.
  e = h.estimate(Lsn{600}, t0 + 1s, 10ms);
  CHECK(e.bytes == 0u);
  CHECK(e.time == 0ms);
}

TEST_CASE("idle primary then one write: lag bounded by the history, not the replay age", "[lag]") {
  WalHistory h;
  h.record(t0, Lsn{500});
  h.record(t0 + 1s, Lsn{500});
  h.record(t0 + 2s, Lsn{900});  // one write between the 2nd and 3rd round
  auto e = h.estimate(Lsn{500}, t0 + 2s + 3ms, std::chrono::milliseconds{3600000});
  CHECK(e.bytes == 400u);
  CHECK(e.time == 1003ms);  // newest replayed sample was sent at t0+1s
}

TEST_CASE("steady load: the replay age is the tighter bound", "[lag]") {
  WalHistory h;
  h.record(t0, Lsn{100});
  h.record(t0 + 1s, Lsn{200});
  h.record(t0 + 2s, Lsn{300});
  auto e = h.estimate(Lsn{250}, t0 + 2s, 40ms);
  CHECK(e.bytes == 50u);
  CHECK(e.time == 40ms);
  // Without a replay timestamp (NULL on the node) the history bound is used.
  e = h.estimate(Lsn{250}, t0 + 2s, std::nullopt);
  CHECK(e.time == 1000ms);
}

TEST_CASE("replica behind the whole history", "[lag]") {
  WalHistory h(3);
  h.record(t0, Lsn{100});
  h.record(t0 + 1s, Lsn{200});
  h.record(t0 + 2s, Lsn{300});
  h.record(t0 + 3s, Lsn{400});  // capacity 3: the sample at LSN 100 is gone
  auto e = h.estimate(Lsn{150}, t0 + 3s, std::nullopt);
  CHECK(e.bytes == 250u);
  CHECK_FALSE(e.time.has_value());  // no upper bound: unknown, not a guess
  e = h.estimate(Lsn{150}, t0 + 3s, 9000ms);
  CHECK(e.time == 9000ms);
  e = h.estimate(Lsn{150}, t0 + 3s, 500ms);  // clock skew: never below the history's age
  CHECK(e.time == 2000ms);
}

TEST_CASE("an LSN going backwards restarts the history", "[lag]") {
  WalHistory h;
  h.record(t0, Lsn{1000});
  h.record(t0 + 1s, Lsn{10});  // e.g. another node became primary
  CHECK(h.latest() == Lsn{10});
  auto e = h.estimate(Lsn{5}, t0 + 1s, std::nullopt);
  CHECK(e.bytes == 5u);
  CHECK_FALSE(e.time.has_value());
}

// Bounded, sharded cache: normalised statement text → shared classification.
//
// N shards, each guarded by its own spinlock (held for a hash-map probe and a shared_ptr copy,
// tens of nanoseconds), so worker threads rarely meet and never block on a global lock. Eviction
// is CLOCK (second chance) per shard: a hit sets a reference bit; the hand clears bits until it
// finds an unreferenced slot. Every entry carries the epoch it was computed in; bumping the epoch
// (new function catalog, reload) invalidates all entries at once without touching them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/classifier.hpp"

namespace pgscale::classifier {

class StatementCache {
 public:
  explicit StatementCache(std::size_t capacity);
  ~StatementCache();

  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  void invalidate_all() { epoch_.fetch_add(1, std::memory_order_acq_rel); }

  // Null on a miss (absent, other epoch, or hash collision with another key).
  std::shared_ptr<const Classification> find(std::string_view key, std::uint64_t hash);
  void insert(std::string_view key, std::uint64_t hash, std::uint64_t epoch,
              std::shared_ptr<const Classification> value);
  void count_bypass() { bypass_.fetch_add(1, std::memory_order_relaxed); }
  // A repeat answered by the Classifier's per-thread memo before the cache: counted as a hit.
  void count_memo_hit() { memo_hits_.fetch_add(1, std::memory_order_relaxed); }
  CacheStats stats() const;
  std::size_t capacity() const { return capacity_; }

  static std::uint64_t hash(std::string_view key);

 private:
  struct Shard;
  std::size_t capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> epoch_{1};
  std::atomic<std::uint64_t> bypass_{0};
  alignas(64) std::atomic<std::uint64_t> memo_hits_{0};  // not beside the epoch every lookup reads
};

}  // namespace pgscale::classifier

#include "proxy/statement_cache.hpp"

#include <cstring>
#include <mutex>

namespace pgscale::classifier {
namespace {

constexpr std::size_t kShards = 32;

// Test-and-test-and-set spinlock: critical sections are a map probe plus a refcount increment.
class SpinLock {
 public:
  void lock() {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace

struct StatementCache::Shard {
  struct Slot {
    std::string key;
    std::uint64_t hash = 0;
    std::uint64_t epoch = 0;
    std::shared_ptr<const Classification> value;
    bool referenced = false;
    bool used = false;
  };

  explicit Shard(std::size_t cap) : slots(cap) { index.reserve(cap * 2); }

  alignas(64) SpinLock lock;
  std::vector<Slot> slots;
  std::unordered_map<std::uint64_t, std::uint32_t> index;  // hash → slot
  std::size_t hand = 0;
  std::size_t used = 0;
  std::uint64_t hits = 0, misses = 0, inserts = 0, evictions = 0;

  std::size_t victim() {
    if (used < slots.size()) return used++;
    for (;;) {  // terminates: each pass clears the bits it skips
      Slot& s = slots[hand];
      const std::size_t at = hand;
      hand = (hand + 1) % slots.size();
      if (!s.referenced) return at;
      s.referenced = false;
    }
  }
};

StatementCache::StatementCache(std::size_t capacity) : capacity_(capacity) {
  if (capacity_ == 0) return;
  const std::size_t per_shard = (capacity_ + kShards - 1) / kShards;
  for (std::size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>(per_shard));
}

StatementCache::~StatementCache() = default;

// Keys are a few tens of bytes and hashed once per statement not answered by the memo: 8 bytes
// per step with one multiply (std::hash's murmur costs about twice as much), then murmur3's
// finaliser. Quality only has to spread keys: a hit still compares the whole key.
std::uint64_t StatementCache::hash(std::string_view key) {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  auto load = [](const char* q) {
    std::uint64_t v;
    std::memcpy(&v, q, sizeof v);
    return v;
  };
  const char* p = key.data();
  std::size_t n = key.size();
  std::uint64_t h = 0x243F6A8885A308D3ull ^ (n * kMul);
  for (; n > 8; p += 8, n -= 8) {
    h = (h ^ load(p)) * kMul;
    h ^= h >> 29;
  }
  std::uint64_t last = 0;
  if (key.size() >= 8) {
    last = load(key.data() + key.size() - 8);  // the final block overlaps the one before
  } else {
    for (std::size_t i = 0; i < n; ++i) last |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  h = (h ^ last) * kMul;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

std::shared_ptr<const Classification> StatementCache::find(std::string_view key,
                                                           std::uint64_t hash) {
  if (shards_.empty()) return nullptr;
  Shard& sh = *shards_[(hash >> 7) % kShards];
  const std::uint64_t cur = epoch();
  std::lock_guard g(sh.lock);
  auto it = sh.index.find(hash);
  if (it != sh.index.end()) {
    Shard::Slot& s = sh.slots[it->second];
    if (s.epoch == cur && s.key == key) {
      s.referenced = true;
      ++sh.hits;
      return s.value;
    }
  }
  ++sh.misses;
  return nullptr;
}

void StatementCache::insert(std::string_view key, std::uint64_t hash, std::uint64_t epoch,
                            std::shared_ptr<const Classification> value) {
  if (shards_.empty()) return;
  Shard& sh = *shards_[(hash >> 7) % kShards];
  std::shared_ptr<const Classification> old;  // released outside the lock
  std::lock_guard g(sh.lock);
  std::size_t at;
  if (auto it = sh.index.find(hash); it != sh.index.end()) {
    at = it->second;  // same key recomputed (other epoch) or a 64-bit hash collision: replace
  } else {
    at = sh.victim();
    Shard::Slot& v = sh.slots[at];
    if (v.used) {
      sh.index.erase(v.hash);
      ++sh.evictions;
    }
    sh.index.emplace(hash, static_cast<std::uint32_t>(at));
  }
  Shard::Slot& s = sh.slots[at];
  s.key.assign(key);
  s.hash = hash;
  s.epoch = epoch;
  old = std::move(s.value);
  s.value = std::move(value);
  s.referenced = false;
  s.used = true;
  ++sh.inserts;
}

CacheStats StatementCache::stats() const {
  CacheStats st;
  for (const auto& sh : shards_) {
    std::lock_guard g(sh->lock);
    st.hits += sh->hits;
    st.misses += sh->misses;
    st.inserts += sh->inserts;
    st.evictions += sh->evictions;
  }
  st.hits += memo_hits_.load(std::memory_order_relaxed);
  st.bypass = bypass_.load(std::memory_order_relaxed);
  return st;
}

}  // namespace pgscale::classifier

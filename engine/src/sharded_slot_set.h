// sharded_slot_set.h — a hash set of slots that grows without a stall (internal).
//
// A hash table rehashes every element when it grows: at millions of entries
// that one insert takes tens of milliseconds, a stall of the writer (seen as
// replication lag). ShardedSlotSet splits its entries over kShards
// independent boost::unordered_flat_sets by the top bits of the (mixed)
// hash, so a growth rehashes one shard, 1/kShards of the entries; the shards
// of a uniform hash cross their thresholds over thousands of different
// inserts. A lookup pays one multiply and shift more.
//
// Hash and Equal are transparent functors over 32-bit slots and any lookup
// key they accept (an id, a path), as for boost::unordered_flat_set.
//
// THREAD SAFETY: as boost::unordered_flat_set — const methods may run
// concurrently, anything else needs exclusive access.
#pragma once

#include <array>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstddef>
#include <cstdint>

namespace canopy::internal {

template <typename Hash, typename Equal>
class ShardedSlotSet {
 public:
  static constexpr int kShardBits = 10;
  static constexpr size_t kShards = size_t{1} << kShardBits;

  ShardedSlotSet(const Hash& hash, const Equal& equal) : hash_(hash) {
    for (Shard& shard : shards_) shard = Shard(0, hash, equal);
  }

  // The stored slot equal to `key`, or null. Valid until the set changes.
  template <typename Key>
  const uint32_t* Find(const Key& key) const {
    const Shard& shard = shards_[ShardOf(key)];
    auto it = shard.find(key);
    return it == shard.end() ? nullptr : &*it;
  }
  // Inserts `slot` unless an equal one is stored; returns the stored one
  // and whether it was inserted.
  std::pair<uint32_t, bool> Insert(uint32_t slot) {
    auto [it, inserted] = shards_[ShardOf(slot)].insert(slot);
    size_ += inserted ? 1 : 0;
    return {*it, inserted};
  }
  // Removes the slot equal to `key`; false when there is none.
  template <typename Key>
  bool Erase(const Key& key) {
    Shard& shard = shards_[ShardOf(key)];
    auto it = shard.find(key);
    if (it == shard.end()) return false;
    shard.erase(it);
    --size_;
    return true;
  }
  void Reserve(size_t n) {
    // Shards are filled unevenly (by ~sqrt(n / kShards)): leave room.
    const size_t per_shard = n / kShards + n / kShards / 8 + 8;
    for (Shard& shard : shards_) shard.reserve(per_shard);
  }
  void Clear() {
    for (Shard& shard : shards_) shard.clear();
    size_ = 0;
  }
  size_t size() const { return size_; }
  size_t bucket_count() const {
    size_t buckets = 0;
    for (const Shard& shard : shards_) buckets += shard.bucket_count();
    return buckets;
  }
  // Calls f(const uint32_t&) for every slot, in no order. f may overwrite
  // a slot (through const_cast) only with one whose hash and equality are
  // the same (a renumbering that moved the keyed data along).
  template <typename F>
  void ForEach(F&& f) const {
    for (const Shard& shard : shards_) {
      for (const uint32_t& slot : shard) f(slot);
    }
  }

 private:
  using Shard = boost::unordered_flat_set<uint32_t, Hash, Equal>;

  template <typename Key>
  size_t ShardOf(const Key& key) const {
    // Fibonacci hashing: the top bits of the product depend on every bit of
    // the hash (std::hash of an integer is the integer itself).
    const uint64_t h = static_cast<uint64_t>(hash_(key)) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> (64 - kShardBits));
  }

  Hash hash_;
  std::array<Shard, kShards> shards_;
  size_t size_ = 0;
};

}  // namespace canopy::internal

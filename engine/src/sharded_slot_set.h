// sharded_slot_set.h — a hash set of slots that grows without a stall (internal).
//
// A hash table rehashes every element when it grows: at millions of entries
// that one insert takes tens of milliseconds, a stall of the writer (seen as
// replication lag). ShardedSlotSet splits its entries over kShards
// independent boost::unordered_flat_sets by the top bits of the (mixed)
// hash, so a growth concerns one shard, 1/kShards of the entries. A uniform
// hash fills the shards alike, though, so they all cross their thresholds
// within a few thousand inserts; and hashing a slot reads its key (an id
// column: about one cache miss per entry). So a shard of at least
// kIncrementalFrom entries grows incrementally, as Redis's dict does: its
// table becomes the shard's "old" table, a new table twice its size takes
// the inserts, and every later insert or erase in the shard moves
// kMigrateStep entries from the old table to the new one. A lookup tries the
// new table, then (while the shard migrates) the old one. The new table is
// sized so that it never grows before the migration ends.
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
#include <utility>
#include <vector>

namespace canopy::internal {

template <typename Hash, typename Equal>
class ShardedSlotSet {
 public:
  static constexpr int kShardBits = 10;
  static constexpr size_t kShards = size_t{1} << kShardBits;
  // Smaller shards grow the ordinary way (all at once: a few microseconds).
  static constexpr size_t kIncrementalFrom = 512;
  // Entries moved from a migrating shard's old table per insert or erase.
  static constexpr size_t kMigrateStep = 32;

  ShardedSlotSet(const Hash& hash, const Equal& equal) : hash_(hash) {
    for (Shard& shard : shards_) {
      shard.table = Table(0, hash, equal);
      shard.old = Table(0, hash, equal);
    }
  }

  // The stored slot equal to `key`, or null. Valid until the set changes.
  template <typename Key>
  const uint32_t* Find(const Key& key) const {
    const Shard& shard = shards_[ShardOf(key)];
    auto it = shard.table.find(key);
    if (it != shard.table.end()) return &*it;
    return shard.old.empty() ? nullptr : FindInOld(shard, key);
  }
  // Inserts `slot` unless an equal one is stored; returns the stored one
  // and whether it was inserted.
  std::pair<uint32_t, bool> Insert(uint32_t slot) {
    Shard& shard = shards_[ShardOf(slot)];
    if (shard.old.empty() && shard.table.size() >= shard.table.max_load() &&
        shard.table.size() >= kIncrementalFrom) {
      StartMigration(shard);
    }
    if (!shard.old.empty()) {
      auto old = shard.old.find(slot);
      if (old != shard.old.end()) return {*old, false};
    }
    auto [it, inserted] = shard.table.insert(slot);
    const uint32_t stored = *it;
    size_ += inserted ? 1 : 0;
    MigrateStep(shard);
    return {stored, inserted};
  }
  // Removes the slot equal to `key`; false when there is none.
  template <typename Key>
  bool Erase(const Key& key) {
    Shard& shard = shards_[ShardOf(key)];
    if (auto it = shard.table.find(key); it != shard.table.end()) {
      shard.table.erase(it);
    } else {
      if (shard.old.empty()) return false;
      auto old = shard.old.find(key);
      if (old == shard.old.end()) return false;
      if (old == shard.cursor) ++shard.cursor;
      shard.old.erase(old);
    }
    --size_;
    MigrateStep(shard);
    return true;
  }
  void Reserve(size_t n) {
    // Each shard at the average: the fuller ones grow incrementally as
    // inserts go on (room for the fullest in every shard would double most
    // tables whenever the average sits just under what a table holds).
    const size_t per_shard = n / kShards + 1;
    for (Shard& shard : shards_) {
      while (!shard.old.empty()) MigrateStep(shard);
      shard.table.reserve(per_shard);
    }
  }
  void Clear() {
    for (Shard& shard : shards_) {
      shard.table.clear();
      ReleaseOld(shard);
    }
    size_ = 0;
  }
  size_t size() const { return size_; }
  size_t bucket_count() const {
    size_t buckets = 0;
    for (const Shard& shard : shards_)
      buckets += shard.table.bucket_count() + shard.old.bucket_count();
    return buckets;
  }
  // Shards whose growth is still moving entries (for tests).
  size_t migrating_shards() const {
    size_t n = 0;
    for (const Shard& shard : shards_) n += shard.old.empty() ? 0 : 1;
    return n;
  }
  // Calls f(slot) for every slot, in no order.
  template <typename F>
  void ForEach(F&& f) const {
    for (const Shard& shard : shards_) {
      for (const uint32_t& slot : shard.table) f(slot);
      for (const uint32_t& slot : shard.old) f(slot);
    }
  }
  // Slots renumbered: every stored slot s becomes new_of[s].
  // REQUIRES: the keyed data moved along (slot new_of[s] hashes and compares
  // as s did), so each entry stays where it is: no rehash, no re-insert
  // (which would read every key again, a cache miss each).
  void Renumber(const std::vector<uint32_t>& new_of) {
    // The tables hand out const references; the elements are not const objects.
    ForEach([&](const uint32_t& s) { const_cast<uint32_t&>(s) = new_of[s]; });
  }

 private:
  using Table = boost::unordered_flat_set<uint32_t, Hash, Equal>;
  struct Shard {
    Table table;  // takes the inserts
    Table old;    // while migrating: the entries not moved yet; else empty
    // The next entry of `old` to move. Every entry before it is gone from
    // `old` (moved or erased), so a copy restarts at old.begin().
    typename Table::iterator cursor;

    Shard() = default;
    Shard(const Shard& o) : table(o.table), old(o.old), cursor(old.begin()) {}
    Shard(Shard&& o) noexcept
        : table(std::move(o.table)), old(std::move(o.old)), cursor(old.begin()) {}
    Shard& operator=(const Shard& o) {
      table = o.table;
      old = o.old;
      cursor = old.begin();
      return *this;
    }
    Shard& operator=(Shard&& o) noexcept {
      table = std::move(o.table);
      old = std::move(o.old);
      cursor = old.begin();
      return *this;
    }
  };

  template <typename Key>
  size_t ShardOf(const Key& key) const {
    // Fibonacci hashing: the top bits of the product depend on every bit of
    // the hash (std::hash of an integer is the integer itself).
    const uint64_t h = static_cast<uint64_t>(hash_(key)) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> (64 - kShardBits));
  }

  // Find's second probe, while the shard migrates (kept out of line so that
  // the common path stays small enough to inline).
  template <typename Key>
  [[gnu::noinline]] static const uint32_t* FindInOld(const Shard& shard, const Key& key) {
    auto old = shard.old.find(key);
    return old == shard.old.end() ? nullptr : &*old;
  }

  // The full table becomes `old`; the new one holds twice its entries, more
  // than it gets before the migration ends (kMigrateStep moves per insert).
  void StartMigration(Shard& shard) {
    const size_t n = shard.table.size();
    std::swap(shard.table, shard.old);
    shard.table.reserve(2 * n);
    shard.cursor = shard.old.begin();
  }
  // Moves up to kMigrateStep entries; frees `old` when it is empty. Entries
  // before the cursor are gone from `old` (moved or erased), so while `old`
  // has entries the cursor points at one.
  void MigrateStep(Shard& shard) {
    if (shard.old.empty()) return;
    for (size_t i = 0; i < kMigrateStep && shard.cursor != shard.old.end(); ++i) {
      const auto moving = shard.cursor++;
      shard.table.insert(*moving);
      shard.old.erase(moving);
    }
    if (shard.old.empty()) ReleaseOld(shard);
  }
  void ReleaseOld(Shard& shard) {
    shard.old = Table(0, shard.table.hash_function(), shard.table.key_eq());
    shard.cursor = shard.old.end();
  }

  Hash hash_;
  std::array<Shard, kShards> shards_;
  size_t size_ = 0;
};

}  // namespace canopy::internal

// slot_index.h — a copy's id -> slot index (internal to canopy::engine).
//
// Ids of a PostgreSQL table come from a sequence, so they are mostly small,
// non-negative and dense. SlotIndex keeps those in a direct array,
// dense_[id] = slot + 1 (0 = no row), and every other id in a hash set of
// slots hashed through the ids column (ShardedSlotSet: 4 bytes an entry plus
// a control byte, at a load factor of 0.44 to 0.875).
//
// An id goes to the array when the array already covers it or it is in
// [0, dense limit), the limit being twice the number of ids held plus
// 65,536, or more after a Reserve(n) (2n plus the same): the array never
// holds more than about two elements per id at the peak count (it does not
// shrink after deletes until Clear), 8 bytes, and usually one, 4 bytes; a
// lookup there is one load instead of a hash probe and a read of the ids
// column. Negative ids, ids near INT64_MAX and ids far beyond the others go
// to the hash set. An id that went to the hash set stays there when the
// array later grows past it (lookups in range that miss the array try the
// set; the set is usually empty).
//
// Growth never copies: the array is a BigArray (segmented, mapped half a
// segment ahead) and is grown without writing its new elements (fresh
// mappings read as zero), and the hash set grows shard by shard.
//
// THREAD SAFETY: as std::vector — const methods may run concurrently,
// anything else needs exclusive access.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "big_array.h"
#include "id_column.h"
#include "sharded_slot_set.h"

namespace canopy::internal {

inline constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();

class SlotIndex {
 public:
  // Ids in the array at least up to this, however few ids are held.
  static constexpr uint64_t kDenseFloor = uint64_t{1} << 16;

  // `ids` is the ids column: (*ids)[slot] is the id of the row at `slot`.
  explicit SlotIndex(const IdColumn* ids) : ids_(ids), set_(Hash{ids}, Equal{ids}) {}
  // Bound to one ids column: never copied or moved (CopyFrom copies).
  SlotIndex(const SlotIndex&) = delete;
  SlotIndex& operator=(const SlotIndex&) = delete;

  // The slot holding `id`, or kNil.
  uint32_t Find(int64_t id) const {
    const auto i = static_cast<uint64_t>(id);  // a negative id is past any array
    if (i < dense_.size()) {
      const uint32_t stored = dense_[i];
      if (stored != 0) return stored - 1;
    }
    if (set_.size() == 0) return kNil;
    const uint32_t* slot = set_.Find(id);
    return slot == nullptr ? kNil : *slot;
  }
  // Adds `slot` under its id unless a slot with that id is held; whether it
  // did. REQUIRES: (*ids)[slot] is set; slot < kNil.
  bool Insert(uint32_t slot) {
    const int64_t id = (*ids_)[slot];
    const auto i = static_cast<uint64_t>(id);
    // An id the array covers stays there even when erases have lowered the
    // dense limit below it (the array never shrinks).
    if (i >= dense_.size() && !InDenseRange(id)) {
      return set_.Insert(slot).second;
    }
    if (i >= dense_.size()) {
      dense_.GrowZeroed(i + 1);
    } else if (dense_[i] != 0) {
      return false;
    }
    if (set_.size() != 0 && set_.Find(id) != nullptr)
      return false;  // held from before the array reached it
    dense_[i] = slot + 1;
    ++dense_count_;
    return true;
  }
  void Erase(int64_t id) {
    const auto i = static_cast<uint64_t>(id);
    if (i < dense_.size() && dense_[i] != 0) {
      dense_[i] = 0;
      --dense_count_;
      return;
    }
    set_.Erase(id);
  }
  // Room for n ids of a table whose ids are about 1..n: the array's
  // elements are mapped now (their pages are touched as ids arrive), the
  // hash set is not sized (ids that miss the array grow it).
  // Reserve(0) maps nothing: an index grown from empty maps its array a
  // segment at a time, ahead of need, without huge pages (whose first touch
  // would zero 2 MiB inside one write).
  void Reserve(size_t n) {
    if (n == 0) return;
    dense_limit_ = std::max<uint64_t>(dense_limit_, 2 * uint64_t{n} + kDenseFloor);
    dense_.reserve(n + 1);
  }
  // Maps the array's first segment now, not in the first Insert (see
  // BigArray::MapFirstSegment).
  void MapFirstSegment() { dense_.MapFirstSegment(); }
  void Clear() {
    BigArray<uint32_t>().swap(dense_);  // released: GrowZeroed needs never-written elements
    dense_count_ = 0;
    dense_limit_ = 0;
    set_.Clear();
  }
  // Makes this index hold `other`'s slots; the set's are hashed through
  // this index's own ids (equal to `other`'s at those slots).
  void CopyFrom(const SlotIndex& other) {
    Clear();
    dense_ = other.dense_;
    dense_count_ = other.dense_count_;
    dense_limit_ = other.dense_limit_;
    set_.Reserve(other.set_.size());
    other.set_.ForEach([&](const uint32_t& slot) { set_.Insert(slot); });
  }
  // Slots renumbered (Compact): old slot -> new slot, the ids already moved
  // to their new slots (a set entry's hash and equality are its id's).
  void Renumber(const std::vector<uint32_t>& new_of) {
    for (size_t i = 0; i < dense_.size(); ++i) {
      uint32_t& stored = dense_[i];
      if (stored != 0) stored = new_of[stored - 1] + 1;
    }
    set_.Renumber(new_of);
  }
  size_t size() const { return dense_count_ + set_.size(); }
  size_t bytes() const { return dense_.bytes() + set_.bucket_count() * (sizeof(uint32_t) + 1); }
  // Ids held in the array and in the hash set (for tests and stats).
  size_t dense_size() const { return dense_count_; }
  size_t hashed_size() const { return set_.size(); }
  // Calls f(slot) for every slot, in no order.
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < dense_.size(); ++i) {
      if (dense_[i] != 0) f(dense_[i] - 1);
    }
    set_.ForEach([&](const uint32_t& slot) { f(slot); });
  }

 private:
  bool InDenseRange(int64_t id) const {
    return id >= 0 && static_cast<uint64_t>(id) <
                          std::max<uint64_t>(dense_limit_, 2 * uint64_t{size()} + kDenseFloor);
  }
  struct Hash {
    using is_transparent = void;
    const IdColumn* ids;
    size_t operator()(uint32_t slot) const { return std::hash<int64_t>()((*ids)[slot]); }
    size_t operator()(int64_t id) const { return std::hash<int64_t>()(id); }
  };
  struct Equal {
    using is_transparent = void;
    const IdColumn* ids;
    bool operator()(uint32_t a, uint32_t b) const { return (*ids)[a] == (*ids)[b]; }
    bool operator()(int64_t id, uint32_t slot) const { return (*ids)[slot] == id; }
    bool operator()(uint32_t slot, int64_t id) const { return (*ids)[slot] == id; }
  };

  const IdColumn* ids_;
  // dense_[id] = slot + 1, 0 = none. Every element past size() still reads
  // as zero (never written since mapped): Clear releases the array.
  BigArray<uint32_t> dense_;
  size_t dense_count_ = 0;
  uint64_t dense_limit_ = 0;  // raised by Reserve
  ShardedSlotSet<Hash, Equal> set_;
};

}  // namespace canopy::internal

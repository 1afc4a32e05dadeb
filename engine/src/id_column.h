// id_column.h — a table's ids by slot, 4 bytes an id (internal to
// canopy::engine).
//
// A row's id is a PostgreSQL bigint, but the ids of a table fed by a
// sequence stay far below 2^32. IdColumn stores an id in [0, 2^32 - 2] as
// itself in a 32-bit segmented array (BigArray), and any other id (negative,
// 2^32 - 1 and above) as kWide there with its value in a side map by slot:
// half the bytes of an int64 column on real data, exact on any data. A run
// of slots is copied out widened (CopyRange), vectorizable while there is
// no wide id at all.
//
// THREAD SAFETY: as std::vector — const methods may run concurrently,
// anything else needs exclusive access.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "big_array.h"

namespace canopy::internal {

class IdColumn {
 public:
  // The narrow value of a slot whose id is in the side map.
  static constexpr uint32_t kWide = std::numeric_limits<uint32_t>::max();

  static bool FitsNarrow(int64_t id) { return id >= 0 && id < int64_t{kWide}; }

  int64_t operator[](size_t slot) const {
    const uint32_t narrow = narrow_[slot];
    if (narrow != kWide) [[likely]]
      return narrow;
    return WideAt(slot);
  }
  void Set(size_t slot, int64_t id) {
    uint32_t& narrow = narrow_[slot];
    if (FitsNarrow(id)) {
      if (narrow == kWide) wide_.erase(static_cast<uint32_t>(slot));
      narrow = static_cast<uint32_t>(id);
    } else {
      narrow = kWide;
      wide_.insert_or_assign(static_cast<uint32_t>(slot), id);
    }
  }
  // A new slot at the end, id 0 until Set.
  void emplace_back() { narrow_.emplace_back(0u); }
  void push_back(int64_t id) {
    narrow_.emplace_back(0u);
    Set(narrow_.size() - 1, id);
  }

  size_t size() const { return narrow_.size(); }
  // Starts fetching slot's narrow value into the cache (a hint; a loop that
  // reads slots at random calls it a few slots ahead).
  void Prefetch(size_t slot) const { __builtin_prefetch(&narrow_[slot]); }
  void reserve(size_t n) { narrow_.reserve(n); }
  void Prefault(size_t n) { narrow_.Prefault(n); }  // see BigArray::Prefault
  void MapFirstSegment() { narrow_.MapFirstSegment(); }
  void clear() {
    narrow_.clear();
    wide_.clear();
  }
  void swap(IdColumn& other) noexcept {
    narrow_.swap(other.narrow_);
    wide_.swap(other.wide_);
  }
  size_t bytes() const {
    return narrow_.bytes() + wide_.bucket_count() * (sizeof(std::pair<uint32_t, int64_t>) + 1);
  }
  // How many slots hold an id outside [0, 2^32 - 2] (including freed slots
  // not yet reused).
  size_t wide_count() const { return wide_.size(); }

  // Whether both hold the same ids at every slot.
  bool SameElements(const IdColumn& other) const {
    return narrow_.SameElements(other.narrow_) && wide_ == other.wide_;
  }

  // Appends the ids of slots [begin, end) to *out, in slot order.
  // REQUIRES: begin <= end <= size().
  void CopyRange(size_t begin, size_t end, std::vector<int64_t>* out) const {
    if (wide_.empty()) {
      narrow_.CopyRange(begin, end, out);  // widening, a segment at a time
      return;
    }
    for (size_t slot = begin; slot < end; ++slot) out->push_back((*this)[slot]);
  }

 private:
  // Out of line, so that operator[] stays a load and a compare where it is
  // inlined (answer loops).
  [[gnu::noinline, gnu::cold]] int64_t WideAt(size_t slot) const {
    return wide_.find(static_cast<uint32_t>(slot))->second;
  }

  BigArray<uint32_t> narrow_;
  boost::unordered_flat_map<uint32_t, int64_t> wide_;  // by slot
};

}  // namespace canopy::internal

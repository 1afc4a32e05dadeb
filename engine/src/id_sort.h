// id_sort.h — sorting answer ids (internal).
//
// Descendant answers are collected in tree order and must come out in
// ascending id order. Dense large answers (a big group's subtree) go through
// a bitmap over the id range; sparse large ones through an LSD radix sort over
// the bits that vary (max - min); small ones through std::sort. Answers
// assembled from already-sorted pieces (the sorted runs of laid-out
// subtrees, held compactly as SortedIdRun) are merged instead of sorted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace canopy::internal {

// Sorts ids ascending and removes duplicates. O(n) for large inputs.
void SortUniqueIds(std::vector<int64_t>* ids);
// Sorts ids ascending, duplicates kept. O(n) for large inputs.
void SortIds(std::vector<int64_t>* ids);

// Ascending ids without duplicates, kept compactly: 32-bit offsets from the
// smallest when they span less than 2^32 (GitLab's serial ids do), else the
// ids themselves. The offsets are held in chunks of kChunkIds (the last one
// shorter), immutable and shared: the run WithChanges makes shares every
// chunk before its first change with this one, so ids added past the end
// (GitLab's new ids) cost O(kChunkIds + added), not O(size()), and no
// whole run is copied inside one write. Immutable once made; copying it out
// is a widening copy.
class SortedIdRun {
 public:
  static constexpr size_t kChunkIds = 8192;  // (32 KiB of offsets)

  // REQUIRES: `ids` ascending without duplicates.
  explicit SortedIdRun(std::span<const int64_t> ids);
  size_t size() const { return size_; }
  int64_t operator[](size_t i) const {
    return wide_.empty() ? base_ + static_cast<int64_t>(chunks_[i / kChunkIds][i % kChunkIds])
                         : wide_[i];
  }
  // Held as 32-bit offsets (every id within 2^32 of the smallest).
  bool narrow() const { return wide_.empty(); }
  // Ids [first, last] (none when first > last).
  struct IdRange {
    int64_t first = 1, last = 0;
    bool Contains(int64_t id) const { return first <= id && id <= last; }
  };
  // The ids whose addition or removal leaves every chunk but the last one as
  // it is in WithChanges: from the last chunk's first id on, within the
  // offsets' range, of a narrow run (none for a wide or empty one). GitLab's
  // new ids are in it; changes that all are cost a fold
  // O(kChunkIds + changes + size() / kChunkIds), whatever the run's size.
  IdRange LastChunkIds() const;
  // The position of the first id >= `id` (size() if none).
  size_t LowerBound(int64_t id) const;
  // Appends the ids at positions [begin, end) to *out.
  // REQUIRES: begin <= end <= size().
  void AppendTo(size_t begin, size_t end, std::vector<int64_t>* out) const;
  // This run without `removed` and with `added`: the chunks before the first
  // change shared, the rest made in one pass over its offsets when every
  // added id fits them (else through a widened copy of the whole run).
  // REQUIRES: both ascending without duplicates; every removed id in the
  // run, no added id in it.
  SortedIdRun WithChanges(std::span<const int64_t> removed, std::span<const int64_t> added) const;
  // Its memory, a chunk shared with other runs counted as its share.
  size_t bytes() const;

 private:
  using Chunk = std::shared_ptr<const uint32_t[]>;
  SortedIdRun() = default;
  size_t ChunkSize(size_t k) const {
    return k + 1 < chunks_.size() ? kChunkIds : size_ - k * kChunkIds;
  }
  // Appends `offsets` as new chunks. REQUIRES: size() a multiple of kChunkIds.
  void AddChunks(std::span<const uint32_t> offsets);

  int64_t base_ = 0;  // no id is smaller, when narrow
  size_t size_ = 0;
  std::vector<Chunk> chunks_;  // id - base_, chunk k holding positions from k * kChunkIds
  std::vector<int64_t> wide_;  // else the ids
};

// Takes the ascending `removed` out of the ascending *ids and merges the
// ascending `added` in.
// REQUIRES: all three ascending without duplicates; every removed id in
// *ids, no added id in it.
void ApplySortedChanges(std::vector<int64_t>* ids, std::span<const int64_t> removed,
                        std::span<const int64_t> added);

// Merges the ascending `more` into the ascending *ids, in place from the back.
// REQUIRES: both ascending; disjoint (so the result holds no duplicate).
void MergeSortedIds(std::vector<int64_t>* ids, std::span<const int64_t> more);
void MergeSortedIds(std::vector<int64_t>* ids, const SortedIdRun& more);

// Sorts *ids (duplicates removed) together with the ascending `pieces`: a
// piece holding at least half of the answer is merged in (one pass), the
// others are sorted with *ids.
// REQUIRES: the pieces and *ids pairwise disjoint (so the result holds no
// duplicate).
void SortAndMergeIds(std::vector<int64_t>* ids, std::span<const SortedIdRun* const> pieces);

}  // namespace canopy::internal

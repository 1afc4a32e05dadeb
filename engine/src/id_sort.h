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
#include <span>
#include <vector>

namespace canopy::internal {

// Sorts ids ascending and removes duplicates. O(n) for large inputs.
void SortUniqueIds(std::vector<int64_t>* ids);
// Sorts ids ascending, duplicates kept. O(n) for large inputs.
void SortIds(std::vector<int64_t>* ids);

// Ascending ids without duplicates, kept compactly: 32-bit offsets from the
// smallest when they span less than 2^32 (GitLab's serial ids do), else the
// ids themselves. Immutable once made; copying it out is a widening copy.
class SortedIdRun {
 public:
  // REQUIRES: `ids` ascending without duplicates.
  explicit SortedIdRun(std::span<const int64_t> ids);
  size_t size() const { return offsets_.size() + wide_.size(); }  // one of them is empty
  int64_t operator[](size_t i) const {
    return wide_.empty() ? base_ + static_cast<int64_t>(offsets_[i]) : wide_[i];
  }
  // The position of the first id >= `id` (size() if none).
  size_t LowerBound(int64_t id) const;
  // Appends the ids at positions [begin, end) to *out.
  // REQUIRES: begin <= end <= size().
  void AppendTo(size_t begin, size_t end, std::vector<int64_t>* out) const;
  // This run without `removed` and with `added`, in one pass over its
  // offsets when every added id fits them (else through a widened copy).
  // REQUIRES: both ascending without duplicates; every removed id in the
  // run, no added id in it.
  SortedIdRun WithChanges(std::span<const int64_t> removed, std::span<const int64_t> added) const;
  size_t bytes() const {
    return offsets_.capacity() * sizeof(uint32_t) + wide_.capacity() * sizeof(int64_t);
  }

 private:
  SortedIdRun() = default;
  int64_t base_ = 0;               // no id is smaller, when narrow
  std::vector<uint32_t> offsets_;  // id - base_, when every id fits
  std::vector<int64_t> wide_;      // else the ids
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

// id_sort.h — sorting answer ids (internal).
//
// Descendant answers are collected in tree order and must come out in
// ascending id order. Dense large answers (a big group's subtree) go through
// a bitmap over the id range; sparse large ones through an LSD radix sort over
// the bits that vary (max - min); small ones through std::sort. Answers
// assembled from already-sorted pieces (the sorted runs of laid-out
// subtrees) are merged instead of sorted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace canopy::internal {

// Sorts ids ascending and removes duplicates. O(n) for large inputs.
void SortUniqueIds(std::vector<int64_t>* ids);

// Merges the ascending `more` into the ascending *ids, in place from the back.
// REQUIRES: both ascending; disjoint (so the result holds no duplicate).
void MergeSortedIds(std::vector<int64_t>* ids, std::span<const int64_t> more);

// Sorts *ids (duplicates removed) together with the ascending `pieces`: a
// piece holding at least half of the answer is merged in (one pass), the
// others are sorted with *ids.
// REQUIRES: each piece ascending without duplicates; the pieces and *ids
// pairwise disjoint (so the result holds no duplicate).
void SortAndMergeIds(std::vector<int64_t>* ids, std::span<const std::span<const int64_t>> pieces);

}  // namespace canopy::internal

// id_sort.h — sorting answer ids (internal).
//
// Descendant answers are collected in tree order and must come out in
// ascending id order. Dense large answers (a big group's subtree) go through
// a bitmap over the id range; sparse large ones through an LSD radix sort over
// the bits that vary (max - min); small ones through std::sort.
#pragma once

#include <cstdint>
#include <vector>

namespace canopy::internal {

// Sorts ids ascending and removes duplicates. O(n) for large inputs.
void SortUniqueIds(std::vector<int64_t>* ids);

}  // namespace canopy::internal

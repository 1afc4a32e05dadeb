// id_sort.h — sorting answer ids (internal).
//
// Descendant answers are collected in tree order and must come out in
// ascending id order. For large answers an LSD radix sort over the bits that
// actually vary (max - min) beats comparison sorting several times over;
// small answers use std::sort.
#pragma once

#include <cstdint>
#include <vector>

namespace canopy::internal {

// Sorts ids ascending. O(n) for large inputs (2-3 passes for ids below 2^33).
void SortIds(std::vector<int64_t>* ids);

}  // namespace canopy::internal

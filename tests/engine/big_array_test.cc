// The engine's segmented column array (engine/src/big_array.h): elements
// never move when it grows, runs copy across segment boundaries, copies and
// swaps keep every element.
#include "big_array.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace canopy::internal {
namespace {

using Ids = BigArray<int64_t>;
constexpr size_t kSegment = Ids::kSegmentElements;

Ids Filled(size_t n) {
  Ids a;
  for (size_t i = 0; i < n; ++i) a.push_back(static_cast<int64_t>(i) * 7 - 3);
  return a;
}

TEST(BigArray, EmptyHasNothing) {
  Ids a;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(a.bytes(), 0u);
  EXPECT_TRUE(a.begin() == a.end());
  std::vector<int64_t> out = {1};
  a.CopyRange(0, 0, &out);
  EXPECT_EQ(out, std::vector<int64_t>{1});
}

TEST(BigArray, SegmentsAreFourMebibytesOfWholePages) {
  EXPECT_EQ(kSegment * sizeof(int64_t), size_t{4} << 20);
  struct Node {
    char bytes[56];
  };
  EXPECT_EQ(BigArray<Node>::kSegmentElements, 65536u);  // 3.5 MiB
}

TEST(BigArray, GrowthNeverMovesAnElement) {
  Ids a;
  a.push_back(11);
  const int64_t* first = &a[0];
  std::vector<const int64_t*> addresses;
  for (size_t i = 1; i < 3 * kSegment + 5; ++i) {
    a.push_back(static_cast<int64_t>(i));
    if (i % (kSegment / 2) == 0) addresses.push_back(&a[i]);
  }
  EXPECT_EQ(&a[0], first);
  EXPECT_EQ(a[0], 11);
  size_t k = 0;
  for (size_t i = 1; i < a.size(); ++i) {
    if (i % (kSegment / 2) == 0) {
      EXPECT_EQ(&a[i], addresses[k++]) << i;
    }
  }
  EXPECT_EQ(a.capacity(), 4 * kSegment);
  EXPECT_EQ(a.bytes(), (a.size() * sizeof(int64_t) + 4095) / 4096 * 4096);
}

TEST(BigArray, GrowthMapsTheNextSegmentHalfASegmentAhead) {
  Ids a;
  a.push_back(1);
  EXPECT_EQ(a.capacity(), kSegment);
  while (a.size() < kSegment / 2) a.push_back(2);
  EXPECT_EQ(a.capacity(), kSegment);
  a.push_back(3);  // past half the last segment: the next one is mapped now
  EXPECT_EQ(a.capacity(), 2 * kSegment);
  EXPECT_EQ(a.bytes(), kSegment / 2 * sizeof(int64_t) + 4096);
}

// MapFirstSegment maps an empty array's first segment ahead of its first
// element (and does nothing once there is a segment).
TEST(BigArray, MapFirstSegmentAheadOfTheFirstElement) {
  Ids a;
  a.MapFirstSegment();
  EXPECT_EQ(a.capacity(), kSegment);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.bytes(), 0u);
  const int64_t* first = &a.emplace_back(7);
  EXPECT_EQ(a.capacity(), kSegment);  // no mapping in the first emplace_back
  a.MapFirstSegment();
  EXPECT_EQ(a.capacity(), kSegment);
  EXPECT_EQ(&a[0], first);
  EXPECT_EQ(a[0], 7);
}

TEST(BigArray, CopyRangeAcrossSegmentBoundaries) {
  const Ids a = Filled(2 * kSegment + 100);
  const std::pair<size_t, size_t> ranges[] = {{0, a.size()},
                                              {kSegment - 3, kSegment + 3},
                                              {kSegment, kSegment},
                                              {5, 2 * kSegment + 1},
                                              {2 * kSegment, 2 * kSegment + 100}};
  for (auto [begin, end] : ranges) {
    std::vector<int64_t> out = {-1};
    a.CopyRange(begin, end, &out);
    ASSERT_EQ(out.size(), end - begin + 1);
    EXPECT_EQ(out[0], -1);
    for (size_t i = begin; i < end; ++i) ASSERT_EQ(out[i - begin + 1], a[i]) << begin << " " << i;
  }
}

TEST(BigArray, CopyMoveSwapKeepEveryElement) {
  const Ids a = Filled(kSegment + 17);
  Ids copy;
  copy.push_back(99);  // replaced, not appended to
  copy = a;
  ASSERT_EQ(copy.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(copy[i], a[i]);
  copy[3] = 1234;
  EXPECT_NE(a[3], 1234);  // a deep copy

  Ids moved(std::move(copy));
  EXPECT_EQ(moved.size(), a.size());
  EXPECT_EQ(moved[3], 1234);

  Ids small = Filled(3);
  small.swap(moved);
  EXPECT_EQ(small.size(), a.size());
  EXPECT_EQ(small[kSegment + 16], a[kSegment + 16]);
  EXPECT_EQ(moved.size(), 3u);
  EXPECT_EQ(moved[2], 11);

  int64_t sum = 0, expected = 0;
  for (int64_t v : moved) sum += v;
  for (size_t i = 0; i < 3; ++i) expected += moved[i];
  EXPECT_EQ(sum, expected);
}

TEST(BigArray, ReserveResizeClear) {
  Ids a;
  a.reserve(kSegment + 1);
  EXPECT_EQ(a.capacity(), 2 * kSegment);
  EXPECT_EQ(a.size(), 0u);
  a.push_back(5);
  a.resize(kSegment + 2);  // value-initialized past the old size
  EXPECT_EQ(a[0], 5);
  EXPECT_EQ(a[kSegment + 1], 0);
  a.clear();
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.capacity(), 2 * kSegment);  // kept for reuse
  a.emplace_back(8);
  EXPECT_EQ(a.back(), 8);
}

}  // namespace
}  // namespace canopy::internal

// The engine's id columns and id -> slot indexes. IdColumn
// (engine/src/id_column.h): ids of 32 bits in the array, the others exact
// in the side map, through overwrites and copies out. SlotIndex
// (engine/src/slot_index.h): dense ids in the direct array, the others
// (negative, near INT64_MAX, far beyond) in the hash set; an id hashed
// before the array grew past it stays findable and unique; erase, reserve,
// renumber, copy and clear keep every answer; and a random stream of
// operations answers like a std::unordered_map.
#include "slot_index.h"
#include "id_column.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>
#include <vector>

#include "test_seed.h"

namespace canopy::internal {
namespace {

TEST(IdColumn, NarrowAndWideIdsReadBackExactly) {
  const std::vector<int64_t> ids = {0,
                                    1,
                                    int64_t{IdColumn::kWide} - 1,  // the largest narrow id
                                    int64_t{IdColumn::kWide},
                                    int64_t{1} << 40,
                                    -1,
                                    std::numeric_limits<int64_t>::min(),
                                    std::numeric_limits<int64_t>::max()};
  IdColumn column;
  for (int64_t id : ids) column.push_back(id);
  EXPECT_EQ(column.wide_count(), 5u);
  for (size_t slot = 0; slot < ids.size(); ++slot) EXPECT_EQ(column[slot], ids[slot]);
  std::vector<int64_t> out = {42};
  column.CopyRange(1, ids.size(), &out);
  EXPECT_EQ(out.size(), ids.size());
  EXPECT_EQ(out[0], 42);
  for (size_t slot = 1; slot < ids.size(); ++slot) EXPECT_EQ(out[slot], ids[slot]);

  // Overwriting a wide id with a narrow one (a reused slot) drops it from
  // the side map, and the reverse.
  for (size_t slot = 0; slot < ids.size(); ++slot) column.Set(slot, static_cast<int64_t>(slot));
  EXPECT_EQ(column.wide_count(), 0u);
  column.Set(2, -5);
  EXPECT_EQ(column[2], -5);
  EXPECT_EQ(column.wide_count(), 1u);

  IdColumn copy = column;
  EXPECT_TRUE(copy.SameElements(column));
  copy.Set(2, 2);
  EXPECT_FALSE(copy.SameElements(column));
  copy.Set(2, -5);
  EXPECT_TRUE(copy.SameElements(column));
  copy.Set(3, int64_t{1} << 33);
  EXPECT_FALSE(copy.SameElements(column));
}

TEST(IdColumn, CopyRangeWidensAcrossSegments) {
  IdColumn column;
  const size_t n = 3 * BigArray<uint32_t>::kSegmentElements + 17;
  for (size_t slot = 0; slot < n; ++slot) column.push_back(static_cast<int64_t>(n - slot) * 3);
  std::vector<int64_t> out;
  const size_t begin = BigArray<uint32_t>::kSegmentElements - 5;
  column.CopyRange(begin, n, &out);
  ASSERT_EQ(out.size(), n - begin);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_EQ(out[i], static_cast<int64_t>(n - begin - i) * 3);
  column.Set(n - 1, -9);  // one wide id: the slot-by-slot path
  out.clear();
  column.CopyRange(begin, n, &out);
  ASSERT_EQ(out.size(), n - begin);
  EXPECT_EQ(out.back(), -9);
  EXPECT_EQ(out[0], static_cast<int64_t>(n - begin) * 3);
}

// An ids column and its index, slots handed out in order.
struct Table {
  IdColumn ids;
  SlotIndex index{&ids};
  bool last_inserted = false;  // what the last Add's Insert returned
  uint32_t Add(int64_t id) {
    ids.push_back(id);
    const auto slot = static_cast<uint32_t>(ids.size() - 1);
    last_inserted = index.Insert(slot);
    return slot;
  }
};

TEST(SlotIndex, DenseIdsLiveInTheArray) {
  Table t;
  for (int64_t id = 1; id <= 300'000; ++id) t.Add(id);
  EXPECT_EQ(t.index.size(), 300'000u);
  EXPECT_EQ(t.index.dense_size(), 300'000u);
  EXPECT_EQ(t.index.hashed_size(), 0u);
  for (int64_t id = 1; id <= 300'000; ++id) ASSERT_EQ(t.index.Find(id), id - 1);
  EXPECT_EQ(t.index.Find(0), kNil);
  EXPECT_EQ(t.index.Find(300'001), kNil);
  EXPECT_EQ(t.index.Find(-1), kNil);
  EXPECT_EQ(t.index.Find(std::numeric_limits<int64_t>::min()), kNil);
  EXPECT_EQ(t.index.Find(std::numeric_limits<int64_t>::max()), kNil);
  // About 4 bytes an id, not a hash table's 5.7 to 11.
  EXPECT_LE(t.index.bytes(), 300'001u * 4 + 4096);
}

TEST(SlotIndex, OtherIdsLiveInTheHashSet) {
  Table t;
  const std::vector<int64_t> ids = {0,
                                    -1,
                                    std::numeric_limits<int64_t>::min() + 1,
                                    std::numeric_limits<int64_t>::max(),
                                    std::numeric_limits<int64_t>::max() - 1,
                                    int64_t{1} << 40,
                                    SlotIndex::kDenseFloor + 100,  // past 2 * 6 + kDenseFloor
                                    SlotIndex::kDenseFloor + 13};  // under 2 * 7 + kDenseFloor
  for (int64_t id : ids) t.Add(id);
  EXPECT_EQ(t.index.dense_size(), 2u);  // 0 and kDenseFloor + 13
  EXPECT_EQ(t.index.hashed_size(), ids.size() - 2);
  for (uint32_t slot = 0; slot < ids.size(); ++slot) EXPECT_EQ(t.index.Find(ids[slot]), slot);
  EXPECT_EQ(t.index.Find(std::numeric_limits<int64_t>::min()), kNil);
  EXPECT_EQ(t.index.Find(-2), kNil);
}

TEST(SlotIndex, AnIdHashedBeforeTheArrayReachedItStaysUnique) {
  Table t;
  const int64_t far = 3 * static_cast<int64_t>(SlotIndex::kDenseFloor);
  const uint32_t far_slot = t.Add(far);  // beyond the dense range of an empty index
  EXPECT_EQ(t.index.hashed_size(), 1u);
  for (int64_t id = 1; id <= far + 10; ++id) {  // the array grows past `far`
    if (id != far) t.Add(id);
  }
  EXPECT_EQ(t.index.hashed_size(), 1u);
  EXPECT_EQ(t.index.Find(far), far_slot);
  const size_t before = t.index.size();
  t.Add(far);  // a second row with that id is refused
  EXPECT_FALSE(t.last_inserted);
  EXPECT_EQ(t.index.size(), before);
  EXPECT_EQ(t.index.Find(far), far_slot);
  t.index.Erase(far);
  EXPECT_EQ(t.index.Find(far), kNil);
  EXPECT_EQ(t.index.hashed_size(), 0u);
  const uint32_t again = t.Add(far);  // now in the array
  EXPECT_EQ(t.index.hashed_size(), 0u);
  EXPECT_EQ(t.index.Find(far), again);
}

TEST(SlotIndex, AnIdTheArrayCoversStaysThereAfterErasesLowerTheLimit) {
  Table t;
  for (int64_t id = 1; id <= 100'000; ++id) t.Add(id);
  for (int64_t id = 1; id < 100'000; ++id) t.index.Erase(id);
  ASSERT_EQ(t.index.size(), 1u);  // the dense limit is now 2 * 1 + kDenseFloor
  const uint32_t held = t.index.Find(100'000);
  t.Add(100'000);  // a second row with that id is refused
  EXPECT_FALSE(t.last_inserted);
  EXPECT_EQ(t.index.size(), 1u);
  EXPECT_EQ(t.index.hashed_size(), 0u);
  t.index.Erase(100'000);
  EXPECT_EQ(t.index.Find(100'000), kNil);
  EXPECT_EQ(t.index.size(), 0u);
  const uint32_t again = t.Add(99'999);  // covered by the array: goes there
  EXPECT_NE(again, held);
  EXPECT_EQ(t.index.dense_size(), 1u);
  EXPECT_EQ(t.index.Find(99'999), again);
}

TEST(SlotIndex, DuplicateAndErasedIdsInTheArray) {
  Table t;
  const uint32_t first = t.Add(5);
  EXPECT_TRUE(t.last_inserted);
  t.Add(5);
  EXPECT_FALSE(t.last_inserted);
  EXPECT_EQ(t.index.size(), 1u);
  EXPECT_EQ(t.index.Find(5), first);
  t.index.Erase(5);
  t.index.Erase(5);  // absent: nothing
  t.index.Erase(-5);
  EXPECT_EQ(t.index.size(), 0u);
  EXPECT_EQ(t.index.Find(5), kNil);
  const uint32_t next = t.Add(5);
  EXPECT_EQ(t.index.Find(5), next);
}

TEST(SlotIndex, ReserveWidensTheDenseRange) {
  Table t;
  t.index.Reserve(1'000'000);
  t.Add(1'500'000);  // under 2 * 1,000,000 + kDenseFloor
  t.Add(2'100'000);  // over it
  EXPECT_EQ(t.index.dense_size(), 1u);
  EXPECT_EQ(t.index.hashed_size(), 1u);
  EXPECT_EQ(t.index.Find(1'500'000), 0u);
  EXPECT_EQ(t.index.Find(2'100'000), 1u);
  t.index.Clear();  // and Clear takes the reserve back
  t.Add(1'500'000);
  EXPECT_EQ(t.index.dense_size(), 0u);
  EXPECT_EQ(t.index.hashed_size(), 1u);
}

TEST(SlotIndex, ClearAndCopyLeaveNoStaleEntries) {
  Table big, small;
  for (int64_t id = 1; id <= 200'000; ++id) big.Add(id);
  big.Add(-7);
  for (int64_t id = 1; id <= 10; ++id) small.Add(id);
  small.Add(int64_t{1} << 50);
  // `big` takes `small`'s slots; its ids column must equal small's there.
  Table copy;
  for (int64_t id = 1; id <= 200'000; ++id) copy.Add(id);
  copy.ids.clear();
  for (size_t slot = 0; slot < small.ids.size(); ++slot) copy.ids.push_back(small.ids[slot]);
  copy.index.CopyFrom(small.index);
  EXPECT_EQ(copy.index.size(), small.index.size());
  for (uint32_t slot = 0; slot < small.ids.size(); ++slot) {
    EXPECT_EQ(copy.index.Find(small.ids[slot]), slot);
  }
  // The array grows again over where the old entries were: none comes back.
  // (60,000 is in the dense range of 11 ids.)
  copy.Add(60'000);
  EXPECT_EQ(copy.index.dense_size(), 11u);
  EXPECT_EQ(copy.index.Find(60'000), copy.ids.size() - 1);
  EXPECT_EQ(copy.index.Find(59'999), kNil);
  EXPECT_EQ(copy.index.Find(100), kNil);

  big.index.Clear();
  EXPECT_EQ(big.index.size(), 0u);
  EXPECT_EQ(big.index.Find(100), kNil);
  EXPECT_EQ(big.index.Find(-7), kNil);
  big.ids.clear();
  big.Add(60'000);
  EXPECT_EQ(big.index.dense_size(), 1u);
  EXPECT_EQ(big.index.Find(60'000), 0u);
  EXPECT_EQ(big.index.Find(59'999), kNil);
  EXPECT_EQ(big.index.Find(100), kNil);
}

TEST(SlotIndex, RenumberMovesEverySlot) {
  Table t;
  std::vector<int64_t> ids;
  for (int64_t id = 1; id <= 5000; ++id) ids.push_back(id % 7 == 0 ? -id : id);
  ids.push_back(int64_t{1} << 45);
  for (int64_t id : ids) t.Add(id);
  std::vector<uint32_t> new_of(ids.size());
  std::iota(new_of.begin(), new_of.end(), 0u);
  std::mt19937_64 rng(canopy_test::TestSeed(41));
  std::shuffle(new_of.begin(), new_of.end(), rng);
  for (uint32_t old = 0; old < ids.size(); ++old) t.ids.Set(new_of[old], ids[old]);
  t.index.Renumber(new_of);
  for (uint32_t old = 0; old < ids.size(); ++old) ASSERT_EQ(t.index.Find(ids[old]), new_of[old]);
  size_t visited = 0;
  t.index.ForEach([&](uint32_t slot) {
    ++visited;
    EXPECT_EQ(t.index.Find(t.ids[slot]), slot);
  });
  EXPECT_EQ(visited, ids.size());
}

TEST(SlotIndex, RandomStreamAnswersLikeAMap) {
  const uint64_t seed = canopy_test::TestSeed(42);
  SCOPED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Table t;
  std::unordered_map<int64_t, uint32_t> model;
  auto random_id = [&]() -> int64_t {
    switch (rng() % 4) {
      case 0:
        return static_cast<int64_t>(rng() % 200'000);  // dense
      case 1:
        return static_cast<int64_t>(rng() % 2'000'000);  // partly past the range
      case 2:
        return -static_cast<int64_t>(rng() % 1000) - 1;
      default:
        return std::numeric_limits<int64_t>::max() - static_cast<int64_t>(rng() % 1000);
    }
  };
  for (int step = 0; step < 200'000; ++step) {
    const int64_t id = random_id();
    if (rng() % 3 != 0) {
      const uint32_t slot = t.Add(id);
      ASSERT_EQ(t.last_inserted, model.try_emplace(id, slot).second) << id;
    } else {
      t.index.Erase(id);
      model.erase(id);
    }
    ASSERT_EQ(t.index.size(), model.size());
    const int64_t probe = random_id();
    const auto it = model.find(probe);
    ASSERT_EQ(t.index.Find(probe), it == model.end() ? kNil : it->second) << probe;
  }
  for (const auto& [id, slot] : model) ASSERT_EQ(t.index.Find(id), slot);
  EXPECT_GT(t.index.dense_size(), 0u);
  EXPECT_GT(t.index.hashed_size(), 0u);
}

}  // namespace
}  // namespace canopy::internal

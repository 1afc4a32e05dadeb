// The engine's id -> slot hash set (engine/src/sharded_slot_set.h): every
// slot stays findable as its shards grow, through erases, clears, reserves
// and a hash that does not spread its keys.
#include "sharded_slot_set.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace canopy::internal {
namespace {

// Slots keyed by ids[slot], as the engine's SlotIndex; `spread` = false
// hashes every id to the same value.
struct Hash {
  using is_transparent = void;
  const std::vector<int64_t>* ids;
  bool spread = true;
  size_t operator()(uint32_t slot) const { return (*this)((*ids)[slot]); }
  size_t operator()(int64_t id) const { return spread ? std::hash<int64_t>()(id) : 42; }
};
struct Equal {
  using is_transparent = void;
  const std::vector<int64_t>* ids;
  bool operator()(uint32_t a, uint32_t b) const { return (*ids)[a] == (*ids)[b]; }
  bool operator()(int64_t id, uint32_t slot) const { return (*ids)[slot] == id; }
  bool operator()(uint32_t slot, int64_t id) const { return (*ids)[slot] == id; }
};
using Set = ShardedSlotSet<Hash, Equal>;
constexpr size_t kMax = 2048;  // a size at which every shard has grown several times

std::vector<int64_t> Ids(size_t n) {
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i)
    ids[i] = static_cast<int64_t>(i * 2654435761u % 1000003) - 500000 +
             static_cast<int64_t>(i) * 1000003;
  return ids;
}

void ExpectAll(const Set& set, const std::vector<int64_t>& ids, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    const uint32_t* found = set.Find(ids[i]);
    ASSERT_NE(found, nullptr) << i;
    ASSERT_EQ(*found, i);
  }
}

TEST(ShardedSlotSet, GrowsAndFindsEverySlot) {
  const std::vector<int64_t> ids = Ids(600 * kMax);
  Set set(Hash{&ids}, Equal{&ids});
  EXPECT_EQ(set.Find(ids[0]), nullptr);
  for (uint32_t s = 0; s < ids.size(); ++s) ASSERT_TRUE(set.Insert(s).second);
  EXPECT_EQ(set.size(), ids.size());
  ExpectAll(set, ids, 0, ids.size());
  auto [stored, inserted] = set.Insert(7);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(stored, 7u);
  EXPECT_EQ(set.size(), ids.size());
  EXPECT_EQ(set.Find(int64_t{-999'999'999}), nullptr);
}

TEST(ShardedSlotSet, EraseClearAndReuse) {
  const std::vector<int64_t> ids = Ids(10 * kMax);
  Set set(Hash{&ids}, Equal{&ids});
  for (uint32_t s = 0; s < ids.size(); ++s) set.Insert(s);
  for (uint32_t s = 0; s < ids.size(); s += 2) ASSERT_TRUE(set.Erase(ids[s]));
  EXPECT_FALSE(set.Erase(ids[0]));
  EXPECT_EQ(set.size(), ids.size() / 2);
  for (uint32_t s = 0; s < ids.size(); ++s) {
    EXPECT_EQ(set.Find(ids[s]) != nullptr, s % 2 == 1) << s;
  }
  std::vector<int> seen(ids.size(), 0);
  set.ForEach([&](uint32_t s) { ++seen[s]; });
  for (uint32_t s = 0; s < ids.size(); ++s) ASSERT_EQ(seen[s], s % 2 == 1 ? 1 : 0) << s;

  set.Clear();
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(set.Find(ids[1]), nullptr);
  for (uint32_t s = 0; s < ids.size(); ++s) set.Insert(s);
  ExpectAll(set, ids, 0, ids.size());
}

TEST(ShardedSlotSet, ReserveMeansNoRehash) {
  const std::vector<int64_t> ids = Ids(20 * kMax);
  Set set(Hash{&ids}, Equal{&ids});
  set.Reserve(ids.size());
  const size_t reserved = set.bucket_count();
  EXPECT_GE(reserved, ids.size());
  for (uint32_t s = 0; s < ids.size(); ++s) set.Insert(s);
  EXPECT_EQ(set.bucket_count(), reserved);  // no shard grew
  ExpectAll(set, ids, 0, ids.size());
}

TEST(ShardedSlotSet, HashThatDoesNotSpreadStaysCorrect) {
  const std::vector<int64_t> ids = Ids(2 * kMax + 10);
  Set set(Hash{&ids, /*spread=*/false}, Equal{&ids});
  for (uint32_t s = 0; s < ids.size(); ++s) ASSERT_TRUE(set.Insert(s).second);
  ExpectAll(set, ids, 0, ids.size());
}

}  // namespace
}  // namespace canopy::internal

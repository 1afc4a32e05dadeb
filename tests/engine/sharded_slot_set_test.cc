// The engine's id -> slot hash set (engine/src/sharded_slot_set.h): every
// slot stays findable as its shards grow, through erases, clears, reserves
// and a hash that does not spread its keys; a shard that grows incrementally
// answers like a plain set at every step of its migration.
#include "sharded_slot_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace canopy::internal {
namespace {

// Slots keyed by ids[slot], as the engine's SlotIndex; `spread` = false
// hashes every id to the same value; `one_shard` gives distinct hashes that
// all land in shard 0 (h * golden ratio = the id's low 54 bits, so the top
// bits ShardOf reads are 0).
struct Hash {
  using is_transparent = void;
  const std::vector<int64_t>* ids;
  bool spread = true;
  bool one_shard = false;
  size_t operator()(uint32_t slot) const { return (*this)((*ids)[slot]); }
  size_t operator()(int64_t id) const {
    if (one_shard) {
      const uint64_t k = static_cast<uint64_t>(id) & ((uint64_t{1} << 54) - 1);
      return static_cast<size_t>(k * 0xF1DE83E19937733Dull);  // inverse of 0x9E3779B97F4A7C15
    }
    return spread ? std::hash<int64_t>()(id) : 42;
  }
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

// Reserve sizes every shard for the average: room for all, and the
// fuller shards grow as they fill, so the tables end about as big as
// inserting without it leaves them. 800 a shard on average is under what a
// table of 959 holds (839): room for the fullest in every shard would
// double every table.
TEST(ShardedSlotSet, ReserveSizesEachShardForTheAverage) {
  const std::vector<int64_t> ids = Ids(800 * 1024);
  Set reserved(Hash{&ids}, Equal{&ids}), grown(Hash{&ids}, Equal{&ids});
  reserved.Reserve(ids.size());
  EXPECT_GE(reserved.bucket_count(), ids.size());
  for (uint32_t s = 0; s < ids.size(); ++s) {
    reserved.Insert(s);
    grown.Insert(s);
  }
  EXPECT_LE(reserved.bucket_count(), grown.bucket_count() * 11 / 10);
  ExpectAll(reserved, ids, 0, ids.size());
}

TEST(ShardedSlotSet, HashThatDoesNotSpreadStaysCorrect) {
  const std::vector<int64_t> ids = Ids(2 * kMax + 10);
  Set set(Hash{&ids, /*spread=*/false}, Equal{&ids});
  for (uint32_t s = 0; s < ids.size(); ++s) ASSERT_TRUE(set.Insert(s).second);
  ExpectAll(set, ids, 0, ids.size());
}

// A renumbering (the engine's Compact) moves every id to a new slot and
// Renumber overwrites each stored slot in place: every id is then
// found at its new slot, also in a shard caught in the middle of its
// migration, and the set keeps growing and erasing correctly afterwards.
TEST(ShardedSlotSet, RenumberingInPlaceKeepsEveryIdFindable) {
  std::vector<int64_t> ids = Ids(3000);
  Set set(Hash{&ids, true, /*one_shard=*/true}, Equal{&ids});
  // Insert until the shard migrates, a few more (it is then mid-way), and
  // erase a few (each insert or erase moves 32 entries of the migration).
  uint32_t inserted = 0, after_start = 0;
  while (inserted < ids.size() && after_start < 4) {
    set.Insert(inserted++);
    if (set.migrating_shards() == 1) ++after_start;
  }
  ids.resize(inserted);
  auto erased = [](uint32_t s) { return s % 3 == 0 && s < 15; };
  for (uint32_t s = 0; s < ids.size(); ++s) {
    if (erased(s)) {
      ASSERT_TRUE(set.Erase(ids[s]));
    }
  }
  ASSERT_EQ(set.migrating_shards(), 1u) << "the renumbering should meet a migration";
  // new slot of old slot s: reversed order; the ids move along.
  std::vector<uint32_t> new_of(ids.size());
  std::vector<int64_t> moved(ids.size());
  for (uint32_t s = 0; s < ids.size(); ++s) {
    new_of[s] = static_cast<uint32_t>(ids.size() - 1 - s);
    moved[new_of[s]] = ids[s];
  }
  const std::vector<int64_t> old_ids = ids;
  ids = moved;  // the functors read `ids` through its address
  set.Renumber(new_of);
  for (uint32_t s = 0; s < old_ids.size(); ++s) {
    const uint32_t* found = set.Find(old_ids[s]);
    if (erased(s)) {
      ASSERT_EQ(found, nullptr) << s;
    } else {
      ASSERT_NE(found, nullptr) << s;
      ASSERT_EQ(*found, new_of[s]) << s;
    }
  }
  // Erased ids come back, kept ones go: the migration finishes on the new slots.
  for (uint32_t s = 0; s < old_ids.size(); ++s) {
    if (erased(s)) {
      ASSERT_TRUE(set.Insert(new_of[s]).second) << s;
    } else if (s % 3 == 1) {
      ASSERT_TRUE(set.Erase(old_ids[s])) << s;
    }
  }
  EXPECT_EQ(set.migrating_shards(), 0u);
  for (uint32_t s = 0; s < old_ids.size(); ++s) {
    const uint32_t* found = set.Find(old_ids[s]);
    ASSERT_EQ(found != nullptr, s % 3 != 1) << s;
    if (found != nullptr) {
      ASSERT_EQ(*found, new_of[s]) << s;
    }
  }
}

// One shard of tens of thousands of entries migrates several times; random
// inserts (new and repeated), erases (of moved and unmoved entries) and
// lookups agree with a plain set at every step, and so do ForEach, size,
// a copy, Reserve and Clear in the middle of a migration.
TEST(ShardedSlotSet, IncrementalGrowthAnswersLikeAPlainSet) {
  const std::vector<int64_t> ids = Ids(40000);
  Set set(Hash{&ids, true, /*one_shard=*/true}, Equal{&ids});
  std::vector<bool> in(ids.size(), false);
  size_t model_size = 0;
  std::mt19937_64 rng(7);
  size_t migrating_seen = 0, checks = 0;
  auto check_all = [&](const Set& s) {
    std::vector<int> seen(ids.size(), 0);
    s.ForEach([&](uint32_t slot) { ++seen[slot]; });
    for (size_t i = 0; i < ids.size(); ++i) {
      ASSERT_EQ(seen[i], in[i] ? 1 : 0) << i;
      const uint32_t* found = s.Find(ids[i]);
      ASSERT_EQ(found != nullptr, in[i]) << i;
      if (found != nullptr) {
        ASSERT_EQ(*found, i);
      }
    }
    ASSERT_EQ(s.size(), model_size);
  };
  for (int op = 0; op < 120000; ++op) {
    const uint32_t slot = static_cast<uint32_t>(rng() % ids.size());
    const int kind = static_cast<int>(rng() % 10);
    if (kind < 7) {  // insert (grows: 70 % inserts, 20 % erases)
      auto [stored, inserted] = set.Insert(slot);
      ASSERT_EQ(stored, slot);
      ASSERT_EQ(inserted, !in[slot]) << op;
      model_size += inserted ? 1 : 0;
      in[slot] = true;
    } else if (kind < 9) {
      ASSERT_EQ(set.Erase(ids[slot]), static_cast<bool>(in[slot])) << op;
      model_size -= in[slot] ? 1 : 0;
      in[slot] = false;
    } else {
      const uint32_t* found = set.Find(ids[slot]);
      ASSERT_EQ(found != nullptr, static_cast<bool>(in[slot])) << op;
    }
    if (set.migrating_shards() > 0) {
      ++migrating_seen;
      if (migrating_seen % 250 == 1) {  // full checks in the middle of migrations
        ++checks;
        check_all(set);
        const Set copy = set;
        check_all(copy);
      }
    }
  }
  EXPECT_GT(migrating_seen, 500u);
  EXPECT_GT(checks, 2u);
  check_all(set);

  // Reserve finishes a migration; Clear drops one.
  while (set.migrating_shards() == 0) {
    const uint32_t slot = static_cast<uint32_t>(rng() % ids.size());
    if (set.Insert(slot).second) {
      in[slot] = true;
      ++model_size;
    }
    if (model_size == ids.size()) break;
  }
  set.Reserve(ids.size());
  EXPECT_EQ(set.migrating_shards(), 0u);
  check_all(set);
  set.Clear();
  std::fill(in.begin(), in.end(), false);
  model_size = 0;
  check_all(set);
}

}  // namespace
}  // namespace canopy::internal

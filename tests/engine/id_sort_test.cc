// The engine's answer sorting (engine/src/id_sort.h): SortedIdRun keeps
// ascending ids as 32-bit offsets when they span less than 2^32 and as
// they are otherwise, and reads back, searches and merges the same ids
// either way; SortUniqueIds, SortIds and SortAndMergeIds agree with
// std::sort, and WithChanges with the set operations.
#include "id_sort.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

namespace canopy::internal {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kSpan32 = int64_t{1} << 32;

std::vector<int64_t> All(const SortedIdRun& run) {
  std::vector<int64_t> out = {42};  // AppendTo appends after what is there
  run.AppendTo(0, run.size(), &out);
  out.erase(out.begin());
  return out;
}

// Every run shape reads back what it was made from, and LowerBound agrees
// with std::lower_bound for ids inside, between, below and above the run.
void CheckRun(const std::vector<int64_t>& ids, bool narrow) {
  SCOPED_TRACE(::testing::PrintToString(ids));
  SortedIdRun run(ids);
  ASSERT_EQ(run.size(), ids.size());
  EXPECT_EQ(All(run), ids);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(run[i], ids[i]);
  if (!ids.empty()) {
    EXPECT_EQ(run.narrow(), narrow);
    // Its offsets or ids, and for offsets one pointer per chunk (one here).
    EXPECT_EQ(run.bytes(),
              narrow ? ids.size() * sizeof(uint32_t) + sizeof(std::shared_ptr<const uint32_t[]>)
                     : ids.size() * sizeof(int64_t));
  }
  std::vector<int64_t> probes = {kMin, kMax, 0, -1, 1};
  for (int64_t id : ids) {
    probes.push_back(id);
    if (id != kMin) probes.push_back(id - 1);
    if (id != kMax) probes.push_back(id + 1);
    if (id <= kMax - kSpan32) probes.push_back(id + kSpan32);
  }
  for (int64_t probe : probes) {
    const size_t expected =
        static_cast<size_t>(std::lower_bound(ids.begin(), ids.end(), probe) - ids.begin());
    EXPECT_EQ(run.LowerBound(probe), expected) << "probe " << probe;
  }
  if (ids.size() >= 3) {
    std::vector<int64_t> middle;
    run.AppendTo(1, ids.size() - 1, &middle);
    EXPECT_EQ(middle, std::vector<int64_t>(ids.begin() + 1, ids.end() - 1));
  }
}

TEST(SortedIdRunTest, NarrowAndWideRunsReadBackTheSameIds) {
  CheckRun({}, true);
  CheckRun({7}, true);
  CheckRun({1, 2, 3, 1000, 4000000}, true);
  CheckRun({-5, -3, 0, 9}, true);                // a negative base
  CheckRun({kMax - 3, kMax - 1, kMax}, true);    // near INT64_MAX
  CheckRun({kMin, kMin + 1, kMin + 100}, true);  // near INT64_MIN
  CheckRun({10, 10 + kSpan32 - 1}, true);        // the widest narrow span
  CheckRun({10, 10 + kSpan32}, false);           // one more: wide
  CheckRun({-7, -5, kMax - 1, kMax}, false);     // the engine's extreme-id case
  CheckRun({kMin, -1, 0, kMax}, false);
}

TEST(SortedIdRunTest, MergesIntoAnswersFromEitherShape) {
  for (const std::vector<int64_t>& run_ids :
       {std::vector<int64_t>{2, 4, 6, 8}, std::vector<int64_t>{2, 4, kSpan32 * 3, kMax}}) {
    SortedIdRun run(run_ids);
    for (const std::vector<int64_t>& base :
         {std::vector<int64_t>{}, std::vector<int64_t>{1}, std::vector<int64_t>{1, 3, 5, 7, 9},
          std::vector<int64_t>{-10, 100}, std::vector<int64_t>{kMin + 1}}) {
      std::vector<int64_t> merged = base, expected = base;
      MergeSortedIds(&merged, run);
      expected.insert(expected.end(), run_ids.begin(), run_ids.end());
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(merged, expected);
    }
  }
}

// A run with ids taken out and others put in (a stale group's delta
// folded): the same ids as the set operations, from either shape, with
// added ids inside, below and far above the run's span, and every id
// removed; it stays narrow while its ids fit 32-bit offsets from the old
// smallest.
TEST(SortedIdRunTest, WithChangesEqualsTheSetOperations) {
  std::mt19937_64 rng(20261207);
  const std::vector<std::vector<int64_t>> runs = {{},
                                                  {7},
                                                  {1, 2, 3, 1000, 4000000},
                                                  {-5, -3, 0, 9},
                                                  {kMax - 3, kMax - 1, kMax},
                                                  {kMin, kMin + 1, kMin + 100},
                                                  {-7, -5, kMax - 1, kMax}};
  const std::vector<int64_t> candidates = {kMin,        -100,     -6,       -4,      4,
                                           5,           8,        999,      5000000, kSpan32,
                                           kSpan32 * 5, kMax - 2, kMax - 5, kMin + 2};
  for (const std::vector<int64_t>& run_ids : runs) {
    SortedIdRun run(run_ids);
    for (int round = 0; round < 40; ++round) {
      std::vector<int64_t> removed, added, kept;
      for (int64_t id : run_ids) (rng() % 3 == 0 ? removed : kept).push_back(id);
      if (round == 0) {
        kept.clear();
        removed = run_ids;  // all of them
      }
      // Most rounds add ids next to the run's (the one-pass path), every
      // fourth anywhere (often a widened copy).
      std::vector<int64_t> near;
      for (int64_t id : run_ids) {
        if (id > kMin + 2) near.insert(near.end(), {id - 2, id - 1});
        if (id < kMax - 2) near.insert(near.end(), {id + 1, id + 2});
      }
      std::sort(near.begin(), near.end());
      near.erase(std::unique(near.begin(), near.end()), near.end());
      for (int64_t id : round % 4 == 3 ? candidates : near) {
        if (rng() % 2 == 0 && !std::binary_search(run_ids.begin(), run_ids.end(), id)) {
          added.push_back(id);
        }
      }
      std::sort(added.begin(), added.end());
      std::vector<int64_t> expected = kept;
      expected.insert(expected.end(), added.begin(), added.end());
      std::sort(expected.begin(), expected.end());
      SCOPED_TRACE(::testing::PrintToString(run_ids) + " - " + ::testing::PrintToString(removed) +
                   " + " + ::testing::PrintToString(added));
      const SortedIdRun changed = run.WithChanges(removed, added);
      ASSERT_EQ(changed.size(), expected.size());
      EXPECT_EQ(All(changed), expected);
      for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(changed[i], expected[i]);
      for (int64_t probe : candidates) {
        EXPECT_EQ(changed.LowerBound(probe),
                  static_cast<size_t>(std::lower_bound(expected.begin(), expected.end(), probe) -
                                      expected.begin()));
      }
      if (!run_ids.empty() && run.narrow() && added.empty()) {
        EXPECT_TRUE(changed.narrow());
      }
      std::vector<int64_t> ids = run_ids;
      ApplySortedChanges(&ids, removed, added);
      EXPECT_EQ(ids, expected);
    }
  }
}

// Random disjoint pieces and loose ids, sparse and dense, small and past the
// radix and bitmap thresholds: SortAndMergeIds gives the sorted union.
TEST(SortedIdRunTest, SortAndMergeIdsEqualsASort) {
  std::mt19937_64 rng(20261206);
  for (int round = 0; round < 60; ++round) {
    const size_t n = std::vector<size_t>{0, 5, 600, 5000, 70000}[round % 5];
    // Ids per possible id: dense (1 in 3), sparse (1 in 2^20), or anywhere in int64.
    const int density = round % 3;
    std::vector<int64_t> all;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t r = rng();
      if (density == 2) {
        all.push_back(static_cast<int64_t>(r));  // modular: any value, negative ones too
      } else {
        const uint64_t range = (density == 0 ? uint64_t{3} : uint64_t{1} << 20) * (n + 1);
        all.push_back(static_cast<int64_t>(r % range) - 1000);
      }
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    std::shuffle(all.begin(), all.end(), rng);
    // Cut into a few pieces (each sorted) and the loose rest, with repeats in the rest.
    const size_t pieces_wanted = round % 4;
    std::vector<std::vector<int64_t>> piece_ids(pieces_wanted);
    std::vector<int64_t> loose;
    for (int64_t id : all) {
      const size_t bucket = rng() % (pieces_wanted + 1);
      if (bucket < pieces_wanted) {
        piece_ids[bucket].push_back(id);
      } else {
        loose.push_back(id);
        if (rng() % 7 == 0) loose.push_back(id);
      }
    }
    std::vector<SortedIdRun> runs;
    for (std::vector<int64_t>& p : piece_ids) {
      std::sort(p.begin(), p.end());
      runs.emplace_back(p);
    }
    std::vector<const SortedIdRun*> pieces;
    for (const SortedIdRun& r : runs) pieces.push_back(&r);
    SortAndMergeIds(&loose, pieces);
    std::vector<int64_t> expected = all;
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(loose, expected) << "round " << round;
  }
}

// Runs of several chunks: WithChanges gives the set operations whether the
// first change falls in the first chunk, the middle, on a chunk's first or
// last id, in the last one or past the end (GitLab's new ids, also after a
// run of whole chunks); the chunks before it are shared with the run it was
// made from (its share of them halves), and reads across chunk boundaries
// give the ids.
TEST(SortedIdRunTest, RunsOfSeveralChunksChangeFromTheirFirstChange) {
  constexpr size_t kChunk = SortedIdRun::kChunkIds;
  std::mt19937_64 rng(20261209);
  for (const size_t n : {3 * kChunk + 100, 2 * kChunk}) {
    std::vector<int64_t> ids;
    for (int64_t id = 1000; ids.size() < n; id += 2 + static_cast<int64_t>(rng() % 3)) {
      ids.push_back(id);  // (gaps of 2 or more: id + 1 is never in the run)
    }
    const SortedIdRun run(ids);
    ASSERT_TRUE(run.narrow());
    EXPECT_EQ(All(run), ids);
    std::vector<int64_t> across;
    run.AppendTo(kChunk - 3, kChunk + 5, &across);
    EXPECT_EQ(across, std::vector<int64_t>(ids.begin() + kChunk - 3, ids.begin() + kChunk + 5));
    for (size_t at : {size_t{0}, kChunk - 1, kChunk, n - 1}) {
      EXPECT_EQ(run.LowerBound(ids[at]), at);
      EXPECT_EQ(run.LowerBound(ids[at] + 1), at + 1);
    }
    const size_t alone = run.bytes();
    // The first change: a removal of the id there or an id added just below
    // it, or (at the end) ids added past the last one; then random removals
    // after it, an added id inside and 3,000 past the end.
    for (size_t first : {size_t{5}, kChunk - 1, kChunk, kChunk + 3, n - 50, n}) {
      for (const bool remove_first : {true, false}) {
        SCOPED_TRACE(::testing::Message() << "run of " << n << ", first change at " << first
                                          << (remove_first ? " (a removal)" : " (an addition)"));
        std::vector<int64_t> removed, added, expected;
        for (size_t i = 0; i < n; ++i) {
          if ((i == first && remove_first) || (i > first + 1 && i < n - 1 && rng() % 7 == 0)) {
            removed.push_back(ids[i]);
          } else {
            expected.push_back(ids[i]);
          }
        }
        if (first < n && !remove_first) added.push_back(ids[first] - 1);  // (placed at `first`)
        if (first + 1 < n) added.push_back(ids[first + 1] + 1);           // (inside the run)
        for (int64_t id = ids.back() + 5; added.size() < 3000; id += 2) added.push_back(id);
        expected.insert(expected.end(), added.begin(), added.end());
        std::sort(expected.begin(), expected.end());
        const SortedIdRun changed = run.WithChanges(removed, added);
        ASSERT_EQ(changed.size(), expected.size());
        EXPECT_TRUE(changed.narrow());
        EXPECT_EQ(All(changed), expected);
        for (size_t i = 0; i < expected.size(); i += 97) EXPECT_EQ(changed[i], expected[i]);
        for (size_t i = 0; i < expected.size(); i += 89) {
          EXPECT_EQ(changed.LowerBound(expected[i]), i);
        }
        // Every whole chunk before the first change is now held by both.
        EXPECT_EQ(alone - run.bytes(), first / kChunk * kChunk * sizeof(uint32_t) / 2);
      }
    }
  }
}

// LastChunkIds: from the last chunk's first id (a full last chunk's too) to
// the offsets' end, nothing for a wide run; changes all in it share every
// other chunk with the run they were made from.
TEST(SortedIdRunTest, LastChunkIdsAreTheChangesThatKeepTheOtherChunks) {
  constexpr size_t kChunk = SortedIdRun::kChunkIds;
  for (const size_t n : {2 * kChunk + 100, 2 * kChunk, size_t{5}}) {
    SCOPED_TRACE(::testing::Message() << "run of " << n);
    std::vector<int64_t> ids;
    for (int64_t id = 1000; ids.size() < n; id += 3) ids.push_back(id);
    const SortedIdRun run(ids);
    const SortedIdRun::IdRange range = run.LastChunkIds();
    const size_t last_first = (n - 1) / kChunk * kChunk;
    EXPECT_EQ(range.first, ids[last_first]);
    EXPECT_EQ(range.last, ids.front() + kSpan32 - 1);
    EXPECT_TRUE(range.Contains(ids[last_first]));
    EXPECT_FALSE(range.Contains(ids[last_first] - 1));
    EXPECT_FALSE(range.Contains(ids.front() + kSpan32));
    const size_t alone = run.bytes();
    const std::vector<int64_t> removed = {ids[last_first], ids.back()};
    const std::vector<int64_t> added = {ids[last_first] + 1, ids.back() + 7};
    const SortedIdRun changed = run.WithChanges(removed, added);
    EXPECT_EQ(changed.size(), n);
    EXPECT_EQ(alone - run.bytes(), last_first * sizeof(uint32_t) / 2);
  }
  EXPECT_FALSE(SortedIdRun(std::vector<int64_t>{1, 2 + kSpan32}).LastChunkIds().Contains(1));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const SortedIdRun::IdRange top = SortedIdRun(std::vector<int64_t>{kMax - 5, kMax}).LastChunkIds();
  EXPECT_EQ(top.first, kMax - 5);
  EXPECT_EQ(top.last, kMax);
}

// Ids the contract excludes (a removed id not in the run, below it or far
// past it; an added id already there or twice) take the widened copy and
// neither crash nor lose other ids (run under ASan in scripts/test).
TEST(SortedIdRunTest, WithChangesOutsideItsContractStaysSafe) {
  const std::vector<int64_t> ids = {10, 20, 30, 40};
  const SortedIdRun run(ids);
  EXPECT_EQ(All(run.WithChanges(std::vector<int64_t>{25}, {})), ids);
  EXPECT_EQ(All(run.WithChanges(std::vector<int64_t>{5}, {})), ids);
  EXPECT_EQ(All(run.WithChanges(std::vector<int64_t>{10 + kSpan32 * 2}, {})), ids);
  EXPECT_EQ(All(run.WithChanges(std::vector<int64_t>{10, 20, 30, 40, 50}, {})),
            std::vector<int64_t>{});
  for (const std::vector<int64_t>& added :
       {std::vector<int64_t>{20}, std::vector<int64_t>{25, 25}, std::vector<int64_t>{35, 15}}) {
    const std::vector<int64_t> got = All(run.WithChanges({}, added));
    for (int64_t id : ids) EXPECT_GT(std::count(got.begin(), got.end(), id), 0) << id;
    EXPECT_LE(got.size(), ids.size() + added.size());
  }
}

// SortIds keeps duplicates (a stale group's lists of ids that came and
// went): the same as std::sort, small and past the radix threshold, over
// narrow and 64-bit ranges.
TEST(SortedIdRunTest, SortIdsKeepsDuplicates) {
  std::mt19937_64 rng(20261208);
  for (size_t n : {0, 1, 7, 511, 512, 5000, 70000}) {
    for (bool wide : {false, true}) {
      std::vector<int64_t> ids;
      for (size_t i = 0; i < n; ++i) {
        const int64_t id = wide ? static_cast<int64_t>(rng()) : static_cast<int64_t>(rng() % 3000);
        ids.push_back(id);
        if (i % 5 == 0) ids.push_back(id);
      }
      std::vector<int64_t> expected = ids;
      std::sort(expected.begin(), expected.end());
      SortIds(&ids);
      ASSERT_EQ(ids, expected) << n << (wide ? " wide" : " narrow");
    }
  }
}

// SortUniqueIds against std::sort + std::unique, for spans of every bit
// width from 1 to 64 (every radix pass count, both key widths and the
// boundary between them, the bitmap for dense spans), with repeats, at the
// extremes of int64 and around the size where the radix sort takes over.
TEST(SortUniqueIdsTest, EqualsASortForEverySpanWidth) {
  std::mt19937_64 rng(6122026);
  for (int bits = 1; bits <= 64; ++bits) {
    for (size_t n : {size_t{511}, size_t{512}, size_t{3000}, size_t{40000}}) {
      SCOPED_TRACE(::testing::Message() << bits << " bits, " << n << " ids");
      const uint64_t span_mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
      // Based at the bottom, around zero, or at the top of int64.
      const int64_t base = std::vector<int64_t>{
          kMin, -1000, static_cast<int64_t>(static_cast<uint64_t>(kMax) - span_mask)}[bits % 3];
      std::vector<int64_t> ids;
      for (size_t i = 0; i < n; ++i) {
        ids.push_back(static_cast<int64_t>(static_cast<uint64_t>(base) + (rng() & span_mask)));
        if (i % 9 == 0) ids.push_back(ids.back());  // a repeat
      }
      // Both ends of the span, so that it is exactly `bits` wide.
      ids.push_back(base);
      ids.push_back(static_cast<int64_t>(static_cast<uint64_t>(base) + span_mask));
      std::shuffle(ids.begin(), ids.end(), rng);
      std::vector<int64_t> expected = ids;
      std::sort(expected.begin(), expected.end());
      expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
      SortUniqueIds(&ids);
      ASSERT_EQ(ids, expected);
    }
  }
}

}  // namespace
}  // namespace canopy::internal

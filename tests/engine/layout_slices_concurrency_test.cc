// layout_slices_concurrency_test.cc — readers answer from laid-out subtrees
// while the writer moves them and lays the index out again (run under TSan
// with the other "concurrency" tests).
//
// Replay: CANOPY_TEST_SEED=<seed>; length: CANOPY_TEST_SCALE=<factor>.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "random_stream.h"
#include "reference_model.h"
#include "test_seed.h"

namespace {

using canopy::HierarchyIndex;
using canopy::Transaction;
using namespace canopy_test;

// Readers answer from laid-out subtrees while the writer moves them and lays
// the index out again: every answer is sorted, has no duplicate and has the
// size the counts of the same view give.
TEST(LayoutSlicesConcurrencyTest, ReadersDuringMovesAndCompactions) {
  const uint64_t seed = TestSeed(9);
  SCOPED_TRACE("replay with CANOPY_TEST_SEED=" + std::to_string(seed));
  HierarchyIndex index;
  ReferenceModel model;
  RandomStream stream(seed, StreamProfile::SmallDense());
  for (int i = 0; i < 200; ++i) {
    Transaction t = stream.Next(model);
    ASSERT_TRUE(model.Apply(t));
    ASSERT_TRUE(index.Apply(std::move(t)).ok());
  }
  ASSERT_TRUE(index.Compact().ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> checked{0}, failures{0};
  auto reader = [&](uint64_t reader_seed) {
    std::mt19937_64 rng(reader_seed);
    std::vector<int64_t> ids;
    while (!stop.load(std::memory_order_relaxed)) {
      canopy::ReadView view = index.Read();
      const int64_t id = static_cast<int64_t>(rng() % 200);
      auto counts = view.Counts(id);
      if (!counts.ok()) continue;
      bool ok =
          view.Descendants(id, /*include_project_namespaces=*/true, &ids).ok() &&
          ids.size() == counts->descendant_groups + counts->descendant_project_namespaces &&
          std::adjacent_find(ids.begin(), ids.end(), std::greater_equal<int64_t>()) == ids.end();
      if (!ok) failures.fetch_add(1);
      checked.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread r1(reader, seed + 1), r2(reader, seed + 2);
  std::mt19937_64 rng(seed);
  const int steps = std::max(100, static_cast<int>(500 * TestScale()));
  for (int step = 0; step < steps; ++step) {
    Transaction t = stream.Next(model);
    ASSERT_TRUE(model.Apply(t));
    ASSERT_TRUE(index.Apply(std::move(t)).ok());
    if (rng() % 10 == 0) {
      ASSERT_TRUE(index.Compact().ok());
    }
  }
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(failures.load(), 0u) << "of " << checked.load() << " answers";
  EXPECT_GT(checked.load(), 0u);
}

}  // namespace

// HierarchyIndex::BulkLoad from SnapshotPieces delivered by another thread
// while the index is built (as the CDC loader delivers each piece as soon as
// it is copied): in any order, with pauses, the answers are Apply's; a
// snapshot the pass-wise build gives up on (a cycle, a repeated key, a
// delete) still answers like Apply; pieces abandoned midway end the build
// with their error and leave no usable index; readers are served while the
// second left-right copy is made.
// Labels: engine, concurrency (the build's two threads, the deliverer, the
// second copy's thread and readers).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/snapshot_pieces.h"
#include "canopy/testing/gitlab_forest.h"
#include "same_answers.h"
#include "test_rows.h"

namespace canopy {
namespace {

using Pieces = std::vector<std::vector<RowChange>>;

// Delivers `pieces` into `out` from a thread of its own, in an order shuffled
// by `seed` (or in order), pausing now and then so that the build waits for
// some pieces and finds others there already. With `abandon_after`, it
// abandons `out` after delivering that many pieces instead of the rest.
class Deliverer {
 public:
  enum class Order { kShuffled, kInOrder };
  Deliverer(SnapshotPieces* out, Pieces pieces, uint64_t seed, Order order_kind = Order::kShuffled,
            std::optional<size_t> abandon_after = std::nullopt)
      : thread_([this, out, pieces = std::move(pieces), seed, order_kind, abandon_after]() mutable {
          std::vector<size_t> order(pieces.size());
          for (size_t k = 0; k < order.size(); ++k) order[k] = k;
          std::mt19937_64 rng(seed);
          if (order_kind == Order::kShuffled) std::shuffle(order.begin(), order.end(), rng);
          for (size_t i = 0; i < order.size(); ++i) {
            if (abandon_after && i == *abandon_after) {
              out->Abandon(Status::Unavailable("the copy failed"));
              return;
            }
            if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
            if (!out->Deliver(order[i], std::move(pieces[order[i]])).ok()) ++refused_;
          }
          if (abandon_after && *abandon_after >= order.size()) {
            out->Abandon(Status::Unavailable("the copy failed"));
          }
        }) {}
  ~Deliverer() { Join(); }
  // Waits for the thread; how many pieces Deliver refused.
  int Join() {
    if (thread_.joinable()) thread_.join();
    return refused_;
  }

 private:
  int refused_ = 0;  // (declared before thread_: set up before the thread starts)
  std::thread thread_;
};

TEST(SnapshotPieces, DeliveredWhileTheIndexIsBuiltAnswersLikeApply) {
  for (uint64_t seed : {21, 22}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(seed, 1500, 2500);
    Transaction snapshot = canopy::testing::LoadTransaction(forest, Lsn(1000));
    if (seed % 2 == 0) std::reverse(snapshot.changes.begin(), snapshot.changes.end());
    HierarchyIndex applied;
    ASSERT_NO_FATAL_FAILURE(ApplyAndCompact(snapshot, &applied));

    Pieces cut = CutIntoPieces(snapshot.changes, seed, 200);
    SnapshotPieces pieces(cut.size());
    HierarchyIndex streamed;
    {
      Deliverer deliverer(&pieces, std::move(cut), seed);
      ASSERT_TRUE(streamed.BulkLoad(snapshot.commit_lsn, pieces).ok());
      EXPECT_EQ(deliverer.Join(), 0);
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, streamed, "after the snapshot"));
    // Both left-right copies: the copied one answers after one write, the
    // built one after two.
    canopy::testing::MixedStream stream(&forest, {.seed = seed + 1, .first_lsn = Lsn(2000)});
    for (int write = 1; write <= 2; ++write) {
      Transaction txn = stream.Next();
      ASSERT_TRUE(applied.Apply(txn).ok());
      ASSERT_TRUE(streamed.Apply(std::move(txn)).ok());
      ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, streamed, "after writes"));
    }
  }
}

// BulkLoad returns once one copy serves; the other is copied on a thread of
// its own while readers read, and the next write waits for that copy. A
// reader that starts at once, while writes that change no row publish,
// always gets the snapshot's answers; then writes reach both copies.
TEST(SnapshotPieces, ServesWhileItsSecondCopyIsMade) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(31, 8000, 12000);
  Transaction snapshot = canopy::testing::LoadTransaction(forest, Lsn(1000));
  HierarchyIndex applied;
  ASSERT_NO_FATAL_FAILURE(ApplyAndCompact(snapshot, &applied));
  std::vector<IdQuery> queries;
  for (int64_t id : applied.Read().ListNamespaceIds()) {
    for (QueryKind kind : {QueryKind::kSelfAndAncestors, QueryKind::kDescendants,
                           QueryKind::kAllProjectIds, QueryKind::kSelfAndHierarchy}) {
      queries.push_back({.kind = kind, .id = id, .include_project_namespaces = id % 2 == 0});
    }
  }
  std::vector<IdAnswer> want;
  for (const IdQuery& q : queries) want.push_back(applied.Query(q).answer);

  HierarchyIndex bulk;
  ASSERT_TRUE(bulk.BulkLoad(snapshot).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, checked{0};
  std::thread reader([&] {
    do {
      for (size_t i = 0; i < queries.size(); ++i) {
        const IdAnswer got = bulk.Query(queries[i]).answer;
        if (got.status.code() != want[i].status.code() || got.ids != want[i].ids) ++wrong;
        ++checked;
      }
    } while (!stop.load());
  });
  for (uint64_t lsn = 1001; lsn <= 1004; ++lsn) {  // the first one waits for the copy
    ASSERT_TRUE(bulk.Apply(Transaction{Lsn(lsn), {}}).ok());
    ASSERT_TRUE(applied.Apply(Transaction{Lsn(lsn), {}}).ok());
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GE(checked.load(), queries.size());
  ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, bulk, "after writes that change no row"));
  // Rows change on both copies: the copied one answers after one write, the
  // built one after two.
  canopy::testing::MixedStream stream(&forest, {.seed = 32, .first_lsn = Lsn(2000)});
  for (int write = 1; write <= 2; ++write) {
    Transaction txn = stream.Next();
    ASSERT_TRUE(applied.Apply(txn).ok());
    ASSERT_TRUE(bulk.Apply(std::move(txn)).ok());
    ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, bulk, "after writes"));
  }
}

// Every row its own piece, delivered in a shuffled order: the pieces of
// namespace rows that the build frees at once come before the rows that make
// it give up (a cycle is found once every piece is in, a repeated key or a
// delete when the build reaches it), so the freed rows are made again.
TEST(SnapshotPieces, SnapshotsTheBuildGivesUpOnAnswerLikeApply) {
  using canopy_test::Group;
  using canopy_test::Project;
  using canopy_test::ProjectNamespace;
  const std::vector<RowChange> base = {Group(1, std::nullopt, "org"), Group(2, 1, "team"),
                                       ProjectNamespace(20, 2, "app"), Project(200, 2, 20, "app"),
                                       Group(4, 404, "orphan")};
  struct Case {
    const char* name;
    std::vector<RowChange> extra;
  };
  const std::vector<Case> cases = {
      {"clean", {}},
      {"two-node cycle", {Group(5, 6, "a"), Group(6, 5, "b")}},
      {"key twice", {Group(2, std::nullopt, "moved-team")}},
      {"delete", {DeleteNamespace{4}, DeleteProject{999}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Transaction snapshot{Lsn(100), base};
    snapshot.changes.insert(snapshot.changes.end(), c.extra.begin(), c.extra.end());
    HierarchyIndex applied;
    ASSERT_NO_FATAL_FAILURE(ApplyAndCompact(snapshot, &applied));
    Pieces cut = CutIntoPieces(snapshot.changes, 1, 1);
    SnapshotPieces pieces(cut.size());
    HierarchyIndex streamed;
    {
      Deliverer deliverer(&pieces, std::move(cut), 7);
      ASSERT_TRUE(streamed.BulkLoad(snapshot.commit_lsn, pieces).ok());
      EXPECT_EQ(deliverer.Join(), 0);
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, streamed, "after the snapshot"));
    EXPECT_EQ(applied.Stats().cycles_refused, streamed.Stats().cycles_refused);
    EXPECT_EQ(applied.Stats().unknown_deletes, streamed.Stats().unknown_deletes);
    EXPECT_EQ(applied.Stats().row_changes_applied, streamed.Stats().row_changes_applied);
  }
}

TEST(SnapshotPieces, AbandonedPiecesEndTheBuildWithTheirError) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(23, 300, 500);
  const Transaction snapshot = canopy::testing::LoadTransaction(forest, Lsn(1000));
  struct Case {
    const char* name;
    Pieces cut;
    size_t abandon_after;
    Deliverer::Order order = Deliverer::Order::kShuffled;
  };
  Pieces with_delete = CutIntoPieces(snapshot.changes, 23, 100);
  with_delete.front().push_back(DeleteNamespace{forest.namespaces.front().id});
  std::vector<Case> cases;
  cases.push_back({"before any piece", CutIntoPieces(snapshot.changes, 23, 100), 0});
  cases.push_back({"midway", CutIntoPieces(snapshot.changes, 23, 100), 3});
  cases.push_back({"all but the last", CutIntoPieces(snapshot.changes, 23, 100), 0});
  cases.back().abandon_after = cases.back().cut.size() - 1;
  // Delivered in order: the build meets the delete in the first piece, gives
  // up and waits for the rest for Apply's rules.
  cases.push_back(
      {"after the build gave up", std::move(with_delete), 2, Deliverer::Order::kInOrder});
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    SnapshotPieces pieces(c.cut.size());
    HierarchyIndex index;
    Status loaded;
    {
      Deliverer deliverer(&pieces, std::move(c.cut), 23, c.order, c.abandon_after);
      loaded = index.BulkLoad(snapshot.commit_lsn, pieces);
    }
    EXPECT_EQ(loaded.code(), StatusCode::kUnavailable);
    EXPECT_EQ(loaded.message(), "the copy failed");
    EXPECT_EQ(index.Stats().namespaces, 0u);
    EXPECT_EQ(index.Stats().projects, 0u);
    EXPECT_EQ(index.applied_lsn(), Lsn(0));
    EXPECT_EQ(index.Apply(Transaction{Lsn(2000), {}}).code(), StatusCode::kFailedPrecondition);
  }
}

// Deliver refuses a piece that does not exist or comes twice; a BulkLoad that
// fails says that no piece is wanted any more, and later pieces are dropped.
TEST(SnapshotPieces, BadDeliveriesAndAFailedBuild) {
  SnapshotPieces pieces(2);
  EXPECT_TRUE(pieces.wanted());
  EXPECT_TRUE(pieces.Deliver(0, {canopy_test::Group(1, std::nullopt, "org")}).ok());
  EXPECT_EQ(pieces.Deliver(0, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pieces.Deliver(2, {}).code(), StatusCode::kInvalidArgument);
  HierarchyIndex written;
  ASSERT_TRUE(written.Apply(Transaction{Lsn(5), {}}).ok());
  EXPECT_EQ(written.BulkLoad(Lsn(10), pieces).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(pieces.wanted());
  EXPECT_TRUE(pieces.Deliver(1, {canopy_test::Group(2, 1, "team")}).ok());  // dropped
  EXPECT_EQ(written.Stats().namespaces, 0u);
}

}  // namespace
}  // namespace canopy

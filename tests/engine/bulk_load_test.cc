// HierarchyIndex::BulkLoad: the snapshot path (one copy built and laid out,
// the other copied from it) answers exactly like Apply + Compact, before and
// after a stream of writes that exercises both left-right copies, including
// a snapshot with orphans (children before parents), and snapshots that the
// pass-wise build must hand to Apply's rules (cycles, repeated keys, deletes).
// Labels: engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/testing/gitlab_forest.h"
#include "same_answers.h"
#include "test_rows.h"
#include "test_seed.h"

namespace canopy {
namespace {

void CheckBulkLoadEqualsApply(uint64_t seed, bool children_first) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(seed, 4000, 6000);
  Transaction snapshot = canopy::testing::LoadTransaction(forest, Lsn(1000));
  if (children_first) std::reverse(snapshot.changes.begin(), snapshot.changes.end());

  HierarchyIndex applied;
  ASSERT_NO_FATAL_FAILURE(ApplyAndCompact(snapshot, &applied));
  HierarchyIndex bulk;
  ASSERT_TRUE(bulk.BulkLoad(snapshot).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, bulk, "after the snapshot"));
  // Laid out as Apply + Compact lays the same rows out (the build makes the
  // lists and counters in the layout's own pass).
  EXPECT_EQ(bulk.Stats().laid_out_namespaces, applied.Stats().laid_out_namespaces);
  EXPECT_GT(bulk.Stats().laid_out_namespaces, 0u);
  HierarchyIndex in_pieces;  // as the snapshot loader delivers it
  ASSERT_TRUE(
      in_pieces.BulkLoad(snapshot.commit_lsn, CutIntoPieces(snapshot.changes, seed, 700)).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, in_pieces, "after the snapshot in pieces"));

  // Every Apply publishes the other copy: after an odd number of writes the
  // copied one answers, after an even number the built one. Check both.
  canopy::testing::MixedStream stream(&forest, {.seed = seed + 1, .first_lsn = Lsn(2000)});
  for (int writes : {1, 1, 59, 60}) {
    for (int i = 0; i < writes; ++i) {
      Transaction txn = stream.Next();
      ASSERT_TRUE(applied.Apply(txn).ok());
      ASSERT_TRUE(in_pieces.Apply(txn).ok());
      ASSERT_TRUE(bulk.Apply(std::move(txn)).ok());
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, bulk, "after writes"));
    ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, in_pieces, "after writes, in pieces"));
  }
}

TEST(BulkLoad, AnswersLikeApplyAndCompactThenFollowsWrites) { CheckBulkLoadEqualsApply(11, false); }

TEST(BulkLoad, SnapshotWithChildrenBeforeParents) { CheckBulkLoadEqualsApply(12, true); }

// A snapshot in pieces that the pass-wise build must hand to Apply's rules
// (a delete at its end), big enough to be prepared on two threads (the
// halves' boundary falls inside a piece, barring a 1 in ~3,000 chance), and
// it answers like the same rows applied in transactions small enough to be
// prepared on one.
TEST(BulkLoad, PiecesPreparedOnTwoThreadsAnswerLikeApply) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(14, 16000, 26000);
  Transaction snapshot = canopy::testing::LoadTransaction(forest, Lsn(1000));
  snapshot.changes.push_back(DeleteProject{forest.projects.back().id});
  constexpr size_t kChunk = 10'000;  // well under PreparedTransaction's two-thread size
  ASSERT_GT(snapshot.changes.size(), size_t{1} << 16);
  HierarchyIndex applied;
  for (size_t i = 0; i < snapshot.changes.size(); i += kChunk) {
    const auto first = snapshot.changes.begin() + static_cast<std::ptrdiff_t>(i);
    const size_t n = std::min(kChunk, snapshot.changes.size() - i);
    ASSERT_TRUE(applied
                    .Apply(Transaction{snapshot.commit_lsn,
                                       {first, first + static_cast<std::ptrdiff_t>(n)}})
                    .ok());
  }
  ASSERT_TRUE(applied.Compact().ok());
  HierarchyIndex in_pieces;
  ASSERT_TRUE(
      in_pieces.BulkLoad(snapshot.commit_lsn, CutIntoPieces(snapshot.changes, 14, 3000)).ok());
  ASSERT_NO_FATAL_FAILURE(
      ExpectSameAnswers(applied, in_pieces, "after the snapshot", /*same_transactions=*/false));
  EXPECT_EQ(in_pieces.Stats().unknown_deletes, 0u);
}

TEST(BulkLoad, OnlyOnAFreshIndex) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(13, 4000, 6000);
  HierarchyIndex index;
  ASSERT_TRUE(index.BulkLoad(canopy::testing::LoadTransaction(forest, Lsn(10))).ok());
  EXPECT_EQ(index.BulkLoad(canopy::testing::LoadTransaction(forest, Lsn(20))).code(),
            StatusCode::kFailedPrecondition);
  HierarchyIndex written;
  ASSERT_TRUE(written.Apply(Transaction{Lsn(5), {}}).ok());
  EXPECT_EQ(written.BulkLoad(canopy::testing::LoadTransaction(forest, Lsn(20))).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(written.Stats().namespaces, 0u);
}

// A view of the empty index held over BulkLoad: its second copy, made on a
// thread of the index, waits for that view to leave, so a write from the
// thread holding it gets kFailedPrecondition (as Apply promises for a held
// view) rather than waiting for that copy forever; once dropped, writes go on.
TEST(BulkLoad, AViewHeldOverTheLoadFailsAWriteInsteadOfHangingIt) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(14, 1000, 1500);
  Transaction snapshot = canopy::testing::LoadTransaction(forest, Lsn(10));
  HierarchyIndex applied;
  ASSERT_NO_FATAL_FAILURE(ApplyAndCompact(snapshot, &applied));
  HierarchyIndex index;
  {
    ReadView held = index.Read();
    ASSERT_TRUE(index.BulkLoad(snapshot).ok());
    EXPECT_EQ(index.Apply(Transaction{Lsn(11), {}}).code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(index.Compact().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(held.lsn(), Lsn());  // (still the empty index's)
  }
  for (uint64_t lsn : {11, 12}) {  // both copies: the copied one, then the built one
    ASSERT_TRUE(applied.Apply(Transaction{Lsn(lsn), {}}).ok());
    ASSERT_TRUE(index.Apply(Transaction{Lsn(lsn), {}}).ok());
    ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, index, "after the view is dropped"));
  }
}

// Snapshots the pass-wise build cannot take (a cycle, a node its own parent,
// a key twice, a delete, a runner link twice) and bad data it can (orphans,
// projects naming missing or shared project namespaces): every answer, the
// anomaly counters and what follows are Apply's.
TEST(BulkLoad, BadSnapshotsAnswerLikeApply) {
  using canopy_test::Group;
  using canopy_test::Link;
  using canopy_test::Project;
  using canopy_test::ProjectNamespace;
  using canopy_test::User;
  const std::vector<RowChange> base = {
      Group(1, std::nullopt, "org"),
      Group(2, 1, "team"),
      ProjectNamespace(20, 2, "app"),
      Project(200, 2, 20, "app"),
      User(3, "user"),
      Project(300, 3, 30, "mine"),
      Group(4, 404, "orphan"),        // parent never arrives
      Project(400, 505, 40, "lost"),  // namespace never arrives
      Project(201, 2, 20, "twin"),    // names the project namespace 200 already owns
      Link(1, 7, 1),
      Link(2, 7, 2),
      Link(3, 8, 404)};
  struct Case {
    const char* name;
    std::vector<RowChange> extra;
  };
  NamespaceRow to_self;
  to_self.id = 9;
  to_self.parent_id = 9;
  to_self.type = NamespaceType::kGroup;
  to_self.path = "self";
  NamespaceRow pn_root;  // a project namespace with no parent
  pn_root.id = 62;
  pn_root.type = NamespaceType::kProject;
  pn_root.path = "root-pn";
  const std::vector<Case> cases = {
      {"clean", {}},
      // Rows out of GitLab's type rules, which the build lists and counts
      // as Apply does: a group (and below it a project namespace) under a
      // project namespace, a project in a project namespace, project
      // namespaces as a root and as an orphan.
      {"types out of place",
       {Group(50, 20, "group-under-pn"), ProjectNamespace(52, 50, "pn-under-that"),
        Project(500, 20, 52, "in-a-pn"), UpsertNamespace{pn_root}, Project(620, 62, 62, "root-pn"),
        ProjectNamespace(61, 777, "orphan-pn")}},
      // Each of those shapes alone, so that one cannot hide another's
      // mistake in the layout order.
      {"project namespaces as a root and an orphan, a project in one",
       {UpsertNamespace{pn_root}, Project(620, 62, 62, "root-pn"),
        ProjectNamespace(61, 777, "orphan-pn"), Project(500, 20, 61, "in-a-pn")}},
      {"a group under a project namespace", {Group(50, 20, "group-under-pn")}},
      {"a project namespace under one",
       {ProjectNamespace(53, 20, "pn-under-pn"), Project(530, 53, 53, "under-pn")}},
      {"two-node cycle", {Group(5, 6, "a"), Group(6, 5, "b"), Group(7, 6, "c")}},
      {"own parent", {UpsertNamespace{to_self}}},
      {"key twice", {Group(2, std::nullopt, "moved-team"), Project(200, 1, 20, "app2")}},
      {"delete", {DeleteNamespace{4}, DeleteProject{999}}},
      {"runner link twice", {Link(2, 9, 1)}},
      // Ids below and above the rest, negative and far apart: the link pass
      // finds parents and project namespaces by id whatever their spread.
      {"negative ids, dense", {Group(-3, std::nullopt, "neg"), Group(10, -3, "under-neg")}},
      {"sparse ids",
       {Group(9'000'000'000, 2, "far"), ProjectNamespace(-9'000'000'000, 9'000'000'000, "pn"),
        Project(9'000'000'001, 9'000'000'000, -9'000'000'000, "far-app")}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Transaction snapshot{Lsn(100), base};
    snapshot.changes.insert(snapshot.changes.end(), c.extra.begin(), c.extra.end());
    HierarchyIndex applied, applied_later;
    for (HierarchyIndex* index : {&applied, &applied_later}) {
      ASSERT_NO_FATAL_FAILURE(ApplyAndCompact(snapshot, index));
    }
    HierarchyIndex bulk;
    ASSERT_TRUE(bulk.BulkLoad(snapshot).ok());
    // Every row its own piece: a repeated key, a cycle or a delete spans pieces.
    HierarchyIndex in_pieces;
    ASSERT_TRUE(
        in_pieces.BulkLoad(snapshot.commit_lsn, CutIntoPieces(snapshot.changes, 1, 1)).ok());
    Transaction later{
        Lsn(200),
        {Group(404, 1, "late-parent"), ProjectNamespace(40, 404, "lost"), Group(2, 404, "team")}};
    ASSERT_TRUE(applied_later.Apply(later).ok());
    for (HierarchyIndex* loaded : {&bulk, &in_pieces}) {
      SCOPED_TRACE(loaded == &bulk ? "one transaction" : "in pieces");
      ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied, *loaded, "after the snapshot"));
      const IndexStats a = applied.Stats(), b = loaded->Stats();
      EXPECT_EQ(a.cycles_refused, b.cycles_refused);
      EXPECT_EQ(a.unknown_deletes, b.unknown_deletes);
      EXPECT_EQ(a.row_changes_applied, b.row_changes_applied);
      // Writes after it: the parent and the project namespace arrive, a move.
      ASSERT_TRUE(loaded->Apply(later).ok());
      ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(applied_later, *loaded, "after writes"));
    }
  }
}

// An index that has lived through a long stream of writes answers exactly
// like a fresh load of the rows it ends with. The stream breaks GitLab's type
// rules on purpose (any namespace type below any other, projects in project
// namespaces and users, types that change), deletes and re-creates
// namespaces, truncates and compacts now and then: what lies below a
// namespace is kept in a record of its own that namespaces gain, lose and
// hand on (forest.h, NsBelow), and a stale one shows up as a wrong answer.
// The churned index is compared laid out (just compacted) and not.
TEST(BulkLoad, ChurnedIndexAnswersLikeAFreshLoadOfItsRows) {
  const uint64_t seed = canopy_test::TestSeed(0xc4);
  SCOPED_TRACE("replay with CANOPY_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto below = [&](uint64_t n) { return static_cast<int64_t>(rng() % n); };
  std::map<int64_t, NamespaceRow> namespaces;
  std::map<int64_t, ProjectRow> projects;
  constexpr int64_t kNamespaceIds = 40, kProjectIds = 60;
  // A parent that keeps the tree acyclic (walking up from it never meets
  // `id`), or none; sometimes an id that does not exist (an orphan).
  auto pick_parent = [&](int64_t id) -> std::optional<int64_t> {
    if (rng() % 5 == 0) return std::nullopt;
    const int64_t parent = 1 + below(kNamespaceIds + 4);
    for (std::optional<int64_t> up = parent; up;) {
      if (*up == id) return std::nullopt;
      auto it = namespaces.find(*up);
      up = it == namespaces.end() ? std::nullopt : it->second.parent_id;
    }
    return parent;
  };
  HierarchyIndex churned;
  uint64_t lsn = 0, compared = 0, laid_out_seen = 0;
  const int steps = std::max(300, static_cast<int>(1500 * canopy_test::TestScale()));
  for (int step = 0; step < steps; ++step) {
    Transaction txn{Lsn(++lsn), {}};
    const int ops = 1 + static_cast<int>(rng() % 4);
    for (int op = 0; op < ops; ++op) {
      const uint64_t r = rng() % 100;
      if (r < 40) {  // a namespace: new, moved, retyped
        const int64_t id = 1 + below(kNamespaceIds);
        NamespaceRow row;
        row.id = id;
        row.parent_id = pick_parent(id);
        row.type = static_cast<NamespaceType>(rng() % 3);
        row.path = "n" + std::to_string(id);
        row.name = "N" + std::to_string(id);
        row.visibility_level = 20;
        namespaces[id] = row;
        txn.changes.push_back(UpsertNamespace{row});
      } else if (r < 52) {
        const int64_t id = 1 + below(kNamespaceIds);
        if (namespaces.erase(id) != 0) txn.changes.push_back(DeleteNamespace{id});
      } else if (r < 85) {  // a project, in any namespace (or an unknown one)
        const int64_t id = 1 + below(kProjectIds);
        ProjectRow row;
        row.id = id;
        row.namespace_id = 1 + below(kNamespaceIds + 4);
        // Its own project namespace id is its alone: who owns one never
        // depends on the order rows arrived in.
        if (rng() % 3 != 0) row.project_namespace_id = 1'000 + id;
        row.path = "p" + std::to_string(id);
        row.name = "P" + std::to_string(id);
        row.archived = rng() % 4 == 0;
        projects[id] = row;
        txn.changes.push_back(UpsertProject{row});
      } else if (r < 97) {
        const int64_t id = 1 + below(kProjectIds);
        if (projects.erase(id) != 0) txn.changes.push_back(DeleteProject{id});
      } else if (r < 98) {
        projects.clear();
        txn.changes.push_back(TruncateTable{Table::kProjects});
      } else if (r < 99 && rng() % 4 == 0) {
        namespaces.clear();
        txn.changes.push_back(TruncateTable{Table::kNamespaces});
      } else {  // a project's own namespace, below anything
        const int64_t project = 1 + below(kProjectIds);
        NamespaceRow row;
        row.id = 1'000 + project;
        row.parent_id = pick_parent(row.id);
        row.type = NamespaceType::kProject;
        row.path = row.name = "pn" + std::to_string(project);
        row.visibility_level = 0;
        namespaces[row.id] = row;
        txn.changes.push_back(UpsertNamespace{row});
      }
    }
    ASSERT_TRUE(churned.Apply(txn).ok()) << "step " << step;
    const bool compact = rng() % 8 == 0;
    if (compact) {
      ASSERT_TRUE(churned.Compact().ok());
    }
    laid_out_seen += churned.Stats().laid_out_namespaces;
    if (step % 5 != 0 && !compact) continue;
    Transaction rows{Lsn(lsn), {}};
    for (const auto& [id, row] : namespaces) rows.changes.push_back(UpsertNamespace{row});
    for (const auto& [id, row] : projects) rows.changes.push_back(UpsertProject{row});
    std::shuffle(rows.changes.begin(), rows.changes.end(), rng);
    HierarchyIndex fresh;
    ASSERT_TRUE(fresh.BulkLoad(rows).ok());
    const std::string when = "step " + std::to_string(step) + (compact ? ", compacted" : "");
    // Just compacted, the churned index is laid out exactly as the fresh one.
    ASSERT_NO_FATAL_FAILURE(ExpectSameAnswers(fresh, churned, when.c_str(),
                                              /*same_transactions=*/false,
                                              /*same_layout=*/compact));
    if (::testing::Test::HasFailure()) return;
    ++compared;
  }
  EXPECT_GT(compared, static_cast<uint64_t>(steps) / 5);
  EXPECT_GT(laid_out_seen, static_cast<uint64_t>(steps)) << "the slice path was hardly used";
}

}  // namespace
}  // namespace canopy

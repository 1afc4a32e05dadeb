// compact_share_test.cc — what Compact shares between the two left-right
// copies (engine/src/forest.h, SLICES): the second copy to be laid out takes
// the first's sorted runs, but only when the first has changed no row since
// its own Compact and both were laid out from the same rows (the same ids in
// the same pre-order under the same subtree bounds, at the same LSN);
// otherwise it builds its own, and its answers are its own rows'. The
// layout (the subtree bounds) is shared whenever the two are equal, and a
// copy made with CopyFrom shares both.
//   CANOPY_TEST_SEED=<n>   replays the randomized test (printed on failure)
//   CANOPY_TEST_SCALE=<x>  lengthens/shortens it (default 1)
#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/rows.h"
#include "forest.h"
#include "test_seed.h"

namespace canopy::internal {
namespace {

using Ids = std::vector<int64_t>;

NamespaceRow Group(int64_t id, std::optional<int64_t> parent) {
  std::string path = "g";  // (appended, not "g" + ...: GCC 12's -Wrestrict false positive at -O3)
  path += std::to_string(id);
  return {.id = id, .parent_id = parent, .type = NamespaceType::kGroup, .name = path, .path = path};
}

// Group 1 with `groups` subgroups 2.. under it (ids counting down, so that a
// pre-order run is not already ascending), each with a project.
Transaction Tree(uint64_t lsn, int64_t groups) {
  Transaction txn{Lsn(lsn), {UpsertNamespace{Group(1, std::nullopt)}}};
  for (int64_t i = 0; i < groups; ++i) {
    const int64_t id = 1 + groups - i;
    txn.changes.push_back(UpsertNamespace{Group(id, 1)});
    txn.changes.push_back(
        UpsertProject{{.id = 1000 + id, .namespace_id = id, .name = "p", .path = "p"}});
  }
  return txn;
}

HierarchyIndexOptions SmallRuns() {
  HierarchyIndexOptions options;
  options.sorted_run_min_ids = 4;
  return options;
}

Ids Descendants(const Forest& forest, int64_t ns) {
  Ids out;
  EXPECT_TRUE(forest.SelfAndDescendants(ns, false, true, &out).ok());
  return out;
}
Ids Projects(const Forest& forest, int64_t ns) {
  Ids out;
  EXPECT_TRUE(forest.ProjectIds(ns, false, &out).ok());
  return out;
}

// Two copies given the same tree of 20 subgroups; the first laid out alone,
// the second then from the first (as HierarchyIndex lays them out).
struct TwoCopies {
  TwoCopies() {
    const PreparedTransaction rows(Tree(0x10, 20));
    first.Apply(rows);
    second.Apply(rows);
    first.Compact(nullptr);
    second.Compact(&first);
  }
  const HierarchyIndexOptions options = SmallRuns();
  Forest first{options}, second{options};
};

TEST(CompactShare, TheSecondCopyLaidOutFromTheSameRowsSharesTheSortedRuns) {
  TwoCopies copies;
  const Forest &first = copies.first, &second = copies.second;
  const auto [shared, held] = second.SortedRunsSharedWith(first);
  EXPECT_GT(held, 0u);
  EXPECT_EQ(shared, held);
  EXPECT_TRUE(second.LayoutSharedWith(first));
  EXPECT_EQ(Descendants(second, 1), Descendants(first, 1));
  EXPECT_EQ(Projects(second, 1), Projects(first, 1));
  Ids want = {1};
  for (int64_t id = 2; id <= 21; ++id) want.push_back(id);
  EXPECT_EQ(Descendants(second, 1), want);
}

// A project whose text equals its project namespace's takes that record
// when applied, not only at the next Compact: the transaction's own record
// for it is freed with the transaction (and back in the arena's free list).
TEST(CompactShare, AnAppliedProjectSharesItsProjectNamespacesText) {
  RowText probe = RowText::Make("Proj One", "proj-one");
  const size_t record = probe.bytes();
  probe.Unref();
  for (const bool equal : {true, false}) {
    SCOPED_TRACE(equal ? "equal texts" : "different texts");
    Forest forest{SmallRuns()};
    size_t free_before = 0;
    {
      NamespaceRow pn{.id = 2,
                      .parent_id = 1,
                      .type = NamespaceType::kProject,
                      .name = "Proj One",
                      .path = "proj-one"};
      ProjectRow project{.id = 7,
                         .namespace_id = 1,
                         .project_namespace_id = 2,
                         .name = equal ? "Proj One" : "Proj Two",
                         .path = equal ? "proj-one" : "proj-two"};
      const PreparedTransaction rows(Transaction{
          Lsn(0x10),
          {UpsertNamespace{Group(1, std::nullopt)}, UpsertNamespace{pn}, UpsertProject{project}}});
      free_before = TextArena::FreeBytes();  // its texts made
      forest.Apply(rows);
    }
    EXPECT_EQ(TextArena::FreeBytes(), free_before + (equal ? record : 0));
  }
}

TEST(CompactShare, OtherRowsOrAnotherLsnBuildTheirOwn) {
  const HierarchyIndexOptions options = SmallRuns();
  Forest first(options);
  first.Apply(PreparedTransaction(Tree(0x10, 20)));
  first.Compact(nullptr);

  // More rows: other ids in the layout.
  Forest more(options);
  more.Apply(PreparedTransaction(Tree(0x10, 21)));
  more.Compact(&first);
  EXPECT_EQ(more.SortedRunsSharedWith(first).first, 0u);
  EXPECT_FALSE(more.LayoutSharedWith(first));
  Ids want = {1};
  for (int64_t id = 2; id <= 22; ++id) want.push_back(id);
  EXPECT_EQ(Descendants(more, 1), want);
  EXPECT_EQ(Projects(more, 1).size(), 21u);

  // The same ids in the same pre-order, another tree: subgroup 3 moved
  // under its sibling 2, which comes just before it (only the subtree
  // bounds differ).
  Forest moved(options);
  Transaction txn = Tree(0x10, 20);
  txn.changes.push_back(UpsertNamespace{Group(3, 2)});
  moved.Apply(PreparedTransaction(txn));
  moved.Compact(&first);
  EXPECT_EQ(moved.SortedRunsSharedWith(first).first, 0u);
  EXPECT_FALSE(moved.LayoutSharedWith(first));
  EXPECT_EQ(Descendants(moved, 2), (Ids{2, 3}));
  EXPECT_EQ(Descendants(moved, 1).size(), 21u);

  // The same rows at another LSN.
  Forest later(options);
  later.Apply(PreparedTransaction(Tree(0x20, 20)));
  later.Compact(&first);
  EXPECT_EQ(later.SortedRunsSharedWith(first).first, 0u);
  EXPECT_EQ(Descendants(later, 1), Descendants(first, 1));
}

// A copy that changed rows since its last Compact does not lend its runs,
// even when a delete and an insert left its id columns and layout as a
// fresh Compact lays them out: its runs hold the rows of that Compact.
TEST(CompactShare, ACopyChangedSinceItsCompactLendsNothing) {
  TwoCopies copies;
  Forest &a = copies.first, &b = copies.second;
  ASSERT_GT(b.SortedRunsSharedWith(a).first, 0u);
  const PreparedTransaction drop(Transaction{Lsn(0x20), {DeleteProject{1005}}});
  const PreparedTransaction add(Transaction{
      Lsn(0x30), {UpsertProject{{.id = 5000, .namespace_id = 5, .name = "p", .path = "p"}}}});
  for (Forest* copy : {&a, &b}) {
    copy->Apply(drop);
    copy->Apply(add);
  }
  a.Compact(&b);
  EXPECT_EQ(a.SortedRunsSharedWith(b).first, 0u);
  // One project swapped for another in the same group: the same subtree
  // bounds, so the same layout, shared (it holds no id).
  EXPECT_TRUE(a.LayoutSharedWith(b));
  b.Compact(&a);  // a has changed nothing since: b shares a's new runs
  EXPECT_GT(b.SortedRunsSharedWith(a).first, 0u);
  Ids want;
  for (int64_t id = 1002; id <= 1021; ++id) {
    if (id != 1005) want.push_back(id);
  }
  want.push_back(5000);
  EXPECT_EQ(Projects(a, 1), want);
  EXPECT_EQ(Projects(b, 1), want);
}

// A copy made with CopyFrom (a BulkLoad's second copy) holds the same
// layout and sorted runs, not copies of them, and answers the same.
TEST(CompactShare, ACopyMadeWithCopyFromSharesTheLayoutAndTheRuns) {
  TwoCopies copies;
  Forest copy(copies.options);
  copy.CopyFrom(copies.first);
  EXPECT_TRUE(copy.LayoutSharedWith(copies.first));
  const auto [shared, held] = copy.SortedRunsSharedWith(copies.first);
  EXPECT_GT(held, 0u);
  EXPECT_EQ(shared, held);
  EXPECT_EQ(Descendants(copy, 1), Descendants(copies.first, 1));
  EXPECT_EQ(Projects(copy, 1), Projects(copies.first, 1));
  // A change below group 1 in the copy alone: it walks, the original
  // still copies its runs, and each answers its own rows.
  copy.Apply(PreparedTransaction(Transaction{Lsn(0x20), {UpsertNamespace{Group(99, 5)}}}));
  Ids want = Descendants(copies.first, 1);
  EXPECT_EQ(want.size(), 21u);
  want.push_back(99);
  EXPECT_EQ(Descendants(copy, 1), want);
  EXPECT_EQ(Descendants(copies.first, 1).size(), 21u);
}

// A Compact with no row changed since the copy's last one keeps that
// layout (the same object, still shared with a copy made from it) and its
// runs; after a change it lays the copy out again.
TEST(CompactShare, ACompactWithNothingChangedSinceKeepsTheLayout) {
  TwoCopies copies;
  Forest copy(copies.options);
  copy.CopyFrom(copies.first);
  copies.first.Compact(nullptr);
  EXPECT_TRUE(copies.first.LayoutSharedWith(copy));
  auto [shared, held] = copies.first.SortedRunsSharedWith(copy);
  EXPECT_GT(held, 0u);
  EXPECT_EQ(shared, held);
  EXPECT_EQ(Descendants(copies.first, 1), Descendants(copy, 1));
  copies.first.Apply(PreparedTransaction(Transaction{Lsn(0x20), {UpsertNamespace{Group(99, 5)}}}));
  copies.first.Compact(nullptr);
  EXPECT_FALSE(copies.first.LayoutSharedWith(copy));
  Ids want = Descendants(copy, 1);
  want.push_back(99);
  EXPECT_EQ(Descendants(copies.first, 1), want);
}

// Through the index: a Compact() publishes one copy laid out; the next
// publish lays the other out from the same rows, sharing the runs, and both
// copies answer in ascending order, also after rows change and a second
// Compact().
// `kind` of group 1 on both copies of `index` (an empty transaction at
// `lsn`, then lsn + 1, publishes each in turn).
void ExpectOnBothCopies(HierarchyIndex& index, QueryKind kind, const Ids& want, uint64_t lsn) {
  for (int copy = 0; copy < 2; ++copy) {
    IdQuery q;
    q.kind = kind;
    q.id = 1;
    QueryAnswer a = index.Query(q);
    ASSERT_TRUE(a.answer.status.ok()) << a.answer.status.ToString();
    EXPECT_EQ(a.answer.ids, want) << "copy " << copy;
    ASSERT_TRUE(index.Apply(Transaction{Lsn(lsn + copy), {}}).ok());
  }
}

TEST(CompactShare, BothCopiesOfAnIndexAnswerTheSameAfterCompact) {
  HierarchyIndex index(SmallRuns());
  ASSERT_TRUE(index.Apply(Tree(0x10, 30)).ok());
  ASSERT_TRUE(index.Compact().ok());
  Ids want = {1};
  for (int64_t id = 2; id <= 31; ++id) want.push_back(id);
  ExpectOnBothCopies(index, QueryKind::kSelfAndDescendants, want, 0x20);
  // Rows change, then a second Compact(): both copies answer the new rows.
  ASSERT_TRUE(index.Apply(Transaction{Lsn(0x30), {DeleteProject{1005}}}).ok());
  ASSERT_TRUE(index
                  .Apply(Transaction{
                      Lsn(0x40),
                      {UpsertProject{{.id = 5000, .namespace_id = 5, .name = "p", .path = "p"}}}})
                  .ok());
  ASSERT_TRUE(index.Compact().ok());
  Ids projects;
  for (int64_t id = 1002; id <= 1031; ++id) {
    if (id != 1005) projects.push_back(id);
  }
  projects.push_back(5000);
  ExpectOnBothCopies(index, QueryKind::kAllProjectIds, projects, 0x50);
}

// Random deletes and inserts between Compact() calls, each a few rows, so
// that freed slots are reused and a fresh layout often comes out the same:
// both copies of an index that keeps every run sorted must answer every
// group's descendants and projects as an index that always walks.
TEST(CompactShare, RandomSlotReuseBetweenCompactsAnswersAsTheWalk) {
  const uint64_t seed = canopy_test::TestSeed(7);
  SCOPED_TRACE("replay with CANOPY_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  HierarchyIndexOptions sorted_everywhere;
  sorted_everywhere.sorted_run_min_ids = 1;
  HierarchyIndexOptions walk_only;
  walk_only.layout_slices = false;
  HierarchyIndex shared(sorted_everywhere), walk(walk_only);
  uint64_t lsn = 0x10;
  auto apply = [&](std::vector<RowChange> changes) {
    lsn += 0x10;
    ASSERT_TRUE(shared.Apply(Transaction{Lsn(lsn), changes}).ok());
    ASSERT_TRUE(walk.Apply(Transaction{Lsn(lsn), std::move(changes)}).ok());
  };
  // Group 1, subgroups 2..7 under it and 8..9 under 2; projects by group.
  std::vector<int64_t> groups = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::map<int64_t, int64_t> project_group;  // live projects
  std::vector<RowChange> rows = {UpsertNamespace{Group(1, std::nullopt)}};
  for (int64_t g = 2; g <= 9; ++g) rows.push_back(UpsertNamespace{Group(g, g <= 7 ? 1 : 2)});
  int64_t next_project = 100;
  for (int i = 0; i < 20; ++i, ++next_project) {
    const int64_t g = groups[rng() % groups.size()];
    rows.push_back(
        UpsertProject{{.id = next_project, .namespace_id = g, .name = "p", .path = "p"}});
    project_group[next_project] = g;
  }
  apply(std::move(rows));
  const int steps = std::max(100, static_cast<int>(1000 * canopy_test::TestScale()));
  for (int step = 0; step < steps; ++step) {
    std::vector<RowChange> changes;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n && !project_group.empty(); ++i) {  // (20 live: always n)
      auto victim = project_group.begin();
      std::advance(victim, static_cast<long>(rng() % project_group.size()));
      changes.push_back(DeleteProject{victim->first});
      project_group.erase(victim);
    }
    for (int i = 0; i < n; ++i, ++next_project) {
      const int64_t g = groups[rng() % groups.size()];
      changes.push_back(
          UpsertProject{{.id = next_project, .namespace_id = g, .name = "p", .path = "p"}});
      project_group[next_project] = g;
    }
    if (rng() % 2 == 0) {
      apply(std::move(changes));
    } else {  // the deletes and the inserts in two transactions
      const size_t deletes = changes.size() - static_cast<size_t>(n);
      std::vector<RowChange> inserts(changes.begin() + static_cast<std::ptrdiff_t>(deletes),
                                     changes.end());
      changes.resize(deletes);
      apply(std::move(changes));
      apply(std::move(inserts));
    }
    ASSERT_TRUE(shared.Compact().ok());
    for (int copy = 0; copy < 2; ++copy) {
      for (int64_t g : groups) {
        for (QueryKind kind : {QueryKind::kAllProjectIds, QueryKind::kSelfAndDescendants}) {
          IdQuery q;
          q.kind = kind;
          q.id = g;
          EXPECT_EQ(shared.Query(q).answer.ids, walk.Query(q).answer.ids)
              << "step " << step << ", copy " << copy << ", " << QueryKindName(kind) << "(" << g
              << ")";
        }
      }
      apply({});  // publishes the other copy
    }
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace canopy::internal

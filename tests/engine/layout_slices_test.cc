// layout_slices_test.cc — descendants and all_project_ids copied from the
// pre-order layout answer exactly as the tree walk does.
//
// Three indexes take the same transactions: one answers laid-out subtrees
// from the layout's runs (HierarchyIndexOptions::layout_slices, the default),
// one also keeps even the smallest runs sorted (sorted_run_min_ids = 1), the
// third always walks. Random streams of moves, creates and deletes dirty the
// layout, Compact() cleans it again, and every id-list kind is compared for
// every namespace after every step. The laid_out_namespaces gauge shows that
// the slice path was taken (a test that never reaches it would pass
// vacuously). Hand-written cases cover the layout's edges: a project
// namespace without a project, a project without a project namespace, ids
// near INT64_MAX and negative ids, bad data below project namespaces.
//
// Replay: CANOPY_TEST_SEED=<seed>; length: CANOPY_TEST_SCALE=<factor>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "random_stream.h"
#include "reference_model.h"
#include "test_rows.h"
#include "test_seed.h"

namespace {

using canopy::HierarchyIndex;
using canopy::HierarchyIndexOptions;
using canopy::IdAnswer;
using canopy::IdQuery;
using canopy::Lsn;
using canopy::QueryKind;
using canopy::Transaction;
using namespace canopy_test;

HierarchyIndexOptions WalkOnly() {
  HierarchyIndexOptions o;
  o.layout_slices = false;
  return o;
}

// Every run kept sorted (within the budget), even the smallest, and made
// for groups that grow to 8 ids since the layout (grown_runs).
HierarchyIndexOptions SortedRunsEverywhere() {
  HierarchyIndexOptions o;
  o.sorted_run_min_ids = 1;
  o.grown_runs = true;
  return o;
}

// The kinds a layout run can answer, each with and without project namespaces.
std::vector<IdQuery> SubtreeQueries(int64_t id) {
  std::vector<IdQuery> queries;
  for (QueryKind kind :
       {QueryKind::kSelfAndDescendants, QueryKind::kDescendants, QueryKind::kSelfAndHierarchy}) {
    for (bool pns : {false, true}) {
      IdQuery q;
      q.kind = kind;
      q.id = id;
      q.include_project_namespaces = pns;
      queries.push_back(q);
    }
  }
  for (QueryKind kind : {QueryKind::kAllProjectIds, QueryKind::kAllUnarchivedProjectIds}) {
    IdQuery q;
    q.kind = kind;
    q.id = id;
    queries.push_back(q);
  }
  return queries;
}

std::string Describe(const IdAnswer& a) {
  std::string s = a.status.ToString() + " [";
  for (int64_t id : a.ids) s += std::to_string(id) + " ";
  return s + "]";
}

// Empty when both indexes give every subtree query of every id the same answer.
std::string Compare(const HierarchyIndex& slices, const HierarchyIndex& walk,
                    const std::vector<int64_t>& ids) {
  std::string diff;
  for (int64_t id : ids) {
    for (const IdQuery& q : SubtreeQueries(id)) {
      IdAnswer a = slices.Query(q).answer;
      IdAnswer b = walk.Query(q).answer;
      if (a.status.code() != b.status.code() || a.ids != b.ids || a.total != b.total) {
        diff += std::string(canopy::QueryKindName(q.kind)) + "(" + std::to_string(id) +
                (q.include_project_namespaces ? ", pns" : "") + "): slices " + Describe(a) +
                " walk " + Describe(b) + "\n";
      }
    }
  }
  return diff;
}

void RunSlicesVsWalk(StreamProfile profile, int steps, uint64_t salt) {
  const uint64_t seed = TestSeed(salt);
  SCOPED_TRACE("replay with CANOPY_TEST_SEED=" + std::to_string(seed) + " (profile " +
               profile.name + ")");
  steps = std::max(50, static_cast<int>(steps * TestScale()));
  std::mt19937_64 rng(seed);
  RandomStream stream(seed, profile);
  ReferenceModel model;
  HierarchyIndex slices;
  HierarchyIndex sorted_runs(SortedRunsEverywhere());
  HierarchyIndex walk(WalkOnly());
  uint64_t laid_out_seen = 0, stale_seen = 0, compactions = 0;
  for (int step = 0; step < steps; ++step) {
    Transaction txn = stream.Next(model);
    ASSERT_TRUE(model.Apply(txn));
    ASSERT_TRUE(slices.Apply(txn).ok()) << "step " << step;
    ASSERT_TRUE(sorted_runs.Apply(txn).ok()) << "step " << step;
    ASSERT_TRUE(walk.Apply(std::move(txn)).ok()) << "step " << step;
    if (rng() % 6 == 0) {  // re-lay out often, so that slices meet every kind of change
      ASSERT_TRUE(slices.Compact().ok());
      ASSERT_TRUE(sorted_runs.Compact().ok());
      ASSERT_TRUE(walk.Compact().ok());
      ++compactions;
    }
    laid_out_seen += slices.Stats().laid_out_namespaces;
    stale_seen += sorted_runs.Stats().stale_run_namespaces;
    ASSERT_EQ(walk.Stats().laid_out_namespaces, slices.Stats().laid_out_namespaces)
        << "the gauge does not depend on the option";
    std::vector<int64_t> ids;
    for (const auto& [id, row] : model.namespaces()) ids.push_back(id);
    ids.push_back(-1);  // unknown: both kNotFound
    std::string diff = Compare(slices, walk, ids);
    ASSERT_TRUE(diff.empty()) << "step " << step << ": slices and walk differ\n" << diff;
    diff = Compare(sorted_runs, walk, ids);
    ASSERT_TRUE(diff.empty()) << "step " << step << ": sorted runs and walk differ\n" << diff;
  }
  std::cout << "[ slices   ] " << profile.name << ": " << steps << " steps, " << compactions
            << " compactions, laid-out namespaces summed over steps " << laid_out_seen
            << ", stale-run namespaces " << stale_seen << "\n";
  EXPECT_GT(laid_out_seen, static_cast<uint64_t>(steps)) << "the slice path was hardly used";
  // (Stale runs are kept for runs of 8 x sorted_run_min_ids = 8 ids or more.)
  EXPECT_GT(stale_seen, 0u) << "no stale sorted run was ever answered from";
}

TEST(LayoutSlicesTest, BalancedStream) { RunSlicesVsWalk(StreamProfile::Balanced(), 600, 1); }
TEST(LayoutSlicesTest, MovesAndSwaps) { RunSlicesVsWalk(StreamProfile::SmallDense(), 900, 2); }
TEST(LayoutSlicesTest, DeepChains) { RunSlicesVsWalk(StreamProfile::Deep(), 400, 3); }
TEST(LayoutSlicesTest, OrphansAndBadData) { RunSlicesVsWalk(StreamProfile::Orphans(), 700, 4); }

class LayoutCases : public ::testing::Test {
 protected:
  // "Both": the slices (with and without every run sorted) and the walk.
  void ApplyBoth(Transaction txn) {
    ASSERT_TRUE(slices_.Apply(txn).ok());
    ASSERT_TRUE(sorted_runs_.Apply(txn).ok());
    ASSERT_TRUE(walk_.Apply(std::move(txn)).ok());
  }
  void CompactBoth() {
    ASSERT_TRUE(slices_.Compact().ok());
    ASSERT_TRUE(sorted_runs_.Compact().ok());
    ASSERT_TRUE(walk_.Compact().ok());
  }
  std::vector<int64_t> Ids(QueryKind kind, int64_t id, bool pns = false) {
    IdQuery q;
    q.kind = kind;
    q.id = id;
    q.include_project_namespaces = pns;
    IdAnswer a = slices_.Query(q).answer;
    IdAnswer b = walk_.Query(q).answer;
    EXPECT_EQ(a.ids, b.ids) << QueryKindName(kind) << "(" << id << ")";
    EXPECT_EQ(sorted_runs_.Query(q).answer.ids, b.ids)
        << QueryKindName(kind) << "(" << id << ") with sorted runs";
    EXPECT_TRUE(a.status.ok()) << a.status.ToString();
    return a.ids;
  }
  uint64_t LaidOut() { return slices_.Stats().laid_out_namespaces; }
  Lsn next_lsn() { return Lsn(++lsn_); }

  HierarchyIndex slices_;
  HierarchyIndex sorted_runs_{SortedRunsEverywhere()};
  HierarchyIndex walk_{WalkOnly()};
  uint64_t lsn_ = 0;
};

using V = std::vector<int64_t>;

// A project row whose project_namespace_id is NULL (older GitLab rows).
canopy::RowChange ProjectWithoutNamespace(int64_t id, int64_t namespace_id, std::string path) {
  canopy::ProjectRow r;
  r.id = id;
  r.namespace_id = namespace_id;
  r.name = path;
  r.path = std::move(path);
  return canopy::UpsertProject{std::move(r)};
}

TEST_F(LayoutCases, MoveTakesOnlyTheTwoAncestorChainsOffAndCompactRestoresThem) {
  // 1 ─ 2 ─ 3 ─ 4     and a second tree 10 ─ 11
  //         └ pn 30 (project 300)
  ApplyBoth({next_lsn(),
             {Group(1, std::nullopt, "a"), Group(2, 1, "b"), Group(3, 2, "c"), Group(4, 3, "d"),
              ProjectNamespace(30, 3, "p"), Project(300, 3, 30, "p"), Group(10, std::nullopt, "x"),
              Group(11, 10, "y")}});
  EXPECT_EQ(LaidOut(), 0u) << "nothing is laid out before the first Compact";
  CompactBoth();
  EXPECT_EQ(LaidOut(), 7u) << "six groups and the project namespace";
  EXPECT_EQ(Ids(QueryKind::kDescendants, 1, true), (V{2, 3, 4, 30}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 1), (V{300}));

  // Move 3 (with 4, pn 30 and project 300) under 11: 1, 2 and 10, 11 change; 3, 4, 30 stay laid
  // out.
  canopy::NamespaceRow moved;
  moved.id = 3;
  moved.parent_id = 11;
  moved.present = canopy::NamespaceRow::kParentId;
  ApplyBoth({next_lsn(), {canopy::UpsertNamespace{moved}}});
  EXPECT_EQ(LaidOut(), 3u);
  EXPECT_EQ(Ids(QueryKind::kSelfAndDescendants, 10, true), (V{3, 4, 10, 11, 30}));
  EXPECT_EQ(Ids(QueryKind::kSelfAndDescendants, 3, true), (V{3, 4, 30}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 10), (V{300}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 1), V{});
  CompactBoth();
  EXPECT_EQ(LaidOut(), 7u);
  EXPECT_EQ(Ids(QueryKind::kSelfAndDescendants, 10, true), (V{3, 4, 10, 11, 30}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 10), (V{300}));
}

TEST_F(LayoutCases, ArchivingAProjectChangesCountsNotTheLayout) {
  // 1 ─ 2 ─ pn 20 (project 200, in group 2); project 100 in group 1 (pn 10)
  ApplyBoth({next_lsn(),
             {Group(1, std::nullopt, "org"), Group(2, 1, "team"), ProjectNamespace(10, 1, "a"),
              Project(100, 1, 10, "a"), ProjectNamespace(20, 2, "b"), Project(200, 2, 20, "b")}});
  CompactBoth();
  const uint64_t laid_out = LaidOut();
  EXPECT_EQ(laid_out, 4u);
  for (bool archived : {true, false, true}) {
    ApplyBoth({next_lsn(), {Project(200, 2, 20, "b", archived)}});
    EXPECT_EQ(LaidOut(), laid_out) << "an archive flip moves nothing";
    const V unarchived = archived ? V{100} : V{100, 200};
    EXPECT_EQ(Ids(QueryKind::kAllUnarchivedProjectIds, 1), unarchived);
    EXPECT_EQ(Ids(QueryKind::kAllUnarchivedProjectIds, 2), archived ? V{} : V{200});
    EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 1), (V{100, 200}));
    for (int64_t ns : {1, 2}) {
      auto a = slices_.Read().Counts(ns);
      auto b = walk_.Read().Counts(ns);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(a.value().unarchived_projects, b.value().unarchived_projects);
      EXPECT_EQ(a.value().projects, b.value().projects);
    }
    EXPECT_EQ(slices_.Read().Counts(1).value().unarchived_projects, unarchived.size());
  }
}

TEST_F(LayoutCases, ProjectNamespaceWithoutProjectAndProjectWithoutProjectNamespace) {
  ApplyBoth({next_lsn(),
             {Group(1, std::nullopt, "org"), Group(2, 1, "team"),
              ProjectNamespace(20, 2, "lonely"),          // no project row names it
              ProjectWithoutNamespace(200, 2, "legacy"),  // project_namespace_id NULL
              ProjectNamespace(21, 1, "app"), Project(201, 1, 21, "app")}});
  CompactBoth();
  EXPECT_EQ(Ids(QueryKind::kDescendants, 1, true), (V{2, 20, 21}));
  EXPECT_EQ(Ids(QueryKind::kDescendants, 1, false), (V{2}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 1), (V{200, 201}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 2), (V{200}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 20), V{});
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 21), (V{201}));
  EXPECT_EQ(LaidOut(), 4u);
}

TEST_F(LayoutCases, ExtremeAndNegativeIds) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min() + 1;  // min itself means NULL inside
  ApplyBoth({next_lsn(),
             {Group(kMax, std::nullopt, "top"), Group(-5, kMax, "neg"), Group(kMax - 1, -5, "deep"),
              Group(kMin, kMax, "min"), ProjectNamespace(-7, -5, "p"), Project(kMax, -5, -7, "p"),
              ProjectWithoutNamespace(-9, kMin, "q")}});
  CompactBoth();
  EXPECT_EQ(Ids(QueryKind::kSelfAndDescendants, kMax, true), (V{kMin, -7, -5, kMax - 1, kMax}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, kMax), (V{-9, kMax}));
  EXPECT_EQ(Ids(QueryKind::kSelfAndHierarchy, -5), (V{-5, kMax - 1, kMax}));
  EXPECT_EQ(LaidOut(), 5u);
}

TEST_F(LayoutCases, BadDataBelowAProjectNamespaceIsWalkedNotSliced) {
  // A group below a project namespace and a user below a group: never in
  // GitLab's data, answered like SQL anyway (by the walk).
  ApplyBoth({next_lsn(),
             {Group(1, std::nullopt, "org"), ProjectNamespace(20, 1, "app"), Group(3, 20, "odd"),
              Group(4, std::nullopt, "other"), User(5, "user")}});
  canopy::NamespaceRow user_below;
  user_below.id = 5;
  user_below.parent_id = 4;
  user_below.present = canopy::NamespaceRow::kParentId;
  ApplyBoth({next_lsn(), {canopy::UpsertNamespace{user_below}}});
  CompactBoth();
  EXPECT_EQ(Ids(QueryKind::kDescendants, 1, false), (V{3}));
  EXPECT_EQ(Ids(QueryKind::kDescendants, 1, true), (V{3, 20}));
  EXPECT_EQ(Ids(QueryKind::kDescendants, 4, true), (V{5}));
  EXPECT_EQ(Ids(QueryKind::kDescendants, 4, false), V{});
  // Nothing is laid out: 1 and 4 hold what their runs cannot describe, and
  // group 3 sits in the project-namespace part of the layout, which has no runs.
  EXPECT_EQ(LaidOut(), 0u);
  // A child arriving below a laid-out project namespace takes its ancestors off.
  ApplyBoth({next_lsn(), {Group(6, std::nullopt, "g"), ProjectNamespace(60, 6, "pn")}});
  CompactBoth();
  const uint64_t before = LaidOut();
  ApplyBoth({next_lsn(), {Group(61, 60, "below-pn")}});
  EXPECT_EQ(LaidOut(), before - 2) << "project namespace 60 and group 6";
  EXPECT_EQ(Ids(QueryKind::kDescendants, 6, false), (V{61}));
  EXPECT_EQ(Ids(QueryKind::kDescendants, 6, true), (V{60, 61}));
}

TEST_F(LayoutCases, TruncateForgetsTheLayout) {
  ApplyBoth({next_lsn(),
             {Group(1, std::nullopt, "org"), Group(2, 1, "team"), ProjectNamespace(20, 2, "a"),
              Project(200, 2, 20, "a")}});
  CompactBoth();
  EXPECT_EQ(LaidOut(), 3u);
  ApplyBoth({next_lsn(), {canopy::TruncateTable{canopy::Table::kProjects}}});
  EXPECT_EQ(LaidOut(), 0u);
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 1), V{});
  CompactBoth();
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 1), V{});
  ApplyBoth({next_lsn(), {canopy::TruncateTable{canopy::Table::kNamespaces}}});
  EXPECT_EQ(LaidOut(), 0u);
}

TEST_F(LayoutCases, OrphanProjectsStayOutsideEveryRun) {
  // No project namespace anywhere, and projects whose namespace is unknown:
  // the last group's run must end before the orphans.
  ApplyBoth({next_lsn(),
             {Group(1, std::nullopt, "org"), Group(2, 1, "team"), Project(100, 2, 20, "a"),
              Project(101, 77, 21, "orphan")}});
  CompactBoth();
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 1), (V{100}));
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 2), (V{100}));
  ApplyBoth({next_lsn(), {canopy::TruncateTable{canopy::Table::kNamespaces}}});
  ApplyBoth({next_lsn(), {Group(9, std::nullopt, "new")}});
  CompactBoth();
  EXPECT_EQ(LaidOut(), 1u);
  EXPECT_EQ(Ids(QueryKind::kAllProjectIds, 9), V{});
  EXPECT_EQ(Ids(QueryKind::kSelfAndDescendants, 9, true), (V{9}));
}

}  // namespace

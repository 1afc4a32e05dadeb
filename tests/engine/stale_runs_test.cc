// stale_runs_test.cc — a group's sorted runs kept, stale, after changes
// below it (engine/src/forest.h, SLICES): its ascending answers are its runs
// without the ids that left and merged with the ids that came, and equal
// the walk's; a delta past its cap is folded into new runs; a change too
// big to list has them made again from the walk (or dropped, past a size);
// a type change or a delete of the group drops them, and the walk answers.
// A group that grows past that size after the layout, without runs, gets
// runs of its own, made from the walk.
// The random streams of layout_slices_test cover the general case; these
// are the edges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/rows.h"
#include "forest.h"

namespace canopy::internal {
namespace {

using Ids = std::vector<int64_t>;

NamespaceRow Ns(int64_t id, std::optional<int64_t> parent,
                NamespaceType type = NamespaceType::kGroup) {
  std::string path = "n";  // (appended: GCC 12's -Wrestrict false positive at -O3)
  path += std::to_string(id);
  return {.id = id, .parent_id = parent, .type = type, .name = path, .path = path};
}
ProjectRow Project(int64_t id, int64_t ns) {
  return {.id = id, .namespace_id = ns, .name = "p", .path = "p"};
}

// Group 1 with `groups` subgroups 2.. (ids counting down, so that the
// pre-order is not ascending); subgroup i has project 100000 + i, whose
// project namespace 50000 + i is a child of subgroup i. The fixture's 1,000
// make runs of 1,001 groups, 2,001 namespaces and 1,000 projects: stale
// runs are kept for runs of 8 x sorted_run_min_ids (64) ids or more.
// (Trees of 50,000 groups or more take bases above the ids below them.)
Transaction Tree(int64_t groups, int64_t pn_base = 50000, int64_t project_base = 100000) {
  Transaction txn{Lsn(0x10), {UpsertNamespace{Ns(1, std::nullopt)}}};
  for (int64_t i = 0; i < groups; ++i) {
    const int64_t id = 1 + groups - i;
    txn.changes.push_back(UpsertNamespace{Ns(id, 1)});
    txn.changes.push_back(UpsertNamespace{Ns(pn_base + id, id, NamespaceType::kProject)});
    ProjectRow project = Project(project_base + id, id);
    project.project_namespace_id = pn_base + id;
    txn.changes.push_back(UpsertProject{project});
  }
  return txn;
}

// The same transactions on a laid-out copy with sorted runs (of 8 ids or
// more) and on one that always walks; every answer compared.
class StaleRuns : public ::testing::Test {
 protected:
  static HierarchyIndexOptions WalkOnly() {
    HierarchyIndexOptions o;
    o.layout_slices = false;
    return o;
  }
  static HierarchyIndexOptions SortedRuns() {
    HierarchyIndexOptions o;
    o.sorted_run_min_ids = 8;
    o.grown_runs = true;
    return o;
  }
  void SetUp() override { LayOut(Tree(1000)); }
  void LayOut(Transaction tree) {
    Apply(std::move(tree));
    runs_.Compact(nullptr);
    walk_.Compact(nullptr);
    ASSERT_TRUE(runs_.HasSortedRuns(1));
    ASSERT_FALSE(runs_.HasStaleRuns(1));
  }
  void Apply(Transaction txn) {
    txn.commit_lsn = Lsn(++lsn_);
    const PreparedTransaction prepared(txn);
    runs_.Apply(prepared);
    walk_.Apply(prepared);
  }
  // Every subtree answer of `id` the runs can give, against the walk's.
  void ExpectSameAnswers(int64_t id) {
    SCOPED_TRACE("namespace " + std::to_string(id));
    for (bool pns : {false, true}) {
      for (bool self : {false, true}) {
        Ids a, b;
        ASSERT_TRUE(runs_.SelfAndDescendants(id, pns, self, &a).ok());
        ASSERT_TRUE(walk_.SelfAndDescendants(id, pns, self, &b).ok());
        EXPECT_EQ(a, b) << "pns " << pns << " self " << self;
      }
    }
    for (bool unarchived : {false, true}) {
      Ids a, b;
      ASSERT_TRUE(runs_.ProjectIds(id, unarchived, &a).ok());
      ASSERT_TRUE(walk_.ProjectIds(id, unarchived, &b).ok());
      EXPECT_EQ(a, b) << "unarchived " << unarchived;
    }
  }

  uint64_t lsn_ = 0x10;
  Forest runs_{SortedRuns()}, walk_{WalkOnly()};
};

TEST_F(StaleRuns, ChangesBelowAGroupKeepItsRunsWithTheirDelta) {
  // A subgroup and a project namespace with its project, created under
  // subgroup 7, as GitLab creates a project; then a project deleted, a
  // subgroup moved out to a new top and back, one deleted.
  Apply({Lsn(),
         {UpsertNamespace{Ns(5000, 7)}, UpsertNamespace{Ns(5001, 7, NamespaceType::kProject)},
          UpsertProject{{.id = 200000,
                         .namespace_id = 7,
                         .project_namespace_id = 5001,
                         .name = "n5001",
                         .path = "n5001"}}}});
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  ExpectSameAnswers(1);
  Apply({Lsn(), {DeleteProject{100000 + 30}}});
  ExpectSameAnswers(1);
  Apply({Lsn(), {UpsertNamespace{Ns(6000, std::nullopt)}, UpsertNamespace{Ns(40, 6000)}}});
  ExpectSameAnswers(1);
  Apply({Lsn(), {UpsertNamespace{Ns(40, 1)}}});  // back: the delta undoes itself
  ExpectSameAnswers(1);
  Apply({Lsn(), {DeleteNamespace{41}}});  // its project waits for it, outside every run
  ExpectSameAnswers(1);
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  // A project moved between two subgroups, and archived.
  Apply({Lsn(), {UpsertProject{Project(100000 + 50, 60)}}});
  ProjectRow archived = Project(100000 + 51, 51);
  archived.archived = true;
  Apply({Lsn(), {UpsertProject{archived}}});
  ExpectSameAnswers(1);
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  // A Compact lays it out again: fresh runs, no delta.
  runs_.Compact(nullptr);
  EXPECT_TRUE(runs_.HasSortedRuns(1));
  EXPECT_FALSE(runs_.HasStaleRuns(1));
  ExpectSameAnswers(1);
}

TEST_F(StaleRuns, ASubtreeTooBigToListHasTheRunsAboveMadeAgain) {
  // Group 2 under group 1 gets more than kMaxNotedIds (1,024) ids below
  // it, as a new top first (group 1 notes nothing), then moves under group
  // 1, and out again in one transaction with other changes below group 1:
  // group 1's runs are made again from the walk, with empty lists.
  Transaction big{Lsn(), {UpsertNamespace{Ns(9000, std::nullopt)}}};
  for (int64_t i = 1; i <= 1100; ++i) big.changes.push_back(UpsertNamespace{Ns(9000 + i, 9000)});
  Apply(big);
  EXPECT_TRUE(runs_.HasSortedRuns(1));
  Apply({Lsn(), {UpsertNamespace{Ns(9000, 2)}}});
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  EXPECT_EQ(runs_.StaleDeltaIds(1), 0u);
  ExpectSameAnswers(1);
  ExpectSameAnswers(2);
  Apply({Lsn(),
         {UpsertNamespace{Ns(5000, 7)}, UpsertNamespace{Ns(9000, std::nullopt)}, DeleteNamespace{8},
          UpsertNamespace{Ns(5001, 9000)}}});
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  EXPECT_EQ(runs_.StaleDeltaIds(1), 0u);
  ExpectSameAnswers(1);
  ExpectSameAnswers(9000);
  // A run past MaxRebuildIds (256 x 64 ids here) is dropped instead:
  // group 3 gets 17,000 projects, a layout gives it a run of them, and
  // group 9000's subtree moves below it.
  Transaction projects{Lsn(), {}};
  for (int64_t i = 1; i <= 17000; ++i) projects.changes.push_back(UpsertProject{Project(i, 3)});
  Apply(projects);
  runs_.Compact(nullptr);
  walk_.Compact(nullptr);
  ASSERT_TRUE(runs_.HasSortedRuns(3));
  Apply({Lsn(), {UpsertNamespace{Ns(9000, 3)}}});
  EXPECT_FALSE(runs_.HasSortedRuns(3));
  ExpectSameAnswers(1);
  ExpectSameAnswers(3);
}

// A big move queues the runs above it for a rebuild; moved back in the same
// transaction they are queued once; a truncate of the namespaces later in
// it forgets them (the queued slots are gone, or reused by new rows).
TEST_F(StaleRuns, ARebuildQueuedBeforeATruncateIsForgotten) {
  Transaction big{Lsn(), {UpsertNamespace{Ns(9000, std::nullopt)}}};
  for (int64_t i = 1; i <= 1100; ++i) big.changes.push_back(UpsertNamespace{Ns(9000 + i, 9000)});
  Apply(big);
  Apply({Lsn(),
         {UpsertNamespace{Ns(9000, 2)}, UpsertNamespace{Ns(9000, std::nullopt)},
          UpsertNamespace{Ns(9000, 3)}}});
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  EXPECT_EQ(runs_.StaleDeltaIds(1), 0u);
  ExpectSameAnswers(1);
  Apply({Lsn(), {UpsertNamespace{Ns(9000, 2)}, TruncateTable{Table::kNamespaces}}});
  EXPECT_EQ(runs_.Stats().namespaces, 0u);
  Apply({Lsn(), {UpsertNamespace{Ns(1, std::nullopt)}, UpsertNamespace{Ns(2, 1)}}});
  EXPECT_FALSE(runs_.HasSortedRuns(1));
  ExpectSameAnswers(1);
  ExpectSameAnswers(2);
}

TEST_F(StaleRuns, ADeltaPastItsCapIsFoldedIntoNewRuns) {
  // Group 1's groups run holds 1,001 ids: its delta's cap is a quarter of
  // that, so 300 new subgroups fold it once. A copy that shared the runs
  // before keeps answering from the old ones.
  Forest before{SortedRuns()};
  before.CopyFrom(runs_);
  Ids old_answer;
  ASSERT_TRUE(before.SelfAndDescendants(1, false, true, &old_answer).ok());
  for (int64_t i = 0; i < 300; ++i) {
    Apply({Lsn(), {UpsertNamespace{Ns(20000 + i, 2 + i % 10)}}});
    ExpectSameAnswers(1);
  }
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  EXPECT_LT(runs_.StaleDeltaIds(1), 600u);  // 300 groups + 300 namespaces, unless folded
  Ids still;
  ASSERT_TRUE(before.SelfAndDescendants(1, false, true, &still).ok());
  EXPECT_EQ(still, old_answer);
  // Many folds of all three sets: subgroups and their projects deleted,
  // projects moved and created, groups moved in and out.
  for (int64_t i = 0; i < 1500; ++i) {
    Transaction txn{Lsn(), {}};
    switch (i % 5) {
      case 0:
        txn.changes.push_back(DeleteProject{100000 + 2 + i / 5});
        txn.changes.push_back(DeleteNamespace{50000 + 2 + i / 5});
        txn.changes.push_back(DeleteNamespace{2 + i / 5});
        break;
      case 1:
        // (ids below the projects run's smallest too: a fold through widened ids)
        txn.changes.push_back(
            UpsertProject{Project((i % 2 == 0 ? 100400 : 5000) + i, 400 + i % 200)});
        break;
      case 2:
        txn.changes.push_back(UpsertProject{Project(100000 + 600 + i % 300, 2 + i % 30)});
        break;
      case 3:
        txn.changes.push_back(UpsertNamespace{Ns(20000 + i % 300, i % 2 == 0 ? 1 : 700)});
        break;
      default:
        txn.changes.push_back(UpsertNamespace{Ns(30000 + i, std::nullopt)});
        txn.changes.push_back(UpsertNamespace{Ns(30000 + i, 800)});
        break;
    }
    Apply(txn);
    if (i % 50 == 0) {
      ASSERT_TRUE(runs_.HasStaleRuns(1));  // (answers from its runs, not the walk)
      ExpectSameAnswers(1);
      ExpectSameAnswers(700);
    }
  }
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  ExpectSameAnswers(1);
}

// Group 1 with 70,000 subgroups: a run of its groups and project
// namespaces of 140,001 ids, whose delta cap is a 16th of it (8,750 ids).
// Once more than 8,192 of the ids noted are in the run's last chunk (new
// ids, above all of its ids), those alone are folded, so that a fold
// copies that chunk and sorts a chunk's worth, not a 16th of the run; the
// others stay noted.
class BigStaleRuns : public StaleRuns {
 protected:
  void SetUp() override { LayOut(Tree(70000, 1'000'000, 2'000'000)); }
  // `n` new project namespaces below subgroup 2, 100 a write: each noted
  // in group 1's set of namespaces only.
  void AddProjectNamespaces(int64_t first_id, int64_t n) {
    for (int64_t i = 0; i < n; i += 100) {
      Transaction txn{Lsn(), {}};
      for (int64_t j = i; j < std::min(n, i + 100); ++j) {
        txn.changes.push_back(UpsertNamespace{Ns(first_id + j, 2, NamespaceType::kProject)});
      }
      Apply(std::move(txn));
    }
  }
};

TEST_F(BigStaleRuns, NewIdsAreFoldedAtAChunksWorth) {
  AddProjectNamespaces(3'000'000, 8500);
  ASSERT_TRUE(runs_.HasStaleRuns(1));
  // Folded at 8,193: 307 left, against 8,500 with a 16th of the run alone.
  EXPECT_EQ(runs_.StaleDeltaIds(1), 307u);
  ExpectSameAnswers(1);
  ExpectSameAnswers(2);
}

TEST_F(BigStaleRuns, IdsBeforeTheLastChunkStayNotedWhenTheNewOnesAreFolded) {
  // Subgroup 3 with its project namespace and project deleted (ids at the
  // start of the runs: 1 noted in the groups, 2 in the namespaces, 1 in the
  // projects), and project namespace 500,000 made (in the middle of the
  // namespaces run: 3 noted outside its last chunk).
  Apply({Lsn(),
         {DeleteProject{2'000'003}, DeleteNamespace{1'000'003}, DeleteNamespace{3},
          UpsertNamespace{Ns(500'000, 2, NamespaceType::kProject)}}});
  AddProjectNamespaces(3'000'000, 8300);
  // The first 8,193 new ids folded, the 3 others kept: 3 + 107.
  EXPECT_EQ(runs_.StaleDeltaIds(1), 1u + (3u + 107u) + 1u);
  ExpectSameAnswers(1);
  AddProjectNamespaces(3'008'300, 8085);
  // 8,192 new ids since that fold (under the 16th, 9,262, of the new run of
  // 148,194): not folded, the 3 still noted. Folding them all at the first
  // fold would leave 8,192; never counting them outside the last chunk,
  // 3 + 2.
  ASSERT_TRUE(runs_.HasStaleRuns(1));
  EXPECT_EQ(runs_.StaleDeltaIds(1), 1u + (3u + 8192u) + 1u);
  ExpectSameAnswers(1);
  ExpectSameAnswers(2);
}

TEST_F(BigStaleRuns, APairAndARemovalInTheLastChunkAreFoldedWithTheNewIds) {
  // Project namespace 1,065,000 (in the namespaces run's last chunk, from
  // 1,061,073 on) deleted with its project (noted in the projects set), and
  // project namespace 2,999,999 made and deleted again (a pair that
  // cancels): 3 ids noted in the last chunk.
  Apply({Lsn(), {DeleteProject{2'065'000}, DeleteNamespace{1'065'000}}});
  Apply({Lsn(), {UpsertNamespace{Ns(2'999'999, 2, NamespaceType::kProject)}}});
  Apply({Lsn(), {DeleteNamespace{2'999'999}}});
  ExpectSameAnswers(1);
  AddProjectNamespaces(3'000'000, 8200);
  // Folded with the first 8,190 new ones: 10 left, and the project's 1.
  ASSERT_TRUE(runs_.HasStaleRuns(1));
  EXPECT_EQ(runs_.StaleDeltaIds(1), 10u + 1u);
  ExpectSameAnswers(1);
  ExpectSameAnswers(2);
}

// Groups made after the layout, grown one write at a time: each gets runs
// of all three sets once a set reaches sorted_run_min_ids (8 here) ids,
// through subgroups (group 9000) or through projects alone (group 9500),
// and keeps them, stale, through the changes after; one that shrinks back
// below that size within the transaction that grew it gets none, and so
// does one that grows past 4 x 8 ids in one transaction.
TEST_F(StaleRuns, AGroupGrownSinceTheLayoutGetsRunsOfItsOwn) {
  Apply({Lsn(), {UpsertNamespace{Ns(9000, std::nullopt)}}});
  for (int64_t i = 1; i <= 6; ++i) Apply({Lsn(), {UpsertNamespace{Ns(9000 + i, 9000)}}});
  EXPECT_FALSE(runs_.HasSortedRuns(9000));  // 7 groups and namespaces
  ExpectSameAnswers(9000);
  Apply({Lsn(), {UpsertNamespace{Ns(9007, 9001)}}});
  EXPECT_TRUE(runs_.HasStaleRuns(9000));
  EXPECT_EQ(runs_.StaleDeltaIds(9000), 0u);
  ExpectSameAnswers(9000);
  // Projects (with their project namespaces) one at a time in its
  // subgroups: noted in its delta (its projects set too, empty when made),
  // folded past the cap; subgroup 9001, which gets 80 of them, gets runs
  // of its own at 8.
  for (int64_t i = 0; i < 300; ++i) {
    const int64_t group = i % 4 == 0 ? 9000 + 1 + i % 6 : 9001;
    ProjectRow project = Project(300000 + i, group);
    project.project_namespace_id = 310000 + i;
    Apply({Lsn(),
           {UpsertNamespace{Ns(310000 + i, group, NamespaceType::kProject)},
            UpsertProject{project}}});
    if (i % 25 == 0) {
      ExpectSameAnswers(9000);
      ExpectSameAnswers(9001);
    }
  }
  EXPECT_TRUE(runs_.HasStaleRuns(9000));
  EXPECT_TRUE(runs_.HasStaleRuns(9001));
  ExpectSameAnswers(9000);
  ExpectSameAnswers(9001);
  // Its subtree moves below laid-out group 2 (group 1's runs note it) and
  // loses a subgroup with its projects.
  Apply({Lsn(), {UpsertNamespace{Ns(9000, 2)}}});
  Transaction loss{Lsn(), {}};
  for (int64_t i = 0; i < 300; ++i) {
    if (i % 4 == 0 && 9000 + 1 + i % 6 == 9005) {
      loss.changes.push_back(DeleteProject{300000 + i});
      loss.changes.push_back(DeleteNamespace{310000 + i});
    }
  }
  loss.changes.push_back(DeleteNamespace{9005});
  Apply(loss);
  EXPECT_TRUE(runs_.HasStaleRuns(9000));
  EXPECT_TRUE(runs_.HasStaleRuns(1));
  ExpectSameAnswers(1);
  ExpectSameAnswers(2);
  ExpectSameAnswers(9000);
  // Projects alone: group 9500's projects set reaches 8.
  Apply({Lsn(), {UpsertNamespace{Ns(9500, std::nullopt)}}});
  for (int64_t i = 0; i < 7; ++i) Apply({Lsn(), {UpsertProject{Project(320000 + i, 9500)}}});
  EXPECT_FALSE(runs_.HasSortedRuns(9500));
  Apply({Lsn(), {UpsertProject{Project(320007, 9500)}}});
  EXPECT_TRUE(runs_.HasStaleRuns(9500));
  ExpectSameAnswers(9500);
  // Its groups set, one id when the runs were made, is kept as it grows.
  for (int64_t i = 1; i <= 20; ++i) Apply({Lsn(), {UpsertNamespace{Ns(9500 + i, 9500)}}});
  EXPECT_GT(runs_.StaleDeltaIds(9500), 0u);
  ExpectSameAnswers(9500);
  // Grown past 8 and shrunk back in one transaction: no runs. (Two
  // segments, split by a truncate of the runner links: within one, the
  // rows merge per key first.)
  Transaction six{Lsn(), {UpsertNamespace{Ns(9600, std::nullopt)}}};
  for (int64_t i = 1; i <= 6; ++i) six.changes.push_back(UpsertNamespace{Ns(9600 + i, 9600)});
  Apply(six);
  Transaction grow_and_shrink{Lsn(), {}};
  for (int64_t i = 7; i <= 16; ++i) {
    grow_and_shrink.changes.push_back(UpsertNamespace{Ns(9600 + i, 9600)});
  }
  grow_and_shrink.changes.push_back(TruncateTable{Table::kRunnerLinks});
  for (int64_t i = 7; i <= 16; ++i) grow_and_shrink.changes.push_back(DeleteNamespace{9600 + i});
  Apply(grow_and_shrink);
  EXPECT_FALSE(runs_.HasSortedRuns(9600));
  ExpectSameAnswers(9600);
  // Past 4 x 8 ids in one transaction (as a big subtree joining it would):
  // none either, the writes stay short.
  Transaction at_once{Lsn(), {UpsertNamespace{Ns(9700, std::nullopt)}}};
  for (int64_t i = 1; i <= 300; ++i) at_once.changes.push_back(UpsertNamespace{Ns(9700 + i, 9700)});
  Apply(at_once);
  EXPECT_FALSE(runs_.HasSortedRuns(9700));
  ExpectSameAnswers(9700);
  // A Compact lays them all out again: fresh runs, no delta.
  runs_.Compact(nullptr);
  EXPECT_TRUE(runs_.HasSortedRuns(9000));
  EXPECT_FALSE(runs_.HasStaleRuns(9000));
  ExpectSameAnswers(9000);
}

// HierarchyIndexOptions::grown_runs off: the grown group walks.
TEST_F(StaleRuns, NoGrownRunsWhenTheOptionIsOff) {
  HierarchyIndexOptions options = SortedRuns();
  options.grown_runs = false;
  Forest off{options};
  off.Apply(PreparedTransaction(Tree(10)));
  off.Compact(nullptr);
  uint64_t lsn = 0x20;
  off.Apply(PreparedTransaction({Lsn(++lsn), {UpsertNamespace{Ns(9000, std::nullopt)}}}));
  for (int64_t i = 1; i <= 100; ++i) {
    off.Apply(PreparedTransaction({Lsn(++lsn), {UpsertNamespace{Ns(9000 + i, 9000)}}}));
  }
  EXPECT_FALSE(off.HasSortedRuns(9000));
  Ids descendants;
  ASSERT_TRUE(off.SelfAndDescendants(9000, false, true, &descendants).ok());
  EXPECT_EQ(descendants.size(), 101u);
}

TEST_F(StaleRuns, ATypeChangeOrADeleteOfTheGroupDropsItsRuns) {
  Apply({Lsn(), {UpsertNamespace{Ns(5000, 7)}}});
  ASSERT_TRUE(runs_.HasStaleRuns(1));
  Apply({Lsn(), {UpsertNamespace{Ns(1, std::nullopt, NamespaceType::kUser)}}});
  EXPECT_FALSE(runs_.HasSortedRuns(1));
  ExpectSameAnswers(1);
  Apply({Lsn(), {UpsertNamespace{Ns(1, std::nullopt)}}});  // a group again: walked
  EXPECT_FALSE(runs_.HasSortedRuns(1));
  ExpectSameAnswers(1);
  runs_.Compact(nullptr);
  ASSERT_TRUE(runs_.HasSortedRuns(1));
  Apply({Lsn(), {DeleteNamespace{1}}});
  EXPECT_FALSE(runs_.HasSortedRuns(1));
  // Its slot reused by a new group with one subgroup: no runs of the old one.
  Apply({Lsn(), {UpsertNamespace{Ns(7000, std::nullopt)}, UpsertNamespace{Ns(7001, 7000)}}});
  EXPECT_FALSE(runs_.HasSortedRuns(7000));
  ExpectSameAnswers(7000);
  ExpectSameAnswers(2);
}

}  // namespace
}  // namespace canopy::internal

// IdQuery::id_order on a generated GitLab-shaped forest: for every ascending
// kind and every id, IdOrder::kAny answers the ascending answer's ids, each
// once, with the same total; a limit takes that many of them and says more;
// after_id is refused; ancestor kinds keep their hierarchy order. Runners
// linked to several namespaces of one chain (and twice to one) come once.
// Checked after a snapshot and again after a stream of writes. Labels: engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/testing/gitlab_forest.h"

namespace canopy {
namespace {

constexpr int64_t kUnknownId = 987'654'321;
constexpr int64_t kChainRunner = 9'000'001;  // linked along the 21-level chain

std::string Describe(const IdQuery& q) {
  return std::string(QueryKindName(q.kind)) + "(" + std::to_string(q.id) +
         (q.include_project_namespaces ? ", include_pns" : "") + ")";
}

std::vector<int64_t> Sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

struct Tally {
  size_t answers = 0;   // ascending answers checked with 2 ids or more
  size_t unsorted = 0;  // of them, answered in kAny out of ascending order
};

// Checks `q` in kAny against the same query in the default order.
void CheckAny(const ReadView& view, IdQuery q, Tally* tally) {
  SCOPED_TRACE(Describe(q));
  const IdAnswer want = view.Run(q);
  q.id_order = IdOrder::kAny;
  const IdAnswer any = view.Run(q);
  ASSERT_EQ(any.status.code(), want.status.code()) << any.status.ToString();
  if (!IsAscendingKind(q.kind)) {
    EXPECT_EQ(any.ids, want.ids) << "an ancestor kind keeps its hierarchy order";
    return;
  }
  ASSERT_EQ(Sorted(any.ids), want.ids) << "not the same ids, each once";
  EXPECT_EQ(any.total, want.total);
  EXPECT_FALSE(any.more);
  if (want.ids.size() >= 2) {
    ++tally->answers;
    if (!std::is_sorted(any.ids.begin(), any.ids.end())) ++tally->unsorted;
    q.limit = static_cast<uint32_t>(want.ids.size() / 2);
    const IdAnswer page = view.Run(q);
    ASSERT_TRUE(page.status.ok()) << page.status.ToString();
    EXPECT_EQ(page.ids.size(), q.limit);
    EXPECT_TRUE(page.more);
    EXPECT_EQ(page.total, want.total);
    const std::vector<int64_t> seen = Sorted(page.ids);
    EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a duplicate";
    EXPECT_TRUE(std::includes(want.ids.begin(), want.ids.end(), seen.begin(), seen.end()))
        << "an id that is not in the answer";
    q.limit = 0;
  }
  q.after_id = want.ids.empty() ? 0 : want.ids.front();
  const IdAnswer cursor = view.Run(q);
  EXPECT_EQ(cursor.status.code(), StatusCode::kInvalidArgument) << "after_id with kAny";
  EXPECT_TRUE(cursor.ids.empty());
}

Tally CheckEveryId(const HierarchyIndex& index) {
  Tally tally;
  const ReadView view = index.Read();
  std::vector<int64_t> namespaces = view.ListNamespaceIds();
  std::vector<int64_t> projects = view.ListProjectIds();
  namespaces.push_back(kUnknownId);
  projects.push_back(kUnknownId);
  for (int64_t id : namespaces) {
    for (int k = 0; k < kQueryKindCount; ++k) {
      const auto kind = static_cast<QueryKind>(k);
      if (kind == QueryKind::kProjectAncestors ||
          kind == QueryKind::kRunnersOfParentGroupsOfProject) {
        continue;
      }
      for (bool pns : {false, true}) {
        CheckAny(view, {.kind = kind, .id = id, .include_project_namespaces = pns}, &tally);
        if (::testing::Test::HasFatalFailure()) return tally;
      }
    }
  }
  for (int64_t id : projects) {
    for (QueryKind kind :
         {QueryKind::kProjectAncestors, QueryKind::kRunnersOfParentGroupsOfProject}) {
      CheckAny(view, {.kind = kind, .id = id}, &tally);
      if (::testing::Test::HasFatalFailure()) return tally;
    }
  }
  return tally;
}

TEST(AnyIdOrder, SameSetAsAscendingForEveryKindAndId) {
  canopy::testing::GitlabForest forest = canopy::testing::GenerateTestForest(21, 4000, 6000);
  HierarchyIndex index;
  ASSERT_TRUE(index.BulkLoad(canopy::testing::LoadTransaction(forest, Lsn(1000))).ok());

  // One runner on every group of the 21-level chain, twice on one of them.
  const std::vector<int64_t>& chain = forest.named.chain_21;
  ASSERT_GE(chain.size(), 3u);
  Transaction links{Lsn(1001), {}};
  int64_t link_id = 8'000'000;
  for (int64_t ns : chain) {
    links.changes.push_back(
        UpsertRunnerLink{{.id = ++link_id, .runner_id = kChainRunner, .namespace_id = ns}});
  }
  links.changes.push_back(
      UpsertRunnerLink{{.id = ++link_id, .runner_id = kChainRunner, .namespace_id = chain[1]}});
  ASSERT_TRUE(index.Apply(std::move(links)).ok());
  {
    const ReadView view = index.Read();
    const IdAnswer runners = view.Run({.kind = QueryKind::kRunnersOfGroupAndAncestors,
                                       .id = chain.back(),
                                       .id_order = IdOrder::kAny});
    ASSERT_TRUE(runners.status.ok());
    EXPECT_EQ(std::count(runners.ids.begin(), runners.ids.end(), kChainRunner), 1)
        << "a runner linked to every namespace of the chain comes once";
    const IdAnswer own =
        view.Run({.kind = QueryKind::kRunnersOfGroup, .id = chain[1], .id_order = IdOrder::kAny});
    EXPECT_EQ(std::count(own.ids.begin(), own.ids.end(), kChainRunner), 1)
        << "a runner linked twice to one namespace comes once";
  }

  Tally tally = CheckEveryId(index);
  ASSERT_FALSE(::testing::Test::HasFailure());
  std::cout << "[ any order ] after the snapshot: " << tally.unsorted << " of " << tally.answers
            << " answers of 2+ ids came unsorted\n";
  EXPECT_GT(tally.unsorted, 0u) << "kAny never skipped the sort";

  // Writes move subtrees and reuse slots: walks no longer follow the layout.
  canopy::testing::MixedStream stream(&forest, {.seed = 22, .first_lsn = Lsn(2000)});
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(index.Apply(stream.Next()).ok());
  tally = CheckEveryId(index);
  std::cout << "[ any order ] after 300 writes: " << tally.unsorted << " of " << tally.answers
            << " answers of 2+ ids came unsorted\n";
}

}  // namespace
}  // namespace canopy

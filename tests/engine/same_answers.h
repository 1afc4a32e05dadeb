// same_answers.h — comparing two HierarchyIndexes answer by answer, and
// cutting a snapshot into pieces as a parallel loader might. Shared by the
// snapshot-build tests (bulk_load_test.cc, snapshot_pieces_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"

namespace canopy {

inline std::string Describe(const IdAnswer& a) {
  std::string s = a.status.ToString() + " [";
  for (size_t i = 0; i < a.ids.size() && i < 20; ++i) {
    // Appended, not "," + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
    if (i) s += ',';
    s += std::to_string(a.ids[i]);
  }
  return s + (a.ids.size() > 20 ? ",...]" : "]");
}

// The reference a snapshot build is compared with: `snapshot` applied by
// Apply's rules, then laid out (call under ASSERT_NO_FATAL_FAILURE).
inline void ApplyAndCompact(const Transaction& snapshot, HierarchyIndex* index) {
  ASSERT_TRUE(index->Apply(snapshot).ok());
  ASSERT_TRUE(index->Compact().ok());
}

// Every query kind, counts and paths for every id either index knows (plus
// one unknown id), and the row counts of Stats (with `same_transactions`,
// also the number of transactions applied; with `same_layout`, the number of
// laid-out namespaces).
inline void ExpectSameAnswers(const HierarchyIndex& want, const HierarchyIndex& got,
                              const char* when, bool same_transactions = true,
                              bool same_layout = true) {
  SCOPED_TRACE(when);
  ASSERT_EQ(want.applied_lsn(), got.applied_lsn());
  const IndexStats ws = want.Stats(), gs = got.Stats();
  EXPECT_EQ(ws.namespaces, gs.namespaces);
  EXPECT_EQ(ws.projects, gs.projects);
  EXPECT_EQ(ws.runner_links, gs.runner_links);
  EXPECT_EQ(ws.orphan_namespaces, gs.orphan_namespaces);
  EXPECT_EQ(ws.orphan_projects, gs.orphan_projects);
  if (same_layout) {
    EXPECT_EQ(ws.laid_out_namespaces, gs.laid_out_namespaces);
  }
  if (same_transactions) {
    EXPECT_EQ(ws.transactions_applied, gs.transactions_applied);
  }
  std::vector<int64_t> namespaces = want.Read().ListNamespaceIds();
  std::vector<int64_t> projects = want.Read().ListProjectIds();
  ASSERT_EQ(namespaces, got.Read().ListNamespaceIds());
  ASSERT_EQ(projects, got.Read().ListProjectIds());
  namespaces.push_back(987'654'321);  // unknown: both must say so
  projects.push_back(987'654'321);
  int differences = 0;
  auto compare = [&](const IdQuery& q) {
    const IdAnswer a = want.Query(q).answer, b = got.Query(q).answer;
    if (a.status.code() == b.status.code() && a.ids == b.ids && a.total == b.total) return;
    if (++differences <= 10) {
      ADD_FAILURE() << QueryKindName(q.kind) << "(" << q.id << "): Apply " << Describe(a)
                    << ", BulkLoad " << Describe(b);
    }
  };
  for (int64_t id : namespaces) {
    for (int k = 0; k < kQueryKindCount; ++k) {
      const auto kind = static_cast<QueryKind>(k);
      if (kind == QueryKind::kProjectAncestors ||
          kind == QueryKind::kRunnersOfParentGroupsOfProject) {
        continue;
      }
      compare({.kind = kind, .id = id, .include_project_namespaces = k % 2 == 0});
    }
    const ReadView wv = want.Read(), gv = got.Read();
    auto wc = wv.Counts(id), gc = gv.Counts(id);
    EXPECT_EQ(wc.ok(), gc.ok()) << id;
    if (wc.ok() && gc.ok()) {
      EXPECT_EQ(wc.value().descendant_groups, gc.value().descendant_groups) << id;
      EXPECT_EQ(wc.value().descendant_project_namespaces, gc.value().descendant_project_namespaces)
          << id;
      EXPECT_EQ(wc.value().projects, gc.value().projects) << id;
      EXPECT_EQ(wc.value().unarchived_projects, gc.value().unarchived_projects) << id;
    }
    auto wp = wv.NamespaceFullPath(id), gp = gv.NamespaceFullPath(id);
    EXPECT_EQ(wp.ok() ? wp.value() : wp.status().ToString(),
              gp.ok() ? gp.value() : gp.status().ToString());
    if (wp.ok()) {
      auto wr = wv.Resolve(wp.value()), gr = gv.Resolve(wp.value());
      EXPECT_EQ(wr.ok(), gr.ok());
      if (wr.ok() && gr.ok()) {
        EXPECT_EQ(wr.value().id, gr.value().id) << wp.value();
      }
    }
  }
  for (int64_t id : projects) {
    compare({.kind = QueryKind::kProjectAncestors, .id = id});
    compare({.kind = QueryKind::kRunnersOfParentGroupsOfProject, .id = id});
    auto wp = want.Read().ProjectFullPath(id), gp = got.Read().ProjectFullPath(id);
    EXPECT_EQ(wp.ok() ? wp.value() : wp.status().ToString(),
              gp.ok() ? gp.value() : gp.status().ToString());
  }
  EXPECT_EQ(differences, 0);
}

// `changes` cut where a parallel loader might: a new piece before a row with
// probability 1 / `mean_rows` (1: every row alone), plus empty pieces first,
// last and here and there.
inline std::vector<std::vector<RowChange>> CutIntoPieces(const std::vector<RowChange>& changes,
                                                         uint64_t seed, uint64_t mean_rows) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<RowChange>> pieces(2);  // an empty one, then the first
  for (const RowChange& c : changes) {
    if (!pieces.back().empty() && rng() % mean_rows == 0) {
      if (rng() % 8 == 0) pieces.emplace_back();  // stays empty
      pieces.emplace_back();
    }
    pieces.back().push_back(c);
  }
  pieces.emplace_back();
  return pieces;
}

}  // namespace canopy

// embedding_example_test.cc — embedding canopy's engine in an application.
//
// Build a small organisation, transfer a group, and ask the hierarchy
// questions again. Every answer names the LSN of the state it reflects.
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <vector>

#include "canopy/hierarchy_index.h"

namespace {

using canopy::HierarchyOrder;
using canopy::NamespaceType;

std::ostream& operator<<(std::ostream& out, const std::vector<int64_t>& ids) {
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  return out;
}

TEST(EmbeddingExample, BuildAnOrgTransferAGroupAskAgain) {
  canopy::HierarchyIndex index;

  // Rows arrive as committed transactions (canopy::cdc feeds them from
  // PostgreSQL's logical replication; here we write them by hand).
  //   gitlab-org (9970) ─┬ frontend (100)
  //                      └ backend (101) ─ api (102) ─ project gitlab-api (42)
  canopy::Transaction create{canopy::Lsn::Parse("16/B374D848").value(), {}};
  auto group = [](int64_t id, std::optional<int64_t> parent, const char* path) {
    return canopy::UpsertNamespace{
        {.id = id, .parent_id = parent, .type = NamespaceType::kGroup, .name = path, .path = path}};
  };
  create.changes = {
      group(9970, std::nullopt, "gitlab-org"), group(100, 9970, "frontend"),
      group(101, 9970, "backend"), group(102, 101, "api"),
      // a project is a projects row plus its own namespace row (type 'Project')
      canopy::UpsertNamespace{{.id = 500,
                               .parent_id = 102,
                               .type = NamespaceType::kProject,
                               .name = "gitlab-api",
                               .path = "gitlab-api"}},
      canopy::UpsertProject{{.id = 42,
                             .namespace_id = 102,
                             .project_namespace_id = 500,
                             .name = "gitlab-api",
                             .path = "gitlab-api"}},
      canopy::UpsertRunnerLink{{.id = 1, .runner_id = 7, .namespace_id = 101}},  // backend's runner
  };
  ASSERT_TRUE(index.Apply(std::move(create)).ok());

  {
    canopy::ReadView view = index.Read();  // one consistent state; drop it soon
    std::vector<int64_t> ancestors, runners;
    ASSERT_TRUE(view.SelfAndAncestors(102, HierarchyOrder::kRootFirst, &ancestors).ok());
    ASSERT_TRUE(view.RunnersOfParentGroupsOfProject(42, &runners).ok());
    std::cout << "at " << view.lsn().ToString() << ": api's ancestors " << ancestors
              << ", runners of gitlab-api " << runners << "\n";
    EXPECT_EQ(view.lsn().ToString(), "16/B374D848");
    EXPECT_EQ(ancestors, (std::vector<int64_t>{9970, 101, 102}));
    EXPECT_EQ(runners, (std::vector<int64_t>{7}));
    EXPECT_EQ(view.ProjectFullPath(42).value(), "gitlab-org/backend/api/gitlab-api");
  }

  // Transfer api (and everything below it) from backend to frontend: GitLab
  // writes the parent_id UPDATE, then one UPDATE per moved node.
  canopy::Transaction transfer{canopy::Lsn::Parse("16/B374D9A0").value(), {}};
  transfer.changes = {group(102, 100, "api"),
                      canopy::UpsertNamespace{{.id = 500,
                                               .parent_id = 102,
                                               .type = NamespaceType::kProject,
                                               .name = "gitlab-api",
                                               .path = "gitlab-api"}}};
  ASSERT_TRUE(index.Apply(std::move(transfer)).ok());

  canopy::ReadView view = index.Read();
  std::vector<int64_t> ancestors, frontend, runners;
  ASSERT_TRUE(view.SelfAndAncestors(102, HierarchyOrder::kRootFirst, &ancestors).ok());
  ASSERT_TRUE(view.SelfAndDescendants(100, /*include_project_namespaces=*/false, &frontend).ok());
  ASSERT_TRUE(view.RunnersOfParentGroupsOfProject(42, &runners).ok());
  canopy::SubtreeCounts counts = view.Counts(9970).value();
  std::cout << "at " << view.lsn().ToString() << ": api's ancestors " << ancestors
            << ", frontend and below " << frontend << ", runners of gitlab-api [" << runners
            << "], gitlab-org holds " << counts.descendant_groups << " groups and "
            << counts.projects << " project(s)\n";
  EXPECT_EQ(view.lsn().ToString(), "16/B374D9A0");
  EXPECT_EQ(ancestors, (std::vector<int64_t>{9970, 100, 102}));
  EXPECT_EQ(frontend, (std::vector<int64_t>{100, 102}));
  EXPECT_TRUE(runners.empty());  // backend's runner no longer applies
  EXPECT_EQ(counts.descendant_groups, 3u);
  EXPECT_EQ(counts.projects, 1u);
  EXPECT_EQ(view.ProjectFullPath(42).value(), "gitlab-org/frontend/api/gitlab-api");
  EXPECT_EQ(view.Resolve("gitlab-org/frontend/api").value().id, 102);

  // The generic form, as the network layer calls it: paged, with its LSN.
  canopy::QueryAnswer page =
      index.Query({.kind = canopy::QueryKind::kDescendants, .id = 9970, .limit = 2});
  EXPECT_EQ(page.lsn, view.lsn());
  EXPECT_EQ(page.answer.ids, (std::vector<int64_t>{100, 101}));
  EXPECT_EQ(page.answer.total, 3u);
  EXPECT_TRUE(page.answer.more);  // continue with after_id = 101
}

}  // namespace

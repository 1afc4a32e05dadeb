// testing_gitlab_forest_test.cc — canopy::testing's forest generator and
// mixed write stream (canopy/testing/gitlab_forest.h), which the engine tests,
// the e2e tests and every benchmark run on: the forest is valid, has the
// named structures its header promises, is the same for the same seed, and
// stays valid through a long stream that uses every kind of write.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "canopy/testing/gitlab_forest.h"

namespace canopy::testing {
namespace {

GitlabForestOptions SmallForest() {
  GitlabForestOptions options;
  options.seed = 3;
  options.namespaces = 5'000;
  options.projects = 15'000;
  return options;
}

int DepthOf(const std::vector<uint8_t>& depths, int64_t id) {
  return id <= 0 ? 0 : depths[static_cast<size_t>(id - 1)];
}

// Groups strictly below `root`, by walking each namespace's parent chain.
size_t GroupsBelow(const GitlabForest& forest, int64_t root) {
  size_t below = 0;
  for (const NamespaceRow& row : forest.namespaces) {
    if (row.id == 0 || row.type != NamespaceType::kGroup || row.id == root) continue;
    for (std::optional<int64_t> up = row.parent_id; up; up = forest.FindNamespace(*up)->parent_id) {
      if (*up == root) {
        ++below;
        break;
      }
    }
  }
  return below;
}

TEST(GitlabForest, GeneratedForestIsValidAndHasTheNamedStructures) {
  const GitlabForest forest = GenerateGitlabForest(SmallForest());
  ASSERT_TRUE(ValidateForest(forest).ok()) << ValidateForest(forest).ToString();

  const GitlabForestCounts counts = CountForest(forest);
  EXPECT_EQ(counts.users + counts.groups, 5'000u);
  EXPECT_EQ(counts.projects, 15'000u);
  EXPECT_EQ(counts.project_namespaces, counts.projects);
  EXPECT_GT(counts.users, counts.groups);  // 70 % users by default
  EXPECT_GT(counts.runner_links, 0u);

  const GitlabForestNamedIds& named = forest.named;
  const std::vector<uint8_t> depths = NamespaceDepths(forest);
  for (int64_t root : {named.gitlab_org_id, named.huge_group_id, named.small_group_id,
                       named.transfer_target_a_id, named.transfer_target_b_id}) {
    ASSERT_NE(forest.FindNamespace(root), nullptr) << root;
    EXPECT_EQ(forest.FindNamespace(root)->type, NamespaceType::kGroup) << root;
    EXPECT_EQ(DepthOf(depths, root), 1) << root;
  }
  // The chains: exactly 21 group levels (GitLab's limit), and a deeper one.
  ASSERT_EQ(named.chain_21.size(), static_cast<size_t>(kMaxGroupLevels));
  EXPECT_EQ(named.chain_21.back(), named.chain_21_leaf_id);
  for (size_t d = 0; d < named.chain_21.size(); ++d) {
    EXPECT_EQ(DepthOf(depths, named.chain_21[d]), static_cast<int>(d + 1));
  }
  EXPECT_GT(named.deep_chain.size(), static_cast<size_t>(kMaxGroupLevels));
  EXPECT_EQ(DepthOf(depths, named.deep_chain_leaf_id), static_cast<int>(named.deep_chain.size()));
  // The huge group is the largest, then gitlab-org; the small group has 8
  // descendant groups.
  const size_t huge = GroupsBelow(forest, named.huge_group_id);
  const size_t gitlab_org = GroupsBelow(forest, named.gitlab_org_id);
  EXPECT_GT(huge, gitlab_org);
  EXPECT_GT(gitlab_org, GroupsBelow(forest, named.small_group_id));
  EXPECT_EQ(GroupsBelow(forest, named.small_group_id), 8u);
  // The named projects sit where the header says.
  const ProjectRow* user_project = forest.FindProject(named.user_project_id);
  ASSERT_NE(user_project, nullptr);
  EXPECT_EQ(user_project->namespace_id, named.user_namespace_id);
  EXPECT_EQ(forest.FindNamespace(named.user_namespace_id)->type, NamespaceType::kUser);
  const ProjectRow* chain_project = forest.FindProject(named.chain_21_leaf_project_id);
  ASSERT_NE(chain_project, nullptr);
  EXPECT_EQ(chain_project->namespace_id, named.chain_21_leaf_id);
  ASSERT_TRUE(chain_project->project_namespace_id.has_value());
  EXPECT_EQ(DepthOf(depths, *chain_project->project_namespace_id), kMaxGroupLevels + 1);
}

TEST(GitlabForest, SameSeedSameRowsOtherSeedOtherRows) {
  const GitlabForest a = GenerateGitlabForest(SmallForest());
  const GitlabForest b = GenerateGitlabForest(SmallForest());
  ASSERT_EQ(a.namespaces.size(), b.namespaces.size());
  ASSERT_EQ(a.projects.size(), b.projects.size());
  for (size_t i = 0; i < a.namespaces.size(); ++i) {
    ASSERT_EQ(a.namespaces[i].parent_id, b.namespaces[i].parent_id) << i;
    ASSERT_EQ(a.namespaces[i].path, b.namespaces[i].path) << i;
  }
  for (size_t i = 0; i < a.projects.size(); ++i) {
    ASSERT_EQ(a.projects[i].namespace_id, b.projects[i].namespace_id) << i;
  }
  GitlabForestOptions other = SmallForest();
  other.seed = 4;
  const GitlabForest c = GenerateGitlabForest(other);
  size_t different_parents = 0;
  for (size_t i = 0; i < a.namespaces.size() && i < c.namespaces.size(); ++i) {
    different_parents += a.namespaces[i].parent_id != c.namespaces[i].parent_id;
  }
  EXPECT_GT(different_parents, 100u);
}

TEST(GitlabForest, MixedStreamUsesEveryWriteAndKeepsTheForestValid) {
  GitlabForest forest = GenerateGitlabForest(SmallForest());
  const std::vector<int64_t> protected_ids = forest.named.ProtectedNamespaceIds();
  MixedStream stream(&forest, {.seed = 3, .first_lsn = Lsn(1'000)});
  Lsn previous = stream.last_lsn();
  for (int i = 0; i < 2'000; ++i) {
    const Transaction txn = stream.Next();
    ASSERT_FALSE(txn.changes.empty()) << i;
    ASSERT_GT(txn.commit_lsn.value, previous.value) << i;
    previous = txn.commit_lsn;
    if (i % 500 == 499) {
      ASSERT_TRUE(ValidateForest(forest).ok()) << i << ": " << ValidateForest(forest).ToString();
    }
  }
  EXPECT_EQ(stream.last_lsn().value, previous.value);
  for (int op = 0; op < kStreamOpCount; ++op) {
    EXPECT_GT(stream.op_counts()[op], 0u) << StreamOpName(static_cast<StreamOp>(op));
  }
  for (int64_t id : protected_ids) EXPECT_NE(forest.FindNamespace(id), nullptr) << id;
}

}  // namespace
}  // namespace canopy::testing

// gitlab_data.cc — see gitlab_data.h.
#include "gitlab_data.h"

#include <algorithm>
#include <unordered_set>

#include "canopy/testing/gitlab_database.h"
#include "canopy/testing/gitlab_forest.h"

namespace canopy::bench::cdc_bench {

BenchData CreateBenchData(PgConnection& db, uint64_t namespaces, uint64_t projects) {
  const testing::GitlabForest forest =
      testing::GenerateGitlabForest({.seed = 1, .namespaces = namespaces, .projects = projects});
  if (Status s = testing::CreateGitlabDatabase(db, forest); !s.ok()) Die(s.ToString());

  BenchData data;
  std::unordered_set<int64_t> parents;
  // The named structures' rows keep their places (and their fixed names).
  const std::vector<int64_t> protected_ids = forest.named.ProtectedNamespaceIds();
  const std::unordered_set<int64_t> fixed(protected_ids.begin(), protected_ids.end());
  for (const NamespaceRow& r : forest.namespaces) {
    if (r.id != 0 && r.parent_id) parents.insert(*r.parent_id);
  }
  for (const NamespaceRow& r : forest.namespaces) {
    if (r.id == 0) continue;
    data.namespace_ids.push_back(r.id);
    data.next_namespace_id = std::max(data.next_namespace_id, r.id + 1);
    if (r.type != NamespaceType::kGroup) continue;
    data.group_ids.push_back(r.id);
    if (!r.parent_id) {
      data.root_group_ids.push_back(r.id);
    } else if (parents.count(r.id) == 0 && fixed.count(r.id) == 0) {
      data.leaf_subgroup_ids.push_back(r.id);
    }
  }
  for (const ProjectRow& r : forest.projects) {
    if (r.id != 0) data.project_ids.push_back(r.id);
  }
  for (const RunnerLinkRow& r : forest.runner_links) {
    if (r.id != 0) ++data.runner_link_rows;
  }
  std::sort(data.namespace_ids.begin(), data.namespace_ids.end());
  if (data.group_ids.empty() || data.root_group_ids.empty() || data.leaf_subgroup_ids.empty() ||
      data.project_ids.empty()) {
    Die("the forest is too small (no groups, subgroups or projects)");
  }
  return data;
}

}  // namespace canopy::bench::cdc_bench

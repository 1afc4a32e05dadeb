// small_forest.h — a small GitLab-shaped forest (4,000 namespaces, 6,000
// projects, a 300-node "huge" group, a gitlab-org with 60 subgroups) for
// engine tests that need realistic shapes quickly.
#pragma once

#include <cstdint>

#include "canopy/testing/gitlab_forest.h"

namespace canopy_test {

inline canopy::testing::GitlabForest SmallGitlabForest(uint64_t seed) {
  canopy::testing::GitlabForestOptions o;
  o.seed = seed;
  o.namespaces = 4000;
  o.projects = 6000;
  o.huge_group_descendants = 300;
  o.gitlab_org_subgroups = 60;
  o.gitlab_org_projects = 120;
  return canopy::testing::GenerateGitlabForest(o);
}

}  // namespace canopy_test

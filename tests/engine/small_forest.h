// small_forest.h — a small GitLab-shaped forest (4,000 namespaces, 6,000
// projects, a 300-node "huge" group, a gitlab-org with 60 subgroups) for
// engine tests that need realistic shapes quickly.
#pragma once

#include <cstdint>

#include "canopy/bench/gitlab_forest.h"

namespace canopy_test {

inline canopy::bench::GitlabForest SmallGitlabForest(uint64_t seed) {
  canopy::bench::GitlabForestOptions o;
  o.seed = seed;
  o.namespaces = 4000;
  o.projects = 6000;
  o.huge_group_descendants = 300;
  o.gitlab_org_subgroups = 60;
  o.gitlab_org_projects = 120;
  return canopy::bench::GenerateGitlabForest(o);
}

}  // namespace canopy_test

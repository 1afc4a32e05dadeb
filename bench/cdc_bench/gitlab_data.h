// gitlab_data.h — canopy_cdc_bench's database: a generated GitLab-shaped
// forest (canopy/testing/gitlab_forest.h) loaded into GitLab's schema
// (canopy/testing/gitlab_database.h), and the ids its writers pick from.
//
// THREAD SAFETY: main-thread helpers; BenchData is a plain value.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace canopy::bench::cdc_bench {

struct BenchData {
  uint64_t runner_link_rows = 0;
  std::vector<int64_t> namespace_ids;      // every namespace row, ascending
  std::vector<int64_t> group_ids;          // parents for new subgroups
  std::vector<int64_t> root_group_ids;     // where subgroups move to
  std::vector<int64_t> leaf_subgroup_ids;  // subgroups with no child rows (not named ones), to move
  std::vector<int64_t> project_ids;
  int64_t next_namespace_id = 1;  // above every namespace id
};

// Generates a forest of `namespaces` users and groups (project namespaces on
// top, one per project) and `projects` projects (seed 1) and loads it into
// the empty database of `db`: GitLab's tables, the rows (COPY), GitLab's
// indexes and constraints, VACUUM ANALYZE. Dies on errors.
BenchData CreateBenchData(PgConnection& db, uint64_t namespaces, uint64_t projects);

}  // namespace canopy::bench::cdc_bench

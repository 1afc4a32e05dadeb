// sql_oracle.h — every QUERIES.md answer for every namespace and project,
// computed by PostgreSQL, and a comparison with canopy's index.
//
// Both of GitLab's SQL forms are run:
//   kLinear     — ancestry from traversal_ids (unnest(traversal_ids), the same
//                 membership test as `traversal_ids @> ARRAY[ns]`);
//   kRecursive  — ancestry from a recursive CTE over parent_id
//                 (Gitlab::ObjectHierarchy).
// Each form yields (ancestor, node, distance) pairs; every query kind is one
// set-based SQL statement over those pairs that answers for all ids at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "pg_fixture.h"

namespace canopy::cdc::testing {

enum class SqlForm { kLinear, kRecursive };

using IdLists = std::map<int64_t, std::vector<int64_t>>;  // id -> answer (missing = empty)

struct SqlAnswers {
  std::map<int64_t, std::string> namespace_type;  // every namespace id -> 'User'/'Group'/'Project'
  std::vector<int64_t> project_ids;
  IdLists self_and_ancestors;           // root first
  IdLists self_and_descendants;         // include_project_namespaces = false
  IdLists self_and_descendants_all;     // include_project_namespaces = true
  IdLists self_and_hierarchy;           // false
  IdLists all_project_ids;
  IdLists all_unarchived_project_ids;
  std::map<int64_t, uint64_t> descendant_project_namespaces;
  IdLists project_ancestors;            // by project id, root first
  IdLists runners_of_group;             // exact links
  IdLists runners_of_group_and_ancestors;
  IdLists runners_of_parent_groups_of_project;  // by project id
  std::map<int64_t, std::string> namespace_full_path;
  std::map<int64_t, std::string> project_full_path;
};

SqlAnswers ComputeSqlAnswers(Sql& sql, SqlForm form);

// Compares every query kind for every namespace and project of `want` with
// `index` (plus the id sets themselves). Returns the differences (at most
// `max_reported` described; the count is exact).
struct Comparison {
  uint64_t checks = 0;
  uint64_t differences = 0;
  std::vector<std::string> reported;
};
Comparison CompareWithIndex(const SqlAnswers& want, const HierarchyIndex& index, size_t max_reported = 20);

}  // namespace canopy::cdc::testing

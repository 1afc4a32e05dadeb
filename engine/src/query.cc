#include "canopy/query.h"

namespace canopy {

const char* QueryKindName(QueryKind kind) {
  switch (kind) {
    case QueryKind::kSelfAndAncestors:
      return "self_and_ancestors";
    case QueryKind::kAncestors:
      return "ancestors";
    case QueryKind::kAncestorsUpto:
      return "ancestors_upto";
    case QueryKind::kRootAncestor:
      return "root_ancestor";
    case QueryKind::kSelfAndDescendants:
      return "self_and_descendants";
    case QueryKind::kDescendants:
      return "descendants";
    case QueryKind::kSelfAndHierarchy:
      return "self_and_hierarchy";
    case QueryKind::kAllProjectIds:
      return "all_project_ids";
    case QueryKind::kAllUnarchivedProjectIds:
      return "all_unarchived_project_ids";
    case QueryKind::kProjectAncestors:
      return "project_ancestors";
    case QueryKind::kRunnersOfGroup:
      return "runners_of_group";
    case QueryKind::kRunnersOfGroupAndAncestors:
      return "runners_of_group_and_ancestors";
    case QueryKind::kRunnersOfParentGroupsOfProject:
      return "runners_of_parent_groups_of_project";
  }
  return "unknown";
}

bool IsAscendingKind(QueryKind kind) {
  switch (kind) {
    case QueryKind::kSelfAndDescendants:
    case QueryKind::kDescendants:
    case QueryKind::kSelfAndHierarchy:
    case QueryKind::kAllProjectIds:
    case QueryKind::kAllUnarchivedProjectIds:
    case QueryKind::kRunnersOfGroup:
    case QueryKind::kRunnersOfGroupAndAncestors:
    case QueryKind::kRunnersOfParentGroupsOfProject:
      return true;
    default:
      return false;
  }
}

}  // namespace canopy

// feed.cc — see canopy/feed.h.
#include "canopy/feed.h"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace canopy {

namespace {

// Columns whose values differ between two rows of one table.
ColumnMask Differing(const NamespaceRow& a, const NamespaceRow& b) {
  ColumnMask m = 0;
  if (a.parent_id != b.parent_id) m |= NamespaceRow::kParentId;
  if (a.type != b.type) m |= NamespaceRow::kType;
  if (a.name != b.name) m |= NamespaceRow::kName;
  if (a.path != b.path) m |= NamespaceRow::kPath;
  if (a.visibility_level != b.visibility_level) m |= NamespaceRow::kVisibilityLevel;
  return m | ((a.present ^ b.present) & kAllColumns);
}

ColumnMask Differing(const ProjectRow& a, const ProjectRow& b) {
  ColumnMask m = 0;
  if (a.namespace_id != b.namespace_id) m |= ProjectRow::kNamespaceId;
  if (a.project_namespace_id != b.project_namespace_id) m |= ProjectRow::kProjectNamespaceId;
  if (a.name != b.name) m |= ProjectRow::kName;
  if (a.path != b.path) m |= ProjectRow::kPath;
  if (a.visibility_level != b.visibility_level) m |= ProjectRow::kVisibilityLevel;
  if (a.archived != b.archived) m |= ProjectRow::kArchived;
  if (a.pending_delete != b.pending_delete) m |= ProjectRow::kPendingDelete;
  return m | ((a.present ^ b.present) & kAllColumns);
}

ColumnMask Differing(const RunnerLinkRow& a, const RunnerLinkRow& b) {
  ColumnMask m = 0;
  if (a.runner_id != b.runner_id) m |= RunnerLinkRow::kRunnerId;
  if (a.namespace_id != b.namespace_id) m |= RunnerLinkRow::kNamespaceId;
  return m | ((a.present ^ b.present) & kAllColumns);
}

// Clears the columns outside `keep` (values back to their defaults, bits off).
void Keep(ColumnMask keep, NamespaceRow* r) {
  const NamespaceRow blank;
  if (!(keep & NamespaceRow::kParentId)) r->parent_id = blank.parent_id;
  if (!(keep & NamespaceRow::kType)) r->type = blank.type;
  if (!(keep & NamespaceRow::kName)) r->name.clear();
  if (!(keep & NamespaceRow::kPath)) r->path.clear();
  if (!(keep & NamespaceRow::kVisibilityLevel)) r->visibility_level = blank.visibility_level;
  r->present &= keep;
}

void Keep(ColumnMask keep, ProjectRow* r) {
  const ProjectRow blank;
  if (!(keep & ProjectRow::kNamespaceId)) r->namespace_id = blank.namespace_id;
  if (!(keep & ProjectRow::kProjectNamespaceId))
    r->project_namespace_id = blank.project_namespace_id;
  if (!(keep & ProjectRow::kName)) r->name.clear();
  if (!(keep & ProjectRow::kPath)) r->path.clear();
  if (!(keep & ProjectRow::kVisibilityLevel)) r->visibility_level = blank.visibility_level;
  if (!(keep & ProjectRow::kArchived)) r->archived = blank.archived;
  if (!(keep & ProjectRow::kPendingDelete)) r->pending_delete = blank.pending_delete;
  r->present &= keep;
}

void Keep(ColumnMask keep, RunnerLinkRow* r) {
  const RunnerLinkRow blank;
  if (!(keep & RunnerLinkRow::kRunnerId)) r->runner_id = blank.runner_id;
  if (!(keep & RunnerLinkRow::kNamespaceId)) r->namespace_id = blank.namespace_id;
  r->present &= keep;
}

}  // namespace

const char* ChangeOpName(ChangeOp op) {
  switch (op) {
    case ChangeOp::kInsert:
      return "insert";
    case ChangeOp::kUpdate:
      return "update";
    case ChangeOp::kDelete:
      return "delete";
    case ChangeOp::kTruncate:
      return "truncate";
  }
  return "?";
}

std::optional<int64_t> HierarchyParent(const FeedRow& row) {
  if (const auto* n = std::get_if<NamespaceRow>(&row)) return n->parent_id;
  if (const auto* p = std::get_if<ProjectRow>(&row)) return p->namespace_id;
  if (const auto* l = std::get_if<RunnerLinkRow>(&row)) return l->namespace_id;
  return std::nullopt;
}

std::optional<FeedChange> FilterChange(const FeedChange& change, const FeedFilter& filter) {
  if ((filter.tables & (1u << static_cast<unsigned>(change.table))) == 0) return std::nullopt;
  if (change.op == ChangeOp::kTruncate) return change;
  if (filter.subtree &&
      !std::binary_search(change.subtrees.begin(), change.subtrees.end(), *filter.subtree)) {
    return std::nullopt;
  }
  const ColumnMask keep = filter.columns[static_cast<size_t>(change.table)];
  if (keep == kAllColumns) return change;
  if (change.op == ChangeOp::kUpdate) {
    const ColumnMask differing = std::visit(
        [&](const auto& before) -> ColumnMask {
          using Row = std::decay_t<decltype(before)>;
          if constexpr (std::is_same_v<Row, std::monostate>) {
            return kAllColumns;
          } else {
            const Row* after = std::get_if<Row>(&change.after);
            return after == nullptr ? kAllColumns : Differing(before, *after);
          }
        },
        change.before);
    if ((differing & keep) == 0) return std::nullopt;
  }
  FeedChange out = change;
  for (FeedRow* row : {&out.before, &out.after}) {
    std::visit(
        [&](auto& r) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, std::monostate>) Keep(keep, &r);
        },
        *row);
  }
  return out;
}

}  // namespace canopy

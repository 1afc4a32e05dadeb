// canopy/query.h — the vocabulary of canopy's questions and answers: query
// kinds, orders, the generic id-list query and its answer, counts, resolved
// paths and the index's statistics.
//
// Plain values only. The index (canopy/hierarchy_index.h) answers them, the
// network layer (canopy/net/protocol.h) carries them, and a client
// (canopy/net/client.h) builds and reads them without linking the index:
// this header and its library, canopy::core, need no more than the standard
// library. What each kind answers, in which order, and the SQL it replaces:
// docs/queries.md.
//
//   canopy::IdQuery query{.kind = canopy::QueryKind::kDescendants, .id = 9970,
//                         .limit = 100};
//   // ... canopy::IdAnswer answer = view.Run(query);  (or client.Query(query))
//   if (answer.status.ok() && answer.more) query.after_id = answer.ids.back();
//
// CONTRACT
//   * Every answer names the LSN of the one committed state it reflects
//     (QueryAnswer::lsn, BatchAnswer::lsn); an IdAnswer's status is per query.
//   * "Ascending" kinds (IsAscendingKind) answer in ascending id order, or in
//     no promised order with IdOrder::kAny, and page with after_id; ancestor
//     kinds answer in the requested HierarchyOrder and do not take after_id.
//   * The values of QueryKind, HierarchyOrder and IdOrder are stable: the
//     wire protocol (schemas/canopy.fbs) carries them as they are. So are the
//     names QueryKindName gives.
//
// THREAD SAFETY: plain values; the free functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy {

// Ancestor order. kRootFirst is GitLab's `hierarchy_order: :desc` (the order
// of traversal_ids); kSelfFirst is `:asc` (nearest first).
enum class HierarchyOrder : uint8_t { kRootFirst = 0, kSelfFirst = 1 };

// The id-list query kinds of docs/queries.md. "Ascending" kinds answer in
// ascending id order (or in any order: IdOrder); ancestor kinds answer in the
// requested HierarchyOrder.
enum class QueryKind : uint8_t {
  kSelfAndAncestors = 0,    // ns + ancestors (traversal_ids, any type)
  kAncestors = 1,           // the above without ns
  kAncestorsUpto = 2,       // ancestors strictly below `top` (all if top is not one)
  kRootAncestor = 3,        // traversal_ids[1] (one id)
  kSelfAndDescendants = 4,  // ascending; see ReadView::SelfAndDescendants
  kDescendants = 5,         // ascending
  kSelfAndHierarchy = 6,    // ascending
  kAllProjectIds = 7,       // ascending, project ids
  kAllUnarchivedProjectIds = 8,
  kProjectAncestors = 9,  // id is a project id; namespace ids in HierarchyOrder
  kRunnersOfGroup =
      10,  // ascending runner ids linked to exactly this namespace id (never kNotFound)
  kRunnersOfGroupAndAncestors = 11,
  kRunnersOfParentGroupsOfProject = 12,  // id is a project id
};
inline constexpr int kQueryKindCount = 13;

// Stable snake_case name of a kind ("self_and_ancestors", ...).
const char* QueryKindName(QueryKind kind);
// True for kinds answered in ascending id order (they accept after_id).
bool IsAscendingKind(QueryKind kind);

// Id order of an ascending kind's answer. kAny is for callers that use the
// answer as a set (as GitLab's SQL does: `namespace_id IN (subquery)`): the
// same ids, each once, in no promised order, and no sort is done (the sort is
// a large share of a big answer's cost). Runner kinds still sort, which is
// how they drop a runner linked to several of the namespaces: kAny saves
// them nothing (their answers are small).
enum class IdOrder : uint8_t { kAscending = 0, kAny = 1 };

struct IdQuery {
  QueryKind kind = QueryKind::kSelfAndAncestors;
  int64_t id = 0;
  int64_t top = 0;                                    // kAncestorsUpto only; <= 0 = no top
  HierarchyOrder order = HierarchyOrder::kRootFirst;  // ancestor kinds only
  bool include_project_namespaces = false;            // descendant/hierarchy kinds only
  // Paging. limit 0 = everything. after_id (ascending kinds only) returns
  // only ids > after_id: a keyset cursor that stays valid across LSNs.
  uint32_t limit = 0;
  std::optional<int64_t> after_id;
  // Ascending kinds only; ancestor kinds ignore it and keep their
  // HierarchyOrder. kAny answers the same set as kAscending (same total, no
  // duplicates). A keyset cursor needs the order: after_id with kAny is
  // kInvalidArgument. limit with kAny cuts the answer to `limit` of its ids
  // (which ones is unspecified) and sets more; an unordered answer cannot be
  // paged, so page a long answer with kAscending.
  IdOrder id_order = IdOrder::kAscending;
};

struct IdAnswer {
  Status status;             // kNotFound for an unknown id, kInvalidArgument for a bad query
  std::vector<int64_t> ids;  // the page
  uint64_t total = 0;        // size of the whole answer (before after_id/limit)
  // ids were cut by limit; continue with after_id = ids.back() (kAscending only)
  bool more = false;
};

struct QueryAnswer {
  Lsn lsn;
  IdAnswer answer;
};

struct BatchAnswer {
  Lsn lsn;                        // every member reflects this one state
  std::vector<IdAnswer> answers;  // one per query, same order
};

// counts(ns): sizes of descendants(ns) by type and of all_project_ids(ns).
struct SubtreeCounts {
  uint64_t descendant_groups = 0;              // |descendants(ns)| (groups, self excluded)
  uint64_t descendant_project_namespaces = 0;  // project namespaces below ns
  uint64_t projects = 0;                       // |all_project_ids(ns)|
  uint64_t unarchived_projects = 0;            // |all_unarchived_project_ids(ns)|
};

// What a full path resolves to.
struct ResolvedPath {
  Table table = Table::kNamespaces;  // kNamespaces or kProjects
  int64_t id = 0;
};

struct IndexStats {
  Lsn applied_lsn;
  uint64_t namespaces = 0;
  uint64_t projects = 0;
  uint64_t runner_links = 0;
  // Anomalies. Gauges (current state):
  uint64_t orphan_namespaces = 0;  // parent_id set but parent unknown
  uint64_t orphan_projects = 0;    // namespace_id unknown
  // Counters (since construction):
  uint64_t cycles_refused = 0;  // parent changes refused because they made a cycle
  // Deletes of ids the index did not hold, judged per key on a transaction's
  // net effect (a delete followed by an insert of the same key is none).
  uint64_t unknown_deletes = 0;
  uint64_t transactions_applied = 0;  // with at least one change (an empty one only moves the LSN)
  uint64_t row_changes_applied = 0;
  // Writer side, updated at each publish:
  uint64_t publishes = 0;
  uint64_t last_publish_wait_ns = 0;  // time the writer waited for readers
  uint64_t max_publish_wait_ns = 0;
  uint64_t total_publish_wait_ns = 0;
  // Both copies + shared strings (an estimate: a name and path a project
  // shares with its project namespace count twice).
  uint64_t memory_bytes = 0;
  // Namespaces whose descendants / all_project_ids answers are copied from
  // the pre-order layout (HierarchyIndexOptions::layout_slices): groups and
  // project namespaces whose subtree is unchanged since the last Compact()
  // or BulkLoad. A change below a node takes it and its ancestors off.
  uint64_t laid_out_namespaces = 0;
  // Groups taken off by a change below them that still answer ascending
  // descendants / all_project_ids from their sorted runs, merged with the
  // ids that came and went since (groups with a run of 8 x
  // sorted_run_min_ids ids or more; a delta grown past its cap is folded
  // into new runs, and a change of more than 1,024 ids at once has them
  // made again from a walk, or dropped past 256 x 8 x sorted_run_min_ids),
  // and, with HierarchyIndexOptions::grown_runs (on by default), groups not laid out that
  // got runs when they grew to sorted_run_min_ids ids.
  uint64_t stale_run_namespaces = 0;
};

}  // namespace canopy

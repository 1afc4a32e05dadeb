// canopy/testing/gitlab_forest.h — a GitLab.com-shaped namespace forest and a
// realistic stream of write transactions over it, for benchmarks and tests.
//
// GenerateGitlabForest() builds, deterministically from a seed, the rows of
// GitLab's three hierarchy tables (namespaces, projects, ci_runner_namespaces)
// in the shape GitLab.com has (docs/design/gitlab-notes.md §6):
//   * many user namespaces (roots, 0-3 projects each);
//   * groups as a forest with skewed fan-out (preferential attachment), most of
//     them top-level or shallow, a few historical transfers (a parent whose id
//     is larger than its child's);
//   * one gitlab-org-sized group (~1k subgroups, ~5k projects), one huge group
//     (100k+ descendant groups), a small group, a chain of exactly 21 group
//     levels and a deeper one (40 by default, deeper than GitLab allows), two
//     empty top-level groups to move subtrees between;
//   * every project has its project namespace (type kProject, parent = the
//     project's namespace, same name and path);
//   * runner links on some groups.
// Ids are assigned like database sequences, in creation order, starting at 1.
// Every name and path is ASCII ([A-Za-z0-9 ._-]), unique among its siblings
// (paths are in fact unique per table), so the rows load into PostgreSQL under
// GitLab's unique indexes and foreign keys (insert namespaces in
// NamespaceIdsParentsFirst() order, then projects, then links).
//
//   canopy::testing::GitlabForestOptions options;
//   options.namespaces = 10'000;  options.projects = 30'000;  options.seed = 7;
//   canopy::testing::GitlabForest forest = canopy::testing::GenerateGitlabForest(options);
//   canopy::HierarchyIndex index;
//   canopy::testing::ForEachLoadTransaction(forest, {.max_changes_per_transaction = 100'000},
//       [&](canopy::Transaction txn) { (void)index.Apply(std::move(txn)); });
//
//   // Then a realistic write stream; `forest` follows it and is the oracle.
//   canopy::testing::MixedStream stream(&forest, {.seed = 7, .first_lsn = canopy::Lsn(1'000'000)});
//   for (int i = 0; i < 1000; ++i) (void)index.Apply(stream.Next());
//   assert(canopy::testing::ValidateForest(forest).ok());
//
// Speed: 1M namespaces + 3M projects generate in about two seconds on one core.
//
// THREAD SAFETY: plain values and functions; a MixedStream and the forest it
// updates belong to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy::testing {

// GitLab allows 20 ancestors for a group: at most 21 group levels.
inline constexpr int kMaxGroupLevels = 21;

struct GitlabForestOptions {
  uint64_t seed = 1;
  // User namespaces + groups. Project namespaces come on top, one per project,
  // so the namespaces table ends up with `namespaces + projects` rows.
  size_t namespaces = 1'000'000;
  size_t projects = 3'000'000;
  // ci_runner_namespaces rows; nullopt = namespaces / 50.
  std::optional<size_t> runner_links;

  double user_fraction = 0.7;                  // share of `namespaces` that are users
  double top_level_group_fraction = 0.5;       // of the ordinary (non-named) groups
  double user_project_share = 0.3;             // target share of projects in user namespaces
  double historical_transfer_fraction = 0.02;  // of ordinary subgroups, moved after creation

  // The named structures. Sizes are caps: with few namespaces they scale down
  // (the huge group gets at most 40% and gitlab-org at most 2% of the groups,
  // gitlab-org at most 0.2% of the projects). Below ~100 namespaces there are
  // no named structures at all and every named id is 0.
  bool named_structures = true;
  size_t gitlab_org_subgroups = 1'000;
  size_t gitlab_org_projects = 5'000;
  size_t huge_group_descendants = 120'000;
  int deep_chain_levels = 40;
};

// Ids of the named structures (0 / empty when absent). The MixedStream never
// moves, deletes or edits these rows (it may create rows below them).
struct GitlabForestNamedIds {
  int64_t gitlab_org_id = 0;         // top-level; ~1k subgroups up to 6 levels, ~5k projects
  int64_t huge_group_id = 0;         // top-level; 100k+ descendant groups, up to 20 levels
  int64_t small_group_id = 0;        // top-level; 8 descendant groups, up to 24 projects
  int64_t chain_21_leaf_id = 0;      // depth 21 (20 ancestors), GitLab's limit
  int64_t deep_chain_leaf_id = 0;    // depth deep_chain_levels
  int64_t transfer_target_a_id = 0;  // empty top-level groups, for subtree moves
  int64_t transfer_target_b_id = 0;
  int64_t user_namespace_id = 0;         // a user namespace with 3 projects
  int64_t user_project_id = 0;           // one of them
  int64_t gitlab_org_project_id = 0;     // a project in one of gitlab-org's deepest subgroups
  int64_t chain_21_leaf_project_id = 0;  // its project namespace is at depth 22
  std::vector<int64_t> chain_21;         // root first: chain_21[d - 1] is at depth d
  std::vector<int64_t> deep_chain;       // root first
  // Every id above plus the chains: the rows the MixedStream leaves alone.
  std::vector<int64_t> ProtectedNamespaceIds() const;
  std::vector<int64_t> ProtectedProjectIds() const;
};

// The rows. Row ids are dense: the row with id k sits at index k - 1, and a
// deleted row (see MixedStream) keeps its slot with id == 0.
struct GitlabForest {
  std::vector<NamespaceRow> namespaces;  // users, groups and project namespaces
  std::vector<ProjectRow> projects;
  std::vector<RunnerLinkRow> runner_links;
  int64_t next_runner_id = 1;  // runner ids in use are below this
  GitlabForestNamedIds named;
  GitlabForestOptions options;  // what generated it

  // O(1) lookups; nullptr for an unknown or deleted id.
  const NamespaceRow* FindNamespace(int64_t id) const;
  const ProjectRow* FindProject(int64_t id) const;
  const RunnerLinkRow* FindRunnerLink(int64_t id) const;
};

// Builds the forest. Deterministic: the same options give the same rows.
// O(namespaces + projects); ~2 s and ~1.2 GB for 1M namespaces + 3M projects.
GitlabForest GenerateGitlabForest(const GitlabForestOptions& options);

// A test-sized forest: `namespaces` users and groups, `projects` projects,
// and the named structures scaled to them (the huge group a tenth of the
// namespaces, gitlab-org a sixtieth of them and a thirtieth of the
// projects), so tests of any size ask about the same shapes.
GitlabForest GenerateTestForest(uint64_t seed, size_t namespaces, size_t projects);

// Sizes of the live rows, by kind.
struct GitlabForestCounts {
  size_t users = 0, groups = 0, project_namespaces = 0, projects = 0, runner_links = 0;
  size_t top_level_groups = 0;
  int max_depth = 0;  // 1 = a root
};
GitlabForestCounts CountForest(const GitlabForest& forest);

// Depth of each namespace, indexed by id - 1: 1 for a root, 0 for a deleted
// slot (or a row on a parent cycle, which a valid forest never has). O(n).
std::vector<uint8_t> NamespaceDepths(const GitlabForest& forest);

// Live namespace ids ordered so that every parent comes before its children
// (by depth, then id): an INSERT order that satisfies the parent_id foreign key.
std::vector<int64_t> NamespaceIdsParentsFirst(const GitlabForest& forest);

// Live namespace ids in depth-first pre-order, children by ascending id: the
// order of PostgreSQL's `ORDER BY traversal_ids` (roots by id; a row whose
// parent is missing counts as a root). Also parents-first. O(n).
std::vector<int64_t> NamespaceIdsPreorder(const GitlabForest& forest);

// Checks GitLab's invariants: ids dense, parents alive, type rules (users are
// roots, a project namespace is never a parent, a group's parent is a group),
// no cycles, each project <-> exactly one project namespace with the same
// path/name and parent, paths and names unique among siblings, runner links on
// live namespaces and unique per (runner, namespace). O(n) with hashing.
// Returns kDataLoss naming the first violation.
Status ValidateForest(const GitlabForest& forest);

// ---- turning rows into transactions for the engine ----

enum class LoadOrder : uint8_t {
  kById = 0,          // each table by id (what COPY gives); a few children precede their parents
  kParentsFirst = 1,  // namespaces in NamespaceIdsParentsFirst() order
  // Namespaces in NamespaceIdsPreorder() order, projects grouped by namespace
  // in that order (then by id): what a snapshot loader gets from COPY (SELECT
  // ... ORDER BY traversal_ids), so an index that allocates slots in arrival
  // order lays every subtree out contiguously.
  kPreorder = 2,
};

struct LoadOptions {
  // 0 = everything in one transaction.
  size_t max_changes_per_transaction = 0;
  Lsn first_lsn = Lsn(1);  // the first transaction's commit_lsn
  uint64_t lsn_step = 1;   // added per further transaction
  LoadOrder order = LoadOrder::kById;
  // Which tables to emit (namespaces, then projects, then runner links).
  bool namespaces = true;
  bool projects = true;
  bool runner_links = true;
};

// Calls `sink` once per transaction, in order; only one transaction exists at
// a time, so loading 4M rows costs one chunk of extra memory. Returns the
// number of transactions emitted.
size_t ForEachLoadTransaction(const GitlabForest& forest, const LoadOptions& options,
                              const std::function<void(Transaction)>& sink);
// The same, collected.
std::vector<Transaction> LoadTransactions(const GitlabForest& forest, const LoadOptions& options);
// Everything as one transaction.
Transaction LoadTransaction(const GitlabForest& forest, Lsn commit_lsn);

// ---- the forest as PostgreSQL rows (copy_rows.cc) ----
// The live rows of `forest` in COPY text format, one table each, for
// `COPY <table> (<columns>) FROM STDIN`. The columns, in this order, are the
// k*CopyColumns below, then whatever `row_suffix` adds: it is appended to
// every row as is (e.g. "\t2024-01-01\t1" for two more columns). Namespaces
// get traversal_ids from their parent chain, root first, as GitLab keeps it.
inline constexpr char kNamespaceCopyColumns[] =
    "id, name, path, type, visibility_level, parent_id, traversal_ids";
inline constexpr char kProjectCopyColumns[] =
    "id, name, path, namespace_id, visibility_level, archived, pending_delete, "
    "project_namespace_id";
inline constexpr char kRunnerLinkCopyColumns[] = "id, runner_id, namespace_id";
std::string NamespaceCopyRows(const GitlabForest& forest, std::string_view row_suffix = {});
std::string ProjectCopyRows(const GitlabForest& forest, std::string_view row_suffix = {});
std::string RunnerLinkCopyRows(const GitlabForest& forest);

// ---- a realistic mixed write stream (docs/queries.md, "GitLab write patterns") ----

enum class StreamOp : uint8_t {
  kCreateGroup = 0,    // INSERT (traversal_ids '{}') then UPDATE of the same row
  kCreateUser,         // same, a root user namespace
  kCreateProject,      // project namespace INSERT, project INSERT, namespace UPDATE
  kTransferGroup,      // parent_id UPDATE, then one UPDATE per node of the moved subtree
  kTransferProject,    // project namespace_id UPDATE, its namespace's parent UPDATE + UPDATE
  kRename,             // group, or project + its project namespace: name/path UPDATE
  kChangeVisibility,   // group, or project + its project namespace
  kArchive,            // project archived toggled
  kMarkPendingDelete,  // project pending_delete = true
  kDeleteProject,      // project DELETE, then its project namespace DELETE (the trigger)
  kDeleteGroup,        // a small subtree: links, projects (+ namespaces), groups children first
  kAddRunnerLink,      // a new or an existing runner linked to a group
  kRemoveRunnerLink,
};
inline constexpr int kStreamOpCount = 13;
const char* StreamOpName(StreamOp op);

struct MixedStreamOptions {
  uint64_t seed = 1;
  Lsn first_lsn = Lsn(1'000'000'000);  // commit_lsn of the first transaction
  // Relative weights of the operations, indexed by StreamOp.
  uint32_t weights[kStreamOpCount] = {
      /*kCreateGroup*/ 6,       /*kCreateUser*/ 6,      /*kCreateProject*/ 30,
      /*kTransferGroup*/ 3,
      /*kTransferProject*/ 4,   /*kRename*/ 6,          /*kChangeVisibility*/ 5,
      /*kArchive*/ 6,
      /*kMarkPendingDelete*/ 3, /*kDeleteProject*/ 8,   /*kDeleteGroup*/ 1,
      /*kAddRunnerLink*/ 4,     /*kRemoveRunnerLink*/ 3};
  // Largest subtree (groups + project namespaces) a transfer / a group delete touches.
  size_t max_moved_subtree = 512;
  size_t max_deleted_subtree = 64;
  // Share of group transfers that make the group top-level.
  double transfer_to_root_fraction = 0.1;
};

// Generates transactions one at a time and keeps `forest` equal to the state
// after the last one (rows appended, edited, or deleted = id set to 0), so
// the forest is the expected answer for a test. Every transaction is valid
// GitLab data: no cycles, depth limits kept, children deleted before parents.
// Named rows (GitlabForestNamedIds) are never the subject of an operation.
// Each call is O(rows it emits) plus O(depth); construction is O(forest).
class MixedStream {
 public:
  // REQUIRES: forest outlives this object and nothing else modifies it meanwhile;
  // it was made by GenerateGitlabForest (possibly already advanced by a stream).
  explicit MixedStream(GitlabForest* forest, MixedStreamOptions options = {});
  ~MixedStream();
  MixedStream(const MixedStream&) = delete;
  MixedStream& operator=(const MixedStream&) = delete;

  // The next transaction; its commit_lsn grows by a few hundred to a few
  // thousand per call. `op`, if given, receives what it did.
  Transaction Next(StreamOp* op = nullptr);
  // One transaction of the given kind, or nullopt when the forest has no
  // candidate for it (then nothing changes and no LSN is used).
  std::optional<Transaction> TryNext(StreamOp op);
  // commit_lsn of the last transaction (first_lsn - 1 before the first).
  Lsn last_lsn() const;
  // Transactions emitted per kind so far.
  const uint64_t* op_counts() const;

 private:
  class State;
  std::unique_ptr<State> state_;
};

// Number of row changes in `txns` (for throughput figures).
size_t CountRowChanges(const std::vector<Transaction>& txns);

}  // namespace canopy::testing

// canopy/hierarchy_index.h — the in-memory namespace hierarchy, its writer and
// its wait-free readers.
//
// HierarchyIndex holds GitLab's namespaces, projects and runner links and
// answers the hierarchy questions of docs/queries.md with the same
// answers PostgreSQL would give on the state as of the applied LSN. The
// questions and answers themselves (QueryKind, IdQuery, IdAnswer, IndexStats,
// ...) are plain values of canopy/query.h (canopy::core), shared with the
// network layer and its clients.
//
//   canopy::HierarchyIndex index;
//   canopy::Transaction txn{canopy::Lsn(100), {canopy::UpsertNamespace{{.id = 1,
//       .type = canopy::NamespaceType::kGroup, .name = "Org", .path = "org"}}}};
//   if (canopy::Status s = index.Apply(std::move(txn)); !s.ok()) { ... }
//   {
//     canopy::ReadView view = index.Read();          // pins one committed state
//     std::vector<int64_t> ids;
//     canopy::Status s = view.SelfAndDescendants(1, /*include_project_namespaces=*/false, &ids);
//     // view.lsn() is the LSN this answer reflects.
//   }                                                // unpin promptly
//
// THREAD SAFETY
//   * One writer: Apply/ApplyBatch are serialized internally by a mutex that
//     readers never touch; call them from one thread for predictable latency.
//   * Any number of readers: Read(), Query(), QueryBatch(), Stats() never take
//     a lock and never wait for the writer (an atomic increment and two
//     loads; a reader retries only if a publish flips the copies between its
//     two loads, which takes a whole transaction's apply to happen again).
//     A reader sees whole transactions only: every answer from one ReadView
//     reflects exactly one committed state, named by lsn().
//   * Design: left-right. Two copies of the index; the writer changes the copy
//     no reader uses, publishes it with one atomic store, and replays the same
//     transactions on the other copy at its next publish, after waiting for
//     the readers still on that copy. So a ReadView that is held long makes
//     the *writer* wait at the publish after next: copy the answer out and
//     drop the view; never hold one across I/O. The writer's wait at a
//     publish is reported in IndexStats. A thread that holds a view of the copy the writer must
//     update gets kFailedPrecondition from Apply instead of a deadlock.
//   * BulkLoad serves before its second copy is made: a thread of the index
//     copies it while readers read (once the readers of the empty index
//     have left), and the next write (or the destructor) joins that thread
//     first. (Without a thread, BulkLoad copies before it returns.)
//
// DATA RULES (bad data never corrupts the index; every anomaly is counted)
//   * A namespace whose parent is unknown is an orphan: a detached root until
//     the parent appears, then attached. Same for a project whose namespace is
//     unknown: no group's or user namespace's answer holds it until then
//     (its own project namespace still names it, by project_namespace_id, as
//     SQL's `projects WHERE project_namespace_id = ...` would).
//   * Runner links are kept as rows, like SQL's link table without a foreign
//     key: a link to a namespace the index does not hold still counts for
//     RunnersOfGroups / kRunnersOfGroup (which never answer kNotFound).
//   * A parent change that would make a cycle (judged on the state at the end
//     of its transaction) is refused: the node keeps its old parent, the rest
//     of the row is applied, and cycles_refused counts it.
//   * Deleting a namespace that still has children or projects leaves them as
//     orphans (attached again if the id reappears).
//   * A move costs O(depth of the old and new position), never O(subtree).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "canopy/lsn.h"
#include "canopy/query.h"  // the query vocabulary: IdQuery, IdAnswer, IndexStats, ...
#include "canopy/rows.h"
#include "canopy/snapshot_pieces.h"
#include "canopy/status.h"

namespace canopy {

namespace internal {
class Forest;
class ReadIndicator;
class PreparedTransaction;
}  // namespace internal

// A pinned, consistent, read-only state of the index. Cheap to create (two
// atomic increments), must be short-lived (see THREAD SAFETY above). Not
// copyable; movable. Every method is const and thread-compatible.
// Unless said otherwise, methods return kNotFound for an unknown id and
// clear `*out` first.
class ReadView {
 public:
  ReadView(ReadView&& other) noexcept;
  ReadView& operator=(ReadView&&) = delete;
  ReadView(const ReadView&) = delete;
  ReadView& operator=(const ReadView&) = delete;
  ~ReadView();

  // The LSN of the committed state this view shows.
  Lsn lsn() const;

  // ---- ancestors: O(depth) ----
  // ns and every ancestor, following parent links (traversal_ids), any type.
  Status SelfAndAncestors(int64_t ns, HierarchyOrder order, std::vector<int64_t>* out) const;
  Status Ancestors(int64_t ns, HierarchyOrder order, std::vector<int64_t>* out) const;
  // Ancestors strictly below `top` (top and its ancestors excluded); all
  // ancestors when top is not an ancestor of ns.
  Status AncestorsUpto(int64_t ns, int64_t top, HierarchyOrder order,
                       std::vector<int64_t>* out) const;
  // traversal_ids[1]: the topmost ancestor (ns itself for a root).
  Result<int64_t> RootAncestor(int64_t ns) const;

  // ---- descendants: O(answer) + sort, ascending id ----
  // include_project_namespaces=false (GitLab's default class scoping): ns and
  // the descendants whose type equals ns's type — for a group, its subgroups;
  // for a user or project namespace, just itself.
  // include_project_namespaces=true (`skope: Namespace`): ns and every
  // descendant of any type (a group's subgroups and project namespaces).
  Status SelfAndDescendants(int64_t ns, bool include_project_namespaces,
                            std::vector<int64_t>* out) const;
  Status Descendants(int64_t ns, bool include_project_namespaces, std::vector<int64_t>* out) const;
  // Ancestors(ns) ∪ SelfAndDescendants(ns), ascending id.
  Status SelfAndHierarchy(int64_t ns, bool include_project_namespaces,
                          std::vector<int64_t>* out) const;

  // ---- projects: ascending id ----
  // Group: projects whose namespace_id is ns or a descendant group (archived
  // and pending_delete included). User namespace: its own projects. Project
  // namespace: its own project.
  Status AllProjectIds(int64_t ns, std::vector<int64_t>* out) const;
  Status AllUnarchivedProjectIds(int64_t ns, std::vector<int64_t>* out) const;
  // The project's namespace and its ancestors when that namespace is a
  // group; empty for a project in a user namespace. kNotFound: unknown project.
  Status ProjectAncestors(int64_t project, HierarchyOrder order, std::vector<int64_t>* out) const;

  // ---- runners: ascending, de-duplicated runner ids ----
  // Runners linked to exactly these namespace ids, as SQL's
  // `namespace_id IN (...)`: the link table has no foreign key, so a link to a
  // namespace the index does not hold still counts.
  void RunnersOfGroups(std::span<const int64_t> namespaces, std::vector<int64_t>* out) const;
  // Runners linked to ns or its ancestors; empty unless ns is a group
  // (GitLab: Group.find_by(id)&.self_and_ancestor_ids).
  Status RunnersOfGroupAndAncestors(int64_t ns, std::vector<int64_t>* out) const;
  // Runners linked to the project's group or its ancestors; empty for a
  // project in a user namespace.
  Status RunnersOfParentGroupsOfProject(int64_t project, std::vector<int64_t>* out) const;

  // ---- counts: O(1) ----
  Result<SubtreeCounts> Counts(int64_t ns) const;

  // ---- paths ----
  // "a/b/c" from the path segments root..ns. O(depth).
  Result<std::string> NamespaceFullPath(int64_t ns) const;
  // The project's namespace full path + "/" + project path.
  Result<std::string> ProjectFullPath(int64_t project) const;
  // The inverse, as GitLab's Routable.find_by_full_path: the exact path
  // first, else the path ignoring case. Orphans and what hangs below them are
  // not reachable; intermediate segments are user/group namespaces; an empty
  // segment (leading, trailing or double slash) matches nothing.
  //   1. Exact (every segment byte for byte): at each level the lowest-id
  //      user/group namespace of that path; the last segment resolves to such
  //      a namespace first, else to the lowest-id project of that path in the
  //      namespace before it.
  //   2. Only if 1 finds nothing: every segment ignoring ASCII case (A-Z =
  //      a-z; other bytes compare exactly), over every matching branch. Of all
  //      the rows whose full path matches, a user/group namespace before a
  //      project, then the lowest id.
  // O(depth x siblings) for 1; 2 also visits every branch that matches.
  Result<ResolvedPath> Resolve(std::string_view full_path) const;

  // ---- rows ----
  std::optional<NamespaceRow> GetNamespace(int64_t id) const;
  std::optional<ProjectRow> GetProject(int64_t id) const;
  std::optional<RunnerLinkRow> GetRunnerLink(int64_t id) const;
  // Every id the index holds, ascending (O(n log n); for verification tools).
  std::vector<int64_t> ListNamespaceIds() const;
  std::vector<int64_t> ListProjectIds() const;
  std::vector<int64_t> ListOrphanNamespaceIds() const;

  // ---- generic form (what the network layer calls) ----
  // The typed methods above always answer in ascending order; Run honours
  // IdQuery::id_order (kAny skips the sort). kInvalidArgument for an unknown
  // kind, order or id_order, and for after_id on a non-ascending kind or
  // with IdOrder::kAny.
  IdAnswer Run(const IdQuery& query) const;
  // The same into *out (every field set), reusing out->ids' capacity: a
  // server answering many queries allocates nothing per answer.
  void Run(const IdQuery& query, IdAnswer* out) const;

  IndexStats Stats() const;

 private:
  friend class HierarchyIndex;
  ReadView(const internal::Forest* forest, internal::ReadIndicator* indicator, int stripe);

  const internal::Forest* forest_;
  internal::ReadIndicator* indicator_;  // null once moved from
  int stripe_;
};

struct HierarchyIndexOptions {
  // Capacity hints; the index grows past them as needed.
  size_t expected_namespaces = 0;
  size_t expected_projects = 0;
  size_t expected_runner_links = 0;
  // Answer descendants and all_project_ids of a subtree unchanged since the
  // last Compact() / BulkLoad by copying runs of its pre-order layout rather
  // than walking it. Off only to measure or test the walk on its own: the
  // answers are the same either way.
  bool layout_slices = true;
  // The smallest run (of a laid-out subtree's groups, groups and project
  // namespaces, or projects) kept sorted by id, so that its ascending answer
  // is a copy; below it a run is sorted per answer. All kept runs together
  // hold at most three ids per two rows (4 bytes an id for GitLab's ids),
  // smallest runs first.
  uint32_t sorted_run_min_ids = 512;
  // On (the default): a group not laid out (made, or changed below, since
  // the last Compact()) that grows to sorted_run_min_ids ids (512) in one
  // of its sets without sorted runs gets them, for all three sets, made
  // from a walk of its subtree in the write that grows it there, so that
  // its ascending answers are copies again; they are kept as any stale runs
  // are, following its growth. A group is considered once, then: one that
  // passes 4 x sorted_run_min_ids ids (2,048) in that write, or would take
  // the runs made since the last Compact() past three ids per two rows
  // (counted when made), or is retyped to a group already bigger, walks as
  // before. Off: such a group's answers walk and sort until the next
  // Compact(). The cost is the writer's: the walk in that write (three sets
  // of about 512 ids) and the upkeep of those runs as the group keeps
  // growing (each change below such a group noted; a fold of the noted ids
  // copies the run from its first change on: for new, higher ids, only its
  // last chunk). In an index grown at random to 3M rows a write took
  // two to three times as long on average as with it off, and about two in a
  // million took 1.2-1.5 ms against none; to 12M rows a few
  // of 4M took over 1 ms (the README measures both sides).
  bool grown_runs = true;
};

class HierarchyIndex {
 public:
  explicit HierarchyIndex(HierarchyIndexOptions options = {});
  ~HierarchyIndex();
  HierarchyIndex(const HierarchyIndex&) = delete;
  HierarchyIndex& operator=(const HierarchyIndex&) = delete;

  // ---- writer ----
  // Applies one transaction atomically and publishes it: readers that start
  // after Apply returns see it, readers never see part of it. Its commit_lsn
  // becomes the applied LSN (a transaction with no changes just advances it).
  // Errors: kOutOfRange if commit_lsn < applied LSN (nothing is applied);
  // kFailedPrecondition if the calling thread holds a ReadView that pins the
  // copy this publish must write (nothing is applied; drop the view, retry).
  // Bad data is not an error: see DATA RULES. Cost: O(rows × depth) plus the
  // wait for readers still on the other copy.
  Status Apply(Transaction txn);
  // Applies several transactions, in order, with one publish (for a busy
  // stream). Readers see all of them or none. Same errors as Apply, checked
  // before anything is applied.
  Status ApplyBatch(std::vector<Transaction> txns);

  // Re-lays both copies out in tree order (namespaces in pre-order, groups
  // before project namespaces, projects by namespace) so that subtree scans
  // walk memory sequentially. O(rows); answers and the LSN do not change.
  // Call it after a bulk load (a snapshot); readers are unaffected.
  Status Compact();

  // The first write of a fresh index, for a snapshot: applies `snapshot`,
  // lays the copy out as Compact() does, publishes it, then makes the other
  // copy by copying it rather than replaying the transaction (about half the
  // work of Apply + Compact, and nothing is left for the next write to
  // replay). It returns once the published copy serves: the other copy is
  // copied on a thread of its own while readers read the published one, and
  // the next write (Apply, ApplyBatch, Compact) or the destructor waits for
  // that copy first. Errors: kFailedPrecondition if anything was applied
  // before; otherwise as Apply (running out of memory leaves this fresh
  // index read-only: build another). Running out of memory in the
  // background copy is the next write's error (kResourceExhausted); the
  // published copy keeps serving, read-only.
  Status BulkLoad(Transaction snapshot);
  // The same for a snapshot delivered in pieces (a parallel loader's, in
  // order): its rows are the pieces' concatenation, read where they are
  // (never concatenated, nor prepared as a whole up front).
  Status BulkLoad(Lsn at, std::vector<std::vector<RowChange>> pieces);
  // The same for pieces still being delivered (canopy/snapshot_pieces.h):
  // the build starts on each piece as it arrives and returns once all have
  // and the index is built. Errors: as above, or the error the pieces were
  // abandoned with (this index is then empty and read-only: discard it).
  Status BulkLoad(Lsn at, SnapshotPieces& pieces);

  // ---- readers (any thread, wait-free) ----
  ReadView Read() const;
  // Runs one query / many queries on one pinned state and copies the answers out.
  QueryAnswer Query(const IdQuery& query) const;
  BatchAnswer QueryBatch(std::span<const IdQuery> queries) const;
  Lsn applied_lsn() const;
  IndexStats Stats() const;

 private:
  // A writer's first step, under writer_mutex_: kFailedPrecondition when
  // this thread pins the copy to write, or after a failure; then
  // FinishSecondCopy. In that order: that copy waits for a pinned view to
  // leave, so waiting for it first would hang the thread that pins one.
  Status BeginWrite();
  Status BuildFrom(Lsn at, SnapshotPieces& pieces);  // BulkLoad's work
  Status Publish(std::vector<Transaction>& txns);
  Status PublishPrepared(std::vector<internal::PreparedTransaction>& prepared);
  // Blocks until no reader is in copy `copy`; returns the nanoseconds waited.
  uint64_t WaitForReadersToLeave(int copy);
  // Waits for BulkLoad's background copy, if one runs; its error, once
  // (the index is read-only after it). REQUIRES: writer_mutex_ held.
  Status FinishSecondCopy();

  std::unique_ptr<internal::Forest> copies_[2];
  std::unique_ptr<internal::ReadIndicator> indicators_[2];
  std::atomic<int> left_right_{0};  // the copy new readers use
  std::mutex writer_mutex_;
  // Published to the live copy, not yet replayed onto the stale one.
  std::vector<internal::PreparedTransaction> pending_;
  bool failed_ = false;  // an allocation failure left the stale copy half-written
  // BulkLoad's copy of the published copy onto the other one; it writes only
  // that other copy and second_copy_status_, read after the join.
  std::thread second_copy_;
  Status second_copy_status_;
  std::atomic<uint64_t> publishes_{0};
  std::atomic<uint64_t> last_wait_ns_{0};
  std::atomic<uint64_t> max_wait_ns_{0};
  std::atomic<uint64_t> total_wait_ns_{0};
};

}  // namespace canopy

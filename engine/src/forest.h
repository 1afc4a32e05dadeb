// forest.h — one copy of the hierarchy (internal to canopy::engine).
//
// A Forest is the plain, single-threaded data structure behind one side of
// the left-right HierarchyIndex. It knows nothing about concurrency:
//
// THREAD SAFETY
//   * The writer calls Apply() only while no reader uses this copy (the
//     left-right protocol in hierarchy_index.cc guarantees it).
//   * Readers call the const query methods concurrently with each other,
//     never concurrently with Apply() on the same copy.
//   * Row texts (RowText, row_text.h: records in a process-wide arena) are
//     shared by both copies; they are immutable once created and freed
//     only when neither copy references them. A project also shares its
//     project namespace's text when the two are equal (GitLab keeps them
//     so; Apply, Compact and the snapshot build see to it): one record for
//     both rows.
//
// LAYOUT
//   Namespaces and projects live in segmented column arrays (big_array.h:
//   growth never moves an element) indexed by 32-bit slots, with their ids
//   in a separate column (ns_ids_, project_ids_; id_column.h: 32 bits an
//   id, exact for any bigint through a side map); an id -> slot index per
//   table (slot_index.h: a direct array for the dense ids, a hash set for
//   the rest). A namespace links to its parent and its siblings; what lies
//   below it (NsBelow: its first child in two intrusive doubly-linked child
//   lists, project namespaces in their own list so that group-only walks
//   skip them; its first project; its subtree counters) is a separate
//   record that a namespace gets when something is first placed below it
//   (below_; Compact drops the ones that became empty).
//   Subtree counters (groups, project namespaces, projects, unarchived
//   projects below a node) are kept along the ancestor path, so counts are
//   O(1) and a move is O(depth): detach subtracts the subtree's totals from
//   the old ancestors, attach adds them to the new ones. traversal_ids is
//   never stored; it is the parent chain.
//
// SLICES
//   Compact() renumbers the slots in pre-order (forest_compact.cc), so a
//   subtree's user/group namespaces are one run of slots, its project
//   namespaces another and its groups' projects a third. A node whose
//   subtree has not changed since (NsNode::laid_out) answers descendants and
//   all_project_ids by copying those runs of the id columns instead of
//   walking its subtree. Any structural change below a node clears laid_out
//   on it and its ancestors (MarkChanged); a moved subtree stays laid out
//   (its runs still hold exactly its nodes). A node that changed walks only
//   down to its laid-out descendants and copies their runs (CollectBelow),
//   so a change costs the answers above it the walk of its chain's
//   children, not of their whole subtrees. laid_out is set only where the
//   runs hold exactly what the walk would visit: groups all the way down,
//   project namespaces as leaves.
//   A run is in pre-order, not in id order. Compact() also keeps sorted
//   copies (SortedRuns, 32-bit offsets: SortedIdRun) of runs of at least
//   sorted_run_min_ids ids, smallest first within three ids per two rows,
//   so that their ascending answers are copies too; other runs are sorted
//   per answer (order=any skips that). The second copy to be compacted
//   shares the first's when the first has changed no row since and both
//   were laid out from the same rows (Compact's ShareSortedRunsOf, checked),
//   as a BulkLoad's second copy does (CopyFrom).
//   A change below a node with a sorted run of StaleRunMinIds() ids or more
//   does not drop its runs: the node keeps them, stale, with the ids that
//   joined and left each of its three sets since (RunDelta, per copy, in
//   run_deltas_), so that its ascending answers stay a copy and a merge
//   of the few changed ids (smaller nodes' runs go). Every change of what
//   lies below a node goes through LinkChild, Detach, LinkProject or
//   UnlinkProject (NoteSubtree, NoteProject; a deleted namespace is detached
//   first, so its subtree leaves the sets above before its children are
//   orphaned). A set's delta grown past RunDelta::Cap of its run (1,024
//   ids; a 16th of a run past 16k; a quarter of one under 4k, at least
//   64) is folded into a new sorted run for that set (FoldDelta: the
//   run's chunks from the first change on copied, for every Cap ids
//   noted); before that, once more than 8k ids noted are in the run's last
//   chunk (at or past its first id, as new ids are), those alone are
//   folded (that chunk copied) and the others stay noted, so a node keeps answering from its runs
//   however much changes below it. A change listing more than
//   kMaxNotedIds ids (a group counts twice: in the groups and in all
//   namespaces) has the runs of the nodes it concerns made again from the
//   walk's answers once its Apply has made every change (RebuildNotedRuns;
//   runs of up to MaxRebuildIds, else they are dropped). A type change of
//   the node itself, and its slot being freed, drop its runs (DropRuns):
//   those answers walk as before. With grown_runs (an option, on by
//   default), a group that is not laid out and has no runs gets stale runs
//   of its own, for all three sets, once one of its sets grows to
//   GrownRunMinIds() ids (the counter updates queue it; MakeGrownRuns makes
//   them from the walk's
//   answers at the end of the Apply while the ids of the runs made since
//   the last Compact, counted when made, stay within Compact's budget;
//   each copy makes its own): a group made or grown since the last Compact
//   answers from its runs too. A group is considered once, when it grows to
//   that size (skipped then, or retyped to a group already bigger, it walks).
//
// ROW COLUMNS
//   A namespace's parent_id and a project's namespace_id follow from the
//   slot links (the parent's / the namespace's id) for every attached row;
//   orphans keep theirs in a side map, and ParentIdOf / NamespaceIdOf read
//   either. A project's project_namespace_id is the id of the namespace
//   whose own_project it is (project_pn_slots_, the inverse of
//   OwnProject); a project waiting in waiting_own_project_ keeps
//   it in a side map; else it is NULL. visibility_level is 16 bits in the
//   node, with a side map for values outside int16 (never GitLab's
//   0/10/20). Read the columns through those accessors, never from the node.
//   The ids themselves are 32 bits in their column, with the column's own
//   side map for any other bigint (id_column.h).
//
// INVARIANTS (between Apply calls)
//   * The parent links form a forest (no cycles).
//   * A node with parent_id set and an unknown parent is an orphan: parent
//     slot kNil and listed in waiting_children_[parent_id].
//   * Columns the nodes do not hold (see ROW COLUMNS) are in side maps by
//     slot, each entry present exactly when the node needs it:
//     loose_parent_ids_[slot] == parent_id for every orphan namespace;
//     loose_namespace_ids_[slot] == namespace_id for every orphan project
//     (live, ns == kNil); loose_project_namespace_ids_[slot] ==
//     project_namespace_id for every project listed in waiting_own_project_
//     (under that key); wide_*_visibility_ for live rows whose
//     visibility_level is kWideVisibility in the node. (Inside Apply a
//     detached or unlinked row's id is held by the caller instead.)
//   * OwnProject(s) == p exactly when project_pn_slots_[p] == s.
//   * pn_below_ has keys only of project namespaces, other_own_project_ only
//     of other types, and no kNil values.
//   * For every node, sub_* equal the sums defined in NsBelow below.
//   * BelowIndex(s) is kNil or an index into below_ that no other live node
//     holds; free_below_ lists the indexes no node holds. A node without
//     one has nothing below it (empty lists, zero counters).
//   * laid_out on a node implies laid_out on every node below it, and that
//     LayoutAt(slot) describes its runs (see SLICES).
#pragma once

#include <boost/multi_index/hashed_index.hpp>
#include <boost/multi_index/member.hpp>
#include <boost/multi_index_container.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "big_array.h"
#include "canopy/lsn.h"
#include "canopy/query.h"
#include "canopy/rows.h"
#include "canopy/snapshot_pieces.h"
#include "canopy/status.h"
#include "id_column.h"
#include "id_sort.h"
#include "row_text.h"
#include "sharded_slot_set.h"
#include "slot_index.h"

namespace canopy {
struct HierarchyIndexOptions;  // canopy/hierarchy_index.h; only forest.cc reads it
}  // namespace canopy

namespace canopy::internal {

inline constexpr int64_t kNoId = std::numeric_limits<int64_t>::min();  // SQL NULL
// How many items ahead a pass that reads at random (the snapshot build's
// project links, counting sort, layout order and gather) fetches what it will
// read; a dependent second read is fetched half as far ahead.
inline constexpr uint32_t kPrefetchAhead = 16;

// ---- prepared transactions: names and paths already in their stored form (RowText) ----
struct NamespaceOp {
  int64_t id;
  int64_t parent_id;  // kNoId = NULL
  NamespaceType type;
  int32_t visibility_level;
  ColumnMask present;
  RowText text;  // name and path (each meaningful only if present)
};
struct ProjectOp {
  int64_t id;
  int64_t namespace_id;
  int64_t project_namespace_id;  // kNoId = NULL
  int32_t visibility_level;
  bool archived, pending_delete;
  ColumnMask present;
  RowText text;
};
struct DeleteOp {
  Table table;
  int64_t id;
};
using Op = std::variant<NamespaceOp, ProjectOp, RunnerLinkRow, DeleteOp, TruncateTable>;

// A snapshot's rows as the loader delivered them: pieces in order, read as
// one transaction (their concatenation) without being concatenated.
using RowPieces = std::vector<std::vector<RowChange>>;

// A transaction ready to be applied to both copies. It holds one reference on
// every row text it carries until it is destroyed.
class PreparedTransaction {
 public:
  // Big transactions (a snapshot) are prepared on two threads. Throws
  // std::bad_alloc, having released what it made.
  explicit PreparedTransaction(const Transaction& txn);
  // The concatenation of `pieces` as one transaction at `at`.
  PreparedTransaction(Lsn at, std::span<const std::vector<RowChange>> pieces);
  // A relayout (Forest::Compact) at the current LSN.
  struct CompactTag {};
  PreparedTransaction(CompactTag, Lsn at) : lsn(at), compact(true) {}
  // A snapshot for an empty copy, read straight from the caller's pieces
  // as they are delivered (which must outlive this; the build empties them
  // once it no longer needs them): built in passes when it can be (see
  // Forest::BulkBuild), else prepared and applied as any transaction.
  struct SnapshotTag {};
  PreparedTransaction(SnapshotTag, Lsn at, SnapshotPieces* pieces) : lsn(at), snapshot(pieces) {}
  ~PreparedTransaction();
  PreparedTransaction(PreparedTransaction&& o) noexcept
      : lsn(o.lsn), ops(std::move(o.ops)), compact(o.compact), snapshot(o.snapshot) {}
  PreparedTransaction(const PreparedTransaction&) = delete;
  PreparedTransaction& operator=(const PreparedTransaction&) = delete;
  // Unrefs the texts of `ops` and empties it.
  static void ReleaseTexts(std::vector<Op>& ops);

  Lsn lsn;
  std::vector<Op> ops;
  bool compact = false;
  SnapshotPieces* snapshot = nullptr;  // not owned; ops is empty then
};

// A visibility_level held in 16 bits. GitLab's levels (0, 10, 20) fit; the
// column is an integer, so any other value stays exact: kWideVisibility in
// the node, the value in the copy's side map (Forest::wide_*_visibility_).
inline constexpr int16_t kWideVisibility = std::numeric_limits<int16_t>::min();
inline bool FitsNarrowVisibility(int32_t v) {
  return v > kWideVisibility && v <= std::numeric_limits<int16_t>::max();
}

// parent_id is not stored: a child's is its parent's id, a root's is NULL,
// an orphan's is in Forest::loose_parent_ids_ (a node detached inside Apply
// has none; the caller holds the one it attaches it with). Read it with
// Forest::ParentIdOf.
// What lies below a namespace: its two child lists, its own projects and
// its subtree counters. Kept apart from NsNode because most namespaces have
// nothing below them (project namespaces, three rows in seven of
// GitLab-shaped data, and leaf users and groups): a node has the index of
// its NsBelow in Forest::below_ (Forest::BelowIndex), or kNil, which reads
// as kNothingBelow. A
// node gets one when something is first placed below it and keeps it until
// it is freed or a Compact finds the record empty.
struct NsBelow {
  uint32_t first_child = kNil;     // user/group children
  uint32_t first_pn_child = kNil;  // project-namespace children
  uint32_t first_project = kNil;   // projects whose namespace_id is this node
  // Counters. "below" = strictly below this node.
  uint32_t sub_groups = 0;      // groups below
  uint32_t sub_pns = 0;         // project namespaces below
  uint32_t sub_projects = 0;    // projects of every Group in the subtree incl. self
  uint32_t sub_unarchived = 0;  // same for unarchived projects
  bool HasChildren() const { return first_child != kNil || first_pn_child != kNil; }
  // Nothing listed and every counter zero: the same as kNothingBelow.
  bool empty() const {
    return !HasChildren() && first_project == kNil && sub_groups == 0 && sub_pns == 0 &&
           sub_projects == 0 && sub_unarchived == 0;
  }
};
static_assert(sizeof(NsBelow) == 28);
inline constexpr NsBelow kNothingBelow{};

struct NsNode {
  uint32_t parent;  // slot; kNil for roots and orphans
  // Read and written through Forest::BelowIndex / OwnProject, never directly
  // (except on a fresh node, where kNil means neither). A project namespace
  // holds here the project that owns it (kNil: none); any other type, the
  // index of its NsBelow in Forest::below_ (kNil: nothing below). The other
  // value, which only data breaking GitLab's type rules has (something
  // below a project namespace, a project owning a user or group), is in a
  // side map (Forest::pn_below_, other_own_project_); SetNamespaceType moves
  // both values when a node changes between the two kinds.
  uint32_t below_or_own_project;
  uint32_t prev_sibling, next_sibling;
  int16_t visibility_level;  // kWideVisibility: see Forest::NamespaceVisibility
  NamespaceType type;
  enum class Attachment : uint8_t { kFree, kDetached, kRoot, kChild, kOrphan };
  Attachment attachment : 3;  // kDetached only inside Apply
  bool laid_out : 1;          // the subtree is unchanged since the last Compact (see SLICES)
  bool stale_runs : 1;        // Forest::run_deltas_ holds this slot (see SLICES)
  RowText text;
};
// 4 links (16) + visibility (2) + type (1) + flags (1) + text handle (4). It
// was 72 bytes with an int64 parent_id and an int32 visibility_level, 56
// with the child lists and counters (NsBelow) inside every node, 32 with a
// text pointer and 28 with its own-project link apart from its NsBelow index.
static_assert(sizeof(NsNode) == 24);

// namespace_id and project_namespace_id are not stored (see ROW COLUMNS):
// read them with Forest::NamespaceIdOf / ProjectNamespaceIdOf.
struct ProjNode {
  uint32_t ns;               // slot of namespace_id; kNil if unknown
  uint32_t prev, next;       // in the namespace's project list
  int16_t visibility_level;  // kWideVisibility: see Forest::ProjectVisibility
  bool archived : 1, pending_delete : 1, live : 1;
  RowText text;
};
// 3 links (12) + visibility (2) + flags (1), padded to 16, + text handle (4).
// It was 48 bytes with int64 namespace_id and project_namespace_id, an int32
// visibility_level and three bools, and 24 with a text pointer.
static_assert(sizeof(ProjNode) == 20);

// Root paths compare ignoring ASCII case (A-Z = a-z); other bytes compare
// exactly. GitLab paths are ASCII, so this is its LOWER(path) on real data.
inline char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}
inline bool AsciiCaseEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}
// FNV-1a of the ASCII-lowercased bytes (the map mixes the result further).
struct AsciiCaseHash {
  size_t operator()(std::string_view s) const {
    uint64_t h = 14695981039346656037ull;
    for (char c : s) {
      h ^= static_cast<unsigned char>(AsciiLower(c));
      h *= 1099511628211ull;
    }
    return static_cast<size_t>(h);
  }
};

// True roots (parent_id NULL) by path ignoring ASCII case, for Resolve.
// Holds one root slot per folded path in a hash set that hashes through the
// nodes' texts (4 bytes an entry instead of a path view and a vector); the
// other roots of the same folded path (rare: GitLab keeps top-level paths
// unique ignoring case) are listed in a side map under that first slot.
// REQUIRES: a root's text does not change while it is in the index.
class RootIndex {
 public:
  explicit RootIndex(const BigArray<NsNode>* nodes)
      : first_(Hash{nodes}, Equal{nodes}), nodes_(nodes) {}
  void Insert(uint32_t slot);
  void Erase(uint32_t slot);  // no-op when absent
  // Every root whose path folds to `path`, in no order; the span may point
  // into *scratch. Valid until the index changes.
  std::span<const uint32_t> Find(std::string_view path, std::vector<uint32_t>* scratch) const;
  // Slots renumbered (Compact): old slot -> new slot, the nodes already
  // moved to their new slots.
  void Renumber(const std::vector<uint32_t>& new_of);
  // The same roots as `other`, which indexes an equal node vector.
  void CopyFrom(const RootIndex& other);
  void Reserve(size_t n) { first_.Reserve(n); }
  void Clear() {
    first_.Clear();
    more_.clear();
  }
  size_t bytes() const;

 private:
  std::string_view PathOf(uint32_t slot) const { return (*nodes_)[slot].text.path(); }
  struct Hash {
    using is_transparent = void;
    const BigArray<NsNode>* nodes;
    size_t operator()(uint32_t slot) const { return AsciiCaseHash()((*nodes)[slot].text.path()); }
    size_t operator()(std::string_view path) const { return AsciiCaseHash()(path); }
  };
  struct Equal {
    using is_transparent = void;
    const BigArray<NsNode>* nodes;
    bool operator()(uint32_t a, uint32_t b) const {
      return AsciiCaseEquals((*nodes)[a].text.path(), (*nodes)[b].text.path());
    }
    bool operator()(std::string_view path, uint32_t slot) const {
      return AsciiCaseEquals(path, (*nodes)[slot].text.path());
    }
    bool operator()(uint32_t slot, std::string_view path) const {
      return AsciiCaseEquals((*nodes)[slot].text.path(), path);
    }
  };
  ShardedSlotSet<Hash, Equal> first_;
  boost::unordered_flat_map<uint32_t, std::vector<uint32_t>> more_;  // by the first slot
  const BigArray<NsNode>* nodes_;
};

struct LinkRecord {
  int64_t id;
  int64_t runner_id;
  int64_t namespace_id;
};
struct ById {};
struct ByNamespace {};
struct ByRunner {};
using LinkTable = boost::multi_index_container<
    LinkRecord, boost::multi_index::indexed_by<
                    boost::multi_index::hashed_unique<
                        boost::multi_index::tag<ById>,
                        boost::multi_index::member<LinkRecord, int64_t, &LinkRecord::id>>,
                    boost::multi_index::hashed_non_unique<
                        boost::multi_index::tag<ByNamespace>,
                        boost::multi_index::member<LinkRecord, int64_t, &LinkRecord::namespace_id>>,
                    boost::multi_index::hashed_non_unique<
                        boost::multi_index::tag<ByRunner>,
                        boost::multi_index::member<LinkRecord, int64_t, &LinkRecord::runner_id>>>>;

class Forest {
 public:
  explicit Forest(const HierarchyIndexOptions& options);
  ~Forest();
  Forest(const Forest&) = delete;
  Forest& operator=(const Forest&) = delete;

  // ---- writer (forest_apply.cc) ----
  // Applies one prepared transaction. Deterministic: the same sequence of
  // transactions gives both copies the same logical state. `other_copy` (the
  // other left-right copy, or nullptr) is only read, by Compact.
  void Apply(const PreparedTransaction& txn, const Forest* other_copy = nullptr);

  // Re-lays the copy out in tree order (forest_compact.cc). O(rows). When
  // no row changed since this copy's last Compact it keeps that layout (it
  // would be the same) and only takes `other_copy`'s runs when the two
  // already share a layout (the check compares the id columns). When
  // `other_copy` has changed no row since its own last Compact and that
  // Compact laid out the same rows at the same LSN (the same id columns and
  // subtree bounds, compared), its sorted runs are shared instead of built
  // again: they are immutable, and a function of the rows they were built
  // from.
  void Compact(const Forest* other_copy = nullptr);

  // Makes this copy equal to `other`: every node, list, index, waiting list
  // and counter, sharing the row texts (their references are taken). For
  // the second left-right copy of a freshly loaded index: a copy instead of
  // a replay (forest_compact.cc). O(rows). REQUIRES: nothing applied here
  // yet. Every data member below must be copied there (but spare_arrays_,
  // which is room, not state).
  void CopyFrom(const Forest& other);
  // Takes the arrays `other`'s snapshot build laid its nodes out of (their
  // pages are resident already; LayOut keeps them in bulk mode) as this
  // copy's room, so that CopyFrom(other) writes into them rather than into
  // fresh memory. Nothing if `other` kept none. REQUIRES: nothing applied
  // here yet; exclusive access to this copy (`other`'s readers may read on:
  // no reader reads what is taken).
  void TakeRoomFrom(Forest& other);

  // ---- readers (forest_queries.cc) ----
  Lsn lsn() const { return applied_lsn_; }
  uint32_t FindNamespace(int64_t id) const;
  uint32_t FindProject(int64_t id) const;

  Status SelfAndAncestors(int64_t ns, HierarchyOrder order, bool include_self,
                          std::vector<int64_t>* out) const;
  Status AncestorsUpto(int64_t ns, int64_t top, HierarchyOrder order,
                       std::vector<int64_t>* out) const;
  Result<int64_t> RootAncestor(int64_t ns) const;
  // sorted=false (IdOrder::kAny) leaves the ids in walk order: each id is
  // still there exactly once (a walk visits a node once; the ancestors
  // SelfAndHierarchy appends lie strictly above the subtree).
  Status SelfAndDescendants(int64_t ns, bool include_pns, bool include_self,
                            std::vector<int64_t>* out, bool sorted = true) const;
  Status SelfAndHierarchy(int64_t ns, bool include_pns, std::vector<int64_t>* out,
                          bool sorted = true) const;
  Status ProjectIds(int64_t ns, bool unarchived_only, std::vector<int64_t>* out,
                    bool sorted = true) const;
  Status ProjectAncestors(int64_t project, HierarchyOrder order, std::vector<int64_t>* out) const;
  void RunnersOfGroups(std::span<const int64_t> namespaces, std::vector<int64_t>* out) const;
  Status RunnersOfGroupAndAncestors(int64_t ns, std::vector<int64_t>* out) const;
  Status RunnersOfParentGroupsOfProject(int64_t project, std::vector<int64_t>* out) const;
  Result<SubtreeCounts> Counts(int64_t ns) const;
  Result<std::string> NamespaceFullPath(int64_t ns) const;
  Result<std::string> ProjectFullPath(int64_t project) const;
  Result<ResolvedPath> Resolve(std::string_view full_path) const;
  std::optional<NamespaceRow> GetNamespace(int64_t id) const;
  std::optional<ProjectRow> GetProject(int64_t id) const;
  std::optional<RunnerLinkRow> GetRunnerLink(int64_t id) const;
  // How many of this copy's sorted runs are the very objects `other` holds
  // for the same slot (shared, not equal copies), and how many it holds.
  std::pair<size_t, size_t> SortedRunsSharedWith(const Forest& other) const;
  // Whether namespace `id` has sorted runs, and whether they are stale
  // (with a delta; see SLICES). For tests.
  bool HasSortedRuns(int64_t id) const {
    const uint32_t slot = FindNamespace(id);
    return slot != kNil && FindSortedRuns(slot) != nullptr;
  }
  bool HasStaleRuns(int64_t id) const {
    const uint32_t slot = FindNamespace(id);
    return slot != kNil && run_deltas_.contains(slot);
  }
  // How many ids namespace `id`'s delta lists hold (all three sets).
  size_t StaleDeltaIds(int64_t id) const {
    const auto d = run_deltas_.find(FindNamespace(id));
    if (d == run_deltas_.end()) return 0;
    size_t n = 0;
    for (size_t part = 0; part < 3; ++part) n += d->second.size(part);
    return n;
  }
  // Whether this copy's layout is the very array `other` holds.
  bool LayoutSharedWith(const Forest& other) const {
    return layout_ != nullptr && layout_ == other.layout_;
  }
  std::vector<int64_t> ListNamespaceIds() const;
  std::vector<int64_t> ListProjectIds() const;
  std::vector<int64_t> ListOrphanNamespaceIds() const;
  IdAnswer Run(const IdQuery& query) const;
  // The same into *out, reusing its ids' capacity.
  void Run(const IdQuery& query, IdAnswer* out) const;
  // Everything but the publish figures, which the HierarchyIndex owns.
  // memory_bytes covers this copy's structures only, not the shared strings.
  IndexStats Stats() const;
  // Bytes of the strings this copy references (the same strings as the other copy's).
  uint64_t string_bytes() const;

 private:
  // A laid-out subtree's runs in ascending id order (see SLICES).
  // Each is kept only when chosen (see BuildSortedRuns); each is shared by
  // every SortedRuns that holds it (a fold replaces one, the others stay).
  struct SortedRuns {
    using Run = std::shared_ptr<const SortedIdRun>;
    Run groups;          // self and the groups below
    Run groups_and_pns;  // ... and the project namespaces below
    Run projects;        // the groups' projects
    // By SubtreePart: groups, groups_and_pns, projects.
    const Run& at(size_t part) const {
      return part == 0 ? groups : part == 1 ? groups_and_pns : projects;
    }
    Run& at(size_t part) { return part == 0 ? groups : part == 1 ? groups_and_pns : projects; }
    size_t largest() const {
      size_t n = 0;
      for (size_t part = 0; part < 3; ++part) n = std::max(n, at(part) ? at(part)->size() : 0);
      return n;
    }
    size_t bytes() const;
  };
  // A namespace's contribution to each ancestor's counters.
  struct Contribution {
    uint32_t groups, pns, projects, unarchived;
  };

  // ---- row columns held outside the nodes (forest.cc; see ROW COLUMNS) ----
  int64_t ParentIdOf(uint32_t slot) const;
  int64_t NamespaceIdOf(uint32_t project) const;
  int64_t ProjectNamespaceIdOf(uint32_t project) const;
  int32_t NamespaceVisibility(uint32_t slot) const;
  int32_t ProjectVisibility(uint32_t project) const;
  void SetNamespaceVisibility(uint32_t slot, int32_t visibility_level);
  void SetProjectVisibility(uint32_t project, int32_t visibility_level);

  // ---- what lies below a namespace (forest.cc) ----
  const NsBelow& BelowOf(uint32_t slot) const {
    const uint32_t b = BelowIndex(slot);
    return b == kNil ? kNothingBelow : below_[b];
  }
  // The two values NsNode::below_or_own_project stands for: `slot`'s index
  // in below_ and the project that owns it (kNil: none).
  static bool HoldsOwnProject(NamespaceType type) { return type == NamespaceType::kProject; }
  uint32_t BelowIndex(uint32_t slot) const {
    const NsNode& n = ns_[slot];
    if (!HoldsOwnProject(n.type)) return n.below_or_own_project;
    return pn_below_.empty() ? kNil : SideValue(pn_below_, slot);
  }
  uint32_t OwnProject(uint32_t slot) const {
    const NsNode& n = ns_[slot];
    if (HoldsOwnProject(n.type)) return n.below_or_own_project;
    return other_own_project_.empty() ? kNil : SideValue(other_own_project_, slot);
  }
  // Both may throw std::bad_alloc (the side map), having changed nothing.
  void StoreBelowIndex(uint32_t slot, uint32_t below);
  void StoreOwnProject(uint32_t slot, uint32_t project);
  // Either of them: own_project says which value `value` is.
  void StoreFieldOrSide(uint32_t slot, uint32_t value, bool own_project);
  // Sets `slot`'s type, moving the two values above to where the new type
  // keeps them. May throw std::bad_alloc, having changed nothing.
  void SetNamespaceType(uint32_t slot, NamespaceType type);
  static uint32_t SideValue(const boost::unordered_flat_map<uint32_t, uint32_t>& map,
                            uint32_t slot) {
    const auto it = map.find(slot);
    return it == map.end() ? kNil : it->second;
  }
  // The same, writable: gives `slot` an NsBelow of its own when it has none.
  NsBelow& MutableBelowOf(uint32_t slot);
  // Gives back `slot`'s NsBelow, if any, as it is (MutableBelowOf resets a
  // record when it hands it out again).
  void FreeBelow(uint32_t slot);

  // ---- stale sorted runs (forest.cc; see SLICES) ----
  // Subtree `top` (detached or attached; its own links are not read) joins
  // (add) or leaves the subtree of `parent` and of every node above it:
  // the ids it brings or takes go to the deltas of those that have one.
  void NoteSubtree(uint32_t parent, uint32_t top, bool add);
  // Project `id` joins or leaves namespace `ns`'s list.
  void NoteProject(uint32_t ns, int64_t id, bool add);
  // `slot`'s delta of set `part` goes into a new sorted run for that set
  // (the old one stays as it is for the other copy, which may share it),
  // and starts empty; or, under RunDelta::Cap, only the ids noted in the
  // run's last chunk go, and the others stay noted. O(the run from its
  // first change on; for the last chunk's ids alone, that chunk, the ids
  // noted and the run's chunk list).
  void FoldDelta(uint32_t slot, size_t part);
  // `slot`'s sorted runs and delta go: its answers walk until the next Compact.
  void DropRuns(uint32_t slot);
  // The runs of every node in runs_to_rebuild_ that still has stale runs
  // are made again from the walk's answers, with empty lists.
  // O(their subtrees).
  void RebuildNotedRuns();
  // Makes `slot`'s runs of the chosen sets from the walk's answers (*ids:
  // scratch) and keeps them as its stale runs, with empty lists.
  // REQUIRES: `slot` is a group, not laid out, without a delta.
  void KeepRunsFromWalk(uint32_t slot, bool groups, bool groups_and_pns, bool projects,
                        std::vector<int64_t>* ids);
  // Node `slot`'s counters grew to `after` from a biggest set of
  // `largest_before`; a group not laid out, without runs, whose sets grew
  // to GrownRunMinIds() is queued in runs_to_make_. REQUIRES: grown_runs_
  // (the counter updates compute nothing for it otherwise).
  void NoteGrowth(uint32_t slot, uint64_t largest_before, const NsBelow& after) {
    if (largest_before < GrownRunMinIds() && LargestSet(after) >= GrownRunMinIds()) {
      const NsNode& n = ns_[slot];
      if (n.type == NamespaceType::kGroup && !n.laid_out && !n.stale_runs) {
        runs_to_make_.push_back(slot);
      }
    }
  }
  // The size of the biggest of a group's three sets (SubtreePart) by its counters.
  static uint64_t LargestSet(const NsBelow& b) {
    return std::max(uint64_t{b.sub_groups} + b.sub_pns + 1, uint64_t{b.sub_projects});
  }
  // Each group in runs_to_make_ that is still not laid out, has no runs and
  // has a set of GrownRunMinIds() ids or more (up to MaxGrownRunIds()) gets
  // stale runs of all three sets made from the walk's answers, with empty
  // lists, while the ids of the runs made since the last Compact, counted
  // when made (sorted_run_ids_; folds are not counted), stay within
  // Compact's budget (three ids per two rows). O(their subtrees): at most
  // 3 x MaxGrownRunIds() ids each, about GrownRunMinIds() when a group grows
  // one write at a time.
  void MakeGrownRuns();
  // The size at which a group not laid out gets runs: sorted_run_min_ids
  // (512 by default). Small, so that the walk that makes them stays short in
  // a subtree scattered by growth (about 150 ns an id, with throwaway timers
  // in BM_GrowthStall's writes: 0.25 ms for three sets of 512); the runs
  // then follow the group's growth through their deltas and folds.
  uint64_t GrownRunMinIds() const { return sorted_run_min_ids_; }
  // The biggest set MakeGrownRuns walks for: 4 x GrownRunMinIds() (2,048
  // ids by default), so that a write makes runs for groups that grew, not
  // for one that passed that size in one write, as when a big subtree joins
  // it (whose answers copy the moved subtree's runs: it stays laid out).
  uint64_t MaxGrownRunIds() const { return uint64_t{4} * GrownRunMinIds(); }

  // ---- structure edits (forest.cc) ----
  uint32_t AllocNamespace();
  uint32_t AllocProject();
  Contribution ContributionOf(uint32_t slot) const;
  void AddToAncestors(uint32_t from, const Contribution& c, bool subtract);
  // Links `slot` under `parent` (a live node) and updates counters.
  void LinkChild(uint32_t parent, uint32_t slot);
  // Only the list part of LinkChild: no counters, nothing marked changed.
  void PushChild(uint32_t parent, uint32_t slot);
  // Removes `slot` from its parent's child list (if attached), updating
  // counters. Also leaves orphan waiting lists (and loose_parent_ids_) and
  // the root-path index. A detached node has no parent_id of its own: the
  // caller holds the one to Attach it with.
  void Detach(uint32_t slot);
  // Attaches a detached node with `parent_id`: as a root (kNoId), under its
  // parent, or as an orphan waiting for the parent. Refuses cycles. On a
  // cycle the node keeps `fallback_parent_id` (its old parent) when
  // `has_fallback`, else becomes a root.
  void Attach(uint32_t slot, int64_t parent_id, bool has_fallback, int64_t fallback_parent_id);
  // Attaches orphans (namespaces and projects) waiting for `slot`'s id.
  void AdoptWaiting(uint32_t slot);
  bool IsAncestorOrSelf(uint32_t maybe_ancestor, uint32_t slot) const;
  // Into namespace `namespace_id` (or its waiting list). REQUIRES: unlinked.
  void LinkProject(uint32_t project, int64_t namespace_id);
  // Only the list part of LinkProject, into live namespace `ns`: no
  // counters, nothing marked changed.
  void PushProject(uint32_t ns, uint32_t project);
  // From its namespace (or waiting list). Its namespace_id is then the caller's to keep.
  void UnlinkProject(uint32_t project);
  void ProjectCountDelta(uint32_t ns, int projects, int unarchived);
  // Projects whose namespace_id is this node: O(their number).
  void CountOwnList(uint32_t ns, uint32_t* projects, uint32_t* unarchived) const;
  // Binds `project` to project namespace `pn_id` (kNoId: none), or lists it
  // as waiting for it. REQUIRES: unbound.
  void BindOwnProject(uint32_t project, int64_t pn_id);
  // The same with `pn` = FindNamespace(pn_id) already looked up.
  void BindOwnProject(uint32_t project, int64_t pn_id, uint32_t pn);
  // From its project namespace (or waiting list); the next waiting project
  // takes its place.
  void UnbindOwnProject(uint32_t project);
  // Makes `project` the own project of namespace `pn` (both directions).
  void SetOwnProject(uint32_t pn, uint32_t project);
  void RemoveFromWaiting(boost::unordered_flat_map<int64_t, std::vector<uint32_t>>& waiting,
                         int64_t key, uint32_t slot);
  // Sets a row's text to (name, path): keeps it if equal, shares `incoming`
  // if that matches, else allocates. Returns whether the text changed.
  // `name`/`path` may point into `stored`.
  bool SetText(RowText& stored, const RowText& incoming, std::string_view name,
               std::string_view path);
  void FreeNamespace(uint32_t slot);
  void FreeProject(uint32_t slot);
  // The subtree of `slot` changed: it and its ancestors are no longer laid out.
  void MarkChanged(uint32_t slot);
  // Nothing is laid out any more (truncate).
  void ForgetLayout();
  // Gives each project its project namespace's text where the two have the
  // same name and path (GitLab keeps them so): one allocation for both rows
  // (string_bytes_ keeps counting it for each). Part of Compact, for the
  // pairs whose texts became equal after Apply last wrote the project.
  void ShareProjectTexts();
  // The same for one project (Apply does it after writing a project).
  void ShareOwnPnText(uint32_t project);
  // The text of `project`'s own project namespace when it has this name and
  // path, else null: the text the project shares (the one rule for
  // ShareOwnPnText and the snapshot build).
  const RowText* OwnPnTextEqualTo(uint32_t project, std::string_view name,
                                  std::string_view path) const;
  // Compact's new order of the slots (see LayoutOrder below).
  struct LayoutOrder;
  LayoutOrder ComputeLayoutOrder() const;
  // Compact's work in the order `lo` (ComputeLayoutOrder's, or a bulk
  // build's: see BulkBuild).
  void LayOut(LayoutOrder lo, const Forest* other_copy);
  // The same from the nodes' parent links and the projects' namespace links
  // alone, for a bulk build's nodes, which have no lists (each node's
  // children and projects in slot order); it also says which nodes have
  // something listed below them (LayoutOrder::listed_below).
  LayoutOrder ComputeLayoutOrderFromLinks() const;
  // Both, over what the first three callables list below each node
  // (forest_compact.cc); `ahead(x)` is called for a node whose lists are read
  // soon (a prefetch hint).
  template <typename Children, typename PnChildren, typename Projects, typename Ahead>
  LayoutOrder ComputeLayoutOrderOver(const Children& children, const PnChildren& pn_children,
                                     const Projects& projects, const Ahead& ahead) const;
  // Every node's subtree counters from its children's and its own projects,
  // children before parents. REQUIRES: each node's slot after its parent's
  // (a layout), every counter zero, the lists made.
  void ComputeSubtreeCounters();
  // Compact's last step: sorted_runs_ for the biggest laid-out subtrees.
  void BuildSortedRuns();
  // Or that step as a share of `other`'s runs, when they are the ones
  // BuildSortedRuns would make here (see Compact); whether it did.
  bool ShareSortedRunsOf(const Forest* other);
  // The sorted runs of laid-out `slot`, or null.
  const SortedRuns* FindSortedRuns(uint32_t slot) const;

  // ---- snapshot build (forest_bulk.cc) ----
  // Applies a snapshot (the concatenation of `pieces`, waited for as they
  // are delivered) to this copy: through BulkBuild when it can, else
  // prepared and applied by Apply's rules. Changes nothing when the pieces
  // are abandoned. A copy BulkBuild made is laid out at once (LayOut), so
  // the Compact that follows a snapshot (HierarchyIndex::BulkLoad) finds
  // nothing changed.
  void ApplySnapshot(SnapshotPieces& pieces, Lsn lsn);
  enum class BulkBuildResult { kBuilt, kGaveUp, kAbandoned };
  // Builds this empty copy from upserts with unique keys, as Apply would,
  // but for what a layout makes anyway: it leaves the nodes without child
  // and project lists and with zero counters, and *order set (kBuilt),
  // for the LayOut that must follow at once (ApplySnapshot calls it; only
  // it may read the copy in between; a std::bad_alloc in it
  // leaves the copy without them, which HierarchyIndex then never
  // publishes: the index is marked failed). It starts on each piece as
  // soon as it is delivered, and frees each piece
  // as soon as its rows are no longer needed (so that the rows and what is
  // built from them are not all held at once), then empties them all; sets
  // *rows to the number of rows (kBuilt). When it cannot (not empty, a
  // delete or truncate, a repeated key, a cycle) it waits for every piece,
  // leaves the copy as it found it and the pieces holding rows with the same
  // effect as the ones delivered (a freed piece of namespace rows made again
  // from its nodes, every column present), and returns kGaveUp: Apply's
  // rules decide then. kAbandoned: the pieces were abandoned; the copy is as
  // it was found.
  // Throws std::bad_alloc (some pieces may be freed by then).
  BulkBuildResult BulkBuild(SnapshotPieces& pieces, size_t* rows, LayoutOrder* order);
  // For BulkBuild giving up: refills each of the first `pieces_built` pieces
  // that held namespace rows only (freed by then) with the rows of its nodes,
  // slots namespaces_end[k - 1] up to namespaces_end[k], parent ids from
  // `parent_ids` (by slot).
  void RestoreFreedNamespacePieces(SnapshotPieces& pieces,
                                   const std::vector<uint32_t>& namespaces_end, size_t pieces_built,
                                   const std::vector<int64_t>& parent_ids);
  void ResetAfterFailedBulkBuild();  // empties the copy

  // ---- transaction application (forest_apply.cc) ----
  void ApplySegment(std::span<const Op> ops);
  void ApplyTruncate(Table table);
  void DeleteNamespaceNode(uint32_t slot);

  // ---- reads (forest_queries.cc) ----
  // What a subtree answer collects.
  enum class SubtreePart : uint8_t {
    kGroups,        // groups
    kGroupsAndPns,  // namespaces of any type
    kProjects,      // the projects of groups (unarchived_only: only those not archived)
  };
  using SortedPieces = std::vector<const SortedIdRun*>;
  // The ascending answer of not-laid-out group `slot` for `part` (all of
  // its projects for kProjects) from its stale sorted run and delta (see
  // SLICES), into *out; without `slot` itself when !include_self. False
  // when it has none.
  bool StaleRunAnswer(uint32_t slot, SubtreePart part, bool include_self,
                      std::vector<int64_t>* out) const;
  // Appends `part` of the subtree strictly below `slot` to *out in tree
  // order (for kProjects, the projects of the groups below, not slot's
  // own). Walks the nodes that changed since the last Compact and copies
  // the runs of laid-out groups below them (see SLICES), so a change costs
  // the answers of its chain only. With sorted_pieces, runs that have a
  // sorted copy are not copied but added there, for SortAndMergeIds.
  void CollectBelow(uint32_t slot, SubtreePart part, bool unarchived_only,
                    std::vector<int64_t>* out, SortedPieces* sorted_pieces) const;
  // The same for laid-out group `slot` and everything below it, from its runs.
  // REQUIRES: use_slices_ and ns_[slot] is a laid-out group.
  void CollectLaidOut(uint32_t slot, SubtreePart part, bool unarchived_only,
                      std::vector<int64_t>* out, SortedPieces* sorted_pieces) const;
  // Visits every namespace strictly below `slot`, any type, by walking.
  template <typename Visit>
  void WalkAll(uint32_t slot, Visit&& visit) const;
  void AppendChain(uint32_t slot, std::vector<int64_t>* out) const;
  // Appends the ids of namespace slots [begin, end) / project slots.
  void AppendNamespaceRun(uint32_t begin, uint32_t end, std::vector<int64_t>* out) const;
  void AppendProjectRun(uint32_t begin, uint32_t end, bool unarchived_only,
                        std::vector<int64_t>* out) const;
  // Appends the projects whose namespace is `slot`.
  void AppendProjectsOf(uint32_t slot, bool unarchived_only, std::vector<int64_t>* out) const;
  void AppendRunnersOf(int64_t ns, std::vector<int64_t>* out) const;
  // Resolve's two phases; `roots` are the roots whose path matches the first
  // segment ignoring case. True and *out set when found.
  uint32_t BetterNamespace(uint32_t best, uint32_t candidate) const;
  bool ResolveExact(std::string_view full_path, std::span<const uint32_t> roots,
                    ResolvedPath* out) const;
  bool ResolveIgnoringCase(std::string_view full_path, std::span<const uint32_t> roots,
                           ResolvedPath* out) const;

  BigArray<NsNode> ns_;
  // What lies below the namespaces that have anything below them (NsNode::below).
  BigArray<NsBelow> below_;
  std::vector<uint32_t> free_below_;
  IdColumn ns_ids_;  // ns_ids_[slot]: the id of ns_[slot]
  std::vector<uint32_t> free_ns_;
  SlotIndex ns_by_id_{&ns_ids_};
  BigArray<ProjNode> projects_;
  IdColumn project_ids_;  // project_ids_[slot]: the id of projects_[slot]
  // project_pn_slots_[slot]: the namespace whose OwnProject is projects_[slot], or kNil.
  BigArray<uint32_t> project_pn_slots_;
  std::vector<uint32_t> free_projects_;
  SlotIndex project_by_id_{&project_ids_};
  // The runs of the last Compact (see SLICES), for slots 0..layout_->size()-2
  // (the user/group namespaces it placed, in pre-order) plus one sentinel.
  // For a laid-out node at slot s: its user/group subtree is slots
  // [s, end); its project namespaces are slots [pns(s), pns(end)); its
  // groups' projects are project slots [projects(s), projects(end)).
  struct LayoutEntry {
    uint32_t end;       // one past the last slot of the subtree
    uint32_t pns;       // first project-namespace slot of the subtree
    uint32_t projects;  // first project slot of the subtree
    bool operator==(const LayoutEntry&) const = default;
  };
  using Layout = std::vector<LayoutEntry>;
  // Immutable once made (only Compact replaces it, ForgetLayout drops it),
  // so the two copies share it when their Compacts laid out the same tree
  // (Compact, CopyFrom): one array for both. Null: nothing laid out.
  std::shared_ptr<const Layout> layout_;
  const LayoutEntry& LayoutAt(uint32_t slot) const { return (*layout_)[slot]; }
  // By slot; valid while that slot's node is laid out, or with its delta
  // in run_deltas_ (see SLICES). Immutable once made, so the two copies may
  // share them: FoldDelta replaces this copy's entry with a new object (the
  // sets it did not fold still shared), never changes the old one.
  boost::unordered_flat_map<uint32_t, std::shared_ptr<const SortedRuns>> sorted_runs_;
  // What changed in a node's three sets (SubtreePart) since its sorted runs
  // were made or last folded, each only for a run the node has. The answer
  // is the run without the ids Resolve finds removed, merged with those it
  // finds added.
  struct RunDelta {
    const SortedRuns* runs;  // the node's, in sorted_runs_ (which keeps it alive)
    // The ids that joined / left each set since, as noted (a push each).
    // An id joins and leaves alternately, so one noted in both lists
    // cancels out pairwise (Resolve); only sets with a run are noted.
    std::vector<int64_t> joined[3], left[3];
    // In runs_to_rebuild_: nothing more is noted until the rebuild.
    bool rebuild_queued = false;
    // Per set: the ids whose change alters only the run's last chunk
    // (SortedIdRun::LastChunkIds of the run, set with it), and how many of
    // the ids noted are outside them.
    SortedIdRun::IdRange last_chunk[3];
    uint32_t outside_last_chunk[3] = {};
    explicit RunDelta(const SortedRuns* of) : runs(of) {
      for (size_t part = 0; part < 3; ++part) SetRun(part, runs->at(part).get());
    }
    // Set `part`'s run is now `run` (null: none).
    void SetRun(size_t part, const SortedIdRun* run) {
      last_chunk[part] = run != nullptr ? run->LastChunkIds() : SortedIdRun::IdRange{};
    }
    // `id` joins (add) or leaves set `part`. False when that set's lists
    // grew past Cap of its run, or hold more than kLastChunkFoldIds ids in
    // its last chunk (new ids): FoldDelta then.
    bool Note(size_t part, int64_t id, bool add);
    // The most ids a set's lists hold for a run of `run_ids`: a quarter
    // of a small run (at least 64), else kMaxDeltaIds, or a 16th of a run
    // of more than 16 x kMaxDeltaIds ids, so that a fold costs at most 16
    // ids copied per id noted.
    static size_t Cap(size_t run_ids);
    // Set `part`'s net change: *added the ids in it and not in its run,
    // *removed the ids of its run no longer in it; both ascending.
    void Resolve(size_t part, std::vector<int64_t>* added, std::vector<int64_t>* removed) const {
      ResolveIds(joined[part], left[part], added, removed);
    }
    // The same for lists `joined` and `left` (an id in both cancels out).
    static void ResolveIds(std::span<const int64_t> joined, std::span<const int64_t> left,
                           std::vector<int64_t>* added, std::vector<int64_t>* removed);
    size_t size(size_t part) const { return joined[part].size() + left[part].size(); }
  };
  // By slot, for exactly the nodes that have sorted runs and are not laid
  // out (MarkChanged drops the runs of the others); NsNode::stale_runs
  // marks them, so that the edits' walks up look here only for those.
  boost::unordered_flat_map<uint32_t, RunDelta> run_deltas_;
  // The most ids one change lists into deltas (a bigger subtree joining or
  // leaving drops the runs above it instead).
  static constexpr size_t kMaxNotedIds = 1024;
  // The most ids a delta holds per set for runs up to 16 x as many (see
  // RunDelta::Cap): the answers' sort of the delta stays short.
  static constexpr size_t kMaxDeltaIds = 1024;
  // How many ids a delta holds per set in its run's last chunk (see
  // RunDelta::Note; new ids) before FoldDelta folds those alone, copying
  // that chunk and them and sorting them, and keeps the others noted. (The
  // ids kept are counted outside the new run's last chunk even when some
  // fall in it, so a later fold may take a few more.)
  static constexpr size_t kLastChunkFoldIds = SortedIdRun::kChunkIds;
  // The smallest run that makes its node keep its runs stale when it goes
  // off: 8 x sorted_run_min_ids (4,096 ids by default; below it, the walk
  // and sort of an answer costs microseconds, less than keeping a delta
  // costs the writer).
  uint64_t StaleRunMinIds() const { return uint64_t{8} * sorted_run_min_ids_; }
  // The biggest set a change too big to list has its run rebuilt for at
  // the end of its Apply (RebuildNotedRuns, by the node's counters then):
  // 256 x StaleRunMinIds() (1,048,576 ids by default, a walk and sort of a
  // few milliseconds); bigger ones are dropped.
  uint64_t MaxRebuildIds() const { return uint64_t{256} * StaleRunMinIds(); }
  // Nodes whose runs a change too big to list made wrong, to be rebuilt from
  // a walk once the Apply has made every change (empty between Applies).
  std::vector<uint32_t> runs_to_rebuild_;
  // Groups that grew past GrownRunMinIds() without runs, not laid out: they
  // get runs made from the walk once the Apply has made every change
  // (MakeGrownRuns; empty between Applies). So a group made or grown since
  // the last layout answers from its runs too, not only the ones Compact
  // laid out.
  std::vector<uint32_t> runs_to_make_;
  // The ids of the runs the last Compact made (or shared) and MakeGrownRuns
  // made since, for MakeGrownRuns' budget: an estimate of what sorted_runs_
  // holds, which does not follow folds, rebuilds and drops.
  uint64_t sorted_run_ids_ = 0;
  // No row has changed since the last Compact made sorted_runs_ (every
  // Apply with changes clears it): only then may the other copy share them.
  bool runs_match_rows_ = false;
  // The arrays LayOut gathers the nodes into, in the new slot order. Empty,
  // or (a snapshot's build) with room already reserved and faulted in on a
  // thread of its own (BigArray::Prefault) while the layout order was made.
  struct LayoutArrays {
    BigArray<NsNode> nodes;
    IdColumn ns_ids;
    BigArray<ProjNode> projects;
    IdColumn project_ids;
    BigArray<uint32_t> project_pn_slots;
    // Room for `namespaces` and `projects` rows, faulted in.
    void Prefault(size_t namespaces, size_t projects);
  };
  // Compact's new order of the slots: user/group namespaces in pre-order,
  // then project namespaces by parent, then projects by namespace.
  struct LayoutOrder {
    std::vector<uint32_t> order;           // new namespace slot -> old
    std::vector<uint32_t> new_of;          // old namespace slot -> new; kNil: free
    size_t placed_groups = 0;              // order[0, placed_groups): users and groups
    size_t reached = 0;                    // order[0, reached): reached from a top
    Layout layout;                         // pns and projects filled in
    std::vector<uint32_t> project_order;   // new project slot -> old
    std::vector<uint32_t> new_project_of;  // old project slot -> new; kNil: free
    // ComputeLayoutOrderFromLinks only, by old slot: 1 when a child or a
    // project is listed below it (it gets an NsBelow; Compact then computes
    // the counters instead of copying them).
    std::vector<uint8_t> listed_below;
    size_t listed_below_count = 0;
    LayoutArrays arrays;  // where LayOut gathers the nodes
  };
  // The arrays a snapshot build's LayOut gathered the nodes from, kept for
  // the other copy (TakeRoomFrom); empty otherwise.
  LayoutArrays spare_arrays_;
  LinkTable links_;
  // True roots (parent_id NULL) by path ignoring ASCII case, for Resolve
  // (exact-case lookups filter the list Find gives).
  RootIndex roots_by_path_{&ns_};
  // Orphans by the id they wait for.
  boost::unordered_flat_map<int64_t, std::vector<uint32_t>> waiting_children_;
  boost::unordered_flat_map<int64_t, std::vector<uint32_t>> waiting_projects_;
  // Projects whose project_namespace_id is not (yet) a live namespace.
  boost::unordered_flat_map<int64_t, std::vector<uint32_t>> waiting_own_project_;
  // NsNode::below_or_own_project's other value, by namespace slot: project
  // namespaces' NsBelow index, other types' own project. Empty on data that
  // keeps GitLab's type rules.
  boost::unordered_flat_map<uint32_t, uint32_t> pn_below_;
  boost::unordered_flat_map<uint32_t, uint32_t> other_own_project_;
  // Row columns the nodes do not hold, by slot (see ROW COLUMNS and
  // INVARIANTS). Empty on consistent data with GitLab's visibility levels.
  boost::unordered_flat_map<uint32_t, int64_t> loose_parent_ids_;             // namespace slot
  boost::unordered_flat_map<uint32_t, int64_t> loose_namespace_ids_;          // project slot
  boost::unordered_flat_map<uint32_t, int64_t> loose_project_namespace_ids_;  // project slot
  boost::unordered_flat_map<uint32_t, int32_t> wide_ns_visibility_;
  boost::unordered_flat_map<uint32_t, int32_t> wide_project_visibility_;

  const bool use_slices_;              // HierarchyIndexOptions::layout_slices
  const bool grown_runs_;              // HierarchyIndexOptions::grown_runs (and layout_slices)
  const uint32_t sorted_run_min_ids_;  // HierarchyIndexOptions::sorted_run_min_ids
  // HierarchyIndexOptions::expected_namespaces / expected_projects: the
  // sizes a snapshot build reserves for while its pieces still arrive.
  const size_t expected_namespaces_, expected_projects_;
  Lsn applied_lsn_;
  uint64_t orphan_namespaces_ = 0;
  uint64_t orphan_projects_ = 0;
  uint64_t cycles_refused_ = 0;
  uint64_t unknown_deletes_ = 0;
  uint64_t transactions_applied_ = 0;
  uint64_t row_changes_applied_ = 0;
  uint64_t laid_out_ = 0;  // nodes with laid_out set
  // Of the texts this copy's rows reference (shared with the other copy),
  // summed over the rows: a text a project shares with its project
  // namespace counts for both, so this is an upper bound.
  uint64_t string_bytes_ = 0;
};

}  // namespace canopy::internal

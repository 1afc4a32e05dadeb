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
//   * SharedString payloads are shared by both copies; they are immutable
//     once created and freed only when neither copy references them.
//
// LAYOUT
//   Namespaces and projects live in dense vectors indexed by 32-bit slots,
//   with their ids in a separate column (ns_ids_, project_ids_); hash sets go
//   from id to slot. A namespace links to its parent, its first
//   child in two intrusive doubly-linked child lists (project namespaces in
//   their own list, so group-only walks skip them) and its first project.
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
//   (its runs still hold exactly its nodes). laid_out is set only where the
//   runs hold exactly what the walk would visit: groups all the way down,
//   project namespaces as leaves.
//   A run is in pre-order, not in id order. For the biggest laid-out
//   subtrees Compact() also keeps the runs sorted by id (SortedRuns, within
//   a memory budget), so that their ascending answers are copies too.
//
// INVARIANTS (between Apply calls)
//   * The parent links form a forest (no cycles).
//   * A node with parent_id set and an unknown parent is an orphan: parent
//     slot kNil and listed in waiting_children_[parent_id].
//   * For every node, sub_* equal the sums defined in NsNode below.
//   * laid_out on a node implies laid_out on every node below it, and that
//     layout_[slot] describes its runs (see SLICES).
#pragma once

#include <boost/multi_index/hashed_index.hpp>
#include <boost/multi_index/member.hpp>
#include <boost/multi_index_container.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "big_array.h"
#include "canopy/hierarchy_index.h"
#include "canopy/rows.h"

namespace canopy::internal {

inline constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();
inline constexpr int64_t kNoId = std::numeric_limits<int64_t>::min();  // SQL NULL

// The name and path of one row in a single immutable allocation, shared by
// both copies (and by the prepared transaction that brought it). The
// reference count is touched by the writer only; readers only read bytes.
// Empty name and path need no allocation.
class RowText {
 public:
  RowText() = default;
  static RowText Make(std::string_view name, std::string_view path);
  std::string_view name() const {
    if (blob_ == nullptr) return {};
    return blob_->name_is_path ? path()
                               : std::string_view(blob_->data + blob_->path_size, blob_->name_size);
  }
  std::string_view path() const {
    return blob_ ? std::string_view(blob_->data, blob_->path_size) : std::string_view();
  }
  bool Equals(std::string_view name, std::string_view path) const {
    return this->path() == path && this->name() == name;
  }
  bool same(const RowText& o) const { return blob_ == o.blob_; }
  void Ref() const {
    if (blob_) ++blob_->refs;
  }
  void Unref() {
    if (blob_ && --blob_->refs == 0) std::free(blob_);
    blob_ = nullptr;
  }
  size_t bytes() const { return blob_ ? sizeof(Blob) + blob_->path_size + blob_->name_size : 0; }

 private:
  struct Blob {
    uint32_t refs;
    uint32_t path_size;
    uint32_t name_size;  // 0 when name_is_path
    bool name_is_path;
    char data[1];  // path bytes, then name bytes
  };
  Blob* blob_ = nullptr;
};

// ---- prepared transactions: strings already turned into SharedStrings ----
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

// A transaction ready to be applied to both copies. It holds one reference on
// every row text it carries until it is destroyed.
class PreparedTransaction {
 public:
  // Big transactions (a snapshot) are prepared on two threads. Throws
  // std::bad_alloc, having released what it made.
  explicit PreparedTransaction(const Transaction& txn);
  // A relayout (Forest::Compact) at the current LSN.
  struct CompactTag {};
  PreparedTransaction(CompactTag, Lsn at) : lsn(at), compact(true) {}
  ~PreparedTransaction();
  PreparedTransaction(PreparedTransaction&& o) noexcept
      : lsn(o.lsn), ops(std::move(o.ops)), compact(o.compact), bulk(o.bulk) {}
  PreparedTransaction(const PreparedTransaction&) = delete;
  PreparedTransaction& operator=(const PreparedTransaction&) = delete;
  // Unrefs the texts of `ops` and empties it.
  static void ReleaseTexts(std::vector<Op>& ops);

  Lsn lsn;
  std::vector<Op> ops;
  bool compact = false;
  // A snapshot for an empty copy: built in passes when it can be (see
  // Forest::BulkBuild), else applied as any transaction.
  bool bulk = false;
};

struct NsNode {
  int64_t parent_id;        // kNoId = NULL
  uint32_t parent;          // slot; kNil for roots and orphans
  uint32_t first_child;     // user/group children
  uint32_t first_pn_child;  // project-namespace children
  uint32_t prev_sibling, next_sibling;
  uint32_t first_project;  // projects whose namespace_id is this node
  uint32_t own_project;    // project namespaces: the project that owns it
  // Counters. "below" = strictly below this node.
  uint32_t sub_groups;      // groups below
  uint32_t sub_pns;         // project namespaces below
  uint32_t sub_projects;    // projects of every Group in the subtree incl. self
  uint32_t sub_unarchived;  // same for unarchived projects
  int32_t visibility_level;
  NamespaceType type;
  enum class Attachment : uint8_t { kFree, kDetached, kRoot, kChild, kOrphan };
  Attachment attachment;  // kDetached only inside Apply
  bool laid_out;          // the subtree is unchanged since the last Compact (see SLICES)
  RowText text;
};

struct ProjNode {
  int64_t namespace_id;
  int64_t project_namespace_id;  // kNoId = NULL
  uint32_t ns;                   // slot of namespace_id; kNil if unknown
  uint32_t prev, next;           // in the namespace's project list
  int32_t visibility_level;
  bool archived, pending_delete, live;
  RowText text;
};

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
struct AsciiCaseEqual {
  bool operator()(std::string_view a, std::string_view b) const { return AsciiCaseEquals(a, b); }
};

// A hash set of slots looked up by the id stored in each slot's entry of an
// id column: the id -> slot index costs 4 bytes per entry instead of a
// 16-byte pair.
class SlotIndex {
 public:
  explicit SlotIndex(const BigArray<int64_t>* ids) : set_(0, Hash{ids}, Equal{ids}) {}
  // The slot holding `id`, or kNil.
  uint32_t Find(int64_t id) const {
    auto it = set_.find(id);
    return it == set_.end() ? kNil : *it;
  }
  // REQUIRES: (*ids)[slot] is set and no other slot holds that id.
  void Insert(uint32_t slot) { set_.insert(slot); }
  void Erase(int64_t id) {
    auto it = set_.find(id);
    if (it != set_.end()) set_.erase(it);
  }
  void Reserve(size_t n) { set_.reserve(n); }
  void Clear() { set_.clear(); }
  size_t size() const { return set_.size(); }
  size_t bytes() const { return set_.bucket_count() * (sizeof(uint32_t) + 1); }
  auto begin() const { return set_.begin(); }
  auto end() const { return set_.end(); }

 private:
  struct Hash {
    using is_transparent = void;
    const BigArray<int64_t>* ids;
    size_t operator()(uint32_t slot) const { return std::hash<int64_t>()((*ids)[slot]); }
    size_t operator()(int64_t id) const { return std::hash<int64_t>()(id); }
  };
  struct Equal {
    using is_transparent = void;
    const BigArray<int64_t>* ids;
    bool operator()(uint32_t a, uint32_t b) const { return (*ids)[a] == (*ids)[b]; }
    bool operator()(int64_t id, uint32_t slot) const { return (*ids)[slot] == id; }
    bool operator()(uint32_t slot, int64_t id) const { return (*ids)[slot] == id; }
  };
  boost::unordered_flat_set<uint32_t, Hash, Equal> set_;
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
  // transactions gives both copies the same logical state.
  void Apply(const PreparedTransaction& txn);

  // Re-lays the copy out in tree order (forest_compact.cc). O(rows).
  void Compact();

  // Makes this copy equal to `other`: every node, list, index, waiting list
  // and counter, sharing the row texts (their references are taken). For
  // the second left-right copy of a freshly loaded index: a copy instead of
  // a replay (forest_compact.cc). O(rows). REQUIRES: nothing applied here
  // yet. Every data member below must be copied there.
  void CopyFrom(const Forest& other);

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
  struct SortedRuns {
    std::vector<int64_t> groups;          // self and the groups below
    std::vector<int64_t> groups_and_pns;  // ... and the project namespaces below
    std::vector<int64_t> projects;        // the groups' projects
    bool has_groups = false, has_groups_and_pns = false, has_projects = false;  // kept
  };
  // A namespace's contribution to each ancestor's counters.
  struct Contribution {
    uint32_t groups, pns, projects, unarchived;
  };

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
  // counters; the node keeps its parent_id. Also leaves orphan waiting
  // lists and the root-path index.
  void Detach(uint32_t slot);
  // Attaches a detached node according to its parent_id: as a root, under
  // its parent, or as an orphan waiting for the parent. Refuses cycles.
  // On a cycle the node keeps `fallback_parent_id` (its old parent) when
  // `has_fallback`, else becomes a root.
  void Attach(uint32_t slot, bool has_fallback, int64_t fallback_parent_id);
  // Attaches orphans (namespaces and projects) waiting for `slot`'s id.
  void AdoptWaiting(uint32_t slot);
  bool IsAncestorOrSelf(uint32_t maybe_ancestor, uint32_t slot) const;
  void LinkProject(uint32_t project);    // into its namespace (or waiting list)
  void UnlinkProject(uint32_t project);  // from its namespace (or waiting list)
  void ProjectCountDelta(uint32_t ns, int projects, int unarchived);
  // Projects whose namespace_id is this node: O(their number).
  void CountOwnList(uint32_t ns, uint32_t* projects, uint32_t* unarchived) const;
  void BindOwnProject(uint32_t project);
  void UnbindOwnProject(uint32_t project);
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
  // Compact's last step: sorted_runs_ for the biggest laid-out subtrees.
  void BuildSortedRuns();
  // The sorted runs of laid-out `slot`, or null.
  const SortedRuns* FindSortedRuns(uint32_t slot) const;

  // ---- snapshot build (forest_bulk.cc) ----
  // Builds this empty copy from upserts with unique keys, as Apply would.
  // Returns false, leaving the copy empty, when it cannot (not empty, a
  // delete or truncate, a repeated key, a cycle): Apply's rules decide then.
  bool BulkBuild(std::span<const Op> ops);
  bool ResetAfterFailedBulkBuild();  // empties the copy; returns false

  // ---- transaction application (forest_apply.cc) ----
  void ApplySegment(std::span<const Op> ops);
  void ApplyTruncate(Table table);
  void DeleteNamespaceNode(uint32_t slot);

  // ---- reads (forest_queries.cc) ----
  template <typename Visit>
  void WalkGroups(uint32_t slot, Visit&& visit) const;
  template <typename Visit>
  void WalkAll(uint32_t slot, Visit&& visit) const;
  void AppendChain(uint32_t slot, std::vector<int64_t>* out) const;
  // Appends the ids of namespace slots [begin, end) / project slots.
  void AppendNamespaceRun(uint32_t begin, uint32_t end, std::vector<int64_t>* out) const;
  void AppendProjectRun(uint32_t begin, uint32_t end, std::vector<int64_t>* out) const;
  void AppendRunnersOf(int64_t ns, std::vector<int64_t>* out) const;
  // Resolve's two phases; `roots` are the roots whose path matches the first
  // segment ignoring case. True and *out set when found.
  uint32_t BetterNamespace(uint32_t best, uint32_t candidate) const;
  bool ResolveExact(std::string_view full_path, std::span<const uint32_t> roots,
                    ResolvedPath* out) const;
  bool ResolveIgnoringCase(std::string_view full_path, std::span<const uint32_t> roots,
                           ResolvedPath* out) const;

  BigArray<NsNode> ns_;
  BigArray<int64_t> ns_ids_;  // ns_ids_[slot]: the id of ns_[slot]
  std::vector<uint32_t> free_ns_;
  SlotIndex ns_by_id_{&ns_ids_};
  BigArray<ProjNode> projects_;
  BigArray<int64_t> project_ids_;  // project_ids_[slot]: the id of projects_[slot]
  std::vector<uint32_t> free_projects_;
  SlotIndex project_by_id_{&project_ids_};
  // The runs of the last Compact (see SLICES), for slots 0..layout_.size()-2
  // (the user/group namespaces it placed, in pre-order) plus one sentinel.
  // For a laid-out node at slot s: its user/group subtree is slots
  // [s, end); its project namespaces are slots [pns(s), pns(end)); its
  // groups' projects are project slots [projects(s), projects(end)).
  struct LayoutEntry {
    uint32_t end;       // one past the last slot of the subtree
    uint32_t pns;       // first project-namespace slot of the subtree
    uint32_t projects;  // first project slot of the subtree
  };
  std::vector<LayoutEntry> layout_;
  // By slot; valid while that slot's node is laid out. Immutable once made,
  // so the two copies may share them.
  boost::unordered_flat_map<uint32_t, std::shared_ptr<const SortedRuns>> sorted_runs_;
  LinkTable links_;
  // True roots (parent_id NULL) by path ignoring ASCII case, for Resolve:
  // each entry lists every root whose path folds to the key, in no order
  // (exact-case lookups filter the list). The key views the path of one of
  // the listed roots; Detach re-keys an entry whose key node leaves it.
  boost::unordered_flat_map<std::string_view, std::vector<uint32_t>, AsciiCaseHash, AsciiCaseEqual>
      roots_by_path_;
  // Orphans by the id they wait for.
  boost::unordered_flat_map<int64_t, std::vector<uint32_t>> waiting_children_;
  boost::unordered_flat_map<int64_t, std::vector<uint32_t>> waiting_projects_;
  // Projects whose project_namespace_id is not (yet) a live namespace.
  boost::unordered_flat_map<int64_t, std::vector<uint32_t>> waiting_own_project_;

  const bool use_slices_;              // HierarchyIndexOptions::layout_slices
  const uint32_t sorted_run_min_ids_;  // HierarchyIndexOptions::sorted_run_min_ids
  Lsn applied_lsn_;
  uint64_t orphan_namespaces_ = 0;
  uint64_t orphan_projects_ = 0;
  uint64_t cycles_refused_ = 0;
  uint64_t unknown_deletes_ = 0;
  uint64_t transactions_applied_ = 0;
  uint64_t row_changes_applied_ = 0;
  uint64_t laid_out_ = 0;      // nodes with laid_out set
  uint64_t string_bytes_ = 0;  // of strings this copy references (shared with the other)
};

}  // namespace canopy::internal

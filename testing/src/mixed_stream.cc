// MixedStream: GitLab-shaped write transactions over a GitlabForest, keeping
// the forest equal to the state after the last transaction.
//
// The model beside the rows: intrusive child lists (to enumerate a subtree for
// a transfer's per-node UPDATEs or a group delete), sets of live ids with O(1)
// random picks, the project of each project namespace, links by namespace.
// Ids are below 2^31 (int32 links), which any forest that fits in memory is.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "canopy/testing/gitlab_forest.h"
#include "random.h"

namespace canopy::testing {

const char* StreamOpName(StreamOp op) {
  switch (op) {
    case StreamOp::kCreateGroup:
      return "create_group";
    case StreamOp::kCreateUser:
      return "create_user";
    case StreamOp::kCreateProject:
      return "create_project";
    case StreamOp::kTransferGroup:
      return "transfer_group";
    case StreamOp::kTransferProject:
      return "transfer_project";
    case StreamOp::kRename:
      return "rename";
    case StreamOp::kChangeVisibility:
      return "change_visibility";
    case StreamOp::kArchive:
      return "archive";
    case StreamOp::kMarkPendingDelete:
      return "mark_pending_delete";
    case StreamOp::kDeleteProject:
      return "delete_project";
    case StreamOp::kDeleteGroup:
      return "delete_group";
    case StreamOp::kAddRunnerLink:
      return "add_runner_link";
    case StreamOp::kRemoveRunnerLink:
      return "remove_runner_link";
  }
  return "unknown";
}

namespace {

using internal::Rng;

// Live ids with O(1) insert, erase and uniform random pick.
class IdSet {
 public:
  void Insert(int64_t id) {
    if (static_cast<size_t>(id) >= pos_.size())
      pos_.resize(static_cast<size_t>(id) + 1 + pos_.size() / 8, -1);
    pos_[static_cast<size_t>(id)] = static_cast<int32_t>(items_.size());
    items_.push_back(id);
  }
  void Erase(int64_t id) {
    const int32_t at = pos_[static_cast<size_t>(id)];
    const int64_t last = items_.back();
    items_[static_cast<size_t>(at)] = last;
    pos_[static_cast<size_t>(last)] = at;
    items_.pop_back();
    pos_[static_cast<size_t>(id)] = -1;
  }
  bool empty() const { return items_.empty(); }
  int64_t Random(Rng& rng) const { return items_[rng.Below(items_.size())]; }
  void Reserve(size_t n) {
    items_.reserve(n);
    pos_.reserve(n);
  }

 private:
  std::vector<int64_t> items_;
  std::vector<int32_t> pos_;  // by id; -1 = absent
};

}  // namespace

class MixedStream::State {
 public:
  State(GitlabForest* forest, MixedStreamOptions options)
      : f_(*forest), o_(options), rng_(options.seed), lsn_(options.first_lsn.value - 1) {
    const size_t n = f_.namespaces.size();
    first_child_.assign(n, 0);
    next_sibling_.assign(n, 0);
    prev_sibling_.assign(n, 0);
    pns_project_.assign(n, 0);
    for (const NamespaceRow& row : f_.namespaces) {
      if (row.id == 0) continue;
      if (row.parent_id && f_.FindNamespace(*row.parent_id) != nullptr)
        Link(row.id, *row.parent_id);
      if (row.type == NamespaceType::kGroup) groups_.Insert(row.id);
      if (row.type == NamespaceType::kUser) users_.Insert(row.id);
    }
    for (const ProjectRow& row : f_.projects) {
      if (row.id == 0) continue;
      projects_.Insert(row.id);
      if (row.project_namespace_id && f_.FindNamespace(*row.project_namespace_id) != nullptr) {
        pns_project_[static_cast<size_t>(*row.project_namespace_id - 1)] =
            static_cast<int32_t>(row.id);
      }
    }
    for (const RunnerLinkRow& row : f_.runner_links) {
      if (row.id == 0) continue;
      links_.Insert(row.id);
      links_by_ns_[row.namespace_id].push_back(row.id);
    }
    for (int64_t id : f_.named.ProtectedNamespaceIds()) protected_ns_.insert(id);
    for (int64_t id : f_.named.ProtectedProjectIds()) protected_projects_.insert(id);
  }

  std::optional<Transaction> Try(StreamOp op) {
    Transaction txn;
    bool done = false;
    switch (op) {
      case StreamOp::kCreateGroup:
        done = CreateGroup(&txn);
        break;
      case StreamOp::kCreateUser:
        done = CreateUser(&txn);
        break;
      case StreamOp::kCreateProject:
        done = CreateProject(&txn);
        break;
      case StreamOp::kTransferGroup:
        done = TransferGroup(&txn);
        break;
      case StreamOp::kTransferProject:
        done = TransferProject(&txn);
        break;
      case StreamOp::kRename:
        done = Rename(&txn);
        break;
      case StreamOp::kChangeVisibility:
        done = ChangeVisibility(&txn);
        break;
      case StreamOp::kArchive:
        done = Archive(&txn);
        break;
      case StreamOp::kMarkPendingDelete:
        done = MarkPendingDelete(&txn);
        break;
      case StreamOp::kDeleteProject:
        done = DeleteProjectOp(&txn);
        break;
      case StreamOp::kDeleteGroup:
        done = DeleteGroup(&txn);
        break;
      case StreamOp::kAddRunnerLink:
        done = AddRunnerLink(&txn);
        break;
      case StreamOp::kRemoveRunnerLink:
        done = RemoveRunnerLink(&txn);
        break;
    }
    if (!done) return std::nullopt;
    lsn_ += 64 + rng_.Below(4096);
    txn.commit_lsn = Lsn(lsn_);
    ++counts_[static_cast<int>(op)];
    return txn;
  }

  Transaction Next(StreamOp* op_out) {
    uint64_t total = 0;
    for (uint32_t w : o_.weights) total += w;
    for (int attempt = 0; attempt < 64 && total > 0; ++attempt) {
      uint64_t pick = rng_.Below(total);
      int op = 0;
      while (pick >= o_.weights[op]) pick -= o_.weights[op++];
      if (std::optional<Transaction> txn = Try(static_cast<StreamOp>(op))) {
        if (op_out != nullptr) *op_out = static_cast<StreamOp>(op);
        return std::move(*txn);
      }
    }
    if (op_out != nullptr) *op_out = StreamOp::kCreateUser;
    return std::move(*Try(StreamOp::kCreateUser));  // always possible
  }

  Lsn last_lsn() const { return Lsn(lsn_); }
  const uint64_t* op_counts() const { return counts_; }

 private:
  // ---- model helpers ----
  NamespaceRow& Ns(int64_t id) { return f_.namespaces[static_cast<size_t>(id - 1)]; }
  ProjectRow& Project(int64_t id) { return f_.projects[static_cast<size_t>(id - 1)]; }
  size_t Slot(int64_t id) const { return static_cast<size_t>(id - 1); }

  void Link(int64_t child, int64_t parent) {
    const int32_t old = first_child_[Slot(parent)];
    next_sibling_[Slot(child)] = old;
    prev_sibling_[Slot(child)] = 0;
    if (old != 0) prev_sibling_[Slot(old)] = static_cast<int32_t>(child);
    first_child_[Slot(parent)] = static_cast<int32_t>(child);
  }
  void Unlink(int64_t child) {
    const NamespaceRow& row = Ns(child);
    if (!row.parent_id) return;
    const int32_t prev = prev_sibling_[Slot(child)], next = next_sibling_[Slot(child)];
    if (prev != 0) {
      next_sibling_[Slot(prev)] = next;
    } else {
      first_child_[Slot(*row.parent_id)] = next;
    }
    if (next != 0) prev_sibling_[Slot(next)] = prev;
    next_sibling_[Slot(child)] = prev_sibling_[Slot(child)] = 0;
  }

  // Appends a fresh namespace row and grows the model arrays with it.
  NamespaceRow& NewNamespace(NamespaceType type, int64_t parent) {
    NamespaceRow& row = f_.namespaces.emplace_back();
    row.id = static_cast<int64_t>(f_.namespaces.size());
    row.type = type;
    first_child_.push_back(0);
    next_sibling_.push_back(0);
    prev_sibling_.push_back(0);
    pns_project_.push_back(0);
    if (parent != 0) {
      row.parent_id = parent;
      Link(row.id, parent);
    }
    return row;
  }

  int Depth(int64_t id) {
    int d = 1;
    for (const NamespaceRow* row = &Ns(id); row->parent_id; row = &Ns(*row->parent_id)) ++d;
    return d;
  }
  bool IsSelfOrAncestor(int64_t a, int64_t x) {
    for (int64_t cur = x;;) {
      if (cur == a) return true;
      const NamespaceRow& row = Ns(cur);
      if (!row.parent_id) return false;
      cur = *row.parent_id;
    }
  }
  bool Protected(int64_t ns) const { return protected_ns_.count(ns) != 0; }

  // BFS of g's subtree (g first) into *nodes; false when it is larger than
  // `cap` or holds a protected row. *group_levels = group levels (g = 1).
  bool Subtree(int64_t g, size_t cap, std::vector<int64_t>* nodes, int* group_levels) {
    nodes->clear();
    std::vector<int> level{1};
    nodes->push_back(g);
    *group_levels = 1;
    for (size_t i = 0; i < nodes->size(); ++i) {
      const int64_t id = (*nodes)[i];
      if (Protected(id)) return false;
      if (Ns(id).type == NamespaceType::kProject) {
        if (ProjectProtectedByNamespace(id)) return false;
        continue;
      }
      *group_levels = std::max(*group_levels, level[i]);
      for (int32_t c = first_child_[Slot(id)]; c != 0; c = next_sibling_[Slot(c)]) {
        if (nodes->size() >= cap) return false;
        nodes->push_back(c);
        level.push_back(level[i] + 1);
      }
    }
    return true;
  }
  bool ProjectProtectedByNamespace(int64_t pns) const {
    const int32_t p = pns_project_[Slot(pns)];
    return p != 0 && ProjectProtected(p);
  }
  bool ProjectProtected(int64_t p) const { return protected_projects_.count(p) != 0; }

  // A random live id from `set` that passes `ok`, or 0.
  template <typename Ok>
  int64_t PickFrom(const IdSet& set, Ok ok) {
    if (set.empty()) return 0;
    for (int attempt = 0; attempt < 16; ++attempt) {
      const int64_t id = set.Random(rng_);
      if (ok(id)) return id;
    }
    return 0;
  }
  int64_t PickGroup() {
    return PickFrom(groups_, [&](int64_t id) { return !Protected(id); });
  }
  int64_t PickProject() {
    return PickFrom(projects_, [&](int64_t id) { return !ProjectProtected(id); });
  }
  // A namespace to hold a project: a group (75%) or a user namespace.
  int64_t PickProjectHome() {
    const bool group = !groups_.empty() && (users_.empty() || rng_.Chance(0.75));
    if (group) return groups_.Random(rng_);
    return users_.empty() ? 0 : users_.Random(rng_);
  }

  // ---- operations ----
  bool CreateGroup(Transaction* txn) {
    int64_t parent = 0;
    if (!groups_.empty() && !rng_.Chance(0.2)) {
      const int64_t p = groups_.Random(rng_);
      if (Depth(p) < kMaxGroupLevels) parent = p;
    }
    const int32_t parent_vis = parent != 0 ? Ns(parent).visibility_level : internal::kPublic;
    NamespaceRow& row = NewNamespace(NamespaceType::kGroup, parent);
    internal::MakeNameAndPath(internal::Pick(rng_, internal::kGroupWords), '-',
                              static_cast<uint64_t>(row.id), &row.name, &row.path);
    row.visibility_level = std::min(internal::DrawGroupVisibility(rng_), parent_vis);
    groups_.Insert(row.id);
    txn->changes.push_back(UpsertNamespace{row});  // INSERT, traversal_ids '{}'
    txn->changes.push_back(UpsertNamespace{row});  // UPDATE traversal_ids
    return true;
  }

  bool CreateUser(Transaction* txn) {
    NamespaceRow& row = NewNamespace(NamespaceType::kUser, 0);
    internal::MakeNameAndPath(internal::Pick(rng_, internal::kUserWords), '.',
                              static_cast<uint64_t>(row.id), &row.name, &row.path);
    row.visibility_level = internal::kPublic;
    users_.Insert(row.id);
    txn->changes.push_back(UpsertNamespace{row});
    txn->changes.push_back(UpsertNamespace{row});
    return true;
  }

  bool CreateProject(Transaction* txn) {
    const int64_t home = PickProjectHome();
    if (home == 0) return false;
    const int32_t home_vis = Ns(home).visibility_level;
    ProjectRow& project = f_.projects.emplace_back();
    project.id = static_cast<int64_t>(f_.projects.size());
    project.namespace_id = home;
    internal::MakeNameAndPath(internal::Pick(rng_, internal::kProjectWords), '_',
                              static_cast<uint64_t>(project.id), &project.name, &project.path);
    project.visibility_level = std::min(internal::DrawProjectVisibility(rng_), home_vis);
    NamespaceRow& pns = NewNamespace(NamespaceType::kProject, home);
    pns.name = project.name;
    pns.path = project.path;
    pns.visibility_level = project.visibility_level;
    project.project_namespace_id = pns.id;
    pns_project_[Slot(pns.id)] = static_cast<int32_t>(project.id);
    projects_.Insert(project.id);
    txn->changes.push_back(UpsertNamespace{pns});    // INSERT, traversal_ids '{}'
    txn->changes.push_back(UpsertProject{project});  // INSERT
    txn->changes.push_back(UpsertNamespace{pns});    // UPDATE traversal_ids (before_commit)
    return true;
  }

  bool TransferGroup(Transaction* txn) {
    for (int attempt = 0; attempt < 6; ++attempt) {
      const int64_t g = PickGroup();
      if (g == 0) return false;
      int levels = 0;
      if (!Subtree(g, o_.max_moved_subtree, &nodes_, &levels)) continue;
      const std::optional<int64_t> old_parent = Ns(g).parent_id;
      int64_t target = 0;
      if (!(old_parent && rng_.Chance(o_.transfer_to_root_fraction))) {
        for (int t = 0; t < 8 && target == 0; ++t) {
          const int64_t p = groups_.Random(rng_);
          if (old_parent == p || Depth(p) + levels > kMaxGroupLevels || IsSelfOrAncestor(g, p)) {
            continue;
          }
          target = p;
        }
        if (target == 0) continue;
      }
      Unlink(g);
      NamespaceRow& row = Ns(g);
      if (target == 0) {
        row.parent_id.reset();
      } else {
        row.parent_id = target;
        Link(g, target);
      }
      txn->changes.push_back(UpsertNamespace{row});  // UPDATE parent_id
      for (int64_t id : nodes_) txn->changes.push_back(UpsertNamespace{Ns(id)});  // traversal_ids
      return true;
    }
    return false;
  }

  bool TransferProject(Transaction* txn) {
    const int64_t p = PickProject();
    if (p == 0) return false;
    const int64_t home = PickProjectHome();
    if (home == 0 || home == Project(p).namespace_id) return false;
    ProjectRow& project = Project(p);
    project.namespace_id = home;
    txn->changes.push_back(UpsertProject{project});
    const int64_t pns = *project.project_namespace_id;
    Unlink(pns);
    Ns(pns).parent_id = home;
    Link(pns, home);
    txn->changes.push_back(UpsertNamespace{Ns(pns)});  // parent_id (sync_attributes)
    txn->changes.push_back(UpsertNamespace{Ns(pns)});  // traversal_ids
    return true;
  }

  bool Rename(Transaction* txn) {
    if (rng_.Chance(0.5)) {
      const int64_t g = PickGroup();
      if (g == 0) return false;
      NamespaceRow& row = Ns(g);
      internal::MakeNameAndPath(internal::Pick(rng_, internal::kGroupWords), '-',
                                static_cast<uint64_t>(g), &row.name, &row.path);
      txn->changes.push_back(UpsertNamespace{row});
      return true;
    }
    const int64_t p = PickProject();
    if (p == 0) return false;
    ProjectRow& project = Project(p);
    internal::MakeNameAndPath(internal::Pick(rng_, internal::kProjectWords), '_',
                              static_cast<uint64_t>(p), &project.name, &project.path);
    NamespaceRow& pns = Ns(*project.project_namespace_id);
    pns.name = project.name;
    pns.path = project.path;
    txn->changes.push_back(UpsertProject{project});
    txn->changes.push_back(UpsertNamespace{pns});
    return true;
  }

  int32_t OtherVisibility(int32_t current) {
    static constexpr int32_t kLevels[3] = {internal::kPrivate, internal::kInternal,
                                           internal::kPublic};
    int32_t v = current;
    while (v == current) v = kLevels[rng_.Below(3)];
    return v;
  }

  bool ChangeVisibility(Transaction* txn) {
    if (rng_.Chance(0.4)) {
      const int64_t g = PickGroup();
      if (g == 0) return false;
      NamespaceRow& row = Ns(g);
      row.visibility_level = OtherVisibility(row.visibility_level);
      txn->changes.push_back(UpsertNamespace{row});
      return true;
    }
    const int64_t p = PickProject();
    if (p == 0) return false;
    ProjectRow& project = Project(p);
    project.visibility_level = OtherVisibility(project.visibility_level);
    NamespaceRow& pns = Ns(*project.project_namespace_id);
    pns.visibility_level = project.visibility_level;
    txn->changes.push_back(UpsertProject{project});
    txn->changes.push_back(UpsertNamespace{pns});
    return true;
  }

  bool Archive(Transaction* txn) {
    const int64_t p = PickProject();
    if (p == 0) return false;
    ProjectRow& project = Project(p);
    project.archived = !project.archived;
    txn->changes.push_back(UpsertProject{project});
    return true;
  }

  bool MarkPendingDelete(Transaction* txn) {
    const int64_t p = PickFrom(projects_, [&](int64_t id) {
      return !ProjectProtected(id) && !Project(id).pending_delete;
    });
    if (p == 0) return false;
    ProjectRow& project = Project(p);
    project.pending_delete = true;
    txn->changes.push_back(UpsertProject{project});
    return true;
  }

  // Emits and applies the delete of project p and its project namespace.
  void DeleteProjectRows(int64_t p, Transaction* txn) {
    ProjectRow& project = Project(p);
    const int64_t pns = *project.project_namespace_id;
    txn->changes.push_back(DeleteProject{p});
    txn->changes.push_back(DeleteNamespace{pns});  // the trigger's delete
    projects_.Erase(p);
    project.id = 0;
    DropNamespace(pns);
  }
  void DropNamespace(int64_t id) {
    Unlink(id);
    NamespaceRow& row = Ns(id);
    if (row.type == NamespaceType::kGroup) groups_.Erase(id);
    if (row.type == NamespaceType::kUser) users_.Erase(id);
    pns_project_[Slot(id)] = 0;
    row.id = 0;
  }

  bool DeleteProjectOp(Transaction* txn) {
    const int64_t p = PickProject();
    if (p == 0) return false;
    DeleteProjectRows(p, txn);
    return true;
  }

  bool DeleteGroup(Transaction* txn) {
    for (int attempt = 0; attempt < 6; ++attempt) {
      const int64_t g = PickGroup();
      if (g == 0) return false;
      int levels = 0;
      if (!Subtree(g, o_.max_deleted_subtree, &nodes_, &levels)) continue;
      for (int64_t id : nodes_) {  // runner links go first (loose foreign keys)
        auto it = links_by_ns_.find(id);
        if (it == links_by_ns_.end()) continue;
        for (int64_t link : it->second) {
          txn->changes.emplace_back(DeleteRunnerLink{link});
          links_.Erase(link);
          f_.runner_links[Slot(link)].id = 0;
        }
        links_by_ns_.erase(it);
      }
      for (int64_t id : nodes_) {
        if (Ns(id).type == NamespaceType::kProject) DeleteProjectRows(pns_project_[Slot(id)], txn);
      }
      for (size_t i = nodes_.size(); i-- > 0;) {  // BFS reversed: children before parents
        const int64_t id = nodes_[i];
        if (Ns(id).id == 0) continue;  // a project namespace, already gone
        txn->changes.push_back(DeleteNamespace{id});
        DropNamespace(id);
      }
      return true;
    }
    return false;
  }

  bool AddRunnerLink(Transaction* txn) {
    const int64_t g = groups_.empty() ? 0 : groups_.Random(rng_);
    if (g == 0) return false;
    std::vector<int64_t>& on_g = links_by_ns_[g];
    int64_t runner = 0;
    if (!links_.empty() && rng_.Chance(0.3)) {
      runner = f_.runner_links[Slot(links_.Random(rng_))].runner_id;
      for (int64_t link : on_g) {
        if (f_.runner_links[Slot(link)].runner_id == runner) runner = 0;
      }
    }
    if (runner == 0) runner = f_.next_runner_id++;
    RunnerLinkRow& link = f_.runner_links.emplace_back();
    link.id = static_cast<int64_t>(f_.runner_links.size());
    link.runner_id = runner;
    link.namespace_id = g;
    links_.Insert(link.id);
    on_g.push_back(link.id);
    txn->changes.push_back(UpsertRunnerLink{link});
    return true;
  }

  bool RemoveRunnerLink(Transaction* txn) {
    const int64_t link = PickFrom(
        links_, [&](int64_t id) { return !Protected(f_.runner_links[Slot(id)].namespace_id); });
    if (link == 0) return false;
    RunnerLinkRow& row = f_.runner_links[Slot(link)];
    std::vector<int64_t>& on_ns = links_by_ns_[row.namespace_id];
    std::erase(on_ns, link);
    if (on_ns.empty()) links_by_ns_.erase(row.namespace_id);
    links_.Erase(link);
    row.id = 0;
    txn->changes.emplace_back(DeleteRunnerLink{link});
    return true;
  }

  GitlabForest& f_;
  MixedStreamOptions o_;
  Rng rng_;
  uint64_t lsn_;
  uint64_t counts_[kStreamOpCount] = {};
  std::vector<int32_t> first_child_, next_sibling_, prev_sibling_;  // by slot; 0 = none
  std::vector<int32_t> pns_project_;                                // by slot; 0 = none
  IdSet groups_, users_, projects_, links_;
  std::unordered_map<int64_t, std::vector<int64_t>> links_by_ns_;
  std::unordered_set<int64_t> protected_ns_, protected_projects_;
  std::vector<int64_t> nodes_;  // scratch
};

MixedStream::MixedStream(GitlabForest* forest, MixedStreamOptions options)
    : state_(std::make_unique<State>(forest, options)) {}
MixedStream::~MixedStream() = default;
Transaction MixedStream::Next(StreamOp* op) { return state_->Next(op); }
std::optional<Transaction> MixedStream::TryNext(StreamOp op) { return state_->Try(op); }
Lsn MixedStream::last_lsn() const { return state_->last_lsn(); }
const uint64_t* MixedStream::op_counts() const { return state_->op_counts(); }

}  // namespace canopy::testing

// forest.cc — structural edits of one Forest copy: slots, attach/detach,
// counters along the ancestor path, orphan bookkeeping.
#include "forest.h"

#include <algorithm>
#include <new>
#include <thread>

namespace canopy::internal {

using Attachment = NsNode::Attachment;

// ---------------------------------------------------------------------------
// RowText / PreparedTransaction

RowText RowText::Make(std::string_view name, std::string_view path) {
  RowText t;
  if (name.empty() && path.empty()) return t;
  const bool name_is_path = name == path;
  const size_t name_bytes = name_is_path ? 0 : name.size();
  void* mem = std::malloc(offsetof(Blob, data) + path.size() + name_bytes);
  if (mem == nullptr) throw std::bad_alloc();
  t.blob_ = static_cast<Blob*>(mem);
  t.blob_->refs = 1;
  t.blob_->path_size = static_cast<uint32_t>(path.size());
  t.blob_->name_size = static_cast<uint32_t>(name_bytes);
  t.blob_->name_is_path = name_is_path;
  if (!path.empty()) std::memcpy(t.blob_->data, path.data(), path.size());
  if (name_bytes != 0) std::memcpy(t.blob_->data + path.size(), name.data(), name_bytes);
  return t;
}

namespace {

Op PrepareChange(const RowChange& change) {
  if (auto* u = std::get_if<UpsertNamespace>(&change)) {
    const NamespaceRow& r = u->row;
    return NamespaceOp{r.id,      r.parent_id.value_or(kNoId),  r.type, r.visibility_level,
                       r.present, RowText::Make(r.name, r.path)};
  }
  if (auto* p = std::get_if<UpsertProject>(&change)) {
    const ProjectRow& r = p->row;
    return ProjectOp{r.id,
                     r.namespace_id,
                     r.project_namespace_id.value_or(kNoId),
                     r.visibility_level,
                     r.archived,
                     r.pending_delete,
                     r.present,
                     RowText::Make(r.name, r.path)};
  }
  if (auto* l = std::get_if<UpsertRunnerLink>(&change)) return l->row;
  if (auto* d = std::get_if<DeleteNamespace>(&change)) return DeleteOp{Table::kNamespaces, d->id};
  if (auto* dp = std::get_if<DeleteProject>(&change)) return DeleteOp{Table::kProjects, dp->id};
  if (auto* dl = std::get_if<DeleteRunnerLink>(&change)) {
    return DeleteOp{Table::kRunnerLinks, dl->id};
  }
  return std::get<TruncateTable>(change);
}

// Transactions at least this big are prepared on two threads (a snapshot).
constexpr size_t kParallelPrepareChanges = 1 << 16;

}  // namespace

PreparedTransaction::PreparedTransaction(const Transaction& txn) : lsn(txn.commit_lsn) {
  const size_t n = txn.changes.size();
  if (n < kParallelPrepareChanges) {
    ops.reserve(n);
    for (const RowChange& change : txn.changes) ops.push_back(PrepareChange(change));
    return;
  }
  // Row texts are one allocation each: share the work with a second thread.
  ops.resize(n);  // empty NamespaceOps: nothing to release if a half fails
  const size_t half = n / 2;
  bool second_failed = false;
  std::thread second([&] {
    try {
      for (size_t i = half; i < n; ++i) ops[i] = PrepareChange(txn.changes[i]);
    } catch (const std::bad_alloc&) {
      second_failed = true;
    }
  });
  bool first_failed = false;
  try {
    for (size_t i = 0; i < half; ++i) ops[i] = PrepareChange(txn.changes[i]);
  } catch (const std::bad_alloc&) {
    first_failed = true;
  }
  second.join();
  if (first_failed || second_failed) {
    ReleaseTexts(ops);  // the destructor does not run when a constructor throws
    throw std::bad_alloc();
  }
}

void PreparedTransaction::ReleaseTexts(std::vector<Op>& ops) {
  for (Op& op : ops) {
    if (auto* n = std::get_if<NamespaceOp>(&op)) {
      n->text.Unref();
    } else if (auto* p = std::get_if<ProjectOp>(&op)) {
      p->text.Unref();
    }
  }
  ops.clear();
}

PreparedTransaction::~PreparedTransaction() { ReleaseTexts(ops); }

// ---------------------------------------------------------------------------
// Forest

Forest::Forest(const HierarchyIndexOptions& options)
    : use_slices_(options.layout_slices),
      sorted_run_min_ids_(std::max<uint32_t>(1, options.sorted_run_min_ids)) {
  ns_.reserve(options.expected_namespaces);
  ns_ids_.reserve(options.expected_namespaces);
  ns_by_id_.Reserve(options.expected_namespaces);
  projects_.reserve(options.expected_projects);
  project_ids_.reserve(options.expected_projects);
  project_by_id_.Reserve(options.expected_projects);
  links_.reserve(options.expected_runner_links);
}

Forest::~Forest() {
  for (NsNode& n : ns_) n.text.Unref();
  for (ProjNode& p : projects_) p.text.Unref();
}

uint32_t Forest::FindNamespace(int64_t id) const { return ns_by_id_.Find(id); }

uint32_t Forest::FindProject(int64_t id) const { return project_by_id_.Find(id); }

uint32_t Forest::AllocNamespace() {
  uint32_t slot;
  if (!free_ns_.empty()) {
    slot = free_ns_.back();
    free_ns_.pop_back();
  } else {
    slot = static_cast<uint32_t>(ns_.size());
    ns_.emplace_back();
    ns_ids_.emplace_back();
  }
  NsNode& n = ns_[slot];
  n = NsNode{};
  n.parent_id = kNoId;
  n.parent = n.first_child = n.first_pn_child = n.prev_sibling = n.next_sibling = kNil;
  n.first_project = n.own_project = kNil;
  n.attachment = Attachment::kDetached;
  n.laid_out = false;
  return slot;
}

uint32_t Forest::AllocProject() {
  uint32_t slot;
  if (!free_projects_.empty()) {
    slot = free_projects_.back();
    free_projects_.pop_back();
  } else {
    slot = static_cast<uint32_t>(projects_.size());
    projects_.emplace_back();
    project_ids_.emplace_back();
  }
  ProjNode& p = projects_[slot];
  p = ProjNode{};
  p.project_namespace_id = kNoId;
  p.ns = p.prev = p.next = kNil;
  p.live = true;
  return slot;
}

bool Forest::SetText(RowText& stored, const RowText& incoming, std::string_view name,
                     std::string_view path) {
  if (stored.Equals(name, path)) return false;
  RowText fresh;
  if (incoming.Equals(name, path)) {
    fresh = incoming;
    fresh.Ref();
  } else {
    fresh = RowText::Make(name, path);  // before Unref: name/path may point into `stored`
  }
  string_bytes_ -= stored.bytes();
  stored.Unref();
  stored = fresh;
  string_bytes_ += stored.bytes();
  return true;
}

void Forest::FreeNamespace(uint32_t slot) {
  NsNode& n = ns_[slot];
  string_bytes_ -= n.text.bytes();
  n.text.Unref();
  ns_by_id_.Erase(ns_ids_[slot]);
  n.attachment = Attachment::kFree;
  if (n.laid_out) --laid_out_;
  n.laid_out = false;
  free_ns_.push_back(slot);
}

void Forest::FreeProject(uint32_t slot) {
  ProjNode& p = projects_[slot];
  string_bytes_ -= p.text.bytes();
  p.text.Unref();
  project_by_id_.Erase(project_ids_[slot]);
  p.live = false;
  free_projects_.push_back(slot);
}

Forest::Contribution Forest::ContributionOf(uint32_t slot) const {
  const NsNode& n = ns_[slot];
  return {n.sub_groups + (n.type == NamespaceType::kGroup ? 1u : 0u),
          n.sub_pns + (n.type == NamespaceType::kProject ? 1u : 0u), n.sub_projects,
          n.sub_unarchived};
}

void Forest::AddToAncestors(uint32_t from, const Contribution& c, bool subtract) {
  for (uint32_t s = from; s != kNil; s = ns_[s].parent) {
    NsNode& a = ns_[s];
    if (subtract) {
      a.sub_groups -= c.groups;
      a.sub_pns -= c.pns;
      a.sub_projects -= c.projects;
      a.sub_unarchived -= c.unarchived;
    } else {
      a.sub_groups += c.groups;
      a.sub_pns += c.pns;
      a.sub_projects += c.projects;
      a.sub_unarchived += c.unarchived;
    }
  }
}

void Forest::MarkChanged(uint32_t slot) {
  // laid_out is closed downwards: stop at the first node already changed.
  for (uint32_t s = slot; s != kNil && ns_[s].laid_out; s = ns_[s].parent) {
    ns_[s].laid_out = false;
    --laid_out_;
  }
}

void Forest::ForgetLayout() {
  for (NsNode& n : ns_) n.laid_out = false;
  laid_out_ = 0;
  sorted_runs_.clear();
  layout_.clear();
  layout_.shrink_to_fit();
}

bool Forest::IsAncestorOrSelf(uint32_t maybe_ancestor, uint32_t slot) const {
  for (uint32_t s = slot; s != kNil; s = ns_[s].parent) {
    if (s == maybe_ancestor) return true;
  }
  return false;
}

void Forest::PushChild(uint32_t parent, uint32_t slot) {
  NsNode& n = ns_[slot];
  NsNode& p = ns_[parent];
  uint32_t& head = n.type == NamespaceType::kProject ? p.first_pn_child : p.first_child;
  n.parent = parent;
  n.prev_sibling = kNil;
  n.next_sibling = head;
  if (head != kNil) ns_[head].prev_sibling = slot;
  head = slot;
  n.attachment = Attachment::kChild;
}

void Forest::LinkChild(uint32_t parent, uint32_t slot) {
  PushChild(parent, slot);
  MarkChanged(parent);
  AddToAncestors(parent, ContributionOf(slot), /*subtract=*/false);
}

void Forest::RemoveFromWaiting(boost::unordered_flat_map<int64_t, std::vector<uint32_t>>& waiting,
                               int64_t key, uint32_t slot) {
  auto it = waiting.find(key);
  if (it == waiting.end()) return;
  auto& v = it->second;
  auto pos = std::find(v.begin(), v.end(), slot);
  if (pos != v.end()) v.erase(pos);
  if (v.empty()) waiting.erase(it);
}

void Forest::Detach(uint32_t slot) {
  NsNode& n = ns_[slot];
  switch (n.attachment) {
    case Attachment::kChild: {
      uint32_t parent = n.parent;
      NsNode& p = ns_[parent];
      uint32_t& head = n.type == NamespaceType::kProject ? p.first_pn_child : p.first_child;
      if (n.prev_sibling != kNil) {
        ns_[n.prev_sibling].next_sibling = n.next_sibling;
      } else {
        head = n.next_sibling;
      }
      if (n.next_sibling != kNil) ns_[n.next_sibling].prev_sibling = n.prev_sibling;
      n.prev_sibling = n.next_sibling = kNil;
      n.parent = kNil;
      MarkChanged(parent);
      AddToAncestors(parent, ContributionOf(slot), /*subtract=*/true);
      break;
    }
    case Attachment::kOrphan:
      RemoveFromWaiting(waiting_children_, n.parent_id, slot);
      --orphan_namespaces_;
      break;
    case Attachment::kRoot: {
      auto it = roots_by_path_.find(n.text.path());
      if (it != roots_by_path_.end()) {
        auto& v = it->second;
        auto pos = std::find(v.begin(), v.end(), slot);
        if (pos != v.end()) v.erase(pos);
        if (v.empty()) {
          roots_by_path_.erase(it);
        } else if (it->first.data() == n.text.path().data()) {
          // The key views this node's text, which may be freed once it
          // leaves: re-key the entry by a root that stays (same folded path).
          std::vector<uint32_t> rest = std::move(v);
          roots_by_path_.erase(it);
          roots_by_path_.emplace(ns_[rest.front()].text.path(), std::move(rest));
        }
      }
      break;
    }
    case Attachment::kDetached:
    case Attachment::kFree:
      break;
  }
  n.attachment = Attachment::kDetached;
}

void Forest::Attach(uint32_t slot, bool has_fallback, int64_t fallback_parent_id) {
  NsNode& n = ns_[slot];
  if (n.parent_id == kNoId) {
    roots_by_path_[n.text.path()].push_back(slot);
    n.attachment = Attachment::kRoot;
    return;
  }
  uint32_t parent = FindNamespace(n.parent_id);
  if (parent == kNil) {
    waiting_children_[n.parent_id].push_back(slot);
    n.attachment = Attachment::kOrphan;
    ++orphan_namespaces_;
    return;
  }
  if (IsAncestorOrSelf(slot, parent)) {
    // The new parent is inside this node's subtree: refuse the move.
    ++cycles_refused_;
    n.parent_id = has_fallback ? fallback_parent_id : kNoId;
    Attach(slot, /*has_fallback=*/false, kNoId);
    return;
  }
  LinkChild(parent, slot);
}

void Forest::AdoptWaiting(uint32_t slot) {
  const int64_t id = ns_ids_[slot];
  if (auto it = waiting_children_.find(id); it != waiting_children_.end()) {
    std::vector<uint32_t> children = std::move(it->second);
    waiting_children_.erase(it);
    for (uint32_t child : children) {
      --orphan_namespaces_;
      ns_[child].attachment = Attachment::kDetached;
      Attach(child, /*has_fallback=*/false, kNoId);
    }
  }
  if (auto it = waiting_projects_.find(id); it != waiting_projects_.end()) {
    std::vector<uint32_t> waiting = std::move(it->second);
    waiting_projects_.erase(it);
    for (uint32_t p : waiting) {
      --orphan_projects_;
      LinkProject(p);
    }
  }
  if (auto it = waiting_own_project_.find(id); it != waiting_own_project_.end()) {
    std::vector<uint32_t>& waiting = it->second;
    ns_[slot].own_project = waiting.front();
    waiting.erase(waiting.begin());
    if (waiting.empty()) waiting_own_project_.erase(it);
  }
}

void Forest::CountOwnList(uint32_t ns, uint32_t* projects, uint32_t* unarchived) const {
  *projects = *unarchived = 0;
  for (uint32_t p = ns_[ns].first_project; p != kNil; p = projects_[p].next) {
    ++*projects;
    if (!projects_[p].archived) ++*unarchived;
  }
}

void Forest::ProjectCountDelta(uint32_t ns, int projects, int unarchived) {
  const NsNode& n = ns_[ns];
  // all_project_ids of a group covers projects of groups only (class scoping).
  if (n.type != NamespaceType::kGroup) return;
  for (uint32_t s = ns; s != kNil; s = ns_[s].parent) {
    ns_[s].sub_projects += projects;
    ns_[s].sub_unarchived += unarchived;
  }
}

void Forest::LinkProject(uint32_t project) {
  ProjNode& p = projects_[project];
  uint32_t ns = FindNamespace(p.namespace_id);
  if (ns == kNil) {
    p.ns = kNil;
    waiting_projects_[p.namespace_id].push_back(project);
    ++orphan_projects_;
    return;
  }
  NsNode& n = ns_[ns];
  MarkChanged(ns);
  p.ns = ns;
  p.prev = kNil;
  p.next = n.first_project;
  if (n.first_project != kNil) projects_[n.first_project].prev = project;
  n.first_project = project;
  ProjectCountDelta(ns, 1, p.archived ? 0 : 1);
}

void Forest::UnlinkProject(uint32_t project) {
  ProjNode& p = projects_[project];
  if (p.ns == kNil) {
    RemoveFromWaiting(waiting_projects_, p.namespace_id, project);
    --orphan_projects_;
    return;
  }
  NsNode& n = ns_[p.ns];
  MarkChanged(p.ns);
  if (p.prev != kNil) {
    projects_[p.prev].next = p.next;
  } else {
    n.first_project = p.next;
  }
  if (p.next != kNil) projects_[p.next].prev = p.prev;
  ProjectCountDelta(p.ns, -1, p.archived ? 0 : -1);
  p.ns = p.prev = p.next = kNil;
}

void Forest::BindOwnProject(uint32_t project) {
  int64_t pn_id = projects_[project].project_namespace_id;
  if (pn_id == kNoId) return;
  uint32_t pn = FindNamespace(pn_id);
  if (pn != kNil && ns_[pn].own_project == kNil) {
    ns_[pn].own_project = project;
  } else {
    waiting_own_project_[pn_id].push_back(project);
  }
}

void Forest::UnbindOwnProject(uint32_t project) {
  int64_t pn_id = projects_[project].project_namespace_id;
  if (pn_id == kNoId) return;
  uint32_t pn = FindNamespace(pn_id);
  if (pn != kNil && ns_[pn].own_project == project) {
    ns_[pn].own_project = kNil;
    auto it = waiting_own_project_.find(pn_id);
    if (it != waiting_own_project_.end()) {
      ns_[pn].own_project = it->second.front();
      it->second.erase(it->second.begin());
      if (it->second.empty()) waiting_own_project_.erase(it);
    }
    return;
  }
  RemoveFromWaiting(waiting_own_project_, pn_id, project);
}

}  // namespace canopy::internal

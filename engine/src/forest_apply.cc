// forest_apply.cc — applying a prepared transaction to one Forest copy.
//
// Rows of a transaction may arrive in any order relative to the hierarchy,
// so a transaction is applied by its *net effect* per row, in phases:
//   1. merge the changes of each primary key into its final state;
//   2. delete projects and runner links that end deleted;
//   3. namespaces: detach every node that moves, changes type or root path,
//      or ends deleted; create new nodes; then attach them all (cycles are
//      judged only now, on the end state); adopt orphans waiting for new ids;
//      finally free deleted nodes, whose remaining children become orphans;
//   4. upsert projects; 5. upsert runner links.
// A TRUNCATE splits the transaction: what came before it is applied first.
#include <algorithm>

#include "forest.h"

namespace canopy::internal {

using Attachment = NsNode::Attachment;

namespace {

// The net effect of a transaction on one primary key.
template <typename OpT>
struct FinalRow {
  bool exists = false;    // upserted last (else deleted last)
  bool reset = false;     // deleted, then inserted again: absent columns take defaults
  bool upserted = false;  // some upsert of this key happened in the transaction
  bool deleted = false;   // some delete of this key happened in the transaction
  OpT row{};              // merged columns (text borrowed from the transaction or `owned`)
  RowText owned;          // text made by merging a partial name/path update
};

template <typename OpT>
class FinalRows {
 public:
  FinalRows() = default;
  FinalRows(const FinalRows&) = delete;
  FinalRows& operator=(const FinalRows&) = delete;
  ~FinalRows() {
    for (auto& f : rows_) f.owned.Unref();
  }
  // The entry of `id`, created on first use. Small transactions (the
  // common case) use a linear scan and never build the hash index.
  FinalRow<OpT>& At(int64_t id) {
    if (rows_.size() < kLinearLimit) {
      for (auto& f : rows_) {
        if (f.row.id == id) return f;
      }
      rows_.emplace_back();
      rows_.back().row.id = id;
      if (rows_.size() == kLinearLimit) {
        for (size_t i = 0; i < rows_.size(); ++i) index_.emplace(rows_[i].row.id, i);
      }
      return rows_.back();
    }
    auto [it, inserted] = index_.try_emplace(id, rows_.size());
    if (inserted) {
      rows_.emplace_back();
      rows_.back().row.id = id;
    }
    return rows_[it->second];
  }
  std::vector<FinalRow<OpT>>& rows() { return rows_; }

 private:
  static constexpr size_t kLinearLimit = 16;
  boost::unordered_flat_map<int64_t, size_t> index_;
  std::vector<FinalRow<OpT>> rows_;
};

// Merges name/path of a later change into the earlier merged row. A change
// that carries only one of them needs a new text combining both.
template <typename OpT>
void MergeText(const OpT& in, OpT* out, RowText* owned, ColumnMask name_bit, ColumnMask path_bit) {
  const bool has_name = (in.present & name_bit) != 0;
  const bool has_path = (in.present & path_bit) != 0;
  if (has_name && has_path) {
    out->text = in.text;
  } else if (has_name || has_path) {
    RowText fresh = RowText::Make(has_name ? in.text.name() : out->text.name(),
                                  has_path ? in.text.path() : out->text.path());
    owned->Unref();
    *owned = fresh;
    out->text = fresh;
  }
}

void MergeColumns(const NamespaceOp& in, NamespaceOp* out, RowText* owned) {
  if (in.present & NamespaceRow::kParentId) out->parent_id = in.parent_id;
  if (in.present & NamespaceRow::kType) out->type = in.type;
  MergeText(in, out, owned, NamespaceRow::kName, NamespaceRow::kPath);
  if (in.present & NamespaceRow::kVisibilityLevel) out->visibility_level = in.visibility_level;
  out->present |= in.present;
}

void MergeColumns(const ProjectOp& in, ProjectOp* out, RowText* owned) {
  if (in.present & ProjectRow::kNamespaceId) out->namespace_id = in.namespace_id;
  if (in.present & ProjectRow::kProjectNamespaceId)
    out->project_namespace_id = in.project_namespace_id;
  MergeText(in, out, owned, ProjectRow::kName, ProjectRow::kPath);
  if (in.present & ProjectRow::kVisibilityLevel) out->visibility_level = in.visibility_level;
  if (in.present & ProjectRow::kArchived) out->archived = in.archived;
  if (in.present & ProjectRow::kPendingDelete) out->pending_delete = in.pending_delete;
  out->present |= in.present;
}

void MergeColumns(const RunnerLinkRow& in, RunnerLinkRow* out, RowText* /*owned*/) {
  if (in.present & RunnerLinkRow::kRunnerId) out->runner_id = in.runner_id;
  if (in.present & RunnerLinkRow::kNamespaceId) out->namespace_id = in.namespace_id;
  out->present |= in.present;
}

template <typename OpT>
void MergeUpsert(FinalRow<OpT>& f, const OpT& op) {
  if (f.exists) {
    MergeColumns(op, &f.row, &f.owned);
  } else {
    if (f.deleted) f.reset = true;  // deleted then inserted again in this transaction
    f.row = op;
  }
  f.exists = true;
  f.upserted = true;
}

template <typename OpT>
void MergeDelete(FinalRow<OpT>& f, int64_t id) {
  f.row.id = id;
  f.exists = false;
  f.deleted = true;
}

}  // namespace

void Forest::Apply(const PreparedTransaction& txn, const Forest* other_copy) {
  if (txn.compact) {
    Compact(other_copy);
    return;
  }
  if (txn.snapshot != nullptr) {
    ApplySnapshot(*txn.snapshot, txn.lsn);
    return;
  }
  std::span<const Op> ops(txn.ops);
  if (!ops.empty()) runs_match_rows_ = false;
  size_t start = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (auto* t = std::get_if<TruncateTable>(&ops[i])) {
      ApplySegment(ops.subspan(start, i - start));
      ApplyTruncate(t->table);
      start = i + 1;
    }
  }
  ApplySegment(ops.subspan(start));
  if (!runs_to_rebuild_.empty()) RebuildNotedRuns();
  if (!runs_to_make_.empty()) MakeGrownRuns();
  if (txn.lsn > applied_lsn_) applied_lsn_ = txn.lsn;
  if (!ops.empty()) ++transactions_applied_;  // an empty one only moves the LSN
  row_changes_applied_ += ops.size();
}

void Forest::ApplySegment(std::span<const Op> ops) {
  if (ops.empty()) return;

  // ---- 1. net effect per key ----
  FinalRows<NamespaceOp> ns_rows;
  FinalRows<ProjectOp> project_rows;
  FinalRows<RunnerLinkRow> link_rows;
  for (const Op& op : ops) {
    if (auto* n = std::get_if<NamespaceOp>(&op)) {
      MergeUpsert(ns_rows.At(n->id), *n);
    } else if (auto* p = std::get_if<ProjectOp>(&op)) {
      MergeUpsert(project_rows.At(p->id), *p);
    } else if (auto* l = std::get_if<RunnerLinkRow>(&op)) {
      MergeUpsert(link_rows.At(l->id), *l);
    } else if (auto* d = std::get_if<DeleteOp>(&op)) {
      switch (d->table) {
        case Table::kNamespaces:
          MergeDelete(ns_rows.At(d->id), d->id);
          break;
        case Table::kProjects:
          MergeDelete(project_rows.At(d->id), d->id);
          break;
        case Table::kRunnerLinks:
          MergeDelete(link_rows.At(d->id), d->id);
          break;
      }
    }
  }

  // ---- 2. deletes of projects and links ----
  for (auto& f : project_rows.rows()) {
    if (f.exists) continue;
    uint32_t slot = FindProject(f.row.id);
    if (slot == kNil) {
      if (!f.upserted) ++unknown_deletes_;
      continue;
    }
    UnlinkProject(slot);
    UnbindOwnProject(slot);
    FreeProject(slot);
  }
  for (auto& f : link_rows.rows()) {
    if (f.exists) continue;
    auto& by_id = links_.get<ById>();
    auto it = by_id.find(f.row.id);
    if (it == by_id.end()) {
      if (!f.upserted) ++unknown_deletes_;
      continue;
    }
    by_id.erase(it);
  }

  // ---- 3. namespaces ----
  struct PendingAttach {
    uint32_t slot;
    int64_t parent_id;  // the end state's; a detached node holds none
    bool has_fallback;
    int64_t fallback_parent_id;
  };
  std::vector<PendingAttach> to_attach;
  std::vector<uint32_t> created;
  std::vector<uint32_t> to_delete;
  for (auto& f : ns_rows.rows()) {
    const int64_t id = f.row.id;
    uint32_t slot = FindNamespace(id);
    if (!f.exists) {
      if (slot == kNil) {
        if (!f.upserted) ++unknown_deletes_;
        continue;
      }
      Detach(slot);
      to_delete.push_back(slot);
      continue;
    }
    const NamespaceOp& row = f.row;
    if (slot == kNil) {
      slot = AllocNamespace();
      NsNode& n = ns_[slot];
      ns_ids_.Set(slot, id);
      n.type = (row.present & NamespaceRow::kType) ? row.type : NamespaceType::kUser;  // fresh node
      SetNamespaceVisibility(
          slot, (row.present & NamespaceRow::kVisibilityLevel) ? row.visibility_level : 20);
      SetText(n.text, row.text,
              (row.present & NamespaceRow::kName) ? row.text.name() : std::string_view(),
              (row.present & NamespaceRow::kPath) ? row.text.path() : std::string_view());
      ns_by_id_.Insert(slot);
      const int64_t parent_id = (row.present & NamespaceRow::kParentId) ? row.parent_id : kNoId;
      to_attach.push_back({slot, parent_id, false, kNoId});
      created.push_back(slot);
      continue;
    }
    // An existing row: compute its new columns.
    NsNode& n = ns_[slot];
    auto pick = [&](NamespaceRow::Column c) { return (row.present & c) != 0; };
    const int64_t old_parent = ParentIdOf(slot);
    const int64_t new_parent =
        pick(NamespaceRow::kParentId) ? row.parent_id : (f.reset ? kNoId : old_parent);
    const NamespaceType new_type =
        pick(NamespaceRow::kType) ? row.type : (f.reset ? NamespaceType::kUser : n.type);
    // Views into the old or the incoming text; valid until SetText below.
    const std::string_view new_name = pick(NamespaceRow::kName)
                                          ? row.text.name()
                                          : (f.reset ? std::string_view() : n.text.name());
    const std::string_view new_path = pick(NamespaceRow::kPath)
                                          ? row.text.path()
                                          : (f.reset ? std::string_view() : n.text.path());
    // A root is indexed by a view of its path: any new text re-keys it.
    const bool text_changes = !n.text.Equals(new_name, new_path);
    const bool structural = new_parent != old_parent || new_type != n.type ||
                            (text_changes && n.attachment == Attachment::kRoot);
    if (structural) Detach(slot);
    if (new_type != n.type) {
      // A group's own projects count in its subtree totals; other types' don't.
      const bool was_group = n.type == NamespaceType::kGroup;
      const bool is_group = new_type == NamespaceType::kGroup;
      uint32_t own = 0, own_unarchived = 0;
      if (was_group != is_group) CountOwnList(slot, &own, &own_unarchived);
      if (own != 0) {  // (it has an NsBelow then: it lists them)
        NsBelow& b = MutableBelowOf(slot);
        if (was_group && !is_group) {
          b.sub_projects -= own;
          b.sub_unarchived -= own_unarchived;
        } else if (!was_group && is_group) {
          b.sub_projects += own;
          b.sub_unarchived += own_unarchived;
        }
      }
      SetNamespaceType(slot, new_type);
      MarkChanged(slot);  // which runs hold it (and what its answers hold) changed
      DropRuns(slot);     // its own answers change class
    }
    if (pick(NamespaceRow::kVisibilityLevel)) {
      SetNamespaceVisibility(slot, row.visibility_level);
    } else if (f.reset) {
      SetNamespaceVisibility(slot, 20);
    }
    SetText(n.text, row.text, new_name, new_path);
    if (structural) to_attach.push_back({slot, new_parent, true, old_parent});
  }
  for (const PendingAttach& a : to_attach) {
    Attach(a.slot, a.parent_id, a.has_fallback, a.fallback_parent_id);
  }
  for (uint32_t slot : created) AdoptWaiting(slot);
  for (uint32_t slot : to_delete) DeleteNamespaceNode(slot);

  // ---- 4. project upserts ----
  for (auto& f : project_rows.rows()) {
    if (!f.exists) continue;
    const ProjectOp& row = f.row;
    auto pick = [&](ProjectRow::Column c) { return (row.present & c) != 0; };
    uint32_t slot = FindProject(row.id);
    const bool created_now = slot == kNil;
    if (created_now) {
      slot = AllocProject();
      project_ids_.Set(slot, row.id);
      project_by_id_.Insert(slot);
    }
    ProjNode& p = projects_[slot];
    const bool reset = created_now || f.reset;
    const int64_t old_ns = created_now ? 0 : NamespaceIdOf(slot);
    const int64_t new_ns = pick(ProjectRow::kNamespaceId) ? row.namespace_id : (reset ? 0 : old_ns);
    const bool new_archived =
        pick(ProjectRow::kArchived) ? row.archived : (reset ? false : p.archived);
    const int64_t old_pn = created_now ? kNoId : ProjectNamespaceIdOf(slot);
    const int64_t new_pn =
        pick(ProjectRow::kProjectNamespaceId) ? row.project_namespace_id : (reset ? kNoId : old_pn);
    const bool relink = created_now || new_ns != old_ns;
    const bool rebind = created_now || new_pn != old_pn;
    if (relink && !created_now) UnlinkProject(slot);
    if (rebind && !created_now) UnbindOwnProject(slot);
    if (!relink && new_archived != p.archived && p.ns != kNil) {
      // Archiving changes counters only: the layout's runs hold archived and
      // unarchived projects alike, so the subtree stays laid out.
      ProjectCountDelta(p.ns, 0, new_archived ? -1 : 1);
    }
    p.archived = new_archived;
    if (pick(ProjectRow::kVisibilityLevel)) {
      SetProjectVisibility(slot, row.visibility_level);
    } else if (reset) {
      SetProjectVisibility(slot, 0);
    }
    if (pick(ProjectRow::kPendingDelete)) {
      p.pending_delete = row.pending_delete;
    } else if (reset) {
      p.pending_delete = false;
    }
    const bool text_changed = SetText(
        p.text, row.text,
        pick(ProjectRow::kName) ? row.text.name() : (reset ? std::string_view() : p.text.name()),
        pick(ProjectRow::kPath) ? row.text.path() : (reset ? std::string_view() : p.text.path()));
    if (relink) LinkProject(slot, new_ns);
    if (rebind) BindOwnProject(slot, new_pn);
    // One record for the project and its project namespace when their texts
    // are equal, as Compact would make it (only a new text or a new project
    // namespace can make them equal here); the op's own record is then freed
    // with the transaction and its space reused by the next ones.
    if (text_changed || rebind) ShareOwnPnText(slot);
  }

  // ---- 5. runner link upserts ----
  auto& by_id = links_.get<ById>();
  for (auto& f : link_rows.rows()) {
    if (!f.exists) continue;
    const RunnerLinkRow& row = f.row;
    auto it = by_id.find(row.id);
    const bool reset = it == by_id.end() || f.reset;
    LinkRecord rec{row.id, 0, 0};
    if (!reset) rec = *it;
    if (row.present & RunnerLinkRow::kRunnerId) rec.runner_id = row.runner_id;
    if (row.present & RunnerLinkRow::kNamespaceId) rec.namespace_id = row.namespace_id;
    if (it == by_id.end()) {
      links_.insert(rec);
    } else {
      by_id.replace(it, rec);
    }
  }
}

void Forest::DeleteNamespaceNode(uint32_t slot) {
  const int64_t id = ns_ids_[slot];
  const NsBelow below = BelowOf(slot);  // FreeNamespace gives it back
  // Children stay, as orphans waiting for this id to reappear.
  for (uint32_t head : {below.first_child, below.first_pn_child}) {
    for (uint32_t c = head; c != kNil;) {
      NsNode& child = ns_[c];
      uint32_t next = child.next_sibling;
      child.parent = child.prev_sibling = child.next_sibling = kNil;
      child.attachment = Attachment::kOrphan;
      waiting_children_[id].push_back(c);
      loose_parent_ids_.insert_or_assign(c, id);
      ++orphan_namespaces_;
      c = next;
    }
  }
  for (uint32_t p = below.first_project; p != kNil;) {
    ProjNode& proj = projects_[p];
    uint32_t next = proj.next;
    proj.ns = proj.prev = proj.next = kNil;
    waiting_projects_[id].push_back(p);
    loose_namespace_ids_.insert_or_assign(p, id);
    ++orphan_projects_;
    p = next;
  }
  if (const uint32_t own = OwnProject(slot); own != kNil) {
    auto& waiting = waiting_own_project_[id];
    waiting.insert(waiting.begin(), own);
    project_pn_slots_[own] = kNil;
    loose_project_namespace_ids_.insert_or_assign(own, id);
    StoreOwnProject(slot, kNil);
  }
  FreeNamespace(slot);
}

void Forest::ApplyTruncate(Table table) {
  switch (table) {
    case Table::kRunnerLinks:
      links_.clear();
      return;
    case Table::kProjects:
      for (ProjNode& p : projects_) {
        if (!p.live) continue;
        string_bytes_ -= p.text.bytes();
        p.text.Unref();
      }
      projects_.clear();
      project_ids_.clear();
      project_pn_slots_.clear();
      free_projects_.clear();
      project_by_id_.Clear();
      waiting_projects_.clear();
      waiting_own_project_.clear();
      loose_namespace_ids_.clear();
      loose_project_namespace_ids_.clear();
      wide_project_visibility_.clear();
      orphan_projects_ = 0;
      for (NsNode& n : ns_) {
        if (HoldsOwnProject(n.type)) n.below_or_own_project = kNil;
      }
      other_own_project_.clear();
      for (NsBelow& b : below_) {  // (free ones too: they are reset when reused)
        b.first_project = kNil;
        b.sub_projects = b.sub_unarchived = 0;
      }
      ForgetLayout();
      return;
    case Table::kNamespaces:
      // Every project now waits for its namespace and its own namespace:
      // keep the ids that the namespaces held before they go.
      for (uint32_t s = 0; s < projects_.size(); ++s) {
        const ProjNode& p = projects_[s];
        if (!p.live) continue;
        if (p.ns != kNil) loose_namespace_ids_.insert_or_assign(s, ns_ids_[p.ns]);
        if (project_pn_slots_[s] != kNil) {
          loose_project_namespace_ids_.insert_or_assign(s, ns_ids_[project_pn_slots_[s]]);
          project_pn_slots_[s] = kNil;
        }
      }
      for (NsNode& n : ns_) {
        if (n.attachment == Attachment::kFree) continue;
        string_bytes_ -= n.text.bytes();
        n.text.Unref();
      }
      ns_.clear();
      below_.clear();
      free_below_.clear();
      ns_ids_.clear();
      ForgetLayout();
      free_ns_.clear();
      ns_by_id_.Clear();
      roots_by_path_.Clear();
      waiting_children_.clear();
      waiting_own_project_.clear();
      pn_below_.clear();
      other_own_project_.clear();
      loose_parent_ids_.clear();
      wide_ns_visibility_.clear();
      orphan_namespaces_ = 0;
      // Every project now waits for its namespace (and its own namespace).
      waiting_projects_.clear();
      orphan_projects_ = 0;
      for (uint32_t s = 0; s < projects_.size(); ++s) {
        ProjNode& p = projects_[s];
        if (!p.live) continue;
        p.ns = p.prev = p.next = kNil;
        waiting_projects_[NamespaceIdOf(s)].push_back(s);
        ++orphan_projects_;
        if (const int64_t pn_id = ProjectNamespaceIdOf(s); pn_id != kNoId) {
          waiting_own_project_[pn_id].push_back(s);
        }
      }
      return;
  }
}

}  // namespace canopy::internal

// forest_bulk.cc — building an empty Forest from a snapshot in passes.
//
// Apply() treats a snapshot like any transaction: a net-effect map over every
// key, a cycle check and an ancestor walk for the counters at every attach,
// an ancestor walk for every project. A snapshot needs none of that: its keys
// are unique and everything arrives at once. BulkBuild():
//   1. makes the nodes, namespaces and projects (plus runner links) on two
//      threads at once (each side only touches its own arrays and index);
//   2. links every namespace under its parent (no counters yet) and every
//      project into its namespace's list, binds project namespaces;
//   3. walks down from the tops once: children before parents (post-order),
//      each node's subtree counters from its children's (one pass instead of
//      a walk up per row). A namespace the walk does not reach sits on a
//      cycle: the snapshot then goes through Apply's rules instead.
// The result is the state Apply() would reach for the same rows: same nodes,
// links, waiting lists, counters and anomaly counts; only the order within
// child lists may differ, which no answer depends on (Compact() then lays
// the copy out anyway).
#include <thread>

#include "forest.h"

namespace canopy::internal {

using Attachment = NsNode::Attachment;

namespace {

// The text a new row gets from the columns present (as Apply's creation does).
RowText NewRowText(const RowText& incoming, bool has_name, bool has_path) {
  const std::string_view name = has_name ? incoming.name() : std::string_view();
  const std::string_view path = has_path ? incoming.path() : std::string_view();
  if (incoming.Equals(name, path)) {
    RowText shared = incoming;
    shared.Ref();
    return shared;
  }
  return RowText::Make(name, path);
}

}  // namespace

bool Forest::BulkBuild(std::span<const Op> ops) {
  if (ns_by_id_.size() != 0 || project_by_id_.size() != 0 || !links_.empty()) return false;
  size_t namespace_rows = 0, project_rows = 0;
  for (const Op& op : ops) {
    if (std::holds_alternative<NamespaceOp>(op)) {
      ++namespace_rows;
    } else if (std::holds_alternative<ProjectOp>(op)) {
      ++project_rows;
    } else if (!std::holds_alternative<RunnerLinkRow>(op)) {
      return false;  // deletes and truncates: Apply's rules
    }
  }

  // ---- 1. nodes, on two threads ----
  // The ids the slot links will encode once everything exists.
  std::vector<int64_t> parent_ids, namespace_ids, project_namespace_ids;
  bool namespaces_unique = true, projects_unique = true;
  uint64_t namespace_text_bytes = 0, project_text_bytes = 0;
  auto build_namespaces = [&] {
    ns_.reserve(namespace_rows);
    ns_ids_.reserve(namespace_rows);
    ns_by_id_.Reserve(namespace_rows);
    parent_ids.reserve(namespace_rows);
    for (const Op& op : ops) {
      const auto* row = std::get_if<NamespaceOp>(&op);
      if (row == nullptr) continue;
      const uint32_t slot = AllocNamespace();
      NsNode& n = ns_[slot];
      ns_ids_[slot] = row->id;
      parent_ids.push_back((row->present & NamespaceRow::kParentId) ? row->parent_id : kNoId);
      n.type = (row->present & NamespaceRow::kType) ? row->type : NamespaceType::kUser;
      SetNamespaceVisibility(
          slot, (row->present & NamespaceRow::kVisibilityLevel) ? row->visibility_level : 20);
      n.text = NewRowText(row->text, row->present & NamespaceRow::kName,
                          row->present & NamespaceRow::kPath);
      namespace_text_bytes += n.text.bytes();
      const size_t before = ns_by_id_.size();
      ns_by_id_.Insert(slot);
      if (ns_by_id_.size() == before) {
        namespaces_unique = false;
        return;
      }
    }
  };
  auto build_projects = [&] {
    projects_.reserve(project_rows);
    project_ids_.reserve(project_rows);
    project_by_id_.Reserve(project_rows);
    namespace_ids.reserve(project_rows);
    project_namespace_ids.reserve(project_rows);
    for (const Op& op : ops) {
      if (const auto* link = std::get_if<RunnerLinkRow>(&op)) {
        LinkRecord rec{link->id, 0, 0};
        if (link->present & RunnerLinkRow::kRunnerId) rec.runner_id = link->runner_id;
        if (link->present & RunnerLinkRow::kNamespaceId) rec.namespace_id = link->namespace_id;
        if (!links_.insert(rec).second) {
          projects_unique = false;
          return;
        }
        continue;
      }
      const auto* row = std::get_if<ProjectOp>(&op);
      if (row == nullptr) continue;
      const uint32_t slot = AllocProject();
      ProjNode& p = projects_[slot];
      project_ids_[slot] = row->id;
      auto has = [&](ProjectRow::Column c) { return (row->present & c) != 0; };
      namespace_ids.push_back(has(ProjectRow::kNamespaceId) ? row->namespace_id : 0);
      project_namespace_ids.push_back(
          has(ProjectRow::kProjectNamespaceId) ? row->project_namespace_id : kNoId);
      p.archived = has(ProjectRow::kArchived) && row->archived;
      p.pending_delete = has(ProjectRow::kPendingDelete) && row->pending_delete;
      SetProjectVisibility(slot, has(ProjectRow::kVisibilityLevel) ? row->visibility_level : 0);
      p.text = NewRowText(row->text, has(ProjectRow::kName), has(ProjectRow::kPath));
      project_text_bytes += p.text.bytes();
      const size_t before = project_by_id_.size();
      project_by_id_.Insert(slot);
      if (project_by_id_.size() == before) {
        projects_unique = false;
        return;
      }
    }
  };
  {
    std::thread projects_thread(build_projects);
    build_namespaces();
    projects_thread.join();
  }
  string_bytes_ += namespace_text_bytes + project_text_bytes;
  if (!namespaces_unique || !projects_unique) return ResetAfterFailedBulkBuild();

  // ---- 2. links ----
  const uint32_t namespace_slots = static_cast<uint32_t>(ns_.size());
  for (uint32_t slot = 0; slot < namespace_slots; ++slot) {
    const int64_t parent_id = parent_ids[slot];
    const uint32_t parent = parent_id == kNoId ? kNil : FindNamespace(parent_id);
    if (parent == kNil || parent == slot) {
      // A root or an orphan (Attach's bookkeeping); a node naming itself is a cycle.
      if (parent == slot) return ResetAfterFailedBulkBuild();
      Attach(slot, parent_id, /*has_fallback=*/false, kNoId);
      continue;
    }
    PushChild(parent, slot);
  }
  const uint32_t project_slots = static_cast<uint32_t>(projects_.size());
  for (uint32_t slot = 0; slot < project_slots; ++slot) {
    ProjNode& p = projects_[slot];
    const uint32_t ns = FindNamespace(namespace_ids[slot]);
    if (ns == kNil) {
      LinkProject(slot, namespace_ids[slot]);  // an orphan: no counter to update
    } else {
      NsNode& n = ns_[ns];
      p.ns = ns;
      p.next = n.first_project;
      if (n.first_project != kNil) projects_[n.first_project].prev = slot;
      n.first_project = slot;
    }
    BindOwnProject(slot, project_namespace_ids[slot]);
  }

  // ---- 3. counters, children before parents ----
  std::vector<uint32_t> stack, post_order;
  post_order.reserve(namespace_slots);
  for (uint32_t top = 0; top < namespace_slots; ++top) {
    if (ns_[top].parent != kNil) continue;
    stack.push_back(top);
    while (!stack.empty()) {
      const uint32_t x = stack.back();
      stack.pop_back();
      post_order.push_back(x);  // pre-order; reversed below
      for (uint32_t head : {ns_[x].first_child, ns_[x].first_pn_child}) {
        for (uint32_t c = head; c != kNil; c = ns_[c].next_sibling) stack.push_back(c);
      }
    }
  }
  if (post_order.size() != namespace_slots) return ResetAfterFailedBulkBuild();  // a cycle
  for (auto it = post_order.rbegin(); it != post_order.rend(); ++it) {
    NsNode& n = ns_[*it];
    if (n.type == NamespaceType::kGroup) {  // a group's own projects count in its subtree
      uint32_t own = 0, own_unarchived = 0;
      CountOwnList(*it, &own, &own_unarchived);
      n.sub_projects += own;
      n.sub_unarchived += own_unarchived;
    }
    if (n.parent == kNil) continue;
    NsNode& p = ns_[n.parent];
    const Contribution c = ContributionOf(*it);
    p.sub_groups += c.groups;
    p.sub_pns += c.pns;
    p.sub_projects += c.projects;
    p.sub_unarchived += c.unarchived;
  }
  return true;
}

bool Forest::ResetAfterFailedBulkBuild() {
  ApplyTruncate(Table::kRunnerLinks);
  ApplyTruncate(Table::kProjects);
  ApplyTruncate(Table::kNamespaces);
  return false;
}

}  // namespace canopy::internal

// forest_queries.cc — the read side of one Forest copy (see docs/queries.md).
#include <algorithm>
#include <string>

#include "forest.h"
#include "id_sort.h"

namespace canopy::internal {

using Attachment = NsNode::Attachment;

namespace {

Status UnknownNamespace(int64_t id) {
  return Status::NotFound("namespace " + std::to_string(id) + " not found");
}
Status UnknownProject(int64_t id) {
  return Status::NotFound("project " + std::to_string(id) + " not found");
}

// Scratch stack for tree walks, one per reader thread: walks allocate nothing
// once it has grown.
std::vector<uint32_t>& WalkStack() {
  thread_local std::vector<uint32_t> stack;
  stack.clear();
  return stack;
}

// Scratch list of sorted runs to merge into an answer, one per reader thread.
std::vector<const SortedIdRun*>& ThreadSortedPieces() {
  thread_local std::vector<const SortedIdRun*> pieces;
  pieces.clear();
  return pieces;
}

}  // namespace

template <typename Visit>
void Forest::WalkAll(uint32_t slot, Visit&& visit) const {
  std::vector<uint32_t>& stack = WalkStack();
  stack.push_back(slot);
  while (!stack.empty()) {
    const NsBelow& n = BelowOf(stack.back());
    stack.pop_back();
    for (uint32_t head : {n.first_child, n.first_pn_child}) {
      for (uint32_t c = head; c != kNil; c = ns_[c].next_sibling) {
        visit(c);
        if (BelowOf(c).HasChildren()) stack.push_back(c);
      }
    }
  }
}

// Appends slot's id and its ancestors' ids, self first.
void Forest::AppendChain(uint32_t slot, std::vector<int64_t>* out) const {
  for (uint32_t s = slot; s != kNil; s = ns_[s].parent) out->push_back(ns_ids_[s]);
}

void Forest::AppendNamespaceRun(uint32_t begin, uint32_t end, std::vector<int64_t>* out) const {
  ns_ids_.CopyRange(begin, end, out);
}

void Forest::AppendProjectRun(uint32_t begin, uint32_t end, bool unarchived_only,
                              std::vector<int64_t>* out) const {
  if (!unarchived_only) {
    project_ids_.CopyRange(begin, end, out);
    return;
  }
  for (uint32_t p = begin; p < end; ++p) {  // in slot order: a sequential scan
    if (!projects_[p].archived) out->push_back(project_ids_[p]);
  }
}

void Forest::AppendProjectsOf(uint32_t slot, bool unarchived_only,
                              std::vector<int64_t>* out) const {
  for (uint32_t p = BelowOf(slot).first_project; p != kNil; p = projects_[p].next) {
    if (!unarchived_only || !projects_[p].archived) out->push_back(project_ids_[p]);
  }
}

void Forest::CollectLaidOut(uint32_t slot, SubtreePart part, bool unarchived_only,
                            std::vector<int64_t>* out, SortedPieces* sorted_pieces) const {
  const LayoutEntry& here = LayoutAt(slot);
  const LayoutEntry& after = LayoutAt(here.end);
  const SortedRuns* runs = sorted_pieces != nullptr ? FindSortedRuns(slot) : nullptr;
  switch (part) {
    case SubtreePart::kGroups:
      if (runs != nullptr && runs->groups) {
        sorted_pieces->push_back(&*runs->groups);
      } else {
        AppendNamespaceRun(slot, here.end, out);
      }
      return;
    case SubtreePart::kGroupsAndPns:
      if (runs != nullptr && runs->groups_and_pns) {
        sorted_pieces->push_back(&*runs->groups_and_pns);
      } else if (runs != nullptr && runs->groups && BelowOf(slot).sub_pns == 0) {
        sorted_pieces->push_back(&*runs->groups);  // (no project namespace below: the same ids)
      } else {
        AppendNamespaceRun(slot, here.end, out);
        AppendNamespaceRun(here.pns, after.pns, out);
      }
      return;
    case SubtreePart::kProjects:
      if (runs != nullptr && runs->projects && !unarchived_only) {
        sorted_pieces->push_back(&*runs->projects);
      } else {
        AppendProjectRun(here.projects, after.projects, unarchived_only, out);
      }
      return;
  }
}

// Mirrors a plain walk: groups are entered through their child lists;
// project-namespace child lists only when the counters say a group hides
// below one (never in valid GitLab data, where project namespaces are
// leaves), unless every type is collected.
void Forest::CollectBelow(uint32_t slot, SubtreePart part, bool unarchived_only,
                          std::vector<int64_t>* out, SortedPieces* sorted_pieces) const {
  const bool all_types = part == SubtreePart::kGroupsAndPns;
  std::vector<uint32_t>& stack = WalkStack();
  stack.push_back(slot);
  while (!stack.empty()) {
    const NsBelow& n = BelowOf(stack.back());
    stack.pop_back();
    uint32_t groups_seen = 0;
    for (uint32_t c = n.first_child; c != kNil; c = ns_[c].next_sibling) {
      const NsNode& child_node = ns_[c];
      const NsBelow& child = BelowOf(c);
      const bool group = child_node.type == NamespaceType::kGroup;
      groups_seen += child.sub_groups + (group ? 1 : 0);
      if (group && child_node.laid_out && use_slices_) {
        CollectLaidOut(c, part, unarchived_only, out, sorted_pieces);
        continue;
      }
      if (part == SubtreePart::kProjects) {
        if (group) AppendProjectsOf(c, unarchived_only, out);
      } else if (group || all_types) {
        out->push_back(ns_ids_[c]);
      }
      const bool below = all_types ? child.HasChildren() : child.sub_groups != 0;
      if (below) stack.push_back(c);
    }
    if (!all_types && groups_seen >= n.sub_groups) continue;
    for (uint32_t c = n.first_pn_child; c != kNil; c = ns_[c].next_sibling) {
      const NsBelow& child = BelowOf(c);
      if (all_types) {
        out->push_back(ns_ids_[c]);
        if (child.HasChildren()) stack.push_back(c);
      } else if (child.sub_groups != 0) {
        stack.push_back(c);
      }
    }
  }
}

std::pair<size_t, size_t> Forest::SortedRunsSharedWith(const Forest& other) const {
  size_t shared = 0;
  for (const auto& [slot, runs] : sorted_runs_) {
    shared += other.FindSortedRuns(slot) == runs.get() ? 1 : 0;
  }
  return {shared, sorted_runs_.size()};
}

bool Forest::StaleRunAnswer(uint32_t slot, SubtreePart part, bool include_self,
                            std::vector<int64_t>* out) const {
  if (run_deltas_.empty()) return false;
  const auto d = run_deltas_.find(slot);
  if (d == run_deltas_.end()) return false;
  const auto p = static_cast<size_t>(part);
  const SortedRuns::Run& run = d->second.runs->at(p);
  if (!run) return false;
  out->clear();
  out->reserve(run->size() + d->second.joined[p].size());
  run->AppendTo(0, run->size(), out);
  if (d->second.size(p) == 0 && include_self) return true;  // (nothing changed since the run)
  thread_local std::vector<int64_t> added, removed;
  d->second.Resolve(p, &added, &removed);
  if (!include_self) {
    const int64_t self = ns_ids_[slot];
    removed.insert(std::lower_bound(removed.begin(), removed.end(), self), self);
  }
  ApplySortedChanges(out, removed, added);  // (new ids are mostly the biggest: an append)
  return true;
}

const Forest::SortedRuns* Forest::FindSortedRuns(uint32_t slot) const {
  if (sorted_runs_.empty()) return nullptr;
  auto it = sorted_runs_.find(slot);
  return it == sorted_runs_.end() ? nullptr : it->second.get();
}

Status Forest::SelfAndAncestors(int64_t ns, HierarchyOrder order, bool include_self,
                                std::vector<int64_t>* out) const {
  out->clear();
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  AppendChain(include_self ? slot : ns_[slot].parent, out);
  if (order == HierarchyOrder::kRootFirst) std::reverse(out->begin(), out->end());
  return Status::Ok();
}

Status Forest::AncestorsUpto(int64_t ns, int64_t top, HierarchyOrder order,
                             std::vector<int64_t>* out) const {
  out->clear();
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  for (uint32_t s = ns_[slot].parent; s != kNil; s = ns_[s].parent) {
    if (top > 0 && ns_ids_[s] == top) break;  // top and everything above it are excluded
    out->push_back(ns_ids_[s]);
  }
  if (order == HierarchyOrder::kRootFirst) std::reverse(out->begin(), out->end());
  return Status::Ok();
}

Result<int64_t> Forest::RootAncestor(int64_t ns) const {
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  while (ns_[slot].parent != kNil) slot = ns_[slot].parent;
  return ns_ids_[slot];
}

Status Forest::SelfAndDescendants(int64_t ns, bool include_pns, bool include_self,
                                  std::vector<int64_t>* out, bool sorted) const {
  out->clear();
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  const NsNode& n = ns_[slot];
  const NsBelow& below = BelowOf(slot);
  if (use_slices_ && n.laid_out && n.type == NamespaceType::kGroup) {
    // Unchanged since the last Compact: the runs hold exactly the subtree.
    const SortedIdRun* sorted_run = nullptr;
    if (const SortedRuns* runs = sorted ? FindSortedRuns(slot) : nullptr) {
      if (include_pns && runs->groups_and_pns) {
        sorted_run = &*runs->groups_and_pns;
      } else if ((!include_pns || below.sub_pns == 0) && runs->groups) {
        sorted_run = &*runs->groups;  // (no project namespace below: the same ids)
      }
    }
    if (sorted_run != nullptr) {
      const SortedIdRun& run = *sorted_run;
      if (include_self) {
        run.AppendTo(0, run.size(), out);
      } else {  // all but ns itself
        const size_t self = run.LowerBound(ns_ids_[slot]);
        out->reserve(run.size() - 1);
        run.AppendTo(0, self, out);
        run.AppendTo(self + 1, run.size(), out);
      }
      return Status::Ok();
    }
    const LayoutEntry& here = LayoutAt(slot);
    const LayoutEntry& after = LayoutAt(here.end);
    out->reserve(below.sub_groups + 1 + (include_pns ? below.sub_pns : 0));
    AppendNamespaceRun(include_self ? slot : slot + 1, here.end, out);
    if (include_pns) AppendNamespaceRun(here.pns, after.pns, out);
    if (sorted) SortUniqueIds(out);  // no sorted copy: a run is in tree order
    return Status::Ok();
  }
  if (sorted && use_slices_ && n.type == NamespaceType::kGroup &&
      StaleRunAnswer(slot, include_pns ? SubtreePart::kGroupsAndPns : SubtreePart::kGroups,
                     include_self, out)) {
    return Status::Ok();
  }
  SortedPieces& pieces = ThreadSortedPieces();
  SortedPieces* sorted_pieces = sorted ? &pieces : nullptr;
  if (include_self) out->push_back(ns_ids_[slot]);
  if (include_pns) {
    out->reserve(out->size() + below.sub_groups + below.sub_pns);
    CollectBelow(slot, SubtreePart::kGroupsAndPns, false, out, sorted_pieces);
  } else if (n.type == NamespaceType::kGroup) {
    out->reserve(out->size() + below.sub_groups);
    CollectBelow(slot, SubtreePart::kGroups, false, out, sorted_pieces);
  } else {
    // Class scoping: a user (project) namespace's own class below it.
    WalkAll(slot, [&](uint32_t c) {
      if (ns_[c].type == n.type) out->push_back(ns_ids_[c]);
    });
  }
  if (sorted) SortAndMergeIds(out, pieces);
  return Status::Ok();
}

Status Forest::SelfAndHierarchy(int64_t ns, bool include_pns, std::vector<int64_t>* out,
                                bool sorted) const {
  Status s = SelfAndDescendants(ns, include_pns, /*include_self=*/true, out, sorted);
  if (!s.ok()) return s;
  if (!sorted) {  // strict ancestors: none of them is in the subtree, so no duplicate
    AppendChain(ns_[FindNamespace(ns)].parent, out);
    return Status::Ok();
  }
  // Merge the (few) ancestors into the sorted descendants from the back:
  // the two sets are disjoint, so no full sort and no duplicate.
  thread_local std::vector<int64_t> chain;
  chain.clear();
  AppendChain(ns_[FindNamespace(ns)].parent, &chain);
  std::sort(chain.begin(), chain.end());
  MergeSortedIds(out, chain);
  return Status::Ok();
}

Status Forest::ProjectIds(int64_t ns, bool unarchived_only, std::vector<int64_t>* out,
                          bool sorted) const {
  out->clear();
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  const NsNode& n = ns_[slot];
  SortedPieces& pieces = ThreadSortedPieces();
  SortedPieces* sorted_pieces = sorted ? &pieces : nullptr;
  switch (n.type) {
    case NamespaceType::kGroup:
      if (use_slices_ && n.laid_out) {
        CollectLaidOut(slot, SubtreePart::kProjects, unarchived_only, out, sorted_pieces);
        break;
      }
      if (sorted && use_slices_ && !unarchived_only &&
          StaleRunAnswer(slot, SubtreePart::kProjects, /*include_self=*/true, out)) {
        return Status::Ok();
      }
      out->reserve(unarchived_only ? BelowOf(slot).sub_unarchived : BelowOf(slot).sub_projects);
      AppendProjectsOf(slot, unarchived_only, out);
      CollectBelow(slot, SubtreePart::kProjects, unarchived_only, out, sorted_pieces);
      break;
    case NamespaceType::kUser:
      AppendProjectsOf(slot, unarchived_only, out);
      break;
    case NamespaceType::kProject:
      if (const uint32_t own = OwnProject(slot);
          own != kNil && (!unarchived_only || !projects_[own].archived)) {
        out->push_back(project_ids_[own]);
      }
      break;
  }
  // A project is in one namespace's list: no duplicates.
  if (sorted) SortAndMergeIds(out, pieces);
  return Status::Ok();
}

Status Forest::ProjectAncestors(int64_t project, HierarchyOrder order,
                                std::vector<int64_t>* out) const {
  out->clear();
  uint32_t p = FindProject(project);
  if (p == kNil) return UnknownProject(project);
  uint32_t ns = projects_[p].ns;
  if (ns == kNil || ns_[ns].type != NamespaceType::kGroup) return Status::Ok();
  AppendChain(ns, out);
  if (order == HierarchyOrder::kRootFirst) std::reverse(out->begin(), out->end());
  return Status::Ok();
}

void Forest::AppendRunnersOf(int64_t ns, std::vector<int64_t>* out) const {
  auto range = links_.get<ByNamespace>().equal_range(ns);
  for (auto it = range.first; it != range.second; ++it) out->push_back(it->runner_id);
}

void Forest::RunnersOfGroups(std::span<const int64_t> namespaces, std::vector<int64_t>* out) const {
  out->clear();
  for (int64_t ns : namespaces) AppendRunnersOf(ns, out);
  SortUniqueIds(out);
}

Status Forest::RunnersOfGroupAndAncestors(int64_t ns, std::vector<int64_t>* out) const {
  out->clear();
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  if (ns_[slot].type != NamespaceType::kGroup) return Status::Ok();
  for (uint32_t s = slot; s != kNil; s = ns_[s].parent) AppendRunnersOf(ns_ids_[s], out);
  SortUniqueIds(out);
  return Status::Ok();
}

Status Forest::RunnersOfParentGroupsOfProject(int64_t project, std::vector<int64_t>* out) const {
  out->clear();
  uint32_t p = FindProject(project);
  if (p == kNil) return UnknownProject(project);
  uint32_t ns = projects_[p].ns;
  if (ns == kNil || ns_[ns].type != NamespaceType::kGroup) return Status::Ok();
  for (uint32_t s = ns; s != kNil; s = ns_[s].parent) AppendRunnersOf(ns_ids_[s], out);
  SortUniqueIds(out);
  return Status::Ok();
}

Result<SubtreeCounts> Forest::Counts(int64_t ns) const {
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  const NsNode& n = ns_[slot];
  const NsBelow& below = BelowOf(slot);
  SubtreeCounts c;
  c.descendant_groups = below.sub_groups;
  c.descendant_project_namespaces = below.sub_pns;
  switch (n.type) {
    case NamespaceType::kGroup:
      c.projects = below.sub_projects;
      c.unarchived_projects = below.sub_unarchived;
      break;
    case NamespaceType::kUser: {
      uint32_t own = 0, own_unarchived = 0;
      CountOwnList(slot, &own, &own_unarchived);
      c.projects = own;
      c.unarchived_projects = own_unarchived;
      break;
    }
    case NamespaceType::kProject: {
      const uint32_t own = OwnProject(slot);
      c.projects = own != kNil ? 1 : 0;
      c.unarchived_projects = own != kNil && !projects_[own].archived ? 1 : 0;
      break;
    }
  }
  return c;
}

Result<std::string> Forest::NamespaceFullPath(int64_t ns) const {
  uint32_t slot = FindNamespace(ns);
  if (slot == kNil) return UnknownNamespace(ns);
  std::vector<uint32_t>& chain = WalkStack();
  size_t length = 0;
  for (uint32_t s = slot; s != kNil; s = ns_[s].parent) {
    chain.push_back(s);
    length += ns_[s].text.path().size() + 1;
  }
  std::string out;
  out.reserve(length);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!out.empty() || it != chain.rbegin()) out += '/';
    out += ns_[*it].text.path();
  }
  return out;
}

Result<std::string> Forest::ProjectFullPath(int64_t project) const {
  uint32_t p = FindProject(project);
  if (p == kNil) return UnknownProject(project);
  const ProjNode& proj = projects_[p];
  if (proj.ns == kNil) {
    return Status::NotFound("namespace " + std::to_string(NamespaceIdOf(p)) + " of project " +
                            std::to_string(project) + " not found");
  }
  Result<std::string> base = NamespaceFullPath(ns_ids_[proj.ns]);
  if (!base.ok()) return base.status();
  std::string out = std::move(base).value();
  out += '/';
  out += proj.text.path();
  return out;
}

namespace {

// The segments of a full path, one at a time.
class Segments {
 public:
  explicit Segments(std::string_view full_path) : rest_(full_path) {}
  // True when the path has no empty segment (no leading, trailing or double
  // slash, not empty).
  static bool WellFormed(std::string_view full_path) {
    return !full_path.empty() && full_path.front() != '/' && full_path.back() != '/' &&
           full_path.find("//") == std::string_view::npos;
  }
  std::string_view Next() {
    const size_t slash = rest_.find('/');
    std::string_view seg = rest_.substr(0, slash);
    rest_ = slash == std::string_view::npos ? std::string_view() : rest_.substr(slash + 1);
    last_ = slash == std::string_view::npos;
    return seg;
  }
  bool last() const { return last_; }  // of the segment Next() returned last

 private:
  std::string_view rest_;
  bool last_ = false;
};

}  // namespace

Result<ResolvedPath> Forest::Resolve(std::string_view full_path) const {
  ResolvedPath out;
  if (Segments::WellFormed(full_path)) {
    Segments first(full_path);
    thread_local std::vector<uint32_t> scratch;
    const std::span<const uint32_t> roots = roots_by_path_.Find(first.Next(), &scratch);
    if (!roots.empty() &&
        (ResolveExact(full_path, roots, &out) || ResolveIgnoringCase(full_path, roots, &out))) {
      return out;
    }
  }
  return Status::NotFound("path '" + std::string(full_path) + "' not found");
}

// Where several candidates share a path: a user/group namespace, lowest id.
uint32_t Forest::BetterNamespace(uint32_t best, uint32_t candidate) const {
  if (ns_[candidate].type == NamespaceType::kProject) return best;
  return best == kNil || ns_ids_[candidate] < ns_ids_[best] ? candidate : best;
}

// Phase 1: every segment exactly, following at each level the lowest-id
// user/group namespace of that path.
bool Forest::ResolveExact(std::string_view full_path, std::span<const uint32_t> roots,
                          ResolvedPath* out) const {
  Segments segments(full_path);
  const std::string_view root_path = segments.Next();
  uint32_t current = kNil;
  for (uint32_t s : roots) {
    if (ns_[s].text.path() == root_path) current = BetterNamespace(current, s);
  }
  if (current == kNil) return false;
  while (!segments.last()) {
    const std::string_view seg = segments.Next();
    uint32_t next = kNil;
    for (uint32_t c = BelowOf(current).first_child; c != kNil; c = ns_[c].next_sibling) {
      if (ns_[c].text.path() == seg) next = BetterNamespace(next, c);
    }
    if (next == kNil && segments.last()) {
      int64_t best_project = 0;
      bool found = false;
      for (uint32_t p = BelowOf(current).first_project; p != kNil; p = projects_[p].next) {
        if (projects_[p].text.path() == seg && (!found || project_ids_[p] < best_project)) {
          best_project = project_ids_[p];
          found = true;
        }
      }
      if (found) *out = ResolvedPath{Table::kProjects, best_project};
      return found;
    }
    if (next == kNil) return false;
    current = next;
  }
  *out = ResolvedPath{Table::kNamespaces, ns_ids_[current]};
  return true;
}

// Phase 2: every segment ignoring ASCII case, over every branch that
// matches (level by level: each node is looked at once). Among every row
// whose full path matches, a user/group namespace before a project, then the
// lowest id.
bool Forest::ResolveIgnoringCase(std::string_view full_path, std::span<const uint32_t> roots,
                                 ResolvedPath* out) const {
  Segments segments(full_path);
  segments.Next();  // `roots` are the roots whose path matches it
  // The matching user/group namespaces of the current level, then (appended)
  // those of the next one.
  std::vector<uint32_t>& level = WalkStack();
  for (uint32_t s : roots) {
    if (ns_[s].type != NamespaceType::kProject) level.push_back(s);
  }
  size_t begin = 0;
  while (!segments.last()) {
    const size_t end = level.size();
    if (begin == end) return false;
    const std::string_view seg = segments.Next();
    if (segments.last()) {
      uint32_t best = kNil;
      for (size_t i = begin; i < end; ++i) {
        for (uint32_t c = BelowOf(level[i]).first_child; c != kNil; c = ns_[c].next_sibling) {
          if (AsciiCaseEquals(ns_[c].text.path(), seg)) best = BetterNamespace(best, c);
        }
      }
      if (best != kNil) {
        *out = ResolvedPath{Table::kNamespaces, ns_ids_[best]};
        return true;
      }
      int64_t best_project = 0;
      bool found = false;
      for (size_t i = begin; i < end; ++i) {
        for (uint32_t p = BelowOf(level[i]).first_project; p != kNil; p = projects_[p].next) {
          if (AsciiCaseEquals(projects_[p].text.path(), seg) &&
              (!found || project_ids_[p] < best_project)) {
            best_project = project_ids_[p];
            found = true;
          }
        }
      }
      if (found) *out = ResolvedPath{Table::kProjects, best_project};
      return found;
    }
    for (size_t i = begin; i < end; ++i) {
      for (uint32_t c = BelowOf(level[i]).first_child; c != kNil; c = ns_[c].next_sibling) {
        if (ns_[c].type != NamespaceType::kProject && AsciiCaseEquals(ns_[c].text.path(), seg)) {
          level.push_back(c);
        }
      }
    }
    begin = end;
  }
  // A single segment: the roots themselves.
  uint32_t best = kNil;
  for (size_t i = begin; i < level.size(); ++i) best = BetterNamespace(best, level[i]);
  if (best == kNil) return false;
  *out = ResolvedPath{Table::kNamespaces, ns_ids_[best]};
  return true;
}

std::optional<NamespaceRow> Forest::GetNamespace(int64_t id) const {
  uint32_t slot = FindNamespace(id);
  if (slot == kNil) return std::nullopt;
  const NsNode& n = ns_[slot];
  NamespaceRow row;
  row.id = ns_ids_[slot];
  if (const int64_t parent_id = ParentIdOf(slot); parent_id != kNoId) row.parent_id = parent_id;
  row.type = n.type;
  row.name = std::string(n.text.name());
  row.path = std::string(n.text.path());
  row.visibility_level = NamespaceVisibility(slot);
  return row;
}

std::optional<ProjectRow> Forest::GetProject(int64_t id) const {
  uint32_t slot = FindProject(id);
  if (slot == kNil) return std::nullopt;
  const ProjNode& p = projects_[slot];
  ProjectRow row;
  row.id = project_ids_[slot];
  row.namespace_id = NamespaceIdOf(slot);
  if (const int64_t pn_id = ProjectNamespaceIdOf(slot); pn_id != kNoId) {
    row.project_namespace_id = pn_id;
  }
  row.name = std::string(p.text.name());
  row.path = std::string(p.text.path());
  row.visibility_level = ProjectVisibility(slot);
  row.archived = p.archived;
  row.pending_delete = p.pending_delete;
  return row;
}

std::optional<RunnerLinkRow> Forest::GetRunnerLink(int64_t id) const {
  auto& by_id = links_.get<ById>();
  auto it = by_id.find(id);
  if (it == by_id.end()) return std::nullopt;
  RunnerLinkRow row;
  row.id = it->id;
  row.runner_id = it->runner_id;
  row.namespace_id = it->namespace_id;
  return row;
}

std::vector<int64_t> Forest::ListNamespaceIds() const {
  std::vector<int64_t> ids;
  ids.reserve(ns_by_id_.size());
  ns_by_id_.ForEach([&](uint32_t slot) { ids.push_back(ns_ids_[slot]); });
  SortUniqueIds(&ids);
  return ids;
}

std::vector<int64_t> Forest::ListProjectIds() const {
  std::vector<int64_t> ids;
  ids.reserve(project_by_id_.size());
  project_by_id_.ForEach([&](uint32_t slot) { ids.push_back(project_ids_[slot]); });
  SortUniqueIds(&ids);
  return ids;
}

std::vector<int64_t> Forest::ListOrphanNamespaceIds() const {
  std::vector<int64_t> ids;
  for (const auto& [parent_id, slots] : waiting_children_) {
    for (uint32_t s : slots) ids.push_back(ns_ids_[s]);
  }
  SortUniqueIds(&ids);
  return ids;
}

IdAnswer Forest::Run(const IdQuery& q) const {
  IdAnswer a;
  Run(q, &a);
  return a;
}

void Forest::Run(const IdQuery& q, IdAnswer* out) const {
  IdAnswer& a = *out;
  a.status = Status::Ok();
  a.ids.clear();
  a.total = 0;
  a.more = false;
  if (static_cast<int>(q.kind) >= kQueryKindCount) {
    a.status = Status::InvalidArgument("unknown query kind");
    return;
  }
  if (q.after_id.has_value() && !IsAscendingKind(q.kind)) {
    a.status = Status::InvalidArgument(std::string("after_id is only for ascending kinds, not ") +
                                       QueryKindName(q.kind));
    return;
  }
  if (q.order != HierarchyOrder::kRootFirst && q.order != HierarchyOrder::kSelfFirst) {
    a.status = Status::InvalidArgument("unknown hierarchy order");
    return;
  }
  if (q.id_order != IdOrder::kAscending && q.id_order != IdOrder::kAny) {
    a.status = Status::InvalidArgument("unknown id order");
    return;
  }
  if (q.after_id.has_value() && q.id_order == IdOrder::kAny) {
    a.status = Status::InvalidArgument(
        "after_id needs ascending id order: an answer in any order cannot be paged");
    return;
  }
  // Runner kinds sort either way: the sort is what removes a runner linked
  // to several of the namespaces.
  const bool sorted = q.id_order == IdOrder::kAscending;
  std::vector<int64_t>& ids = a.ids;
  switch (q.kind) {
    case QueryKind::kSelfAndAncestors:
      a.status = SelfAndAncestors(q.id, q.order, true, &ids);
      break;
    case QueryKind::kAncestors:
      a.status = SelfAndAncestors(q.id, q.order, false, &ids);
      break;
    case QueryKind::kAncestorsUpto:
      a.status = AncestorsUpto(q.id, q.top, q.order, &ids);
      break;
    case QueryKind::kRootAncestor: {
      Result<int64_t> root = RootAncestor(q.id);
      a.status = root.status();
      if (root.ok()) ids.push_back(*root);
      break;
    }
    case QueryKind::kSelfAndDescendants:
      a.status = SelfAndDescendants(q.id, q.include_project_namespaces, true, &ids, sorted);
      break;
    case QueryKind::kDescendants:
      a.status = SelfAndDescendants(q.id, q.include_project_namespaces, false, &ids, sorted);
      break;
    case QueryKind::kSelfAndHierarchy:
      a.status = SelfAndHierarchy(q.id, q.include_project_namespaces, &ids, sorted);
      break;
    case QueryKind::kAllProjectIds:
      a.status = ProjectIds(q.id, false, &ids, sorted);
      break;
    case QueryKind::kAllUnarchivedProjectIds:
      a.status = ProjectIds(q.id, true, &ids, sorted);
      break;
    case QueryKind::kProjectAncestors:
      a.status = ProjectAncestors(q.id, q.order, &ids);
      break;
    case QueryKind::kRunnersOfGroup:
      RunnersOfGroups(std::span<const int64_t>(&q.id, 1), &ids);
      break;
    case QueryKind::kRunnersOfGroupAndAncestors:
      a.status = RunnersOfGroupAndAncestors(q.id, &ids);
      break;
    case QueryKind::kRunnersOfParentGroupsOfProject:
      a.status = RunnersOfParentGroupsOfProject(q.id, &ids);
      break;
  }
  a.total = ids.size();
  if (q.after_id.has_value()) {
    auto first = std::upper_bound(ids.begin(), ids.end(), *q.after_id);
    ids.erase(ids.begin(), first);
  }
  if (q.limit != 0 && ids.size() > q.limit) {
    ids.resize(q.limit);
    a.more = true;
  }
  return;
}

IndexStats Forest::Stats() const {
  IndexStats s;
  s.applied_lsn = applied_lsn_;
  s.namespaces = ns_by_id_.size();
  s.projects = project_by_id_.size();
  s.runner_links = links_.size();
  s.orphan_namespaces = orphan_namespaces_;
  s.orphan_projects = orphan_projects_;
  s.cycles_refused = cycles_refused_;
  s.unknown_deletes = unknown_deletes_;
  s.transactions_applied = transactions_applied_;
  s.row_changes_applied = row_changes_applied_;
  s.laid_out_namespaces = laid_out_;
  s.stale_run_namespaces = run_deltas_.size();
  // This copy's structures (strings excluded; they are shared by both copies).
  uint64_t bytes =
      ns_.bytes() + below_.bytes() + projects_.bytes() + ns_ids_.bytes() + project_ids_.bytes();
  bytes += project_pn_slots_.bytes();
  // The layout and the sorted runs: both copies usually share them
  // (BulkLoad's copy, Compact), so each copy counts its share.
  if (layout_) {
    bytes += layout_->capacity() * sizeof(LayoutEntry) / static_cast<size_t>(layout_.use_count());
  }
  for (const auto& [slot, runs] : sorted_runs_) {
    bytes += runs->bytes() / static_cast<size_t>(std::max(1L, runs.use_count()));
  }
  for (const auto& [slot, delta] : run_deltas_) {
    bytes += sizeof(uint32_t) + sizeof(RunDelta);
    for (size_t part = 0; part < 3; ++part) {
      bytes += (delta.joined[part].capacity() + delta.left[part].capacity()) * sizeof(int64_t);
    }
  }
  bytes +=
      (free_ns_.capacity() + free_below_.capacity() + free_projects_.capacity()) * sizeof(uint32_t);
  bytes += ns_by_id_.bytes() + project_by_id_.bytes();
  // multi_index hashed node: the record plus one link pointer per index, and buckets.
  bytes += links_.size() * (sizeof(LinkRecord) + 3 * sizeof(void*)) +
           links_.bucket_count() * 3 * sizeof(void*);
  bytes += roots_by_path_.bytes();
  bytes += (pn_below_.bucket_count() + other_own_project_.bucket_count()) *
           (sizeof(std::pair<uint32_t, uint32_t>) + 1);
  // Orphan waiting lists (each list's slots counted, not its allocation slack).
  for (const auto* waiting : {&waiting_children_, &waiting_projects_, &waiting_own_project_}) {
    bytes += waiting->bucket_count() * (sizeof(int64_t) + sizeof(std::vector<uint32_t>) + 1);
  }
  bytes += (orphan_namespaces_ + orphan_projects_ + waiting_own_project_.size()) * sizeof(uint32_t);
  // The side maps of ROW COLUMNS (forest.h).
  bytes +=
      loose_parent_ids_.bucket_count() * (sizeof(std::pair<uint32_t, int64_t>) + 1) +
      loose_namespace_ids_.bucket_count() * (sizeof(std::pair<uint32_t, int64_t>) + 1) +
      loose_project_namespace_ids_.bucket_count() * (sizeof(std::pair<uint32_t, int64_t>) + 1) +
      wide_ns_visibility_.bucket_count() * (sizeof(std::pair<uint32_t, int32_t>) + 1) +
      wide_project_visibility_.bucket_count() * (sizeof(std::pair<uint32_t, int32_t>) + 1);
  s.memory_bytes = bytes;
  return s;
}

size_t Forest::SortedRuns::bytes() const {
  size_t b = sizeof(SortedRuns);
  for (const Run* run : {&groups, &groups_and_pns, &projects}) {
    // (a run shared by several SortedRuns counted once among them)
    if (*run) b += (*run)->bytes() / static_cast<size_t>(run->use_count());
  }
  return b;
}

uint64_t Forest::string_bytes() const { return string_bytes_; }

}  // namespace canopy::internal

// forest_compact.cc — re-laying one Forest copy out in tree order.
//
// Slots are handed out in arrival order, so after a snapshot load a subtree
// is scattered over the node array and a descendant scan misses the cache at
// almost every node. Compact() renumbers the slots:
//   1. user/group namespaces in pre-order (children in list order), so that
//      a group's subtree is one mostly contiguous run;
//   2. then project namespaces, grouped by parent in that same order (they
//      are leaves in valid data; anything below one comes right after it);
//   3. projects grouped by namespace, in namespace order.
// Child and project lists are rebuilt in the new slot order. Ids, parents,
// counters and texts do not change, so no answer changes. (After a
// snapshot's build, which makes no lists and no counters, the order comes
// from the parent links and LayOut computes the counters: see BulkBuild.)
// It then records each user/group namespace's runs (LayoutEntry) and marks
// laid out the subtrees whose runs hold exactly their descendants (see
// SLICES in forest.h).
#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>

#include "forest.h"
#include "two_threads.h"

namespace canopy::internal {

using Attachment = NsNode::Attachment;

// What lies below a node x, each in its list's order, is given by
// children(x, with_pns, visit): its user/group children, then its
// project-namespace children when with_pns; pn_children(x, visit): those
// alone; projects(x, visit): the projects whose namespace it is. The passes
// over the order call ahead(x) for the node kPrefetchAhead places on, whose lists
// they read next (at random: a prefetch).
template <typename Children, typename PnChildren, typename Projects, typename Ahead>
Forest::LayoutOrder Forest::ComputeLayoutOrderOver(const Children& children,
                                                   const PnChildren& pn_children,
                                                   const Projects& projects,
                                                   const Ahead& ahead) const {
  LayoutOrder lo;
  const size_t ns_slots = ns_.size();
  std::vector<uint32_t>& order = lo.order;
  order.reserve(ns_by_id_.size());
  std::vector<uint32_t>& new_of = lo.new_of;
  new_of.assign(ns_slots, kNil);
  std::vector<uint32_t> stack;
  auto place = [&](uint32_t old) {
    new_of[old] = static_cast<uint32_t>(order.size());
    order.push_back(old);
  };
  auto is_top = [&](const NsNode& n) {
    return n.attachment != Attachment::kFree && n.parent == kNil;
  };
  // Pre-order from `top` over the user/group children, and also over the
  // project-namespace children when `with_pns` (below a project namespace:
  // invalid data, kept anyway).
  auto place_from = [&](uint32_t top, bool with_pns) {
    stack.push_back(top);
    while (!stack.empty()) {
      uint32_t x = stack.back();
      stack.pop_back();
      place(x);
      const size_t mark = stack.size();
      children(x, with_pns, [&](uint32_t c) { stack.push_back(c); });
      std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(mark), stack.end());
    }
  };

  // 1. Users and groups from every top (roots and orphans).
  for (uint32_t s = 0; s < ns_slots; ++s) {
    if (is_top(ns_[s]) && ns_[s].type != NamespaceType::kProject) place_from(s, /*with_pns=*/false);
  }
  // 2. Project namespaces by parent, then project-namespace tops.
  const size_t placed_groups = order.size();
  lo.placed_groups = placed_groups;
  Layout& layout = lo.layout;
  layout.resize(placed_groups + 1);
  for (size_t i = 0; i < placed_groups; ++i) {
    if (i + kPrefetchAhead < placed_groups) ahead(order[i + kPrefetchAhead]);
    layout[i].pns = static_cast<uint32_t>(order.size());
    pn_children(order[i], [&](uint32_t c) { place_from(c, /*with_pns=*/true); });
  }
  layout[placed_groups].pns = static_cast<uint32_t>(order.size());
  for (uint32_t s = 0; s < ns_slots; ++s) {
    if (is_top(ns_[s]) && ns_[s].type == NamespaceType::kProject) place_from(s, /*with_pns=*/true);
  }
  // Defensive: every live node has been reached from a top; keep any other.
  lo.reached = order.size();
  for (uint32_t s = 0; s < ns_slots; ++s) {
    if (ns_[s].attachment != Attachment::kFree && new_of[s] == kNil) place(s);
  }

  // 3. Projects by namespace (new order), then the orphans.
  const size_t project_slots = projects_.size();
  std::vector<uint32_t>& project_order = lo.project_order;
  project_order.reserve(project_by_id_.size());
  std::vector<uint32_t>& new_project_of = lo.new_project_of;
  new_project_of.assign(project_slots, kNil);
  for (size_t i = 0; i < order.size(); ++i) {
    if (i + kPrefetchAhead < order.size()) ahead(order[i + kPrefetchAhead]);
    if (i <= placed_groups) layout[i].projects = static_cast<uint32_t>(project_order.size());
    projects(order[i], [&](uint32_t p) {
      new_project_of[p] = static_cast<uint32_t>(project_order.size());
      project_order.push_back(p);
    });
  }
  if (order.size() == placed_groups) {  // no project namespace: the sentinel is the end
    layout[placed_groups].projects = static_cast<uint32_t>(project_order.size());
  }
  // Orphan projects (namespace unknown) last, outside every run.
  for (uint32_t p = 0; p < project_slots; ++p) {
    if (projects_[p].live && new_project_of[p] == kNil) {
      new_project_of[p] = static_cast<uint32_t>(project_order.size());
      project_order.push_back(p);
    }
  }
  return lo;
}

Forest::LayoutOrder Forest::ComputeLayoutOrder() const {
  auto children = [&](uint32_t x, bool with_pns, const auto& visit) {
    const NsBelow& b = BelowOf(x);
    for (uint32_t head : {b.first_child, with_pns ? b.first_pn_child : kNil}) {
      for (uint32_t c = head; c != kNil; c = ns_[c].next_sibling) visit(c);
    }
  };
  auto pn_children = [&](uint32_t x, const auto& visit) {
    for (uint32_t c = BelowOf(x).first_pn_child; c != kNil; c = ns_[c].next_sibling) visit(c);
  };
  auto projects = [&](uint32_t x, const auto& visit) {
    for (uint32_t p = BelowOf(x).first_project; p != kNil; p = projects_[p].next) visit(p);
  };
  // No prefetch hint: finding where x's lists are is itself a random read.
  return ComputeLayoutOrderOver(children, pn_children, projects, [](uint32_t) {});
}

namespace {

// Items 0..n-1 grouped by a key in [0, keys) with a counting sort, each
// group ascending: key k's items are members[k == 0 ? 0 : ends[k - 1],
// ends[k]). In mapped arrays, given back whole when freed (as malloc'd
// blocks of this size they would stay in the writer's malloc arena).
struct Grouped {
  BigArray<uint32_t> ends, members;
  // `key_of(i)`: item i's key, or SIZE_MAX for none.
  // (key_of is cheap, and read in item order; the keys come at random, so
  // each pass fetches the bound of the item kPrefetchAhead on, and the fill pass
  // also the member slot of the item kPrefetchAhead / 2 on.)
  template <typename KeyOf>
  Grouped(size_t keys, size_t items, const KeyOf& key_of) {
    ends.reserve(keys);  // (at once: in huge pages, where they are to be had)
    ends.GrowZeroed(keys);
    size_t count = 0;
    for (uint32_t i = 0; i < items; ++i) {
      if (i + kPrefetchAhead < items) {
        if (const size_t k = key_of(i + kPrefetchAhead); k != SIZE_MAX)
          __builtin_prefetch(&ends[k], 1);
      }
      if (const size_t k = key_of(i); k != SIZE_MAX) {
        ++ends[k];
        ++count;
      }
    }
    uint32_t sum = 0;  // ends[k] = where key k begins, then (after the fill) where it ends
    for (size_t k = 0; k < keys; ++k) sum += std::exchange(ends[k], sum);
    members.reserve(count);
    members.GrowZeroed(count);
    for (uint32_t i = 0; i < items; ++i) {
      if (i + kPrefetchAhead < items) {
        if (const size_t k = key_of(i + kPrefetchAhead); k != SIZE_MAX)
          __builtin_prefetch(&ends[k], 1);
      }
      if (i + kPrefetchAhead / 2 < items) {
        if (const size_t k = key_of(i + kPrefetchAhead / 2); k != SIZE_MAX) {
          __builtin_prefetch(&members[ends[k]], 1);
        }
      }
      if (const size_t k = key_of(i); k != SIZE_MAX) members[ends[k]++] = i;
    }
  }
  // Starts fetching key's bounds (a hint).
  void Prefetch(size_t key) const {
    __builtin_prefetch(&ends[key == 0 ? 0 : key - 1]);
    __builtin_prefetch(&ends[key]);
  }
  template <typename Visit>
  void ForEach(size_t key, const Visit& visit) const {
    for (uint32_t i = key == 0 ? 0 : ends[key - 1]; i < ends[key]; ++i) visit(members[i]);
  }
  bool Empty(size_t key) const { return ends[key] == (key == 0 ? 0 : ends[key - 1]); }
};

}  // namespace

Forest::LayoutOrder Forest::ComputeLayoutOrderFromLinks() const {
  const size_t ns_slots = ns_.size();
  // Key 2 x parent: its user/group children; 2 x parent + 1: its project namespaces.
  const Grouped children(2 * ns_slots, ns_slots, [&](uint32_t s) -> size_t {
    const NsNode& n = ns_[s];
    if (n.attachment == Attachment::kFree || n.parent == kNil) return SIZE_MAX;
    return 2 * size_t{n.parent} + (n.type == NamespaceType::kProject ? 1 : 0);
  });
  const Grouped projects(ns_slots, projects_.size(), [&](uint32_t p) -> size_t {
    const ProjNode& n = projects_[p];
    return n.live && n.ns != kNil ? n.ns : SIZE_MAX;
  });
  auto pn_children_of = [&](uint32_t x, const auto& visit) {
    children.ForEach(2 * size_t{x} + 1, visit);
  };
  auto children_of = [&](uint32_t x, bool with_pns, const auto& visit) {
    children.ForEach(2 * size_t{x}, visit);
    if (with_pns) pn_children_of(x, visit);
  };
  auto projects_of = [&](uint32_t x, const auto& visit) { projects.ForEach(x, visit); };
  auto ahead = [&](uint32_t x) {
    children.Prefetch(2 * size_t{x});  // (and 2x + 1, next to it)
    projects.Prefetch(x);
  };
  LayoutOrder lo = ComputeLayoutOrderOver(children_of, pn_children_of, projects_of, ahead);
  lo.listed_below.resize(ns_slots);
  for (uint32_t s = 0; s < ns_slots; ++s) {
    const bool listed =
        !children.Empty(2 * size_t{s}) || !children.Empty(2 * size_t{s} + 1) || !projects.Empty(s);
    lo.listed_below[s] = listed ? 1 : 0;
    lo.listed_below_count += listed ? 1 : 0;
  }
  return lo;
}

void Forest::LayoutArrays::Prefault(size_t namespaces, size_t projects_count) {
  nodes.Prefault(namespaces);
  ns_ids.Prefault(namespaces);
  projects.Prefault(projects_count);
  project_ids.Prefault(projects_count);
  project_pn_slots.Prefault(projects_count);
}

void Forest::Compact(const Forest* other_copy) {
  // Laid out already, and no row changed since: the same layout again (a
  // snapshot's build lays the copy out itself; see ApplySnapshot).
  if (runs_match_rows_ && layout_ != nullptr) {
    ShareSortedRunsOf(other_copy);  // the same runs, when the other copy holds them
    return;
  }
  LayOut(ComputeLayoutOrder(), other_copy);
}

void Forest::LayOut(LayoutOrder lo, const Forest* other_copy) {
  // A bulk build's nodes have no lists and no counters yet: each gets an
  // NsBelow when something is listed below it, and counters at the end.
  const bool counters_to_compute = !lo.listed_below.empty();
  const std::vector<uint32_t>& order = lo.order;
  const std::vector<uint32_t>& new_of = lo.new_of;
  const std::vector<uint32_t>& project_order = lo.project_order;
  const std::vector<uint32_t>& new_project_of = lo.new_project_of;
  const size_t placed_groups = lo.placed_groups;
  Layout& layout = lo.layout;

  // Build the new arrays. Texts move with their nodes (no reference change:
  // the old arrays are dropped, or kept as room for the other copy, without
  // releasing them).
  auto remap = [](uint32_t slot, const std::vector<uint32_t>& to) {
    return slot == kNil ? kNil : to[slot];
  };
  // The namespace side and the project side on two threads (each reads the
  // old arrays and the maps, and writes only its own new arrays).
  BigArray<NsNode> nodes = std::move(lo.arrays.nodes);
  BigArray<NsBelow> below;  // in the new slot order too
  IdColumn ns_ids = std::move(lo.arrays.ns_ids);
  BigArray<ProjNode> projects = std::move(lo.arrays.projects);
  IdColumn project_ids = std::move(lo.arrays.project_ids);
  BigArray<uint32_t> project_pn_slots = std::move(lo.arrays.project_pn_slots);
  // NsNode::below_or_own_project's other values, by new slot (see forest.h).
  boost::unordered_flat_map<uint32_t, uint32_t> pn_below, other_own_project;
  auto gather_namespaces = [&] {
    nodes.reserve(order.size());  // segmented: later growth copies nothing
    below.reserve(counters_to_compute ? lo.listed_below_count
                                      : below_.size() - free_below_.size());  // at most
    ns_ids.reserve(order.size());
    // The old slots are read at random: each node's fields a few nodes
    // ahead, and the new slots of its parent and own project half as far.
    const size_t count = order.size();
    for (size_t i = 0; i < count; ++i) {
      if (i + kPrefetchAhead < count) {
        const uint32_t ahead = order[i + kPrefetchAhead];
        __builtin_prefetch(&ns_[ahead]);
        ns_ids_.Prefetch(ahead);
        if (counters_to_compute) __builtin_prefetch(&lo.listed_below[ahead]);
      }
      if (i + kPrefetchAhead / 2 < count) {
        const NsNode& ahead = ns_[order[i + kPrefetchAhead / 2]];
        if (ahead.parent != kNil) __builtin_prefetch(&new_of[ahead.parent]);
        if (HoldsOwnProject(ahead.type) && ahead.below_or_own_project != kNil) {
          __builtin_prefetch(&new_project_of[ahead.below_or_own_project]);
        }
      }
      const uint32_t old = order[i];
      const auto slot = static_cast<uint32_t>(nodes.size());  // new_of[old]
      ns_ids.push_back(ns_ids_[old]);
      NsNode n = ns_[old];
      n.stale_runs = false;  // (run_deltas_ is emptied below)
      n.parent = remap(n.parent, new_of);
      const uint32_t own_project = remap(OwnProject(old), new_project_of);
      n.prev_sibling = n.next_sibling = kNil;
      // The counters stay (after a bulk build: computed at the end); the
      // lists are rebuilt below, each as empty or
      // not as it was. An empty NsBelow is dropped.
      const NsBelow& old_below = BelowOf(old);
      uint32_t below_index = kNil;
      if (counters_to_compute) {
        if (lo.listed_below[old] != 0) {
          below_index = static_cast<uint32_t>(below.size());
          below.push_back(NsBelow{});
        }
      } else if (!old_below.empty()) {
        NsBelow b = old_below;
        b.first_child = b.first_pn_child = b.first_project = kNil;
        below_index = static_cast<uint32_t>(below.size());
        below.push_back(b);
      }
      if (HoldsOwnProject(n.type)) {
        n.below_or_own_project = own_project;
        if (below_index != kNil) pn_below.emplace(slot, below_index);
      } else {
        n.below_or_own_project = below_index;
        if (own_project != kNil) other_own_project.emplace(slot, own_project);
      }
      nodes.push_back(n);
    }
  };
  auto gather_projects = [&] {
    projects.reserve(project_order.size());
    project_ids.reserve(project_order.size());
    project_pn_slots.reserve(project_order.size());
    // As the namespace side: the old slots a few ahead, the maps half as far.
    const size_t count = project_order.size();
    for (size_t i = 0; i < count; ++i) {
      if (i + kPrefetchAhead < count) {
        const uint32_t ahead = project_order[i + kPrefetchAhead];
        __builtin_prefetch(&projects_[ahead]);
        project_ids_.Prefetch(ahead);
        __builtin_prefetch(&project_pn_slots_[ahead]);
      }
      if (i + kPrefetchAhead / 2 < count) {
        const uint32_t ahead = project_order[i + kPrefetchAhead / 2];
        if (projects_[ahead].ns != kNil) __builtin_prefetch(&new_of[projects_[ahead].ns]);
        if (project_pn_slots_[ahead] != kNil) __builtin_prefetch(&new_of[project_pn_slots_[ahead]]);
      }
      const uint32_t old = project_order[i];
      project_ids.push_back(project_ids_[old]);
      project_pn_slots.push_back(remap(project_pn_slots_[old], new_of));
      ProjNode p = projects_[old];
      p.ns = remap(p.ns, new_of);
      p.prev = p.next = kNil;
      projects.push_back(p);
    }
  };
  RunOnTwoThreads(gather_namespaces, gather_projects);
  auto below_index_of = [&](uint32_t s) {  // BelowIndex, in the new arrays
    return HoldsOwnProject(nodes[s].type) ? SideValue(pn_below, s) : nodes[s].below_or_own_project;
  };
  // Lists in slot order: append at the tail.
  std::vector<uint32_t> tail_child(nodes.size(), kNil), tail_pn(nodes.size(), kNil);
  for (uint32_t s = 0; s < nodes.size(); ++s) {
    const uint32_t parent = nodes[s].parent;
    if (parent == kNil) continue;
    const bool pn = nodes[s].type == NamespaceType::kProject;
    NsBelow& p = below[below_index_of(parent)];  // (it has one: it listed this node)
    uint32_t& head = pn ? p.first_pn_child : p.first_child;
    uint32_t& tail = pn ? tail_pn[parent] : tail_child[parent];
    nodes[s].prev_sibling = tail;
    if (tail == kNil) {
      head = s;
    } else {
      nodes[tail].next_sibling = s;
    }
    tail = s;
  }
  std::vector<uint32_t>().swap(tail_pn);
  std::vector<uint32_t>& tail_project = tail_child;  // reuse: per namespace
  std::fill(tail_project.begin(), tail_project.end(), kNil);
  for (uint32_t p = 0; p < projects.size(); ++p) {
    const uint32_t ns = projects[p].ns;
    if (ns == kNil) continue;
    projects[p].prev = tail_project[ns];
    if (tail_project[ns] == kNil) {
      below[below_index_of(ns)].first_project = p;  // (it has one: it listed this project)
    } else {
      projects[tail_project[ns]].next = p;
    }
    tail_project[ns] = p;
  }

  // Runs and laid_out (see SLICES). Slots [0, placed_groups) hold the
  // user/group namespaces in pre-order, each subtree after its root, so a
  // backwards pass sees every child before its parent.
  auto below_of = [&](uint32_t s) -> const NsBelow& {
    const uint32_t b = below_index_of(s);
    return b == kNil ? kNothingBelow : below[b];
  };
  for (uint32_t s = 0; s < nodes.size(); ++s) {
    NsNode& n = nodes[s];
    if (s < placed_groups) {
      layout[s].end = s + 1;
      n.laid_out = n.type == NamespaceType::kGroup;
      for (uint32_t c = below_of(s).first_pn_child; c != kNil; c = nodes[c].next_sibling) {
        if (below_of(c).HasChildren()) n.laid_out = false;
      }
    } else {
      // Project namespaces with nothing below them; nothing else.
      n.laid_out = n.type == NamespaceType::kProject && !below_of(s).HasChildren();
    }
  }
  for (size_t s = placed_groups; s-- > 0;) {
    const uint32_t parent = nodes[s].parent;
    if (parent == kNil) continue;  // a top (its parent, if any, is not in this run)
    layout[parent].end = std::max(layout[parent].end, layout[s].end);
    if (!nodes[s].laid_out) nodes[parent].laid_out = false;
  }
  layout[placed_groups].end = static_cast<uint32_t>(placed_groups);
  laid_out_ = 0;
  for (size_t s = 0; s < nodes.size(); ++s) laid_out_ += nodes[s].laid_out ? 1 : 0;

  // The other copy's layout when its last Compact made this same one (the
  // second copy's Compact of a pair; then ShareSortedRunsOf below shares
  // its runs too); made before the swap, which must not throw.
  std::shared_ptr<const Layout> shared_layout =
      other_copy != nullptr && other_copy != this && other_copy->layout_ &&
              *other_copy->layout_ == layout
          ? other_copy->layout_
          : std::make_shared<const Layout>(std::move(layout));

  // Swap in and re-point every slot reference.
  ns_.swap(nodes);
  run_deltas_.clear();  // (keyed by the old slots; the new nodes are not flagged)
  runs_to_rebuild_.clear();
  runs_to_make_.clear();
  below_.swap(below);
  pn_below_.swap(pn_below);
  other_own_project_.swap(other_own_project);
  free_below_.clear();
  free_below_.shrink_to_fit();
  ns_ids_.swap(ns_ids);
  layout_.swap(shared_layout);
  projects_.swap(projects);
  project_ids_.swap(project_ids);
  project_pn_slots_.swap(project_pn_slots);
  free_ns_.clear();
  free_ns_.shrink_to_fit();
  free_projects_.clear();
  free_projects_.shrink_to_fit();
  ns_by_id_.Renumber(new_of);
  project_by_id_.Renumber(new_project_of);
  roots_by_path_.Renumber(new_of);
  for (auto& [id, slots] : waiting_children_) {
    for (uint32_t& s : slots) s = new_of[s];
  }
  for (auto* waiting : {&waiting_projects_, &waiting_own_project_}) {
    for (auto& [id, slots] : *waiting) {
      for (uint32_t& p : slots) p = new_project_of[p];
    }
  }
  // The side maps of ROW COLUMNS are keyed by slot: every key is a live row.
  auto rekey = [](auto& side, const std::vector<uint32_t>& to) {
    if (side.empty()) return;
    std::remove_reference_t<decltype(side)> fresh;
    fresh.reserve(side.size());
    for (const auto& [slot, value] : side) fresh.emplace(to[slot], value);
    side.swap(fresh);
  };
  rekey(loose_parent_ids_, new_of);
  rekey(wide_ns_visibility_, new_of);
  rekey(loose_namespace_ids_, new_project_of);
  rekey(loose_project_namespace_ids_, new_project_of);
  rekey(wide_project_visibility_, new_project_of);
  if (counters_to_compute) {
    ComputeSubtreeCounters();
    // A snapshot's build: the old arrays (now in the locals) are as big as
    // the new ones, and resident; the second copy is copied into them.
    spare_arrays_.nodes.swap(nodes);
    spare_arrays_.ns_ids.swap(ns_ids);
    spare_arrays_.projects.swap(projects);
    spare_arrays_.project_ids.swap(project_ids);
    spare_arrays_.project_pn_slots.swap(project_pn_slots);
  }
  ShareProjectTexts();
  if (!ShareSortedRunsOf(other_copy)) BuildSortedRuns();
  runs_match_rows_ = true;
}

bool Forest::ShareSortedRunsOf(const Forest* other) {
  // Its runs are those of the rows at its last Compact: it must have changed
  // none since (a delete and an insert can leave its id columns and layout
  // as a fresh Compact would make them, with other ids in its runs).
  if (other == nullptr || other == this || !other->runs_match_rows_ ||
      other->applied_lsn_ != applied_lsn_ || other->sorted_run_min_ids_ != sorted_run_min_ids_ ||
      // (Compact, just before, took `other`'s layout if it equals the new one.)
      !layout_ || other->layout_ != layout_ || !other->ns_ids_.SameElements(ns_ids_) ||
      !other->project_ids_.SameElements(project_ids_)) {
    return false;
  }
  // The same ids in the same pre-order under the same subtree bounds: the
  // same tree, so the same laid-out nodes, counters and runs.
  sorted_runs_ = other->sorted_runs_;
  sorted_run_ids_ = other->sorted_run_ids_;
  return true;
}

// After the swap, not while the new arrays are built: until then a failed
// allocation drops the new arrays and keeps the old ones, whose texts must
// still hold their references.
void Forest::ShareProjectTexts() {
  for (uint32_t p = 0; p < projects_.size(); ++p) {
    if (projects_[p].live) ShareOwnPnText(p);
  }
}

void Forest::ComputeSubtreeCounters() {
  for (uint32_t s = static_cast<uint32_t>(ns_.size()); s-- > 0;) {
    const NsNode& n = ns_[s];
    if (const uint32_t below = BelowIndex(s); n.type == NamespaceType::kGroup && below != kNil) {
      // A group's own projects count in its subtree.
      uint32_t own = 0, own_unarchived = 0;
      CountOwnList(s, &own, &own_unarchived);
      NsBelow& b = below_[below];
      b.sub_projects += own;
      b.sub_unarchived += own_unarchived;
    }
    if (n.parent == kNil) continue;
    NsBelow& p = below_[BelowIndex(n.parent)];  // (it has one: it lists this node)
    const Contribution c = ContributionOf(s);
    p.sub_groups += c.groups;
    p.sub_pns += c.pns;
    p.sub_projects += c.projects;
    p.sub_unarchived += c.unarchived;
  }
}

void Forest::ShareOwnPnText(uint32_t project) {
  RowText& text = projects_[project].text;
  const uint32_t pn = project_pn_slots_[project];
  if (pn == kNil || text.same(ns_[pn].text)) return;  // (shared already: nothing to compare)
  const RowText* pn_text = OwnPnTextEqualTo(project, text.name(), text.path());
  if (pn_text == nullptr) return;
  pn_text->Ref();
  text.Unref();
  text = *pn_text;
}

const RowText* Forest::OwnPnTextEqualTo(uint32_t project, std::string_view name,
                                        std::string_view path) const {
  const uint32_t pn = project_pn_slots_[project];
  if (pn == kNil || !ns_[pn].text.Equals(name, path)) return nullptr;
  return &ns_[pn].text;
}

// Sorted runs cost memory (in each copy): within a budget of three ids per
// two rows (4 bytes an id when a run spans less than 2^32, so at most about
// 6 bytes per row), they go to the smallest runs big enough for their sort
// to cost more than a copy (the most common big answers, a team's or an
// organisation's), then up. In the benchmarks' GitLab-shaped forest every
// laid-out run of sorted_run_min_ids ids or more fits; only deep chains of
// big groups run out of budget. Each of a subtree's three runs is chosen on
// its own.
void Forest::BuildSortedRuns() {
  sorted_runs_.clear();
  enum class Part : uint8_t { kGroups, kGroupsAndPns, kProjects };
  struct Candidate {
    uint64_t ids;
    uint32_t slot;
    Part part;
  };
  std::vector<Candidate> candidates;
  const size_t laid_out_slots = layout_ ? layout_->size() - 1 : 0;  // (one sentinel)
  for (uint32_t s = 0; s < laid_out_slots; ++s) {
    if (!ns_[s].laid_out) continue;
    const NsBelow& n = BelowOf(s);
    const uint64_t groups = uint64_t{n.sub_groups} + 1;
    if (groups >= sorted_run_min_ids_) candidates.push_back({groups, s, Part::kGroups});
    if (groups + n.sub_pns >= sorted_run_min_ids_ && n.sub_pns != 0) {
      candidates.push_back({groups + n.sub_pns, s, Part::kGroupsAndPns});
    }
    if (n.sub_projects >= sorted_run_min_ids_) {
      candidates.push_back({n.sub_projects, s, Part::kProjects});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.ids != b.ids) return a.ids < b.ids;
    return a.slot != b.slot ? a.slot < b.slot : a.part < b.part;
  });
  boost::unordered_flat_map<uint32_t, std::shared_ptr<SortedRuns>> made;
  const uint64_t whole_budget = (ns_by_id_.size() + project_by_id_.size()) * 3 / 2;
  uint64_t budget = whole_budget;
  std::vector<int64_t> ids;  // one run's ids, to sort
  for (const Candidate& c : candidates) {
    if (c.ids > budget) break;
    budget -= c.ids;
    const LayoutEntry& here = LayoutAt(c.slot);
    const LayoutEntry& after = LayoutAt(here.end);
    ids.clear();
    if (c.part == Part::kProjects) {
      project_ids_.CopyRange(here.projects, after.projects, &ids);
    } else {
      ns_ids_.CopyRange(c.slot, here.end, &ids);  // the groups
      if (c.part == Part::kGroupsAndPns) ns_ids_.CopyRange(here.pns, after.pns, &ids);
    }
    SortUniqueIds(&ids);  // (ids are unique: this only sorts)
    std::shared_ptr<SortedRuns>& runs = made[c.slot];
    if (!runs) runs = std::make_shared<SortedRuns>();
    switch (c.part) {
      case Part::kGroups:
        runs->groups = std::make_shared<const SortedIdRun>(ids);
        break;
      case Part::kGroupsAndPns:
        runs->groups_and_pns = std::make_shared<const SortedIdRun>(ids);
        break;
      case Part::kProjects:
        runs->projects = std::make_shared<const SortedIdRun>(ids);
        break;
    }
  }
  sorted_runs_.reserve(made.size());
  for (auto& [slot, runs] : made) sorted_runs_.emplace(slot, std::move(runs));
  sorted_run_ids_ = whole_budget - budget;
}

void Forest::TakeRoomFrom(Forest& other) {
  // (Their old elements are bytes to be overwritten: CopyFrom's assignments
  // keep the room and copy over them; no text reference is held by them.)
  LayoutArrays room = std::exchange(other.spare_arrays_, LayoutArrays());
  ns_.swap(room.nodes);
  ns_ids_.swap(room.ns_ids);
  projects_.swap(room.projects);
  project_ids_.swap(room.project_ids);
  project_pn_slots_.swap(room.project_pn_slots);
}

void Forest::CopyFrom(const Forest& other) {
  // The namespace side and the project side on two threads. The id indexes
  // hash through this copy's own arrays: they are rebuilt, not copied.
  auto copy_namespaces = [&] {
    ns_ = other.ns_;
    below_ = other.below_;
    pn_below_ = other.pn_below_;
    other_own_project_ = other.other_own_project_;
    free_below_ = other.free_below_;
    ns_ids_ = other.ns_ids_;
    layout_ = other.layout_;  // immutable: shared
    free_ns_ = other.free_ns_;
    ns_by_id_.CopyFrom(other.ns_by_id_);
    roots_by_path_.CopyFrom(other.roots_by_path_);  // hashes this copy's (equal) texts
    waiting_children_ = other.waiting_children_;
    loose_parent_ids_ = other.loose_parent_ids_;
    wide_ns_visibility_ = other.wide_ns_visibility_;
  };
  auto copy_projects = [&] {
    projects_ = other.projects_;
    project_ids_ = other.project_ids_;
    project_pn_slots_ = other.project_pn_slots_;
    free_projects_ = other.free_projects_;
    project_by_id_.CopyFrom(other.project_by_id_);
    links_ = other.links_;
    waiting_projects_ = other.waiting_projects_;
    waiting_own_project_ = other.waiting_own_project_;
    loose_namespace_ids_ = other.loose_namespace_ids_;
    loose_project_namespace_ids_ = other.loose_project_namespace_ids_;
    wide_project_visibility_ = other.wide_project_visibility_;
  };
  try {
    RunOnTwoThreads(copy_namespaces, copy_projects);
  } catch (const std::bad_alloc&) {
    // Keep no text whose reference was not taken (the destructor drops them).
    BigArray<NsNode>().swap(ns_);
    BigArray<ProjNode>().swap(projects_);
    throw;
  }
  // The texts' references on this thread: a project and its project
  // namespace share one counter.
  for (const NsNode& n : ns_) n.text.Ref();  // free slots hold no text
  for (const ProjNode& p : projects_) p.text.Ref();
  sorted_runs_ = other.sorted_runs_;  // immutable: shared
  run_deltas_ = other.run_deltas_;
  sorted_run_ids_ = other.sorted_run_ids_;
  applied_lsn_ = other.applied_lsn_;
  orphan_namespaces_ = other.orphan_namespaces_;
  orphan_projects_ = other.orphan_projects_;
  cycles_refused_ = other.cycles_refused_;
  unknown_deletes_ = other.unknown_deletes_;
  transactions_applied_ = other.transactions_applied_;
  row_changes_applied_ = other.row_changes_applied_;
  string_bytes_ = other.string_bytes_;
  laid_out_ = other.laid_out_;
  runs_match_rows_ = other.runs_match_rows_;
}

}  // namespace canopy::internal

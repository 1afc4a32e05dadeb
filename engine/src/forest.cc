// forest.cc — structural edits of one Forest copy: slots, attach/detach,
// counters along the ancestor path, orphan bookkeeping.
#include "forest.h"

#include <algorithm>
#include <cassert>
#include <new>

#include "canopy/hierarchy_index.h"  // HierarchyIndexOptions
#include "two_threads.h"

namespace canopy::internal {

using Attachment = NsNode::Attachment;

// ---------------------------------------------------------------------------
// PreparedTransaction

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

PreparedTransaction::PreparedTransaction(const Transaction& txn)
    : PreparedTransaction(txn.commit_lsn, std::span(&txn.changes, 1)) {}

PreparedTransaction::PreparedTransaction(Lsn at, std::span<const std::vector<RowChange>> pieces)
    : lsn(at) {
  size_t n = 0;
  for (const std::vector<RowChange>& piece : pieces) n += piece.size();
  if (n < kParallelPrepareChanges) {
    ops.reserve(n);
    try {
      for (const std::vector<RowChange>& piece : pieces) {
        for (const RowChange& change : piece) ops.push_back(PrepareChange(change));
      }
    } catch (const std::bad_alloc&) {
      ReleaseTexts(ops);  // the destructor does not run when a constructor throws
      throw;
    }
    return;
  }
  // Row texts are one allocation each: share the work with a second thread.
  ops.resize(n);  // empty NamespaceOps: nothing to release if a half fails
  // Prepares the changes [begin, end) of the concatenation.
  auto prepare = [&](size_t begin, size_t end) {
    size_t first = 0;  // index of the piece's first change in the concatenation
    for (const std::vector<RowChange>& piece : pieces) {
      const size_t from = std::max(begin, first), to = std::min(end, first + piece.size());
      for (size_t i = from; i < to; ++i) ops[i] = PrepareChange(piece[i - first]);
      first += piece.size();
    }
  };
  try {
    RunOnTwoThreads([&] { prepare(0, n / 2); }, [&] { prepare(n / 2, n); });
  } catch (const std::bad_alloc&) {
    ReleaseTexts(ops);  // the destructor does not run when a constructor throws
    throw;
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
// RootIndex

void RootIndex::Insert(uint32_t slot) {
  auto [first, inserted] = first_.Insert(slot);
  if (!inserted) more_[first].push_back(slot);
}

void RootIndex::Erase(uint32_t slot) {
  const uint32_t* found = first_.Find(PathOf(slot));
  if (found == nullptr) return;
  const uint32_t first = *found;
  auto more = more_.find(first);
  if (first != slot) {
    if (more == more_.end()) return;
    std::vector<uint32_t>& v = more->second;
    auto pos = std::find(v.begin(), v.end(), slot);
    if (pos != v.end()) v.erase(pos);
    if (v.empty()) more_.erase(more);
    return;
  }
  first_.Erase(PathOf(slot));
  if (more == more_.end()) return;
  // Another root of the same folded path becomes the first.
  std::vector<uint32_t> rest = std::move(more->second);
  more_.erase(more);
  const uint32_t next = rest.back();
  rest.pop_back();
  first_.Insert(next);
  if (!rest.empty()) more_.emplace(next, std::move(rest));
}

std::span<const uint32_t> RootIndex::Find(std::string_view path,
                                          std::vector<uint32_t>* scratch) const {
  const uint32_t* first = first_.Find(path);
  if (first == nullptr) return {};
  if (more_.empty()) return {first, 1};
  auto more = more_.find(*first);
  if (more == more_.end()) return {first, 1};
  scratch->assign(more->second.begin(), more->second.end());
  scratch->push_back(*first);
  return *scratch;
}

void RootIndex::Renumber(const std::vector<uint32_t>& new_of) {
  // An entry's hash and equality depend only on its node's text, which
  // moved with the node. Re-inserting would re-hash every root's text.
  first_.Renumber(new_of);
  if (more_.empty()) return;
  boost::unordered_flat_map<uint32_t, std::vector<uint32_t>> more;
  more.reserve(more_.size());
  for (auto& [first, rest] : more_) {
    for (uint32_t& s : rest) s = new_of[s];
    more.emplace(new_of[first], std::move(rest));
  }
  more_.swap(more);
}

void RootIndex::CopyFrom(const RootIndex& other) {
  // The hash functors point at each copy's own nodes: insert anew, in slot
  // order (the nodes, and mostly their texts, are read sequentially).
  std::vector<uint32_t> slots;
  slots.reserve(other.first_.size());
  other.first_.ForEach([&](uint32_t s) { slots.push_back(s); });
  std::sort(slots.begin(), slots.end());
  first_.Clear();
  first_.Reserve(slots.size());
  for (uint32_t s : slots) first_.Insert(s);
  more_ = other.more_;
}

size_t RootIndex::bytes() const {
  size_t bytes = first_.bucket_count() * (sizeof(uint32_t) + 1) +
                 more_.bucket_count() * (sizeof(uint32_t) + sizeof(std::vector<uint32_t>) + 1);
  for (const auto& [first, rest] : more_) bytes += rest.capacity() * sizeof(uint32_t);
  return bytes;
}

// ---------------------------------------------------------------------------
// Forest

Forest::Forest(const HierarchyIndexOptions& options)
    : use_slices_(options.layout_slices),
      grown_runs_(options.layout_slices && options.grown_runs),
      sorted_run_min_ids_(std::max<uint32_t>(1, options.sorted_run_min_ids)),
      expected_namespaces_(options.expected_namespaces),
      expected_projects_(options.expected_projects) {
  ns_.reserve(options.expected_namespaces);
  ns_ids_.reserve(options.expected_namespaces);
  ns_by_id_.Reserve(options.expected_namespaces);
  projects_.reserve(options.expected_projects);
  project_ids_.reserve(options.expected_projects);
  project_pn_slots_.reserve(options.expected_projects);
  project_by_id_.Reserve(options.expected_projects);
  links_.reserve(options.expected_runner_links);
  // An index that grows from empty maps its arrays' first segments here,
  // not in its first write (about 1 ms on a VM with slow page faults).
  ns_.MapFirstSegment();
  below_.MapFirstSegment();
  ns_ids_.MapFirstSegment();
  projects_.MapFirstSegment();
  project_ids_.MapFirstSegment();
  project_pn_slots_.MapFirstSegment();
  ns_by_id_.MapFirstSegment();
  project_by_id_.MapFirstSegment();
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
  n.parent = n.below_or_own_project = n.prev_sibling = n.next_sibling = kNil;
  n.attachment = Attachment::kDetached;
  n.laid_out = n.stale_runs = false;
  return slot;
}

NsBelow& Forest::MutableBelowOf(uint32_t slot) {
  if (const uint32_t b = BelowIndex(slot); b != kNil) return below_[b];
  uint32_t b;
  if (!free_below_.empty()) {
    b = free_below_.back();
    StoreBelowIndex(slot, b);  // may throw: nothing has changed yet
    free_below_.pop_back();
    below_[b] = NsBelow{};
  } else {
    b = static_cast<uint32_t>(below_.size());
    StoreBelowIndex(slot, b);  // may throw: nothing has changed yet
    try {
      below_.emplace_back();
    } catch (...) {
      StoreBelowIndex(slot, kNil);
      throw;
    }
  }
  return below_[b];
}

void Forest::FreeBelow(uint32_t slot) {
  const uint32_t b = BelowIndex(slot);
  if (b == kNil) return;
  free_below_.push_back(b);
  StoreBelowIndex(slot, kNil);
}

void Forest::StoreBelowIndex(uint32_t slot, uint32_t below) {
  StoreFieldOrSide(slot, below, /*own_project=*/false);
}

void Forest::StoreOwnProject(uint32_t slot, uint32_t project) {
  StoreFieldOrSide(slot, project, /*own_project=*/true);
}

void Forest::StoreFieldOrSide(uint32_t slot, uint32_t value, bool own_project) {
  NsNode& n = ns_[slot];
  if (HoldsOwnProject(n.type) == own_project) {
    n.below_or_own_project = value;
    return;
  }
  auto& side = own_project ? other_own_project_ : pn_below_;
  if (value == kNil) {
    side.erase(slot);
  } else {
    side.insert_or_assign(slot, value);
  }
}

void Forest::SetNamespaceType(uint32_t slot, NamespaceType type) {
  NsNode& n = ns_[slot];
  if (HoldsOwnProject(n.type) == HoldsOwnProject(type)) {
    n.type = type;
    return;
  }
  const uint32_t below = BelowIndex(slot), own = OwnProject(slot);
  // The value that moves into a side map goes in first (it may throw).
  if (HoldsOwnProject(type)) {
    if (below != kNil) pn_below_.insert_or_assign(slot, below);
    if (own != kNil) other_own_project_.erase(slot);
    n.below_or_own_project = own;
  } else {
    if (own != kNil) other_own_project_.insert_or_assign(slot, own);
    if (below != kNil) pn_below_.erase(slot);
    n.below_or_own_project = below;
  }
  n.type = type;
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
    project_pn_slots_.emplace_back();
  }
  project_pn_slots_[slot] = kNil;
  ProjNode& p = projects_[slot];
  p = ProjNode{};
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
  if (!loose_parent_ids_.empty()) loose_parent_ids_.erase(slot);
  if (n.visibility_level == kWideVisibility) wide_ns_visibility_.erase(slot);
  n.attachment = Attachment::kFree;
  if (n.laid_out) --laid_out_;
  n.laid_out = false;
  DropRuns(slot);  // (the slot may be reused)
  FreeBelow(slot);
  assert(OwnProject(slot) ==
         kNil);  // (its owner has let go of it: the side map holds no slot freed)
  free_ns_.push_back(slot);
}

void Forest::FreeProject(uint32_t slot) {
  ProjNode& p = projects_[slot];
  string_bytes_ -= p.text.bytes();
  p.text.Unref();
  project_by_id_.Erase(project_ids_[slot]);
  if (!loose_namespace_ids_.empty()) loose_namespace_ids_.erase(slot);
  if (!loose_project_namespace_ids_.empty()) loose_project_namespace_ids_.erase(slot);
  if (p.visibility_level == kWideVisibility) wide_project_visibility_.erase(slot);
  p.live = false;
  free_projects_.push_back(slot);
}

// ---------------------------------------------------------------------------
// Row columns held outside the nodes (see ROW COLUMNS in forest.h)

int64_t Forest::ParentIdOf(uint32_t slot) const {
  const NsNode& n = ns_[slot];
  if (n.attachment == Attachment::kChild) return ns_ids_[n.parent];
  if (n.attachment != Attachment::kOrphan) return kNoId;  // a root (or not attached)
  auto it = loose_parent_ids_.find(slot);
  return it == loose_parent_ids_.end() ? kNoId : it->second;
}

int64_t Forest::NamespaceIdOf(uint32_t project) const {
  const ProjNode& p = projects_[project];
  if (p.ns != kNil) return ns_ids_[p.ns];
  auto it = loose_namespace_ids_.find(project);
  return it == loose_namespace_ids_.end() ? 0 : it->second;
}

int64_t Forest::ProjectNamespaceIdOf(uint32_t project) const {
  if (const uint32_t pn = project_pn_slots_[project]; pn != kNil) return ns_ids_[pn];
  if (loose_project_namespace_ids_.empty()) return kNoId;
  auto it = loose_project_namespace_ids_.find(project);
  return it == loose_project_namespace_ids_.end() ? kNoId : it->second;
}

namespace {
template <typename Map>
int32_t Widened(const Map& wide, uint32_t slot, int16_t narrow) {
  if (narrow != kWideVisibility) return narrow;
  auto it = wide.find(slot);
  return it == wide.end() ? narrow : it->second;
}
template <typename Map>
void Narrow(Map& wide, uint32_t slot, int16_t* narrow, int32_t value) {
  if (FitsNarrowVisibility(value)) {
    if (*narrow == kWideVisibility) wide.erase(slot);
    *narrow = static_cast<int16_t>(value);
  } else {
    *narrow = kWideVisibility;
    wide.insert_or_assign(slot, value);
  }
}
}  // namespace

int32_t Forest::NamespaceVisibility(uint32_t slot) const {
  return Widened(wide_ns_visibility_, slot, ns_[slot].visibility_level);
}

int32_t Forest::ProjectVisibility(uint32_t project) const {
  return Widened(wide_project_visibility_, project, projects_[project].visibility_level);
}

void Forest::SetNamespaceVisibility(uint32_t slot, int32_t visibility_level) {
  int16_t narrow = ns_[slot].visibility_level;
  Narrow(wide_ns_visibility_, slot, &narrow, visibility_level);
  ns_[slot].visibility_level = narrow;
}

void Forest::SetProjectVisibility(uint32_t project, int32_t visibility_level) {
  int16_t narrow = projects_[project].visibility_level;
  Narrow(wide_project_visibility_, project, &narrow, visibility_level);
  projects_[project].visibility_level = narrow;
}

Forest::Contribution Forest::ContributionOf(uint32_t slot) const {
  const NsNode& n = ns_[slot];
  const NsBelow& b = BelowOf(slot);
  return {b.sub_groups + (n.type == NamespaceType::kGroup ? 1u : 0u),
          b.sub_pns + (n.type == NamespaceType::kProject ? 1u : 0u), b.sub_projects,
          b.sub_unarchived};
}

void Forest::AddToAncestors(uint32_t from, const Contribution& c, bool subtract) {
  for (uint32_t s = from; s != kNil; s = ns_[s].parent) {
    NsBelow& a = MutableBelowOf(s);
    if (subtract) {
      a.sub_groups -= c.groups;
      a.sub_pns -= c.pns;
      a.sub_projects -= c.projects;
      a.sub_unarchived -= c.unarchived;
    } else {
      const uint64_t before = grown_runs_ ? LargestSet(a) : 0;  // (else unused)
      a.sub_groups += c.groups;
      a.sub_pns += c.pns;
      a.sub_projects += c.projects;
      a.sub_unarchived += c.unarchived;
      if (grown_runs_) NoteGrowth(s, before, a);
    }
  }
}

void Forest::MarkChanged(uint32_t slot) {
  // laid_out is closed downwards: stop at the first node already changed.
  for (uint32_t s = slot; s != kNil && ns_[s].laid_out; s = ns_[s].parent) {
    ns_[s].laid_out = false;
    --laid_out_;
    // Its sorted runs stay, stale, with what changes from here on, when
    // they are big enough to be worth it; else they go (SLICES).
    if (sorted_runs_.empty()) continue;
    if (const auto runs = sorted_runs_.find(s); runs != sorted_runs_.end()) {
      if (runs->second->largest() >= StaleRunMinIds()) {
        run_deltas_.try_emplace(s, runs->second.get());
        ns_[s].stale_runs = true;
      } else {
        sorted_runs_.erase(runs);
      }
    }
  }
}

size_t Forest::RunDelta::Cap(size_t run_ids) {
  return std::max(std::min(kMaxDeltaIds, std::max<size_t>(64, run_ids / 4)), run_ids / 16);
}

bool Forest::RunDelta::Note(size_t part, int64_t id, bool add) {
  (add ? joined : left)[part].push_back(id);
  const SortedIdRun& run = *runs->at(part);
  if (!last_chunk[part].Contains(id)) ++outside_last_chunk[part];
  const size_t n = size(part);
  return n <= Cap(run.size()) && n - outside_last_chunk[part] <= kLastChunkFoldIds;
}

void Forest::RunDelta::ResolveIds(std::span<const int64_t> joined, std::span<const int64_t> left,
                                  std::vector<int64_t>* added, std::vector<int64_t>* removed) {
  added->assign(joined.begin(), joined.end());
  removed->assign(left.begin(), left.end());
  SortIds(added);
  SortIds(removed);
  if (added->empty() || removed->empty()) return;
  // An id in both lists came and went (or went and came back): each pair
  // of one join and one leave cancels.
  size_t a = 0, r = 0, kept_a = 0, kept_r = 0;
  int64_t* add = added->data();
  int64_t* remove = removed->data();
  while (a < added->size() && r < removed->size()) {
    if (add[a] < remove[r]) {
      add[kept_a++] = add[a++];
    } else if (remove[r] < add[a]) {
      remove[kept_r++] = remove[r++];
    } else {
      ++a;
      ++r;
    }
  }
  while (a < added->size()) add[kept_a++] = add[a++];
  while (r < removed->size()) remove[kept_r++] = remove[r++];
  added->resize(kept_a);
  removed->resize(kept_r);
}

void Forest::FoldDelta(uint32_t slot, size_t part) {
  RunDelta& delta = run_deltas_.find(slot)->second;
  const SortedIdRun& run = *delta.runs->at(part);
  std::vector<int64_t>& joined = delta.joined[part];
  std::vector<int64_t>& left = delta.left[part];
  // Past the cap, every id noted is folded. Else the ids in the run's last
  // chunk are (Note: more than kLastChunkFoldIds of them), the others stay
  // noted, in front: they still name the same changes against the new run,
  // which differs from this one in the last chunk only. (An id noted twice,
  // which cancels out, lands on one side.)
  auto fold_from_joined = joined.begin(), fold_from_left = left.begin();
  if (delta.size(part) <= RunDelta::Cap(run.size())) {
    const SortedIdRun::IdRange last_chunk = delta.last_chunk[part];
    const auto outside = [last_chunk](int64_t id) { return !last_chunk.Contains(id); };
    fold_from_joined = std::partition(joined.begin(), joined.end(), outside);
    fold_from_left = std::partition(left.begin(), left.end(), outside);
  }
  thread_local std::vector<int64_t> added, removed;
  RunDelta::ResolveIds({fold_from_joined, joined.end()}, {fold_from_left, left.end()}, &added,
                       &removed);
  auto folded = std::make_shared<SortedRuns>(*delta.runs);  // (the other sets' runs shared)
  folded->at(part) = std::make_shared<const SortedIdRun>(run.WithChanges(removed, added));
  joined.erase(fold_from_joined, joined.end());
  left.erase(fold_from_left, left.end());
  delta.outside_last_chunk[part] = static_cast<uint32_t>(joined.size() + left.size());
  delta.SetRun(part, folded->at(part).get());
  // The old runs may be the other copy's too: they stay as they are.
  std::shared_ptr<const SortedRuns>& runs = sorted_runs_.find(slot)->second;
  runs = std::move(folded);
  delta.runs = runs.get();
}

void Forest::RebuildNotedRuns() {
  std::vector<int64_t> ids;
  for (const uint32_t s : runs_to_rebuild_) {
    // Each slot is queued once; its runs may have gone since (its type
    // changed, it was freed, or a truncate forgot every layout).
    if (s >= ns_.size() || !ns_[s].stale_runs) continue;
    const auto d = run_deltas_.find(s);
    if (d == run_deltas_.end()) continue;
    const NsBelow& below = BelowOf(s);
    if (uint64_t{below.sub_groups} + below.sub_pns + 1 > MaxRebuildIds() ||
        below.sub_projects > MaxRebuildIds()) {
      DropRuns(s);  // (a walk and sort this big is more than one write should take)
      continue;
    }
    const SortedRuns& old = *d->second.runs;
    const bool groups = old.groups != nullptr, groups_and_pns = old.groups_and_pns != nullptr,
               projects = old.projects != nullptr;
    // Without its delta the node's answers walk (and use no run of its own).
    run_deltas_.erase(d);
    ns_[s].stale_runs = false;
    KeepRunsFromWalk(s, groups, groups_and_pns, projects, &ids);
  }
  runs_to_rebuild_.clear();
}

void Forest::KeepRunsFromWalk(uint32_t slot, bool groups, bool groups_and_pns, bool projects,
                              std::vector<int64_t>* ids) {
  auto fresh = std::make_shared<SortedRuns>();
  const int64_t id = ns_ids_[slot];
  const auto run = [&](const Status& answered) {
    assert(answered.ok());
    (void)answered;
    return std::make_shared<const SortedIdRun>(*ids);
  };
  if (groups) fresh->groups = run(SelfAndDescendants(id, false, true, ids, true));
  if (groups_and_pns) fresh->groups_and_pns = run(SelfAndDescendants(id, true, true, ids, true));
  if (projects) fresh->projects = run(ProjectIds(id, false, ids, true));
  const auto kept = sorted_runs_.insert_or_assign(slot, std::move(fresh)).first;
  run_deltas_.try_emplace(slot, kept->second.get());
  ns_[slot].stale_runs = true;
}

void Forest::MakeGrownRuns() {
  const uint64_t budget = (ns_by_id_.size() + project_by_id_.size()) * 3 / 2;
  std::vector<int64_t> ids;
  for (const uint32_t s : runs_to_make_) {
    // A group may be queued more than once, or have been freed, retyped or
    // shrunk since.
    if (s >= ns_.size()) continue;
    const NsNode& n = ns_[s];
    if (n.attachment == Attachment::kFree || n.type != NamespaceType::kGroup || n.laid_out ||
        n.stale_runs) {
      continue;
    }
    const NsBelow& below = BelowOf(s);
    const uint64_t largest = LargestSet(below);
    if (largest < GrownRunMinIds() || largest > MaxGrownRunIds()) continue;
    // All three sets, the small ones too: each is kept from here on, however
    // it grows (a set without a run would walk until the next Compact). With
    // no project namespace below yet, the groups_and_pns run holds the same
    // ids as the groups run, kept twice, so that the ones that come later
    // are in it (Compact, which sees the final sets, skips it then).
    const uint64_t groups = uint64_t{below.sub_groups} + 1;
    const uint64_t more = groups + (groups + below.sub_pns) + below.sub_projects;
    if (sorted_run_ids_ + more > budget) continue;
    sorted_run_ids_ += more;
    KeepRunsFromWalk(s, true, true, true, &ids);
  }
  runs_to_make_.clear();
}

void Forest::DropRuns(uint32_t slot) {
  if (sorted_runs_.empty()) return;
  sorted_runs_.erase(slot);
  run_deltas_.erase(slot);
  ns_[slot].stale_runs = false;
}

namespace {
// The writer's scratch for NoteSubtree (one writer per index at a time;
// thread_local, so that two indexes written on two threads do not share it).
struct NoteScratch {
  std::vector<uint32_t> above, stack;
  std::vector<int64_t> ids[3];  // by SubtreePart
};
NoteScratch& TheNoteScratch() {
  thread_local NoteScratch scratch;
  return scratch;
}
}  // namespace

void Forest::NoteSubtree(uint32_t parent, uint32_t top, bool add) {
  if (run_deltas_.empty()) return;
  NoteScratch& scratch = TheNoteScratch();
  scratch.above.clear();
  for (uint32_t s = parent; s != kNil; s = ns_[s].parent) {
    if (ns_[s].stale_runs) scratch.above.push_back(s);
  }
  if (scratch.above.empty()) return;
  // The subtree's ids as the walk collects them from any node above it:
  // groups, namespaces of every type, projects of groups. Its counters
  // tell a subtree too big to list without walking it (they count all but
  // user namespaces and the top).
  for (std::vector<int64_t>& ids : scratch.ids) ids.clear();
  const NsBelow& counted = BelowOf(top);
  bool too_big =
      2 * size_t{counted.sub_groups} + counted.sub_pns + counted.sub_projects > kMaxNotedIds;
  scratch.stack.assign(1, top);
  while (!scratch.stack.empty() && !too_big) {
    const uint32_t s = scratch.stack.back();
    scratch.stack.pop_back();
    const NsNode& n = ns_[s];
    scratch.ids[1].push_back(ns_ids_[s]);
    if (n.type == NamespaceType::kGroup) {
      scratch.ids[0].push_back(ns_ids_[s]);
      AppendProjectsOf(s, /*unarchived_only=*/false, &scratch.ids[2]);
    }
    const NsBelow& below = BelowOf(s);
    for (uint32_t head : {below.first_child, below.first_pn_child}) {
      for (uint32_t c = head; c != kNil; c = ns_[c].next_sibling) scratch.stack.push_back(c);
    }
    too_big = scratch.ids[0].size() + scratch.ids[1].size() + scratch.ids[2].size() > kMaxNotedIds;
  }
  for (uint32_t s : scratch.above) {
    if (too_big) {
      // Its lists cannot say what changed: the runs are made again from
      // the walk at the end of this Apply, when the tree is whole (and it
      // notes nothing more till then).
      RunDelta& delta = run_deltas_.find(s)->second;
      if (!delta.rebuild_queued) runs_to_rebuild_.push_back(s);
      delta.rebuild_queued = true;
      continue;
    }
    RunDelta& delta = run_deltas_.find(s)->second;
    if (delta.rebuild_queued) continue;
    for (size_t part = 0; part < 3; ++part) {
      if (!delta.runs->at(part)) continue;  // (a set without a run is not kept)
      for (const int64_t id : scratch.ids[part]) {
        if (!delta.Note(part, id, add)) FoldDelta(s, part);
      }
    }
  }
}

void Forest::NoteProject(uint32_t ns, int64_t id, bool add) {
  // all_project_ids covers the projects of groups only.
  if (run_deltas_.empty() || ns_[ns].type != NamespaceType::kGroup) return;
  constexpr size_t kProjects = static_cast<size_t>(SubtreePart::kProjects);
  for (uint32_t s = ns; s != kNil; s = ns_[s].parent) {
    if (!ns_[s].stale_runs) continue;
    RunDelta& delta = run_deltas_.find(s)->second;
    if (delta.rebuild_queued) continue;
    if (delta.runs->at(kProjects) && !delta.Note(kProjects, id, add)) FoldDelta(s, kProjects);
  }
}

void Forest::ForgetLayout() {
  for (NsNode& n : ns_) n.laid_out = n.stale_runs = false;
  laid_out_ = 0;
  sorted_runs_.clear();
  run_deltas_.clear();
  runs_to_rebuild_.clear();
  runs_to_make_.clear();
  sorted_run_ids_ = 0;
  runs_match_rows_ = false;
  layout_.reset();
}

bool Forest::IsAncestorOrSelf(uint32_t maybe_ancestor, uint32_t slot) const {
  for (uint32_t s = slot; s != kNil; s = ns_[s].parent) {
    if (s == maybe_ancestor) return true;
  }
  return false;
}

void Forest::PushChild(uint32_t parent, uint32_t slot) {
  NsBelow& p = MutableBelowOf(parent);
  NsNode& n = ns_[slot];
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
  NoteSubtree(parent, slot, /*add=*/true);
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
      NsBelow& p = MutableBelowOf(parent);  // (it has one: it lists this node)
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
      NoteSubtree(parent, slot, /*add=*/false);
      AddToAncestors(parent, ContributionOf(slot), /*subtract=*/true);
      break;
    }
    case Attachment::kOrphan:
      RemoveFromWaiting(waiting_children_, ParentIdOf(slot), slot);
      loose_parent_ids_.erase(slot);
      --orphan_namespaces_;
      break;
    case Attachment::kRoot:
      roots_by_path_.Erase(slot);
      break;
    case Attachment::kDetached:
    case Attachment::kFree:
      break;
  }
  n.attachment = Attachment::kDetached;
}

void Forest::Attach(uint32_t slot, int64_t parent_id, bool has_fallback,
                    int64_t fallback_parent_id) {
  NsNode& n = ns_[slot];
  if (parent_id == kNoId) {
    roots_by_path_.Insert(slot);
    n.attachment = Attachment::kRoot;
    return;
  }
  uint32_t parent = FindNamespace(parent_id);
  if (parent == kNil) {
    waiting_children_[parent_id].push_back(slot);
    loose_parent_ids_.insert_or_assign(slot, parent_id);
    n.attachment = Attachment::kOrphan;
    ++orphan_namespaces_;
    return;
  }
  if (IsAncestorOrSelf(slot, parent)) {
    // The new parent is inside this node's subtree: refuse the move.
    ++cycles_refused_;
    Attach(slot, has_fallback ? fallback_parent_id : kNoId, /*has_fallback=*/false, kNoId);
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
      loose_parent_ids_.erase(child);
      Attach(child, id, /*has_fallback=*/false, kNoId);
    }
  }
  if (auto it = waiting_projects_.find(id); it != waiting_projects_.end()) {
    std::vector<uint32_t> waiting = std::move(it->second);
    waiting_projects_.erase(it);
    for (uint32_t p : waiting) {
      --orphan_projects_;
      loose_namespace_ids_.erase(p);
      LinkProject(p, id);
    }
  }
  if (auto it = waiting_own_project_.find(id); it != waiting_own_project_.end()) {
    std::vector<uint32_t>& waiting = it->second;
    const uint32_t project = waiting.front();
    waiting.erase(waiting.begin());
    if (waiting.empty()) waiting_own_project_.erase(it);
    SetOwnProject(slot, project);
  }
}

void Forest::CountOwnList(uint32_t ns, uint32_t* projects, uint32_t* unarchived) const {
  *projects = *unarchived = 0;
  for (uint32_t p = BelowOf(ns).first_project; p != kNil; p = projects_[p].next) {
    ++*projects;
    if (!projects_[p].archived) ++*unarchived;
  }
}

void Forest::ProjectCountDelta(uint32_t ns, int projects, int unarchived) {
  const NsNode& n = ns_[ns];
  // all_project_ids of a group covers projects of groups only (class scoping).
  if (n.type != NamespaceType::kGroup) return;
  for (uint32_t s = ns; s != kNil; s = ns_[s].parent) {
    NsBelow& b = MutableBelowOf(s);
    const uint64_t before = grown_runs_ ? LargestSet(b) : 0;  // (else unused)
    b.sub_projects += projects;
    b.sub_unarchived += unarchived;
    if (grown_runs_ && projects > 0) NoteGrowth(s, before, b);
  }
}

void Forest::LinkProject(uint32_t project, int64_t namespace_id) {
  ProjNode& p = projects_[project];
  uint32_t ns = FindNamespace(namespace_id);
  if (ns == kNil) {
    p.ns = kNil;
    waiting_projects_[namespace_id].push_back(project);
    loose_namespace_ids_.insert_or_assign(project, namespace_id);
    ++orphan_projects_;
    return;
  }
  PushProject(ns, project);
  MarkChanged(ns);
  NoteProject(ns, project_ids_[project], /*add=*/true);
  ProjectCountDelta(ns, 1, p.archived ? 0 : 1);
}

void Forest::PushProject(uint32_t ns, uint32_t project) {
  NsBelow& n = MutableBelowOf(ns);  // first: it may throw, and nothing has changed yet
  ProjNode& p = projects_[project];
  p.ns = ns;
  p.prev = kNil;
  p.next = n.first_project;
  if (n.first_project != kNil) projects_[n.first_project].prev = project;
  n.first_project = project;
}

void Forest::UnlinkProject(uint32_t project) {
  ProjNode& p = projects_[project];
  if (p.ns == kNil) {
    RemoveFromWaiting(waiting_projects_, NamespaceIdOf(project), project);
    loose_namespace_ids_.erase(project);
    --orphan_projects_;
    return;
  }
  NsBelow& n = MutableBelowOf(p.ns);  // (it has one: it lists this project)
  MarkChanged(p.ns);
  NoteProject(p.ns, project_ids_[project], /*add=*/false);
  if (p.prev != kNil) {
    projects_[p.prev].next = p.next;
  } else {
    n.first_project = p.next;
  }
  if (p.next != kNil) projects_[p.next].prev = p.prev;
  ProjectCountDelta(p.ns, -1, p.archived ? 0 : -1);
  p.ns = p.prev = p.next = kNil;
}

void Forest::SetOwnProject(uint32_t pn, uint32_t project) {
  StoreOwnProject(pn, project);
  project_pn_slots_[project] = pn;
  if (!loose_project_namespace_ids_.empty()) loose_project_namespace_ids_.erase(project);
}

void Forest::BindOwnProject(uint32_t project, int64_t pn_id) {
  if (pn_id == kNoId) return;
  BindOwnProject(project, pn_id, FindNamespace(pn_id));
}

void Forest::BindOwnProject(uint32_t project, int64_t pn_id, uint32_t pn) {
  if (pn_id == kNoId) return;
  if (pn != kNil && OwnProject(pn) == kNil) {
    SetOwnProject(pn, project);
  } else {
    waiting_own_project_[pn_id].push_back(project);
    loose_project_namespace_ids_.insert_or_assign(project, pn_id);
  }
}

void Forest::UnbindOwnProject(uint32_t project) {
  if (const uint32_t pn = project_pn_slots_[project]; pn != kNil) {
    StoreOwnProject(pn, kNil);
    project_pn_slots_[project] = kNil;
    auto it = waiting_own_project_.find(ns_ids_[pn]);
    if (it != waiting_own_project_.end()) {
      const uint32_t next = it->second.front();
      it->second.erase(it->second.begin());
      if (it->second.empty()) waiting_own_project_.erase(it);
      SetOwnProject(pn, next);
    }
    return;
  }
  auto it = loose_project_namespace_ids_.find(project);
  if (it == loose_project_namespace_ids_.end()) return;  // NULL
  RemoveFromWaiting(waiting_own_project_, it->second, project);
  loose_project_namespace_ids_.erase(it);
}

}  // namespace canopy::internal

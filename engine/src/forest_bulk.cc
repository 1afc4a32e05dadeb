// forest_bulk.cc — building an empty Forest from a snapshot in passes.
//
// Apply() treats a snapshot like any transaction: a net-effect map over every
// key, a cycle check and an ancestor walk for the counters at every attach,
// an ancestor walk for every project. A snapshot needs none of that: its keys
// are unique and everything arrives at once. BulkBuild():
//   1. makes the nodes straight from the loader's rows (no prepared ops in
//      between), namespaces (with their texts, keeping only their parent
//      ids) and projects (plus runner links) on two threads at once (each
//      side only touches its own arrays and index). A piece of namespace
//      rows only is freed as soon as its nodes are made;
//   2. looks up every parent's, namespace's and project namespace's slot (on
//      two threads: lookups only; then, on the namespace side, a check for a
//      cycle among the parents), then sets every namespace's parent link and
//      every project's namespace link (no lists, no counters: the layout
//      makes them, in its own slot order, instead of a list insert at a
//      random parent per row made here and made again there), binds project
//      namespaces and gives each project its text (its project namespace's
//      when equal, as Compact would share it). The other pieces are freed
//      as soon as their projects are made. So the rows and what is built
//      from them are never all held at once;
//   3. computes Compact's order from those links (each node's children and
//      projects grouped by a counting sort, then one walk down from the
//      tops) into *order, for the LayOut (Compact's work) that ApplySnapshot
//      runs at once. It places every node after its parent, makes the lists in
//      the new slot order and reads the slots backwards, children before
//      parents: each node's subtree counters from its children's (one pass
//      over the laid-out arrays instead of a walk up per row).
// A snapshot with a repeated key (found in step 1) or a cycle (found in step
// 2, before any piece holding projects or runner links is freed) goes
// through Apply's rules instead: the freed pieces of namespace rows are made
// again from their nodes (RestoreFreedNamespacePieces).
// The result, once laid out, is the state Apply() and Compact() would reach
// for the same rows: same nodes, links, waiting lists, counters and anomaly
// counts. Only the order of siblings differs (here ascending by slot, which
// is arrival order; Apply lists the latest first), so the pre-order within
// a parent differs too: no ascending answer depends on it, and order=any
// answers promise no order.
#include <algorithm>
#include <atomic>
#include <cassert>
#include <new>

#include "forest.h"
#include "two_threads.h"

namespace canopy::internal {

using Attachment = NsNode::Attachment;

namespace {

// Whether following parent slots (kNil: none) from some node comes back to
// it. O(n): each node is walked once.
bool HasParentCycle(const std::vector<uint32_t>& parent_slots) {
  constexpr uint32_t kUnseen = 0, kDone = kNil;  // else: 1 + the walk's first node
  std::vector<uint32_t> mark(parent_slots.size(), kUnseen);
  for (uint32_t first = 0; first < parent_slots.size(); ++first) {
    if (mark[first] != kUnseen) continue;
    const uint32_t walk = first + 1;
    uint32_t x = first;
    while (x != kNil && mark[x] == kUnseen) {
      mark[x] = walk;
      x = parent_slots[x];
    }
    if (x != kNil && mark[x] == walk) return true;  // back on this walk
    for (uint32_t y = first; y != x; y = parent_slots[y]) mark[y] = kDone;
  }
  return false;
}

// The columns a snapshot row links by, as Apply's creation reads them (only
// the columns present).
int64_t ParentIdOfRow(const NamespaceRow& row) {
  return (row.present & NamespaceRow::kParentId) ? row.parent_id.value_or(kNoId) : kNoId;
}
int64_t NamespaceIdOfRow(const ProjectRow& row) {
  return (row.present & ProjectRow::kNamespaceId) ? row.namespace_id : 0;
}
int64_t ProjectNamespaceIdOfRow(const ProjectRow& row) {
  return (row.present & ProjectRow::kProjectNamespaceId) ? row.project_namespace_id.value_or(kNoId)
                                                         : kNoId;
}

}  // namespace

void Forest::ApplySnapshot(SnapshotPieces& snapshot, Lsn lsn) {
  size_t rows = 0;
  LayoutOrder order;
  switch (BulkBuild(snapshot, &rows, &order)) {
    case BulkBuildResult::kBuilt:
      break;
    case BulkBuildResult::kGaveUp:
      Apply(PreparedTransaction(lsn, snapshot.all()));
      return;
    case BulkBuildResult::kAbandoned:
      return;  // (empty, as before; HierarchyIndex::BulkLoad reports the error)
  }
  if (rows != 0) {
    runs_match_rows_ = false;
    ++transactions_applied_;
  }
  if (lsn > applied_lsn_) applied_lsn_ = lsn;
  row_changes_applied_ += rows;
  // The lists and the counters come with the layout (see BulkBuild); the
  // Compact that BulkLoad queues after a snapshot then finds nothing changed.
  LayOut(std::move(order), nullptr);
}

Forest::BulkBuildResult Forest::BulkBuild(SnapshotPieces& snapshot, size_t* rows,
                                          LayoutOrder* order) {
  using Kind = SnapshotPieces::Kind;
  // Every piece is delivered before either result (see the header).
  auto give_up = [&] {
    return snapshot.WaitAll() ? BulkBuildResult::kGaveUp : BulkBuildResult::kAbandoned;
  };
  if (ns_by_id_.size() != 0 || project_by_id_.size() != 0 || !links_.empty()) return give_up();
  const size_t piece_count = snapshot.size();
  // The exact sizes when every piece is here already, else the capacity
  // hints the index was made with.
  size_t namespace_rows = expected_namespaces_, project_rows = expected_projects_;
  if (snapshot.Complete()) {
    for (size_t k = 0; k < piece_count; ++k) {
      if (snapshot.kind(k) == Kind::kOther) return give_up();  // (before any work)
    }
    namespace_rows = project_rows = 0;
    for (const std::vector<RowChange>& piece : snapshot.all()) {
      for (const RowChange& change : piece) {
        if (std::holds_alternative<UpsertNamespace>(change)) ++namespace_rows;
        if (std::holds_alternative<UpsertProject>(change)) ++project_rows;
      }
    }
  }
  auto free_rows = [](std::vector<RowChange>& piece) { std::vector<RowChange>().swap(piece); };

  // ---- 1. nodes, on two threads ----
  // The project rows by slot, read again in step 2 for the ids the slot
  // links encode and for the texts (made there, once a project's project
  // namespace is known, so that it can share that one's text).
  std::vector<const ProjectRow*> project_rows_of;
  // Each namespace's parent_id (kNoId: none), by slot: all step 2 reads of
  // a namespace row, kept so that the row can be freed in step 1.
  std::vector<int64_t> parent_ids;
  // One past the last namespace / project slot made from each piece: a
  // piece is freed once its namespaces and its projects are made, so that
  // the rows and what is built from them are not all held at once.
  std::vector<uint32_t> namespaces_end(piece_count), projects_end(piece_count);
  size_t namespace_pieces_built = 0;  // pieces whose namespaces are all made
  size_t namespace_rows_built = 0, other_rows_built = 0;
  // Why step 1 stopped early, if it did: a piece that is not only upserts,
  // a repeated key (both: Apply's rules decide), or no more pieces coming.
  std::atomic<bool> gave_up{false}, abandoned{false};
  uint64_t namespace_text_bytes = 0;
  // Piece k once it is here, or null if step 1 is to stop.
  auto wait_for = [&](size_t k) -> std::vector<RowChange>* {
    if (gave_up.load(std::memory_order_relaxed)) return nullptr;
    std::vector<RowChange>* piece = snapshot.Wait(k);
    if (piece == nullptr) {
      abandoned.store(true);
    } else if (snapshot.kind(k) == Kind::kOther) {
      gave_up.store(true);  // deletes and truncates: Apply's rules
      return nullptr;
    }
    return piece;
  };
  auto build_namespaces = [&] {
    ns_.reserve(namespace_rows);
    ns_ids_.reserve(namespace_rows);
    ns_by_id_.Reserve(namespace_rows);
    parent_ids.reserve(namespace_rows);
    for (size_t k = 0; k < piece_count; ++k) {
      std::vector<RowChange>* piece = wait_for(k);
      if (piece == nullptr) return;
      for (const RowChange& change : *piece) {
        const auto* upsert = std::get_if<UpsertNamespace>(&change);
        if (upsert == nullptr) continue;
        const NamespaceRow& row = upsert->row;
        auto has = [&](NamespaceRow::Column c) { return (row.present & c) != 0; };
        const uint32_t slot = AllocNamespace();
        NsNode& n = ns_[slot];
        ns_ids_.Set(slot, row.id);
        n.type = has(NamespaceRow::kType) ? row.type : NamespaceType::kUser;  // fresh node
        SetNamespaceVisibility(slot,
                               has(NamespaceRow::kVisibilityLevel) ? row.visibility_level : 20);
        if (!ns_by_id_.Insert(slot)) {
          gave_up.store(true);  // a repeated key
          return;
        }
        ++namespace_rows_built;
        parent_ids.push_back(ParentIdOfRow(row));
        // As Apply's creation: only the columns present.
        n.text = RowText::Make(has(NamespaceRow::kName) ? row.name : std::string_view(),
                               has(NamespaceRow::kPath) ? row.path : std::string_view());
        namespace_text_bytes += n.text.bytes();
      }
      namespaces_end[k] = static_cast<uint32_t>(ns_.size());
      namespace_pieces_built = k + 1;
      // The project side skips these pieces: nothing reads this one any more.
      if (snapshot.kind(k) == Kind::kOnlyNamespaceUpserts) free_rows(*piece);
    }
  };
  auto build_projects = [&] {
    projects_.reserve(project_rows);
    project_ids_.reserve(project_rows);
    project_by_id_.Reserve(project_rows);
    project_rows_of.reserve(project_rows);
    for (size_t k = 0; k < piece_count; ++k) {
      std::vector<RowChange>* piece = wait_for(k);
      if (piece == nullptr) return;
      if (snapshot.kind(k) == Kind::kOnlyNamespaceUpserts) {  // (freed by the namespace side)
        projects_end[k] = static_cast<uint32_t>(projects_.size());
        continue;
      }
      for (const RowChange& change : *piece) {
        if (const auto* link = std::get_if<UpsertRunnerLink>(&change)) {
          LinkRecord rec{link->row.id, 0, 0};
          if (link->row.present & RunnerLinkRow::kRunnerId) rec.runner_id = link->row.runner_id;
          if (link->row.present & RunnerLinkRow::kNamespaceId) {
            rec.namespace_id = link->row.namespace_id;
          }
          if (!links_.insert(rec).second) {
            gave_up.store(true);  // a repeated key
            return;
          }
          ++other_rows_built;
          continue;
        }
        const auto* upsert = std::get_if<UpsertProject>(&change);
        if (upsert == nullptr) continue;
        const ProjectRow& row = upsert->row;
        auto has = [&](ProjectRow::Column c) { return (row.present & c) != 0; };
        const uint32_t slot = AllocProject();
        ProjNode& p = projects_[slot];
        project_ids_.Set(slot, row.id);
        p.archived = has(ProjectRow::kArchived) && row.archived;
        p.pending_delete = has(ProjectRow::kPendingDelete) && row.pending_delete;
        SetProjectVisibility(slot, has(ProjectRow::kVisibilityLevel) ? row.visibility_level : 0);
        project_rows_of.push_back(&row);
        if (!project_by_id_.Insert(slot)) {
          gave_up.store(true);  // a repeated key
          return;
        }
        ++other_rows_built;
      }
      projects_end[k] = static_cast<uint32_t>(projects_.size());
    }
  };
  // An exception on one side (out of memory) stops the other at its next piece.
  auto stop_both_on_error = [&](auto& side) {
    return [&] {
      try {
        side();
      } catch (...) {
        gave_up.store(true);
        throw;
      }
    };
  };
  RunOnTwoThreads(stop_both_on_error(build_namespaces), stop_both_on_error(build_projects));
  string_bytes_ += namespace_text_bytes;  // (before a reset subtracts it)
  if (abandoned.load() || gave_up.load()) {
    const BulkBuildResult result = abandoned.load() ? BulkBuildResult::kAbandoned : give_up();
    if (result == BulkBuildResult::kGaveUp) {
      RestoreFreedNamespacePieces(snapshot, namespaces_end, namespace_pieces_built, parent_ids);
    }
    ResetAfterFailedBulkBuild();
    return result;
  }
  // Every piece is here: step 1 waited for each.
  RowPieces& pieces = snapshot.all();
  auto free_piece = [&](size_t k) { free_rows(pieces[k]); };
  *rows = namespace_rows_built + other_rows_built;

  // ---- 2. links ----
  // First every parent's, namespace's and project namespace's slot (lookups
  // only: the id indexes are not written here), on two threads. The
  // namespace side then looks for a cycle among the parents (the last reason
  // to hand the rows to Apply's rules: from here on pieces holding projects
  // or runner links are freed too) and frees each piece that holds no
  // project.
  const uint32_t namespace_slots = static_cast<uint32_t>(ns_.size());
  const uint32_t project_slots = static_cast<uint32_t>(projects_.size());
  std::vector<uint32_t> parent_slots(namespace_slots), namespace_slots_of(project_slots),
      project_namespace_slots(project_slots);
  auto projects_begin = [&](size_t k) { return k == 0 ? 0u : projects_end[k - 1]; };
  bool cycle = false;
  std::vector<std::pair<uint32_t, int64_t>> orphans;  // slot, parent_id; in slot order
  RunOnTwoThreads(
      [&] {
        for (uint32_t slot = 0; slot < namespace_slots; ++slot) {
          const int64_t parent_id = parent_ids[slot];
          parent_slots[slot] = parent_id == kNoId ? kNil : FindNamespace(parent_id);
          if (parent_slots[slot] == kNil && parent_id != kNoId) {
            orphans.emplace_back(slot, parent_id);
          }
        }
        cycle = HasParentCycle(parent_slots);
        if (cycle) return;
        for (size_t k = 0; k < pieces.size(); ++k) {
          // (The project side reads only pieces that hold projects.)
          if (snapshot.kind(k) != Kind::kOnlyNamespaceUpserts &&
              projects_begin(k) == projects_end[k]) {
            free_piece(k);
          }
        }
      },
      [&] {
        for (uint32_t slot = 0; slot < project_slots; ++slot) {
          const ProjectRow& row = *project_rows_of[slot];
          namespace_slots_of[slot] = FindNamespace(NamespaceIdOfRow(row));
          const int64_t pn_id = ProjectNamespaceIdOfRow(row);
          project_namespace_slots[slot] = pn_id == kNoId ? kNil : FindNamespace(pn_id);
        }
      });
  if (cycle) {
    RestoreFreedNamespacePieces(snapshot, namespaces_end, namespace_pieces_built, parent_ids);
    ResetAfterFailedBulkBuild();
    return BulkBuildResult::kGaveUp;
  }
  std::vector<int64_t>().swap(parent_ids);
  // Then the links, in slot order: only each node's parent and each
  // project's namespace (the lists and counters are made by the layout that
  // follows, in its slot order).
  // The roots' path index at its size first (it would grow shard by shard).
  const size_t tops =
      static_cast<size_t>(std::count(parent_slots.begin(), parent_slots.end(), kNil));
  roots_by_path_.Reserve(tops - orphans.size());
  // The roots go into that index in step 3, on another thread.
  std::vector<uint32_t> roots;
  roots.reserve(tops - orphans.size());
  size_t next_orphan = 0;
  for (uint32_t slot = 0; slot < namespace_slots; ++slot) {
    const uint32_t parent = parent_slots[slot];
    if (parent == kNil) {
      if (next_orphan < orphans.size() && orphans[next_orphan].first == slot) {
        Attach(slot, orphans[next_orphan++].second, /*has_fallback=*/false, kNoId);
      } else {
        ns_[slot].attachment = Attachment::kRoot;  // as Attach, but for the root index
        roots.push_back(slot);
      }
      continue;
    }
    NsNode& n = ns_[slot];
    n.parent = parent;
    n.attachment = Attachment::kChild;
  }
  std::vector<uint32_t>().swap(parent_slots);
  // Each project's project namespace is read at random (its own-project
  // link, its text), so the one a few rows ahead is fetched meanwhile.
  size_t next_piece = 0;
  for (uint32_t slot = 0; slot < project_slots; ++slot) {
    if (slot + kPrefetchAhead < project_slots &&
        project_namespace_slots[slot + kPrefetchAhead] != kNil) {
      __builtin_prefetch(&ns_[project_namespace_slots[slot + kPrefetchAhead]], 1);
    }
    ProjNode& p = projects_[slot];
    const ProjectRow& row = *project_rows_of[slot];
    const uint32_t ns = namespace_slots_of[slot];
    if (ns == kNil) {
      LinkProject(slot, NamespaceIdOfRow(row));  // an orphan: no counter to update
    } else {
      p.ns = ns;  // listed by the layout
    }
    BindOwnProject(slot, ProjectNamespaceIdOfRow(row), project_namespace_slots[slot]);
    // The text: its project namespace's when it owns one with the same name
    // and path (GitLab keeps them so), as Compact's ShareProjectTexts would
    // make it, without making a copy first.
    const std::string_view name = (row.present & ProjectRow::kName) ? row.name : std::string_view();
    const std::string_view path = (row.present & ProjectRow::kPath) ? row.path : std::string_view();
    if (const RowText* shared = OwnPnTextEqualTo(slot, name, path)) {
      p.text = *shared;
      p.text.Ref();
    } else {
      p.text = RowText::Make(name, path);
    }
    string_bytes_ += p.text.bytes();  // counted for each row that uses it
    // Every row of the pieces whose projects all have their text is used.
    while (next_piece < pieces.size() && projects_end[next_piece] <= slot + 1) {
      free_piece(next_piece++);
    }
  }

  // ---- 3. the layout order, from the links ----
  // The rest of the rows go first.
  project_rows_of = {};
  RowPieces().swap(pieces);
  // The order is made on one thread (it reads the nodes' links and types).
  // Meanwhile another puts the roots in the root index (which reads their
  // texts), then reserves the arrays the layout gathers the nodes into and
  // takes their first page faults, which would otherwise be most of the
  // gather's time (each first touch zeroes the page, and on a virtual
  // machine waits for the host to back it). Out of memory for the arrays,
  // the gather reserves its own.
  LayoutArrays arrays;
  RunOnTwoThreads([&] { *order = ComputeLayoutOrderFromLinks(); },
                  [&] {
                    for (uint32_t slot : roots) roots_by_path_.Insert(slot);
                    try {
                      arrays.Prefault(namespace_slots, project_slots);
                    } catch (const std::bad_alloc&) {
                      arrays = LayoutArrays();  // (the gather reserves its own)
                    }
                  });
  order->arrays = std::move(arrays);
  // Every node is reached from a top: a node no top reaches would sit on a
  // cycle, and step 2 found none.
  assert(order->reached == namespace_slots);
  return BulkBuildResult::kBuilt;
}

void Forest::RestoreFreedNamespacePieces(SnapshotPieces& snapshot,
                                         const std::vector<uint32_t>& namespaces_end,
                                         size_t pieces_built,
                                         const std::vector<int64_t>& parent_ids) {
  RowPieces& pieces = snapshot.all();
  for (size_t k = 0; k < pieces_built; ++k) {
    if (snapshot.kind(k) != SnapshotPieces::kOnlyNamespaceUpserts) continue;  // not freed
    const uint32_t begin = k == 0 ? 0 : namespaces_end[k - 1];
    std::vector<RowChange> rows;
    rows.reserve(namespaces_end[k] - begin);
    for (uint32_t slot = begin; slot < namespaces_end[k]; ++slot) {
      NamespaceRow row;  // every column present: the values the node was made with
      row.id = ns_ids_[slot];
      if (parent_ids[slot] != kNoId) row.parent_id = parent_ids[slot];
      row.type = ns_[slot].type;
      row.name = ns_[slot].text.name();
      row.path = ns_[slot].text.path();
      row.visibility_level = NamespaceVisibility(slot);
      rows.push_back(UpsertNamespace{std::move(row)});
    }
    pieces[k] = std::move(rows);
  }
}

void Forest::ResetAfterFailedBulkBuild() {
  ApplyTruncate(Table::kRunnerLinks);
  ApplyTruncate(Table::kProjects);
  ApplyTruncate(Table::kNamespaces);
}

}  // namespace canopy::internal

// random_stream.h — randomized GitLab-shaped transaction streams for tests.
//
// RandomStream produces transactions shaped like the ones GitLab's writes
// send through logical replication (docs/queries.md, "Consistency rules"):
// namespace INSERT then UPDATE of the same row, a child before its parent,
// transfers (a parent_id UPDATE followed by one UPDATE per moved node),
// renames, visibility/archive flags, children-first deletes, a project delete
// followed by its project namespace's delete, runner links, truncates — plus
// the bad data canopy must survive: deletes that leave orphans, parents that
// arrive later, deletes of unknown ids, partial (ColumnMask) updates, and
// row orders shuffled (across rows; each row's own changes stay in order)
// so that intermediate states are illegal while the state at the end of the
// transaction is legal (no cycle).
//
//   canopy_test::RandomStream stream(seed, canopy_test::StreamProfile::Balanced());
//   canopy::Transaction txn = stream.Next(model);  // model = state before txn
//
// Every id keeps one type forever; paths are unique across the whole stream,
// so full paths never collide, except in the case_twins profile: it adds
// siblings whose paths differ only in ASCII case (or not at all), which
// GitLab's validation forbids but Resolve must still answer
// deterministically. Namespace ids and project ids overlap on
// purpose (both start at 1): mixing the two tables up shows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "reference_model.h"

namespace canopy_test {

struct StreamProfile {
  const char* name = "balanced";
  size_t target_namespaces = 120;
  int max_ops_per_txn = 4;
  bool deep = false;            // parents biased to the deepest groups
  double p_root_parent = 0.12;  // a created/moved group becomes a root
  double p_shuffle = 0.3;       // shuffle the rows of a transaction
  double p_truncate_links = 0.004;
  double p_truncate_tables = 0.0015;
  double p_empty = 0.02;
  // Op weights.
  int w_create_group = 10, w_create_pair = 3, w_create_user = 2, w_create_project = 16;
  int w_move_group = 10, w_swap = 3, w_move_project = 4;
  int w_rename = 4, w_flags = 5;
  int w_delete_subtree = 2, w_delete_with_children = 2, w_reappear = 4, w_delete_project = 3;
  int w_link_add = 5, w_link_remove = 2, w_link_update = 1;
  int w_unknown_delete = 1, w_transient = 2, w_orphan_insert = 1, w_noop = 2, w_reinsert = 1;
  int w_case_twin = 0;

  static StreamProfile Balanced() { return StreamProfile{}; }
  // Few nodes, many moves and swaps: stresses move bookkeeping.
  static StreamProfile SmallDense() {
    StreamProfile p;
    p.name = "small_dense";
    p.target_namespaces = 40;
    p.w_move_group = 20;
    p.w_swap = 8;
    p.w_move_project = 8;
    p.p_shuffle = 0.5;
    return p;
  }
  // Long chains (well past GitLab's 21 levels), moves of deep subtrees.
  static StreamProfile Deep() {
    StreamProfile p;
    p.name = "deep";
    p.deep = true;
    p.target_namespaces = 110;
    p.p_root_parent = 0.01;
    p.w_create_group = 16;
    p.w_create_project = 10;
    p.w_create_user = 1;
    p.w_delete_subtree = 1;
    return p;
  }
  // Lots of bad data: orphans, reappearing parents, unknown deletes, truncates.
  static StreamProfile Orphans() {
    StreamProfile p;
    p.name = "orphans";
    p.target_namespaces = 80;
    p.w_delete_with_children = 8;
    p.w_reappear = 8;
    p.w_orphan_insert = 5;
    p.w_unknown_delete = 3;
    p.w_transient = 4;
    p.p_truncate_links = 0.01;
    p.p_truncate_tables = 0.005;
    p.p_shuffle = 0.5;
    return p;
  }
  // Siblings (namespaces and projects) whose paths differ only in case.
  static StreamProfile CaseTwins() {
    StreamProfile p;
    p.name = "case_twins";
    p.target_namespaces = 70;
    p.p_root_parent = 0.25;
    p.w_case_twin = 14;
    return p;
  }
};

class RandomStream {
 public:
  RandomStream(uint64_t seed, StreamProfile profile) : rng_(seed), profile_(profile) {}

  // The next transaction for a source whose state is `model`. Its LSN is
  // above model.applied_lsn(); its end state has no cycle.
  Transaction Next(const ReferenceModel& model) {
    lsn_ = std::max(lsn_, model.applied_lsn().value);
    lsn_ += 1 + rng_() % 5000;
    for (int attempt = 0;; ++attempt) {
      bool legal = false;
      Transaction txn{Lsn(lsn_), Build(model, &legal)};
      if (legal) return txn;
      if (attempt >= 50) return Transaction{Lsn(lsn_), {}};  // give up: an empty one
    }
  }

  // Type rules the stream keeps (so that the model's literal reading of the
  // header's type scoping is the only reading). Empty when all hold.
  static std::string TypeRuleViolations(const ReferenceModel& m) {
    std::string out;
    for (const auto& [id, r] : m.namespaces()) {
      const NamespaceRow* parent = r.parent_id ? m.FindNamespace(*r.parent_id) : nullptr;
      if (r.type == NamespaceType::kUser && r.parent_id)
        out += "user with parent " + DescribeNamespace(r) + "\n";
      if (r.type == NamespaceType::kGroup && parent && parent->type != NamespaceType::kGroup) {
        out += "group under non-group " + DescribeNamespace(r) + "\n";
      }
      if (r.type == NamespaceType::kProject && parent && parent->type == NamespaceType::kProject) {
        out += "project namespace under project namespace " + DescribeNamespace(r) + "\n";
      }
    }
    for (const auto& [id, p] : m.projects()) {
      const NamespaceRow* ns = m.FindNamespace(p.namespace_id);
      if (ns && ns->type == NamespaceType::kProject) out += "project in a project namespace\n";
    }
    return out;
  }

 private:
  using Changes = std::vector<canopy::RowChange>;

  // ---------------------------------------------------------------- helpers
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  size_t Below(size_t n) { return n ? rng_() % n : 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }

  static std::vector<int64_t> IdsOfType(const ReferenceModel& m, NamespaceType type) {
    std::vector<int64_t> out;
    for (const auto& [id, r] : m.namespaces()) {
      if (r.type == type) out.push_back(id);
    }
    return out;
  }
  static std::vector<int64_t> ProjectIds(const ReferenceModel& m) {
    std::vector<int64_t> out;
    for (const auto& [id, p] : m.projects()) out.push_back(id);
    return out;
  }
  static bool InSubtree(const ReferenceModel& m, int64_t node, int64_t root) {
    const auto& chain = m.Chain(node);
    return std::find(chain.begin(), chain.end(), root) != chain.end();
  }

  int64_t NewNamespaceId(NamespaceType type) {
    int64_t id = next_ns_id_++;
    type_of_[id] = type;
    return id;
  }
  int32_t RandomVisibility() {
    static constexpr int32_t kLevels[] = {0, 10, 20};
    return kLevels[Below(3)];
  }
  std::string FreshPath(const char* prefix, int64_t id) {
    return std::string(prefix) + std::to_string(id) + "v" + std::to_string(++rename_counter_);
  }
  NamespaceRow MakeNamespace(int64_t id, NamespaceType type, std::optional<int64_t> parent) {
    NamespaceRow r;
    r.id = id;
    r.type = type;
    r.parent_id = parent;
    const char* prefix = type == NamespaceType::kUser ? "u" : "g";
    r.path = prefix + std::to_string(id);
    r.name = std::string(type == NamespaceType::kUser ? "User " : "Group ") + std::to_string(id);
    r.visibility_level = RandomVisibility();
    return r;
  }

  // A group to hang something under: any group, or (deep profile) the deepest
  // of a few samples. `not_under` excludes that node's subtree.
  std::optional<int64_t> PickGroup(const ReferenceModel& m, std::optional<int64_t> not_under) {
    std::vector<int64_t> groups;
    for (int64_t g : IdsOfType(m, NamespaceType::kGroup)) {
      if (!not_under || !InSubtree(m, g, *not_under)) groups.push_back(g);
    }
    if (groups.empty()) return std::nullopt;
    if (!profile_.deep) return Pick(groups);
    int64_t best = Pick(groups);
    for (int i = 0; i < 8; ++i) {
      int64_t g = Pick(groups);
      if (m.Chain(g).size() > m.Chain(best).size()) best = g;
    }
    return best;
  }
  std::optional<int64_t> PickGroupParent(const ReferenceModel& m,
                                         std::optional<int64_t> not_under) {
    if (Chance(profile_.p_root_parent)) return std::nullopt;
    return PickGroup(m, not_under);
  }
  // A group or (less often) a user namespace: a holder of projects.
  std::optional<int64_t> PickHolder(const ReferenceModel& m) {
    std::vector<int64_t> users = IdsOfType(m, NamespaceType::kUser);
    if (!users.empty() && Chance(0.25)) return Pick(users);
    std::optional<int64_t> g = PickGroup(m, std::nullopt);
    if (g) return g;
    if (!users.empty()) return Pick(users);
    return std::nullopt;
  }

  // An update carrying only `mask`: the absent columns hold junk that the
  // engine must ignore.
  static NamespaceRow Partial(NamespaceRow row, canopy::ColumnMask mask) {
    row.present = mask;
    if (!(mask & NamespaceRow::kName)) row.name = "IGNORED-NAME";
    if (!(mask & NamespaceRow::kPath)) row.path = "IGNORED-PATH";
    if (!(mask & NamespaceRow::kVisibilityLevel)) row.visibility_level = 12345;
    if (!(mask & NamespaceRow::kParentId)) row.parent_id = 987654321;
    if (!(mask & NamespaceRow::kType)) row.type = NamespaceType::kUser;
    return row;
  }
  static ProjectRow Partial(ProjectRow row, canopy::ColumnMask mask) {
    row.present = mask;
    if (!(mask & ProjectRow::kName)) row.name = "IGNORED-NAME";
    if (!(mask & ProjectRow::kPath)) row.path = "IGNORED-PATH";
    if (!(mask & ProjectRow::kVisibilityLevel)) row.visibility_level = 12345;
    if (!(mask & ProjectRow::kNamespaceId)) row.namespace_id = 987654321;
    if (!(mask & ProjectRow::kProjectNamespaceId)) row.project_namespace_id = 987654322;
    if (!(mask & ProjectRow::kArchived)) row.archived = !row.archived;
    if (!(mask & ProjectRow::kPendingDelete)) row.pending_delete = !row.pending_delete;
    return row;
  }
  // Either the full row or a partial one that carries `needed` plus a random
  // subset of the other columns.
  template <typename Row>
  Row FullOrPartial(const Row& row, canopy::ColumnMask needed, double p_partial = 0.35) {
    if (!Chance(p_partial)) return row;
    canopy::ColumnMask mask = needed | static_cast<canopy::ColumnMask>(rng_() & 0x7f);
    return Partial(row, mask);
  }

  // --------------------------------------------------------------- the ops
  // Each op appends changes to `out`, judged against `m`, the state so far.
  void CreateGroup(const ReferenceModel& m, Changes& out) {
    NamespaceRow row = MakeNamespace(NewNamespaceId(NamespaceType::kGroup), NamespaceType::kGroup,
                                     PickGroupParent(m, std::nullopt));
    out.push_back(canopy::UpsertNamespace{row});
    // GitLab: INSERT with traversal_ids '{}' then an UPDATE setting it.
    if (Chance(0.5)) out.push_back(canopy::UpsertNamespace{FullOrPartial(row, 0, 0.5)});
  }
  void CreatePair(const ReferenceModel& m, Changes& out) {
    NamespaceRow parent = MakeNamespace(NewNamespaceId(NamespaceType::kGroup),
                                        NamespaceType::kGroup, PickGroupParent(m, std::nullopt));
    NamespaceRow child =
        MakeNamespace(NewNamespaceId(NamespaceType::kGroup), NamespaceType::kGroup, parent.id);
    out.push_back(canopy::UpsertNamespace{child});  // the child first
    out.push_back(canopy::UpsertNamespace{parent});
  }
  void CreateUser(const ReferenceModel&, Changes& out) {
    out.push_back(canopy::UpsertNamespace{
        MakeNamespace(NewNamespaceId(NamespaceType::kUser), NamespaceType::kUser, std::nullopt)});
  }
  void CreateProject(const ReferenceModel& m, Changes& out, std::optional<int64_t> holder,
                     std::optional<std::string> path = std::nullopt) {
    if (!holder) return;
    ProjectRow p;
    p.id = next_project_id_++;
    p.namespace_id = *holder;
    p.path = path ? *path : "p" + std::to_string(p.id);
    p.name = "Project " + std::to_string(p.id);
    p.visibility_level = RandomVisibility();
    p.archived = Chance(0.2);
    p.pending_delete = Chance(0.1);
    NamespaceRow pn =
        MakeNamespace(NewNamespaceId(NamespaceType::kProject), NamespaceType::kProject, *holder);
    pn.path = p.path;  // GitLab keeps the project namespace's path = the project's
    pn.name = p.name;
    p.project_namespace_id = pn.id;
    out.push_back(canopy::UpsertNamespace{pn});
    if (Chance(0.5)) out.push_back(canopy::UpsertNamespace{FullOrPartial(pn, 0, 0.5)});
    out.push_back(canopy::UpsertProject{p});
    (void)m;
  }
  // GitLab's transfer: the node's parent_id UPDATE, then one UPDATE per moved
  // node (traversal_ids, which canopy does not mirror: same values here).
  void TouchSubtree(const ReferenceModel& m, int64_t root, Changes& out) {
    auto below = m.SelfAndDescendants(root, true).ids;
    int touched = 0;
    for (int64_t id : below) {
      if (id == root || touched >= 12 || !Chance(0.5)) continue;
      out.push_back(canopy::UpsertNamespace{*m.FindNamespace(id)});
      ++touched;
    }
  }
  void MoveGroup(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> groups = IdsOfType(m, NamespaceType::kGroup);
    if (groups.empty()) return;
    int64_t g = Pick(groups);
    NamespaceRow row = *m.FindNamespace(g);
    if (Chance(0.03)) {
      row.parent_id = NewNamespaceId(NamespaceType::kGroup);  // a parent that comes later
    } else {
      row.parent_id = PickGroupParent(m, g);
    }
    out.push_back(canopy::UpsertNamespace{FullOrPartial(row, NamespaceRow::kParentId)});
    TouchSubtree(m, g, out);
  }
  // A moves under B (its own descendant) and B moves out from under A, in
  // that order: illegal halfway, legal at the end.
  void Swap(const ReferenceModel& m, Changes& out) {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (int64_t a : IdsOfType(m, NamespaceType::kGroup)) {
      for (int64_t b : m.Descendants(a, false).ids) pairs.emplace_back(a, b);
    }
    if (pairs.empty()) return;
    auto [a, b] = Pick(pairs);
    NamespaceRow row_a = *m.FindNamespace(a);
    NamespaceRow row_b = *m.FindNamespace(b);
    row_a.parent_id = b;
    row_b.parent_id = PickGroupParent(m, a);
    out.push_back(canopy::UpsertNamespace{FullOrPartial(row_a, NamespaceRow::kParentId)});
    out.push_back(canopy::UpsertNamespace{FullOrPartial(row_b, NamespaceRow::kParentId)});
  }
  void MoveProject(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> projects = ProjectIds(m);
    std::optional<int64_t> holder = PickHolder(m);
    if (projects.empty() || !holder) return;
    ProjectRow p = *m.FindProject(Pick(projects));
    p.namespace_id = *holder;
    out.push_back(canopy::UpsertProject{FullOrPartial(p, ProjectRow::kNamespaceId)});
    if (p.project_namespace_id && m.HasNamespace(*p.project_namespace_id)) {
      NamespaceRow pn = *m.FindNamespace(*p.project_namespace_id);
      pn.parent_id = *holder;
      out.push_back(canopy::UpsertNamespace{FullOrPartial(pn, NamespaceRow::kParentId)});
    }
  }
  void Rename(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> projects = ProjectIds(m);
    if (!projects.empty() && Chance(0.4)) {
      ProjectRow p = *m.FindProject(Pick(projects));
      p.path = FreshPath("p", p.id);
      p.name = "Project " + p.path;
      out.push_back(
          canopy::UpsertProject{FullOrPartial(p, ProjectRow::kName | ProjectRow::kPath, 0.5)});
      if (p.project_namespace_id && m.HasNamespace(*p.project_namespace_id)) {
        NamespaceRow pn = *m.FindNamespace(*p.project_namespace_id);
        pn.path = p.path;
        pn.name = p.name;
        out.push_back(canopy::UpsertNamespace{
            FullOrPartial(pn, NamespaceRow::kName | NamespaceRow::kPath, 0.5)});
      }
      return;
    }
    std::vector<int64_t> ids = IdsOfType(m, NamespaceType::kGroup);
    for (int64_t u : IdsOfType(m, NamespaceType::kUser)) ids.push_back(u);
    if (ids.empty()) return;
    NamespaceRow row = *m.FindNamespace(Pick(ids));
    row.path = FreshPath(row.type == NamespaceType::kUser ? "u" : "g", row.id);
    row.name = "Renamed " + row.path;
    out.push_back(canopy::UpsertNamespace{
        FullOrPartial(row, NamespaceRow::kName | NamespaceRow::kPath, 0.5)});
  }
  void Flags(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> projects = ProjectIds(m);
    if (!projects.empty() && Chance(0.75)) {
      ProjectRow p = *m.FindProject(Pick(projects));
      canopy::ColumnMask mask = 0;
      if (Chance(0.6)) p.archived = !p.archived, mask |= ProjectRow::kArchived;
      if (Chance(0.4)) p.pending_delete = !p.pending_delete, mask |= ProjectRow::kPendingDelete;
      if (Chance(0.4))
        p.visibility_level = RandomVisibility(), mask |= ProjectRow::kVisibilityLevel;
      if (Chance(0.5)) {
        out.push_back(canopy::UpsertProject{p});
      } else {
        out.push_back(canopy::UpsertProject{Partial(p, mask)});
      }
      return;
    }
    if (m.namespaces().empty()) return;
    std::vector<int64_t> ids;
    for (const auto& [id, r] : m.namespaces()) ids.push_back(id);
    NamespaceRow row = *m.FindNamespace(Pick(ids));
    row.visibility_level = RandomVisibility();
    out.push_back(canopy::UpsertNamespace{FullOrPartial(row, NamespaceRow::kVisibilityLevel, 0.6)});
  }
  void DeleteProjectRows(const ReferenceModel& m, const ProjectRow& p, Changes& out,
                         std::set<int64_t>& deleted_ns) {
    out.push_back(canopy::DeleteProject{p.id});
    // the trigger's DELETE of the project namespace follows
    if (p.project_namespace_id && m.HasNamespace(*p.project_namespace_id) &&
        !deleted_ns.count(*p.project_namespace_id)) {
      out.push_back(canopy::DeleteNamespace{*p.project_namespace_id});
      deleted_ns.insert(*p.project_namespace_id);
    }
  }
  // Children first, projects (and their project namespaces) before their
  // namespace: a whole subtree goes, as Groups::DestroyService does it.
  void DeleteSubtree(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> roots = IdsOfType(m, NamespaceType::kGroup);
    std::vector<int64_t> users = IdsOfType(m, NamespaceType::kUser);
    if (!users.empty() && (roots.empty() || Chance(0.2))) roots = users;
    if (roots.empty()) return;
    int64_t root = Pick(roots);
    std::vector<int64_t> nodes = m.SelfAndDescendants(root, true).ids;
    std::stable_sort(nodes.begin(), nodes.end(),
                     [&](int64_t a, int64_t b) { return m.Chain(a).size() > m.Chain(b).size(); });
    std::set<int64_t> deleted_ns;
    const bool drop_links = Chance(0.5);
    for (int64_t node : nodes) {
      if (deleted_ns.count(node)) continue;
      for (const auto& [pid, p] : m.projects()) {
        if (p.namespace_id == node) DeleteProjectRows(m, p, out, deleted_ns);
      }
      if (drop_links) {
        for (const auto& [lid, link] : m.links()) {
          if (link.namespace_id == node) out.push_back(canopy::DeleteRunnerLink{lid});
        }
      }
      if (!deleted_ns.count(node)) {
        out.push_back(canopy::DeleteNamespace{node});
        deleted_ns.insert(node);
      }
    }
  }
  // A delete that leaves children and projects behind as orphans.
  void DeleteWithChildren(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> candidates;
    for (const auto& [id, r] : m.namespaces()) {
      if (r.type != NamespaceType::kProject && m.SelfAndDescendants(id, true).ids.size() > 1) {
        candidates.push_back(id);
      }
    }
    if (candidates.empty()) return;
    out.push_back(canopy::DeleteNamespace{Pick(candidates)});
  }
  // An id something waits for (a parent, a project's namespace or project
  // namespace) appears, with the type it always had.
  void Reappear(const ReferenceModel& m, Changes& out) {
    std::set<int64_t> waited;
    for (const auto& [id, r] : m.namespaces()) {
      if (r.parent_id && !m.HasNamespace(*r.parent_id)) waited.insert(*r.parent_id);
    }
    for (const auto& [id, p] : m.projects()) {
      if (!m.HasNamespace(p.namespace_id)) waited.insert(p.namespace_id);
      if (p.project_namespace_id && !m.HasNamespace(*p.project_namespace_id)) {
        waited.insert(*p.project_namespace_id);
      }
    }
    if (waited.empty()) return;
    std::vector<int64_t> ids(waited.begin(), waited.end());
    int64_t id = Pick(ids);
    auto it = type_of_.find(id);
    NamespaceType type = it == type_of_.end() ? NamespaceType::kGroup : it->second;
    std::optional<int64_t> parent;
    if (type == NamespaceType::kGroup) {
      parent = PickGroupParent(m, std::nullopt);
    } else if (type == NamespaceType::kProject) {
      for (const auto& [pid, p] : m.projects()) {
        if (p.project_namespace_id == id) parent = p.namespace_id;
      }
      if (!parent) parent = PickHolder(m);
      if (!parent) return;
    }
    NamespaceRow row = MakeNamespace(id, type, parent);
    if (type == NamespaceType::kProject) {
      for (const auto& [pid, p] : m.projects()) {
        if (p.project_namespace_id == id) row.path = p.path, row.name = p.name;
      }
      if (row.path.empty() || row.path[0] != 'p') row.path = FreshPath("pn", id);
    } else {
      row.path = FreshPath(type == NamespaceType::kUser ? "u" : "g", id);
    }
    out.push_back(canopy::UpsertNamespace{row});
  }
  void DeleteProject(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> projects = ProjectIds(m);
    if (projects.empty()) return;
    const ProjectRow& p = *m.FindProject(Pick(projects));
    std::set<int64_t> deleted_ns;
    double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (r < 0.08) {
      out.push_back(canopy::DeleteProject{p.id});  // the project namespace stays
    } else if (r < 0.13 && p.project_namespace_id && m.HasNamespace(*p.project_namespace_id)) {
      out.push_back(canopy::DeleteNamespace{*p.project_namespace_id});  // the project stays
    } else {
      DeleteProjectRows(m, p, out, deleted_ns);
    }
  }
  void LinkAdd(const ReferenceModel& m, Changes& out) {
    RunnerLinkRow link;
    link.id = next_link_id_++;
    link.runner_id = 1 + static_cast<int64_t>(Below(15));
    std::optional<int64_t> g = PickGroup(m, std::nullopt);
    if (!g || Chance(0.04)) {
      link.namespace_id = NewNamespaceId(NamespaceType::kGroup);  // a group not here (yet)
    } else {
      link.namespace_id = *g;
    }
    out.push_back(canopy::UpsertRunnerLink{link});
  }
  void LinkRemove(const ReferenceModel& m, Changes& out) {
    if (m.links().empty()) return;
    auto it = m.links().begin();
    std::advance(it, Below(m.links().size()));
    out.push_back(canopy::DeleteRunnerLink{it->first});
  }
  void LinkUpdate(const ReferenceModel& m, Changes& out) {
    if (m.links().empty()) return;
    auto it = m.links().begin();
    std::advance(it, Below(m.links().size()));
    RunnerLinkRow link = it->second;
    std::optional<int64_t> g = PickGroup(m, std::nullopt);
    if (g) link.namespace_id = *g;
    if (Chance(0.3)) link.runner_id = 1 + static_cast<int64_t>(Below(15));
    if (Chance(0.3)) {
      link.present = RunnerLinkRow::kNamespaceId;
      link.runner_id = 999999;  // absent: must be ignored
    }
    out.push_back(canopy::UpsertRunnerLink{link});
  }
  void UnknownDelete(Changes& out) {
    int64_t id = 1'000'000'000'000 + next_unknown_id_++;
    switch (Below(3)) {
      case 0:
        out.push_back(canopy::DeleteNamespace{id});
        break;
      case 1:
        out.push_back(canopy::DeleteProject{id});
        break;
      default:
        out.push_back(canopy::DeleteRunnerLink{id});
        break;
    }
  }
  // Rows that live and die inside one transaction.
  void Transient(const ReferenceModel& m, Changes& out) {
    if (Chance(0.5)) {
      NamespaceRow row = MakeNamespace(NewNamespaceId(NamespaceType::kGroup), NamespaceType::kGroup,
                                       PickGroupParent(m, std::nullopt));
      out.push_back(canopy::UpsertNamespace{row});
      out.push_back(canopy::DeleteNamespace{row.id});
    } else {
      std::optional<int64_t> holder = PickHolder(m);
      if (!holder) return;
      ProjectRow p;
      p.id = next_project_id_++;
      p.namespace_id = *holder;
      p.path = "p" + std::to_string(p.id);
      out.push_back(canopy::UpsertProject{p});
      out.push_back(canopy::DeleteProject{p.id});
    }
  }
  // DELETE and INSERT of the same key in one transaction: the new row
  // replaces the old one; columns it does not carry take their defaults.
  void DeleteAndReinsert(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> groups = IdsOfType(m, NamespaceType::kGroup);
    std::vector<int64_t> projects = ProjectIds(m);
    if (!projects.empty() && (groups.empty() || Chance(0.5))) {
      ProjectRow p = *m.FindProject(Pick(projects));
      out.push_back(canopy::DeleteProject{p.id});
      p.archived = !p.archived;
      out.push_back(canopy::UpsertProject{FullOrPartial(
          p, ProjectRow::kNamespaceId | ProjectRow::kProjectNamespaceId | ProjectRow::kPath, 0.5)});
      return;
    }
    if (groups.empty()) return;
    NamespaceRow row = *m.FindNamespace(Pick(groups));
    out.push_back(canopy::DeleteNamespace{row.id});
    row.visibility_level = RandomVisibility();
    if (Chance(0.5)) row.parent_id = PickGroupParent(m, row.id);
    out.push_back(canopy::UpsertNamespace{FullOrPartial(
        row, NamespaceRow::kParentId | NamespaceRow::kType | NamespaceRow::kPath, 0.5)});
  }
  // A group or a project whose namespace arrives in a later transaction.
  void OrphanInsert(const ReferenceModel& m, Changes& out) {
    int64_t future = NewNamespaceId(NamespaceType::kGroup);
    if (Chance(0.6)) {
      out.push_back(canopy::UpsertNamespace{
          MakeNamespace(NewNamespaceId(NamespaceType::kGroup), NamespaceType::kGroup, future)});
    } else {
      CreateProject(m, out, future);
    }
  }
  void Noop(const ReferenceModel& m, Changes& out) {
    for (int i = 0; i < 3; ++i) {
      if (!m.namespaces().empty() && Chance(0.6)) {
        auto it = m.namespaces().begin();
        std::advance(it, Below(m.namespaces().size()));
        out.push_back(canopy::UpsertNamespace{FullOrPartial(it->second, 0)});
      } else if (!m.projects().empty()) {
        auto it = m.projects().begin();
        std::advance(it, Below(m.projects().size()));
        out.push_back(canopy::UpsertProject{FullOrPartial(it->second, 0)});
      }
    }
  }

  // `path` with some ASCII letters' case flipped (perhaps none).
  std::string CaseVariant(std::string path) {
    for (char& c : path) {
      if (!Chance(0.5)) continue;
      if (c >= 'a' && c <= 'z') {
        c = static_cast<char>(c - 'a' + 'A');
      } else if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    return path;
  }
  // A path equal to another's but for case, next to it: a new sibling
  // namespace, a project of the parent (a namespace and a project compete),
  // a project next to a project, or a rename of the row itself or of a
  // sibling.
  void CaseTwin(const ReferenceModel& m, Changes& out) {
    std::vector<int64_t> ids = IdsOfType(m, NamespaceType::kGroup);
    for (int64_t u : IdsOfType(m, NamespaceType::kUser)) ids.push_back(u);
    std::vector<int64_t> projects = ProjectIds(m);
    const size_t kind = Below(5);
    if (kind == 4) {  // a project next to a project
      if (projects.empty()) return;
      const ProjectRow& p = *m.FindProject(Pick(projects));
      CreateProject(m, out, p.namespace_id, CaseVariant(p.path));
      return;
    }
    if (ids.empty()) return;
    const NamespaceRow& x = *m.FindNamespace(Pick(ids));
    switch (kind) {
      case 0: {  // a sibling namespace (a user only next to a root)
        NamespaceType type = x.type;
        if (!x.parent_id && Chance(0.3)) {
          type = type == NamespaceType::kUser ? NamespaceType::kGroup : NamespaceType::kUser;
        }
        NamespaceRow row = MakeNamespace(NewNamespaceId(type), type, x.parent_id);
        row.path = CaseVariant(x.path);
        out.push_back(canopy::UpsertNamespace{row});
        break;
      }
      case 1:  // a project of the parent
        if (x.parent_id) CreateProject(m, out, *x.parent_id, CaseVariant(x.path));
        break;
      case 2: {  // a sibling group renamed to the twin path
        std::vector<int64_t> siblings;
        for (int64_t g : ids) {
          const NamespaceRow& r = *m.FindNamespace(g);
          if (g != x.id && r.parent_id == x.parent_id) siblings.push_back(g);
        }
        if (siblings.empty()) return;
        NamespaceRow row = *m.FindNamespace(Pick(siblings));
        row.path = CaseVariant(x.path);
        out.push_back(canopy::UpsertNamespace{FullOrPartial(row, NamespaceRow::kPath, 0.5)});
        break;
      }
      default: {  // a rename changing only the case
        NamespaceRow row = x;
        row.path = CaseVariant(x.path);
        out.push_back(canopy::UpsertNamespace{FullOrPartial(row, NamespaceRow::kPath, 0.5)});
        break;
      }
    }
  }

  // ------------------------------------------------------------- assembly
  void RunOneOp(const ReferenceModel& m, Changes& out) {
    const double size = static_cast<double>(m.namespaces().size());
    const double target = static_cast<double>(profile_.target_namespaces);
    double grow = size < target / 2 ? 3.0 : size > target ? 0.25 : 1.0;
    double shrink = size < target / 2 ? 0.2 : size > target ? 3.0 : 1.0;
    // projects (each with its project namespace) aim at a third of that
    const double projects = static_cast<double>(m.projects().size());
    double grow_p = projects < target / 6 ? 3.0 : projects > target / 3 ? 0.3 : 1.0;
    double shrink_p = projects < target / 6 ? 0.3 : projects > target / 3 ? 3.0 : 1.0;
    const std::pair<double, int> weights[] = {
        {profile_.w_create_group * grow, 0},
        {profile_.w_create_pair * grow, 1},
        {profile_.w_create_user * grow, 2},
        {profile_.w_create_project * grow_p, 3},
        {profile_.w_move_group * 1.0, 4},
        {profile_.w_swap * 1.0, 5},
        {profile_.w_move_project * 1.0, 6},
        {profile_.w_rename * 1.0, 7},
        {profile_.w_flags * 1.0, 8},
        {profile_.w_delete_subtree * shrink, 9},
        {profile_.w_delete_with_children * shrink, 10},
        {profile_.w_reappear * 1.0, 11},
        {profile_.w_delete_project * shrink_p, 12},
        {profile_.w_link_add * 1.0, 13},
        {profile_.w_link_remove * 1.0, 14},
        {profile_.w_link_update * 1.0, 15},
        {profile_.w_unknown_delete * 1.0, 16},
        {profile_.w_transient * 1.0, 17},
        {profile_.w_orphan_insert * 1.0, 18},
        {profile_.w_noop * 1.0, 19},
        {profile_.w_reinsert * 1.0, 20},
        {profile_.w_case_twin * 1.0, 21},
    };
    double total = 0;
    for (const auto& [w, op] : weights) total += w;
    double r = std::uniform_real_distribution<double>(0, total)(rng_);
    int chosen = 0;
    for (const auto& [w, op] : weights) {
      if (r < w) {
        chosen = op;
        break;
      }
      r -= w;
    }
    switch (chosen) {
      case 0:
        CreateGroup(m, out);
        break;
      case 1:
        CreatePair(m, out);
        break;
      case 2:
        CreateUser(m, out);
        break;
      case 3:
        CreateProject(m, out, PickHolder(m));
        break;
      case 4:
        MoveGroup(m, out);
        break;
      case 5:
        Swap(m, out);
        break;
      case 6:
        MoveProject(m, out);
        break;
      case 7:
        Rename(m, out);
        break;
      case 8:
        Flags(m, out);
        break;
      case 9:
        DeleteSubtree(m, out);
        break;
      case 10:
        DeleteWithChildren(m, out);
        break;
      case 11:
        Reappear(m, out);
        break;
      case 12:
        DeleteProject(m, out);
        break;
      case 13:
        LinkAdd(m, out);
        break;
      case 14:
        LinkRemove(m, out);
        break;
      case 15:
        LinkUpdate(m, out);
        break;
      case 16:
        UnknownDelete(out);
        break;
      case 17:
        Transient(m, out);
        break;
      case 18:
        OrphanInsert(m, out);
        break;
      case 20:
        DeleteAndReinsert(m, out);
        break;
      case 21:
        CaseTwin(m, out);
        break;
      default:
        Noop(m, out);
        break;
    }
  }

  // The changes of one transaction; *legal tells whether its end state has
  // no cycle and keeps the type rules.
  Changes Build(const ReferenceModel& model, bool* legal) {
    *legal = true;
    if (Chance(profile_.p_empty)) return {};
    if (Chance(profile_.p_truncate_links)) {
      Changes out{canopy::TruncateTable{Table::kRunnerLinks}};
      ReferenceModel scratch = model;
      (void)scratch.Apply(Transaction{model.applied_lsn(), out});
      LinkAdd(scratch, out);  // rows may follow a truncate in the same transaction
      return out;
    }
    if (Chance(profile_.p_truncate_tables)) {
      double r = std::uniform_real_distribution<double>(0, 1)(rng_);
      if (r < 0.6) {
        return {canopy::TruncateTable{Table::kProjects}, canopy::TruncateTable{Table::kNamespaces}};
      }
      if (r < 0.8) return {canopy::TruncateTable{Table::kNamespaces}};  // projects orphaned
      return {canopy::TruncateTable{Table::kProjects}};
    }
    ReferenceModel scratch = model;
    Changes out;
    const int ops = 1 + static_cast<int>(Below(static_cast<size_t>(profile_.max_ops_per_txn)));
    for (int i = 0; i < ops; ++i) {
      Changes op;
      RunOneOp(scratch, op);
      (void)scratch.Apply(Transaction{scratch.applied_lsn(), op});
      out.insert(out.end(), op.begin(), op.end());
    }
    // `scratch` holds the end state (a shuffle below keeps it).
    *legal = !scratch.HasCycle() && TypeRuleViolations(scratch).empty();
    if (out.size() > 1 && Chance(profile_.p_shuffle)) {
      // A source emits the changes of one row in order (it never DELETEs a
      // row that is not there), so only the order across rows is shuffled.
      return KeyOrderPreservingShuffle(out);
    }
    return out;
  }

  // Reorders rows but keeps the order of the changes to each single row, so
  // the end state equals the unshuffled one.
  Changes KeyOrderPreservingShuffle(const Changes& in) {
    auto key = [](const canopy::RowChange& c) -> std::pair<int, int64_t> {
      return std::visit(
          [](const auto& x) -> std::pair<int, int64_t> {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, canopy::UpsertNamespace>)
              return {0, x.row.id};
            else if constexpr (std::is_same_v<T, canopy::DeleteNamespace>)
              return {0, x.id};
            else if constexpr (std::is_same_v<T, canopy::UpsertProject>)
              return {1, x.row.id};
            else if constexpr (std::is_same_v<T, canopy::DeleteProject>)
              return {1, x.id};
            else if constexpr (std::is_same_v<T, canopy::UpsertRunnerLink>)
              return {2, x.row.id};
            else if constexpr (std::is_same_v<T, canopy::DeleteRunnerLink>)
              return {2, x.id};
            else
              return {3, static_cast<int64_t>(x.table)};
          },
          c);
    };
    std::map<std::pair<int, int64_t>, std::vector<canopy::RowChange>> by_key;
    std::vector<std::pair<int, int64_t>> slots;
    for (const auto& c : in) {
      by_key[key(c)].push_back(c);
      slots.push_back(key(c));
    }
    std::shuffle(slots.begin(), slots.end(), rng_);
    std::map<std::pair<int, int64_t>, size_t> next;
    Changes out;
    for (const auto& k : slots) out.push_back(by_key[k][next[k]++]);
    return out;
  }

  std::mt19937_64 rng_;
  StreamProfile profile_;
  uint64_t lsn_ = 0x16'B374D848;
  int64_t next_ns_id_ = 1;
  int64_t next_project_id_ = 1;
  int64_t next_link_id_ = 1;
  int64_t rename_counter_ = 0;
  int64_t next_unknown_id_ = 0;
  std::map<int64_t, NamespaceType> type_of_;  // every namespace id ever handed out
};

}  // namespace canopy_test

// reference_model.h — a brute-force model of canopy's hierarchy, for tests.
//
// ReferenceModel keeps the mirrored tables as plain ordered maps and answers
// every query kind of docs/queries.md straight from its definition:
// chains by walking parent_id, descendants by asking which nodes' chains
// contain the namespace, projects by filtering the projects table. Nothing is
// incremental, so it shares no bug with the engine's counters and links.
//
//   canopy_test::ReferenceModel model;
//   ASSERT_TRUE(model.Apply(txn));               // same txn the engine got
//   EXPECT_EQ(model.Run(query).ids, view.Run(query).ids);
//
// Semantics follow canopy/hierarchy_index.h:
//   * A namespace whose parent_id is unknown is a detached root: its chain
//     stops at itself, and Resolve cannot reach it or anything below it.
//   * A project whose namespace_id is unknown is in no group's or user
//     namespace's answers; its own project namespace still names it (SQL:
//     projects WHERE project_namespace_id = ...).
//   * Runner links are rows without a foreign key: a link to a namespace the
//     model does not hold still counts for RunnersOfGroups.
//   * Changes apply in order; a present-column mask merges into an existing
//     row (or into the defaults for a new one); deletes of unknown ids count.
//   * The model does not refuse cycles: callers keep cycles out (HasCycle()).
//
// THREAD SAFETY: none; one thread uses a model.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "canopy/hierarchy_index.h"
#include "canopy/rows.h"
#include "canopy/status.h"

namespace canopy_test {

using canopy::HierarchyOrder;
using canopy::IdAnswer;
using canopy::IdQuery;
using canopy::Lsn;
using canopy::NamespaceRow;
using canopy::NamespaceType;
using canopy::ProjectRow;
using canopy::QueryKind;
using canopy::RunnerLinkRow;
using canopy::StatusCode;
using canopy::SubtreeCounts;
using canopy::Table;
using canopy::Transaction;

// Kinds answered in ascending id order, by docs/queries.md (independent of the
// engine's IsAscendingKind). kRootAncestor is a single id and left out.
inline bool RefIsAscendingKind(QueryKind kind) {
  switch (kind) {
    case QueryKind::kSelfAndDescendants:
    case QueryKind::kDescendants:
    case QueryKind::kSelfAndHierarchy:
    case QueryKind::kAllProjectIds:
    case QueryKind::kAllUnarchivedProjectIds:
    case QueryKind::kRunnersOfGroup:
    case QueryKind::kRunnersOfGroupAndAncestors:
    case QueryKind::kRunnersOfParentGroupsOfProject:
      return true;
    default:
      return false;
  }
}

// True for kinds whose id is a project id.
inline bool IsProjectKind(QueryKind kind) {
  return kind == QueryKind::kProjectAncestors || kind == QueryKind::kRunnersOfParentGroupsOfProject;
}

// What a reference query returns: found (with ids) or not found.
struct RefIds {
  bool found = false;
  std::vector<int64_t> ids;
  static RefIds NotFound() { return {}; }
  static RefIds Of(std::vector<int64_t> ids) { return {true, std::move(ids)}; }
};

// Cuts a full answer into the page an IdQuery asks for (limit, after_id).
inline IdAnswer PageOf(const std::vector<int64_t>& full, const IdQuery& q) {
  IdAnswer a;
  a.total = full.size();
  std::vector<int64_t> rest;
  for (int64_t id : full) {
    if (!q.after_id || id > *q.after_id) rest.push_back(id);
  }
  if (q.limit != 0 && rest.size() > q.limit) {
    rest.resize(q.limit);
    a.more = true;
  }
  a.ids = std::move(rest);
  return a;
}

inline std::string IdsToString(std::span<const int64_t> ids) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? "," : "") << ids[i];
  out << "]";
  return out.str();
}

inline std::string DescribeQuery(const IdQuery& q) {
  std::ostringstream out;
  out << canopy::QueryKindName(q.kind) << "(id=" << q.id;
  if (q.kind == QueryKind::kAncestorsUpto) out << ", top=" << q.top;
  if (q.order == HierarchyOrder::kSelfFirst) out << ", self_first";
  if (q.include_project_namespaces) out << ", include_pns";
  if (q.limit) out << ", limit=" << q.limit;
  if (q.after_id) out << ", after_id=" << *q.after_id;
  if (q.id_order == canopy::IdOrder::kAny) out << ", id_order=any";
  out << ")";
  return out.str();
}

inline std::string DescribeNamespace(const NamespaceRow& r) {
  std::ostringstream out;
  out << "ns{id=" << r.id << " parent=" << (r.parent_id ? std::to_string(*r.parent_id) : "NULL")
      << " type=" << canopy::NamespaceTypeName(r.type) << " path=" << r.path << " name=" << r.name
      << " vis=" << r.visibility_level;
  if (r.present != canopy::kAllColumns) out << " mask=0x" << std::hex << r.present << std::dec;
  out << "}";
  return out.str();
}

inline std::string DescribeProject(const ProjectRow& r) {
  std::ostringstream out;
  out << "project{id=" << r.id << " ns=" << r.namespace_id
      << " pn=" << (r.project_namespace_id ? std::to_string(*r.project_namespace_id) : "NULL")
      << " path=" << r.path << " name=" << r.name << " vis=" << r.visibility_level
      << " archived=" << r.archived << " pending_delete=" << r.pending_delete;
  if (r.present != canopy::kAllColumns) out << " mask=0x" << std::hex << r.present << std::dec;
  out << "}";
  return out.str();
}

inline std::string DescribeChange(const canopy::RowChange& change) {
  return std::visit(
      [](const auto& c) -> std::string {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, canopy::UpsertNamespace>) {
          return "upsert " + DescribeNamespace(c.row);
        } else if constexpr (std::is_same_v<T, canopy::UpsertProject>) {
          return "upsert " + DescribeProject(c.row);
        } else if constexpr (std::is_same_v<T, canopy::UpsertRunnerLink>) {
          return "upsert link{id=" + std::to_string(c.row.id) +
                 " runner=" + std::to_string(c.row.runner_id) +
                 " ns=" + std::to_string(c.row.namespace_id) + "}";
        } else if constexpr (std::is_same_v<T, canopy::DeleteNamespace>) {
          return "delete ns " + std::to_string(c.id);
        } else if constexpr (std::is_same_v<T, canopy::DeleteProject>) {
          return "delete project " + std::to_string(c.id);
        } else if constexpr (std::is_same_v<T, canopy::DeleteRunnerLink>) {
          return "delete link " + std::to_string(c.id);
        } else {
          return "truncate table " + std::to_string(static_cast<int>(c.table));
        }
      },
      change);
}

inline std::string DescribeTransaction(const Transaction& txn) {
  std::ostringstream out;
  out << "txn lsn=" << txn.commit_lsn.value << " (" << txn.changes.size() << " changes)\n";
  for (const auto& c : txn.changes) out << "  " << DescribeChange(c) << "\n";
  return out.str();
}

class ReferenceModel {
 public:
  // ---- tables ----
  const std::map<int64_t, NamespaceRow>& namespaces() const { return namespaces_; }
  const std::map<int64_t, ProjectRow>& projects() const { return projects_; }
  const std::map<int64_t, RunnerLinkRow>& links() const { return links_; }
  Lsn applied_lsn() const { return applied_lsn_; }
  uint64_t unknown_deletes() const { return unknown_deletes_; }
  uint64_t transactions_applied() const { return transactions_applied_; }

  bool HasNamespace(int64_t id) const { return namespaces_.count(id) != 0; }
  bool HasProject(int64_t id) const { return projects_.count(id) != 0; }
  const NamespaceRow* FindNamespace(int64_t id) const {
    auto it = namespaces_.find(id);
    return it == namespaces_.end() ? nullptr : &it->second;
  }
  const ProjectRow* FindProject(int64_t id) const {
    auto it = projects_.find(id);
    return it == projects_.end() ? nullptr : &it->second;
  }

  // ---- writer ----
  // Applies `txn` in order. False (nothing applied) if its LSN goes backwards.
  bool Apply(const Transaction& txn) {
    if (txn.commit_lsn < applied_lsn_) return false;
    for (const auto& change : txn.changes) ApplyChange(change);
    applied_lsn_ = txn.commit_lsn;
    if (!txn.changes.empty()) ++transactions_applied_;
    Derive();
    return true;
  }

  // True if the parent links of the current rows contain a cycle.
  bool HasCycle() const { return has_cycle_; }

  // ---- structure ----
  // Root-first chain ns..root along parent_id, stopping at a null or unknown
  // parent. REQUIRES: HasNamespace(ns).
  const std::vector<int64_t>& Chain(int64_t ns) const { return chain_.at(ns); }
  bool IsOrphan(int64_t ns) const {
    const NamespaceRow& r = namespaces_.at(ns);
    return r.parent_id && !HasNamespace(*r.parent_id);
  }
  // A project is attached when its namespace is known.
  bool IsAttached(const ProjectRow& p) const { return HasNamespace(p.namespace_id); }
  // True when the chain of ns starts at a real root (parent_id NULL).
  bool RootedAtTrueRoot(int64_t ns) const { return !IsOrphan(Chain(ns).front()); }
  NamespaceType TypeOf(int64_t ns) const { return namespaces_.at(ns).type; }

  // ---- queries (ids are namespace ids unless said) ----
  RefIds SelfAndAncestors(int64_t ns, HierarchyOrder order) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    return RefIds::Of(Ordered(Chain(ns), order));
  }
  RefIds Ancestors(int64_t ns, HierarchyOrder order) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    std::vector<int64_t> chain = Chain(ns);
    chain.pop_back();
    return RefIds::Of(Ordered(std::move(chain), order));
  }
  RefIds AncestorsUpto(int64_t ns, int64_t top, HierarchyOrder order) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    std::vector<int64_t> ancestors = Chain(ns);
    ancestors.pop_back();
    auto it = std::find(ancestors.begin(), ancestors.end(), top);
    if (it != ancestors.end()) ancestors.erase(ancestors.begin(), it + 1);
    return RefIds::Of(Ordered(std::move(ancestors), order));
  }
  RefIds RootAncestor(int64_t ns) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    return RefIds::Of({Chain(ns).front()});
  }
  // include_pns=false: ns and the nodes below it of ns's own type;
  // include_pns=true: ns and every node below it.
  RefIds SelfAndDescendants(int64_t ns, bool include_pns) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    std::vector<int64_t> out;
    const NamespaceType type = TypeOf(ns);
    for (int64_t x : subtree_.at(ns)) {
      if (x == ns || include_pns || TypeOf(x) == type) out.push_back(x);
    }
    return RefIds::Of(std::move(out));
  }
  RefIds Descendants(int64_t ns, bool include_pns) const {
    RefIds r = SelfAndDescendants(ns, include_pns);
    std::erase(r.ids, ns);
    return r;
  }
  RefIds SelfAndHierarchy(int64_t ns, bool include_pns) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    std::set<int64_t> all(Chain(ns).begin(), Chain(ns).end());
    for (int64_t x : SelfAndDescendants(ns, include_pns).ids) all.insert(x);
    return RefIds::Of({all.begin(), all.end()});
  }
  // Group / user: projects whose namespace is ns or a same-type descendant.
  // Project namespace: the project(s) whose project_namespace_id is ns.
  RefIds AllProjectIds(int64_t ns, bool unarchived_only) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    std::vector<int64_t> out;
    if (TypeOf(ns) == NamespaceType::kProject) {
      for (const auto& [id, p] : projects_) {
        if (p.project_namespace_id == ns && !(unarchived_only && p.archived)) {
          out.push_back(id);
        }
      }
      return RefIds::Of(std::move(out));
    }
    for (int64_t holder : SelfAndDescendants(ns, false).ids) {
      auto it = projects_in_.find(holder);
      if (it == projects_in_.end()) continue;
      for (int64_t id : it->second) {
        if (!(unarchived_only && projects_.at(id).archived)) out.push_back(id);
      }
    }
    std::sort(out.begin(), out.end());
    return RefIds::Of(std::move(out));
  }
  // The project's group and its ancestors; empty for a project in a user
  // namespace or in an unknown one. Not found: unknown project.
  RefIds ProjectAncestors(int64_t project, HierarchyOrder order) const {
    const ProjectRow* p = FindProject(project);
    if (!p) return RefIds::NotFound();
    const NamespaceRow* ns = FindNamespace(p->namespace_id);
    if (!ns || ns->type != NamespaceType::kGroup) return RefIds::Of({});
    return SelfAndAncestors(ns->id, order);
  }
  // Runners linked to exactly these namespace ids (known or not), ascending,
  // unique: SQL's `namespace_id IN (...)` on the link table.
  std::vector<int64_t> RunnersOfGroups(std::span<const int64_t> namespaces) const {
    std::set<int64_t> runners;
    for (const auto& [id, link] : links_) {
      if (std::find(namespaces.begin(), namespaces.end(), link.namespace_id) != namespaces.end()) {
        runners.insert(link.runner_id);
      }
    }
    return {runners.begin(), runners.end()};
  }
  // Never "not found" (hierarchy_index.h, kRunnersOfGroup).
  RefIds RunnersOfGroup(int64_t ns) const {
    return RefIds::Of(RunnersOfGroups(std::span<const int64_t>(&ns, 1)));
  }
  RefIds RunnersOfGroupAndAncestors(int64_t ns) const {
    if (!HasNamespace(ns)) return RefIds::NotFound();
    if (TypeOf(ns) != NamespaceType::kGroup) return RefIds::Of({});
    return RefIds::Of(RunnersOfGroups(Chain(ns)));
  }
  RefIds RunnersOfParentGroupsOfProject(int64_t project) const {
    RefIds groups = ProjectAncestors(project, HierarchyOrder::kRootFirst);
    if (!groups.found) return groups;
    return RefIds::Of(RunnersOfGroups(groups.ids));
  }

  std::optional<SubtreeCounts> Counts(int64_t ns) const {
    if (!HasNamespace(ns)) return std::nullopt;
    SubtreeCounts c;
    for (int64_t x : subtree_.at(ns)) {
      if (x == ns) continue;
      if (TypeOf(x) == NamespaceType::kGroup) ++c.descendant_groups;
      if (TypeOf(x) == NamespaceType::kProject) ++c.descendant_project_namespaces;
    }
    c.projects = AllProjectIds(ns, false).ids.size();
    c.unarchived_projects = AllProjectIds(ns, true).ids.size();
    return c;
  }

  std::optional<std::string> NamespaceFullPath(int64_t ns) const {
    if (!HasNamespace(ns)) return std::nullopt;
    return full_path_.at(ns);
  }
  // nullopt for an unknown or unattached project.
  std::optional<std::string> ProjectFullPath(int64_t project) const {
    const ProjectRow* p = FindProject(project);
    if (!p || !IsAttached(*p)) return std::nullopt;
    return *NamespaceFullPath(p->namespace_id) + "/" + p->path;
  }
  // Straight from the rule in canopy/hierarchy_index.h. Only chains of
  // user/group namespaces that start at a real root (parent_id NULL) are
  // reachable; an empty segment matches nothing.
  //   1. Exact: segment by segment, the lowest-id user/group namespace of
  //      that path under the previous one; the last segment names such a
  //      namespace, else the lowest-id project of that path in the previous.
  //   2. Else ignoring ASCII case: of every reachable namespace, then every
  //      project, whose full path matches, the first (lowest id).
  std::optional<canopy::ResolvedPath> Resolve(std::string_view full_path) const {
    std::vector<std::string> segments;
    for (size_t start = 0;;) {
      const size_t slash = full_path.find('/', start);
      segments.emplace_back(full_path.substr(
          start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      if (segments.back().empty()) return std::nullopt;
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    int64_t current = kTrueRoot;
    for (size_t i = 0; i < segments.size(); ++i) {
      auto child = child_by_path_.find({current, segments[i]});
      if (child != child_by_path_.end()) {
        current = child->second;
        if (i + 1 == segments.size()) return canopy::ResolvedPath{Table::kNamespaces, current};
        continue;
      }
      if (i + 1 == segments.size() && current != kTrueRoot) {
        auto project = project_by_path_.find({current, segments[i]});
        if (project != project_by_path_.end()) {
          return canopy::ResolvedPath{Table::kProjects, project->second};
        }
      }
      break;
    }
    auto it = by_folded_full_path_.find(AsciiLower(std::string(full_path)));
    if (it == by_folded_full_path_.end()) return std::nullopt;
    return it->second;
  }
  static std::string AsciiLower(std::string s) {
    for (char& c : s) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
  }

  // The generic form: the full answer of any kind (before paging).
  RefIds Full(const IdQuery& q) const {
    switch (q.kind) {
      case QueryKind::kSelfAndAncestors:
        return SelfAndAncestors(q.id, q.order);
      case QueryKind::kAncestors:
        return Ancestors(q.id, q.order);
      case QueryKind::kAncestorsUpto:
        return AncestorsUpto(q.id, q.top, q.order);
      case QueryKind::kRootAncestor:
        return RootAncestor(q.id);
      case QueryKind::kSelfAndDescendants:
        return SelfAndDescendants(q.id, q.include_project_namespaces);
      case QueryKind::kDescendants:
        return Descendants(q.id, q.include_project_namespaces);
      case QueryKind::kSelfAndHierarchy:
        return SelfAndHierarchy(q.id, q.include_project_namespaces);
      case QueryKind::kAllProjectIds:
        return AllProjectIds(q.id, false);
      case QueryKind::kAllUnarchivedProjectIds:
        return AllProjectIds(q.id, true);
      case QueryKind::kProjectAncestors:
        return ProjectAncestors(q.id, q.order);
      case QueryKind::kRunnersOfGroup:
        return RunnersOfGroup(q.id);
      case QueryKind::kRunnersOfGroupAndAncestors:
        return RunnersOfGroupAndAncestors(q.id);
      case QueryKind::kRunnersOfParentGroupsOfProject:
        return RunnersOfParentGroupsOfProject(q.id);
    }
    return RefIds::NotFound();
  }

  // ---- stats ----
  uint64_t OrphanNamespaceCount() const {
    uint64_t n = 0;
    for (const auto& [id, r] : namespaces_) n += IsOrphan(id);
    return n;
  }
  uint64_t OrphanProjectCount() const {
    uint64_t n = 0;
    for (const auto& [id, p] : projects_) n += !IsAttached(p);
    return n;
  }
  std::vector<int64_t> OrphanNamespaceIds() const {
    std::vector<int64_t> out;
    for (const auto& [id, r] : namespaces_) {
      if (IsOrphan(id)) out.push_back(id);
    }
    return out;
  }

 private:
  static std::vector<int64_t> Ordered(std::vector<int64_t> root_first, HierarchyOrder order) {
    if (order == HierarchyOrder::kSelfFirst) std::reverse(root_first.begin(), root_first.end());
    return root_first;
  }

  template <typename Row>
  static void Merge(Row& into, const Row& from) {
    into.id = from.id;
    if constexpr (std::is_same_v<Row, NamespaceRow>) {
      if (from.present & NamespaceRow::kParentId) into.parent_id = from.parent_id;
      if (from.present & NamespaceRow::kType) into.type = from.type;
      if (from.present & NamespaceRow::kName) into.name = from.name;
      if (from.present & NamespaceRow::kPath) into.path = from.path;
      if (from.present & NamespaceRow::kVisibilityLevel)
        into.visibility_level = from.visibility_level;
    } else if constexpr (std::is_same_v<Row, ProjectRow>) {
      if (from.present & ProjectRow::kNamespaceId) into.namespace_id = from.namespace_id;
      if (from.present & ProjectRow::kProjectNamespaceId) {
        into.project_namespace_id = from.project_namespace_id;
      }
      if (from.present & ProjectRow::kName) into.name = from.name;
      if (from.present & ProjectRow::kPath) into.path = from.path;
      if (from.present & ProjectRow::kVisibilityLevel)
        into.visibility_level = from.visibility_level;
      if (from.present & ProjectRow::kArchived) into.archived = from.archived;
      if (from.present & ProjectRow::kPendingDelete) into.pending_delete = from.pending_delete;
    } else {
      if (from.present & RunnerLinkRow::kRunnerId) into.runner_id = from.runner_id;
      if (from.present & RunnerLinkRow::kNamespaceId) into.namespace_id = from.namespace_id;
    }
    into.present = canopy::kAllColumns;
  }

  template <typename Row>
  static void Upsert(std::map<int64_t, Row>& table, const Row& row) {
    auto [it, inserted] = table.try_emplace(row.id);  // defaults for a new row
    Merge(it->second, row);
  }

  template <typename Row>
  void Erase(std::map<int64_t, Row>& table, int64_t id) {
    if (table.erase(id) == 0) ++unknown_deletes_;
  }

  void ApplyChange(const canopy::RowChange& change) {
    std::visit(
        [this](const auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, canopy::UpsertNamespace>) {
            Upsert(namespaces_, c.row);
          } else if constexpr (std::is_same_v<T, canopy::UpsertProject>) {
            Upsert(projects_, c.row);
          } else if constexpr (std::is_same_v<T, canopy::UpsertRunnerLink>) {
            Upsert(links_, c.row);
          } else if constexpr (std::is_same_v<T, canopy::DeleteNamespace>) {
            Erase(namespaces_, c.id);
          } else if constexpr (std::is_same_v<T, canopy::DeleteProject>) {
            Erase(projects_, c.id);
          } else if constexpr (std::is_same_v<T, canopy::DeleteRunnerLink>) {
            Erase(links_, c.id);
          } else {
            switch (c.table) {
              case Table::kNamespaces:
                namespaces_.clear();
                break;
              case Table::kProjects:
                projects_.clear();
                break;
              case Table::kRunnerLinks:
                links_.clear();
                break;
            }
          }
        },
        change);
  }

  // Recomputes chains and subtrees from scratch.
  void Derive() {
    chain_.clear();
    subtree_.clear();
    has_cycle_ = false;
    for (const auto& [id, row] : namespaces_) {
      std::vector<int64_t> up{id};
      std::optional<int64_t> parent = row.parent_id;
      while (parent && HasNamespace(*parent)) {
        if (std::find(up.begin(), up.end(), *parent) != up.end()) {
          has_cycle_ = true;
          break;
        }
        up.push_back(*parent);
        parent = namespaces_.at(*parent).parent_id;
      }
      std::reverse(up.begin(), up.end());
      chain_[id] = up;
    }
    // ascending iteration keeps every subtree list sorted
    full_path_.clear();
    for (const auto& [id, chain] : chain_) {
      std::string path;
      for (int64_t a : chain) {
        subtree_[a].push_back(id);
        if (!path.empty()) path += "/";
        path += namespaces_.at(a).path;
      }
      full_path_[id] = std::move(path);
    }
    projects_in_.clear();
    for (const auto& [id, p] : projects_) projects_in_[p.namespace_id].push_back(id);
    // Resolve: reachable = every link of the chain a user/group namespace,
    // from a real root. Ascending ids: try_emplace keeps the lowest.
    child_by_path_.clear();
    project_by_path_.clear();
    by_folded_full_path_.clear();
    auto reachable = [&](int64_t ns) {
      if (!RootedAtTrueRoot(ns)) return false;
      for (int64_t a : Chain(ns)) {
        if (namespaces_.at(a).type == NamespaceType::kProject) return false;
      }
      return true;
    };
    for (const auto& [id, r] : namespaces_) {
      if (r.type == NamespaceType::kProject) continue;
      if (!r.parent_id) {
        child_by_path_.try_emplace({kTrueRoot, r.path}, id);
      } else if (HasNamespace(*r.parent_id)) {
        child_by_path_.try_emplace({*r.parent_id, r.path}, id);
      }
      if (reachable(id)) {
        by_folded_full_path_.try_emplace(AsciiLower(full_path_.at(id)),
                                         canopy::ResolvedPath{Table::kNamespaces, id});
      }
    }
    for (const auto& [id, p] : projects_) {
      if (!IsAttached(p)) continue;
      project_by_path_.try_emplace({p.namespace_id, p.path}, id);
      if (!reachable(p.namespace_id)) continue;
      by_folded_full_path_.try_emplace(AsciiLower(full_path_.at(p.namespace_id) + "/" + p.path),
                                       canopy::ResolvedPath{Table::kProjects, id});
    }
  }

  std::map<int64_t, NamespaceRow> namespaces_;
  std::map<int64_t, ProjectRow> projects_;
  std::map<int64_t, RunnerLinkRow> links_;
  Lsn applied_lsn_;
  uint64_t unknown_deletes_ = 0;
  uint64_t transactions_applied_ = 0;

  // derived
  std::map<int64_t, std::vector<int64_t>> chain_;    // root-first
  std::map<int64_t, std::vector<int64_t>> subtree_;  // self + below, ascending
  std::map<int64_t, std::string> full_path_;
  std::map<int64_t, std::vector<int64_t>> projects_in_;  // by namespace_id, ascending
  static constexpr int64_t kTrueRoot = std::numeric_limits<int64_t>::min();  // "parent" of roots
  // (parent, path) -> lowest-id user/group child; (namespace, path) -> lowest-id project.
  std::map<std::pair<int64_t, std::string>, int64_t> child_by_path_;
  std::map<std::pair<int64_t, std::string>, int64_t> project_by_path_;
  std::map<std::string, canopy::ResolvedPath> by_folded_full_path_;  // ASCII-lowercased
  bool has_cycle_ = false;
};

}  // namespace canopy_test

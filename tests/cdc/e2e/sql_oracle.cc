// sql_oracle.cc — QUERIES.md answers from SQL, and the comparison with canopy.
#include "sql_oracle.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace canopy::cdc::testing {

namespace {

// (anc, id, dist): anc is id itself (dist 0) or one of its ancestors, dist
// levels up.
std::string PairsCte(SqlForm form) {
  if (form == SqlForm::kLinear) {
    return "pairs AS (SELECT t.anc, n.id, cardinality(n.traversal_ids) - t.ord AS dist "
           "FROM namespaces n, unnest(n.traversal_ids) WITH ORDINALITY AS t(anc, ord))";
  }
  return "pairs AS (WITH RECURSIVE up(anc, id, dist, parent_id) AS ("
         "SELECT id, id, 0, parent_id FROM namespaces "
         "UNION ALL SELECT n.id, up.id, up.dist + 1, n.parent_id FROM up JOIN namespaces n ON n.id = up.parent_id "
         "WHERE up.dist < 1000) SELECT anc, id, dist FROM up)";
}

IdLists Lists(Sql& sql, const std::string& query) {
  IdLists out;
  for (const auto& row : sql.Rows(query)) out[std::stoll(row[0])] = ParseIdArray(row[1]);
  return out;
}

// Pairs restricted to GitLab's class scoping: self, or a descendant of the
// same type (a group's subgroups).
const char* kScopedPairs =
    "scoped AS (SELECT p.anc, p.id FROM pairs p JOIN namespaces a ON a.id = p.anc JOIN namespaces d ON d.id = p.id "
    "WHERE p.id = p.anc OR d.type = a.type)";

std::string Str(const std::vector<int64_t>& v) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < v.size() && i < 30; ++i) out << (i ? "," : "") << v[i];
  if (v.size() > 30) out << ",... (" << v.size() << ")";
  out << "]";
  return out.str();
}

const std::vector<int64_t>& Get(const IdLists& lists, int64_t id) {
  static const std::vector<int64_t> kEmpty;
  auto it = lists.find(id);
  return it == lists.end() ? kEmpty : it->second;
}

}  // namespace

SqlAnswers ComputeSqlAnswers(Sql& sql, SqlForm form) {
  SqlAnswers a;
  // One snapshot for every statement.
  sql.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  const std::string with = "WITH " + PairsCte(form) + ", " + kScopedPairs + " ";
  for (const auto& row : sql.Rows("SELECT id, type FROM namespaces")) a.namespace_type[std::stoll(row[0])] = row[1];
  for (const auto& row : sql.Rows("SELECT id FROM projects ORDER BY id")) a.project_ids.push_back(std::stoll(row[0]));

  a.self_and_ancestors = Lists(sql, with + "SELECT id, array_agg(anc ORDER BY dist DESC) FROM pairs GROUP BY id");
  a.self_and_descendants = Lists(sql, with + "SELECT anc, array_agg(id ORDER BY id) FROM scoped GROUP BY anc");
  a.self_and_descendants_all = Lists(sql, with + "SELECT anc, array_agg(id ORDER BY id) FROM pairs GROUP BY anc");
  a.self_and_hierarchy = Lists(sql, with +
                                        "SELECT x, array_agg(DISTINCT y ORDER BY y) FROM ("
                                        "SELECT id AS x, anc AS y FROM pairs UNION ALL "
                                        "SELECT anc AS x, id AS y FROM scoped) h GROUP BY x");
  // Projects under a namespace: for a group its groups' projects, for a user
  // namespace its own projects, for a project namespace its project.
  const std::string projects_of =
      "proj AS (SELECT s.anc, pr.id, pr.archived FROM scoped s JOIN namespaces a ON a.id = s.anc "
      "JOIN projects pr ON pr.namespace_id = s.id WHERE a.type <> 'Project' "
      "UNION ALL SELECT a.id, pr.id, pr.archived FROM namespaces a JOIN projects pr ON pr.project_namespace_id = a.id "
      "WHERE a.type = 'Project') ";
  a.all_project_ids = Lists(sql, with + ", " + projects_of + "SELECT anc, array_agg(id ORDER BY id) FROM proj GROUP BY anc");
  a.all_unarchived_project_ids = Lists(
      sql, with + ", " + projects_of + "SELECT anc, array_agg(id ORDER BY id) FROM proj WHERE NOT archived GROUP BY anc");
  for (const auto& row :
       sql.Rows(with + "SELECT p.anc, count(*) FROM pairs p JOIN namespaces d ON d.id = p.id "
                       "WHERE d.type = 'Project' AND p.id <> p.anc GROUP BY p.anc")) {
    a.descendant_project_namespaces[std::stoll(row[0])] = std::stoull(row[1]);
  }
  a.project_ancestors = Lists(sql, with +
                                       "SELECT pr.id, array_agg(p.anc ORDER BY p.dist DESC) FROM projects pr "
                                       "JOIN namespaces n ON n.id = pr.namespace_id AND n.type = 'Group' "
                                       "JOIN pairs p ON p.id = n.id GROUP BY pr.id");
  a.runners_of_group = Lists(sql,
                             "SELECT namespace_id, array_agg(DISTINCT runner_id ORDER BY runner_id) "
                             "FROM ci_runner_namespaces GROUP BY namespace_id");
  a.runners_of_group_and_ancestors =
      Lists(sql, with +
                     "SELECT p.id, array_agg(DISTINCT l.runner_id ORDER BY l.runner_id) FROM pairs p "
                     "JOIN namespaces n ON n.id = p.id AND n.type = 'Group' "
                     "JOIN ci_runner_namespaces l ON l.namespace_id = p.anc GROUP BY p.id");
  a.runners_of_parent_groups_of_project =
      Lists(sql, with +
                     "SELECT pr.id, array_agg(DISTINCT l.runner_id ORDER BY l.runner_id) FROM projects pr "
                     "JOIN namespaces n ON n.id = pr.namespace_id AND n.type = 'Group' "
                     "JOIN pairs p ON p.id = n.id JOIN ci_runner_namespaces l ON l.namespace_id = p.anc "
                     "GROUP BY pr.id");
  for (const auto& row : sql.Rows(with +
                                  "SELECT p.id, string_agg(a.path, '/' ORDER BY p.dist DESC) FROM pairs p "
                                  "JOIN namespaces a ON a.id = p.anc GROUP BY p.id")) {
    a.namespace_full_path[std::stoll(row[0])] = row[1];
  }
  for (const auto& row : sql.Rows("SELECT id, namespace_id, path FROM projects")) {
    auto it = a.namespace_full_path.find(std::stoll(row[1]));
    if (it != a.namespace_full_path.end()) a.project_full_path[std::stoll(row[0])] = it->second + "/" + row[2];
  }
  sql.Exec("COMMIT");
  return a;
}

Comparison CompareWithIndex(const SqlAnswers& want, const HierarchyIndex& index, size_t max_reported) {
  Comparison c;
  auto check = [&](bool same, const std::string& what) {
    ++c.checks;
    if (same) return;
    ++c.differences;
    if (c.reported.size() < max_reported) c.reported.push_back(what);
  };
  auto check_ids = [&](const std::string& kind, int64_t id, const Status& s, const std::vector<int64_t>& got,
                       const std::vector<int64_t>& expected) {
    check(s.ok() && got == expected, kind + "(" + std::to_string(id) + "): canopy " +
                                          (s.ok() ? Str(got) : s.ToString()) + ", SQL " + Str(expected));
  };

  std::vector<int64_t> sql_ns;
  for (const auto& [id, type] : want.namespace_type) sql_ns.push_back(id);
  {
    ReadView view = index.Read();
    check(view.ListNamespaceIds() == sql_ns, "namespace id sets differ: canopy " + Str(view.ListNamespaceIds()) +
                                                 ", SQL " + Str(sql_ns));
    check(view.ListProjectIds() == want.project_ids, "project id sets differ: canopy " +
                                                         Str(view.ListProjectIds()) + ", SQL " + Str(want.project_ids));
    check(view.ListOrphanNamespaceIds().empty(), "canopy has orphans: " + Str(view.ListOrphanNamespaceIds()));
  }

  std::vector<int64_t> got;
  for (const auto& [id, type] : want.namespace_type) {
    ReadView view = index.Read();  // short-lived: never hold the writer up
    const auto& sa = Get(want.self_and_ancestors, id);
    check_ids("self_and_ancestors", id, view.SelfAndAncestors(id, HierarchyOrder::kRootFirst, &got), got, sa);
    std::vector<int64_t> rev(sa.rbegin(), sa.rend());
    check_ids("self_and_ancestors:asc", id, view.SelfAndAncestors(id, HierarchyOrder::kSelfFirst, &got), got, rev);
    std::vector<int64_t> anc(sa.begin(), sa.empty() ? sa.end() : sa.end() - 1);
    check_ids("ancestors", id, view.Ancestors(id, HierarchyOrder::kRootFirst, &got), got, anc);
    if (!sa.empty()) {
      // ancestors_upto(ns, root): strictly below the root.
      std::vector<int64_t> upto(anc.empty() ? anc.end() : anc.begin() + 1, anc.end());
      check_ids("ancestors_upto(root)", id, view.AncestorsUpto(id, sa.front(), HierarchyOrder::kRootFirst, &got), got,
                upto);
      auto root = view.RootAncestor(id);
      check(root.ok() && root.value() == sa.front(), "root_ancestor(" + std::to_string(id) + ")");
    }
    auto sd = Get(want.self_and_descendants, id);
    check_ids("self_and_descendants", id, view.SelfAndDescendants(id, false, &got), got, sd);
    std::vector<int64_t> d(sd);
    d.erase(std::remove(d.begin(), d.end(), id), d.end());
    check_ids("descendants", id, view.Descendants(id, false, &got), got, d);
    const auto& sd_all = Get(want.self_and_descendants_all, id);
    check_ids("self_and_descendants:all", id, view.SelfAndDescendants(id, true, &got), got, sd_all);
    check_ids("self_and_hierarchy", id, view.SelfAndHierarchy(id, false, &got), got,
              Get(want.self_and_hierarchy, id));
    const auto& ap = Get(want.all_project_ids, id);
    check_ids("all_project_ids", id, view.AllProjectIds(id, &got), got, ap);
    const auto& aup = Get(want.all_unarchived_project_ids, id);
    check_ids("all_unarchived_project_ids", id, view.AllUnarchivedProjectIds(id, &got), got, aup);
    check_ids("runners_of_groups", id, Status(), (view.RunnersOfGroups(std::span<const int64_t>(&id, 1), &got), got),
              Get(want.runners_of_group, id));
    check_ids("runners_of_group_and_ancestors", id, view.RunnersOfGroupAndAncestors(id, &got), got,
              Get(want.runners_of_group_and_ancestors, id));
    auto counts = view.Counts(id);
    auto dpn = want.descendant_project_namespaces.find(id);
    const uint64_t want_dpn = dpn == want.descendant_project_namespaces.end() ? 0 : dpn->second;
    check(counts.ok() && counts.value().descendant_groups == d.size() &&
              counts.value().descendant_project_namespaces == want_dpn && counts.value().projects == ap.size() &&
              counts.value().unarchived_projects == aup.size(),
          "counts(" + std::to_string(id) + "): SQL groups " + std::to_string(d.size()) + " pns " +
              std::to_string(want_dpn) + " projects " + std::to_string(ap.size()) + "/" + std::to_string(aup.size()) +
              (counts.ok() ? ", canopy " + std::to_string(counts.value().descendant_groups) + " " +
                                 std::to_string(counts.value().descendant_project_namespaces) + " " +
                                 std::to_string(counts.value().projects) + "/" +
                                 std::to_string(counts.value().unarchived_projects)
                           : ", canopy " + counts.status().ToString()));
    auto path = view.NamespaceFullPath(id);
    auto want_path = want.namespace_full_path.find(id);
    check(path.ok() && want_path != want.namespace_full_path.end() && path.value() == want_path->second,
          "full_path(" + std::to_string(id) + "): canopy " + (path.ok() ? path.value() : path.status().ToString()) +
              ", SQL " + (want_path == want.namespace_full_path.end() ? "?" : want_path->second));
    if (path.ok() && want.namespace_type.at(id) != "Project") {
      auto resolved = view.Resolve(path.value());
      check(resolved.ok() && resolved.value().table == Table::kNamespaces && resolved.value().id == id,
            "resolve(" + path.value() + ") != namespace " + std::to_string(id));
    }
  }

  std::set<std::string> namespace_paths;
  for (const auto& [id, p] : want.namespace_full_path) {
    if (want.namespace_type.at(id) != "Project") namespace_paths.insert(p);
  }
  for (int64_t id : want.project_ids) {
    ReadView view = index.Read();
    check_ids("project_ancestors", id, view.ProjectAncestors(id, HierarchyOrder::kRootFirst, &got), got,
              Get(want.project_ancestors, id));
    check_ids("runners_of_parent_groups_of_project", id, view.RunnersOfParentGroupsOfProject(id, &got), got,
              Get(want.runners_of_parent_groups_of_project, id));
    auto path = view.ProjectFullPath(id);
    auto want_path = want.project_full_path.find(id);
    check(path.ok() && want_path != want.project_full_path.end() && path.value() == want_path->second,
          "project_full_path(" + std::to_string(id) + "): canopy " +
              (path.ok() ? path.value() : path.status().ToString()));
    if (path.ok() && namespace_paths.count(path.value()) == 0) {
      auto resolved = view.Resolve(path.value());
      check(resolved.ok() && resolved.value().table == Table::kProjects && resolved.value().id == id,
            "resolve(" + path.value() + ") != project " + std::to_string(id));
    }
  }
  return c;
}

}  // namespace canopy::cdc::testing

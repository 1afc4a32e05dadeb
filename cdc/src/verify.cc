// verify.cc — docs/queries.md answers from SQL (GitLab's two forms) for a sample
// of namespaces and projects, compared with a canopy index. Also the oracle of
// the e2e tests (sample = everything).
#include "canopy/cdc/verify.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "canopy/cdc/replica.h"
#include "canopy/status.h"
#include "pg_connection.h"

namespace canopy::cdc {

using internal::PgConnection;
using internal::PgResult;

const char* SqlFormName(SqlForm form) { return form == SqlForm::kLinear ? "linear" : "recursive"; }

std::string VerifyReport::Summary() const {
  std::ostringstream out;
  out << namespaces_checked << "/" << namespaces << " namespaces, " << projects_checked << "/"
      << projects << " projects, " << checks << " checks, " << differences << " differences at "
      << index_lsn.ToString()
      // Only a difference can be transient (both sides moved meanwhile).
      << (quiescent || differences == 0 ? "" : " (not quiescent: re-run to confirm)") << " (SQL "
      << sql_seconds << " s, canopy " << compare_seconds << " s)";
  return out.str();
}

namespace {

using IdLists = std::map<int64_t, std::vector<int64_t>>;  // id -> answer (missing = empty)

struct SqlAnswers {
  std::map<int64_t, std::string> namespace_type;  // every namespace id -> 'User'/'Group'/'Project'
  std::map<int64_t, int64_t> project_namespace;   // every project id -> namespace_id
  std::vector<int64_t> sample_namespaces;         // sorted
  std::vector<int64_t> sample_projects;           // sorted
  IdLists self_and_ancestors;                     // root first
  IdLists self_and_descendants;                   // include_project_namespaces = false
  IdLists self_and_descendants_all;               // include_project_namespaces = true
  IdLists self_and_hierarchy;
  IdLists all_project_ids;
  IdLists all_unarchived_project_ids;
  std::map<int64_t, uint64_t> descendant_project_namespaces;
  IdLists project_ancestors;  // by project id, root first
  IdLists runners_of_group;   // exact links
  IdLists runners_of_group_and_ancestors;
  IdLists runners_of_parent_groups_of_project;  // by project id
  std::map<int64_t, std::string> namespace_full_path;
  std::map<int64_t, std::string> project_full_path;
  Lsn wal_lsn;
};

std::vector<int64_t> ParseIdArray(const std::string& text) {
  std::vector<int64_t> out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '-' || (text[i] >= '0' && text[i] <= '9')) {
      size_t end = i + 1;
      while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
      out.push_back(std::stoll(text.substr(i, end - i)));
      i = end;
    } else {
      ++i;
    }
  }
  return out;
}

std::string ArrayLiteral(const std::vector<int64_t>& ids) {
  std::string s = "'{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  return s + "}'::bigint[]";
}

// Restricts `column` to a set of ids; `all` = no restriction.
struct IdFilter {
  bool all = true;
  std::string array;
  std::string In(const std::string& column) const {
    return all ? "TRUE" : column + " = ANY(" + array + ")";
  }
};

// (anc, id, dist): anc is id itself (dist 0) or one of its ancestors, dist
// levels up. Holds every pair whose id is in `up` (ancestor queries) and
// every pair whose anc is in `down` (descendant queries).
std::string PairsCte(SqlForm form, const IdFilter& up, const IdFilter& down) {
  if (form == SqlForm::kLinear) {
    const std::string one =
        "SELECT t.anc, n.id, cardinality(n.traversal_ids) - t.ord AS dist "
        "FROM namespaces n, unnest(n.traversal_ids) WITH ORDINALITY AS t(anc, ord) ";
    if (up.all) return "pairs AS (" + one + ")";
    return "pairs AS (" + one + "WHERE " + up.In("n.id") + " UNION " + one +
           "WHERE n.traversal_ids && " + down.array + " AND " + down.In("t.anc") + ")";
  }
  const std::string ancestors =
      "WITH RECURSIVE up(anc, id, dist, parent_id) AS (SELECT id, id, 0, parent_id FROM namespaces "
      "WHERE " +
      up.In("id") +
      " UNION ALL SELECT n.id, up.id, up.dist + 1, n.parent_id FROM up JOIN namespaces n ON n.id = "
      "up.parent_id "
      "WHERE up.dist < 1000) SELECT anc, id, dist FROM up";
  if (up.all) return "pairs AS (" + ancestors + ")";
  const std::string descendants =
      "WITH RECURSIVE down(anc, id, dist) AS (SELECT id, id, 0 FROM namespaces WHERE " +
      down.In("id") +
      " UNION ALL SELECT down.anc, n.id, down.dist + 1 FROM down JOIN namespaces n ON n.parent_id "
      "= down.id "
      "WHERE down.dist < 1000) SELECT anc, id, dist FROM down";
  return "pairs AS ((" + ancestors + ") UNION (" + descendants + "))";
}

// Pairs restricted to GitLab's class scoping: self, or a descendant of the
// same type (a group's subgroups).
const char* kScopedPairs =
    "scoped AS (SELECT p.anc, p.id FROM pairs p JOIN namespaces a ON a.id = p.anc JOIN namespaces "
    "d ON d.id = p.id "
    "WHERE p.id = p.anc OR d.type = a.type)";

class Runner {
 public:
  explicit Runner(PgConnection& conn) : conn_(conn) {}
  Result<PgResult> Rows(const std::string& sql) { return conn_.Exec(sql, PGRES_TUPLES_OK); }
  Status Lists(const std::string& sql, IdLists* out) {
    auto r = Rows(sql);
    if (!r.ok()) return r.status();
    for (int i = 0; i < r.value().rows(); ++i) {
      (*out)[std::stoll(r.value().Get(i, 0))] = ParseIdArray(r.value().Get(i, 1));
    }
    return Status();
  }

 private:
  PgConnection& conn_;
};

std::vector<int64_t> Sample(std::vector<int64_t> ids, size_t n, std::mt19937_64& rng) {
  if (n == 0 || n >= ids.size()) return ids;
  // Partial Fisher-Yates.
  for (size_t i = 0; i < n; ++i) {
    std::uniform_int_distribution<size_t> pick(i, ids.size() - 1);
    std::swap(ids[i], ids[pick(rng)]);
  }
  ids.resize(n);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Status ComputeSqlAnswersIn(PgConnection& conn, const VerifyOptions& options, SqlAnswers* a) {
  Runner sql(conn);
  {
    auto r = sql.Rows("SELECT pg_current_wal_lsn()");
    if (!r.ok()) return r.status();
    a->wal_lsn = Lsn::Parse(r.value().Get(0, 0)).value_or(Lsn());
  }
  {
    auto r = sql.Rows("SELECT id, type FROM namespaces");
    if (!r.ok()) return r.status();
    for (int i = 0; i < r.value().rows(); ++i)
      a->namespace_type[std::stoll(r.value().Get(i, 0))] = r.value().Get(i, 1);
  }
  {
    auto r = sql.Rows("SELECT id, namespace_id FROM projects");
    if (!r.ok()) return r.status();
    for (int i = 0; i < r.value().rows(); ++i) {
      a->project_namespace[std::stoll(r.value().Get(i, 0))] =
          r.value().IsNull(i, 1) ? 0 : std::stoll(r.value().Get(i, 1));
    }
  }
  std::mt19937_64 rng(options.seed);
  std::vector<int64_t> ns_ids, pr_ids;
  for (const auto& [id, type] : a->namespace_type) ns_ids.push_back(id);
  for (const auto& [id, ns] : a->project_namespace) pr_ids.push_back(id);
  a->sample_namespaces = Sample(ns_ids, options.sample_namespaces, rng);
  a->sample_projects = Sample(pr_ids, options.sample_projects, rng);
  const bool all_ns = a->sample_namespaces.size() == ns_ids.size();
  const bool all_pr = a->sample_projects.size() == pr_ids.size();

  IdFilter ns{all_ns, ArrayLiteral(a->sample_namespaces)};
  IdFilter pr{all_pr, ArrayLiteral(a->sample_projects)};
  // Ancestry is needed for sampled namespaces and the sampled projects'
  // namespaces.
  std::vector<int64_t> up_ids = a->sample_namespaces;
  for (int64_t p : a->sample_projects) up_ids.push_back(a->project_namespace[p]);
  std::sort(up_ids.begin(), up_ids.end());
  up_ids.erase(std::unique(up_ids.begin(), up_ids.end()), up_ids.end());
  IdFilter up{all_ns, ArrayLiteral(up_ids)};

  const std::string with = "WITH " + PairsCte(options.form, up, ns) + ", " + kScopedPairs + " ";
  CANOPY_RETURN_IF_ERROR(
      sql.Lists(with + "SELECT id, array_agg(anc ORDER BY dist DESC) FROM pairs WHERE " +
                    ns.In("id") + " GROUP BY id",
                &a->self_and_ancestors));
  CANOPY_RETURN_IF_ERROR(sql.Lists(with +
                                       "SELECT anc, array_agg(id ORDER BY id) FROM scoped WHERE " +
                                       ns.In("anc") + " GROUP BY anc",
                                   &a->self_and_descendants));
  CANOPY_RETURN_IF_ERROR(sql.Lists(with +
                                       "SELECT anc, array_agg(id ORDER BY id) FROM pairs WHERE " +
                                       ns.In("anc") + " GROUP BY anc",
                                   &a->self_and_descendants_all));
  CANOPY_RETURN_IF_ERROR(sql.Lists(with +
                                       "SELECT x, array_agg(DISTINCT y ORDER BY y) FROM ("
                                       "SELECT id AS x, anc AS y FROM pairs UNION ALL "
                                       "SELECT anc AS x, id AS y FROM scoped) h WHERE " +
                                       ns.In("x") + " GROUP BY x",
                                   &a->self_and_hierarchy));
  // Projects under a namespace: for a group its groups' projects, for a user
  // namespace its own projects, for a project namespace its project.
  const std::string projects_of =
      "proj AS (SELECT s.anc, pr.id, pr.archived FROM scoped s JOIN namespaces a ON a.id = s.anc "
      "JOIN projects pr ON pr.namespace_id = s.id WHERE a.type <> 'Project' AND " +
      ns.In("s.anc") +
      " UNION ALL SELECT a.id, pr.id, pr.archived FROM namespaces a JOIN projects pr ON "
      "pr.project_namespace_id = "
      "a.id WHERE a.type = 'Project' AND " +
      ns.In("a.id") + ") ";
  CANOPY_RETURN_IF_ERROR(sql.Lists(
      with + ", " + projects_of + "SELECT anc, array_agg(id ORDER BY id) FROM proj GROUP BY anc",
      &a->all_project_ids));
  CANOPY_RETURN_IF_ERROR(sql.Lists(
      with + ", " + projects_of +
          "SELECT anc, array_agg(id ORDER BY id) FROM proj WHERE NOT archived GROUP BY anc",
      &a->all_unarchived_project_ids));
  {
    auto r = sql.Rows(with +
                      "SELECT p.anc, count(*) FROM pairs p JOIN namespaces d ON d.id = p.id "
                      "WHERE d.type = 'Project' AND p.id <> p.anc AND " +
                      ns.In("p.anc") + " GROUP BY p.anc");
    if (!r.ok()) return r.status();
    for (int i = 0; i < r.value().rows(); ++i) {
      a->descendant_project_namespaces[std::stoll(r.value().Get(i, 0))] =
          std::stoull(r.value().Get(i, 1));
    }
  }
  CANOPY_RETURN_IF_ERROR(
      sql.Lists(with +
                    "SELECT pr.id, array_agg(p.anc ORDER BY p.dist DESC) FROM projects pr "
                    "JOIN namespaces n ON n.id = pr.namespace_id AND n.type = 'Group' "
                    "JOIN pairs p ON p.id = n.id WHERE " +
                    pr.In("pr.id") + " GROUP BY pr.id",
                &a->project_ancestors));
  CANOPY_RETURN_IF_ERROR(
      sql.Lists("SELECT namespace_id, array_agg(DISTINCT runner_id ORDER BY runner_id) "
                "FROM ci_runner_namespaces WHERE " +
                    ns.In("namespace_id") + " GROUP BY namespace_id",
                &a->runners_of_group));
  CANOPY_RETURN_IF_ERROR(sql.Lists(
      with +
          "SELECT p.id, array_agg(DISTINCT l.runner_id ORDER BY l.runner_id) FROM pairs p "
          "JOIN namespaces n ON n.id = p.id AND n.type = 'Group' "
          "JOIN ci_runner_namespaces l ON l.namespace_id = p.anc WHERE " +
          ns.In("p.id") + " GROUP BY p.id",
      &a->runners_of_group_and_ancestors));
  CANOPY_RETURN_IF_ERROR(
      sql.Lists(with +
                    "SELECT pr.id, array_agg(DISTINCT l.runner_id ORDER BY l.runner_id) FROM "
                    "projects pr JOIN namespaces n ON n.id = pr.namespace_id AND n.type = 'Group' "
                    "JOIN pairs p ON p.id = n.id JOIN ci_runner_namespaces l ON l.namespace_id = "
                    "p.anc WHERE " +
                    pr.In("pr.id") + " GROUP BY pr.id",
                &a->runners_of_parent_groups_of_project));
  {
    auto r = sql.Rows(with +
                      "SELECT p.id, string_agg(a.path, '/' ORDER BY p.dist DESC) FROM pairs p "
                      "JOIN namespaces a ON a.id = p.anc WHERE " +
                      up.In("p.id") + " GROUP BY p.id");
    if (!r.ok()) return r.status();
    for (int i = 0; i < r.value().rows(); ++i) {
      a->namespace_full_path[std::stoll(r.value().Get(i, 0))] = r.value().Get(i, 1);
    }
  }
  {
    auto r = sql.Rows("SELECT id, namespace_id, path FROM projects WHERE " + pr.In("id"));
    if (!r.ok()) return r.status();
    for (int i = 0; i < r.value().rows(); ++i) {
      if (r.value().IsNull(i, 1)) continue;
      auto it = a->namespace_full_path.find(std::stoll(r.value().Get(i, 1)));
      if (it != a->namespace_full_path.end()) {
        a->project_full_path[std::stoll(r.value().Get(i, 0))] =
            it->second + "/" + r.value().Get(i, 2);
      }
    }
  }
  return Status();
}

Status ComputeSqlAnswers(PgConnection& conn, const VerifyOptions& options, SqlAnswers* a) {
  // One snapshot for every statement.
  if (auto r = conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK);
      !r.ok()) {
    return r.status();
  }
  Status s = ComputeSqlAnswersIn(conn, options, a);
  auto end = conn.Exec(s.ok() ? "COMMIT" : "ROLLBACK", PGRES_COMMAND_OK);
  if (s.ok() && !end.ok()) return end.status();
  return s;
}

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

void Compare(const SqlAnswers& want, VerifyTarget& target, size_t max_reported, VerifyReport* c) {
  auto check = [&](bool same, const std::string& what) {
    ++c->checks;
    if (same) return;
    ++c->differences;
    if (c->reported.size() < max_reported) c->reported.push_back(what);
  };
  auto check_ids = [&](const std::string& kind, int64_t id, const IdAnswer& got,
                       const std::vector<int64_t>& expected) {
    check(got.status.ok() && got.ids == expected,
          kind + "(" + std::to_string(id) + "): canopy " +
              (got.status.ok() ? Str(got.ids) : got.status.ToString()) + ", SQL " + Str(expected));
  };
  auto ask = [&](QueryKind kind, int64_t id, HierarchyOrder order = HierarchyOrder::kRootFirst,
                 bool with_project_namespaces = false, int64_t top = 0) {
    return target.Query({.kind = kind,
                         .id = id,
                         .top = top,
                         .order = order,
                         .include_project_namespaces = with_project_namespaces});
  };

  std::vector<int64_t> sql_ns, sql_pr;
  for (const auto& [id, type] : want.namespace_type) sql_ns.push_back(id);
  for (const auto& [id, ns] : want.project_namespace) sql_pr.push_back(id);
  if (std::optional<VerifyTarget::IdSets> sets = target.AllIds()) {
    check(sets->namespaces == sql_ns,
          "namespace id sets differ: canopy " + Str(sets->namespaces) + ", SQL " + Str(sql_ns));
    check(sets->projects == sql_pr,
          "project id sets differ: canopy " + Str(sets->projects) + ", SQL " + Str(sql_pr));
    check(sets->orphan_namespaces.empty(), "canopy has orphans: " + Str(sets->orphan_namespaces));
  }

  for (int64_t id : want.sample_namespaces) {
    const auto& sa = Get(want.self_and_ancestors, id);
    check_ids("self_and_ancestors", id, ask(QueryKind::kSelfAndAncestors, id), sa);
    std::vector<int64_t> rev(sa.rbegin(), sa.rend());
    check_ids("self_and_ancestors:asc", id,
              ask(QueryKind::kSelfAndAncestors, id, HierarchyOrder::kSelfFirst), rev);
    std::vector<int64_t> anc(sa.begin(), sa.empty() ? sa.end() : sa.end() - 1);
    check_ids("ancestors", id, ask(QueryKind::kAncestors, id), anc);
    if (!sa.empty()) {
      // ancestors_upto(ns, root): strictly below the root.
      std::vector<int64_t> upto(anc.empty() ? anc.end() : anc.begin() + 1, anc.end());
      check_ids("ancestors_upto(root)", id,
                ask(QueryKind::kAncestorsUpto, id, HierarchyOrder::kRootFirst, false, sa.front()),
                upto);
      check_ids("root_ancestor", id, ask(QueryKind::kRootAncestor, id), {sa.front()});
    }
    auto sd = Get(want.self_and_descendants, id);
    check_ids("self_and_descendants", id, ask(QueryKind::kSelfAndDescendants, id), sd);
    std::vector<int64_t> d(sd);
    d.erase(std::remove(d.begin(), d.end(), id), d.end());
    check_ids("descendants", id, ask(QueryKind::kDescendants, id), d);
    check_ids("self_and_descendants:all", id,
              ask(QueryKind::kSelfAndDescendants, id, HierarchyOrder::kRootFirst, true),
              Get(want.self_and_descendants_all, id));
    check_ids("self_and_hierarchy", id, ask(QueryKind::kSelfAndHierarchy, id),
              Get(want.self_and_hierarchy, id));
    const auto& ap = Get(want.all_project_ids, id);
    check_ids("all_project_ids", id, ask(QueryKind::kAllProjectIds, id), ap);
    const auto& aup = Get(want.all_unarchived_project_ids, id);
    check_ids("all_unarchived_project_ids", id, ask(QueryKind::kAllUnarchivedProjectIds, id), aup);
    check_ids("runners_of_groups", id, ask(QueryKind::kRunnersOfGroup, id),
              Get(want.runners_of_group, id));
    check_ids("runners_of_group_and_ancestors", id, ask(QueryKind::kRunnersOfGroupAndAncestors, id),
              Get(want.runners_of_group_and_ancestors, id));
    auto counts = target.Counts(id);
    auto dpn = want.descendant_project_namespaces.find(id);
    const uint64_t want_dpn = dpn == want.descendant_project_namespaces.end() ? 0 : dpn->second;
    check(counts.ok() && counts.value().descendant_groups == d.size() &&
              counts.value().descendant_project_namespaces == want_dpn &&
              counts.value().projects == ap.size() &&
              counts.value().unarchived_projects == aup.size(),
          "counts(" + std::to_string(id) + "): SQL groups " + std::to_string(d.size()) + " pns " +
              std::to_string(want_dpn) + " projects " + std::to_string(ap.size()) + "/" +
              std::to_string(aup.size()) +
              (counts.ok() ? ", canopy " + std::to_string(counts.value().descendant_groups) + " " +
                                 std::to_string(counts.value().descendant_project_namespaces) +
                                 " " + std::to_string(counts.value().projects) + "/" +
                                 std::to_string(counts.value().unarchived_projects)
                           : ", canopy " + counts.status().ToString()));
    auto path = target.FullPath(Table::kNamespaces, id);
    auto want_path = want.namespace_full_path.find(id);
    check(path.ok() && want_path != want.namespace_full_path.end() &&
              path.value() == want_path->second,
          "full_path(" + std::to_string(id) + "): canopy " +
              (path.ok() ? path.value() : path.status().ToString()) + ", SQL " +
              (want_path == want.namespace_full_path.end() ? "?" : want_path->second));
    if (path.ok() && want.namespace_type.at(id) != "Project") {
      auto resolved = target.Resolve(path.value());
      check(resolved.ok() && resolved.value().table == Table::kNamespaces &&
                resolved.value().id == id,
            "resolve(" + path.value() + ") != namespace " + std::to_string(id));
    }
  }

  for (int64_t id : want.sample_projects) {
    check_ids("project_ancestors", id, ask(QueryKind::kProjectAncestors, id),
              Get(want.project_ancestors, id));
    check_ids("runners_of_parent_groups_of_project", id,
              ask(QueryKind::kRunnersOfParentGroupsOfProject, id),
              Get(want.runners_of_parent_groups_of_project, id));
    auto path = target.FullPath(Table::kProjects, id);
    auto want_path = want.project_full_path.find(id);
    check(
        path.ok() && want_path != want.project_full_path.end() && path.value() == want_path->second,
        "project_full_path(" + std::to_string(id) + "): canopy " +
            (path.ok() ? path.value() : path.status().ToString()));
    if (path.ok()) {
      auto resolved = target.Resolve(path.value());
      // A group (not a project namespace) may legitimately own the same full
      // path; then the path resolves to it.
      const bool to_project =
          resolved.ok() && resolved.value().table == Table::kProjects && resolved.value().id == id;
      bool to_group = false;
      if (resolved.ok() && resolved.value().table == Table::kNamespaces) {
        auto type = want.namespace_type.find(resolved.value().id);
        auto np = target.FullPath(Table::kNamespaces, resolved.value().id);
        to_group = type != want.namespace_type.end() && type->second != "Project" && np.ok() &&
                   np.value() == path.value();
      }
      check(to_project || to_group,
            "resolve(" + path.value() + ") != project " + std::to_string(id));
    }
  }
}

Result<Lsn> WalLsnOn(PgConnection& conn) {
  auto r = conn.Exec("SELECT pg_current_wal_lsn()", PGRES_TUPLES_OK);
  if (!r.ok()) return r.status();
  auto lsn = Lsn::Parse(r.value().Get(0, 0));
  if (!lsn) return Status::Internal("cannot parse pg_current_wal_lsn() " + r.value().Get(0, 0));
  return *lsn;
}

Result<VerifyReport> VerifyAt(const std::string& conninfo, VerifyTarget& target, Lsn target_lsn,
                              const VerifyOptions& options) {
  auto conn = PgConnection::Connect(conninfo, /*replication=*/false, "canopy-verify");
  if (!conn.ok()) return conn.status();
  // The source's WAL position when the check began: the target, when it was
  // read from the source (the index has applied it), else now.
  Lsn wal_before = target_lsn;
  if (options.lsn) {
    auto now = WalLsnOn(*conn.value());
    if (!now.ok()) return now.status();
    wal_before = now.value();
  }
  VerifyReport report;
  report.target_lsn = target_lsn;
  const auto t0 = std::chrono::steady_clock::now();
  auto before = target.AppliedLsn();
  if (!before.ok()) return before.status();
  SqlAnswers want;
  if (Status s = ComputeSqlAnswers(*conn.value(), options, &want); !s.ok()) return s;
  const auto t1 = std::chrono::steady_clock::now();
  auto at_compare = target.AppliedLsn();
  if (!at_compare.ok()) return at_compare.status();
  report.index_lsn = at_compare.value();
  Compare(want, target, options.max_reported, &report);
  const auto t2 = std::chrono::steady_clock::now();
  auto wal_after = WalLsnOn(*conn.value());
  if (!wal_after.ok()) return wal_after.status();
  report.sql_wal_lsn = want.wal_lsn;
  report.wal_lsn_before = wal_before;
  report.wal_lsn_after = wal_after.value();
  // Nothing was written to the source during the check (its WAL position did
  // not move): SQL and the index saw the same state. The index's own position
  // may move meanwhile (idle keepalives) without any change: that is not a
  // reason to doubt a difference.
  report.quiescent = wal_after.value() <= wal_before;
  report.namespaces = want.namespace_type.size();
  report.projects = want.project_namespace.size();
  report.namespaces_checked = want.sample_namespaces.size();
  report.projects_checked = want.sample_projects.size();
  report.sql_seconds = std::chrono::duration<double>(t1 - t0).count();
  report.compare_seconds = std::chrono::duration<double>(t2 - t1).count();
  return report;
}

Result<Lsn> CurrentWalLsn(const std::string& conninfo) {
  auto conn = PgConnection::Connect(conninfo, /*replication=*/false, "canopy-verify");
  if (!conn.ok()) return conn.status();
  auto r = conn.value()->Exec("SELECT pg_current_wal_lsn()", PGRES_TUPLES_OK);
  if (!r.ok()) return r.status();
  auto lsn = Lsn::Parse(r.value().Get(0, 0));
  if (!lsn) return Status::Internal("cannot parse pg_current_wal_lsn() " + r.value().Get(0, 0));
  return *lsn;
}

// An index in this process. `replica` (optional) waits through its
// keepalives, so idle positions past the last commit count as applied.
class IndexTarget final : public VerifyTarget {
 public:
  IndexTarget(const HierarchyIndex& index, Replica* replica) : index_(index), replica_(replica) {}
  Result<Lsn> AppliedLsn() override { return index_.applied_lsn(); }
  Status WaitUntilApplied(Lsn lsn, std::chrono::milliseconds timeout) override {
    if (replica_ != nullptr) return replica_->WaitUntilApplied(lsn, timeout);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (index_.applied_lsn() < lsn) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::Timeout("index applied " + index_.applied_lsn().ToString() + " < " +
                               lsn.ToString());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Status();
  }
  IdAnswer Query(const IdQuery& query) override { return index_.Query(query).answer; }
  Result<SubtreeCounts> Counts(int64_t ns) override { return index_.Read().Counts(ns); }
  Result<std::string> FullPath(Table table, int64_t id) override {
    ReadView view = index_.Read();
    return table == Table::kProjects ? view.ProjectFullPath(id) : view.NamespaceFullPath(id);
  }
  Result<ResolvedPath> Resolve(std::string_view full_path) override {
    return index_.Read().Resolve(full_path);
  }
  std::optional<IdSets> AllIds() override {
    ReadView view = index_.Read();
    return IdSets{view.ListNamespaceIds(), view.ListProjectIds(), view.ListOrphanNamespaceIds()};
  }

 private:
  const HierarchyIndex& index_;
  Replica* replica_;
};

// options.lsn, else the database's position now.
Result<Lsn> TargetLsn(const std::string& conninfo, const VerifyOptions& options) {
  if (options.lsn) return *options.lsn;
  return CurrentWalLsn(conninfo);
}

}  // namespace

Result<VerifyReport> Verify(const std::string& conninfo, VerifyTarget& target,
                            const VerifyOptions& options) {
  Result<Lsn> target_lsn = TargetLsn(conninfo, options);
  if (!target_lsn.ok()) return target_lsn.status();
  if (Status s = target.WaitUntilApplied(*target_lsn, options.wait_timeout); !s.ok()) return s;
  return VerifyAt(conninfo, target, *target_lsn, options);
}

Result<VerifyReport> Verify(const std::string& conninfo, const HierarchyIndex& index,
                            const VerifyOptions& options) {
  IndexTarget target(index, nullptr);
  return Verify(conninfo, target, options);
}

Result<VerifyReport> Verify(const std::string& conninfo, Replica& replica,
                            const VerifyOptions& options) {
  // Wait on the replica before taking its index: a re-snapshot may swap it.
  Result<Lsn> target_lsn = TargetLsn(conninfo, options);
  if (!target_lsn.ok()) return target_lsn.status();
  if (Status s = replica.WaitUntilApplied(*target_lsn, options.wait_timeout); !s.ok()) return s;
  auto index = replica.index();
  if (index == nullptr) return Status::Unavailable("the replica has no index yet");
  IndexTarget target(*index, &replica);
  return VerifyAt(conninfo, target, *target_lsn, options);
}

}  // namespace canopy::cdc

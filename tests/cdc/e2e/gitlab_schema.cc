// gitlab_schema.cc — the e2e tests' GitLab database: testing/sql's tables and
// indexes plus the tests' own additions; SQL for canopy transactions.
#include "gitlab_schema.h"

#include <gtest/gtest.h>

#include <sstream>

#include "canopy/cdc/table_mapping.h"
#include "canopy/testing/gitlab_database.h"
#include "canopy/testing/gitlab_schema.h"

namespace canopy::cdc::testing {

namespace {

// What the tests add to GitLab's tables and indexes (testing/sql), instead of
// gitlab_constraints.sql: foreign keys checked at COMMIT, so a transaction may
// touch rows in any order (a test may also leave orphans on purpose, and
// project namespaces and runner links follow a deleted namespace), an
// unpublished side table, and the parent walk that sets traversal_ids.
const char* kTestAdditions = R"sql(
ALTER TABLE namespaces ADD CONSTRAINT fk_namespaces_parent FOREIGN KEY (parent_id) REFERENCES namespaces(id)
  ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE projects ADD CONSTRAINT fk_projects_namespace_id FOREIGN KEY (namespace_id) REFERENCES namespaces(id)
  ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE projects ADD CONSTRAINT fk_projects_project_namespace_id FOREIGN KEY (project_namespace_id)
  REFERENCES namespaces(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX index_projects_on_project_namespace_id ON projects (project_namespace_id);
ALTER TABLE ci_runner_namespaces ADD CONSTRAINT fk_runner_namespaces_namespace FOREIGN KEY (namespace_id)
  REFERENCES namespaces(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;

-- Not published: writes here must only move the slot forward (keepalives).
CREATE TABLE audit_events (id bigserial PRIMARY KEY, details text);

-- The parent_id walk (root first), as Namespace::TraversalHierarchy computes it.
CREATE FUNCTION canopy_test_path(ns bigint) RETURNS bigint[] LANGUAGE sql STABLE AS $$
  WITH RECURSIVE up(id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM namespaces WHERE id = ns
    UNION ALL
    SELECT n.id, n.parent_id, up.depth + 1 FROM up JOIN namespaces n ON n.id = up.parent_id WHERE up.depth < 1000)
  SELECT coalesce(array_agg(id ORDER BY depth DESC), '{}') FROM up
$$;
)sql";

std::string IdList(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    // Appended, not "," + std::string&&: GCC 12 at -O3 reports a false -Wrestrict there.
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

}  // namespace

bool CreateGitlabSchema(Sql& sql) {
  if (!sql.ok()) return false;
  Status s = canopy::testing::CreateGitlabTables(sql.connection());
  if (s.ok()) s = canopy::testing::CreateGitlabIndexes(sql.connection());
  if (!s.ok()) {
    ADD_FAILURE() << s.ToString();
    return false;
  }
  return sql.Exec(kTestAdditions);
}

bool LoadForest(Sql& sql, const canopy::testing::GitlabForest& forest) {
  if (!sql.ok()) return false;
  const Status s = canopy::testing::LoadGitlabForest(sql.connection(), forest);
  if (!s.ok()) {
    ADD_FAILURE() << "loading the forest: " << s.ToString();
    if (PQtransactionStatus(sql.get()) != PQTRANS_IDLE) sql.Exec("ROLLBACK");
    return false;
  }
  return sql.Exec("ANALYZE");
}

SqlWriter::SqlWriter(const canopy::testing::GitlabForest& loaded) {
  for (const auto& r : loaded.namespaces) {
    if (r.id != 0) namespaces_.insert(r.id);
  }
  for (const auto& r : loaded.projects) {
    if (r.id != 0) projects_.insert(r.id);
  }
  for (const auto& r : loaded.runner_links) {
    if (r.id != 0) links_.insert(r.id);
  }
}

namespace {
std::string OptId(const std::optional<int64_t>& id) { return id ? std::to_string(*id) : "NULL"; }
std::string Bool(bool b) { return b ? "true" : "false"; }

// "SET a = x, b = y" of the present columns (empty if none).
template <typename Row>
std::string SetList(const Row& row, const std::vector<std::pair<ColumnMask, std::string>>& cols) {
  std::string out;
  for (const auto& [bit, assign] : cols) {
    if ((row.present & bit) == 0) continue;
    out += out.empty() ? "" : ", ";
    out += assign;
  }
  return out;
}
}  // namespace

std::string SqlWriter::ToSql(const Transaction& txn) {
  std::string sql = "BEGIN;\n";
  std::vector<int64_t> reparented;
  for (const RowChange& change : txn.changes) {
    if (const auto* u = std::get_if<UpsertNamespace>(&change)) {
      const NamespaceRow& r = u->row;
      if (namespaces_.insert(r.id).second) {
        sql +=
            "INSERT INTO namespaces (id, name, path, type, visibility_level, parent_id, "
            "traversal_ids) VALUES (" +
            std::to_string(r.id) + ", " + QuoteLiteral(r.name) + ", " + QuoteLiteral(r.path) +
            ", " + QuoteLiteral(NamespaceTypeName(r.type)) + ", " +
            std::to_string(r.visibility_level) + ", " + OptId(r.parent_id) + ", '{}');\n";
        reparented.push_back(r.id);
      } else {
        std::string set =
            SetList(r, {{NamespaceRow::kParentId, "parent_id = " + OptId(r.parent_id)},
                        {NamespaceRow::kType, "type = " + QuoteLiteral(NamespaceTypeName(r.type))},
                        {NamespaceRow::kName, "name = " + QuoteLiteral(r.name)},
                        {NamespaceRow::kPath, "path = " + QuoteLiteral(r.path)},
                        {NamespaceRow::kVisibilityLevel,
                         "visibility_level = " + std::to_string(r.visibility_level)}});
        if (!set.empty())
          sql += "UPDATE namespaces SET " + set + " WHERE id = " + std::to_string(r.id) + ";\n";
        if (r.present & NamespaceRow::kParentId) reparented.push_back(r.id);
      }
    } else if (const auto* p = std::get_if<UpsertProject>(&change)) {
      const ProjectRow& r = p->row;
      if (projects_.insert(r.id).second) {
        sql +=
            "INSERT INTO projects (id, name, path, namespace_id, visibility_level, archived, "
            "pending_delete, "
            "project_namespace_id) VALUES (" +
            std::to_string(r.id) + ", " + QuoteLiteral(r.name) + ", " + QuoteLiteral(r.path) +
            ", " + std::to_string(r.namespace_id) + ", " + std::to_string(r.visibility_level) +
            ", " + Bool(r.archived) + ", " + Bool(r.pending_delete) + ", " +
            OptId(r.project_namespace_id) + ");\n";
      } else {
        std::string set = SetList(
            r, {{ProjectRow::kNamespaceId, "namespace_id = " + std::to_string(r.namespace_id)},
                {ProjectRow::kProjectNamespaceId,
                 "project_namespace_id = " + OptId(r.project_namespace_id)},
                {ProjectRow::kName, "name = " + QuoteLiteral(r.name)},
                {ProjectRow::kPath, "path = " + QuoteLiteral(r.path)},
                {ProjectRow::kVisibilityLevel,
                 "visibility_level = " + std::to_string(r.visibility_level)},
                {ProjectRow::kArchived, "archived = " + Bool(r.archived)},
                {ProjectRow::kPendingDelete, "pending_delete = " + Bool(r.pending_delete)}});
        if (!set.empty())
          sql += "UPDATE projects SET " + set + " WHERE id = " + std::to_string(r.id) + ";\n";
      }
    } else if (const auto* l = std::get_if<UpsertRunnerLink>(&change)) {
      const RunnerLinkRow& r = l->row;
      if (links_.insert(r.id).second) {
        sql += "INSERT INTO ci_runner_namespaces (id, runner_id, namespace_id) VALUES (" +
               std::to_string(r.id) + ", " + std::to_string(r.runner_id) + ", " +
               std::to_string(r.namespace_id) + ");\n";
      } else {
        sql += "UPDATE ci_runner_namespaces SET runner_id = " + std::to_string(r.runner_id) +
               ", namespace_id = " + std::to_string(r.namespace_id) +
               " WHERE id = " + std::to_string(r.id) + ";\n";
      }
    } else if (const auto* d = std::get_if<DeleteNamespace>(&change)) {
      namespaces_.erase(d->id);
      sql += "DELETE FROM namespaces WHERE id = " + std::to_string(d->id) + ";\n";
    } else if (const auto* d2 = std::get_if<DeleteProject>(&change)) {
      projects_.erase(d2->id);
      sql += "DELETE FROM projects WHERE id = " + std::to_string(d2->id) + ";\n";
    } else if (const auto* d3 = std::get_if<DeleteRunnerLink>(&change)) {
      links_.erase(d3->id);
      sql += "DELETE FROM ci_runner_namespaces WHERE id = " + std::to_string(d3->id) + ";\n";
    } else if (const auto* t = std::get_if<TruncateTable>(&change)) {
      const char* table = t->table == Table::kNamespaces ? "namespaces"
                          : t->table == Table::kProjects ? "projects"
                                                         : "ci_runner_namespaces";
      sql += std::string("TRUNCATE ") + table + " CASCADE;\n";
    }
  }
  if (!reparented.empty()) {
    // GitLab's sync_traversal_ids: the node and its subtree, in the same transaction.
    const std::string ids = QuoteLiteral(IdList(reparented));
    sql += "UPDATE namespaces SET traversal_ids = canopy_test_path(id) WHERE (id = ANY(" + ids +
           "::bigint[]) OR traversal_ids && " + ids +
           "::bigint[]) AND traversal_ids <> canopy_test_path(id);\n";
  }
  sql += "COMMIT;";
  return sql;
}

}  // namespace canopy::cdc::testing

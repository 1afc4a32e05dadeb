// gitlab_schema.h — GitLab's tables in a test database, loaded from a
// generated forest, and GitLab-style write transactions applied as SQL.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "canopy/rows.h"
#include "canopy/testing/gitlab_forest.h"
#include "pg_fixture.h"

namespace canopy::cdc::testing {

// Creates GitLab's namespaces / projects / ci_runner_namespaces (testing/sql's
// gitlab_schema.sql: GitLab's columns, extra ones canopy ignores, the trigger
// that deletes a project's namespace with the project) with GitLab's lookup
// indexes (gitlab_indexes.sql), but not GitLab's constraints: instead foreign
// keys checked at COMMIT (so a transaction may touch rows in any order), an
// unpublished side table (audit_events), and canopy_test_path(id) (the
// recursive parent walk that sets traversal_ids, as GitLab's
// Namespace::TraversalHierarchy does).
bool CreateGitlabSchema(Sql& sql);

// Loads every live row of `forest` with COPY, traversal_ids computed from the
// parent chain (canopy::testing::LoadGitlabForest), then ANALYZE.
bool LoadForest(Sql& sql, const canopy::testing::GitlabForest& forest);

// Applies canopy transactions as GitLab writes them: a new namespace is an
// INSERT with traversal_ids '{}' and, at the end of the transaction, an
// UPDATE setting it (for every namespace whose parent changed and its
// subtree); existing rows get UPDATEs of the columns the change carries;
// deletes are DELETEs. One SQL transaction per canopy transaction.
class SqlWriter {
 public:
  explicit SqlWriter(const canopy::testing::GitlabForest& loaded);
  // The SQL text of `txn` (BEGIN ... COMMIT).
  std::string ToSql(const Transaction& txn);
  bool Apply(Sql& sql, const Transaction& txn) { return sql.Exec(ToSql(txn)); }

 private:
  std::unordered_set<int64_t> namespaces_, projects_, links_;
};

}  // namespace canopy::cdc::testing

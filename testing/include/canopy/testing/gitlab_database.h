// canopy/testing/gitlab_database.h — a generated GitLab-shaped forest as a
// PostgreSQL database with GitLab's tables, columns, indexes and constraints
// (canopy/testing/gitlab_schema.h) and, for benchmarks that compare canopy
// with the SQL GitLab runs (docs/queries.md, docs/design/gitlab-notes.md §1 and
// §4), GitLab's namespace_descendants cache.
//
//   auto db = canopy::testing::PgConnection::Open(conninfo);
//   canopy::Status s = canopy::testing::CreateGitlabDatabase(**db, forest);  // all of it
//   // or step by step (timed by the benchmarks):
//   s = canopy::testing::CreateGitlabTables(**db);                // gitlab_schema.h
//   s = canopy::testing::CreateNamespaceDescendantsTable(**db);
//   s = canopy::testing::LoadGitlabForest(**db, forest);          // COPY
//   s = canopy::testing::AddGitlabIndexesAndConstraints(**db);    // + VACUUM ANALYZE
//   canopy::Result<uint64_t> cached = canopy::testing::PopulateNamespaceDescendants(**db);
//
// Rows are loaded before the indexes and constraints exist (the fast way to
// bulk-load).
//
// ERRORS: as canopy::testing::PgConnection and gitlab_schema.h report them.
//
// THREAD SAFETY: functions over one connection; one thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include "canopy/status.h"
#include "canopy/testing/gitlab_forest.h"
#include "canopy/testing/gitlab_schema.h"
#include "canopy/testing/pg_connection.h"

namespace canopy::testing {

// GitLab's cache threshold: groups with at least this many descendant
// namespaces (groups and project namespaces) get a namespace_descendants row
// (Namespaces::EnableDescendantsCacheCronWorker::CACHE_THRESHOLD).
inline constexpr int kNamespaceDescendantsThreshold = 700;

// CREATE TABLE namespace_descendants, hash-partitioned into 32 partitions
// with its primary key and outdated index, as GitLab creates it.
Status CreateNamespaceDescendantsTable(PgConnection& db);

// COPYs every live row of `forest` into the tables of CreateGitlabTables;
// namespaces get traversal_ids from their parent chain (root first, ending
// with the row itself), as GitLab keeps it, and every row fixed created_at,
// updated_at and organization_id 1. One transaction. O(rows x depth).
Status LoadGitlabForest(PgConnection& db, const GitlabForest& forest);

// CreateGitlabIndexes and CreateGitlabConstraints (with maintenance_work_mem
// 512MB for this session), then VACUUM ANALYZE of the three tables.
Status AddGitlabIndexesAndConstraints(PgConnection& db);

// CreateGitlabTables, LoadGitlabForest, AddGitlabIndexesAndConstraints.
Status CreateGitlabDatabase(PgConnection& db, const GitlabForest& forest);

// Fills namespace_descendants as GitLab does: EnableDescendantsCacheCronWorker
// inserts an outdated row for every group with >= `threshold` descendant
// namespaces; the refresh (ProcessOutdatedNamespaceDescendantsCronWorker ->
// UpdateDenormalizedDescendantsService) then computes the sorted id arrays
// (self_and_descendant_group_ids, self_and_descendant_ids, all_project_ids,
// all_unarchived_project_ids, traversal_ids) and clears outdated_at. Done
// set-wise in two statements. Returns the number of cached groups.
// REQUIRES: CreateNamespaceDescendantsTable ran.
Result<uint64_t> PopulateNamespaceDescendants(PgConnection& db,
                                              int threshold = kNamespaceDescendantsThreshold);

// What PrepareGitlabDatabase did, with the phases' wall times and the rows
// the database holds afterwards.
struct GitlabDatabaseLoad {
  bool reused = false;  // an existing database of the same shape was kept
  double create_seconds = 0, copy_seconds = 0, index_seconds = 0, cache_seconds = 0;
  uint64_t cached_groups = 0;  // namespace_descendants rows
  uint64_t namespace_rows = 0, project_rows = 0, runner_link_rows = 0;
};

// Creates database `database` on the server of `admin_conninfo` (dropping one
// of that name) and loads `forest` into it with GitLab's indexes, constraints
// and a populated namespace_descendants cache — the database the benchmarks
// that compare canopy with GitLab's SQL run on. With `reuse`, a database
// already loaded with the same `shape_key` (stored in table
// canopy_database_shape) is kept as it is. Logs its phases to stderr, each
// line starting with `log_prefix`.
Result<GitlabDatabaseLoad> PrepareGitlabDatabase(const std::string& admin_conninfo,
                                                 const std::string& database,
                                                 const GitlabForest& forest,
                                                 const std::string& shape_key, bool reuse,
                                                 const std::string& log_prefix);

}  // namespace canopy::testing

// canopy/bench/gitlab_database.h — a generated GitLab-shaped forest as a
// PostgreSQL database with GitLab's tables, columns, indexes and the
// namespace_descendants cache, for benchmarks that compare canopy with the
// SQL GitLab runs (docs/design/QUERIES.md, gitlab-notes.md §1 and §4).
//
//   auto db = canopy::bench::PgConnection::Open(conninfo);
//   canopy::Status s = canopy::bench::CreateGitlabTables(**db);
//   s = canopy::bench::LoadGitlabForest(**db, forest);       // COPY, traversal_ids computed
//   s = canopy::bench::CreateGitlabIndexes(**db);             // + foreign keys, VACUUM ANALYZE
//   canopy::Result<uint64_t> cached = canopy::bench::PopulateNamespaceDescendants(**db);
//
// The tables carry GitLab's full column lists for namespaces and projects
// (structure.sql, roughly GitLab 18.0), so rows are as wide as GitLab's and
// `SELECT namespaces.*` in a recursive CTE costs what it costs there. Loading
// happens before the indexes are built (the fast way to bulk-load).
//
// THREAD SAFETY: functions over one connection; one thread at a time.
#pragma once

#include <cstdint>

#include "canopy/bench/pg_connection.h"
#include "canopy/status.h"
#include "canopy/testing/gitlab_forest.h"

namespace canopy::bench {

// GitLab's cache threshold: groups with at least this many descendant
// namespaces (groups and project namespaces) get a namespace_descendants row
// (Namespaces::EnableDescendantsCacheCronWorker::CACHE_THRESHOLD).
inline constexpr int kNamespaceDescendantsThreshold = 700;

// CREATE TABLE namespaces, projects, ci_runner_namespaces (GitLab's columns,
// primary keys only) and namespace_descendants (hash-partitioned into 32
// partitions with its primary key and outdated index, as GitLab creates it).
// REQUIRES: none of them exists.
Status CreateGitlabTables(PgConnection& db);

// COPYs every live row of `forest`; namespaces get traversal_ids from their
// parent chain (root first, ending with the row itself), as GitLab keeps it.
// One transaction. O(rows × depth).
Status LoadGitlabForest(PgConnection& db, const testing::GitlabForest& forest);

// GitLab's hierarchy indexes on the three tables (the traversal_ids GIN and
// btree indexes, (parent_id, id), projects (namespace_id, id), ...), the
// parent and namespace foreign keys, then VACUUM ANALYZE.
Status CreateGitlabIndexes(PgConnection& db);

// Fills namespace_descendants as GitLab does: EnableDescendantsCacheCronWorker
// inserts an outdated row for every group with >= `threshold` descendant
// namespaces; the refresh (ProcessOutdatedNamespaceDescendantsCronWorker ->
// UpdateDenormalizedDescendantsService) then computes the sorted id arrays
// (self_and_descendant_group_ids, self_and_descendant_ids, all_project_ids,
// all_unarchived_project_ids, traversal_ids) and clears outdated_at. Done
// set-wise in two statements. Returns the number of cached groups.
Result<uint64_t> PopulateNamespaceDescendants(PgConnection& db,
                                              int threshold = kNamespaceDescendantsThreshold);

}  // namespace canopy::bench

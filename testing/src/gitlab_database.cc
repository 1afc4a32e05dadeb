// gitlab_database.cc — see canopy/testing/gitlab_database.h. The cache table
// follows GitLab's db/structure.sql as summarized in
// docs/design/gitlab-notes.md §1.6; the hierarchy tables are testing/sql's.
#include "canopy/testing/gitlab_database.h"

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "canopy/testing/gitlab_schema.h"
#include "canopy/testing/stats.h"

namespace canopy::testing {

namespace {

using Clock = std::chrono::steady_clock;

Result<uint64_t> Count(PgConnection& db, const std::string& table) {
  Result<std::string> v = db.Value("SELECT count(*) FROM " + table);
  if (!v.ok()) return v.status();
  return static_cast<uint64_t>(std::stoull(v.value()));
}

// GitLab's namespace_descendants cache (not a hierarchy table canopy mirrors;
// the benchmarks compare canopy with the SQL that reads it).
const char* kNamespaceDescendants = R"sql(
-- GitLab 16.8+, with the 18.2 and 18.3 columns.
CREATE TABLE namespace_descendants (
  namespace_id bigint NOT NULL,
  self_and_descendant_group_ids bigint[] DEFAULT ARRAY[]::bigint[] NOT NULL,
  all_project_ids bigint[] DEFAULT ARRAY[]::bigint[] NOT NULL,
  traversal_ids bigint[] DEFAULT ARRAY[]::bigint[] NOT NULL,
  outdated_at timestamp with time zone,
  calculated_at timestamp with time zone,
  all_unarchived_project_ids bigint[] DEFAULT '{}'::bigint[] NOT NULL,
  self_and_descendant_ids bigint[] DEFAULT '{}'::bigint[] NOT NULL,
  PRIMARY KEY (namespace_id)
) PARTITION BY HASH (namespace_id);
CREATE INDEX index_on_namespace_descendants_outdated ON namespace_descendants (namespace_id)
  WHERE outdated_at IS NOT NULL;
DO $$
BEGIN
  FOR i IN 0..31 LOOP
    EXECUTE format('CREATE TABLE namespace_descendants_%s PARTITION OF namespace_descendants '
                   'FOR VALUES WITH (MODULUS 32, REMAINDER %s)', lpad(i::text, 2, '0'), i);
  END LOOP;
END $$;
)sql";

// EnableDescendantsCacheCronWorker: an outdated row for every group with
// enough descendant namespaces (any type; the group itself not counted).
const char* kCacheEnable = R"sql(
INSERT INTO namespace_descendants (namespace_id, outdated_at)
SELECT g.id, now()
FROM namespaces g
JOIN (SELECT ancestor_id, count(*) - 1 AS descendants
      FROM namespaces, unnest(namespaces.traversal_ids) AS ancestor_id
      GROUP BY ancestor_id) c ON c.ancestor_id = g.id
WHERE g.type = 'Group' AND c.descendants >= $THRESHOLD
ON CONFLICT (namespace_id) DO NOTHING
)sql";

// UpdateDenormalizedDescendantsService for every outdated row: the subtree's
// groups and project namespaces, the projects of those project namespaces,
// all sorted ascending; then outdated_at cleared.
const char* kCacheRefresh = R"sql(
UPDATE namespace_descendants d
SET self_and_descendant_group_ids = s.group_ids,
    self_and_descendant_ids = s.namespace_ids,
    all_project_ids = s.project_ids,
    all_unarchived_project_ids = s.unarchived_project_ids,
    traversal_ids = s.traversal_ids,
    outdated_at = NULL,
    calculated_at = now()
FROM (
  SELECT o.namespace_id,
         (SELECT coalesce(array_agg(n.id ORDER BY n.id), '{}') FROM namespaces n
           WHERE n.traversal_ids @> ARRAY[o.namespace_id] AND n.type = 'Group') AS group_ids,
         (SELECT coalesce(array_agg(n.id ORDER BY n.id), '{}') FROM namespaces n
           WHERE n.traversal_ids @> ARRAY[o.namespace_id]
             AND n.type IN ('Group', 'Project')) AS namespace_ids,
         (SELECT coalesce(array_agg(p.id ORDER BY p.id), '{}') FROM projects p
           JOIN namespaces n ON n.id = p.project_namespace_id
           WHERE n.traversal_ids @> ARRAY[o.namespace_id] AND n.type = 'Project') AS project_ids,
         (SELECT coalesce(array_agg(p.id ORDER BY p.id), '{}') FROM projects p
           JOIN namespaces n ON n.id = p.project_namespace_id
           WHERE n.traversal_ids @> ARRAY[o.namespace_id] AND n.type = 'Project'
             AND NOT p.archived) AS unarchived_project_ids,
         (SELECT n.traversal_ids FROM namespaces n WHERE n.id = o.namespace_id) AS traversal_ids
  FROM namespace_descendants o
  WHERE o.outdated_at IS NOT NULL
) s
WHERE d.namespace_id = s.namespace_id
)sql";

constexpr const char* kTimestamp = "2024-01-01 00:00:00";

}  // namespace

Status CreateNamespaceDescendantsTable(PgConnection& db) { return db.Exec(kNamespaceDescendants); }

Status LoadGitlabForest(PgConnection& db, const GitlabForest& forest) {
  // GitLab's NOT NULL columns without defaults, after the generator's ones.
  const std::string extra = std::string("\t") + kTimestamp + "\t" + kTimestamp + "\t1";
  const std::string extra_columns = ", created_at, updated_at, organization_id)";
  Status s = db.Exec("BEGIN");
  if (s.ok()) {
    s = db.CopyIn(std::string("namespaces (") + kNamespaceCopyColumns + extra_columns,
                  NamespaceCopyRows(forest, extra));
  }
  if (s.ok()) {
    s = db.CopyIn(std::string("projects (") + kProjectCopyColumns + extra_columns,
                  ProjectCopyRows(forest, extra));
  }
  if (s.ok()) {
    s = db.CopyIn(std::string("ci_runner_namespaces (") + kRunnerLinkCopyColumns + ")",
                  RunnerLinkCopyRows(forest));
  }
  if (!s.ok()) return s;
  return db.Exec("COMMIT");
}

Status AddGitlabIndexesAndConstraints(PgConnection& db) {
  // Index builds are the slow part of a load: give them memory.
  Status s = db.Exec("SET maintenance_work_mem = '512MB'");
  if (s.ok()) s = CreateGitlabIndexes(db);
  if (s.ok()) s = CreateGitlabConstraints(db);
  if (s.ok()) s = db.Exec("VACUUM ANALYZE namespaces, projects, ci_runner_namespaces");
  return s;
}

Status CreateGitlabDatabase(PgConnection& db, const GitlabForest& forest) {
  Status s = CreateGitlabTables(db);
  if (s.ok()) s = LoadGitlabForest(db, forest);
  if (s.ok()) s = AddGitlabIndexesAndConstraints(db);
  return s;
}

Result<uint64_t> PopulateNamespaceDescendants(PgConnection& db, int threshold) {
  std::string enable = kCacheEnable;
  enable.replace(enable.find("$THRESHOLD"), 10, std::to_string(threshold));
  Status s = db.Exec(enable);
  if (s.ok()) s = db.Exec(kCacheRefresh);
  if (s.ok()) s = db.Exec("VACUUM ANALYZE namespace_descendants");
  if (!s.ok()) return s;
  Result<std::string> rows =
      db.Value("SELECT count(*) FROM namespace_descendants WHERE outdated_at IS NULL");
  if (!rows.ok()) return rows.status();
  return static_cast<uint64_t>(std::stoull(rows.value()));
}

Result<GitlabDatabaseLoad> PrepareGitlabDatabase(const std::string& admin_conninfo,
                                                 const std::string& database,
                                                 const GitlabForest& forest,
                                                 const std::string& shape_key, bool reuse,
                                                 const std::string& log_prefix) {
  GitlabDatabaseLoad load;
  Result<std::string> db_conninfo = ConninfoWith(admin_conninfo, {{"dbname", database}});
  if (!db_conninfo.ok()) return db_conninfo.status();
  {
    Result<std::unique_ptr<PgConnection>> admin = PgConnection::Open(admin_conninfo);
    if (!admin.ok()) return admin.status();
    if (reuse) {
      Result<std::string> exists =
          (*admin)->Value("SELECT count(*) FROM pg_database WHERE datname = '" + database + "'");
      if (exists.ok() && exists.value() == "1") {
        Result<std::unique_ptr<PgConnection>> db = PgConnection::Open(db_conninfo.value());
        if (db.ok()) {
          Result<std::string> key = (*db)->Value("SELECT shape FROM canopy_database_shape");
          load.reused = key.ok() && key.value() == shape_key;
        }
      }
    }
    if (!load.reused) {
      Status s = (*admin)->Exec("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
      if (s.ok()) s = (*admin)->Exec("CREATE DATABASE " + database);
      if (!s.ok()) return s;
    }
  }
  Result<std::unique_ptr<PgConnection>> opened = PgConnection::Open(db_conninfo.value());
  if (!opened.ok()) return opened.status();
  PgConnection& db = *opened.value();
  if (!load.reused) {
    auto t0 = Clock::now();
    Status s = CreateGitlabTables(db);
    if (s.ok()) s = CreateNamespaceDescendantsTable(db);
    if (!s.ok()) return s;
    load.create_seconds = SecondsSince(t0);
    t0 = Clock::now();
    std::cerr << log_prefix << ": COPY into namespaces, projects, ci_runner_namespaces...\n";
    if (s = LoadGitlabForest(db, forest); !s.ok()) return s;
    load.copy_seconds = SecondsSince(t0);
    t0 = Clock::now();
    std::cerr << log_prefix << ": GitLab's indexes and constraints, VACUUM ANALYZE...\n";
    if (s = AddGitlabIndexesAndConstraints(db); !s.ok()) return s;
    load.index_seconds = SecondsSince(t0);
    t0 = Clock::now();
    std::cerr << log_prefix << ": namespace_descendants (enable + refresh)...\n";
    Result<uint64_t> cached = PopulateNamespaceDescendants(db);
    if (!cached.ok()) return cached.status();
    load.cache_seconds = SecondsSince(t0);
    s = db.Exec("CREATE TABLE canopy_database_shape AS SELECT '" + shape_key + "'::text AS shape");
    if (!s.ok()) return s;
  }
  Result<uint64_t> n = Count(db, "namespaces");
  Result<uint64_t> p = Count(db, "projects");
  Result<uint64_t> l = Count(db, "ci_runner_namespaces");
  Result<uint64_t> c = Count(db, "namespace_descendants WHERE outdated_at IS NULL");
  if (!n.ok() || !p.ok() || !l.ok() || !c.ok()) return Status::Internal("counting rows failed");
  load.namespace_rows = n.value();
  load.project_rows = p.value();
  load.runner_link_rows = l.value();
  load.cached_groups = c.value();
  return load;
}

}  // namespace canopy::testing

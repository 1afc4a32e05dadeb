// gitlab_database.cc — see canopy/bench/gitlab_database.h. Column lists and
// index definitions follow GitLab's db/structure.sql as summarized in
// docs/design/gitlab-notes.md §1 (namespaces §1.1, projects §1.2,
// namespace_descendants §1.6).
#include "canopy/bench/gitlab_database.h"

#include <string>
#include <vector>

namespace canopy::bench {

namespace {

const char* kTables = R"sql(
CREATE TABLE namespaces (
  id bigint NOT NULL PRIMARY KEY,
  name character varying NOT NULL,
  path character varying NOT NULL,
  owner_id bigint,
  created_at timestamp without time zone,
  updated_at timestamp without time zone,
  type character varying DEFAULT 'User'::character varying NOT NULL,
  description character varying DEFAULT ''::character varying NOT NULL,
  avatar character varying,
  membership_lock boolean DEFAULT false,
  share_with_group_lock boolean DEFAULT false,
  visibility_level integer DEFAULT 20 NOT NULL,
  request_access_enabled boolean DEFAULT true NOT NULL,
  ldap_sync_status character varying DEFAULT 'ready'::character varying NOT NULL,
  ldap_sync_error character varying,
  ldap_sync_last_update_at timestamp without time zone,
  ldap_sync_last_successful_update_at timestamp without time zone,
  ldap_sync_last_sync_at timestamp without time zone,
  description_html text,
  lfs_enabled boolean,
  parent_id bigint,
  shared_runners_minutes_limit integer,
  repository_size_limit bigint,
  require_two_factor_authentication boolean DEFAULT false NOT NULL,
  two_factor_grace_period integer DEFAULT 48 NOT NULL,
  cached_markdown_version integer,
  project_creation_level integer,
  runners_token character varying,
  file_template_project_id bigint,
  saml_discovery_token character varying,
  runners_token_encrypted character varying,
  custom_project_templates_group_id bigint,
  auto_devops_enabled boolean,
  extra_shared_runners_minutes_limit integer,
  last_ci_minutes_notification_at timestamp with time zone,
  last_ci_minutes_usage_notification_level integer,
  subgroup_creation_level integer DEFAULT 1,
  emails_disabled boolean,
  max_pages_size integer,
  max_artifacts_size integer,
  mentions_disabled boolean,
  default_branch_protection smallint,
  unlock_membership_to_ldap boolean,
  max_personal_access_token_lifetime integer,
  push_rule_id bigint,
  shared_runners_enabled boolean DEFAULT true NOT NULL,
  allow_descendants_override_disabled_shared_runners boolean DEFAULT false NOT NULL,
  traversal_ids bigint[] DEFAULT '{}'::bigint[] NOT NULL,
  organization_id bigint,
  CONSTRAINT check_2eae3bdf93 CHECK ((organization_id IS NOT NULL))
);

CREATE TABLE projects (
  id bigint NOT NULL PRIMARY KEY,
  name character varying,
  path character varying,
  description text,
  created_at timestamp without time zone,
  updated_at timestamp without time zone,
  creator_id bigint,
  namespace_id bigint NOT NULL,
  last_activity_at timestamp without time zone,
  import_url character varying,
  visibility_level integer DEFAULT 0 NOT NULL,
  archived boolean DEFAULT false NOT NULL,
  avatar character varying,
  merge_requests_template text,
  star_count integer DEFAULT 0 NOT NULL,
  merge_requests_rebase_enabled boolean DEFAULT false,
  import_type character varying,
  import_source character varying,
  approvals_before_merge integer DEFAULT 0 NOT NULL,
  reset_approvals_on_push boolean DEFAULT true,
  merge_requests_ff_only_enabled boolean DEFAULT false,
  issues_template text,
  mirror boolean DEFAULT false NOT NULL,
  mirror_last_update_at timestamp without time zone,
  mirror_last_successful_update_at timestamp without time zone,
  mirror_user_id bigint,
  shared_runners_enabled boolean DEFAULT true NOT NULL,
  runners_token character varying,
  build_allow_git_fetch boolean DEFAULT true NOT NULL,
  build_timeout integer DEFAULT 3600 NOT NULL,
  mirror_trigger_builds boolean DEFAULT false NOT NULL,
  pending_delete boolean DEFAULT false,
  public_builds boolean DEFAULT true NOT NULL,
  last_repository_check_failed boolean,
  last_repository_check_at timestamp without time zone,
  only_allow_merge_if_pipeline_succeeds boolean DEFAULT false NOT NULL,
  has_external_issue_tracker boolean,
  repository_storage character varying DEFAULT 'default'::character varying NOT NULL,
  repository_read_only boolean,
  request_access_enabled boolean DEFAULT true NOT NULL,
  has_external_wiki boolean,
  ci_config_path character varying,
  lfs_enabled boolean,
  description_html text,
  only_allow_merge_if_all_discussions_are_resolved boolean,
  repository_size_limit bigint,
  printing_merge_request_link_enabled boolean DEFAULT true NOT NULL,
  auto_cancel_pending_pipelines integer DEFAULT 1 NOT NULL,
  service_desk_enabled boolean DEFAULT true,
  cached_markdown_version integer,
  delete_error text,
  last_repository_updated_at timestamp without time zone,
  disable_overriding_approvers_per_merge_request boolean,
  storage_version smallint,
  resolve_outdated_diff_discussions boolean,
  remote_mirror_available_overridden boolean,
  only_mirror_protected_branches boolean,
  pull_mirror_available_overridden boolean,
  jobs_cache_index integer,
  external_authorization_classification_label character varying,
  mirror_overwrites_diverged_branches boolean,
  pages_https_only boolean DEFAULT true,
  external_webhook_token character varying,
  packages_enabled boolean,
  merge_requests_author_approval boolean DEFAULT false,
  pool_repository_id bigint,
  runners_token_encrypted character varying,
  bfg_object_map character varying,
  detected_repository_languages boolean,
  merge_requests_disable_committers_approval boolean,
  require_password_to_approve boolean,
  emails_disabled boolean,
  max_pages_size integer,
  max_artifacts_size integer,
  pull_mirror_branch_prefix character varying(50),
  remove_source_branch_after_merge boolean,
  marked_for_deletion_at date,
  marked_for_deletion_by_user_id bigint,
  autoclose_referenced_issues boolean,
  suggestion_commit_message character varying(255),
  project_namespace_id bigint,
  hidden boolean DEFAULT false NOT NULL,
  organization_id bigint,
  CONSTRAINT check_1a6f946a8a CHECK ((organization_id IS NOT NULL)),
  CONSTRAINT check_fa75869cb1 CHECK ((project_namespace_id IS NOT NULL))
);

CREATE TABLE ci_runner_namespaces (
  id bigint NOT NULL PRIMARY KEY,
  runner_id bigint,
  namespace_id bigint,
  CONSTRAINT check_5f3dce48df CHECK ((namespace_id IS NOT NULL))
);

-- GitLab 16.8+ (MR !140735), with the 18.2 and 18.3 columns.
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

const char* kIndexes = R"sql(
CREATE UNIQUE INDEX index_namespaces_name_parent_id_type ON namespaces (name, parent_id, type);
CREATE UNIQUE INDEX index_namespaces_on_parent_id_and_id ON namespaces (parent_id, id);
CREATE INDEX index_namespaces_on_traversal_ids ON namespaces USING gin (traversal_ids);
CREATE INDEX index_namespaces_on_traversal_ids_for_groups ON namespaces
  USING gin (traversal_ids) WHERE ((type)::text = 'Group'::text);
CREATE INDEX index_namespaces_on_traversal_ids_for_groups_btree ON namespaces
  USING btree (traversal_ids) WHERE ((type)::text = 'Group'::text);
CREATE INDEX index_on_namespaces_namespaces_by_top_level_namespace ON namespaces
  USING btree ((traversal_ids[1]), type, id);
CREATE INDEX index_namespaces_on_type_and_id ON namespaces (type, id);
CREATE INDEX index_namespaces_on_owner_id ON namespaces (owner_id);
CREATE INDEX index_namespaces_on_path ON namespaces (path);
ALTER TABLE namespaces ADD CONSTRAINT fk_7f813d8c90
  FOREIGN KEY (parent_id) REFERENCES namespaces(id) ON DELETE RESTRICT;

CREATE UNIQUE INDEX index_projects_on_project_namespace_id ON projects (project_namespace_id);
CREATE INDEX index_projects_on_namespace_id_and_id ON projects (namespace_id, id);
CREATE INDEX index_projects_on_id_and_archived_and_pending_delete ON projects (id)
  WHERE ((archived = false) AND (pending_delete = false));
ALTER TABLE projects ADD CONSTRAINT fk_projects_namespace_id
  FOREIGN KEY (namespace_id) REFERENCES namespaces(id) ON DELETE RESTRICT;

CREATE INDEX index_ci_runner_namespaces_on_namespace_id ON ci_runner_namespaces (namespace_id);
CREATE UNIQUE INDEX index_ci_runner_namespaces_on_runner_id_and_namespace_id
  ON ci_runner_namespaces (runner_id, namespace_id);
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

Status CreateGitlabTables(PgConnection& db) { return db.Exec(kTables); }

Status LoadGitlabForest(PgConnection& db, const testing::GitlabForest& forest) {
  // GitLab's NOT NULL columns without defaults, after the generator's ones.
  const std::string extra = std::string("\t") + kTimestamp + "\t" + kTimestamp + "\t1";
  const std::string extra_columns = ", created_at, updated_at, organization_id)";
  Status s = db.Exec("BEGIN");
  if (s.ok()) {
    s = db.CopyIn(std::string("namespaces (") + testing::kNamespaceCopyColumns + extra_columns,
                  testing::NamespaceCopyRows(forest, extra));
  }
  if (s.ok()) {
    s = db.CopyIn(std::string("projects (") + testing::kProjectCopyColumns + extra_columns,
                  testing::ProjectCopyRows(forest, extra));
  }
  if (s.ok()) {
    s = db.CopyIn(std::string("ci_runner_namespaces (") + testing::kRunnerLinkCopyColumns + ")",
                  testing::RunnerLinkCopyRows(forest));
  }
  if (!s.ok()) return s;
  return db.Exec("COMMIT");
}

Status CreateGitlabIndexes(PgConnection& db) {
  // Index builds are the slow part of a load: give them memory.
  Status s = db.Exec("SET maintenance_work_mem = '512MB'");
  if (s.ok()) s = db.Exec(kIndexes);
  if (s.ok()) s = db.Exec("VACUUM ANALYZE namespaces, projects, ci_runner_namespaces");
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

}  // namespace canopy::bench

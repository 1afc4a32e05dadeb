-- testing/sql/gitlab_schema.sql — GitLab's three hierarchy tables, the ones
-- canopy mirrors: namespaces, projects and ci_runner_namespaces with GitLab's
-- full column lists, names and types (db/structure.sql, roughly GitLab 18.0;
-- docs/design/gitlab-notes.md §1), their primary keys, and GitLab's trigger
-- that deletes a project's namespace with the project. Rows are as wide as
-- GitLab's, so `SELECT namespaces.*` costs what it costs there.
--
-- The one copy of this DDL: the demo (scripts/run), bench/canopyd-memory and
-- canopy::testing::CreateGitlabTables (tests, benchmarks) all load this file.
-- The rest of GitLab's schema comes in two more files, applied after it (and
-- after a bulk load, which is faster without them):
--   gitlab_indexes.sql      GitLab's lookup indexes (traversal_ids, ...);
--   gitlab_constraints.sql  what restricts the data: foreign keys, CHECKs,
--                           unique indexes. The demo and the benchmarks apply
--                           it; the tests do not (they write rows in any order
--                           and make orphans on purpose, under looser foreign
--                           keys of their own).
--
-- Differences from GitLab, for hand-written INSERTs: created_at and
-- updated_at default to now() and organization_id to 1 (Rails sets them).

CREATE TABLE namespaces (
  id bigint NOT NULL PRIMARY KEY,
  name character varying NOT NULL,
  path character varying NOT NULL,
  owner_id bigint,
  created_at timestamp without time zone DEFAULT now(),
  updated_at timestamp without time zone DEFAULT now(),
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
  organization_id bigint DEFAULT 1
);

CREATE TABLE projects (
  id bigint NOT NULL PRIMARY KEY,
  name character varying,
  path character varying,
  description text,
  created_at timestamp without time zone DEFAULT now(),
  updated_at timestamp without time zone DEFAULT now(),
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
  organization_id bigint DEFAULT 1
);

CREATE TABLE ci_runner_namespaces (
  id bigint NOT NULL PRIMARY KEY,
  runner_id bigint,
  namespace_id bigint
);

-- Deleting a project deletes its project namespace (GitLab: a trigger, no
-- Rails callback).
CREATE FUNCTION delete_associated_project_namespace() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM namespaces WHERE id = OLD.project_namespace_id AND type = 'Project';
  RETURN NULL;
END
$$;
CREATE TRIGGER trigger_delete_project_namespace_on_project_delete
  AFTER DELETE ON projects FOR EACH ROW WHEN (OLD.project_namespace_id IS NOT NULL)
  EXECUTE FUNCTION delete_associated_project_namespace();

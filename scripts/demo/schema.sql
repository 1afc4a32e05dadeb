-- scripts/demo/schema.sql — the three GitLab tables canopy mirrors, with GitLab's
-- column names and types (a subset of db/structure.sql; see
-- docs/design/gitlab-notes.md §1). Columns canopy does not read (created_at,
-- description, star_count, ...) are kept so the demo shows that extra columns do
-- not matter. Used by scripts/run on its own private database only.

CREATE TABLE namespaces (
  id bigint NOT NULL PRIMARY KEY,
  name character varying NOT NULL,
  path character varying NOT NULL,
  owner_id bigint,
  created_at timestamp without time zone DEFAULT now(),
  updated_at timestamp without time zone DEFAULT now(),
  type character varying DEFAULT 'User'::character varying NOT NULL,
  description character varying DEFAULT ''::character varying NOT NULL,
  visibility_level integer DEFAULT 20 NOT NULL,
  parent_id bigint,
  traversal_ids bigint[] DEFAULT '{}'::bigint[] NOT NULL,
  organization_id bigint DEFAULT 1 NOT NULL
);

-- GitLab's parent FK (fk_7f813d8c90, ON DELETE RESTRICT) and the indexes its
-- hierarchy queries use (index_namespaces_on_* in structure.sql).
ALTER TABLE namespaces ADD CONSTRAINT fk_7f813d8c90
  FOREIGN KEY (parent_id) REFERENCES namespaces(id) ON DELETE RESTRICT;
CREATE UNIQUE INDEX index_namespaces_on_parent_id_and_id ON namespaces (parent_id, id);
CREATE INDEX index_namespaces_on_traversal_ids ON namespaces USING gin (traversal_ids);
CREATE INDEX index_namespaces_on_traversal_ids_for_groups ON namespaces
  USING gin (traversal_ids) WHERE type::text = 'Group'::text;
CREATE INDEX index_namespaces_on_traversal_ids_for_groups_btree ON namespaces
  USING btree (traversal_ids) WHERE type::text = 'Group'::text;
CREATE INDEX index_on_namespaces_namespaces_by_top_level_namespace ON namespaces
  USING btree ((traversal_ids[1]), type, id);
CREATE INDEX index_namespaces_on_type_and_id ON namespaces (type, id);
CREATE INDEX index_namespaces_on_path ON namespaces (path);

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
  visibility_level integer DEFAULT 0 NOT NULL,
  archived boolean DEFAULT false NOT NULL,
  star_count integer DEFAULT 0 NOT NULL,
  pending_delete boolean DEFAULT false,
  project_namespace_id bigint,
  organization_id bigint DEFAULT 1 NOT NULL
);

ALTER TABLE projects ADD CONSTRAINT fk_projects_namespace_id
  FOREIGN KEY (namespace_id) REFERENCES namespaces(id) ON DELETE RESTRICT;
CREATE UNIQUE INDEX index_projects_on_project_namespace_id ON projects (project_namespace_id);
CREATE INDEX index_projects_on_namespace_id_and_id ON projects (namespace_id, id);
CREATE INDEX index_projects_on_id_and_archived_and_pending_delete ON projects (id)
  WHERE archived = false AND pending_delete = false;

-- A project's DELETE removes its project namespace, as GitLab's
-- trigger_delete_project_namespace_on_project_delete does.
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

CREATE TABLE ci_runner_namespaces (
  id bigint NOT NULL PRIMARY KEY,
  runner_id bigint,
  namespace_id bigint,
  CONSTRAINT check_5f3dce48df CHECK ((namespace_id IS NOT NULL))
);
CREATE INDEX index_ci_runner_namespaces_on_namespace_id ON ci_runner_namespaces (namespace_id);
CREATE UNIQUE INDEX index_ci_runner_namespaces_on_runner_id_and_namespace_id
  ON ci_runner_namespaces (runner_id, namespace_id);

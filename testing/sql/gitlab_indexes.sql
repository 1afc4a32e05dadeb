-- testing/sql/gitlab_indexes.sql — GitLab's lookup indexes on the hierarchy
-- tables (index_* in db/structure.sql), the ones its hierarchy queries use.
-- Applied after gitlab_schema.sql (after a bulk load, for speed) by the demo,
-- the benchmarks and the tests. None of them restricts the data: the unique
-- indexes that do are in gitlab_constraints.sql ((parent_id, id) is unique
-- anyway, id being the primary key).

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

CREATE INDEX index_projects_on_namespace_id_and_id ON projects (namespace_id, id);
CREATE INDEX index_projects_on_id_and_archived_and_pending_delete ON projects (id)
  WHERE ((archived = false) AND (pending_delete = false));

CREATE INDEX index_ci_runner_namespaces_on_namespace_id ON ci_runner_namespaces (namespace_id);

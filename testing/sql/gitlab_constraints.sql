-- testing/sql/gitlab_constraints.sql — what GitLab's schema enforces on the
-- hierarchy tables beyond primary keys and NOT NULL: the sibling-unique
-- names, one project per project namespace, one link per runner and
-- namespace, the CHECKs, and the foreign keys (ON DELETE RESTRICT: a
-- namespace with children or projects cannot be deleted).
-- Applied after gitlab_schema.sql and the data by the demo (scripts/run) and
-- the benchmarks. The tests do not apply it: they write rows in any order
-- within a transaction and create orphans on purpose
-- (tests/cdc/e2e/gitlab_schema.cc adds deferred foreign keys instead).

CREATE UNIQUE INDEX index_namespaces_name_parent_id_type ON namespaces (name, parent_id, type);
CREATE UNIQUE INDEX index_projects_on_project_namespace_id ON projects (project_namespace_id);
CREATE UNIQUE INDEX index_ci_runner_namespaces_on_runner_id_and_namespace_id
  ON ci_runner_namespaces (runner_id, namespace_id);

ALTER TABLE namespaces ADD CONSTRAINT check_2eae3bdf93 CHECK ((organization_id IS NOT NULL));
ALTER TABLE projects ADD CONSTRAINT check_1a6f946a8a CHECK ((organization_id IS NOT NULL));
ALTER TABLE projects ADD CONSTRAINT check_fa75869cb1 CHECK ((project_namespace_id IS NOT NULL));
ALTER TABLE ci_runner_namespaces ADD CONSTRAINT check_5f3dce48df CHECK ((namespace_id IS NOT NULL));

ALTER TABLE namespaces ADD CONSTRAINT fk_7f813d8c90
  FOREIGN KEY (parent_id) REFERENCES namespaces(id) ON DELETE RESTRICT;
ALTER TABLE projects ADD CONSTRAINT fk_projects_namespace_id
  FOREIGN KEY (namespace_id) REFERENCES namespaces(id) ON DELETE RESTRICT;

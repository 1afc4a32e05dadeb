-- A group's counts through a recursive CTE: descendant groups, descendant project
-- namespaces, all projects, unarchived projects (one bigint[] row).
WITH RECURSIVE base_and_descendants AS (
  (SELECT namespaces.* FROM namespaces WHERE namespaces.id = :id)
  UNION
  (SELECT namespaces.* FROM namespaces, base_and_descendants
    WHERE namespaces.parent_id = base_and_descendants.id)),
groups AS (SELECT id FROM base_and_descendants WHERE type = 'Group')
SELECT ARRAY[(SELECT count(*) FROM groups) - 1,
  (SELECT count(*) FROM base_and_descendants WHERE type = 'Project'),
  (SELECT count(*) FROM projects WHERE projects.namespace_id IN (SELECT id FROM groups)),
  (SELECT count(*) FROM projects
    WHERE projects.namespace_id IN (SELECT id FROM groups) AND NOT projects.archived)]

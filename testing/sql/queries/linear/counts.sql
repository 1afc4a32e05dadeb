-- A group's counts, as count(*) of the kinds above: descendant groups, descendant
-- project namespaces, all projects, unarchived projects (one bigint[] row).
WITH groups AS (
  SELECT namespaces.traversal_ids[array_length(namespaces.traversal_ids, 1)] AS id
    FROM namespaces
   WHERE namespaces.type = 'Group' AND namespaces.traversal_ids @> ARRAY[:id::bigint])
SELECT ARRAY[(SELECT count(*) FROM groups) - 1,
  (SELECT count(*) FROM namespaces
    WHERE namespaces.type = 'Project' AND namespaces.traversal_ids @> ARRAY[:id::bigint]),
  (SELECT count(*) FROM projects WHERE projects.namespace_id IN (SELECT id FROM groups)),
  (SELECT count(*) FROM projects
    WHERE projects.namespace_id IN (SELECT id FROM groups) AND NOT projects.archived)]

-- A group's counts from its namespace_descendants row when it is up to date,
-- else the linear form's (one bigint[] row).
SELECT COALESCE(
  (SELECT ARRAY[cardinality(d.self_and_descendant_group_ids) - 1,
                cardinality(d.self_and_descendant_ids) - cardinality(d.self_and_descendant_group_ids),
                cardinality(d.all_project_ids), cardinality(d.all_unarchived_project_ids)]::bigint[]
     FROM namespace_descendants d WHERE d.outdated_at IS NULL AND d.namespace_id = :id),
  (WITH groups AS (
     SELECT namespaces.traversal_ids[array_length(namespaces.traversal_ids, 1)] AS id
       FROM namespaces
      WHERE namespaces.type = 'Group' AND namespaces.traversal_ids @> ARRAY[:id::bigint])
   SELECT ARRAY[(SELECT count(*) FROM groups) - 1,
     (SELECT count(*) FROM namespaces
       WHERE namespaces.type = 'Project' AND namespaces.traversal_ids @> ARRAY[:id::bigint]),
     (SELECT count(*) FROM projects WHERE projects.namespace_id IN (SELECT id FROM groups)),
     (SELECT count(*) FROM projects
       WHERE projects.namespace_id IN (SELECT id FROM groups) AND NOT projects.archived)]))

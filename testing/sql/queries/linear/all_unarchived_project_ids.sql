-- all_project_ids without archived projects (the namespace_descendants column
-- all_unarchived_project_ids).
SELECT projects.id FROM projects WHERE NOT projects.archived AND projects.namespace_id IN (
  SELECT namespaces.traversal_ids[array_length(namespaces.traversal_ids, 1)]
    FROM namespaces
   WHERE namespaces.type = :'type' AND namespaces.traversal_ids @> ARRAY[:id::bigint])

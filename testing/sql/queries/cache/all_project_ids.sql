-- Namespaces::Traversal::Cached#all_project_ids (a group's read path): the
-- namespace_descendants row when it is up to date, else the linear form.
SELECT unnest(COALESCE(
  (SELECT namespace_descendants.all_project_ids FROM namespace_descendants
    WHERE namespace_descendants.outdated_at IS NULL
      AND namespace_descendants.namespace_id = :id),
  (SELECT array_agg(projects.id) FROM projects WHERE projects.namespace_id IN (
     SELECT namespaces.traversal_ids[array_length(namespaces.traversal_ids, 1)]
       FROM namespaces
      WHERE namespaces.type = 'Group' AND namespaces.traversal_ids @> ARRAY[:id::bigint]))
)) AS id

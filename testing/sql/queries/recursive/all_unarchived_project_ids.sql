-- all_project_ids without archived projects.
SELECT projects.id FROM projects WHERE NOT projects.archived AND projects.namespace_id IN (
  WITH RECURSIVE base_and_descendants AS (
    (SELECT namespaces.* FROM namespaces WHERE namespaces.type = :'type' AND namespaces.id = :id)
    UNION
    (SELECT namespaces.* FROM namespaces, base_and_descendants
      WHERE namespaces.type = :'type' AND namespaces.parent_id = base_and_descendants.id))
  SELECT namespaces.id FROM base_and_descendants AS namespaces
)

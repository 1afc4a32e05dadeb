-- Namespace#all_project_ids with Gitlab::ObjectHierarchy: projects whose namespace is
-- the row or a descendant of its class (archived and pending_delete included).
SELECT projects.id FROM projects WHERE projects.namespace_id IN (
  WITH RECURSIVE base_and_descendants AS (
    (SELECT namespaces.* FROM namespaces WHERE namespaces.type = :'type' AND namespaces.id = :id)
    UNION
    (SELECT namespaces.* FROM namespaces, base_and_descendants
      WHERE namespaces.type = :'type' AND namespaces.parent_id = base_and_descendants.id))
  SELECT namespaces.id FROM base_and_descendants AS namespaces
)

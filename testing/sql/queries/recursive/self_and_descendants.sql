-- Gitlab::ObjectHierarchy#base_and_descendants, scoped to the caller's class (a
-- group's descendants are groups): down the parent_id links.
WITH RECURSIVE base_and_descendants AS (
  (SELECT namespaces.* FROM namespaces WHERE namespaces.type = :'type' AND namespaces.id = :id)
  UNION
  (SELECT namespaces.* FROM namespaces, base_and_descendants
    WHERE namespaces.type = :'type' AND namespaces.parent_id = base_and_descendants.id))
SELECT namespaces.id FROM base_and_descendants AS namespaces

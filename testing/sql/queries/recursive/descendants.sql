-- Gitlab::ObjectHierarchy#descendants: self_and_descendants without the row.
WITH RECURSIVE base_and_descendants AS (
  (SELECT namespaces.* FROM namespaces WHERE namespaces.type = :'type' AND namespaces.id = :id)
  UNION
  (SELECT namespaces.* FROM namespaces, base_and_descendants
    WHERE namespaces.type = :'type' AND namespaces.parent_id = base_and_descendants.id))
SELECT namespaces.id FROM base_and_descendants AS namespaces
 WHERE namespaces.id <> :id

-- descendants with skope: Namespace: every type below, without the row.
WITH RECURSIVE base_and_descendants AS (
  (SELECT namespaces.* FROM namespaces WHERE namespaces.id = :id)
  UNION
  (SELECT namespaces.* FROM namespaces, base_and_descendants
    WHERE namespaces.parent_id = base_and_descendants.id))
SELECT namespaces.id FROM base_and_descendants AS namespaces
 WHERE namespaces.id <> :id

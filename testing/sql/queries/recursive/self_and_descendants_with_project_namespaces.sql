-- base_and_descendants with skope: Namespace: every type below, project namespaces too.
WITH RECURSIVE base_and_descendants AS (
  (SELECT namespaces.* FROM namespaces WHERE namespaces.id = :id)
  UNION
  (SELECT namespaces.* FROM namespaces, base_and_descendants
    WHERE namespaces.parent_id = base_and_descendants.id))
SELECT namespaces.id FROM base_and_descendants AS namespaces

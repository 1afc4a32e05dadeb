-- self_and_ancestors of many namespaces in one statement: one row per id found,
-- with its ancestors root first.
WITH RECURSIVE base_and_ancestors AS (
  (SELECT namespaces.id AS base_id, 1 AS depth, namespaces.id, namespaces.parent_id
     FROM namespaces WHERE namespaces.id = ANY(:ids::bigint[]))
  UNION ALL
  (SELECT base_and_ancestors.base_id, base_and_ancestors.depth + 1, namespaces.id,
          namespaces.parent_id
     FROM namespaces, base_and_ancestors
    WHERE namespaces.id = base_and_ancestors.parent_id AND base_and_ancestors.depth < 1000))
SELECT base_id, array_agg(id ORDER BY depth DESC) FROM base_and_ancestors GROUP BY base_id

-- Gitlab::ObjectHierarchy#base_and_ancestors(hierarchy_order: :desc): up the parent_id
-- chain with a depth, the path so far and a cycle guard; root first; every type.
WITH RECURSIVE base_and_ancestors AS (
  (SELECT 1 AS depth, ARRAY[namespaces.id] AS tree_path, false AS tree_cycle, namespaces.*
     FROM namespaces WHERE namespaces.id = :id)
  UNION
  (SELECT base_and_ancestors.depth + 1, base_and_ancestors.tree_path || namespaces.id,
          namespaces.id = ANY(base_and_ancestors.tree_path), namespaces.*
     FROM namespaces, base_and_ancestors
    WHERE namespaces.id = base_and_ancestors.parent_id AND base_and_ancestors.tree_cycle = false))
SELECT namespaces.id FROM base_and_ancestors AS namespaces
 ORDER BY namespaces.depth DESC

-- Project#ancestors(hierarchy_order: :desc) through Gitlab::ObjectHierarchy: the
-- project's group and the groups above it, root first; nothing for a user namespace.
WITH RECURSIVE base_and_ancestors AS (
  (SELECT 1 AS depth, ARRAY[namespaces.id] AS tree_path, false AS tree_cycle, namespaces.*
     FROM namespaces INNER JOIN projects ON projects.namespace_id = namespaces.id
    WHERE namespaces.type = 'Group' AND projects.id = :id)
  UNION
  (SELECT base_and_ancestors.depth + 1, base_and_ancestors.tree_path || namespaces.id,
          namespaces.id = ANY(base_and_ancestors.tree_path), namespaces.*
     FROM namespaces, base_and_ancestors
    WHERE namespaces.id = base_and_ancestors.parent_id AND base_and_ancestors.tree_cycle = false))
SELECT namespaces.id FROM base_and_ancestors AS namespaces
 ORDER BY namespaces.depth DESC

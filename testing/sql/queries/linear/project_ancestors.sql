-- Project#ancestors(hierarchy_order: :desc): the project's group and the groups
-- above it, root first; nothing for a project in a user namespace.
SELECT t.id
  FROM projects
  JOIN namespaces ON namespaces.id = projects.namespace_id AND namespaces.type = 'Group'
  CROSS JOIN LATERAL unnest(namespaces.traversal_ids) WITH ORDINALITY AS t(id, ord)
 WHERE projects.id = :id
 ORDER BY t.ord

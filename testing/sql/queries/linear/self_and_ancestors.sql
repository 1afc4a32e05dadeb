-- Namespaces::Traversal::Linear#self_and_ancestors(hierarchy_order: :desc): the
-- row's traversal_ids, root first, for every type (docs/queries.md, type rules).
SELECT t.id
  FROM namespaces n CROSS JOIN LATERAL unnest(n.traversal_ids) WITH ORDINALITY AS t(id, ord)
 WHERE n.id = :id
 ORDER BY t.ord

-- Namespaces::Traversal::Linear#ancestors(hierarchy_order: :desc): traversal_ids
-- without the row itself, root first.
SELECT t.id
  FROM namespaces n CROSS JOIN LATERAL unnest(n.traversal_ids) WITH ORDINALITY AS t(id, ord)
 WHERE n.id = :id AND t.id <> n.id
 ORDER BY t.ord
